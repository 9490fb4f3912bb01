//! The image store: which images exist (config digest = image id, manifest, layer chain)
//! and which names point at them, in SQLite tables prefixed `image_` inside the daemon's
//! `berth.db`; blobs in the [`ContentStore`], unpacked layers in the [`LayerStore`].
//!
//! Consistency rule: everything an image needs (verified blobs, unpacked and verified
//! layers) is in place before the image row and its tags are written, in one
//! transaction. A failure before that leaves only unreferenced, content-addressed data
//! that [`ImageStore::gc`] reclaims; [`ImageStore::check`] verifies the invariants.

mod commit;
mod import;
mod remove;

pub use commit::{apply_changes, CommitOptions, DeriveOptions, HistoryItem};
pub use import::ImportOptions;
pub use remove::{ContainerUse, DeleteRecord};

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use oci_spec::image::{ImageConfiguration, ImageManifest};
use rusqlite::{params, Connection, OptionalExtension};

use crate::config::{diff_ids, parse_config, MAX_CONFIG_SIZE};
use crate::content::ContentStore;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer::{chain_ids, Detached, LayerStore};
use crate::media_type::Compression;
use crate::manifest::{layers as manifest_layers, Manifest, MAX_MANIFEST_SIZE};
use crate::reference::Reference;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS image_images (
    id              TEXT PRIMARY KEY,   -- config digest
    manifest_digest TEXT NOT NULL,
    chain_ids       TEXT NOT NULL,      -- JSON array, base layer first
    created         TEXT,               -- from the config
    size            INTEGER NOT NULL,   -- sum of uncompressed layer sizes
    added_at        INTEGER NOT NULL,
    intermediate    INTEGER NOT NULL DEFAULT 0  -- a builder step's image (build cache)
);
CREATE TABLE IF NOT EXISTS image_tags (
    name     TEXT PRIMARY KEY,          -- normalised name:tag
    image_id TEXT NOT NULL REFERENCES image_images(id)
);
CREATE TABLE IF NOT EXISTS image_digests (
    name     TEXT PRIMARY KEY,          -- normalised name@digest (repo digest)
    image_id TEXT NOT NULL REFERENCES image_images(id)
);
CREATE INDEX IF NOT EXISTS image_tags_by_image ON image_tags(image_id);
CREATE INDEX IF NOT EXISTS image_digests_by_image ON image_digests(image_id);
";

/// An image as the store records it, with its parsed config.
#[derive(Clone, Debug)]
pub struct ImageRecord {
    /// The image id: digest of its config.
    pub id: Digest,
    /// Digest of the (single-platform) manifest held for it.
    pub manifest_digest: Digest,
    /// Chain ids of its layers, base first.
    pub chain_ids: Vec<Digest>,
    /// Layer diff ids, base first.
    pub diff_ids: Vec<Digest>,
    /// `created` from the config.
    pub created: Option<String>,
    /// Sum of uncompressed layer sizes in bytes.
    pub size: u64,
    /// Tags, familiar form (`busybox:latest`), sorted.
    pub repo_tags: Vec<String>,
    /// Repo digests, familiar form (`busybox@sha256:...`), sorted.
    pub repo_digests: Vec<String>,
    /// The parsed config.
    pub config: ImageConfiguration,
    /// The config exactly as stored (for `inspect` fields oci-spec does not model).
    pub config_bytes: Vec<u8>,
}

/// What `docker images` shows of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: Digest,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub created: Option<String>,
    pub size: u64,
    /// A builder step image (build cache).
    pub intermediate: bool,
}

/// Filters of `list`.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// `Some(true)`: only untagged images; `Some(false)`: only tagged ones.
    pub dangling: Option<bool>,
    /// Include the builder's intermediate (step) images (`docker images -a`).
    pub all: bool,
}

/// One line of `docker history`, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image id for the top entry, `<missing>` for the others (as for pulled images).
    pub id: String,
    pub created: Option<String>,
    pub created_by: String,
    pub comment: String,
    /// Uncompressed size of the layer the step made, 0 for empty-layer steps.
    pub size: u64,
    pub tags: Vec<String>,
}

