//! End to end: what stands between a container and the host, checked from inside
//! containers and from the host — Docker's default capabilities, seccomp profile,
//! masked and read-only paths and device rules; what --privileged, --cap-add/drop ALL,
//! custom profiles, no-new-privileges and --read-only change; pids and memory limits
//! holding; berthd's own files and socket private; and escape attempts through image
//! layers, bind targets, volume names and `cp` refused with the host unchanged.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{daemon_with_busybox, make_tar, Daemon};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `sh -c script` in a fresh busybox container with `flags`; (exit code, stdout+stderr).
fn sh(d: &Daemon, flags: &[&str], script: &str) -> (i32, String) {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    let o = d.berth(&args).output();
    (o.status.code().unwrap_or(-1), format!("{}{}", text(&o.stdout), text(&o.stderr)))
}

fn status_field(out: &str, key: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).map(|v| v.trim().to_owned()).unwrap_or_else(|| panic!("no {key} in {out}"))
}

/// Docker's 14 default capabilities as /proc/self/status prints them.
const DEFAULT_CAPS_HEX: &str = "00000000a80425fb";

/// The capability mask of every capability this test process (root, as berthd) holds.
fn own_caps_hex() -> String {
    status_field(&std::fs::read_to_string("/proc/self/status").unwrap(), "CapBnd")
}

#[test]
fn defaults_are_dockers_caps_seccomp_masks_and_devices() {
    let d = daemon_with_busybox();
    let (rc, out) = sh(&d, &[], "grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status");
    assert_eq!(rc, 0, "{out}");
    for k in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&out, k), DEFAULT_CAPS_HEX, "{k}: {out}");
    }
    assert_eq!(status_field(&out, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&out, "Seccomp"), "2", "filter mode: {out}");
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");

    // Syscalls the default profile blocks (the caps alone would not stop unshare -U).
    let (rc, out) = sh(&d, &[], "unshare -U true");
    assert_ne!(rc, 0);
    assert!(out.contains("Operation not permitted"), "{out}");
    let (rc, out) = sh(&d, &["--security-opt", "seccomp=unconfined"], "unshare -U true && echo unshared");
    assert_eq!((rc, out.trim()), (0, "unshared"), "without the profile the same call succeeds");
    let (rc, out) = sh(&d, &[], "mount -t tmpfs none /mnt");
    assert_ne!(rc, 0, "{out}");

    // Masked paths read empty; read-only ones refuse writes; /sys is read-only.
    let (_, out) = sh(&d, &[], "for f in /proc/keys /proc/timer_list; do wc -c < $f; done; ls -A /sys/firmware | wc -l");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec!["0", "0", "0"], "{out}");
    let (rc, out) = sh(&d, &[], "echo 1 > /proc/sys/vm/drop_caches");
    assert_ne!(rc, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    let (rc, out) = sh(&d, &[], "touch /sys/kernel/berth-probe");
    assert_ne!(rc, 0);
    assert!(out.contains("Read-only file system"), "{out}");

    // A device outside the defaults: the node can be made (CAP_MKNOD) but not opened.
    let (rc, out) = sh(&d, &[], "mknod /tmp/lat c 10 259 && head -c 4 /tmp/lat");
    assert_ne!(rc, 0);
    assert!(out.contains("Operation not permitted"), "{out}");
    let (rc, out) = sh(&d, &[], "head -c 4 /dev/zero | wc -c");
    assert_eq!((rc, out.trim()), (0, "4"), "default devices stay usable");

    // No host process is visible: only this shell and its children.
    let (_, out) = sh(&d, &[], "ls /proc | grep -c '^[0-9]'");
    assert!(out.trim().parse::<u32>().unwrap() <= 3, "processes visible: {out}");

    // The container's init holds no descriptor beyond stdio (nothing leaked from berthd
    // or the shim), checked from the host.
    d.berth(&["run", "-d", "--name", "fds", "busybox", "sleep", "300"]).ok();
    let pid = d.berth(&["inspect", "-f", "{{.State.Pid}}", "fds"]).ok().trim().to_owned();
    // `start` returns once the init was told to exec; wait until it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() != "sleep" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let fds: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap()).collect();
    assert!(fds.iter().all(|fd| *fd <= 2), "fds of the container's init: {fds:?}");
    let hc = d.berth(&["inspect", "-f", "{{json .HostConfig.Privileged}} {{json .HostConfig.CapAdd}} {{json .HostConfig.SecurityOpt}}", "fds"]).ok();
    assert_eq!(hc.trim(), "false null null");
    let info = d.berth(&["info", "-f", "{{json .SecurityOptions}}"]).ok();
    assert!(info.contains("name=seccomp,profile=builtin"), "{info}");
    d.berth(&["rm", "-f", "fds"]).ok();
}

