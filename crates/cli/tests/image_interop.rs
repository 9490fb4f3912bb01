//! Images exchanged with other tools (Debian's skopeo and umoci): an archive berth saves
//! is read by skopeo, copied to an OCI layout and unpacked by umoci into the same tree a
//! berth container sees; images umoci and skopeo make (OCI layout, docker-archive, gzip
//! layers, whiteouts) load into berth and run.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use common::{daemon_with_busybox, Daemon};

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e} (scripts/install-deps.sh installs it)"));
    assert!(out.status.success(), "{program} {args:?} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a tree holds, path by path: kind, mode, owner, content or link target, mtime of
/// files, and the other names of a hard-linked file.
fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut names_of: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = format!("/{}", p.strip_prefix(root).unwrap().display());
            let md = std::fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let what = if ft.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if ft.is_symlink() {
                format!("symlink -> {}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_fifo() {
                "fifo".to_string()
            } else if ft.is_char_device() || ft.is_block_device() {
                format!("device {}", md.rdev())
            } else {
                names_of.entry(md.ino()).or_default().push(rel.clone());
                let data = std::fs::read(&p).unwrap();
                format!("file {} bytes {:016x} mtime {}", data.len(), fnv(&data), md.mtime())
            };
            out.insert(rel, format!("{what} mode {:o} owner {}:{}", md.mode() & 0o7777, md.uid(), md.gid()));
        }
    }
    for mut names in names_of.into_values().filter(|n| n.len() > 1) {
        names.sort();
        for n in &names {
            let others: Vec<&str> = names.iter().filter(|o| *o != n).map(String::as_str).collect();
            out.get_mut(n).unwrap().push_str(&format!(" linked with {}", others.join(",")));
        }
    }
    out
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3))
}

#[test]
fn an_image_berth_saves_is_read_by_skopeo_and_unpacked_by_umoci_to_the_same_tree() {
    let d = daemon_with_busybox();
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    // Three layers: busybox, one with hard links, symlinks, a fifo, setuid, owners; one that
    // deletes a file and a directory and replaces a directory (whiteouts, an opaque dir).
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\n\
         RUN mkdir -p /t/keep /t/gone /t/opq && echo a >/t/keep/f && echo b >/t/gone/g && echo c >/t/opq/old \
             && echo x >/t/drop && ln -s keep/f /t/link && ln /t/keep/f /t/hard && mkfifo /t/fifo \
             && chown -R 1234:567 /t/keep && chmod 4755 /t/keep/f && chmod 0700 /t/opq\n\
         RUN rm -rf /t/gone /t/opq /t/drop && mkdir /t/opq && echo d >/t/opq/new\n\
         CMD [\"cat\", \"/t/opq/new\"]\n",
    )
    .unwrap();
    d.berth(&["build", "-q", "-t", "interop/img:1", ctx.to_str().unwrap()]).ok();
    let archive = d.dir.path().join("saved.tar");
    d.berth(&["save", "-o", archive.to_str().unwrap(), "interop/img:1"]).ok();

    // skopeo reads the docker-archive: the same layers (diff ids) in the same order.
    let src = format!("docker-archive:{}", archive.display());
    let inspect: serde_json::Value = serde_json::from_str(&tool("skopeo", &["inspect", &src])).unwrap();
    let ours: Vec<String> = serde_json::from_str(&d.berth(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "interop/img:1"]).ok()).unwrap();
    let theirs: Vec<String> = inspect["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_owned()).collect();
    assert_eq!(ours.len(), 3, "{ours:?}");
    assert_eq!(theirs, ours, "skopeo sees other layers than berth's RootFS");
    assert_eq!(inspect["Architecture"], "amd64");

    // skopeo copies it to an OCI layout, umoci unpacks that.
    let layout = d.dir.path().join("layout");
    tool("skopeo", &["copy", "-q", &src, &format!("oci:{}:img", layout.display())]);
    let bundle = d.dir.path().join("bundle");
    tool("umoci", &["unpack", "--image", &format!("{}:img", layout.display()), bundle.to_str().unwrap()]);
    let umoci = describe(&bundle.join("rootfs"));

    // berth's view of the same image: a created container's filesystem, exported.
    d.berth(&["create", "--name", "view", "interop/img:1"]).ok();
    let exported = d.dir.path().join("export.tar");
    d.berth(&["export", "-o", exported.to_str().unwrap(), "view"]).ok();
    let tree = d.dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    tool("tar", &["-C", tree.to_str().unwrap(), "--same-owner", "-xpf", exported.to_str().unwrap()]);
    let mut berth = describe(&tree);
    // What a container has and an image does not: the mount points of the managed files
    // and kernel filesystems, as docker export shows them too.
    for stub in ["/.dockerenv", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/dev/console", "/dev/pts", "/dev/shm", "/proc", "/sys"] {
        if !umoci.contains_key(stub) {
            berth.remove(stub);
        }
    }
    // Directory mtimes change when those stubs are made; everything else must match.
    let berth_only: Vec<_> = berth.keys().filter(|k| !umoci.contains_key(*k)).collect();
    let umoci_only: Vec<_> = umoci.keys().filter(|k| !berth.contains_key(*k)).collect();
    assert!(berth_only.is_empty() && umoci_only.is_empty(), "paths only berth has: {berth_only:?}\npaths only umoci has: {umoci_only:?}");
    for (path, what) in &umoci {
        assert_eq!(&berth[path], what, "{path} differs (berth left, umoci right)");
    }
    // And the tree is what the Dockerfile made (so the comparison above compared something).
    for (path, want) in [
        ("/t/opq/new", "file 2 bytes"),
        ("/t/keep/f", "mode 4755 owner 1234:567 linked with /t/hard"),
        ("/t/link", "symlink -> keep/f"),
        ("/t/fifo", "fifo"),
        ("/t/opq", "dir mode 755"),
        ("/bin/busybox", "file"),
    ] {
        let got = umoci.get(path).map(String::as_str).unwrap_or("(missing)");
        assert!(got.contains(want), "{path}: {got}, want {want}");
    }
    for gone in ["/t/gone", "/t/drop", "/t/opq/old"] {
        assert!(!umoci.contains_key(gone), "{gone} survived its whiteout");
    }
    d.berth(&["rm", "view"]).ok();
}