/// A verified image ready to be recorded (all blobs and layers in place).
pub(crate) struct Prepared {
    pub id: Digest,
    pub manifest_digest: Digest,
    pub chain_ids: Vec<Digest>,
    pub created: Option<String>,
    pub size: u64,
    pub tags: Vec<Reference>,
    pub intermediate: bool,
}

/// The image store.
pub struct ImageStore {
    db: Mutex<Connection>,
    content: ContentStore,
    layers: LayerStore,
}

impl ImageStore {
    /// Opens the store: blobs under `<data_root>/content`, layers under
    /// `<data_root>/layers`, records in the SQLite database at `db_path` (WAL mode,
    /// `synchronous=NORMAL`; the `image_*` tables are created if missing).
    pub fn open(data_root: &Path, db_path: &Path) -> Result<ImageStore> {
        let content = ContentStore::open(data_root.join("content"))?;
        let layers = LayerStore::open(data_root.join("layers"))?;
        let db = Connection::open(db_path)?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.pragma_update(None, "foreign_keys", "ON")?;
        db.execute_batch(SCHEMA)?;
        // Stores made before the builder lack the column.
        let has_col: bool = db.prepare("SELECT 1 FROM pragma_table_info('image_images') WHERE name = 'intermediate'")?.exists([])?;
        if !has_col {
            db.execute_batch("ALTER TABLE image_images ADD COLUMN intermediate INTEGER NOT NULL DEFAULT 0")?;
        }
        Ok(ImageStore { db: Mutex::new(db), content, layers })
    }

    /// The content store images keep their blobs in.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The layer store images keep their unpacked layers in.
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds the image a user's string names, as Docker does: a full `sha256:` id, a
    /// reference (`busybox` means `busybox:latest`; `name@digest` a repo digest), or a
    /// unique id prefix (with or without `sha256:`).
    pub fn resolve(&self, name: &str) -> Result<Digest> {
        let not_found = || Error::ImageNotFound(name.to_owned());
        if let Ok(d) = Digest::parse(name) {
            return if self.exists(&d)? { Ok(d) } else { Err(not_found()) };
        }
        if let Ok(r) = Reference::parse(name) {
            let r = r.with_default_tag();
            let db = self.db();
            let found: Option<String> = if r.digest().is_some() {
                db.query_row("SELECT image_id FROM image_digests WHERE name = ?1", [r.repository().with_digest(r.digest().unwrap().clone()).to_string()], |row| row.get(0))
                    .optional()?
            } else {
                db.query_row("SELECT image_id FROM image_tags WHERE name = ?1", [r.to_string()], |row| row.get(0)).optional()?
            };
            if let Some(id) = found {
                return Digest::parse(&id);
            }
        }
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        if !prefix.is_empty() && prefix.len() <= 64 && prefix.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            let db = self.db();
            let mut stmt = db.prepare("SELECT id FROM image_images WHERE id >= ?1 AND id < ?2 LIMIT 2")?;
            let lo = format!("sha256:{prefix}");
            let hi = format!("sha256:{prefix}\u{7f}");
            let ids: Vec<String> = stmt.query_map([lo, hi], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
            return match ids.len() {
                0 => Err(not_found()),
                1 => Digest::parse(&ids[0]),
                _ => Err(Error::AmbiguousImage(name.to_owned())),
            };
        }
        Err(not_found())
    }

    /// Whether an image with this id exists.
    pub fn exists(&self, id: &Digest) -> Result<bool> {
        Ok(self.db().query_row("SELECT 1 FROM image_images WHERE id = ?1", [id.to_string()], |_| Ok(())).optional()?.is_some())
    }

