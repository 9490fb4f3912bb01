//! A `docker save` archive (docker-archive `manifest.json` and/or OCI layout
//! `index.json`), read in one pass. Docker and berthd write the layer blobs before the
//! manifests that order them, so every blob is read as a layer when it streams by and
//! the layers are stacked once the manifest says in which order.

use std::collections::HashMap;
use std::io::Read;

use serde::Deserialize;

use super::layer::{self, Layer};
use super::RootFs;
use crate::error::{Error, Result};

/// Largest JSON document (manifest, index, config) kept from an archive.
const MAX_JSON: u64 = 8 << 20;

/// The image read from an archive.
#[derive(Debug, Default)]
pub struct Image {
    /// The first tag the archive records, if any.
    pub name: Option<String>,
    /// The image id (its config's digest), when the archive names it.
    pub id: Option<String>,
    pub layers: usize,
    pub rootfs: RootFs,
    /// Things skipped (oversized files), for the report.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<OciDescriptor>,
}

#[derive(Deserialize)]
struct OciDescriptor {
    digest: String,
    #[serde(default, rename = "mediaType")]
    media_type: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<OciPlatform>,
}

#[derive(Deserialize)]
struct OciPlatform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct OciManifest {
    config: OciDescriptor,
    layers: Vec<OciDescriptor>,
}

/// Reads the first image of an archive into its merged, cataloger-sized view.
pub fn read_image_archive(reader: impl Read) -> Result<Image> {
    let bad = |e: std::io::Error| Error::Archive(e.to_string());
    let mut json: HashMap<String, Vec<u8>> = HashMap::new();
    let mut layers: HashMap<String, std::result::Result<Layer, String>> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path_bytes().into_owned();
        let path = layer::clean(&raw).ok_or_else(|| Error::Archive(format!("entry {:?} climbs out of the archive", String::from_utf8_lossy(&raw))))?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            // Old docker-archive layouts link `<id>/layer.tar` to a shared blob.
            if let Some(t) = entry.link_name_bytes() {
                let joined = if kind.is_symlink() && !t.starts_with(b"/") {
                    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    format!("{parent}/{}", String::from_utf8_lossy(&t))
                } else {
                    String::from_utf8_lossy(&t).into_owned()
                };
                if let Some(target) = layer::clean(joined.as_bytes()) {
                    links.insert(path, target);
                }
            }
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            continue;
        }
        let size = entry.size();
        let mut head = [0u8; 1];
        let n = entry.read(&mut head).map_err(|e| Error::Archive(format!("{path}: {e}")))?;
        let chained = std::io::Read::chain(&head[..n], &mut entry);
        if n == 1 && (head[0] == b'{' || head[0] == b'[') && size <= MAX_JSON {
            let mut buf = Vec::with_capacity(size as usize);
            { chained }.read_to_end(&mut buf).map_err(|e| Error::Archive(format!("{path}: {e}")))?;
            json.insert(path, buf);
        } else if path == "oci-layout" || path == "repositories" {
            continue;
        } else {
            // Not JSON: a layer, or a blob no manifest will name (its error then never shows).
            layers.insert(path.clone(), layer::read(chained, &path));
        }
    }

    let (name, id, order) = image_layers(&json).ok_or_else(|| {
        Error::Archive("no manifest.json or index.json naming an image (is this a `docker save` archive?)".into())
    })??;
    let mut image = Image { name, id, layers: order.len(), ..Image::default() };
    for wanted in order {
        let mut p = wanted.clone();
        for _ in 0..8 {
            match links.get(&p) {
                Some(t) if !layers.contains_key(&p) => p = t.clone(),
                _ => break,
            }
        }
        match layers.remove(&p) {
            Some(Ok(l)) => {
                image.warnings.extend(l.warnings.iter().cloned());
                image.rootfs.apply(l);
            }
            Some(Err(reason)) => return Err(Error::Layer { layer: wanted, reason }),
            None => return Err(Error::Archive(format!("layer {wanted} is named by the manifest but not in the archive"))),
        }
    }
    Ok(image)
}

/// An image's name, id and layer paths (bottom first).
type ImageLayers = (Option<String>, Option<String>, Vec<String>);

/// The image's name, id and layer paths, from `manifest.json` or else `index.json`.
/// `None` when the archive has neither.
fn image_layers(json: &HashMap<String, Vec<u8>>) -> Option<Result<ImageLayers>> {
    if let Some(m) = json.get("manifest.json") {
        return Some((|| {
            let items: Vec<DockerManifestItem> = serde_json::from_slice(m).map_err(|e| Error::Archive(format!("manifest.json: {e}")))?;
            let first = items.into_iter().next().ok_or_else(|| Error::Archive("manifest.json lists no image".into()))?;
            let name = first.repo_tags.and_then(|t| t.into_iter().next());
            let id = first.config.rsplit('/').next().filter(|h| h.len() == 64).map(|h| format!("sha256:{h}"));
            Ok((name, id, first.layers))
        })());
    }
    let index = json.get("index.json")?;
    Some((|| {
        let blob = |digest: &str| -> Result<&Vec<u8>> {
            let path = format!("blobs/{}", digest.replacen(':', "/", 1));
            json.get(&path).ok_or_else(|| Error::Archive(format!("{path} is referenced but not in the archive")))
        };
        let mut doc: OciIndex = serde_json::from_slice(index).map_err(|e| Error::Archive(format!("index.json: {e}")))?;
        let mut name = None;
        // Follow nested indexes (multi-platform images) to this host's platform.
        for _ in 0..4 {
            let pick = pick_manifest(&doc.manifests).ok_or_else(|| Error::Archive("index.json lists no image".into()))?;
            name = name.or_else(|| pick.annotations.get("io.containerd.image.name").cloned());
            let bytes = blob(&pick.digest)?;
            if pick.media_type.contains("index") || pick.media_type.contains("manifest.list") {
                doc = serde_json::from_slice(bytes).map_err(|e| Error::Archive(format!("index {}: {e}", pick.digest)))?;
                continue;
            }
            let m: OciManifest = serde_json::from_slice(bytes).map_err(|e| Error::Archive(format!("manifest {}: {e}", pick.digest)))?;
            let layers = m.layers.iter().map(|l| format!("blobs/{}", l.digest.replacen(':', "/", 1))).collect();
            return Ok((name, Some(m.config.digest), layers));
        }
        Err(Error::Archive("index.json: indexes nested too deeply".into()))
    })())
}

fn pick_manifest(list: &[OciDescriptor]) -> Option<&OciDescriptor> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    list.iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| p.architecture == arch && (p.os.is_empty() || p.os == "linux")))
        .or_else(|| list.first())
}
