//! `docker save`.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

use serde_json::json;

use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{layers as manifest_layers, Manifest, MAX_MANIFEST_SIZE};
use crate::reference::Reference;
use crate::store::ImageStore;

impl ImageStore {
    /// Writes the images `names` name to `out` as one archive (`docker save`). A tagged
    /// name saves that tag, a bare repository name every tag of it, an id the image
    /// untagged. Blobs shared by several images are written once.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<()> {
        // image id → tags to record, in request order.
        let mut images: Vec<(Digest, Vec<Reference>)> = Vec::new();
        let mut add = |id: Digest, tag: Option<Reference>| {
            let slot = match images.iter().position(|(i, _)| *i == id) {
                Some(p) => p,
                None => {
                    images.push((id, Vec::new()));
                    images.len() - 1
                }
            };
            if let Some(t) = tag {
                if !images[slot].1.contains(&t) {
                    images[slot].1.push(t);
                }
            }
        };
        for name in names {
            // A bare repository name saves every tag of it (`docker save busybox`).
            if let Ok(r) = Reference::parse(name) {
                if r.tag().is_none() && r.digest().is_none() {
                    let all = self.tags_in_repository(&r)?;
                    if !all.is_empty() {
                        for (t, i) in all {
                            add(i, Some(t));
                        }
                        continue;
                    }
                }
            }
            let id = self.resolve(name)?;
            let by_id = id.hex().starts_with(name.strip_prefix("sha256:").unwrap_or(name));
            match Reference::parse(name) {
                Ok(r) if !by_id && r.digest().is_none() => add(id, Some(r.with_default_tag())),
                _ => add(id, None),
            }
        }

        let mut tar = tar::Builder::new(out);
        let werr = |e: std::io::Error| Error::io("write", "image archive", e);
        let mut written: HashSet<Digest> = HashSet::new();
        let mut docker_manifest = Vec::new();
        let mut index_entries = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (id, tags) in &images {
            let rec = self.get(id)?;
            let manifest_bytes = self.content().read(&rec.manifest_digest, MAX_MANIFEST_SIZE)?;
            let Manifest::Image(m) = Manifest::parse(&manifest_bytes, None, &id.to_string())? else {
                return Err(Error::json(format!("manifest of image {id}"), "is an index"));
            };
            let layer_blobs: Vec<Digest> = manifest_layers(&m).into_iter().map(|(d, _, _)| d).collect();
            for blob in layer_blobs.iter().chain([id, &rec.manifest_digest]) {
                if written.insert(blob.clone()) {
                    let size = self.content().size(blob)?;
                    let f = self.content().open_blob(blob)?;
                    append(&mut tar, &blob_path(blob), size, f).map_err(werr)?;
                }
            }
            let familiar: Vec<String> = tags.iter().map(Reference::familiar).collect();
            docker_manifest.push(json!({
                "Config": blob_path(id),
                "RepoTags": familiar,
                "Layers": layer_blobs.iter().map(blob_path).collect::<Vec<_>>(),
            }));
            let descriptor = |annotations: Option<serde_json::Value>| {
                let mut d = json!({
                    "mediaType": m.media_type().as_ref().map(|t| t.to_string()).unwrap_or(crate::media_type::OCI_MANIFEST.into()),
                    "digest": rec.manifest_digest.to_string(),
                    "size": manifest_bytes.len(),
                });
                if let Some(a) = annotations {
                    d["annotations"] = a;
                }
                d
            };
            if tags.is_empty() {
                index_entries.push(descriptor(None));
            }
            for t in tags {
                index_entries.push(descriptor(Some(json!({
                    ANNOTATION_IMAGE_NAME: t.to_string(),
                    ANNOTATION_REF_NAME: t.tag().unwrap_or("latest"),
                }))));
                if let Some(top) = layer_blobs.last() {
                    repositories.entry(t.familiar_name()).or_default().insert(t.tag().unwrap_or("latest").to_owned(), top.hex().to_owned());
                }
            }
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": crate::media_type::OCI_INDEX,
            "manifests": index_entries,
        });
        let meta: [(&str, Vec<u8>); 4] = [
            ("index.json", serde_json::to_vec(&index).expect("json")),
            ("manifest.json", serde_json::to_vec(&docker_manifest).expect("json")),
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            ("repositories", serde_json::to_vec(&repositories).expect("json")),
        ];
        for (name, data) in meta {
            append(&mut tar, name, data.len() as u64, &data[..]).map_err(werr)?;
        }
        tar.into_inner().map_err(werr)?.flush().map_err(werr)?;
        Ok(())
    }
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, size: u64, data: impl Read) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o444);
    h.set_mtime(0);
    tar.append_data(&mut h, path, data)
}