    /// The full record of an image (for `inspect`, `run`, ...).
    pub fn get(&self, id: &Digest) -> Result<ImageRecord> {
        let row: Option<(String, String, Option<String>, i64)> = self
            .db()
            .query_row(
                "SELECT manifest_digest, chain_ids, created, size FROM image_images WHERE id = ?1",
                [id.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (manifest_digest, chains, created, size) = row.ok_or_else(|| Error::ImageNotFound(id.to_string()))?;
        let chain_ids: Vec<Digest> = serde_json::from_str(&chains).map_err(|e| Error::json(format!("chain ids of image {id}"), e))?;
        let config_bytes = self.content.read(id, MAX_CONFIG_SIZE)?;
        let config = parse_config(&config_bytes, &id.to_string())?;
        let (repo_tags, repo_digests) = self.names_of(id)?;
        Ok(ImageRecord {
            id: id.clone(),
            manifest_digest: Digest::parse(&manifest_digest)?,
            diff_ids: diff_ids(&config, &id.to_string())?,
            chain_ids,
            created,
            size: size as u64,
            repo_tags,
            repo_digests,
            config,
            config_bytes,
        })
    }

    fn names_of(&self, id: &Digest) -> Result<(Vec<String>, Vec<String>)> {
        let db = self.db();
        let fetch = |sql: &str| -> Result<Vec<String>> {
            let mut stmt = db.prepare_cached(sql)?;
            let names: Vec<String> = stmt.query_map([id.to_string()], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            let mut out: Vec<String> = names.iter().filter_map(|n| Reference::parse(n).ok()).map(|r| r.familiar()).collect();
            out.sort();
            Ok(out)
        };
        Ok((fetch("SELECT name FROM image_tags WHERE image_id = ?1")?, fetch("SELECT name FROM image_digests WHERE image_id = ?1")?))
    }

    /// Full references (`docker.io/library/busybox:latest`) tagged to an image.
    pub(crate) fn tags_of(&self, id: &Digest) -> Result<Vec<Reference>> {
        let db = self.db();
        let mut stmt = db.prepare_cached("SELECT name FROM image_tags WHERE image_id = ?1 ORDER BY name")?;
        let names: Vec<String> = stmt.query_map([id.to_string()], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        names.iter().map(|n| Reference::parse(n)).collect()
    }

    /// All tags of one repository (for `save busybox`, which saves every busybox tag).
    pub(crate) fn tags_in_repository(&self, repo: &Reference) -> Result<Vec<(Reference, Digest)>> {
        let db = self.db();
        let mut stmt = db.prepare_cached("SELECT name, image_id FROM image_tags WHERE name >= ?1 AND name < ?2 ORDER BY name")?;
        let lo = format!("{}:", repo.name());
        let hi = format!("{};", repo.name());
        let rows: Vec<(String, String)> = stmt.query_map([lo, hi], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        rows.iter().map(|(n, i)| Ok((Reference::parse(n)?, Digest::parse(i)?))).collect()
    }

    /// Points `target` (tagged `latest` if it has no tag) at the image `source` names,
    /// moving the tag if it pointed elsewhere (`docker tag`).
    pub fn tag(&self, source: &str, target: &str) -> Result<Reference> {
        let id = self.resolve(source)?;
        let target = Reference::parse(target)?;
        if target.digest().is_some() {
            return Err(Error::InvalidReference("refusing to create a tag with a digest reference".into()));
        }
        let target = target.with_default_tag();
        self.db().execute(
            "INSERT INTO image_tags (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![target.to_string(), id.to_string()],
        )?;
        self.set_intermediate(&id, false)?;
        Ok(target)
    }

    /// Marks an image as a builder step image (hidden, build cache) or a plain one.
    pub fn set_intermediate(&self, id: &Digest, intermediate: bool) -> Result<()> {
        self.db().execute("UPDATE image_images SET intermediate = ?2 WHERE id = ?1", params![id.to_string(), intermediate as i64])?;
        Ok(())
    }

    /// Untagged intermediate images (the builder's cache): id, size, created.
    pub fn intermediates(&self) -> Result<Vec<ImageSummary>> {
        Ok(self.list(&ListFilter { dangling: Some(true), all: true })?.into_iter().filter(|i| i.intermediate).collect())
    }

    /// Records a repo digest (`name@sha256:...`) for an image, e.g. after a pull.
    pub fn add_repo_digest(&self, id: &Digest, reference: &Reference) -> Result<()> {
        let digest = reference.digest().ok_or_else(|| Error::InvalidReference(format!("{reference} has no digest")))?;
        let name = reference.repository().with_digest(digest.clone()).to_string();
        self.db().execute(
            "INSERT INTO image_digests (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![name, id.to_string()],
        )?;
        Ok(())
    }

    /// Removes one tag; returns whether it existed. (`rmi` is [`ImageStore::remove`].)
    pub fn untag(&self, reference: &str) -> Result<bool> {
        let r = Reference::parse(reference)?.with_default_tag();
        let n = if r.digest().is_some() {
            self.db().execute("DELETE FROM image_digests WHERE name = ?1", [r.repository().with_digest(r.digest().unwrap().clone()).to_string()])?
        } else {
            self.db().execute("DELETE FROM image_tags WHERE name = ?1", [r.to_string()])?
        };
        Ok(n > 0)
    }

    /// Lists images, newest first (`docker images`).
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<ImageSummary>> {
        let rows: Vec<(String, Option<String>, i64, bool)> = {
            let db = self.db();
            let mut stmt = db.prepare_cached("SELECT id, created, size, intermediate FROM image_images ORDER BY created DESC, id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0)))?.collect::<rusqlite::Result<_>>()?;
            rows
        };
        let mut out = Vec::new();
        for (id, created, size, intermediate) in rows {
            let id = Digest::parse(&id)?;
            let (repo_tags, repo_digests) = self.names_of(&id)?;
            let dangling = repo_tags.is_empty();
            if filter.dangling.is_some_and(|want| want != dangling) {
                continue;
            }
            if intermediate && dangling && !filter.all {
                continue;
            }
            out.push(ImageSummary { id, repo_tags, repo_digests, created, size: size as u64, intermediate });
        }
        Ok(out)
    }

    /// The image's build history, newest step first (`docker history`).
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let id = self.resolve(name)?;
        let rec = self.get(&id)?;
        let mut sizes = rec.chain_ids.iter().map(|c| self.layers.get(c).map(|l| l.size).unwrap_or(0));
        let mut out = Vec::new();
        let history = rec.config.history().clone().unwrap_or_default();
        for h in &history {
            let size = if h.empty_layer().unwrap_or(false) { 0 } else { sizes.next().unwrap_or(0) };
            out.push(HistoryEntry {
                id: "<missing>".into(),
                created: h.created().clone(),
                created_by: h.created_by().clone().unwrap_or_default(),
                comment: h.comment().clone().unwrap_or_default(),
                size,
                tags: Vec::new(),
            });
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = id.to_string();
            top.tags = rec.repo_tags.clone();
        }
        Ok(out)
    }

    /// Verifies a manifest's config and layers and unpacks the layers; nothing is
    /// recorded yet. `what` names the image in errors. Layers already unpacked are given
    /// by blob digest (a load or pull unpacks them while they stream in); the missing
    /// ones are unpacked in parallel.
    pub(crate) fn prepare_with(
        &self,
        manifest_digest: &Digest,
        manifest: &ImageManifest,
        tags: Vec<Reference>,
        what: &str,
        unpacked: &mut HashMap<Digest, Detached>,
    ) -> Result<Prepared> {
        let config_digest = Digest::from_oci(manifest.config().digest())?;
        if !self.content.has(&config_digest) {
            return Err(Error::BlobNotFound(config_digest)).map_err(|e| name_err(e, what));
        }
        let config_bytes = self.content.read(&config_digest, MAX_CONFIG_SIZE)?;
        let config = parse_config(&config_bytes, what)?;
        let diffs = diff_ids(&config, what)?;
        let layers = manifest_layers(manifest);
        if layers.len() != manifest.layers().len() {
            return Err(Error::json(format!("manifest of {what}"), "a layer has an unsupported media type or digest"));
        }
        if layers.len() != diffs.len() {
            return Err(Error::json(
                format!("image {what}"),
                format!("manifest has {} layers but the config lists {} diff ids", layers.len(), diffs.len()),
            ));
        }
        let chains = chain_ids(&diffs);
        let mut missing: Vec<(&Digest, Compression)> = Vec::new();
        for ((blob, compression, _), chain) in layers.iter().zip(&chains) {
            if !self.layers.has(chain) && !unpacked.contains_key(blob) && !missing.iter().any(|(b, _)| *b == blob) {
                missing.push((blob, *compression));
            }
        }
        for (blob, detached) in self.unpack_parallel(&missing, what)? {
            unpacked.insert(blob, detached);
        }
        let mut chain: Vec<Digest> = Vec::with_capacity(layers.len());
        let mut size = 0;
        for (((blob, compression, _), diff_id), want_chain) in layers.iter().zip(&diffs).zip(&chains) {
            let layer = if self.layers.has(want_chain) {
                self.layers.get(want_chain)?
            } else {
                match unpacked.remove(blob) {
                    Some(detached) if &detached.diff_id != diff_id => {
                        return Err(Error::DigestMismatch {
                            what: format!("diff id of layer {blob} of {what}"),
                            expected: diff_id.clone(),
                            actual: detached.diff_id.clone(),
                        })
                    }
                    Some(detached) => self.layers.adopt(detached, chain.last())?,
                    // The same blob twice in one stack: its first unpack was adopted already.
                    None => {
                        let reader = self.content.open_blob(blob).map_err(|e| name_err(e, what))?;
                        self.layers.unpack(chain.last(), Some(diff_id), reader, Some(*compression), &format!("{blob} of {what}"))?
                    }
                }
            };
            size += layer.size;
            chain.push(layer.chain_id);
        }
        debug_assert_eq!(chain, chain_ids(&diffs));
        Ok(Prepared {
            id: config_digest,
            manifest_digest: manifest_digest.clone(),
            chain_ids: chain,
            created: config.created().clone(),
            size,
            tags,
            intermediate: false,
        })
    }

    /// Unpacks layer blobs detached, as many at once as there are CPUs; the first error
    /// wins (the other unpacks are dropped, so removed).
    fn unpack_parallel(&self, blobs: &[(&Digest, Compression)], what: &str) -> Result<Vec<(Digest, Detached)>> {
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(blobs.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let one = |(blob, compression): &(&Digest, Compression)| -> Result<(Digest, Detached)> {
            let reader = self.content.open_blob(blob).map_err(|e| name_err(e, what))?;
            let d = self.layers.unpack_detached(reader, Some(*compression), &format!("{blob} of {what}"))?;
            Ok(((*blob).clone(), d))
        };
        let results: Vec<Result<(Digest, Detached)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(b) = blobs.get(i) else { break };
                            let r = one(b);
                            let failed = r.is_err();
                            mine.push(r);
                            if failed {
                                // Stop the others from starting more work.
                                next.store(blobs.len(), std::sync::atomic::Ordering::Relaxed);
                                break;
                            }
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| vec![Err(Error::layer(what, "an unpack thread panicked"))])).collect()
        });
        results.into_iter().collect()
    }

    /// Records prepared images and their tags in one transaction: all or nothing.
    pub(crate) fn commit(&self, prepared: &[Prepared]) -> Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        for p in prepared {
            let chains = serde_json::to_string(&p.chain_ids).expect("digests serialise");
            tx.execute(
                "INSERT INTO image_images (id, manifest_digest, chain_ids, created, size, added_at, intermediate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET intermediate = MIN(intermediate, excluded.intermediate)",
                params![p.id.to_string(), p.manifest_digest.to_string(), chains, p.created, p.size as i64, now, p.intermediate as i64],
            )?;
            for t in &p.tags {
                tx.execute(
                    "INSERT INTO image_tags (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                    params![t.to_string(), p.id.to_string()],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Registers an image from a manifest whose blobs are already in the content store
    /// (the registry client's pull ends here): verifies, unpacks, records, tags.
    pub fn register_manifest(&self, manifest_bytes: &[u8], tags: &[Reference]) -> Result<Digest> {
        self.register_manifest_as(manifest_bytes, tags, false)
    }

    /// [`ImageStore::register_manifest`] with layers the caller already unpacked (by blob
    /// digest; a pull unpacks each while it downloads). Each is checked against the
    /// config's diff id before it is placed; unused ones are dropped, so removed.
    pub fn register_manifest_unpacked(&self, manifest_bytes: &[u8], tags: &[Reference], mut unpacked: HashMap<Digest, Detached>) -> Result<Digest> {
        self.register_with(manifest_bytes, tags, false, &mut unpacked)
    }

    /// [`ImageStore::register_manifest`], recording whether the image is a builder step's.
    pub(crate) fn register_manifest_as(&self, manifest_bytes: &[u8], tags: &[Reference], intermediate: bool) -> Result<Digest> {
        self.register_with(manifest_bytes, tags, intermediate, &mut HashMap::new())
    }

    fn register_with(&self, manifest_bytes: &[u8], tags: &[Reference], intermediate: bool, unpacked: &mut HashMap<Digest, Detached>) -> Result<Digest> {
        let what = tags.first().map(|t| t.familiar()).unwrap_or_else(|| "image".into());
        let Manifest::Image(m) = Manifest::parse(manifest_bytes, None, &what)? else {
            return Err(Error::json(format!("manifest of {what}"), "an index, not an image manifest: select a platform first"));
        };
        let manifest_digest = self.content.write_bytes(manifest_bytes)?;
        let tags = tags.iter().map(|t| t.clone().with_default_tag()).collect();
        let mut p = self.prepare_with(&manifest_digest, &m, tags, &what, unpacked)?;
        p.intermediate = intermediate && p.tags.is_empty();
        let id = p.id.clone();
        self.commit(&[p])?;
        Ok(id)
    }

    pub(crate) fn referenced_pub(&self) -> Result<(HashSet<Digest>, HashSet<Digest>)> {
        self.referenced()
    }

    /// Every blob and layer that recorded images use.
    fn referenced(&self) -> Result<(HashSet<Digest>, HashSet<Digest>)> {
        let rows: Vec<(String, String, String)> = {
            let db = self.db();
            let mut stmt = db.prepare_cached("SELECT id, manifest_digest, chain_ids FROM image_images")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
            rows
        };
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for (id, manifest, chains) in rows {
            blobs.insert(Digest::parse(&id)?);
            let md = Digest::parse(&manifest)?;
            if let Ok(bytes) = self.content.read(&md, MAX_MANIFEST_SIZE) {
                if let Ok(Manifest::Image(m)) = Manifest::parse(&bytes, None, &id) {
                    blobs.extend(manifest_layers(&m).into_iter().map(|(d, _, _)| d));
                }
            }
            blobs.insert(md);
            let chains: Vec<Digest> = serde_json::from_str(&chains).map_err(|e| Error::json(format!("chain ids of {id}"), e))?;
            layers.extend(chains);
        }
        Ok((blobs, layers))
    }

    /// Removes blobs and layers no image uses, except layers in `keep_layers` (those
    /// under containers of deleted images). Returns (blobs removed, layers removed).
    /// Blobs of a pull or load still in progress are unreferenced too: run this when
    /// none is (e.g. at daemon start, or under the daemon's pull lock).
    pub fn gc(&self, keep_layers: &HashSet<Digest>) -> Result<(Vec<Digest>, Vec<Digest>)> {
        let (blobs, mut layers) = self.referenced()?;
        layers.extend(keep_layers.iter().cloned());
        // A kept layer keeps its parents.
        let mut stack: Vec<Digest> = layers.iter().cloned().collect();
        while let Some(c) = stack.pop() {
            if let Ok(l) = self.layers.get(&c) {
                if let Some(p) = l.parent {
                    if layers.insert(p.clone()) {
                        stack.push(p);
                    }
                }
            }
        }
        let removed_blobs = self.content.gc(&blobs, Duration::from_secs(3600))?;
        let mut removed_layers = Vec::new();
        for c in self.layers.list()? {
            if !layers.contains(&c) && self.layers.remove(&c)? {
                removed_layers.push(c);
            }
        }
        Ok((removed_blobs, removed_layers))
    }

    /// Checks the store's invariants: every image's config, manifest and layer blobs are
    /// present (and, with `deep`, re-hash to their digests), its manifest names its config,
    /// its layers are unpacked with the chain ids its config implies, and every tag points
    /// at a recorded image.
    pub fn check(&self, deep: bool) -> Result<()> {
        let mut problems = Vec::new();
        let rows: Vec<(String, String, String)> = {
            let db = self.db();
            let mut stmt = db.prepare("SELECT id, manifest_digest, chain_ids FROM image_images")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
            rows
        };
        let blob_ok = |d: &Digest, what: &str, problems: &mut Vec<String>| {
            if !self.content.has(d) {
                problems.push(format!("{what}: blob {d} missing"));
                false
            } else if deep && !self.content.verify(d).unwrap_or(false) {
                problems.push(format!("{what}: blob {d} does not match its digest"));
                false
            } else {
                true
            }
        };
        for (id, manifest, chains) in &rows {
            let what = format!("image {id}");
            let (Ok(id_d), Ok(md)) = (Digest::parse(id), Digest::parse(manifest)) else {
                problems.push(format!("{what}: malformed digest in record"));
                continue;
            };
            if blob_ok(&md, &what, &mut problems) {
                match self.content.read(&md, MAX_MANIFEST_SIZE).and_then(|b| Manifest::parse(&b, None, &what)) {
                    Ok(Manifest::Image(m)) => {
                        if m.config().digest().as_ref() != id.as_str() {
                            problems.push(format!("{what}: manifest {md} names config {}", m.config().digest()));
                        }
                        for (l, _, _) in manifest_layers(&m) {
                            blob_ok(&l, &what, &mut problems);
                        }
                    }
                    Ok(Manifest::Index(_)) => problems.push(format!("{what}: manifest {md} is an index")),
                    Err(e) => problems.push(format!("{what}: {e}")),
                }
            }
            if !blob_ok(&id_d, &what, &mut problems) {
                continue;
            }
            let want_chain = self
                .content
                .read(&id_d, MAX_CONFIG_SIZE)
                .and_then(|b| parse_config(&b, &what))
                .and_then(|c| diff_ids(&c, &what))
                .map(|d| chain_ids(&d));
            let have_chain: std::result::Result<Vec<Digest>, _> = serde_json::from_str(chains);
            match (want_chain, have_chain) {
                (Ok(w), Ok(h)) if w == h => {
                    for c in &h {
                        if !self.layers.has(c) {
                            problems.push(format!("{what}: layer {c} not unpacked"));
                        }
                    }
                }
                (Ok(_), Ok(_)) => problems.push(format!("{what}: recorded chain ids do not match the config")),
                (Err(e), _) => problems.push(format!("{what}: {e}")),
                (_, Err(e)) => problems.push(format!("{what}: chain ids: {e}")),
            }
        }
        let known: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        for table in ["image_tags", "image_digests"] {
            let names: Vec<(String, String)> = {
                let db = self.db();
                let mut stmt = db.prepare(&format!("SELECT name, image_id FROM {table}"))?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
                rows
            };
            for (name, image) in names {
                if !known.contains(image.as_str()) {
                    problems.push(format!("{name} points at unknown image {image}"));
                }
                if Reference::parse(&name).is_err() {
                    problems.push(format!("{table}: malformed name {name:?}"));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Inconsistent(problems))
        }
    }
}

/// Adds the image name to a blob-not-found error.
fn name_err(e: Error, what: &str) -> Error {
    match e {
        Error::BlobNotFound(d) => Error::InvalidJson { what: format!("image {what}"), reason: format!("blob {d} not found") },
        other => other,
    }
}

#[cfg(test)]
pub(crate) mod tests;
