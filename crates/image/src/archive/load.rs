//! `docker load`: docker-archive (`manifest.json`) and OCI layout (`index.json`) tars.
//!
//! The archive is read once, front to back: every file goes into the content store as it
//! streams by (`blobs/<alg>/<hex>` entries verified against their names), small JSON
//! files are also kept in memory. Then the images are verified and unpacked, and all of
//! them are recorded in one transaction. On failure the blobs this load added are
//! removed again and nothing is recorded.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use serde::Deserialize;
use serde_json::json;

use crate::tee;
use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, MAX_ARCHIVE_JSON};
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, Result};
use crate::layer::Detached;
use crate::layer::unpack::clean_entry_path;
use crate::manifest::{Manifest, MAX_MANIFEST_SIZE};
use crate::media_type::{self, Compression};
use crate::platform::{select_manifest, Platform};
use crate::reference::Reference;
use crate::store::{ImageStore, Prepared};

/// What a load did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadReport {
    /// Ids of the images loaded.
    pub images: Vec<Digest>,
    /// Docker's output lines: `Loaded image: busybox:latest` or `Loaded image ID: sha256:…`.
    pub lines: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The archive's files after the streaming pass.
#[derive(Default)]
struct Staged {
    blobs: HashMap<String, Digest>,
    small: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
    added: Vec<Digest>,
    /// Layers unpacked while streaming in, by blob digest.
    unpacked: HashMap<Digest, Detached>,
}

impl Staged {
    fn resolve(&self, path: &str) -> Result<&Digest> {
        let mut p = clean(path.as_bytes())?;
        for _ in 0..16 {
            if let Some(d) = self.blobs.get(&p) {
                return Ok(d);
            }
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        Err(Error::InvalidArchive(format!("{path} is referenced but not in the archive")))
    }
}

fn clean(raw: &[u8]) -> Result<String> {
    let p = clean_entry_path(raw).map_err(|r| Error::InvalidArchive(format!("entry {:?} {r}", String::from_utf8_lossy(raw))))?;
    Ok(p.to_string_lossy().into_owned())
}

impl ImageStore {
    /// Loads every image of a `docker save` archive or OCI layout tar (for OCI indexes,
    /// the host platform's manifest) and tags them.
    pub fn load(&self, reader: impl Read) -> Result<LoadReport> {
        let mut staged = Staged::default();
        let result = self.stage(reader, &mut staged).and_then(|()| self.load_staged(&mut staged));
        if result.is_err() {
            if let Ok((used, _)) = self.referenced_pub() {
                for d in &staged.added {
                    if !used.contains(d) {
                        let _ = self.content().delete(d);
                    }
                }
            }
        }
        result
    }

    fn stage(&self, reader: impl Read, staged: &mut Staged) -> Result<()> {
        std::thread::scope(|scope| {
            let mut unpacking = Vec::new();
            let r = self.stage_entries(reader, staged, scope, &mut unpacking);
            for (blob, plain, handle) in unpacking {
                match handle.join() {
                    Ok(Ok(mut detached)) => {
                        if plain {
                            detached.diff_id = blob.clone();
                        }
                        staged.unpacked.insert(blob, detached);
                    }
                    // Not a layer after all, or a bad one: prepare unpacks it from the blob
                    // again if an image needs it, and reports the error then.
                    Ok(Err(e)) => tracing::debug!("load: early unpack of {blob} gave up: {e}"),
                    Err(_) => tracing::warn!("load: early unpack of {blob} panicked"),
                }
            }
            r
        })
    }