#[test]
fn privileged_cap_all_custom_profiles_nnp_and_read_only() {
    let d = daemon_with_busybox();
    let all = own_caps_hex();
    let (rc, out) = sh(&d, &["--privileged"], "grep -E '^(CapEff|Seccomp):' /proc/self/status; grep ' /sys ' /proc/mounts; head -c 4 /dev/cpu_dma_latency | wc -c");
    assert_eq!(rc, 0, "{out}");
    assert_eq!(status_field(&out, "CapEff"), all, "every capability berthd holds");
    assert_eq!(status_field(&out, "Seccomp"), "0", "no filter when privileged");
    assert!(out.contains("sysfs /sys sysfs rw"), "{out}");
    assert_eq!(out.lines().last().unwrap().trim(), "4", "host devices usable: {out}");

    let (_, out) = sh(&d, &["--cap-add", "ALL"], "grep -E '^(CapEff|Seccomp):' /proc/self/status");
    assert_eq!(status_field(&out, "CapEff"), all);
    assert_eq!(status_field(&out, "Seccomp"), "2", "--cap-add ALL keeps the profile");
    let (_, out) = sh(&d, &["--cap-drop", "ALL"], "grep CapEff /proc/self/status");
    assert_eq!(status_field(&out, "CapEff"), "0000000000000000");
    let (_, out) = sh(&d, &["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"], "grep CapEff /proc/self/status");
    assert_eq!(status_field(&out, "CapEff"), "0000000000000400");
    let (_, out) = sh(&d, &["--cap-drop", "chown", "--cap-add", "sys_admin"], "grep CapEff /proc/self/status; mount -t tmpfs none /tmp && echo mounted");
    assert_eq!(status_field(&out, "CapEff"), "00000000a82425fa", "{out}");
    assert!(out.contains("mounted"), "the profile lets CAP_SYS_ADMIN mount: {out}");

    // A profile file: the CLI sends its contents, the filter applies it.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("no-mkdir.json");
    std::fs::write(&profile, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
    let opt = format!("seccomp={}", profile.display());
    let (rc, out) = sh(&d, &["--security-opt", &opt], "mkdir /tmp/x");
    assert_ne!(rc, 0);
    assert!(out.contains("Operation not permitted"), "{out}");
    let (rc, _) = sh(&d, &["--security-opt", &opt], "touch /tmp/x");
    assert_eq!(rc, 0, "only what the profile names is blocked");

    let (_, out) = sh(&d, &["--security-opt", "no-new-privileges"], "grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");

    let (rc, out) = sh(&d, &["--read-only"], "touch /probe");
    assert_ne!(rc, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    let (rc, out) = sh(&d, &["--read-only"], "touch /tmp/probe");
    assert_ne!(rc, 0, "no writable /tmp unless asked: {out}");
    let (rc, out) = sh(&d, &["--read-only", "--tmpfs", "/tmp"], "touch /tmp/probe && echo ok");
    assert_eq!((rc, out.trim()), (0, "ok"));
}

#[test]
fn bad_security_input_is_refused_before_anything_exists() {
    let d = daemon_with_busybox();
    let none_left = |d: &Daemon| assert_eq!(d.berth(&["ps", "-aq"]).ok().trim(), "", "a container was left behind");

    let o = d.berth(&["run", "--rm", "--cap-add", "CAP_BOGUS", "busybox", "true"]).output();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("unknown capability: \"CAP_BOGUS\""), "{}", text(&o.stderr));
    none_left(&d);

    let o = d.berth(&["run", "--rm", "--security-opt", "seccomp=/nonexistent/profile.json", "busybox", "true"]).output();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("opening seccomp profile (/nonexistent/profile.json) failed"), "{}", text(&o.stderr));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    let o = d.berth(&["run", "--rm", "--security-opt", &format!("seccomp={}", bad.display()), "busybox", "true"]).output();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("seccomp profile"), "{}", text(&o.stderr));
    none_left(&d);

    // Through the API (what other clients send): bad JSON, an unknown syscall, an
    // unknown option — 400 naming the problem, nothing created.
    for (opt, want) in [
        (r#"seccomp={\"defaultAction\": 3}"#, "invalid seccomp profile"),
        (r#"seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\"],\"action\":\"SCMP_ACT_BOGUS\"}]}"#, "SCMP_ACT_BOGUS"),
        ("apparmor=berth-custom", "invalid --security-opt"),
    ] {
        let body = format!(r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{{"SecurityOpt":["{opt}"]}}}}"#);
        let (code, resp) = d.post_json("/containers/create", &body);
        assert_eq!(code, 400, "{opt}: {resp}");
        assert!(resp.contains(want), "{opt}: {resp}");
    }
    none_left(&d);
}

