//! End to end, volumes and mounts: persistence across containers, sharing between
//! running containers, ro, bind mounts of files and directories, tmpfs limits, copy-up
//! with owners, anonymous volume lifecycle, backup/restore both ways, prune, in-use
//! refusal, a kill -9 of berthd, mount targets through symlinks, bad input, and the
//! real docker CLI.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::Daemon;

fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
    d
}

fn fails(d: &Daemon, args: &[&str]) -> String {
    let out = d.berth(args).output();
    assert!(!out.status.success(), "berth {args:?} should have failed; stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn volumes(d: &Daemon) -> Vec<String> {
    d.berth(&["volume", "ls", "-q"]).ok().lines().map(str::to_owned).collect()
}

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    d.berth(&["inspect", "-f", fmt, name]).ok().trim().to_owned()
}

#[test]
fn named_volume_outlives_containers_and_is_shared_live() {
    let d = daemon_with_busybox();
    assert_eq!(d.berth(&["volume", "create", "--label", "team=db", "data"]).ok(), "data\n");
    let mp = d.berth(&["volume", "inspect", "-f", "{{.Mountpoint}} {{.Driver}} {{.Labels.team}}", "data"]).ok();
    let root = d.dir.path().join("root");
    assert_eq!(mp.trim(), format!("{}/volumes/data/_data local db", root.display()), "volumes live under the data root");

    // Written by one container, removed with --rm (and rm -v): the named volume stays.
    d.berth(&["run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo persisted > /data/f && sync"]).ok();
    d.berth(&["run", "--name", "w2", "-v", "data:/data", "busybox", "sh", "-c", "echo more >> /data/f"]).ok();
    d.berth(&["rm", "-v", "w2"]).ok();
    assert_eq!(volumes(&d), vec!["data"]);
    assert_eq!(d.berth(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"]).ok(), "persisted\nmore\n");
    // A name not yet known is created on first use.
    d.berth(&["run", "--rm", "-v", "fresh:/x", "busybox", "true"]).ok();
    assert!(volumes(&d).contains(&"fresh".to_owned()));

    // Two running containers see each other's writes at once (-v and --volumes-from).
    d.berth(&["run", "-d", "--name", "va", "-v", "data:/shared", "busybox", "sleep", "60"]).ok();
    d.berth(&["run", "-d", "--name", "vb", "--volumes-from", "va", "busybox", "sleep", "60"]).ok();
    d.berth(&["exec", "va", "sh", "-c", "echo from-a > /shared/x"]).ok();
    assert_eq!(d.berth(&["exec", "vb", "cat", "/shared/x"]).ok(), "from-a\n");
    d.berth(&["exec", "vb", "sh", "-c", "echo from-b > /shared/y"]).ok();
    assert_eq!(d.berth(&["exec", "va", "cat", "/shared/y"]).ok(), "from-b\n");
    assert_eq!(inspect(&d, "vb", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}}{{end}}"), "volume data /shared true");

    // Read-only: -v :ro and --volumes-from :ro refuse writes with EROFS.
    let e = fails(&d, &["run", "--rm", "-v", "data:/d:ro", "busybox", "sh", "-c", "echo x > /d/z"]);
    assert!(e.contains("Read-only file system"), "{e}");
    let e = fails(&d, &["run", "--rm", "--volumes-from", "va:ro", "busybox", "touch", "/shared/z"]);
    assert!(e.contains("Read-only file system"), "{e}");

    // In use (running or merely created): refused, with -f too.
    let e = fails(&d, &["volume", "rm", "data"]);
    assert!(e.contains("volume is in use"), "{e}");
    let e = fails(&d, &["volume", "rm", "-f", "data"]);
    assert!(e.contains("volume is in use"), "{e}");
    d.berth(&["rm", "-f", "va", "vb"]).ok();
    d.berth(&["create", "--name", "idle", "-v", "data:/d", "busybox"]).ok();
    assert!(fails(&d, &["volume", "rm", "data"]).contains("volume is in use"));
    d.berth(&["rm", "idle"]).ok();
    d.berth(&["volume", "rm", "data", "fresh"]).ok();
    assert!(volumes(&d).is_empty());
    assert!(!root.join("volumes/data").exists());
    // docker's -f: a missing volume is no error.
    d.berth(&["volume", "rm", "-f", "never-was"]).ok();
    assert!(fails(&d, &["volume", "inspect", "never-was"]).contains("No such volume: never-was"));
}

#[test]
fn binds_tmpfs_and_mount_flag() {
    let d = daemon_with_busybox();
    let host = d.dir.path().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from host\n").unwrap();
    let conf = d.dir.path().join("app.conf");
    std::fs::write(&conf, "key=value\n").unwrap();
    let hv = format!("{}:/mnt/h", host.display());
    let fv = format!("{}:/etc/app.conf:ro", conf.display());
    let out = d.berth(&["run", "--rm", "-v", &hv, "-v", &fv, "busybox", "sh", "-c", "cat /mnt/h/in /etc/app.conf; echo back > /mnt/h/out"]).ok();
    assert_eq!(out, "from host\nkey=value\n");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    let e = fails(&d, &["run", "--rm", "-v", &fv, "busybox", "sh", "-c", "echo x > /etc/app.conf"]);
    assert!(e.contains("Read-only file system"), "{e}");

    // -v creates a missing host directory (legacy); --mount type=bind refuses it.
    let missing = d.dir.path().join("made/by/v");
    d.berth(&["run", "--rm", "-v", &format!("{}:/m", missing.display()), "busybox", "true"]).ok();
    assert!(missing.is_dir());
    let gone = d.dir.path().join("not-there");
    let e = fails(&d, &["run", "--rm", "--mount", &format!("type=bind,src={},dst=/m", gone.display()), "busybox", "true"]);
    assert!(e.contains("bind source path does not exist"), "{e}");
    assert!(!gone.exists());
    let m = format!("type=bind,source={},target=/b,readonly", host.display());
    assert_eq!(d.berth(&["run", "--rm", "--mount", &m, "busybox", "cat", "/b/in"]).ok(), "from host\n");

    // tmpfs sizes are enforced, both ways of asking.
    let e = fails(&d, &["run", "--rm", "--tmpfs", "/t:size=1m", "busybox", "dd", "if=/dev/zero", "of=/t/f", "bs=1024", "count=2048"]);
    assert!(e.contains("No space left on device"), "{e}");
    let e = fails(&d, &["run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1048576", "busybox", "dd", "if=/dev/zero", "of=/t/f", "bs=1024", "count=2048"]);
    assert!(e.contains("No space left on device"), "{e}");
    d.berth(&["run", "--rm", "--tmpfs", "/t:size=1m", "busybox", "dd", "if=/dev/zero", "of=/t/f", "bs=1024", "count=512"]).ok();

    // A local volume with driver options: a tmpfs volume, mounted only while used.
    d.berth(&["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "scratch"]).ok();
    let e = fails(&d, &["run", "--rm", "-v", "scratch:/s", "busybox", "dd", "if=/dev/zero", "of=/s/f", "bs=1024", "count=2048"]);
    assert!(e.contains("No space left on device"), "{e}");
    let mp = d.berth(&["volume", "inspect", "-f", "{{.Mountpoint}}", "scratch"]).ok();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(mp.trim()), "the tmpfs is unmounted when no container uses it");
}

#[test]
fn copy_up_anonymous_volumes_and_prune() {
    let d = daemon_with_busybox();
    // An image with content (owned by 1000:1001, mode 0750) in a VOLUME directory.
    d.berth(&["run", "--name", "mk", "busybox", "sh", "-c", "mkdir -p /srv/data && echo seed > /srv/data/seed && chown -R 1000:1001 /srv/data && chmod 750 /srv/data"]).ok();
    d.berth(&["commit", "-c", "VOLUME /srv/data", "mk", "withdata"]).ok();
    d.berth(&["rm", "mk"]).ok();

    // A new named volume over it gets the content, owners and mode; nocopy does not.
    let out = d.berth(&["run", "--rm", "-v", "seeded:/srv/data", "withdata", "sh", "-c", "cat /srv/data/seed; stat -c '%u:%g %a' /srv/data /srv/data/seed"]).ok();
    assert_eq!(out, "seed\n1000:1001 750\n1000:1001 644\n");
    d.berth(&["run", "--rm", "--mount", "type=volume,src=bare,dst=/srv/data,volume-nocopy", "withdata", "sh", "-c", "test -z \"$(ls -A /srv/data)\""]).ok();
    // A volume with content is not overwritten by a later copy-up.
    d.berth(&["run", "--rm", "-v", "seeded:/srv/data", "withdata", "sh", "-c", "echo changed > /srv/data/seed"]).ok();
    assert_eq!(d.berth(&["run", "--rm", "-v", "seeded:/srv/data", "withdata", "cat", "/srv/data/seed"]).ok(), "changed\n");

    // The image's VOLUME: an anonymous volume per container, pre-populated.
    d.berth(&["run", "-d", "--name", "anon", "-v", "/scratch", "withdata", "sleep", "60"]).ok();
    assert_eq!(d.berth(&["exec", "anon", "cat", "/srv/data/seed"]).ok(), "seed\n");
    let names = inspect(&d, "anon", "{{range .Mounts}}{{.Name}} {{end}}");
    let anon: Vec<&str> = names.split_whitespace().collect();
    assert_eq!(anon.len(), 2, "{names}");
    assert!(anon.iter().all(|n| n.len() == 64), "{names}");
    let labels = d.berth(&["volume", "inspect", "-f", "{{json .Labels}}", anon[0]]).ok();
    assert!(labels.contains("com.docker.volume.anonymous"), "{labels}");
    // rm -v takes them with the container.
    d.berth(&["rm", "-f", "-v", "anon"]).ok();
    let left = volumes(&d);
    assert!(anon.iter().all(|n| !left.contains(&n.to_string())), "{left:?}");
    // run --rm too; a plain rm keeps them (until a prune).
    let before = volumes(&d).len();
    d.berth(&["run", "--rm", "withdata", "true"]).ok();
    assert_eq!(volumes(&d).len(), before);
    d.berth(&["run", "--name", "keeper", "withdata", "true"]).ok();
    d.berth(&["rm", "keeper"]).ok();
    assert_eq!(volumes(&d).len(), before + 1);

    // Prune: unused anonymous ones only; --all also unused named ones; used ones never.
    d.berth(&["volume", "create", "unused-named"]).ok();
    d.berth(&["create", "--name", "holder", "-v", "held:/h", "busybox"]).ok();
    let out = d.berth(&["volume", "prune", "-f"]).ok();
    assert!(out.contains("Deleted Volumes:") && out.contains("Total reclaimed space:"), "{out}");
    let left = volumes(&d);
    assert!(left.iter().all(|n| n.len() != 64), "anonymous volumes pruned: {left:?}");
    assert!(left.contains(&"unused-named".to_owned()) && left.contains(&"held".to_owned()));
    d.berth(&["volume", "prune", "-f", "--all"]).ok();
    assert_eq!(volumes(&d), vec!["held"]);

    // system df -v shows volumes with their links and sizes.
    let df = d.berth(&["system", "df", "-v"]).ok();
    let line = df.lines().find(|l| l.starts_with("held")).unwrap_or_else(|| panic!("no volume line in {df}"));
    assert_eq!(line.split_whitespace().nth(1), Some("1"), "{line}");
    d.berth(&["rm", "holder"]).ok();
    let out = d.berth(&["system", "prune", "-f", "--volumes"]).ok();
    assert!(out.contains("Total reclaimed space"), "{out}");
}

#[test]
fn backup_and_restore_round_trip() {
    let d = daemon_with_busybox();
    let backup = d.dir.path().join("backup");
    std::fs::create_dir(&backup).unwrap();
    d.berth(&["run", "--name", "db", "-v", "dbdata:/data", "busybox", "sh", "-c", "mkdir -p /data/sub && dd if=/dev/urandom of=/data/sub/blob bs=1k count=300 2>/dev/null && echo text > /data/t && ln -s t /data/link && chown 7:8 /data/t"]).ok();
    // The Docker way: --volumes-from plus a bind mount, tar out and back in.
    let b = format!("{}:/backup", backup.display());
    d.berth(&["run", "--rm", "--volumes-from", "db", "-v", &b, "busybox", "tar", "cf", "/backup/db.tar", "/data"]).ok();
    d.berth(&["run", "--rm", "-v", "restored:/data", "-v", &b, "busybox", "tar", "xpf", "/backup/db.tar", "-C", "/"]).ok();
    let src = d.dir.path().join("root/volumes/dbdata/_data");
    let dst = d.dir.path().join("root/volumes/restored/_data");
    assert_eq!(std::fs::read(src.join("sub/blob")).unwrap(), std::fs::read(dst.join("sub/blob")).unwrap());
    assert_eq!(std::fs::read_link(dst.join("link")).unwrap(), Path::new("t"));

    // berth's own: volume export / import.
    let file = d.dir.path().join("vol.tar");
    d.berth(&["volume", "export", "-o", file.to_str().unwrap(), "dbdata"]).ok();
    d.berth(&["volume", "create", "imported"]).ok();
    d.berth(&["volume", "import", "imported", file.to_str().unwrap()]).ok();
    let imp = d.dir.path().join("root/volumes/imported/_data");
    assert_eq!(std::fs::read(src.join("sub/blob")).unwrap(), std::fs::read(imp.join("sub/blob")).unwrap());
    let t = std::fs::metadata(imp.join("t")).unwrap();
    assert_eq!((t.uid(), t.gid()), (7, 8), "owners kept");
    assert_eq!(d.berth(&["run", "--rm", "-v", "imported:/i", "busybox", "cat", "/i/link"]).ok(), "text\n");
    let e = fails(&d, &["volume", "import", "no-such-volume", file.to_str().unwrap()]);
    assert!(e.contains("no such volume"), "{e}");
}

#[test]
fn writes_survive_a_berthd_kill() {
    let mut d = daemon_with_busybox();
    d.berth(&["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "logs"]).ok();
    d.berth(&["run", "-d", "--name", "writer", "-v", "keep:/k", "-v", "logs:/l", "busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /k/n.tmp; sync; mv /k/n.tmp /k/n; echo $i > /l/n; sleep 0.05; done"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.crash_and_restart();
    let n1: u64 = d.berth(&["exec", "writer", "cat", "/k/n"]).ok().trim().parse().unwrap();
    assert!(n1 > 0);
    // The driver-option volume is still held: removing it is refused, and the
    // container still writes into the same tmpfs.
    assert!(fails(&d, &["volume", "rm", "logs"]).contains("in use"));
    d.berth(&["rm", "-f", "writer"]).ok();
    let n2: u64 = std::fs::read_to_string(d.dir.path().join("root/volumes/keep/_data/n")).unwrap().trim().parse().unwrap();
    assert!(n2 >= n1, "fsynced data is on disk after the crash: {n2} < {n1}");
    d.berth(&["volume", "rm", "logs", "keep"]).ok();
}

#[test]
fn mount_targets_through_volume_symlinks_stay_in_the_container() {
    let d = daemon_with_busybox();
    // A host directory a hostile volume points at, by absolute path.
    let target = d.dir.path().join("host-target");
    std::fs::create_dir(&target).unwrap();
    let t = target.to_str().unwrap();
    d.berth(&["run", "--rm", "-v", "evil:/v", "busybox", "ln", "-s", t, "/v/link"]).ok();
    // Another container mounts a tmpfs under that symlink: it must resolve inside the
    // container's root (CVE-2021-30465 class), never onto the host's directory.
    let out = d.berth(&["run", "--rm", "-v", "evil:/v", "--mount", "type=tmpfs,dst=/v/link/inner", "busybox", "sh", "-c", &format!("grep -c ' {t}/inner ' /proc/self/mountinfo; ls -d {t}/inner")]).ok();
    assert_eq!(out, format!("1\n{t}/inner\n"));
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(t), "nothing mounted on the host's {t}");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "nothing created in the host's directory");
}

/// `--mount …,volume-subpath=` (and compose's `volume.subpath`): a directory or a file
/// of the volume, resolved inside it (its symlinks cannot lead out), never created.
#[test]
fn volume_subpaths_mount_part_of_a_volume() {
    let d = daemon_with_busybox();
    d.berth(&["volume", "create", "sp"]).ok();
    d.berth(&["run", "--rm", "-v", "sp:/v", "busybox", "sh", "-c", "mkdir -p /v/sub && echo hello >/v/sub/x && echo f >/v/file.txt && ln -s /etc /v/abs && ln -s ../../.. /v/up"]).ok();
    let m = |sub: &str, dst: &str| format!("type=volume,src=sp,dst={dst},volume-subpath={sub}");
    assert_eq!(d.berth(&["run", "--rm", "--mount", &m("sub", "/m"), "busybox", "cat", "/m/x"]).ok(), "hello\n");
    assert_eq!(d.berth(&["run", "--rm", "--mount", &m("./sub/", "/m"), "busybox", "ls", "/m"]).ok(), "x\n", "only the subdirectory");
    assert_eq!(d.berth(&["run", "--rm", "--mount", &m("file.txt", "/etc/f.txt"), "busybox", "cat", "/etc/f.txt"]).ok(), "f\n", "a file");
    // Writes land in the volume.
    d.berth(&["run", "--rm", "--mount", &m("sub", "/m"), "busybox", "sh", "-c", "echo new >/m/y"]).ok();
    assert_eq!(d.berth(&["run", "--rm", "-v", "sp:/v", "busybox", "cat", "/v/sub/y"]).ok(), "new\n");
    // Symlinks resolve inside the volume: `up` is the volume's root, `abs` (/etc) is not there.
    let ls = d.berth(&["run", "--rm", "--mount", &m("up", "/m"), "busybox", "ls", "/m"]).ok();
    assert_eq!(ls.split_whitespace().collect::<Vec<_>>(), ["abs", "file.txt", "sub", "up"], "the volume's root, not the host's");
    let err = fails(&d, &["run", "--rm", "--mount", &m("abs", "/m"), "busybox", "ls", "/m"]);
    assert!(err.contains("cannot access path"), "{err}");
    let err = fails(&d, &["run", "--rm", "--mount", &m("missing", "/m"), "busybox", "true"]);
    assert!(err.contains("cannot access path") && err.contains("missing"), "{err}");
    // Outside the volume: refused at create, nothing made.
    for bad in ["../x", "/abs", "sub/../.."] {
        let err = fails(&d, &["create", "--name", "spbad", "--mount", &m(bad, "/m"), "busybox"]);
        assert!(err.contains("subpath must be a relative path within the volume"), "{bad}: {err}");
    }
    assert!(d.berth(&["inspect", "spbad"]).output().status.code() != Some(0));
    // A running container: the staging mount berthd used is gone, the container's stays.
    d.berth(&["run", "-d", "--name", "spr", "--mount", &m("sub", "/m"), "busybox", "sleep", "60"]).ok();
    let id = inspect(&d, "spr", "{{.Id}}");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.lines().any(|l| l.contains(&id) && l.contains("/subpaths/")), "staging left mounted");
    assert_eq!(d.berth(&["exec", "spr", "cat", "/m/x"]).ok(), "hello\n");
    d.berth(&["rm", "-f", "spr"]).ok();
}

#[test]
fn bad_volume_input_is_refused_and_creates_nothing() {
    let d = daemon_with_busybox();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--rm", "-v", "data:rel", "busybox", "true"], "mount path must be absolute"),
        (&["run", "--rm", "-v", "a:b:c:d", "busybox", "true"], "invalid spec"),
        (&["run", "--rm", "-v", "vol:/x:bogus", "busybox", "true"], "invalid mode: bogus"),
        (&["run", "--rm", "-v", "rel/path:/x", "busybox", "true"], "includes invalid characters for a local volume name"),
        (&["run", "--rm", "-v", "ok1:/x", "-v", "ok2:/x", "busybox", "true"], "Duplicate mount point: /x"),
        (&["run", "--rm", "--mount", "type=volume,src=ok3,dst=/x,volume-opt=colour=red", "busybox", "true"], "invalid option: \"colour\""),
        (&["run", "--rm", "--mount", "type=tmpfs,src=x,dst=/t", "busybox", "true"], "Source must not be specified"),
        (&["run", "--rm", "--volumes-from", "nonexistent", "busybox", "true"], "No such container: nonexistent"),
        (&["volume", "create", "a/b"], "includes invalid characters"),
        (&["volume", "create", "-o", "bogus=1", "x1"], "invalid option: \"bogus\""),
        (&["volume", "create", "-o", "type=tmpfs", "x2"], "missing required option: \"device\""),
        (&["volume", "create", "-d", "nfs-plugin", "x3"], "not supported"),
    ];
    for (args, want) in cases {
        let e = fails(&d, args);
        assert!(e.contains(want), "berth {args:?}: want {want:?} in {e}");
    }
    assert!(volumes(&d).is_empty(), "nothing created: {:?}", volumes(&d));
    assert_eq!(d.berth(&["ps", "-aq"]).ok(), "");
    let (status, body) = d.post_json("/volumes/create", r#"{"Name": 5}"#);
    assert_eq!(status, 400, "{body}");
}

#[test]
fn docker_cli_volume_commands() {
    let d = daemon_with_busybox();
    let Some(r) = d.docker(&["volume", "create", "--label", "k=v", "dv"]) else { return };
    assert_eq!(r.ok(), "dv\n");
    let ls = d.docker(&["volume", "ls", "--filter", "label=k=v", "--format", "{{.Name}} {{.Driver}}"]).unwrap().ok();
    assert_eq!(ls, "dv local\n");
    let out = d.docker(&["run", "--rm", "-v", "dv:/d", "busybox", "sh", "-c", "echo hi > /d/f; cat /d/f"]).unwrap().ok();
    assert_eq!(out, "hi\n");
    let mp = d.docker(&["volume", "inspect", "-f", "{{.Mountpoint}}", "dv"]).unwrap().ok();
    assert_eq!(std::fs::read_to_string(Path::new(mp.trim()).join("f")).unwrap(), "hi\n");
    let df = d.docker(&["system", "df", "-v"]).unwrap().ok();
    assert!(df.contains("dv"), "{df}");
    assert_eq!(d.docker(&["volume", "rm", "dv"]).unwrap().ok(), "dv\n");
    let out = d.docker(&["volume", "ls", "-q"]).unwrap().ok();
    assert_eq!(out, "");
}
