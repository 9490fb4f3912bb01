//! `docker pull`: resolve the reference to one platform's manifest, download config and
//! layers (bounded parallelism, each streamed into the content store and verified,
//! resumed with Range after a broken connection, skipped when already present), unpack
//! each layer as soon as it and the ones below it are in, then record and tag the image
//! in one transaction. A failure before that records nothing: what is left is verified,
//! unreferenced blobs and layers, which the next pull reuses and gc reclaims.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};

use berth_image::config::{diff_ids, parse_config, MAX_CONFIG_SIZE};
use berth_image::manifest::{layers as manifest_layers, Manifest};
use berth_image::media_type::Compression;
use berth_image::platform::{select_manifest, Platform};
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
    index: usize,
    digest: Digest,
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
        for (index, (digest, _, size)) in layers.iter().cloned().enumerate() {
            let id = short_id(&digest);
            if store.content().has(&digest) {
                progress(Progress::layer(&id, "Already exists"));
            } else {
                progress(Progress::layer(&id, "Pulling fs layer"));
                jobs.push_back(LayerJob { index, digest, size });
            }
        }
        for j in jobs.iter().skip(self.transport.options().max_concurrent_downloads.max(1)) {
            progress(Progress::layer(&short_id(&j.digest), "Waiting"));
        }
        self.download_and_unpack(store, &repo, jobs, &layers, &diffs, &what, progress)?;

        let image_id = store.register_manifest(&image_manifest.bytes, &tags)?;
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

    /// Downloads `jobs` on a few threads while this one unpacks layers in order as soon
    /// as each and all below it are present.
    #[allow(clippy::too_many_arguments)]
    fn download_and_unpack(
        &self,
        store: &ImageStore,
        repo: &Repo,
        jobs: VecDeque<LayerJob>,
        layers: &[(Digest, Compression, u64)],
        diffs: &[Digest],
        what: &str,
        progress: &ProgressFn,
    ) -> Result<()> {
        let workers = self.transport.options().max_concurrent_downloads.max(1).min(jobs.len().max(1));
        let queue = Mutex::new(jobs);
        let abort = AtomicBool::new(false);
        let (done_tx, done_rx) = mpsc::channel::<(usize, Result<()>)>();
        let mut present: Vec<bool> = layers.iter().map(|(d, _, _)| store.content().has(d)).collect();
        std::thread::scope(|scope| -> Result<()> {
            for _ in 0..workers {
                let done_tx = done_tx.clone();
                let (queue, abort) = (&queue, &abort);
                scope.spawn(move || loop {
                    if abort.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some(job) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else { return };
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
                    let r = self.fetch_blob(store, repo, &job.digest, job.size, &on_bytes);
                    if r.is_ok() {
                        progress(Progress::layer(&id, "Verifying Checksum"));
                        progress(Progress::layer(&id, "Download complete"));
                    }
                    let failed = r.is_err();
                    let _ = done_tx.send((job.index, r));
                    if failed {
                        return;
                    }
                });
            }
            drop(done_tx);
            let result = (|| -> Result<()> {
                let mut parent: Option<Digest> = None;
                for (i, ((digest, compression, size), diff_id)) in layers.iter().zip(diffs).enumerate() {
                    while !present[i] {
                        match done_rx.recv() {
                            Ok((j, Ok(()))) => present[j] = true,
                            Ok((_, Err(e))) => return Err(e),
                            Err(_) => return Err(Error::protocol(repo.session.domain.as_str(), format!("download of {digest} stopped"))),
                        }
                    }
                    let chain = berth_image::layer::chain_id(parent.as_ref(), diff_id);
                    let id = short_id(digest);
                    if !store.layers().has(&chain) {
                        progress(Progress::bytes(&id, "Extracting", 0, *size));
                        let blob = store.content().open_blob(digest)?;
                        store.layers().unpack(parent.as_ref(), Some(diff_id), blob, Some(*compression), &format!("{digest} of {what}"))?;
                        progress(Progress::bytes(&id, "Extracting", *size, *size));
                        progress(Progress::layer(&id, "Pull complete"));
                    }
                    parent = Some(chain);
                }
                Ok(())
            })();
            if result.is_err() {
                abort.store(true, Ordering::Relaxed);
            }
            result
        })
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
