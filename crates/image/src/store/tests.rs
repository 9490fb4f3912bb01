//! Image store tests: import, names, removal rules, consistency after failures.

use std::collections::HashSet;
use std::io::Write;

use super::*;
use crate::layer::tests_support::tar_of;

pub(crate) fn open_store(dir: &Path) -> ImageStore {
    ImageStore::open(dir, &dir.join("berth.db")).unwrap()
}

pub(crate) fn rootfs(marker: &str) -> Vec<u8> {
    tar_of(&[("bin/sh".into(), "#!fake shell".into()), ("etc/marker".into(), marker.into())])
}

pub(crate) fn import(store: &ImageStore, marker: &str, tag: Option<&str>) -> Digest {
    let opts = ImportOptions { tag: tag.map(str::to_owned), ..Default::default() };
    store.import(&rootfs(marker)[..], &opts).unwrap()
}

fn nobody(_: &Digest) -> Option<ContainerUse> {
    None
}

fn lines(r: &[DeleteRecord]) -> Vec<String> {
    r.iter().map(|r| r.to_string()).collect()
}

#[test]
fn import_applies_changes_and_names_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let opts = ImportOptions {
        changes: vec!["CMD [\"/bin/sh\"]".into(), "ENV PATH=/bin".into(), "WORKDIR /srv".into(), "EXPOSE 80".into(), "LABEL a=b".into(), "USER nobody".into()],
        message: Some("from a test".into()),
        platform: Some(crate::platform::Platform::parse("linux/arm64").unwrap()),
        tag: Some("localhost:5000/team/app:1.2".into()),
    };
    let id = store.import(&rootfs("one")[..], &opts).unwrap();
    let rec = store.get(&id).unwrap();
    assert_eq!(rec.id, Digest::sha256_of(&rec.config_bytes), "image id is the config digest");
    assert_eq!(rec.repo_tags, vec!["localhost:5000/team/app:1.2"]);
    let c = rec.config.config().clone().unwrap();
    assert_eq!(c.cmd().clone().unwrap(), vec!["/bin/sh"]);
    assert_eq!(c.env().clone().unwrap(), vec!["PATH=/bin"]);
    assert_eq!(c.working_dir().clone().unwrap(), "/srv");
    assert_eq!(c.user().clone().unwrap(), "nobody");
    assert_eq!(rec.config.architecture().to_string(), "arm64");
    assert_eq!(rec.diff_ids, vec![Digest::sha256_of(&rootfs("one"))]);
    assert_eq!(rec.chain_ids, rec.diff_ids);
    assert!(store.layers().has(&rec.chain_ids[0]));
    assert_eq!(std::fs::read_to_string(store.layers().diff_dir(&rec.chain_ids[0]).join("etc/marker")).unwrap(), "one");

    for name in ["localhost:5000/team/app:1.2", &id.to_string(), &id.hex()[..12], &format!("sha256:{}", &id.hex()[..8])] {
        assert_eq!(store.resolve(name).unwrap(), id, "{name}");
    }
    assert!(matches!(store.resolve("localhost:5000/team/app"), Err(Error::ImageNotFound(_))), "no :latest tag");
    assert_eq!(store.resolve("nothing").unwrap_err().to_string(), "No such image: nothing");

    let h = store.history(&id.to_string()).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id, id.to_string());
    assert_eq!(h[0].comment, "from a test");
    assert_eq!(h[0].size, rootfs("one").len() as u64);
    store.check(true).unwrap();
}

#[test]
fn compressed_imports_keep_their_blob_and_share_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&rootfs("same")).unwrap();
    let gz = gz.finish().unwrap();
    let a = store.import(&gz[..], &ImportOptions { tag: Some("a".into()), ..Default::default() }).unwrap();
    let b = import(&store, "same", Some("b"));
    let (ra, rb) = (store.get(&a).unwrap(), store.get(&b).unwrap());
    assert_eq!(ra.chain_ids, rb.chain_ids, "same rootfs, one unpacked layer");
    assert_eq!(store.layers().list().unwrap().len(), 1);
    assert!(store.content().has(&Digest::sha256_of(&gz)), "gzip blob kept as is");
    store.check(true).unwrap();
}

#[test]
fn tags_move_and_rmi_untags_before_deleting() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let id = import(&store, "x", Some("busybox"));
    store.tag("busybox", "mine:1").unwrap();
    assert!(store.tag("busybox", "x@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").is_err());
    assert_eq!(store.get(&id).unwrap().repo_tags, vec!["busybox:latest", "mine:1"]);

    let r = store.remove("busybox", false, &nobody).unwrap();
    assert_eq!(lines(&r), vec!["Untagged: busybox:latest"]);
    assert!(store.exists(&id).unwrap());

    let chain = store.get(&id).unwrap().chain_ids;
    let r = store.remove("mine:1", false, &nobody).unwrap();
    assert_eq!(lines(&r), vec!["Untagged: mine:1".to_string(), format!("Deleted: {id}"), format!("Deleted: {}", chain[0])]);
    assert!(!store.exists(&id).unwrap());
    assert!(!store.layers().has(&chain[0]));
    assert!(store.content().list().unwrap().is_empty(), "config, manifest and layer blob released");
    store.check(true).unwrap();

    // A moved tag leaves the old image dangling.
    let one = import(&store, "1", Some("app"));
    let two = import(&store, "2", Some("app"));
    assert_ne!(one, two);
    let dangling = store.list(&ListFilter { dangling: Some(true), ..Default::default() }).unwrap();
    assert_eq!(dangling.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), vec![one.clone()]);
    let tagged = store.list(&ListFilter { dangling: Some(false), ..Default::default() }).unwrap();
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0].repo_tags, vec!["app:latest"]);
    assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 2);
    let r = store.remove(&one.hex()[..12], false, &nobody).unwrap();
    assert_eq!(r[0], DeleteRecord::Deleted(one.to_string()));
}

