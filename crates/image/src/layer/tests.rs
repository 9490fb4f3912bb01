//! Layer unpack tests, including hand-built hostile archives.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;
use crate::digest::Digest;

/// Builds tar archives entry by entry, writing names verbatim into the header so tests
/// can produce what a well-behaved builder refuses to (`../x`, `/abs`).
pub(crate) struct TarMaker {
    out: Vec<u8>,
}

impl TarMaker {
    pub(crate) fn new() -> Self {
        TarMaker { out: Vec::new() }
    }

    fn header(name: &[u8], kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name);
        }
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h
    }

    fn push(&mut self, mut h: tar::Header, data: &[u8]) {
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    pub(crate) fn file(mut self, name: &str, data: &[u8]) -> Self {
        let h = Self::header(name.as_bytes(), tar::EntryType::Regular, data.len() as u64, 0o644);
        self.push(h, data);
        self
    }

    pub(crate) fn file_owned(mut self, name: &str, data: &[u8], mode: u32, uid: u64, gid: u64, mtime: u64) -> Self {
        let mut h = Self::header(name.as_bytes(), tar::EntryType::Regular, data.len() as u64, mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        self.push(h, data);
        self
    }

    pub(crate) fn dir(mut self, name: &str, mode: u32) -> Self {
        let h = Self::header(name.as_bytes(), tar::EntryType::Directory, 0, mode);
        self.push(h, b"");
        self
    }

    pub(crate) fn symlink(mut self, name: &str, target: &str) -> Self {
        let mut h = Self::header(name.as_bytes(), tar::EntryType::Symlink, 0, 0o777);
        h.as_gnu_mut().unwrap().linkname[..target.len()].copy_from_slice(target.as_bytes());
        self.push(h, b"");
        self
    }

    pub(crate) fn hardlink(mut self, name: &str, target: &str) -> Self {
        let mut h = Self::header(name.as_bytes(), tar::EntryType::Link, 0, 0o644);
        h.as_gnu_mut().unwrap().linkname[..target.len()].copy_from_slice(target.as_bytes());
        self.push(h, b"");
        self
    }

    pub(crate) fn node(mut self, name: &str, kind: tar::EntryType, major: u32, minor: u32) -> Self {
        let mut h = Self::header(name.as_bytes(), kind, 0, 0o640);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.push(h, b"");
        self
    }

    /// A file preceded by a PAX header carrying an xattr.
    pub(crate) fn file_with_xattr(mut self, name: &str, data: &[u8], key: &str, value: &str) -> Self {
        let record = format!("SCHILY.xattr.{key}={value}\n");
        // PAX records are "<len> <record>" where len counts itself.
        let mut len = record.len() + 3;
        if format!("{len} {record}").len() != len {
            len += 1;
        }
        let pax = format!("{len} {record}");
        let h = Self::header(b"././@PaxHeader", tar::EntryType::XHeader, pax.len() as u64, 0o644);
        self.push(h, pax.as_bytes());
        self.file(name, data)
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.extend(std::iter::repeat_n(0u8, 1024));
        self.out
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn unpack_to(dir: &Path, tar: &[u8]) -> Result<unpack::Unpacked> {
    fs::create_dir_all(dir).unwrap();
    unpack::unpack(dir, tar, None, "test")
}

fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn unpacks_every_kind_with_metadata_and_computes_diff_id() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = TarMaker::new()
        .dir("etc/", 0o755)
        .file_owned("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o4755, 1000, 2000, 1_500_000_000)
        .symlink("etc/link", "passwd")
        .hardlink("etc/hard", "etc/passwd")
        .node("dev/null", tar::EntryType::Char, 1, 3)
        .node("dev/loop0", tar::EntryType::Block, 7, 0)
        .node("run/fifo", tar::EntryType::Fifo, 0, 0)
        .file_with_xattr("bin/cap", b"x", "user.berth", "yes")
        .dir("empty/", 0o1777)
        .finish();
    let root = tmp.path().join("root");
    let u = unpack_to(&root, &tar).unwrap();
    assert_eq!(u.diff_id, Digest::sha256_of(&tar));
    assert_eq!(u.tar_size, tar.len() as u64);

    let passwd = fs::symlink_metadata(root.join("etc/passwd")).unwrap();
    assert_eq!(passwd.mode() & 0o7777, 0o4755, "setuid survives chown");
    assert_eq!((passwd.uid(), passwd.gid()), (1000, 2000));
    assert_eq!(passwd.mtime(), 1_500_000_000);
    assert_eq!(passwd.nlink(), 2);
    assert_eq!(fs::symlink_metadata(root.join("etc/hard")).unwrap().ino(), passwd.ino());
    assert_eq!(fs::read_link(root.join("etc/link")).unwrap(), Path::new("passwd"));
    let null = fs::symlink_metadata(root.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o640);
    assert!(fs::symlink_metadata(root.join("dev/loop0")).unwrap().file_type().is_block_device());
    assert!(fs::symlink_metadata(root.join("run/fifo")).unwrap().file_type().is_fifo());
    assert_eq!(lgetxattr(&root.join("bin/cap"), "user.berth").unwrap().as_deref(), Some(&b"yes"[..]));
    let empty = fs::metadata(root.join("empty")).unwrap();
    assert_eq!(empty.permissions().mode() & 0o7777, 0o1777);
    assert_eq!(empty.mtime(), 1_600_000_000, "directory times are set after their contents");
    assert_eq!(fs::metadata(root.join("etc")).unwrap().mtime(), 1_600_000_000);
}

#[test]
fn gzip_zstd_and_plain_give_the_same_diff_id() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = TarMaker::new().file("a", b"hello").finish();
    let plain = unpack_to(&tmp.path().join("p"), &tar).unwrap();
    let gz = unpack_to(&tmp.path().join("g"), &gzip(&tar)).unwrap();
    let zst = unpack_to(&tmp.path().join("z"), &zstd::encode_all(&tar[..], 1).unwrap()).unwrap();
    assert_eq!(plain.diff_id, gz.diff_id);
    assert_eq!(plain.diff_id, zst.diff_id);
    assert_eq!(fs::read(tmp.path().join("z/a")).unwrap(), b"hello");
}

#[test]
fn whiteouts_become_overlay_whiteouts_and_opaque_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = TarMaker::new()
        .dir("etc/", 0o755)
        .file("etc/.wh.shadow", b"")
        .dir("var/cache/", 0o755)
        .file("var/cache/.wh..wh..opq", b"")
        .file("var/cache/new", b"n")
        .file(".wh..wh.plnk", b"")
        .finish();
    let root = tmp.path().join("root");
    unpack_to(&root, &tar).unwrap();
    let wh = fs::symlink_metadata(root.join("etc/shadow")).unwrap();
    assert!(crate::whiteout::is_overlay_whiteout(&wh));
    assert!(!root.join("etc/.wh.shadow").exists());
    assert_eq!(lgetxattr(&root.join("var/cache"), "trusted.overlay.opaque").unwrap().as_deref(), Some(&b"y"[..]));
    assert!(root.join("var/cache/new").exists());
    assert!(!root.join(".wh..wh.plnk").exists());
}

/// A sandbox: `root` is unpacked into, `outside` must stay untouched.
fn sandbox() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("a/b/root");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("victim"), b"original").unwrap();
    (tmp, root, outside)
}

