use super::*;
use std::fs;
use std::os::unix::fs::symlink;

struct Fixture {
    ctx: tempfile::TempDir,
    dst: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    fs::create_dir_all(c.join("app/sub")).unwrap();
    fs::write(c.join("app/main.go"), "package main").unwrap();
    fs::write(c.join("app/sub/util.go"), "package sub").unwrap();
    fs::write(c.join("app/README.md"), "readme").unwrap();
    fs::write(c.join("a.txt"), "A").unwrap();
    fs::write(c.join("b.txt"), "B").unwrap();
    fs::write(c.join("run.sh"), "#!/bin/sh").unwrap();
    fs::set_permissions(c.join("run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    symlink("app", c.join("applink")).unwrap();
    symlink("/etc", c.join("abs-out")).unwrap();
    symlink("../../outside", c.join("app/rel-out")).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let d = dst.path();
    fs::create_dir_all(d.join("etc")).unwrap();
    fs::write(d.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n").unwrap();
    fs::write(d.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
    Fixture { ctx, dst }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn run<'a>(f: &'a Fixture, sources: &[&str], dest: &'a str, tweak: impl FnOnce(&mut CopyRequest<'a>)) -> Result<CopyReport, CopyError> {
    // Leaked so the request can borrow it for 'a; tests are short-lived.
    let sources: &'a [String] = Box::leak(strings(sources).into_boxed_slice());
    let mut req = CopyRequest::new(f.ctx.path(), sources, dest, f.dst.path());
    tweak(&mut req);
    copy_into(&req)
}

fn read(f: &Fixture, p: &str) -> String {
    fs::read_to_string(f.dst.path().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn meta(f: &Fixture, p: &str) -> fs::Metadata {
    fs::symlink_metadata(f.dst.path().join(p)).unwrap()
}

#[test]
fn file_to_file_and_to_directory() {
    let f = fixture();
    run(&f, &["a.txt"], "/x/renamed", |_| {}).unwrap();
    assert_eq!(read(&f, "x/renamed"), "A");
    run(&f, &["a.txt"], "/y/", |_| {}).unwrap();
    assert_eq!(read(&f, "y/a.txt"), "A");
    // An existing directory is a directory destination even without `/`.
    run(&f, &["b.txt"], "/etc", |_| {}).unwrap();
    assert_eq!(read(&f, "etc/b.txt"), "B");
}

#[test]
fn directory_copies_its_contents() {
    let f = fixture();
    run(&f, &["app"], "/src", |_| {}).unwrap();
    assert_eq!(read(&f, "src/main.go"), "package main");
    assert_eq!(read(&f, "src/sub/util.go"), "package sub");
    assert!(!f.dst.path().join("src/app").exists());
    // Symlinks inside a copied directory stay symlinks.
    assert!(meta(&f, "src/rel-out").file_type().is_symlink());
}

#[test]
fn relative_dest_uses_workdir() {
    let f = fixture();
    run(&f, &["a.txt"], "data/", |r| r.workdir = "/srv").unwrap();
    assert_eq!(read(&f, "srv/data/a.txt"), "A");
    run(&f, &["b.txt"], ".", |r| r.workdir = "/srv").unwrap();
    assert_eq!(read(&f, "srv/b.txt"), "B");
}

#[test]
fn several_sources_need_a_directory() {
    let f = fixture();
    let e = run(&f, &["a.txt", "b.txt"], "/new", |_| {}).unwrap_err();
    assert!(matches!(e, CopyError::MultipleSourcesNeedDirectory));
    assert_eq!(
        e.to_string(),
        "When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    run(&f, &["a.txt", "b.txt"], "/new/", |_| {}).unwrap();
    assert_eq!(read(&f, "new/b.txt"), "B");
    let e = run(&f, &["*.txt"], "/one", |_| {}).unwrap_err();
    assert!(matches!(e, CopyError::MultipleSourcesNeedDirectory));
}

#[test]
fn wildcards() {
    let f = fixture();
    run(&f, &["*.txt", "app/*.go"], "/w/", |_| {}).unwrap();
    assert_eq!(read(&f, "w/a.txt"), "A");
    assert_eq!(read(&f, "w/main.go"), "package main");
    assert!(!f.dst.path().join("w/run.sh").exists());
    run(&f, &["[ab].tx?"], "/v/", |_| {}).unwrap();
    assert_eq!(read(&f, "v/b.txt"), "B");
}

#[test]
fn wildcard_matching_nothing() {
    let f = fixture();
    let e = run(&f, &["*.nothing"], "/d/", |_| {}).unwrap_err();
    assert_eq!(e.to_string(), "no source files were specified: \"*.nothing\" matched nothing");
    run(&f, &["*.nothing"], "/d/", |r| r.allow_empty_wildcard = true).unwrap();
}

#[test]
fn missing_source() {
    let f = fixture();
    let e = run(&f, &["nope"], "/d/", |_| {}).unwrap_err();
    assert_eq!(e.to_string(), "failed to compute cache key: \"/nope\": not found");
}

#[test]
fn sources_cannot_leave_the_context() {
    let f = fixture();
    for src in ["../x", "app/../../x", "abs-out", "app/rel-out", "abs-out/passwd"] {
        let e = run(&f, &[src], "/d/", |_| {}).unwrap_err();
        assert!(matches!(e, CopyError::OutsideContext(_)), "{src}: {e}");
        assert!(e.to_string().starts_with("forbidden path outside the build context"));
    }
    // A symlink that stays inside is followed.
    run(&f, &["applink/main.go"], "/ok/", |_| {}).unwrap();
    assert_eq!(read(&f, "ok/main.go"), "package main");
}

#[test]
fn rootfs_sources_resolve_absolute_links_inside() {
    let f = fixture();
    let stage = tempfile::tempdir().unwrap();
    fs::create_dir_all(stage.path().join("usr/bin")).unwrap();
    fs::write(stage.path().join("usr/bin/tool"), "bin").unwrap();
    symlink("/usr/bin", stage.path().join("bin")).unwrap();
    let sources = strings(&["/bin/tool"]);
    let mut req = CopyRequest::new(stage.path(), &sources, "/opt/", f.dst.path());
    req.source_kind = SourceKind::Rootfs;
    copy_into(&req).unwrap();
    assert_eq!(read(&f, "opt/tool"), "bin");
}

#[test]
fn ownership_and_modes() {
    let f = fixture();
    run(&f, &["run.sh"], "/a/", |_| {}).unwrap();
    let m = meta(&f, "a/run.sh");
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 0, 0o750));
    run(&f, &["run.sh"], "/b/", |r| r.chown = Some("app:staff")).unwrap();
    let m = meta(&f, "b/run.sh");
    assert_eq!((m.uid(), m.gid()), (1000, 50));
    assert_eq!(meta(&f, "b").uid(), 1000, "created parents get the owner");
    run(&f, &["run.sh"], "/c/", |r| r.chown = Some("app")).unwrap();
    assert_eq!((meta(&f, "c/run.sh").uid(), meta(&f, "c/run.sh").gid()), (1000, 1000));
    run(&f, &["run.sh"], "/d/", |r| r.chown = Some("42:43")).unwrap();
    assert_eq!((meta(&f, "d/run.sh").uid(), meta(&f, "d/run.sh").gid()), (42, 43));
    run(&f, &["app"], "/e/", |r| r.chmod = Some("0640")).unwrap();
    assert_eq!(meta(&f, "e/main.go").mode() & 0o7777, 0o640);
    assert_eq!(meta(&f, "e/sub").mode() & 0o7777, 0o640);
}

#[test]
fn chown_and_chmod_errors() {
    let f = fixture();
    let e = run(&f, &["a.txt"], "/x/", |r| r.chown = Some("ghost")).unwrap_err();
    assert_eq!(e.to_string(), "unable to find user ghost: no matching entries in passwd file");
    let e = run(&f, &["a.txt"], "/x/", |r| r.chown = Some("app:nogroup")).unwrap_err();
    assert_eq!(e.to_string(), "unable to find group nogroup: no matching entries in group file");
    let e = run(&f, &["a.txt"], "/x/", |r| r.chmod = Some("888")).unwrap_err();
    assert_eq!(e.to_string(), "invalid chmod parameter: '888'. it should be octal string and between 0 and 07777");
}

#[test]
fn writes_are_confined_in_the_destination() {
    let f = fixture();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), f.dst.path().join("evil")).unwrap();
    run(&f, &["a.txt"], "/evil/", |_| {}).unwrap();
    assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
    let inside = f.dst.path().join(outside.path().strip_prefix("/").unwrap()).join("a.txt");
    assert_eq!(fs::read_to_string(inside).unwrap(), "A");
}

#[test]
fn excludes_and_parents() {
    let f = fixture();
    let ex = strings(&["*.md"]);
    run(&f, &["app"], "/x/", |r| r.excludes = &ex).unwrap();
    assert!(f.dst.path().join("x/main.go").exists());
    assert!(!f.dst.path().join("x/README.md").exists());
    run(&f, &["app/sub/util.go", "a.txt"], "/p/", |r| r.parents = true).unwrap();
    assert_eq!(read(&f, "p/app/sub/util.go"), "package sub");
    assert_eq!(read(&f, "p/a.txt"), "A");
    run(&f, &["app/./sub/util.go"], "/q/", |r| r.parents = true).unwrap();
    assert_eq!(read(&f, "q/sub/util.go"), "package sub");
}

#[test]
fn inline_heredoc_sources() {
    let f = fixture();
    let inline = vec![InlineSource { name: "EOF".into(), content: "hi\n".into(), expand: true }];
    run(&f, &[], "/etc/motd", |r| r.inline_sources = &inline).unwrap();
    assert_eq!(read(&f, "etc/motd"), "hi\n");
    run(&f, &[], "/notes/", |r| r.inline_sources = &inline).unwrap();
    assert_eq!(read(&f, "notes/EOF"), "hi\n");
}

fn make_tar(dir: &Path, compress: &str) -> PathBuf {
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o600);
    h.set_uid(7);
    h.set_gid(8);
    h.set_cksum();
    builder.append_data(&mut h, "pkg/file.txt", &b"hello"[..]).unwrap();
    let raw = builder.into_inner().unwrap();
    let data = match compress {
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&raw).unwrap();
            e.finish().unwrap()
        }
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(&raw).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut out = Vec::new();
            lzma_rs::xz_compress(&mut &raw[..], &mut out).unwrap();
            out
        }
        "zst" => zstd::encode_all(&raw[..], 1).unwrap(),
        _ => raw,
    };
    // The name says nothing: detection is by content.
    let p = dir.join(format!("archive-{compress}.bin"));
    fs::write(&p, data).unwrap();
    p
}