    fn stage_entries<'scope>(
        &'scope self,
        reader: impl Read,
        staged: &mut Staged,
        scope: &'scope std::thread::Scope<'scope, '_>,
        unpacking: &mut Vec<(Digest, bool, std::thread::ScopedJoinHandle<'scope, Result<Detached>>)>,
    ) -> Result<()> {
        let bad = |e: std::io::Error| Error::InvalidArchive(e.to_string());
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = clean(&entry.path_bytes())?;
            let kind = entry.header().entry_type();
            if kind.is_symlink() {
                let target = entry.link_name_bytes().ok_or_else(|| Error::InvalidArchive(format!("{path}: symlink without target")))?;
                let parent = std::path::Path::new(&path).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                let joined = if target.starts_with(b"/") { target.to_vec() } else { format!("{parent}/{}", String::from_utf8_lossy(&target)).into_bytes() };
                staged.links.insert(path, clean(&joined)?);
                continue;
            }
            if !(kind.is_file() || kind == tar::EntryType::Continuous) {
                continue;
            }
            let size = entry.size();
            let named_blob = path
                .strip_prefix("blobs/")
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(alg, hex)| Digest::new(Algorithm::from_name(alg)?, hex).ok());
            let is_meta = size as usize <= MAX_ARCHIVE_JSON && (path.ends_with(".json") || path == "repositories" || path == "oci-layout");
            let digest = if is_meta && named_blob.is_none() {
                let mut buf = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut buf).map_err(bad)?;
                if buf.len() as u64 != size {
                    return Err(Error::InvalidArchive(format!("{path}: truncated")));
                }
                staged.small.insert(path.clone(), buf.clone());
                let d = Digest::sha256_of(&buf);
                if !self.content().has(&d) {
                    self.content().write_bytes(&buf)?;
                    staged.added.push(d.clone());
                }
                d
            } else {
                // A layer tar (plain or compressed) is unpacked while it streams into the
                // content store, on another thread; configs and manifests are not tars.
                let mut head = Vec::with_capacity(512);
                (&mut entry).take(512).read_to_end(&mut head).map_err(bad)?;
                let compression = Compression::sniff(&head);
                let is_layer = size >= 1024 && (compression != Compression::None || head.get(257..262) == Some(&b"ustar"[..]));
                let source = std::io::Cursor::new(head).chain(&mut entry);
                if is_layer && !named_blob.as_ref().is_some_and(|d| self.content().has(d)) {
                    // A plain sha256 tar's diff id is its blob digest, computed here anyway.
                    let plain = compression == Compression::None && named_blob.as_ref().is_none_or(|d| d.algorithm() == Algorithm::Sha256);
                    let (mut tee, copy) = tee::tee(source);
                    let what = path.clone();
                    let handle = scope.spawn(move || {
                        if plain {
                            self.layers().unpack_detached_unhashed(copy, &what)
                        } else {
                            self.layers().unpack_detached(copy, Some(compression), &what)
                        }
                    });
                    let written = self.write_blob(&mut tee, named_blob, size, &path, staged);
                    tee.finish();
                    let d = written?;
                    unpacking.push((d.clone(), plain, handle));
                    d
                } else {
                    self.write_blob(source, named_blob, size, &path, staged)?
                }
            };
            staged.blobs.insert(path, digest);
        }
        Ok(())
    }

    /// Writes one archive file into the content store: verified against its name for
    /// `blobs/<alg>/<hex>`, hashed otherwise; records it as added by this load.
    fn write_blob(&self, reader: impl Read, named: Option<Digest>, size: u64, path: &str, staged: &mut Staged) -> Result<Digest> {
        if let Some(d) = named {
            let existed = self.content().has(&d);
            self.content().write(reader, &d, Some(size)).map_err(|e| match e {
                Error::DigestMismatch { expected, actual, .. } => Error::DigestMismatch { what: format!("archive entry {path}"), expected, actual },
                other => other,
            })?;
            if !existed {
                staged.added.push(d.clone());
            }
            return Ok(d);
        }
        let (d, written) = self.content().write_new(reader)?;
        if written != size {
            let _ = self.content().delete(&d);
            return Err(Error::InvalidArchive(format!("{path}: truncated ({written} of {size} bytes)")));
        }
        staged.added.push(d.clone());
        Ok(d)
    }

    fn load_staged(&self, staged: &mut Staged) -> Result<LoadReport> {
        let prepared = if let Some(bytes) = staged.small.get("manifest.json").cloned() {
            self.prepare_docker_archive(staged, &bytes)?
        } else if let Some(bytes) = staged.small.get("index.json").cloned() {
            self.prepare_oci_layout(staged, &bytes)?
        } else {
            return Err(Error::InvalidArchive("neither manifest.json nor index.json found".into()));
        };
        self.commit(&prepared)?;
        let mut lines = Vec::new();
        for p in &prepared {
            if p.tags.is_empty() {
                lines.push(format!("Loaded image ID: {}", p.id));
            }
            for t in &p.tags {
                lines.push(format!("Loaded image: {}", t.familiar()));
            }
        }
        Ok(LoadReport { images: prepared.iter().map(|p| p.id.clone()).collect(), lines })
    }

    fn prepare_docker_archive(&self, staged: &mut Staged, bytes: &[u8]) -> Result<Vec<Prepared>> {
        let items: Vec<DockerManifestItem> = serde_json::from_slice(bytes).map_err(|e| Error::json("manifest.json of image archive", e))?;
        let mut out = Vec::new();
        for item in items {
            let what = item.repo_tags.as_ref().and_then(|t| t.first().cloned()).unwrap_or_else(|| item.config.clone());
            let tags = item
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse(t).map(Reference::with_default_tag))
                .collect::<Result<Vec<_>>>()?;
            let config_digest = staged.resolve(&item.config)?.clone();
            let config_size = self.content().size(&config_digest)?;
            let mut layers = Vec::new();
            for l in &item.layers {
                let d = staged.resolve(l)?.clone();
                let mut head = [0u8; 4];
                let n = self.content().open_blob(&d)?.read(&mut head).map_err(|e| Error::io("read", self.content().blob_path(&d), e))?;
                let media_type = match Compression::sniff(&head[..n]) {
                    Compression::None => media_type::DOCKER_LAYER_TAR,
                    Compression::Gzip => media_type::DOCKER_LAYER_GZIP,
                    Compression::Zstd => media_type::OCI_LAYER_ZSTD,
                };
                layers.push(json!({"mediaType": media_type, "digest": d.to_string(), "size": self.content().size(&d)?}));
            }
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": media_type::OCI_MANIFEST,
                "config": {"mediaType": media_type::OCI_CONFIG, "digest": config_digest.to_string(), "size": config_size},
                "layers": layers,
            });
            let bytes = serde_json::to_vec(&manifest).expect("json");
            let Manifest::Image(m) = Manifest::parse(&bytes, None, &what)? else { unreachable!("built as an image manifest") };
            let md = self.content().write_bytes(&bytes)?;
            out.push(self.prepare_with(&md, &m, tags, &what, &mut staged.unpacked)?);
        }
        Ok(out)
    }

    fn prepare_oci_layout(&self, staged: &mut Staged, bytes: &[u8]) -> Result<Vec<Prepared>> {
        let Manifest::Index(index) = Manifest::parse(bytes, Some(media_type::OCI_INDEX), "index.json of image archive")? else {
            unreachable!("parsed as an index")
        };
        let mut out: Vec<Prepared> = Vec::new();
        let host = Platform::host();
        for desc in index.manifests() {
            let annotations = desc.annotations().clone().unwrap_or_default();
            let tag = annotations
                .get(ANNOTATION_IMAGE_NAME)
                .or_else(|| annotations.get(ANNOTATION_REF_NAME).filter(|r| r.contains(['/', ':'])))
                .map(|n| Reference::parse(n).map(Reference::with_default_tag))
                .transpose()?;
            let what = tag.as_ref().map(Reference::familiar).unwrap_or_else(|| desc.digest().to_string());
            let mut digest = Digest::from_oci(desc.digest())?;
            let mut media = desc.media_type().to_string();
            let mut seen = HashSet::new();
            let (md, manifest) = loop {
                if !seen.insert(digest.clone()) || seen.len() > 8 {
                    return Err(Error::InvalidArchive(format!("{what}: index nesting too deep or cyclic")));
                }
                let bytes = self.content().read(&digest, MAX_MANIFEST_SIZE).map_err(|e| match e {
                    Error::BlobNotFound(d) => Error::InvalidArchive(format!("{what}: manifest blob {d} not in the archive")),
                    other => other,
                })?;
                match Manifest::parse(&bytes, Some(&media), &what)? {
                    Manifest::Image(m) => break (digest, m),
                    Manifest::Index(i) => {
                        let d = select_manifest(&i, &host)?;
                        media = d.media_type().to_string();
                        digest = Digest::from_oci(d.digest())?;
                    }
                }
            };
            // Two index entries naming the same manifest: one image, several tags.
            if let Some(p) = out.iter_mut().find(|p| p.manifest_digest == md) {
                p.tags.extend(tag);
                continue;
            }
            for blob in std::iter::once(manifest.config().digest()).chain(manifest.layers().iter().map(|l| l.digest())) {
                let d = Digest::from_oci(blob)?;
                if !self.content().has(&d) {
                    return Err(Error::InvalidArchive(format!("{what}: blob {d} is not in the archive")));
                }
            }
            out.push(self.prepare_with(&md, &manifest, tag.into_iter().collect(), &what, &mut staged.unpacked)?);
        }
        Ok(out)
    }
}