#[test]
fn pids_and_memory_limits_contain_a_fork_bomb_and_an_oom() {
    let d = daemon_with_busybox();
    // Forking until it fails against a limit of 20: the bomb stops at the limit (the
    // shell gives up when fork fails), the container and the host carry on.
    d.berth(&["run", "-d", "--name", "bomb", "--network", "none", "--pids-limit", "20", "busybox", "sleep", "300"]).ok();
    let o = d.berth(&["exec", "bomb", "sh", "-c", "while true; do sleep 30 & done 2>/dev/null"]).output();
    assert!(!o.status.success(), "the fork loop ended only when fork failed");
    let n: u32 = d.berth(&["stats", "--no-stream", "--format", "{{.PIDs}}", "bomb"]).ok().trim().parse().unwrap();
    assert!((15..=20).contains(&n), "processes in the container: {n}");
    d.berth(&["rm", "-f", "bomb"]).ok();
    d.berth(&["version"]).ok();

    // 64 MB into a shell variable under a 16 MB limit: the kernel kills it, and only it.
    d.berth(&["run", "--name", "oom", "--network", "none", "--memory", "16m", "busybox", "sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived"]).output();
    let st = d.berth(&["inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", "oom"]).ok();
    assert_eq!(st.trim(), "137 true");
    d.berth(&["rm", "oom"]).ok();
    assert_eq!(sh(&d, &[], "echo alive").1.trim(), "alive");
}

#[test]
fn berthd_files_and_socket_are_private() {
    let d = daemon_with_busybox();
    let data = d.dir.path().join("root");
    let mode = |p: &Path| std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777;
    assert_eq!(mode(&data), 0o710, "data root (CVE-2021-41091: no way in for other users)");
    for f in ["berth.db", "berth.db-wal"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f} holds every container's environment");
    }
    assert_eq!(mode(&d.sock) & 0o777, 0o660, "socket");
    let md = std::fs::metadata(&d.sock).unwrap();
    assert_eq!(md.uid(), 0);
    // An unprivileged user cannot reach a container's rootfs through the data root.
    d.berth(&["run", "-d", "--name", "priv", "busybox", "sleep", "300"]).ok();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "ls"])
        .arg(data.join("containers"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "nobody listed the containers dir: {}", text(&out.stdout));
}

