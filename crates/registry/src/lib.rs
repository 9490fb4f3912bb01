//! berth's distribution-spec client (issue 8): pull and push images between a
//! registry and the [`berth_image::ImageStore`], log in, inspect remote manifests.
//!
//! - [`Registry`]: one per daemon; holds the HTTP agents (TLS per host from certs.d,
//!   insecure registries), the bearer-token cache and the blob-source record used for
//!   cross-repository mounts. [`Registry::pull`], [`Registry::push`],
//!   [`Registry::login`], [`Registry::distribution`] are blocking: call them from a
//!   blocking thread.
//! - [`credentials`]: `AuthConfig` (`X-Registry-Auth`), the docker CLI's `config.json`
//!   and credential helpers. Built without the `client` feature too, for the CLI.
//! - [`progress::Progress`]: Docker's JSON progress messages, sent to a callback.
//!
//! Why not the `oci-client` crate: it is async (reqwest + tokio), brings its own
//! reference, digest and manifest types (we have them in berth-image), and writes blobs
//! to an `AsyncWrite` with no hook to resume a broken download with Range, to mount
//! from another repository based on where we saw a blob, to report per-layer progress
//! or to take credentials from credential helpers. What we need of the protocol is a few
//! hundred lines on a blocking HTTP client, so we keep it here.

pub mod credentials;
pub mod error;

pub use credentials::{AuthConfig, Credentials, DockerConfig};
pub use error::{Error, Result};

#[cfg(feature = "client")]
mod challenge;
#[cfg(feature = "client")]
mod download;
#[cfg(feature = "client")]
pub mod options;
#[cfg(feature = "client")]
pub mod progress;
#[cfg(feature = "client")]
mod pull;
#[cfg(feature = "client")]
mod push;
#[cfg(feature = "client")]
mod remote;
#[cfg(feature = "client")]
mod session;
#[cfg(feature = "client")]
pub mod sources;
#[cfg(feature = "client")]
mod transport;

#[cfg(feature = "client")]
pub use client::*;

#[cfg(feature = "client")]
mod client {
    pub use crate::options::RegistryOptions;
    pub use crate::progress::{Progress, ProgressDetail, ProgressFn};
    pub use crate::pull::{PullOptions, PullOutcome};
    pub use crate::push::{PushOptions, PushOutcome};
    pub use crate::remote::MANIFEST_ACCEPT;
    pub use crate::sources::BlobSources;

    use berth_image::platform::Platform;
    use berth_image::{Digest, Reference};
    use ureq::http::Method;

    use crate::credentials::Credentials;
    use crate::error::Result;
    use crate::remote::Repo;
    use crate::session::{status_error, ReqBody, TokenCache};
    use crate::transport::Transport;

    /// A registry client shared by every pull and push of a daemon.
    pub struct Registry {
        pub(crate) transport: Transport,
        pub(crate) tokens: TokenCache,
        pub(crate) sources: Option<BlobSources>,
    }

    /// What `GET /distribution/{name}/json` reports about a remote image.
    #[derive(Clone, Debug)]
    pub struct DistributionInfo {
        pub media_type: String,
        pub digest: Digest,
        pub size: u64,
        /// Platforms of an index's entries (empty for a single-platform manifest).
        pub platforms: Vec<Platform>,
    }

    impl Registry {
        pub fn new(options: RegistryOptions) -> Registry {
            Registry { transport: Transport::new(options), tokens: TokenCache::default(), sources: None }
        }

        /// Remembers which repositories blobs came from (in `dir`), to mount them
        /// across repositories on push.
        pub fn with_blob_sources(mut self, sources: BlobSources) -> Registry {
            self.sources = Some(sources);
            self
        }

        pub fn options(&self) -> &RegistryOptions {
            self.transport.options()
        }

        /// Checks credentials against a registry (`docker login`, `POST /auth`).
        /// Returns an identity token when the token server hands one out.
        pub fn login(&self, domain: &str, credentials: Credentials) -> Result<Option<String>> {
            let session = self.session(domain, credentials, Vec::new(), false)?;
            let url = format!("{}/v2/", session.endpoint.base);
            let resp = session.send(Method::GET, &url, &[], ReqBody::None)?;
            if !resp.status().is_success() {
                return Err(status_error(resp, &format!("login to {domain}")));
            }
            let token = session.identity_token.lock().unwrap_or_else(|p| p.into_inner()).take();
            Ok(token)
        }

        /// The digest a tag or digest reference has on its registry (HEAD), or None if
        /// the registry does not know it: `--pull=always` style freshness checks.
        pub fn manifest_digest(&self, reference: &Reference, credentials: Credentials) -> Result<Option<Digest>> {
            let reference = reference.clone().with_default_tag();
            let session = self.session(reference.domain(), credentials, vec![format!("repository:{}:pull", reference.path())], true)?;
            let repo = Repo { session: &session, path: reference.path().to_owned() };
            let target = match reference.digest() {
                Some(d) => d.to_string(),
                None => reference.tag().unwrap_or("latest").to_owned(),
            };
            match repo.head_manifest(&target)? {
                Some((Some(d), _)) => Ok(Some(d)),
                // No Docker-Content-Digest on the HEAD: hash the document ourselves.
                Some((None, _)) => Ok(Some(repo.get_manifest(&target)?.digest)),
                None => Ok(None),
            }
        }

        /// The tags of a repository on its registry (`pull --all-tags`).
        pub fn tags(&self, repository: &Reference, credentials: Credentials) -> Result<Vec<String>> {
            let session = self.session(repository.domain(), credentials, vec![format!("repository:{}:pull", repository.path())], true)?;
            Repo { session: &session, path: repository.path().to_owned() }.tags()
        }

        /// The descriptor a reference resolves to on its registry, without pulling.
        pub fn distribution(&self, reference: &Reference, credentials: Credentials) -> Result<DistributionInfo> {
            let reference = reference.clone().with_default_tag();
            let session = self.session(reference.domain(), credentials, vec![format!("repository:{}:pull", reference.path())], true)?;
            let repo = Repo { session: &session, path: reference.path().to_owned() };
            let target = match reference.digest() {
                Some(d) => d.to_string(),
                None => reference.tag().unwrap_or("latest").to_owned(),
            };
            let m = repo.get_manifest(&target)?;
            let what = reference.familiar();
            let platforms = crate::pull::platforms_of(&m, &what)?;
            let media_type = m.media_type.clone().unwrap_or_else(|| {
                berth_image::manifest::Manifest::parse(&m.bytes, None, &what).map(|x| x.media_type()).unwrap_or_default()
            });
            Ok(DistributionInfo { media_type, digest: m.digest, size: m.bytes.len() as u64, platforms })
        }
    }
}