fn assert_untouched(tmp: &Path, outside: &Path) {
    assert_eq!(tree(outside), vec!["victim".to_string()]);
    assert_eq!(fs::read(outside.join("victim")).unwrap(), b"original");
    assert_eq!(fs::metadata(outside.join("victim")).unwrap().nlink(), 1);
    // Nothing appeared next to the root or above it either.
    assert_eq!(tree(&tmp.join("a")), vec!["b".to_string(), "b/root".to_string()].into_iter().chain(tree(&tmp.join("a/b/root")).into_iter().map(|p| format!("b/root/{p}"))).collect::<Vec<_>>());
    assert_eq!(tree(tmp).iter().filter(|p| !p.starts_with("a") && !p.starts_with("outside")).count(), 0);
}

#[test]
fn dot_dot_entries_are_rejected() {
    let (tmp, root, outside) = sandbox();
    for name in ["../escape", "../../../outside/victim", "x/../../escape", "./../escape"] {
        let tar = TarMaker::new().file(name, b"pwned").finish();
        let e = unpack::unpack(&root, &tar[..], None, "hostile").unwrap_err();
        assert!(matches!(e, Error::UnsafePath { .. }), "{name}: {e}");
        assert!(e.to_string().contains("hostile"), "{e}");
    }
    assert_untouched(tmp.path(), &outside);
    // `a/../b` stays inside and is fine.
    let tar = TarMaker::new().file("x/../inside", b"ok").finish();
    unpack::unpack(&root, &tar[..], None, "fine").unwrap();
    assert_eq!(fs::read(root.join("inside")).unwrap(), b"ok");
}