#[test]
fn escape_attempts_are_refused_and_the_host_is_unchanged() {
    let d = daemon_with_busybox();
    let host = tempfile::tempdir().unwrap();
    let victim_dir = host.path().join("victim-dir");
    std::fs::create_dir(&victim_dir).unwrap();
    let victim = host.path().join("victim-file");
    std::fs::write(&victim, "host data").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let vd = victim_dir.to_str().unwrap();
    let vf = victim.to_str().unwrap();

    // Hostile layers: write through a symlink planted earlier in the archive, a hard
    // link to a host file, `..` climbing out. Each is refused or confined to the layer.
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    let hostile = [
        vec![s("evil", &format!("->{vd}")), s("evil/pwned", "x")],
        vec![s("hl", &format!("=>{vf}")), s("hl", "overwritten")],
        vec![s(&format!("../../../../../../..{vd}/climb"), "x")],
        vec![s("rel", "->../../../../../../../../../"), s(&format!("rel{vd}/rel-pwned"), "x")],
    ];
    for (i, entries) in hostile.iter().enumerate() {
        let e: Vec<(&str, &str)> = entries.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
        let tag = format!("hostile:{i}");
        let o = d.berth(&["import", "-", &tag]).stdin(make_tar(&e)).output();
        if o.status.success() {
            // Confined: running it sees only the container's own files.
            let _ = d.berth(&["run", "--rm", "--network", "none", &tag, "true"]).output();
        }
    }
    assert_eq!(std::fs::read_dir(&victim_dir).unwrap().count(), 0, "a layer wrote into the host");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "host data");

    // Bind and volume targets behind a symlink the image planted: mounted inside.
    d.berth(&["import", "-", "linky"]).stdin(make_tar(&[("mnt", &format!("->{vd}"))])).ok();
    let src = host.path().join("src");
    std::fs::create_dir(&src).unwrap();
    d.berth(&["create", "--name", "bindy", "--network", "none", "-v", &format!("{}:/mnt/sub", src.display()), "linky", "true"]).ok();
    let _ = d.berth(&["start", "bindy"]).output();
    assert!(!victim_dir.join("sub").exists(), "a mount target was created on the host");
    // Volume names and mount sources cannot be paths out.
    let o = d.berth(&["run", "--rm", "-v", "../../etc:/x", "busybox", "true"]).output();
    assert!(!o.status.success(), "relative bind source accepted");
    let o = d.berth(&["run", "--rm", "--mount", "type=volume,source=../escape,target=/x", "busybox", "true"]).output();
    assert!(!o.status.success(), "volume name with a path accepted");
    assert!(!d.dir.path().join("root/escape").exists());

    // cp onto a symlink to a host file (CVE-2021-41089 class): the container's own
    // path is written, the host file keeps its data and mode.
    d.berth(&["run", "-d", "--name", "cpy", "--network", "none", "busybox", "sleep", "300"]).ok();
    d.berth(&["exec", "cpy", "ln", "-s", vf, "/target"]).ok();
    let payload = host.path().join("payload");
    std::fs::write(&payload, "from cp").unwrap();
    std::fs::set_permissions(&payload, std::fs::Permissions::from_mode(0o777)).unwrap();
    let _ = d.berth(&["cp", payload.to_str().unwrap(), "cpy:/target"]).output();
    let _ = d.berth(&["cp", "-", "cpy:/"]).stdin(make_tar(&[("target", "via tar")])).output();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "host data");
    assert_eq!(std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777, 0o600);
    // Reading through it gives the container's view, never the host file.
    let o = d.berth(&["cp", "cpy:/target", "-"]).output();
    assert!(!text(&o.stdout).contains("host data"));
}

/// A build context directory with `files` (name, contents; `->T` makes a symlink).
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        match data.strip_prefix("->") {
            Some(target) => std::os::unix::fs::symlink(target, &p).unwrap(),
            None => std::fs::write(&p, data).unwrap(),
        }
    }
    dir
}

