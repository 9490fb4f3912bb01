//! End to end: a container's files and resources — cp both ways (symlink escapes
//! confined), export, diff, stats, update, commit, system df — through `berth` and the
//! real docker CLI against a private berthd.

mod common;

use std::path::Path;

use common::{make_tar, Daemon};

fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tar_names(data: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(data);
    a.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
}

fn exec(d: &Daemon, c: &str, cmd: &str) -> String {
    d.berth(&["exec", c, "sh", "-c", cmd]).ok()
}

#[test]
fn cp_both_ways_and_symlink_escapes_stay_inside() {
    let d = daemon_with_busybox();
    let host = tempfile::tempdir().unwrap();
    d.berth(&["run", "-d", "--name", "c1", "--network", "none", "busybox", "sleep", "300"]).ok();
    exec(&d, "c1", "mkdir -p /data/sub && echo inside > /data/sub/f && echo top > /data/t && ln -s /etc /data/evil");

    // Out: a file, a directory, a tar stream.
    let out = host.path().join("f.txt");
    d.berth(&["cp", "c1:/data/sub/f", out.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "inside\n");
    d.berth(&["cp", "c1:/data", host.path().to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(host.path().join("data/t")).unwrap(), "top\n");
    assert_eq!(std::fs::read_link(host.path().join("data/evil")).unwrap(), Path::new("/etc"), "the symlink itself, not the host's /etc");
    let raw = d.berth(&["cp", "c1:/data/sub", "-"]).output();
    assert!(raw.status.success(), "{}", text(&raw.stderr));
    assert_eq!(tar_names(&raw.stdout), vec!["sub", "sub/f"]);
    let missing = d.berth(&["cp", "c1:/nope", host.path().to_str().unwrap()]).output();
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("Could not find the file /nope in container c1"), "{}", text(&missing.stderr));

    // GET through a symlink to /etc reads the container's /etc, never the host's.
    let host_marker = "/etc/berth-cp-escape-test";
    std::fs::write(host_marker, "host secret").unwrap();
    let esc = d.berth(&["cp", "c1:/data/evil/berth-cp-escape-test", "-"]).output();
    let _ = std::fs::remove_file(host_marker);
    assert!(!esc.status.success(), "read the host's file through a container symlink");
    assert!(!text(&esc.stdout).contains("host secret"));

    // In: a file, a directory, a tar on stdin.
    let src = host.path().join("in.txt");
    std::fs::write(&src, "from host\n").unwrap();
    d.berth(&["cp", src.to_str().unwrap(), "c1:/data/"]).ok();
    assert_eq!(exec(&d, "c1", "cat /data/in.txt; stat -c %u /data/in.txt"), "from host\n0\n");
    d.berth(&["cp", src.to_str().unwrap(), "c1:/data/renamed.txt"]).ok();
    assert_eq!(exec(&d, "c1", "cat /data/renamed.txt"), "from host\n");
    let dir = host.path().join("tree");
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    std::fs::write(dir.join("a/b/c"), "deep").unwrap();
    d.berth(&["cp", dir.to_str().unwrap(), "c1:/srv"]).ok();
    assert_eq!(exec(&d, "c1", "cat /srv/a/b/c"), "deep");
    d.berth(&["cp", "-", "c1:/data"]).stdin(make_tar(&[("streamed", "via stdin")])).ok();
    assert_eq!(exec(&d, "c1", "cat /data/streamed"), "via stdin");
    let notdir = d.berth(&["cp", "-", "c1:/data/t"]).stdin(make_tar(&[("x", "y")])).output();
    assert!(!notdir.status.success());
    assert!(text(&notdir.stderr).contains("not a directory"), "{}", text(&notdir.stderr));
    let garbage = d.berth(&["cp", "-", "c1:/data"]).stdin(vec![b'x'; 2000]).output();
    assert!(!garbage.status.success());
    assert!(text(&garbage.stderr).contains("tar"), "{}", text(&garbage.stderr));
    // HEAD: Docker's path stat header (base64 JSON, Go file mode bits).
    let head = d.raw_full("HEAD", "/containers/c1/archive?path=/data/evil");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("x-docker-container-path-stat: "), "{head}");

    // PUT through the container's /data/evil -> /etc lands in the container's /etc,
    // and an archive that plants its own symlink cannot write through it either.
    d.berth(&["cp", "-", "c1:/data/evil"]).stdin(make_tar(&[("berth-put-test", "contained")])).ok();
    assert!(!Path::new("/etc/berth-put-test").exists(), "wrote into the host's /etc");
    assert_eq!(exec(&d, "c1", "cat /etc/berth-put-test"), "contained");
    d.berth(&["cp", "-", "c1:/data"]).stdin(make_tar(&[("hop", "->/etc"), ("hop/berth-put-test2", "contained too")])).output();
    assert!(!Path::new("/etc/berth-put-test2").exists(), "wrote into the host's /etc through an archive symlink");
    let climb = d.berth(&["cp", "-", "c1:/data"]).stdin(make_tar(&[("../../../../tmp/berth-put-climb", "x")])).output();
    assert!(!climb.status.success(), "an entry climbing out of the destination is refused");
    assert!(!Path::new("/tmp/berth-put-climb").exists());

    // The real docker CLI on the same routes.
    if let Some(r) = d.docker(&["cp", "c1:/data/t", host.path().join("docker-t").to_str().unwrap()]) {
        r.ok();
        assert_eq!(std::fs::read_to_string(host.path().join("docker-t")).unwrap(), "top\n");
        d.docker(&["cp", src.to_str().unwrap(), "c1:/data/docker-in.txt"]).unwrap().ok();
        assert_eq!(exec(&d, "c1", "cat /data/docker-in.txt"), "from host\n");
        d.docker(&["cp", dir.to_str().unwrap(), "c1:/docker-tree"]).unwrap().ok();
        assert_eq!(exec(&d, "c1", "cat /docker-tree/a/b/c"), "deep");
        let out = d.docker(&["cp", "c1:/data/sub", "-"]).unwrap().output();
        assert_eq!(tar_names(&out.stdout), vec!["sub", "sub/f"]);
        let out = d.docker(&["cp", "c1:/nope", "-"]).unwrap().output();
        assert!(text(&out.stderr).contains("Could not find the file /nope in container c1"), "{}", text(&out.stderr));
    }

    // A stopped container: its rootfs is mounted for the copy, and unmounted after.
    d.berth(&["stop", "-t", "0", "c1"]).ok();
    let out = host.path().join("after-stop");
    d.berth(&["cp", "c1:/data/streamed", out.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "via stdin");
    d.berth(&["cp", src.to_str().unwrap(), "c1:/data/while-stopped"]).ok();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = d.dir.path().to_str().unwrap();
    assert!(!mounts.lines().any(|l| l.contains(dir) && l.contains("/merged")), "rootfs left mounted");
    // A live container's /proc is not walked (its kcore alone claims terabytes).
    d.berth(&["start", "c1"]).ok();
    let root = d.berth(&["cp", "c1:/", "-"]).output();
    assert!(root.status.success(), "{}", text(&root.stderr));
    let names = tar_names(&root.stdout);
    assert!(names.iter().any(|n| n == "bin/busybox") && names.iter().any(|n| n == "proc") && !names.iter().any(|n| n.starts_with("proc/")), "{:?}", &names[..names.len().min(30)]);
    d.berth(&["stop", "-t", "0", "c1"]).ok();
    d.berth(&["start", "c1"]).ok();
    assert_eq!(exec(&d, "c1", "cat /data/while-stopped"), "from host\n");
}

#[test]
fn export_diff_commit_and_history() {
    let d = daemon_with_busybox();
    d.berth(&["run", "--name", "wc", "--network", "none", "busybox", "sh", "-c", "echo hi > /tmp/new; mkdir /made; rm /bin/true; echo x >> /etc/passwd"]).ok();

    let exp = d.berth(&["export", "wc"]).output();
    assert!(exp.status.success(), "{}", text(&exp.stderr));
    let names = tar_names(&exp.stdout);
    assert!(names.iter().any(|n| n == "bin/busybox"), "{:?}", &names[..names.len().min(20)]);
    assert!(names.iter().any(|n| n == "tmp/new"));
    assert!(!names.iter().any(|n| n == "bin/true"), "deleted file exported");

    let diff = d.berth(&["diff", "wc"]).ok();
    let lines: Vec<&str> = diff.lines().collect();
    for want in ["A /tmp/new", "A /made", "D /bin/true", "C /etc/passwd", "C /bin"] {
        assert!(lines.contains(&want), "{want} missing from:\n{diff}");
    }
    assert!(!lines.iter().any(|l| l.ends_with("/etc/hosts") || l.ends_with("/proc")), "{diff}");
    if let Some(r) = d.docker(&["diff", "wc"]) {
        assert_eq!(r.ok(), diff);
    }

    let id = d.berth(&["commit", "-m", "snapshot", "-c", "ENV COMMITTED=yes", "wc", "snap:1"]).ok();
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let out = d.berth(&["run", "--rm", "--network", "none", "snap:1", "sh", "-c", "cat /tmp/new; echo $COMMITTED; test -e /bin/true || echo gone"]).ok();
    assert_eq!(out, "hi\nyes\ngone\n");
    let hist = d.berth(&["history", "snap:1"]).ok();
    assert!(hist.lines().nth(1).is_some_and(|l| l.contains("snapshot")), "{hist}");
    assert_eq!(hist.lines().count(), 3, "{hist}");

    if let Some(r) = d.docker(&["commit", "--change", "CMD [\"cat\", \"/tmp/new\"]", "wc", "snap:docker"]) {
        r.ok();
        assert_eq!(d.berth(&["run", "--rm", "--network", "none", "snap:docker"]).ok(), "hi\n");
    }
    let (status, body) = d.raw("POST", "/commit?container=wc&changes=RUN%20x");
    assert_eq!(status, 400, "{body}");
    let (status, _) = d.raw("POST", "/commit?container=nosuch");
    assert_eq!(status, 404);
}

#[test]
fn stats_update_and_system_df() {
    let d = daemon_with_busybox();
    let id = d.berth(&["run", "-d", "--name", "s1", "--network", "none", "busybox", "sleep", "300"]).ok().trim().to_owned();

    let out = d.berth(&["stats", "--no-stream", "s1"]).ok();
    let row = out.lines().nth(1).unwrap_or("");
    assert!(row.starts_with(&id[..12]) && row.contains("s1"), "{out}");
    let (status, body) = d.raw("GET", "/containers/s1/stats?stream=false&one-shot=true");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert!(v["memory_stats"]["usage"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["name"], "/s1");
    assert!(v["cpu_stats"]["system_cpu_usage"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["pids_stats"]["current"], 1);
    if let Some(r) = d.docker(&["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "s1"]) {
        let o = r.ok();
        assert!(o.starts_with("s1 ") && !o.starts_with("s1 0B"), "{o}");
    }

    // Streamed: one object a second, each with the previous sample as precpu.
    {
        use std::io::{Read, Write};
        let mut sock = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
        write!(sock, "GET /containers/s1/stats HTTP/1.1\r\nHost: berth\r\n\r\n").unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_millis(300))).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(2600);
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        while std::time::Instant::now() < deadline {
            if let Ok(n) = sock.read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
        }
        let body = text(&got);
        let objs: Vec<serde_json::Value> = body.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok()).filter(|v| v.is_object()).collect();
        assert!(objs.len() >= 2, "{body}");
        assert_eq!(objs[1]["precpu_stats"]["cpu_usage"]["total_usage"], objs[0]["cpu_stats"]["cpu_usage"]["total_usage"]);
    }

    d.berth(&["update", "-m", "64m", "--pids-limit", "50", "s1"]).ok();
    assert_eq!(d.berth(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "s1"]).ok().trim(), "67108864 50");
    let cg = format!("/sys/fs/cgroup/memory/berth/{id}/memory.limit_in_bytes");
    // cgroup v1 hosts (these machines): the limit is in the container's memory cgroup.
    let v1 = Path::new("/sys/fs/cgroup/memory").is_dir();
    if v1 {
        assert_eq!(std::fs::read_to_string(&cg).unwrap_or_else(|e| panic!("{cg}: {e}")).trim(), "67108864");
    }
    if let Some(r) = d.docker(&["update", "--memory", "96m", "--memory-swap", "200m", "s1"]) {
        r.ok();
        assert_eq!(d.berth(&["inspect", "-f", "{{.HostConfig.Memory}}", "s1"]).ok().trim(), "100663296");
        if v1 {
            assert_eq!(std::fs::read_to_string(&cg).unwrap().trim(), "100663296");
        }
    }
    let bad = d.berth(&["update", "-m", "1k", "s1"]).output();
    assert!(!bad.status.success() && text(&bad.stderr).contains("Minimum memory limit"), "{}", text(&bad.stderr));

    // Stopped: zeroed stats, as Docker answers.
    d.berth(&["stop", "-t", "0", "s1"]).ok();
    let (status, body) = d.raw("GET", "/containers/s1/stats?stream=false");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(v["read"], "0001-01-01T00:00:00Z");

    let (status, body) = d.raw("GET", "/system/df");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["LayersSize"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["Images"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(v["Images"][0]["Containers"], 1);
    assert_eq!(v["Containers"][0]["Names"][0], "/s1");
    assert!(v["Containers"][0]["SizeRootFs"].as_i64().unwrap_or(0) > 0);
    assert!(v["Volumes"].as_array().is_some_and(|a| a.is_empty()));
    if let Some(r) = d.docker(&["system", "df"]) {
        let o = r.ok();
        assert!(o.lines().nth(1).is_some_and(|l| l.starts_with("Images") && l.contains(" 1 ")), "{o}");
    }
}
