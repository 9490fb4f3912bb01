//! The distribution API calls on one repository: manifests (GET/HEAD/PUT with content
//! negotiation), blobs (HEAD, GET from an offset), uploads (POST with optional
//! cross-repository mount, PATCH chunks, PUT to finish).

use ureq::http::{Method, Response};
use ureq::Body as RespBody;

use berth_image::manifest::MAX_MANIFEST_SIZE;
use berth_image::Digest;

use crate::error::{Error, Result};
use crate::session::{read_limited, status_error, unauthorized, ReqBody, Session};

/// What we accept for manifests: both families, single images and indexes.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A fetched manifest document, verified against its digest.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: Option<String>,
    pub digest: Digest,
}

/// The outcome of starting an upload.
pub(crate) enum UploadStart {
    /// The registry mounted the blob from another repository: nothing to send.
    Mounted,
    /// Send the blob to this URL.
    Location(url::Url),
}

/// The session plus the repository path (`library/busybox`).
pub(crate) struct Repo<'s, 'r> {
    pub session: &'s Session<'r>,
    pub path: String,
}

fn header(resp: &Response<RespBody>, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The target of a `Link: <url>; rel="next"` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find(|part| part.contains("rel=\"next\"")).and_then(|part| {
        let start = part.find('<')? + 1;
        let end = part[start..].find('>')? + start;
        Some(part[start..end].to_owned())
    })
}

fn content_type(resp: &Response<RespBody>) -> Option<String> {
    header(resp, "content-type").map(|v| v.split(';').next().unwrap_or_default().trim().to_owned()).filter(|v| !v.is_empty())
}

impl Repo<'_, '_> {
    fn name(&self) -> String {
        format!("{}/{}", self.session.domain, self.path)
    }

    /// GET a manifest by tag or digest. By digest the bytes must hash to it; by tag the
    /// digest is computed here (a registry's Docker-Content-Digest is not trusted).
    pub fn get_manifest(&self, reference: &str) -> Result<FetchedManifest> {
        let url = self.session.url(&self.path, &format!("manifests/{reference}"));
        let resp = self.session.send(Method::GET, &url, &[("Accept", MANIFEST_ACCEPT.into())], ReqBody::None)?;
        match resp.status().as_u16() {
            200 => {}
            404 => {
                return Err(Error::NotFound(format!(
                    "manifest for {}{}{reference} not found: manifest unknown: manifest unknown",
                    self.name(),
                    if reference.contains(':') { "@" } else { ":" }
                )))
            }
            401 | 403 => return Err(unauthorized(&self.session.domain, resp)),
            _ => return Err(status_error(resp, &format!("manifest {}:{reference}", self.name()))),
        }
        let media_type = content_type(&resp);
        let bytes = read_limited(resp, MAX_MANIFEST_SIZE as u64)
            .map_err(|e| Error::protocol(&self.session.domain, format!("manifest {}:{reference}: {e}", self.name())))?;
        let digest = match Digest::parse(reference) {
            Ok(want) => {
                let mut h = berth_image::digest::Hasher::new(want.algorithm());
                h.update(&bytes);
                let got = h.finish();
                if got != want {
                    return Err(berth_image::Error::DigestMismatch { what: format!("manifest {}", self.name()), expected: want, actual: got }.into());
                }
                want
            }
            Err(_) => Digest::sha256_of(&bytes),
        };
        Ok(FetchedManifest { bytes, media_type, digest })
    }

    /// HEAD a manifest: its digest (if the registry says) and size, or None if absent.
    pub fn head_manifest(&self, reference: &str) -> Result<Option<(Option<Digest>, u64)>> {
        let url = self.session.url(&self.path, &format!("manifests/{reference}"));
        let resp = self.session.send(Method::HEAD, &url, &[("Accept", MANIFEST_ACCEPT.into())], ReqBody::None)?;
        match resp.status().as_u16() {
            200 => {
                let digest = header(&resp, "docker-content-digest").and_then(|d| Digest::parse(&d).ok());
                let size = header(&resp, "content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                Ok(Some((digest, size)))
            }
            404 => Ok(None),
            401 | 403 => Err(unauthorized(&self.session.domain, resp)),
            _ => Err(status_error(resp, &format!("manifest {}:{reference}", self.name()))),
        }
    }

    /// PUT a manifest under a tag or digest; returns its digest.
    pub fn put_manifest(&self, reference: &str, bytes: &[u8], media_type: &str) -> Result<Digest> {
        let url = self.session.url(&self.path, &format!("manifests/{reference}"));
        let resp = self.session.send(Method::PUT, &url, &[("Content-Type", media_type.into())], ReqBody::Bytes(bytes.to_vec()))?;
        match resp.status().as_u16() {
            200..=299 => Ok(Digest::sha256_of(bytes)),
            401 | 403 => Err(unauthorized(&self.session.domain, resp)),
            _ => Err(status_error(resp, &format!("manifest {}:{reference}", self.name()))),
        }
    }

    /// HEAD a blob: its size if the repository has it.
    pub fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let url = self.session.url(&self.path, &format!("blobs/{digest}"));
        let resp = self.session.send(Method::HEAD, &url, &[], ReqBody::None)?;
        match resp.status().as_u16() {
            200..=299 => Ok(Some(header(&resp, "content-length").and_then(|l| l.parse().ok()).unwrap_or(0))),
            404 => Ok(None),
            401 | 403 => Err(unauthorized(&self.session.domain, resp)),
            _ => Err(status_error(resp, &format!("blob {digest} in {}", self.name()))),
        }
    }