#[test]
fn add_unpacks_local_archives() {
    let f = fixture();
    for c in ["tar", "gz", "bz2", "xz", "zst"] {
        let p = make_tar(f.ctx.path(), c);
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let dest = format!("/out-{c}/");
        run(&f, &[&name], &dest, |r| r.is_add = true).unwrap();
        assert_eq!(read(&f, &format!("out-{c}/pkg/file.txt")), "hello", "{c}");
        let m = meta(&f, &format!("out-{c}/pkg/file.txt"));
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (7, 8, 0o600));
    }
    // COPY never unpacks, nor does ADD --unpack=false.
    let p = make_tar(f.ctx.path(), "gz");
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    run(&f, &[&name], "/copied/", |_| {}).unwrap();
    assert!(f.dst.path().join("copied").join(&name).is_file());
    run(&f, &[&name], "/kept/", |r| {
        r.is_add = true;
        r.unpack = Some(false);
    })
    .unwrap();
    assert!(f.dst.path().join("kept").join(&name).is_file());
}

#[test]
fn add_refuses_archive_entries_that_escape() {
    let f = fixture();
    let mut raw = Vec::new();
    {
        let mut b = tar::Builder::new(&mut raw);
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..9].copy_from_slice(b"../escape");
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.finish().unwrap();
    }
    fs::write(f.ctx.path().join("bad.tar"), raw).unwrap();
    let e = run(&f, &["bad.tar"], "/t/", |r| r.is_add = true).unwrap_err();
    assert!(e.to_string().contains("points outside the destination"), "{e}");
}