/// An OCI layout made with umoci: two layers (gzip, as umoci writes them), the second
/// deleting a file of the first; its config runs `cat /hello.txt`.
fn umoci_layout(d: &Daemon) -> std::path::PathBuf {
    let layout = d.dir.path().join("umoci-layout");
    let bundle = d.dir.path().join("umoci-bundle");
    let at = |tag: &str| format!("{}:{tag}", layout.display());
    tool("umoci", &["init", "--layout", layout.to_str().unwrap()]);
    tool("umoci", &["new", "--image", &at("v1")]);
    tool("umoci", &["unpack", "--image", &at("v1"), bundle.to_str().unwrap()]);
    let rootfs = bundle.join("rootfs");
    tool("tar", &["-C", rootfs.to_str().unwrap(), "-xf", common::busybox_tar().to_str().unwrap()]);
    std::fs::write(rootfs.join("hello.txt"), "hello from umoci\n").unwrap();
    std::fs::write(rootfs.join("doomed.txt"), "deleted by layer 2\n").unwrap();
    // --refresh-bundle: the next repack diffs against this layer, not the empty image.
    tool("umoci", &["repack", "--refresh-bundle", "--image", &at("v1"), bundle.to_str().unwrap()]);
    std::fs::remove_file(rootfs.join("doomed.txt")).unwrap();
    std::fs::write(rootfs.join("second.txt"), "layer two\n").unwrap();
    tool("umoci", &["repack", "--image", &at("v1"), bundle.to_str().unwrap()]);
    tool("umoci", &["config", "--image", &at("v1"), "--config.cmd", "sh", "--config.cmd", "-c", "--config.cmd", "cat /hello.txt /second.txt; test ! -e /doomed.txt && echo whiteout-applied"]);
    layout
}

fn loaded_name(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Loaded image: ").or_else(|| l.strip_prefix("Loaded image ID: ")))
        .unwrap_or_else(|| panic!("no Loaded image line in {out:?}"))
        .trim()
        .to_owned()
}

#[test]
fn images_made_by_umoci_and_skopeo_load_into_berth_and_run() {
    let d = daemon_with_busybox();
    let layout = umoci_layout(&d);
    let want = "hello from umoci\nlayer two\nwhiteout-applied\n";

    // The OCI layout itself, as a tar (what `docker load` takes of an OCI image).
    let oci_tar = d.dir.path().join("oci.tar");
    tool("tar", &["-C", layout.to_str().unwrap(), "-cf", oci_tar.to_str().unwrap(), "."]);
    let first_name = loaded_name(&d.berth(&["load", "-i", oci_tar.to_str().unwrap()]).ok());
    assert_eq!(d.berth(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", &first_name]).ok().trim(), "2");
    assert_eq!(d.berth(&["run", "--rm", &first_name]).ok(), want);

    // skopeo's docker-archive (the `docker save` format another engine writes), with a tag.
    let docker_tar = d.dir.path().join("docker.tar");
    tool("skopeo", &["copy", "-q", &format!("oci:{}:v1", layout.display()), &format!("docker-archive:{}:skopeo/made:1", docker_tar.display())]);
    let out = d.berth(&["load", "-i", docker_tar.to_str().unwrap()]).ok();
    assert_eq!(loaded_name(&out), "skopeo/made:1", "{out}");
    assert_eq!(d.berth(&["run", "--rm", "skopeo/made:1"]).ok(), want);

    // skopeo's oci-archive, tagged through the ref.name annotation.
    let oci_archive = d.dir.path().join("oci-archive.tar");
    tool("skopeo", &["copy", "-q", &format!("oci:{}:v1", layout.display()), &format!("oci-archive:{}:skopeo/oci:2", oci_archive.display())]);
    let name = loaded_name(&d.berth(&["load", "-i", oci_archive.to_str().unwrap()]).ok());
    assert_eq!(d.berth(&["run", "--rm", &name]).ok(), want);

    // One config, so one image: the three loads name the same image id.
    let id_of = |n: &str| d.berth(&["image", "inspect", "-f", "{{.Id}}", n]).ok().trim().to_owned();
    let first = id_of(&first_name);
    assert_eq!(id_of("skopeo/made:1"), first);
    assert_eq!(id_of(&name), first);
}