#[test]
fn builds_cannot_reach_outside_their_context_and_mounts() {
    let d = daemon_with_busybox();
    let host = tempfile::tempdir().unwrap();
    let probe = host.path().join("probe");
    std::fs::write(&probe, "host secret").unwrap();
    let hp = host.path().to_str().unwrap();

    // RUN steps are sandboxed as containers are (CVE-2024-23653 class: no step gets
    // more than a container would), and --security=insecure is refused.
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN grep -E '^(CapEff|Seccomp):' /proc/self/status > /caps\n")]);
    d.berth(&["build", "-q", "-t", "caps", ctx.path().to_str().unwrap()]).ok();
    let out = d.berth(&["run", "--rm", "caps", "cat", "/caps"]).ok();
    assert_eq!(status_field(&out, "CapEff"), DEFAULT_CAPS_HEX);
    assert_eq!(status_field(&out, "Seccomp"), "2");
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN --security=insecure true\n")]);
    let o = d.berth(&["build", ctx.path().to_str().unwrap()]).output();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("security.insecure"), "{}", text(&o.stderr));

    // A RUN that swaps a mount point's parent for a symlink to a host directory while
    // mounted (CVE-2024-23652): the cleanup afterwards must not remove the host's copy.
    std::fs::create_dir_all(host.path().join("b/c")).unwrap();
    let df = format!("FROM busybox\nRUN --mount=type=tmpfs,target=/a/b/c sh -c 'mv /a /a.old && ln -s {hp} /a'\n");
    let ctx = context(&[("Dockerfile", &df)]);
    d.berth(&["build", "-q", "-t", "swap", ctx.path().to_str().unwrap()]).ok();
    assert!(host.path().join("b/c").is_dir(), "the build's cleanup removed a host directory");

    // Bind mounts of the context and COPY resolve inside the context: `..`, absolute
    // symlinks and symlinked parents all stay in it (CVE-2024-23651 class).
    for (name, df) in [
        ("dotdot", format!("FROM busybox\nRUN --mount=type=bind,source=../../../../../../..{hp},target=/m cat /m/probe\n")),
        ("abslink", "FROM busybox\nRUN --mount=type=bind,source=hostlink,target=/m cat /m/probe\n".to_string()),
        ("copylink", "FROM busybox\nCOPY hostlink/probe /probe\nRUN cat /probe\n".to_string()),
        ("copyfile", "FROM busybox\nCOPY probelink /probe\nRUN cat /probe\n".to_string()),
    ] {
        let ctx = context(&[("Dockerfile", &df), ("hostlink", &format!("->{hp}")), ("probelink", &format!("->{}", probe.display()))]);
        let o = d.berth(&["build", "--progress", "plain", "-t", name, ctx.path().to_str().unwrap()]).output();
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(!all.contains("host secret"), "{name}: a build read a host file:\n{all}");
        if o.status.success() {
            let out = d.berth(&["run", "--rm", name, "cat", "/probe"]).output();
            assert!(!text(&out.stdout).contains("host secret"), "{name}: the image holds a host file");
        }
    }
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY ../outside /x\n")]);
    let o = d.berth(&["build", ctx.path().to_str().unwrap()]).output();
    assert!(!o.status.success(), "COPY of a path outside the context");
    assert_eq!(std::fs::read_to_string(&probe).unwrap(), "host secret");
}

/// The first /etc/subuid start of `user`.
fn subuid_start(user: &str) -> u32 {
    let text = std::fs::read_to_string("/etc/subuid").unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{user}:"))?.split(':').next()?.parse().ok()).unwrap_or_else(|| panic!("no {user} in /etc/subuid"))
}