#[test]
fn add_url_uses_the_hook() {
    let f = fixture();
    let fetch = |url: &str| -> Result<Vec<u8>, String> { Ok(format!("body of {url}").into_bytes()) };
    run(&f, &["https://example.invalid/files/tool.sh?x=1"], "/dl/", |r| {
        r.is_add = true;
        r.url_fetcher = Some(&fetch);
    })
    .unwrap();
    assert_eq!(read(&f, "dl/tool.sh"), "body of https://example.invalid/files/tool.sh?x=1");
    assert_eq!(meta(&f, "dl/tool.sh").mode() & 0o777, 0o600);
    let e = run(&f, &["https://example.invalid/x"], "/dl/", |r| r.is_add = true).unwrap_err();
    assert!(matches!(e, CopyError::NoUrlFetcher(_)));
}

#[test]
fn checksum_follows_content_and_mode_not_times() {
    let f = fixture();
    let sources = strings(&["app", "a.txt"]);
    let sum = || source_checksum(&CopyRequest::new(f.ctx.path(), &sources, "/", f.dst.path())).unwrap();
    let first = sum();
    assert!(first.starts_with("sha256:") && first.len() == 71);
    assert_eq!(first, sum());
    let file = f.ctx.path().join("app/sub/util.go");
    let t = fs::metadata(&file).unwrap().modified().unwrap();
    fs::File::options().write(true).open(&file).unwrap().set_modified(t + std::time::Duration::from_secs(100)).unwrap();
    assert_eq!(first, sum(), "mtime is not part of the checksum");
    fs::write(&file, "package changed").unwrap();
    let second = sum();
    assert_ne!(first, second);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o700)).unwrap();
    assert_ne!(second, sum());
    // Files outside the selection do not matter.
    let third = sum();
    fs::write(f.ctx.path().join("b.txt"), "other").unwrap();
    assert_eq!(third, sum());
    // Excluded files do not matter either.
    let ex = strings(&["*.md"]);
    let with_ex = || {
        let mut r = CopyRequest::new(f.ctx.path(), &sources, "/", f.dst.path());
        r.excludes = &ex;
        source_checksum(&r).unwrap()
    };
    let before = with_ex();
    fs::write(f.ctx.path().join("app/README.md"), "changed").unwrap();
    assert_eq!(before, with_ex());
}

