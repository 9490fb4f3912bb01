//! `docker push`: every blob of the image's manifest is checked with HEAD (skipped if the
//! repository has it), mounted from another repository of the same registry when we know
//! one that has it, or uploaded (one PUT for small blobs, PATCH chunks for large ones);
//! then the manifest is PUT under the tag.

use std::collections::{BTreeSet, VecDeque};
use std::io::Read;
use std::sync::Mutex;

use berth_image::manifest::{layers as manifest_layers, Manifest, MAX_MANIFEST_SIZE};
use berth_image::{Digest, ImageStore, Reference};

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

        // Blobs (layers, then config) with the repository we could mount each from.
        let repo_name = reference.repository().name();
        let domain_prefix = format!("{}/", reference.domain());
        let mut blobs: Vec<(Digest, u64, Option<String>, bool)> = Vec::new();
        let config = Digest::from_oci(manifest.config().digest())?;
        for (d, _, size) in manifest_layers(&manifest) {
            blobs.push((d, size, None, true));
        }
        blobs.push((config.clone(), manifest.config().size(), None, false));
        let mut mount_scopes = BTreeSet::new();
        if let Some(sources) = &self.sources {
            for b in blobs.iter_mut() {
                b.2 = sources
                    .get(&b.0)
                    .into_iter()
                    .rev()
                    .filter(|r| *r != repo_name)
                    .find_map(|r| r.strip_prefix(&domain_prefix).map(str::to_owned));
                if let Some(from) = &b.2 {
                    mount_scopes.insert(format!("repository:{from}:pull"));
                }
            }
        }
        for (d, _, _, is_layer) in &blobs {
            if *is_layer {
                progress(Progress::layer(&short_id(d), "Preparing"));
            }
            if !store.content().has(d) {
                return Err(berth_image::Error::BlobNotFound(d.clone()).into());
            }
        }
        let mut scopes = vec![format!("repository:{}:pull,push", reference.path())];
        scopes.extend(mount_scopes);
        let session = self.session(reference.domain(), opts.credentials.clone(), scopes, false)?;
        let repo = Repo { session: &session, path: reference.path().to_owned() };

        let queue = Mutex::new(blobs.iter().collect::<VecDeque<_>>());
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let workers = self.transport.options().max_concurrent_uploads.max(1).min(blobs.len());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    if first_error.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                        return;
                    }
                    let Some((digest, size, from, is_layer)) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else { return };
                    let id = short_id(digest);
                    let quiet = |_: Progress| {};
                    let report: &ProgressFn = if *is_layer { progress } else { &quiet };
                    match self.push_blob(store, &repo, digest, *size, from.as_deref(), &id, report) {
                        Ok(Sent::Existed) => report(Progress::layer(&id, "Layer already exists")),
                        Ok(Sent::Mounted(from)) => report(Progress::layer(&id, format!("Mounted from {from}"))),
                        Ok(Sent::Uploaded) => report(Progress::layer(&id, "Pushed")),
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

        let digest = repo.put_manifest(&tag, &manifest_bytes, &media_type)?;
        store.add_repo_digest(&image_id, &reference.repository().with_digest(digest.clone()))?;
        if let Some(sources) = &self.sources {
            for (d, ..) in &blobs {
                sources.add(d, &repo_name);
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

    #[allow(clippy::too_many_arguments)]
    fn push_blob(
        &self,
        store: &ImageStore,
        repo: &Repo,
        digest: &Digest,
        size: u64,
        mount_from: Option<&str>,
        id: &str,
        progress: &ProgressFn,
    ) -> Result<Sent> {
        if repo.blob_size(digest)?.is_some() {
            return Ok(Sent::Existed);
        }
        let location = match repo.start_upload(mount_from.map(|f| (digest, f)))? {
            UploadStart::Mounted => return Ok(Sent::Mounted(mount_from.unwrap_or_default().to_owned())),
            // A registry that cannot mount starts an ordinary upload instead.
            UploadStart::Location(l) => l,
        };
        let path = store.content().blob_path(digest);
        let chunk = self.transport.options().upload_chunk_size.max(1);
        progress(Progress::bytes(id, "Pushing", 0, size));
        if size <= chunk {
            repo.finish_upload(&location, digest, ReqBody::File(path))?;
        } else {
            let mut file = std::fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
            let mut location = location;
            let mut offset = 0u64;
            loop {
                let mut buf = Vec::with_capacity(chunk as usize);
                (&mut file).take(chunk).read_to_end(&mut buf).map_err(|e| Error::io("read", &path, e))?;
                if buf.is_empty() {
                    break;
                }
                let n = buf.len() as u64;
                location = repo.patch_chunk(&location, buf, offset)?;
                offset += n;
                progress(Progress::bytes(id, "Pushing", offset, size));
            }
            repo.finish_upload(&location, digest, ReqBody::Bytes(Vec::new()))?;
        }
        progress(Progress::bytes(id, "Pushing", size, size));
        Ok(Sent::Uploaded)
    }
}
