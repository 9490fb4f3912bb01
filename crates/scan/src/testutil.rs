//! Builders for the unit tests: layer tars, `docker save` archives, small ELF files
//! with embedded module information.

use sha2::{Digest, Sha256};

pub struct TarBuilder(tar::Builder<Vec<u8>>);

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h
    }

    pub fn file(mut self, path: &str, data: &[u8]) -> TarBuilder {
        self.0.append_data(&mut Self::header(tar::EntryType::Regular, data.len() as u64, 0o644), path, data).unwrap();
        self
    }

    pub fn exe(mut self, path: &str, data: &[u8]) -> TarBuilder {
        self.0.append_data(&mut Self::header(tar::EntryType::Regular, data.len() as u64, 0o755), path, data).unwrap();
        self
    }

    pub fn dir(mut self, path: &str) -> TarBuilder {
        self.0.append_data(&mut Self::header(tar::EntryType::Directory, 0, 0o755), path, &[][..]).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> TarBuilder {
        self.0.append_link(&mut Self::header(tar::EntryType::Symlink, 0, 0o777), path, target).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> TarBuilder {
        self.0.append_link(&mut Self::header(tar::EntryType::Link, 0, 0o644), path, target).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

pub fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// A `docker save` archive of one image with these layers (bottom first). The blobs
/// are written top layer first and the manifest last, so reading must go by the
/// manifest's order, not the archive's.
pub fn docker_archive(layers: &[Vec<u8>], tag: &str) -> Vec<u8> {
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_hex = sha256_hex(config);
    let mut t = TarBuilder::new();
    let paths: Vec<String> = layers.iter().map(|l| format!("blobs/sha256/{}", sha256_hex(l))).collect();
    for (l, p) in layers.iter().zip(&paths).rev() {
        t = t.file(p, l);
    }
    t = t.file(&format!("blobs/sha256/{config_hex}"), config);
    let manifest = serde_json::json!([{"Config": format!("blobs/sha256/{config_hex}"), "RepoTags": [tag], "Layers": paths}]);
    t.file("manifest.json", manifest.to_string().as_bytes()).finish()
}

/// The same image as an OCI layout only (`index.json`, no `manifest.json`).
pub fn oci_archive(layers: &[Vec<u8>], name: &str) -> Vec<u8> {
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", sha256_hex(l)), "size": l.len()}))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", sha256_hex(config)), "size": config.len()},
        "layers": descs,
    })
    .to_string();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", sha256_hex(manifest.as_bytes())), "size": manifest.len(),
                        "annotations": {"io.containerd.image.name": name}}],
    });
    let mut t = TarBuilder::new().file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    for l in layers {
        t = t.file(&format!("blobs/sha256/{}", sha256_hex(l)), l);
    }
    t.file(&format!("blobs/sha256/{}", sha256_hex(config)), config)
        .file(&format!("blobs/sha256/{}", sha256_hex(manifest.as_bytes())), manifest.as_bytes())
        .file("index.json", index.to_string().as_bytes())
        .finish()
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// An ELF object with cargo-auditable's `.dep-v0` section listing these crates.
pub fn rust_elf(crates: &[(&str, &str, &str)]) -> Vec<u8> {
    use object::write::Object;
    use object::{Architecture, BinaryFormat, Endianness, SectionKind};
    use std::io::Write;
    let packages: Vec<serde_json::Value> =
        crates.iter().enumerate().map(|(i, (n, v, s))| serde_json::json!({"name": n, "version": v, "source": s, "root": i == 0})).collect();
    let json = serde_json::json!({"packages": packages}).to_string();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(json.as_bytes()).unwrap();
    let compressed = z.finish().unwrap();
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let sec = obj.add_section(Vec::new(), b".dep-v0".to_vec(), SectionKind::ReadOnlyData);
    obj.append_section_data(sec, &compressed, 1);
    obj.write().unwrap()
}

/// Bytes shaped like a Go 1.18+ binary's build information (after an ELF magic, so
/// the layer reader treats the file as an executable).
pub fn go_elf(go_version: &str, modinfo: &str) -> Vec<u8> {
    fn varint(mut n: usize, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    let mut b = b"\x7fELF".to_vec();
    b.resize(64, 0);
    b.extend_from_slice(b"\xff Go buildinf:");
    b.push(8);
    b.push(0x2);
    b.resize(64 + 32, 0);
    varint(go_version.len(), &mut b);
    b.extend_from_slice(go_version.as_bytes());
    let mut m = vec![0x30u8; 16];
    m.extend_from_slice(modinfo.as_bytes());
    m.extend_from_slice(&[0xf9u8; 16]);
    varint(m.len(), &mut b);
    b.extend_from_slice(&m);
    b.resize(b.len() + 64, 0);
    b
}