#[test]
fn absolute_names_land_inside_the_root() {
    let (tmp, root, outside) = sandbox();
    let abs = outside.join("victim");
    let tar = TarMaker::new().file(abs.to_str().unwrap(), b"pwned").file("/etc/abs", b"e").finish();
    unpack::unpack(&root, &tar[..], None, "abs").unwrap();
    assert_eq!(fs::read(root.join(abs.strip_prefix("/").unwrap())).unwrap(), b"pwned");
    assert_eq!(fs::read(root.join("etc/abs")).unwrap(), b"e");
    assert_untouched(tmp.path(), &outside);
}

#[test]
fn writing_through_a_planted_symlink_stays_inside() {
    let (tmp, root, outside) = sandbox();
    // A dangling (inside the root) absolute link: the write is refused.
    let tar = TarMaker::new().symlink("evil", outside.to_str().unwrap()).file("evil/victim", b"pwned").finish();
    let e = unpack::unpack(&root, &tar[..], None, "abs-link").unwrap_err();
    assert!(e.to_string().contains("evil"), "{e}");
    assert_untouched(tmp.path(), &outside);
    // Links that climb: resolved with the root as "/", so they land inside.
    let tar = TarMaker::new()
        .symlink("up", "../../../..")
        .file("up/outside/victim", b"pwned")
        .symlink("rel", "../../../outside")
        .dir("rel/newdir/", 0o755)
        .file("rel/newdir/f", b"pwned")
        .finish();
    unpack::unpack(&root, &tar[..], None, "climbing-links").unwrap();
    assert_untouched(tmp.path(), &outside);
    assert_eq!(fs::read(root.join("outside/victim")).unwrap(), b"pwned");
    assert_eq!(fs::read(root.join("outside/newdir/f")).unwrap(), b"pwned");
    // Once the absolute link's target exists inside the root, writes go there.
    let inner = root.join(outside.strip_prefix("/").unwrap());
    fs::create_dir_all(&inner).unwrap();
    let tar = TarMaker::new().symlink("evil2", outside.to_str().unwrap()).file("evil2/victim", b"pwned").finish();
    unpack::unpack(&root, &tar[..], None, "abs-link").unwrap();
    assert_eq!(fs::read(inner.join("victim")).unwrap(), b"pwned");
    assert_untouched(tmp.path(), &outside);
}

#[test]
fn a_file_replaces_a_planted_symlink_instead_of_following_it() {
    let (tmp, root, outside) = sandbox();
    let tar = TarMaker::new()
        .symlink("target", outside.join("victim").to_str().unwrap())
        .file("target", b"pwned")
        .symlink("d", outside.to_str().unwrap())
        .dir("d/", 0o755)
        .finish();
    unpack::unpack(&root, &tar[..], None, "replace").unwrap();
    assert_untouched(tmp.path(), &outside);
    assert!(fs::symlink_metadata(root.join("target")).unwrap().is_file());
    assert!(fs::symlink_metadata(root.join("d")).unwrap().is_dir());
}

#[test]
fn hard_links_out_of_the_root_are_refused() {
    let (tmp, root, outside) = sandbox();
    let tar = TarMaker::new().hardlink("hl", "../../../outside/victim").finish();
    let e = unpack::unpack(&root, &tar[..], None, "hl").unwrap_err();
    assert!(matches!(e, Error::UnsafePath { .. }), "{e}");
    // Through a symlink: resolved in the root, where there is no such file.
    let tar = TarMaker::new()
        .symlink("s", outside.to_str().unwrap())
        .hardlink("hl2", &format!("s/victim"))
        .finish();
    assert!(unpack::unpack(&root, &tar[..], None, "hl").is_err());
    // Absolute target: also taken inside the root.
    let tar = TarMaker::new().hardlink("hl3", outside.join("victim").to_str().unwrap()).finish();
    assert!(unpack::unpack(&root, &tar[..], None, "hl").is_err());
    // A hard link to a symlink links the symlink, not what it points to.
    let tar = TarMaker::new().symlink("s2", outside.join("victim").to_str().unwrap()).hardlink("hl4", "s2").finish();
    unpack::unpack(&root, &tar[..], None, "hl").unwrap();
    assert!(fs::symlink_metadata(root.join("hl4")).unwrap().file_type().is_symlink());
    assert_untouched(tmp.path(), &outside);
}

