//! `docker pull`: resolve the reference to one platform's manifest, download config and
//! layers (bounded parallelism, each streamed into the content store and verified,
//! resumed with Range after a broken connection, skipped when already present), each
//! layer unpacked while it downloads, then placed in its chain, recorded and tagged in
//! one transaction. A failure before that records nothing: what is left is verified,
//! unreferenced blobs and layers, which the next pull reuses and gc reclaims.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use berth_image::config::{diff_ids, parse_config, MAX_CONFIG_SIZE};
use berth_image::digest::Algorithm;
use berth_image::layer::Detached;
use berth_image::manifest::{layers as manifest_layers, Manifest};
use berth_image::media_type::Compression;
use berth_image::platform::{select_manifest, Platform};
use berth_image::tee;
use berth_image::{Digest, ImageStore, Reference};

use crate::credentials::Credentials;
use crate::download::ResumingReader;
use crate::error::{Error, Result};
use crate::progress::{short_id, Progress, ProgressFn};
use crate::remote::{FetchedManifest, Repo};
use crate::session::Session;
use crate::Registry;

/// Options of [`Registry::pull`].
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// The platform to select from an index; the host's (linux/amd64 here) if None.
    pub platform: Option<Platform>,
    pub credentials: Credentials,
}

/// What a pull did.
#[derive(Clone, Debug)]
pub struct PullOutcome {
    /// The image id (config digest).
    pub image_id: Digest,
    /// The digest the reference resolved to (the index's, for a multi-platform image).
    pub digest: Digest,
    /// The single-platform manifest's digest.
    pub manifest_digest: Digest,
    /// Whether the image was already there under this name (`Image is up to date`).
    pub up_to_date: bool,
}

/// One layer to fetch.
struct LayerJob {
    digest: Digest,
    compression: Compression,
    size: u64,
}

impl Registry {
    /// Pulls `reference` (tagged `latest` if it has neither tag nor digest) into `store`.
    pub fn pull(&self, store: &ImageStore, reference: &Reference, opts: &PullOptions, progress: &ProgressFn) -> Result<PullOutcome> {
        let reference = reference.clone().with_default_tag();
        let what = reference.familiar();
        let (pull_id, target) = match (reference.digest(), reference.tag()) {
            (Some(d), _) => (d.to_string(), d.to_string()),
            (None, Some(t)) => (t.to_owned(), t.to_owned()),
            (None, None) => unreachable!("with_default_tag gives a tag or digest"),
        };
        let session = self.session(reference.domain(), opts.credentials.clone(), vec![format!("repository:{}:pull", reference.path())], true)?;
        let repo = Repo { session: &session, path: reference.path().to_owned() };
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);

        // Errors up to here (unknown manifest, refused credentials) come before any
        // progress, so the API can still answer them with a status code.
        let top = repo.get_manifest(&target)?;
        progress(Progress { id: Some(pull_id), status: format!("Pulling from {}", reference.path()), ..Default::default() });
        let (image_manifest, manifest) = match Manifest::parse(&top.bytes, top.media_type.as_deref(), &what)? {
            Manifest::Image(m) => (top.clone(), m),
            Manifest::Index(index) => {
                let desc = select_manifest(&index, &platform)?;
                let d = Digest::from_oci(desc.digest())?;
                let fetched = repo.get_manifest(&d.to_string())?;
                match Manifest::parse(&fetched.bytes, fetched.media_type.as_deref(), &what)? {
                    Manifest::Image(m) => (fetched, m),
                    Manifest::Index(_) => {
                        return Err(Error::protocol(reference.domain(), format!("{what}: index entry {d} for {platform} is another index")))
                    }
                }
            }
        };
        let config_digest = Digest::from_oci(manifest.config().digest())?;
        let tags: Vec<Reference> = if reference.digest().is_none() { vec![reference.clone()] } else { vec![] };

        // Already here under this name: nothing to download.
        if store.resolve(&reference.to_string()).ok().as_ref() == Some(&config_digest) {
            store.add_repo_digest(&config_digest, &reference.repository().with_digest(top.digest.clone()))?;
            progress(Progress::status(format!("Digest: {}", top.digest)));
            progress(Progress::status(format!("Status: Image is up to date for {what}")));
            return Ok(PullOutcome { image_id: config_digest, digest: top.digest, manifest_digest: image_manifest.digest, up_to_date: true });
        }

        // The config first: it is small, and its diff ids are what layers unpack against.
        let config_size = manifest.config().size();
        if !store.content().has(&config_digest) {
            self.fetch_blob(store, &repo, &config_digest, config_size, &|_| {})?;
        }
        let config = parse_config(&store.content().read(&config_digest, MAX_CONFIG_SIZE)?, &what)?;
        let diffs = diff_ids(&config, &what)?;
        let layers = manifest_layers(&manifest);
        if layers.len() != manifest.layers().len() || layers.len() != diffs.len() {
            return Err(berth_image::Error::InvalidJson {
                what: format!("image {what}"),
                reason: format!("manifest has {} layers but the config lists {} diff ids", manifest.layers().len(), diffs.len()),
            }
            .into());
        }

        let mut jobs = VecDeque::new();
        for (digest, compression, size) in layers.iter().cloned() {
            let id = short_id(&digest);
            if store.content().has(&digest) {
                progress(Progress::layer(&id, "Already exists"));
            } else if !jobs.iter().any(|j: &LayerJob| j.digest == digest) {
                progress(Progress::layer(&id, "Pulling fs layer"));
                jobs.push_back(LayerJob { digest, compression, size });
            }
        }
        for j in jobs.iter().skip(self.transport.options().max_concurrent_downloads.max(1)) {
            progress(Progress::layer(&short_id(&j.digest), "Waiting"));
        }
        let unpacked = self.download_unpacking(store, &repo, jobs, &what, progress)?;

