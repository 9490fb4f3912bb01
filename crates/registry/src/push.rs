//! `docker push`: every blob of the image's manifest is checked with HEAD (skipped if the
//! repository has it), mounted from another repository of the same registry when we know
//! one that has it, or uploaded (one PUT for small blobs, PATCH chunks for large ones);
//! then the manifest is PUT under the tag. Plain tar layers go gzipped, as Docker sends
//! them, and the pushed manifest lists the gzip blobs (the local image is unchanged).

use std::collections::{BTreeSet, VecDeque};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use berth_image::digest::{Algorithm, Hasher};
use berth_image::manifest::{Manifest, MAX_MANIFEST_SIZE};
use berth_image::media_type;
use berth_image::{Digest, ImageStore, Reference};
use oci_spec::image::{ImageManifest, MediaType};

use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::progress::{short_id, Progress, ProgressFn};
use crate::remote::{Repo, UploadStart};
use crate::session::ReqBody;
use crate::Registry;

/// Options of [`Registry::push`].
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    pub credentials: Credentials,
}

/// What a push did.
#[derive(Clone, Debug)]
pub struct PushOutcome {
    pub tag: String,
    /// The manifest's digest, as the registry now serves it.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: u64,
}

/// How one blob got to the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sent {
    Existed,
    Mounted(String),
    Uploaded,
}