#[test]
fn conflicts_follow_docker_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let id = import(&store, "x", Some("busybox"));
    store.tag("busybox", "other/repo:1").unwrap();
    let e = store.remove(&id.hex()[..12], false, &nobody).unwrap_err();
    assert!(e.to_string().contains("(must be forced) - image is referenced in multiple repositories"), "{e}");
    store.untag("other/repo:1").unwrap();

    let stopped = |_: &Digest| Some(ContainerUse { container_id: "c0ffee1234567890".into(), running: false });
    let running = |_: &Digest| Some(ContainerUse { container_id: "c0ffee1234567890".into(), running: true });
    let e = store.remove("busybox", false, &stopped).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to remove repository reference \"busybox\" (must force) - container c0ffee123456 is using its referenced image {}", id.short())
    );
    let e = store.remove(&id.to_string(), true, &running).unwrap_err();
    assert!(e.to_string().contains("(cannot be forced) - image is being used by running container c0ffee123456"), "{e}");
    let e = store.remove(&id.to_string(), false, &stopped).unwrap_err();
    assert!(e.to_string().contains("(must be forced) - image is being used by stopped container"), "{e}");
    assert_eq!(store.get(&id).unwrap().repo_tags, vec!["busybox:latest"], "refusals change nothing");

    let chain = store.get(&id).unwrap().chain_ids;
    let r = store.remove("busybox", true, &stopped).unwrap();
    assert_eq!(lines(&r), vec!["Untagged: busybox:latest".to_string(), format!("Deleted: {id}")]);
    assert!(store.layers().has(&chain[0]), "the container's layers stay");
    let (_, layers) = store.gc(&chain.iter().cloned().collect()).unwrap();
    assert!(layers.is_empty());
    let (_, layers) = store.gc(&HashSet::new()).unwrap();
    assert_eq!(layers, chain);
    store.check(false).unwrap();
}

#[test]
fn failed_imports_leave_the_store_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let keep = import(&store, "keep", Some("keep"));
    let blobs_before = store.content().list().unwrap();
    let layers_before = store.layers().list().unwrap();

    let bad_change = ImportOptions { changes: vec!["RUN rm -rf /".into()], tag: Some("bad".into()), ..Default::default() };
    assert!(matches!(store.import(&rootfs("b")[..], &bad_change), Err(Error::InvalidChange { .. })));
    let bad_tag = ImportOptions { tag: Some("Bad:tag".into()), ..Default::default() };
    assert!(matches!(store.import(&rootfs("b")[..], &bad_tag), Err(Error::InvalidReference(_))));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&rootfs("corrupt")).unwrap();
    let mut gz = gz.finish().unwrap();
    let n = gz.len();
    gz[n / 2] ^= 0x55;
    gz[n / 2 + 1] ^= 0x55;
    let e = store.import(&gz[..], &ImportOptions { tag: Some("corrupt".into()), ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("imported layer"), "{e}");
    let truncated = &rootfs("t")[..700];
    assert!(store.import(truncated, &ImportOptions { tag: Some("trunc".into()), ..Default::default() }).is_err());

    assert!(matches!(store.resolve("corrupt"), Err(Error::ImageNotFound(_))));
    assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 1);
    assert_eq!(store.layers().list().unwrap(), layers_before);
    store.check(true).unwrap();
    // Only unreferenced, content-addressed blobs may remain; gc takes them.
    store.gc(&HashSet::new()).unwrap();
    assert_eq!(store.content().list().unwrap(), blobs_before);
    assert!(store.exists(&keep).unwrap());
}

#[test]
fn check_reports_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_store(tmp.path());
    let id = import(&store, "x", Some("busybox"));
    let rec = store.get(&id).unwrap();
    store.check(true).unwrap();
    std::fs::write(store.content().blob_path(&rec.manifest_digest), b"garbage").unwrap();
    store.layers().remove(&rec.chain_ids[0]).unwrap();
    let Err(Error::Inconsistent(problems)) = store.check(true) else { panic!("damage not found") };
    assert!(problems.iter().any(|p| p.contains("does not match its digest")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("not unpacked")), "{problems:?}");
}

#[test]
fn the_database_survives_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let id = {
        let store = open_store(tmp.path());
        import(&store, "persist", Some("persist:1"))
    };
    let store = open_store(tmp.path());
    assert_eq!(store.resolve("persist:1").unwrap(), id);
    let mode: String = store.db().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}