#[test]
fn userns_remap_runs_container_root_as_an_unprivileged_host_uid() {
    let d = Daemon::start_with_config(r#""userns-remap": "default""#);
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
    let base = subuid_start("berth");
    assert!(base >= 100_000, "remapped root {base}");

    // Inside: root, mapped; the image's root-owned files look root-owned (id-mapped
    // layers), and root may write where root may.
    let out = d.berth(&["run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map; stat -c %u /bin/busybox; touch /etc/new && echo wrote"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), vec!["0", &base.to_string(), "65536"]);
    assert_eq!(lines[2], "0", "layer files owned by the container's root");
    assert_eq!(lines[3], "wrote");

    // Outside: the process and its files belong to the unprivileged host uid.
    d.berth(&["run", "-d", "--name", "u1", "busybox", "sh", "-c", "echo x > /made-inside; exec sleep 300"]).ok();
    let pid = d.berth(&["inspect", "-f", "{{.State.Pid}}", "u1"]).ok().trim().to_owned();
    let id = d.berth(&["inspect", "-f", "{{.Id}}", "u1"]).ok().trim().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let made = d.dir.path().join("root/containers").join(&id).join("upper/made-inside");
    while !made.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids: Vec<u32> = status_field(&status, "Uid").split_whitespace().map(|u| u.parse().unwrap()).collect();
    assert!(uids.iter().all(|u| *u == base), "host uids of the container's root: {uids:?}");
    assert_eq!(std::fs::metadata(&made).unwrap().uid(), base, "a file the container wrote");
    // exec enters the same user namespace.
    let out = d.berth(&["exec", "u1", "sh", "-c", "id -u; cat /proc/self/uid_map"]).ok();
    assert!(out.starts_with("0\n") && out.contains(&base.to_string()), "{out}");
    // cp in and out: owners are the container's ids (written as host ids, archived as
    // the ids inside).
    let src = d.dir.path().join("cp-in.txt");
    std::fs::write(&src, "in").unwrap();
    d.berth(&["cp", src.to_str().unwrap(), "u1:/cp-in.txt"]).ok();
    assert_eq!(d.berth(&["exec", "u1", "stat", "-c", "%u:%g", "/cp-in.txt"]).ok().trim(), "0:0", "copied in as the container's root");
    let copied = d.dir.path().join("root/containers").join(&id).join("upper/cp-in.txt");
    assert_eq!(std::fs::metadata(&copied).unwrap().uid(), base, "host side: the remapped uid");
    let out = d.berth(&["cp", "u1:/made-inside", "-"]).output();
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let owners: Vec<(u64, u64)> = archive.entries().unwrap().map(|e| {
        let h = e.unwrap().header().clone();
        (h.uid().unwrap(), h.gid().unwrap())
    }).collect();
    assert_eq!(owners, vec![(0, 0)], "archived with the ids inside");
    // Secrets reach a remapped container, owned as asked inside.
    d.berth(&["secret", "create", "rpw", "-"]).stdin(b"s3cret".to_vec()).ok();
    let out = d.berth(&["run", "--rm", "--secret", "rpw", "--secret", "source=rpw,target=/etc/pw,uid=1000,mode=0400", "busybox", "sh", "-c", "cat /run/secrets/rpw; echo; stat -c %u:%a /etc/pw"]).ok();
    assert_eq!(out, "s3cret\n1000:400\n");
    // Named volumes are the container root's to write.
    d.berth(&["run", "--rm", "-v", "uv:/data", "busybox", "touch", "/data/ok"]).ok();

    // A build's RUN steps run remapped, yet the layer records the ids as seen inside.
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN touch /f && chown 5:6 /f\n")]);
    d.berth(&["build", "-q", "-t", "made", ctx.path().to_str().unwrap()]).ok();
    let out = d.berth(&["run", "--rm", "--userns", "host", "made", "stat", "-c", "%u:%g", "/f"]).ok();
    assert_eq!(out.trim(), "5:6");

    // --userns=host opts out; --privileged needs it, as in Docker.
    let out = d.berth(&["run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map"]).ok();
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec!["0", "0", "4294967295"]);
    let o = d.berth(&["run", "--rm", "--privileged", "busybox", "true"]).output();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("privileged mode is incompatible with user namespaces"), "{}", text(&o.stderr));
    d.berth(&["run", "--rm", "--privileged", "--userns", "host", "busybox", "true"]).ok();
    let o = d.berth(&["run", "--rm", "--userns", "bogus", "busybox", "true"]).output();
    assert!(text(&o.stderr).contains("invalid USER mode"), "{}", text(&o.stderr));
    d.berth(&["rm", "-f", "u1"]).ok();
}

#[test]
fn userns_remap_with_an_unknown_user_stops_berthd_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("daemon.json");
    std::fs::write(&cfg, r#"{"userns-remap": "berth-no-such-user-xyz", "bridge": "btnouser0"}"#).unwrap();
    let o = std::process::Command::new(common::berthd())
        .args(["-H", &format!("unix://{}/s.sock", dir.path().display())])
        .arg("--data-root")
        .arg(dir.path().join("root"))
        .arg("--exec-root")
        .arg(dir.path().join("run"))
        .arg("--pidfile")
        .arg(dir.path().join("pid"))
        .arg("--config-file")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("userns-remap: no such user \"berth-no-such-user-xyz\""), "{}", text(&o.stderr));
    assert!(!dir.path().join("s.sock").exists(), "listened anyway");
}