    /// GET a blob from byte `offset` on. Returns the response and the offset it really
    /// starts at (0 if the registry ignored the Range and sent everything).
    pub fn get_blob(&self, digest: &Digest, offset: u64) -> Result<(Response<RespBody>, u64)> {
        let url = self.session.url(&self.path, &format!("blobs/{digest}"));
        let headers: Vec<(&str, String)> = if offset > 0 { vec![("Range", format!("bytes={offset}-"))] } else { vec![] };
        let resp = self.session.send(Method::GET, &url, &headers, ReqBody::None)?;
        match resp.status().as_u16() {
            200 => Ok((resp, 0)),
            206 => {
                // `Content-Range: bytes <start>-<end>/<total>` must start where we asked.
                let start = header(&resp, "content-range")
                    .and_then(|r| r.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.trim().parse::<u64>().ok()));
                if start != Some(offset) {
                    return Err(Error::protocol(&self.session.domain, format!("blob {digest}: asked for bytes from {offset}, got Content-Range {start:?}")));
                }
                Ok((resp, offset))
            }
            404 => Err(Error::NotFound(format!("blob {digest} not found in {}: blob unknown to registry", self.name()))),
            401 | 403 => Err(unauthorized(&self.session.domain, resp)),
            _ => Err(status_error(resp, &format!("blob {digest} in {}", self.name()))),
        }
    }

    /// The repository's tags (`GET tags/list`), following `Link: <…>; rel="next"` pages.
    pub fn tags(&self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let mut url = self.session.url(&self.path, "tags/list");
        let mut out = Vec::new();
        // A registry that keeps answering "next" is cut off after this many pages.
        for _ in 0..1000 {
            let resp = self.session.send(Method::GET, &url, &[], ReqBody::None)?;
            match resp.status().as_u16() {
                200 => {}
                404 => return Err(Error::NotFound(format!("repository {} not found", self.name()))),
                401 | 403 => return Err(unauthorized(&self.session.domain, resp)),
                _ => return Err(status_error(resp, &format!("tags of {}", self.name()))),
            }
            let next = header(&resp, "link").and_then(|l| next_link(&l));
            let body = read_limited(resp, 16 << 20)?;
            let page: Page = serde_json::from_slice(&body).map_err(|e| Error::protocol(&self.session.domain, format!("tags of {}: {e}", self.name())))?;
            out.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) => url = self.session.resolve(&n)?.to_string(),
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// POST to start an upload; with `mount` = (digest, repository path) asks the
    /// registry to mount the blob from that repository instead.
    pub fn start_upload(&self, mount: Option<(&Digest, &str)>) -> Result<UploadStart> {
        let mut url = url::Url::parse(&self.session.url(&self.path, "blobs/uploads/")).map_err(|e| Error::protocol(&self.session.domain, e))?;
        if let Some((d, from)) = mount {
            url.query_pairs_mut().append_pair("mount", &d.to_string()).append_pair("from", from);
        }
        let resp = self.session.send(Method::POST, url.as_str(), &[], ReqBody::Bytes(Vec::new()))?;
        match resp.status().as_u16() {
            201 if mount.is_some() => Ok(UploadStart::Mounted),
            202 => {
                let loc = header(&resp, "location").ok_or_else(|| Error::protocol(&self.session.domain, "upload started without a Location"))?;
                Ok(UploadStart::Location(self.session.resolve(&loc)?))
            }
            401 | 403 => Err(unauthorized(&self.session.domain, resp)),
            _ => Err(status_error(resp, &format!("upload to {}", self.name()))),
        }
    }

    /// PATCH one chunk at `offset`; returns the next upload URL.
    pub fn patch_chunk(&self, location: &url::Url, chunk: Vec<u8>, offset: u64) -> Result<url::Url> {
        let end = offset + chunk.len() as u64 - 1;
        let headers = [("Content-Type", "application/octet-stream".to_owned()), ("Content-Range", format!("{offset}-{end}"))];
        let resp = self.session.send(Method::PATCH, location.as_str(), &headers, ReqBody::Bytes(chunk))?;
        match resp.status().as_u16() {
            202 => {
                let loc = header(&resp, "location").ok_or_else(|| Error::protocol(&self.session.domain, "PATCH answered without a Location"))?;
                self.session.resolve(&loc)
            }
            401 | 403 => Err(unauthorized(&self.session.domain, resp)),
            _ => Err(status_error(resp, &format!("upload to {}", self.name()))),
        }
    }

    /// PUT to finish an upload with `?digest=`, sending `body` (the whole blob for a
    /// monolithic upload, nothing after PATCHes).
    pub fn finish_upload(&self, location: &url::Url, digest: &Digest, body: ReqBody) -> Result<()> {
        let mut url = location.clone();
        url.query_pairs_mut().append_pair("digest", &digest.to_string());
        let headers = [("Content-Type", "application/octet-stream".to_owned())];
        let resp = self.session.send(Method::PUT, url.as_str(), &headers, body)?;
        match resp.status().as_u16() {
            201 | 204 => Ok(()),
            401 | 403 => Err(unauthorized(&self.session.domain, resp)),
            _ => Err(status_error(resp, &format!("blob {digest} upload to {}", self.name()))),
        }
    }
}