#[test]
fn known_file_digests_stand_in_for_reading_the_files() {
    use sha2::Digest as _;
    use std::os::unix::fs::MetadataExt;
    let f = fixture();
    let sources = strings(&["app", "a.txt"]);
    let plain = source_checksum(&CopyRequest::new(f.ctx.path(), &sources, "/", f.dst.path())).unwrap();
    let entry = |p: &str, body: &[u8]| {
        let m = fs::metadata(f.ctx.path().join(p)).unwrap();
        ((m.dev(), m.ino()), (body.len() as u64, <[u8; 32]>::from(sha2::Sha256::digest(body))))
    };
    let with = |known: &KnownFiles| {
        let mut r = CopyRequest::new(f.ctx.path(), &sources, "/", f.dst.path());
        r.known_files = Some(known);
        source_checksum(&r).unwrap()
    };
    // The true digests give the same checksum (in a directory source and as a file).
    let truth: KnownFiles = [entry("app/main.go", b"package main"), entry("a.txt", b"A")].into();
    assert_eq!(with(&truth), plain);
    // And they are what is used: a different recorded content (same size) changes the
    // checksum; a record whose size is not the file's is ignored.
    let other: KnownFiles = [entry("app/main.go", b"package mian")].into();
    assert_ne!(with(&other), plain);
    let stale: KnownFiles = [entry("app/main.go", b"package mainly")].into();
    assert_eq!(with(&stale), plain);
}

#[test]
fn glob_matching() {
    let m = |p: &str, n: &str| glob_match(&p.chars().collect::<Vec<_>>(), &n.chars().collect::<Vec<_>>());
    assert!(m("*.go", "main.go"));
    assert!(!m("*.go", "main.rs"));
    assert!(m("a?c", "abc"));
    assert!(m("[a-c]x", "bx"));
    assert!(!m("[^a-c]x", "bx"));
    assert!(m("\\*", "*"));
}