        let image_id = store.register_manifest_unpacked(&image_manifest.bytes, &tags, unpacked)?;
        store.add_repo_digest(&image_id, &reference.repository().with_digest(top.digest.clone()))?;
        if let Some(sources) = &self.sources {
            for (d, _, _) in &layers {
                sources.add(d, &reference.repository().name());
            }
            sources.add(&config_digest, &reference.repository().name());
        }
        progress(Progress::status(format!("Digest: {}", top.digest)));
        progress(Progress::status(format!("Status: Downloaded newer image for {what}")));
        Ok(PullOutcome { image_id, digest: top.digest, manifest_digest: image_manifest.digest, up_to_date: false })
    }

    /// Downloads `jobs` on a few threads, each layer unpacked (detached, into a temp dir
    /// of the layer store) while its bytes arrive; returns the unpacks by blob digest for
    /// the store to verify against the diff ids and place in order. The first error wins.
    fn download_unpacking(
        &self,
        store: &ImageStore,
        repo: &Repo,
        jobs: VecDeque<LayerJob>,
        what: &str,
        progress: &ProgressFn,
    ) -> Result<HashMap<Digest, Detached>> {
        let workers = self.transport.options().max_concurrent_downloads.max(1).min(jobs.len().max(1));
        let queue = Mutex::new(jobs);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let unpacked: Mutex<HashMap<Digest, Detached>> = Mutex::new(HashMap::new());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    if failed.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                        return;
                    }
                    let Some(job) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else { return };
                    match self.fetch_layer(store, repo, &job, what, progress) {
                        Ok(d) => {
                            unpacked.lock().unwrap_or_else(|p| p.into_inner()).insert(job.digest, d);
                        }
                        Err(e) => {
                            failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(unpacked.into_inner().unwrap_or_else(|p| p.into_inner())),
        }
    }

    /// Streams one layer blob into the content store (hashed, resumed with Range) and,
    /// through a tee, into an unpack on a second thread, so the layer is unpacked when
    /// its last byte has arrived.
    fn fetch_layer(&self, store: &ImageStore, repo: &Repo, job: &LayerJob, what: &str, progress: &ProgressFn) -> Result<Detached> {
        let id = short_id(&job.digest);
        let last = AtomicU64::new(0);
        let on_bytes = |n: u64| {
            // Docker sends a line every few hundred KiB, not per read.
            let prev = last.load(Ordering::Relaxed);
            if n - prev >= 256 << 10 || n == job.size {
                last.store(n, Ordering::Relaxed);
                progress(Progress::bytes(&id, "Downloading", n, job.size));
            }
        };
        progress(Progress::bytes(&id, "Downloading", 0, job.size));
        let failure = Mutex::new(None);
        let reader = ResumingReader::new(repo, &job.digest, job.size, self.transport.options().download_retries, &failure, &on_bytes);
        // A plain sha256 tar's diff id is its digest, which the content store computes.
        let plain = job.compression == Compression::None && job.digest.algorithm() == Algorithm::Sha256;
        let layer_what = format!("{} of {what}", job.digest);
        let (written, unpacked) = std::thread::scope(|scope| {
            let (mut tee, copy) = tee::tee(reader);
            let unpack = scope.spawn(|| {
                if plain {
                    store.layers().unpack_detached_unhashed(copy, &layer_what)
                } else {
                    store.layers().unpack_detached(copy, Some(job.compression), &layer_what)
                }
            });
            let written = store.content().write(&mut tee, &job.digest, Some(job.size));
            tee.finish();
            let unpacked = unpack.join().map_err(|_| Error::protocol(repo.session.domain.as_str(), format!("unpacking {layer_what}: the unpack thread panicked")));
            (written, unpacked)
        });
        if let Err(e) = written {
            return Err(failure.into_inner().unwrap_or_else(|p| p.into_inner()).unwrap_or(Error::Image(e)));
        }
        progress(Progress::layer(&id, "Verifying Checksum"));
        progress(Progress::layer(&id, "Download complete"));
        let mut detached = unpacked??;
        if plain {
            detached.diff_id = job.digest.clone();
        }
        progress(Progress::bytes(&id, "Extracting", job.size, job.size));
        progress(Progress::layer(&id, "Pull complete"));
        Ok(detached)
    }

    /// Streams one blob into the content store, hashing as it goes; resumes with Range.
    fn fetch_blob(&self, store: &ImageStore, repo: &Repo, digest: &Digest, size: u64, on_bytes: &(dyn Fn(u64) + Sync)) -> Result<()> {
        let failure = Mutex::new(None);
        let reader = ResumingReader::new(repo, digest, size, self.transport.options().download_retries, &failure, on_bytes);
        match store.content().write(reader, digest, Some(size)) {
            Ok(_) => Ok(()),
            Err(e) => Err(failure.into_inner().unwrap_or_else(|p| p.into_inner()).unwrap_or(Error::Image(e))),
        }
    }

    /// Opens a session on a registry (used by pull, push, login and inspect).
    pub(crate) fn session(&self, domain: &str, creds: Credentials, scopes: Vec<String>, for_pull: bool) -> Result<Session<'_>> {
        Session::open(&self.transport, &self.tokens, domain, creds, scopes, for_pull)
    }
}

/// A fetched manifest's platforms (for `GET /distribution/{name}/json`).
pub(crate) fn platforms_of(m: &FetchedManifest, what: &str) -> Result<Vec<Platform>> {
    Ok(match Manifest::parse(&m.bytes, m.media_type.as_deref(), what)? {
        Manifest::Index(i) => i.manifests().iter().filter_map(Platform::of_descriptor).collect(),
        Manifest::Image(_) => Vec::new(),
    })
}
