//! save/load round trips and hostile archives.

use std::collections::HashMap;
use std::io::Read;

use serde_json::json;

use crate::digest::Digest;
use crate::error::Error;
use crate::layer::tests_support::tar_of;
use crate::media_type;
use crate::store::tests::open_store;
use crate::store::{ImageStore, ListFilter};

/// Registers an image with the given layer tars (stored uncompressed) and tags.
fn make_image(store: &ImageStore, layers: &[Vec<u8>], tags: &[&str], diff_ids: Option<Vec<Digest>>) -> Digest {
    try_make_image(store, layers, tags, diff_ids).unwrap()
}

fn try_make_image(store: &ImageStore, layers: &[Vec<u8>], tags: &[&str], diff_ids: Option<Vec<Digest>>) -> crate::Result<Digest> {
    let mut descs = Vec::new();
    for l in layers {
        let d = store.content().write_bytes(l).unwrap();
        descs.push(json!({"mediaType": media_type::OCI_LAYER_TAR, "digest": d.to_string(), "size": l.len()}));
    }
    let diff_ids = diff_ids.unwrap_or_else(|| layers.iter().map(|l| Digest::sha256_of(l)).collect());
    let config = json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        "history": layers.iter().map(|_| json!({"created_by": "test"})).collect::<Vec<_>>(),
    });
    let config = serde_json::to_vec(&config).unwrap();
    let cd = store.content().write_bytes(&config).unwrap();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": media_type::OCI_CONFIG, "digest": cd.to_string(), "size": config.len()},
        "layers": descs,
    });
    let tags: Vec<_> = tags.iter().map(|t| crate::Reference::parse(t).unwrap()).collect();
    store.register_manifest(&serde_json::to_vec(&manifest).unwrap(), &tags)
}

fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(archive);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let p = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (p, data)
        })
        .collect()
}

fn rebuild(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        if p.contains("..") {
            // The builder refuses such names; hostile archives have them anyway.
            h.as_gnu_mut().unwrap().name[..p.len()].copy_from_slice(p.as_bytes());
            h.set_cksum();
            b.append(&h, &data[..]).unwrap();
        } else {
            b.append_data(&mut h, p, &data[..]).unwrap();
        }
    }
    b.into_inner().unwrap()
}

fn base_layer() -> Vec<u8> {
    tar_of(&[("bin/sh".into(), "shell".into())])
}

fn two_images(store: &ImageStore) -> (Digest, Digest) {
    let one = make_image(store, &[base_layer(), tar_of(&[("app".into(), "one".into())])], &["app:1"], None);
    let two = make_image(store, &[base_layer(), tar_of(&[("app".into(), "two".into())])], &["app:2", "localhost:5000/x/y:z"], None);
    (one, two)
}

/// No unpack is left half-done: layers stream into temp dirs while the archive is read.
fn assert_no_temp_dirs(store: &ImageStore) {
    let left: Vec<_> = std::fs::read_dir(store.layers().root()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().starts_with('.')).collect();
    assert!(left.is_empty(), "left in the layer store: {left:?}");
}

fn assert_empty(store: &ImageStore) {
    assert_no_temp_dirs(store);
    assert!(store.layers().list().unwrap().is_empty(), "no layer kept");
    assert!(store.list(&ListFilter::default()).unwrap().is_empty());
    assert!(store.content().list().unwrap().is_empty(), "blobs added by the failed load are gone");
    store.check(true).unwrap();
}

#[test]
fn save_and_load_round_trip_with_shared_layers() {
    let src_dir = tempfile::tempdir().unwrap();
    let src = open_store(src_dir.path());
    let (one, two) = two_images(&src);
    let mut archive = Vec::new();
    src.save(&["app".into(), "localhost:5000/x/y:z".into()], &mut archive).unwrap();

    let files = entries(&archive);
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let base = Digest::sha256_of(&base_layer());
    assert_eq!(names.iter().filter(|n| **n == format!("blobs/sha256/{}", base.hex())).count(), 1, "shared layer written once");
    for n in ["index.json", "manifest.json", "oci-layout", "repositories"] {
        assert!(names.contains(&n), "{n} missing: {names:?}");
    }
    let files: HashMap<String, Vec<u8>> = files.into_iter().collect();
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest.as_array().unwrap().len(), 2);
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", one.hex()));
    assert_eq!(manifest[0]["RepoTags"], json!(["app:1"]));
    assert_eq!(manifest[1]["RepoTags"], json!(["app:2", "localhost:5000/x/y:z"]));
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    assert_eq!(index["manifests"][0]["annotations"]["io.containerd.image.name"], "docker.io/library/app:1");
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "1");
    let repos: serde_json::Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert!(repos["app"]["2"].is_string());

    let dst_dir = tempfile::tempdir().unwrap();
    let dst = open_store(dst_dir.path());
    let report = dst.load(&archive[..]).unwrap();
    assert_eq!(report.images, vec![one.clone(), two.clone()]);
    assert_eq!(report.lines, vec!["Loaded image: app:1", "Loaded image: app:2", "Loaded image: localhost:5000/x/y:z"]);
    assert_eq!(dst.resolve("app:2").unwrap(), two);
    assert_eq!(dst.get(&one).unwrap().chain_ids, src.get(&one).unwrap().chain_ids);
    assert_eq!(dst.layers().list().unwrap().len(), 3, "base + two tops");
    assert_no_temp_dirs(&dst);
    dst.check(true).unwrap();
    // Loading it again: the layers are there already (the early unpacks are discarded).
    dst.load(&archive[..]).unwrap();
    assert_eq!(dst.layers().list().unwrap().len(), 3);
    assert_no_temp_dirs(&dst);

    // The same archive read as an OCI layout alone (older Docker's manifest.json absent).
    let oci_only: Vec<(String, Vec<u8>)> = entries(&archive).into_iter().filter(|(p, _)| p != "manifest.json").collect();
    let oci_dir = tempfile::tempdir().unwrap();
    let oci = open_store(oci_dir.path());
    let report = oci.load(&rebuild(&oci_only)[..]).unwrap();
    assert_eq!(report.images, vec![one.clone(), two.clone()]);
    assert_eq!(oci.get(&two).unwrap().repo_tags, vec!["app:2", "localhost:5000/x/y:z"]);
    oci.check(true).unwrap();

    // Saving by id records no tag; loading it reports the id.
    let mut by_id = Vec::new();
    src.save(&[one.hex()[..12].to_string()], &mut by_id).unwrap();
    let id_dir = tempfile::tempdir().unwrap();
    let report = open_store(id_dir.path()).load(&by_id[..]).unwrap();
    assert_eq!(report.lines, vec![format!("Loaded image ID: {one}")]);
}

