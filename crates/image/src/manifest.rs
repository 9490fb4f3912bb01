//! Manifest documents: OCI image manifest and index, Docker schema 2 manifest and
//! manifest list. Both families share one JSON shape, so one set of oci-spec types reads
//! them; what differs is checked here (media types, schema version, sizes).

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media_type::{self, Compression, ManifestKind};

/// Largest manifest or index we read; registries and Docker use the same 4 MiB bound,
/// which keeps a hostile document from eating memory.
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// A parsed manifest document.
#[derive(Clone, Debug)]
pub enum Manifest {
    /// A single-platform image manifest.
    Image(ImageManifest),
    /// A multi-platform index / manifest list.
    Index(ImageIndex),
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<i64>,
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
    layers: Option<serde::de::IgnoredAny>,
}

impl Manifest {
    /// Parses a manifest document. `media_type` is the type it was announced with (by a
    /// descriptor or a registry's Content-Type), if any; otherwise the document's own
    /// `mediaType` field, or its shape (`manifests` vs `layers`), decides. `what` names
    /// the document in errors (e.g. the image reference or blob digest).
    pub fn parse(bytes: &[u8], media_type: Option<&str>, what: &str) -> Result<Manifest> {
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(Error::json(
                format!("manifest {what}"),
                format!("{} bytes is larger than the {MAX_MANIFEST_SIZE} byte limit", bytes.len()),
            ));
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| Error::json(format!("manifest {what}"), e))?;
        if probe.schema_version != Some(2) {
            return Err(Error::json(
                format!("manifest {what}"),
                format!("unsupported schemaVersion {:?} (only 2 is supported)", probe.schema_version),
            ));
        }
        if let (Some(announced), Some(own)) = (media_type, probe.media_type.as_deref()) {
            if announced != own {
                return Err(Error::json(
                    format!("manifest {what}"),
                    format!("mediaType {own:?} does not match the announced {announced:?}"),
                ));
            }
        }
        let kind = match media_type.or(probe.media_type.as_deref()) {
            Some(mt) => ManifestKind::of(mt).ok_or_else(|| Error::UnsupportedMediaType {
                what: format!("manifest {what}"),
                media_type: mt.to_owned(),
            })?,
            None => match (probe.manifests.is_some(), probe.layers.is_some()) {
                (true, false) => ManifestKind::Index,
                (false, true) => ManifestKind::Image,
                _ => return Err(Error::json(format!("manifest {what}"), "neither an image manifest nor an index")),
            },
        };
        match kind {
            ManifestKind::Image => {
                let m: ImageManifest =
                    serde_json::from_slice(bytes).map_err(|e| Error::json(format!("manifest {what}"), e))?;
                check_image_manifest(&m, what)?;
                Ok(Manifest::Image(m))
            }
            ManifestKind::Index => {
                let i: ImageIndex =
                    serde_json::from_slice(bytes).map_err(|e| Error::json(format!("index {what}"), e))?;
                for d in i.manifests() {
                    descriptor_digest(d, &format!("index {what}"))?;
                }
                Ok(Manifest::Index(i))
            }
        }
    }

    /// The media type of this document (declared, or the OCI one if undeclared).
    pub fn media_type(&self) -> String {
        match self {
            Manifest::Image(m) => m.media_type().as_ref().map(|m| m.to_string()).unwrap_or(media_type::OCI_MANIFEST.into()),
            Manifest::Index(i) => i.media_type().as_ref().map(|m| m.to_string()).unwrap_or(media_type::OCI_INDEX.into()),
        }
    }
}

fn check_image_manifest(m: &ImageManifest, what: &str) -> Result<()> {
    let ctx = format!("manifest {what}");
    let cmt = m.config().media_type().to_string();
    if !media_type::is_config(&cmt) {
        return Err(Error::UnsupportedMediaType { what: format!("config of {ctx}"), media_type: cmt });
    }
    descriptor_digest(m.config(), &ctx)?;
    for l in m.layers() {
        let lmt = l.media_type().to_string();
        if Compression::of_layer_media_type(&lmt).is_none() {
            return Err(Error::UnsupportedMediaType { what: format!("layer {} of {ctx}", l.digest()), media_type: lmt });
        }
        descriptor_digest(l, &ctx)?;
    }
    Ok(())
}

/// The digest of a descriptor, rejecting algorithms we cannot verify.
pub fn descriptor_digest(d: &Descriptor, what: &str) -> Result<Digest> {
    Digest::parse(d.digest().as_ref()).map_err(|e| Error::json(what, format!("descriptor: {e}")))
}