impl Registry {
    /// Pushes the image `reference` names in `store` (tag `latest` if none) to its
    /// registry under that tag.
    pub fn push(&self, store: &ImageStore, reference: &Reference, opts: &PushOptions, progress: &ProgressFn) -> Result<PushOutcome> {
        let reference = reference.clone().with_default_tag();
        let Some(tag) = reference.tag().map(str::to_owned) else {
            return Err(berth_image::Error::InvalidReference("cannot push a digest reference".into()).into());
        };
        let image_id = store.resolve(&reference.to_string())?;
        let record = store.get(&image_id)?;
        let manifest_bytes = store.content().read(&record.manifest_digest, MAX_MANIFEST_SIZE)?;
        let what = reference.familiar();
        let Manifest::Image(manifest) = Manifest::parse(&manifest_bytes, None, &what)? else {
            return Err(Error::protocol(reference.domain(), format!("{what}: stored manifest is an index")));
        };
        let media_type = Manifest::Image(manifest.clone()).media_type();
        progress(Progress::status(format!("The push refers to repository [{}]", reference.repository().name())));

        // Blobs (layers, then config), what each goes to the registry as, and the
        // repository we could mount that from.
        let repo_name = reference.repository().name();
        let domain_prefix = format!("{}/", reference.domain());
        let mount_source = |d: &Digest| -> Option<String> {
            let sources = self.sources.as_ref()?;
            sources.get(d).into_iter().rev().filter(|r| *r != repo_name).find_map(|r| r.strip_prefix(&domain_prefix).map(str::to_owned))
        };
        let mut blobs: Vec<Outgoing> = Vec::new();
        for l in manifest.layers() {
            let digest = Digest::from_oci(l.digest())?;
            // Docker sends layers gzipped: a plain tar (from load, import, build or
            // commit) is compressed on the way out; what it became is remembered.
            let gzip = matches!(l.media_type().to_string().as_str(), media_type::OCI_LAYER_TAR | media_type::DOCKER_LAYER_TAR);
            let known = if gzip { self.sources.as_ref().and_then(|s| s.gzipped(&digest)) } else { None };
            let probe = known.as_ref().map(|(d, _)| d.clone()).unwrap_or_else(|| digest.clone());
            blobs.push(Outgoing { mount_from: mount_source(&probe), digest, size: l.size(), is_layer: true, gzip, known });
        }
        let config = Digest::from_oci(manifest.config().digest())?;
        blobs.push(Outgoing { mount_from: mount_source(&config), digest: config, size: manifest.config().size(), is_layer: false, gzip: false, known: None });
        let mount_scopes: BTreeSet<String> = blobs.iter().filter_map(|b| b.mount_from.as_ref()).map(|f| format!("repository:{f}:pull")).collect();
        for b in &blobs {
            if b.is_layer {
                progress(Progress::layer(&short_id(&b.digest), "Preparing"));
            }
            if !store.content().has(&b.digest) {
                return Err(berth_image::Error::BlobNotFound(b.digest.clone()).into());
            }
        }
        let mut scopes = vec![format!("repository:{}:pull,push", reference.path())];
        scopes.extend(mount_scopes);
        let session = self.session(reference.domain(), opts.credentials.clone(), scopes, false)?;
        let repo = Repo { session: &session, path: reference.path().to_owned() };

        let queue = Mutex::new(blobs.iter().enumerate().collect::<VecDeque<_>>());
        let sent_as: Mutex<Vec<Option<(Digest, u64)>>> = Mutex::new(vec![None; blobs.len()]);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let workers = self.transport.options().max_concurrent_uploads.max(1).min(blobs.len());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    if first_error.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                        return;
                    }
                    let Some((index, blob)) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else { return };
                    let id = short_id(&blob.digest);
                    let quiet = |_: Progress| {};
                    let report: &ProgressFn = if blob.is_layer { progress } else { &quiet };
                    match self.push_blob(store, &repo, blob, &id, report) {
                        Ok((sent, remote)) => {
                            match sent {
                                Sent::Existed => report(Progress::layer(&id, "Layer already exists")),
                                Sent::Mounted(from) => report(Progress::layer(&id, format!("Mounted from {from}"))),
                                Sent::Uploaded => report(Progress::layer(&id, "Pushed")),
                            }
                            sent_as.lock().unwrap_or_else(|p| p.into_inner())[index] = remote;
                        }
                        Err(e) => {
                            first_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        let sent_as = sent_as.into_inner().unwrap_or_else(|p| p.into_inner());
        let manifest_bytes = if sent_as.iter().any(Option::is_some) {
            with_gzip_layers(&manifest, &media_type, &sent_as)?
        } else {
            manifest_bytes
        };

        let digest = repo.put_manifest(&tag, &manifest_bytes, &media_type)?;
        store.add_repo_digest(&image_id, &reference.repository().with_digest(digest.clone()))?;
        if let Some(sources) = &self.sources {
            for (b, remote) in blobs.iter().zip(&sent_as) {
                sources.add(remote.as_ref().map(|(d, _)| d).unwrap_or(&b.digest), &repo_name);
            }
        }
        let size = manifest_bytes.len() as u64;
        progress(Progress::status(format!("{tag}: digest: {digest} size: {size}")));
        progress(Progress {
            aux: Some(serde_json::json!({"Tag": tag, "Digest": digest.to_string(), "Size": size})),
            ..Default::default()
        });
        Ok(PushOutcome { tag, digest, size })
    }

    /// Gets one blob to the registry. For a layer sent gzipped, also returns the gzip
    /// blob's digest and size (what the pushed manifest lists instead).
    fn push_blob(&self, store: &ImageStore, repo: &Repo, blob: &Outgoing, id: &str, progress: &ProgressFn) -> Result<(Sent, Option<(Digest, u64)>)> {
        let remote = if blob.gzip { blob.known.clone() } else { Some((blob.digest.clone(), blob.size)) };
        if let Some((target, target_size)) = &remote {
            let as_sent = blob.gzip.then(|| (target.clone(), *target_size));
            if repo.blob_size(target)?.is_some() {
                return Ok((Sent::Existed, as_sent));
            }
            if let UploadStart::Mounted = repo.start_upload(blob.mount_from.as_deref().map(|f| (target, f)))? {
                return Ok((Sent::Mounted(blob.mount_from.clone().unwrap_or_default()), as_sent));
            }
            // A registry that cannot mount started an ordinary upload; we start our own
            // below (an unused upload session expires on the registry's side).
        }
        let location = match repo.start_upload(None)? {
            UploadStart::Location(l) => l,
            UploadStart::Mounted => return Err(Error::protocol(repo.session.domain.as_str(), "upload start answered as a mount")),
        };
        let path = store.content().blob_path(&blob.digest);
        let chunk = self.transport.options().upload_chunk_size.max(1);
        progress(Progress::bytes(id, "Pushing", 0, blob.size));
        if blob.gzip {
            let (gz, gz_size) = self.upload_gzipped(repo, location, &path, blob.size, chunk, id, progress)?;
            if let Some(sources) = &self.sources {
                sources.set_gzipped(&blob.digest, &gz, gz_size);
            }
            return Ok((Sent::Uploaded, Some((gz, gz_size))));
        }
        if blob.size <= chunk {
            repo.finish_upload(&location, &blob.digest, ReqBody::File(path))?;
        } else {
            let file = std::fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
            let on_chunk = |done: u64| progress(Progress::bytes(id, "Pushing", done, blob.size));
            let (location, _) = upload_chunks(repo, location, file, chunk, &path, &on_chunk, None)?;
            repo.finish_upload(&location, &blob.digest, ReqBody::Bytes(Vec::new()))?;
        }
        progress(Progress::bytes(id, "Pushing", blob.size, blob.size));
        Ok((Sent::Uploaded, None))
    }

    /// Uploads the gzip of the plain layer at `path` in PATCH chunks, hashing the
    /// compressed bytes as they go, and finishes the upload under their digest.
    #[allow(clippy::too_many_arguments)]
    fn upload_gzipped(&self, repo: &Repo, location: url::Url, path: &Path, size: u64, chunk: u64, id: &str, progress: &ProgressFn) -> Result<(Digest, u64)> {
        let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
        let read = Arc::new(AtomicU64::new(0));
        let counted = Counted { inner: file, read: read.clone() };
        // mtime 0 and a fixed level: the same layer gzips to the same blob every time,
        // so pushes from different hosts meet as "Layer already exists". The fastest
        // level: a push is CPU-bound on any link faster than ~100 MB/s, and level 6
        // gains ~15% in size at 4-10x the time.
        let gz = flate2::GzBuilder::new().mtime(0).read(counted, flate2::Compression::fast());
        let on_chunk = |_: u64| progress(Progress::bytes(id, "Pushing", read.load(Ordering::Relaxed), size));
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let (location, sent) = upload_chunks(repo, location, gz, chunk, path, &on_chunk, Some(&mut hasher))?;
        let digest = hasher.finish();
        repo.finish_upload(&location, &digest, ReqBody::Bytes(Vec::new()))?;
        progress(Progress::bytes(id, "Pushing", size, size));
        Ok((digest, sent))
    }
}

/// PATCHes `reader` to the upload in chunks of `chunk` bytes (hashing them into
/// `hasher` if given); returns the next upload URL and the bytes sent.
fn upload_chunks(
    repo: &Repo,
    mut location: url::Url,
    mut reader: impl Read,
    chunk: u64,
    path: &Path,
    on_chunk: &dyn Fn(u64),
    mut hasher: Option<&mut Hasher>,
) -> Result<(url::Url, u64)> {
    let mut offset = 0u64;
    loop {
        let mut buf = Vec::with_capacity(chunk as usize);
        (&mut reader).take(chunk).read_to_end(&mut buf).map_err(|e| Error::io("read", path, e))?;
        if buf.is_empty() {
            return Ok((location, offset));
        }
        if let Some(h) = hasher.as_deref_mut() {
            h.update(&buf);
        }
        let n = buf.len() as u64;
        location = repo.patch_chunk(&location, buf, offset)?;
        offset += n;
        on_chunk(offset);
    }
}

/// A blob of the image's manifest on its way to the registry.
struct Outgoing {
    /// The stored blob.
    digest: Digest,
    size: u64,
    /// A repository of the same registry that has what we send (for a mount).
    mount_from: Option<String>,
    is_layer: bool,
    /// A plain tar layer, sent gzipped.
    gzip: bool,
    /// The gzip blob an earlier push made of it.
    known: Option<(Digest, u64)>,
}

/// Counts the bytes read through it (the uncompressed progress of a gzipped upload).
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The manifest as pushed: layers sent gzipped are listed by their gzip blob, with the
/// gzip media type of the manifest's family (Docker schema 2 or OCI).
fn with_gzip_layers(manifest: &ImageManifest, manifest_type: &str, sent_as: &[Option<(Digest, u64)>]) -> Result<Vec<u8>> {
    let gzip_type = if manifest_type == media_type::DOCKER_MANIFEST { media_type::DOCKER_LAYER_GZIP } else { media_type::OCI_LAYER_GZIP };
    let mut m = manifest.clone();
    let layers = manifest
        .layers()
        .iter()
        .zip(sent_as)
        .map(|(l, sent)| match sent {
            Some((d, size)) => {
                let mut l = l.clone();
                l.set_media_type(MediaType::from(gzip_type));
                l.set_digest(d.to_oci());
                l.set_size(*size);
                l
            }
            None => l.clone(),
        })
        .collect();
    m.set_layers(layers);
    serde_json::to_vec(&m).map_err(|e| Error::protocol("", format!("serialising the pushed manifest: {e}")))
}