#[test]
fn legacy_docker_archives_with_layer_paths_and_symlinks_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let layer = base_layer();
    let config = json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&layer).to_string(), Digest::sha256_of(&layer).to_string()]}});
    let config = serde_json::to_vec(&config).unwrap();
    let manifest = json!([{"Config": "abc.json", "RepoTags": ["old:1"], "Layers": ["l1/layer.tar", "l2/layer.tar"]}]);
    let mut b = tar::Builder::new(Vec::new());
    let put = |b: &mut tar::Builder<Vec<u8>>, p: &str, d: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, p, d).unwrap();
    };
    put(&mut b, "l1/layer.tar", &layer);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "l2/layer.tar", "../l1/layer.tar").unwrap();
    put(&mut b, "abc.json", &config);
    put(&mut b, "manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let archive = b.into_inner().unwrap();
    let report = store.load(&archive[..]).unwrap();
    assert_eq!(report.lines, vec!["Loaded image: old:1"]);
    assert_eq!(store.get(&report.images[0]).unwrap().chain_ids.len(), 2);
    store.check(true).unwrap();
}

#[test]
fn bad_archives_are_refused_and_leave_nothing() {
    let src_dir = tempfile::tempdir().unwrap();
    let src = open_store(src_dir.path());
    let (_, two) = two_images(&src);
    let mut archive = Vec::new();
    src.save(&["app:2".into()], &mut archive).unwrap();
    let good = entries(&archive);
    let top_layer = Digest::sha256_of(&tar_of(&[("app".into(), "two".into())]));

    let try_load = |files: Vec<(String, Vec<u8>)>| -> Error {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path());
        let e = store.load(&rebuild(&files)[..]).unwrap_err();
        assert_empty(&store);
        e
    };

    // A blob whose bytes do not match its name.
    let tampered: Vec<_> = good
        .iter()
        .map(|(p, d)| if p.ends_with(top_layer.hex()) { (p.clone(), tar_of(&[("app".into(), "evil".into())])) } else { (p.clone(), d.clone()) })
        .collect();
    let e = try_load(tampered);
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    assert!(e.to_string().contains(top_layer.hex()), "{e}");

    // A manifest naming a missing blob.
    let missing: Vec<_> = good.iter().filter(|(p, _)| !p.ends_with(top_layer.hex())).cloned().collect();
    let e = try_load(missing);
    assert!(e.to_string().contains("not in the archive"), "{e}");

    // Same, OCI layout only.
    let missing_oci: Vec<_> = good.iter().filter(|(p, _)| !p.ends_with(top_layer.hex()) && p != "manifest.json").cloned().collect();
    let e = try_load(missing_oci);
    assert!(e.to_string().contains("not in the archive") && e.to_string().contains("app:2"), "{e}");

    // Malformed and huge JSON.
    let mut broken = good.clone();
    broken.iter_mut().find(|(p, _)| p == "manifest.json").unwrap().1 = b"[{\"Config\": ".to_vec();
    assert!(matches!(try_load(broken), Error::InvalidJson { .. }));
    let mut nested = good.clone();
    nested.iter_mut().find(|(p, _)| p == "manifest.json").unwrap().1 = "[".repeat(50_000).into_bytes();
    assert!(matches!(try_load(nested), Error::InvalidJson { .. }));

    // Unsafe entry names.
    let mut escape = good.clone();
    escape.push(("../../etc/evil.json".into(), b"{}".to_vec()));
    let e = try_load(escape);
    assert!(matches!(e, Error::InvalidArchive(_)), "{e}");

    // No metadata at all.
    let e = try_load(good.iter().filter(|(p, _)| p.starts_with("blobs/")).cloned().collect());
    assert!(e.to_string().contains("neither manifest.json nor index.json"), "{e}");

    // A truncated archive.
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    assert!(store.load(&archive[..archive.len() / 2]).is_err());
    assert_empty(&store);

    // A config whose diff ids do not match the layers.
    let wrong_dir = tempfile::tempdir().unwrap();
    let wrong_src = open_store(wrong_dir.path());
    let e = try_make_image(&wrong_src, &[base_layer()], &["wrong:1"], Some(vec![Digest::sha256_of(b"not the layer")])).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    assert!(wrong_src.list(&ListFilter::default()).unwrap().is_empty());
    assert!(wrong_src.layers().list().unwrap().is_empty());
    wrong_src.check(true).unwrap();
    assert!(src.exists(&two).unwrap());
}