/// The layer descriptors of an image manifest with their compression.
pub fn layers(m: &ImageManifest) -> Vec<(Digest, Compression, u64)> {
    m.layers()
        .iter()
        .filter_map(|l| {
            Some((
                Digest::parse(l.digest().as_ref()).ok()?,
                Compression::of_layer_media_type(&l.media_type().to_string())?,
                l.size(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn docker_manifest() -> serde_json::Value {
        json!({
            "schemaVersion": 2,
            "mediaType": media_type::DOCKER_MANIFEST,
            "config": {"mediaType": media_type::DOCKER_CONFIG, "size": 10, "digest": d(1)},
            "layers": [
                {"mediaType": media_type::DOCKER_LAYER_GZIP, "size": 20, "digest": d(2)},
                {"mediaType": media_type::OCI_LAYER_ZSTD, "size": 30, "digest": d(3)},
            ]
        })
    }

    #[test]
    fn reads_docker_schema2_and_oci_documents() {
        let bytes = serde_json::to_vec(&docker_manifest()).unwrap();
        let Manifest::Image(m) = Manifest::parse(&bytes, None, "t").unwrap() else { panic!("not an image") };
        let ls = layers(&m);
        assert_eq!(ls.len(), 2);
        assert_eq!(ls[0].1, Compression::Gzip);
        assert_eq!(ls[1].1, Compression::Zstd);
        assert_eq!(ls[1].0.to_string(), d(3));

        let oci_no_media_type = json!({
            "schemaVersion": 2,
            "config": {"mediaType": media_type::OCI_CONFIG, "size": 10, "digest": d(1)},
            "layers": []
        });
        let m = Manifest::parse(&serde_json::to_vec(&oci_no_media_type).unwrap(), None, "t").unwrap();
        assert_eq!(m.media_type(), media_type::OCI_MANIFEST);

        let list = json!({
            "schemaVersion": 2,
            "mediaType": media_type::DOCKER_MANIFEST_LIST,
            "manifests": [{"mediaType": media_type::DOCKER_MANIFEST, "size": 5, "digest": d(4),
                           "platform": {"os": "linux", "architecture": "amd64"}}]
        });
        let m = Manifest::parse(&serde_json::to_vec(&list).unwrap(), Some(media_type::DOCKER_MANIFEST_LIST), "t").unwrap();
        assert!(matches!(m, Manifest::Index(_)));
    }

    #[test]
    fn rejects_bad_documents_with_a_named_error() {
        let mut v = docker_manifest();
        v["layers"][0]["mediaType"] = "application/x-unknown".into();
        let e = Manifest::parse(&serde_json::to_vec(&v).unwrap(), None, "busybox:latest").unwrap_err();
        assert!(matches!(e, Error::UnsupportedMediaType { .. }), "{e}");
        assert!(e.to_string().contains("busybox:latest") && e.to_string().contains("application/x-unknown"), "{e}");

        let mut v = docker_manifest();
        v["schemaVersion"] = 1.into();
        assert!(Manifest::parse(&serde_json::to_vec(&v).unwrap(), None, "t").unwrap_err().to_string().contains("schemaVersion"));

        let v = docker_manifest();
        let e = Manifest::parse(&serde_json::to_vec(&v).unwrap(), Some(media_type::OCI_MANIFEST), "t").unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");

        let mut v = docker_manifest();
        v["config"]["digest"] = "sha256:zz".into();
        assert!(Manifest::parse(&serde_json::to_vec(&v).unwrap(), None, "t").is_err());
        let mut v = docker_manifest();
        v["config"]["size"] = (-1).into();
        assert!(Manifest::parse(&serde_json::to_vec(&v).unwrap(), None, "t").is_err());

        assert!(Manifest::parse(b"{\"schemaVersion\": 2, \"layers\": [", None, "t").is_err());
        assert!(Manifest::parse(b"[]", None, "t").is_err());
        assert!(Manifest::parse(b"{\"schemaVersion\":2}", None, "t").is_err());
        let mut v = docker_manifest();
        v.as_object_mut().unwrap().remove("mediaType");
        let e = Manifest::parse(&serde_json::to_vec(&v).unwrap(), Some("application/vnd.docker.distribution.manifest.v1+json"), "t");
        assert!(matches!(e, Err(Error::UnsupportedMediaType { .. })));

        let huge = vec![b' '; MAX_MANIFEST_SIZE + 1];
        assert!(Manifest::parse(&huge, None, "t").unwrap_err().to_string().contains("limit"));
        // Deeply nested JSON is refused by serde_json's recursion limit, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert!(Manifest::parse(deep.as_bytes(), None, "t").is_err());
    }
}