#[test]
fn whiteout_names_cannot_escape() {
    let (tmp, root, outside) = sandbox();
    let tar = TarMaker::new().file(".wh..", b"").finish();
    assert!(unpack::unpack(&root, &tar[..], None, "wh").is_err());
    let tar = TarMaker::new().dir("outside/", 0o755).symlink("s", "../../../outside").file("s/.wh.victim", b"").finish();
    unpack::unpack(&root, &tar[..], None, "wh").unwrap();
    assert!(crate::whiteout::is_overlay_whiteout(&fs::symlink_metadata(root.join("outside/victim")).unwrap()));
    assert_untouched(tmp.path(), &outside);
}

#[test]
fn corrupt_and_truncated_streams_fail_and_the_store_keeps_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LayerStore::open(tmp.path().join("layers")).unwrap();
    let tar = TarMaker::new().file("big", &vec![b'x'; 5000]).finish();

    let truncated = &tar[..2048];
    let e = store.unpack(None, None, truncated, None, "sha256:trunc").unwrap_err();
    assert!(e.to_string().contains("sha256:trunc") && e.to_string().contains("truncated"), "{e}");

    let mut gz = gzip(&tar);
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    gz[mid + 1] ^= 0xff;
    assert!(store.unpack(None, None, &gz[..], None, "corrupt-gzip").is_err());
    let gz = gzip(&tar);
    assert!(store.unpack(None, None, &gz[..gz.len() - 4], Some(Compression::Gzip), "short-gzip").is_err());
    assert!(store.unpack(None, None, &b"not a tar at all, just text"[..], None, "junk").is_err());
    assert!(store.unpack(None, None, &b""[..], None, "empty").is_err());
    let zst = zstd::encode_all(&tar[..], 1).unwrap();
    assert!(store.unpack(None, None, &zst[..zst.len() / 2], None, "short-zstd").is_err());

    let wrong = Digest::sha256_of(b"other");
    let e = store.unpack(None, Some(&wrong), &tar[..], None, "mismatch").unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");

    assert_eq!(tree(&tmp.path().join("layers")), vec!["l".to_string()], "no temp dirs or layers left");
}

struct MustNotRead;
impl Read for MustNotRead {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        panic!("an already unpacked layer was read again")
    }
}

#[test]
fn layers_are_unpacked_once_per_chain_and_chain_ids_follow_the_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LayerStore::open(tmp.path().join("layers")).unwrap();
    let base_tar = TarMaker::new().file("base", b"1").finish();
    let top_tar = TarMaker::new().file("top", b"2").finish();
    let base = store.unpack(None, None, &base_tar[..], None, "base").unwrap();
    assert_eq!(base.chain_id, Digest::sha256_of(&base_tar));
    let top = store.unpack(Some(&base.chain_id), None, &top_tar[..], None, "top").unwrap();
    let want = Digest::sha256_of(format!("{} {}", base.chain_id, Digest::sha256_of(&top_tar)).as_bytes());
    assert_eq!(top.chain_id, want);
    assert_eq!(chain_ids(&[base.diff_id.clone(), top.diff_id.clone()]), vec![base.chain_id.clone(), top.chain_id.clone()]);
    assert_eq!(store.get(&top.chain_id).unwrap(), top);

    let again = store.unpack(Some(&base.chain_id), Some(&top.diff_id), MustNotRead, None, "top").unwrap();
    assert_eq!(again, top);
    let mut listed = store.list().unwrap();
    listed.sort();
    let mut want = vec![base.chain_id.clone(), top.chain_id.clone()];
    want.sort();
    assert_eq!(listed, want);

    let orphan_parent = Digest::sha256_of(b"nope");
    assert!(store.unpack(Some(&orphan_parent), None, &top_tar[..], None, "x").is_err());

    let link = store.short_link(&top.chain_id).unwrap();
    assert_eq!(store.short_link(&top.chain_id).unwrap(), link, "stable");
    assert_eq!(fs::read(store.root().join(&link).join("top")).unwrap(), b"2");
    assert!(store.remove(&top.chain_id).unwrap());
    assert!(!store.has(&top.chain_id));
    assert!(fs::symlink_metadata(store.root().join(&link)).is_err(), "short link removed too");
    store.remove_stale().unwrap();
    assert!(store.has(&base.chain_id));
}
