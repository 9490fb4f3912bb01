//! End to end: container commands through `berth` against a real berthd (and, when
//! installed, the same checks through the real docker CLI on the same socket).

mod common;

use common::Daemon;

fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
    d
}

fn status(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_foreground_streams_and_exit_codes() {
    let d = daemon_with_busybox();
    let out = d.berth(&["run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]).output();
    assert_eq!(status(&out), 3, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\n");
    assert_eq!(text(&out.stderr), "err\n");
    // --rm: the daemon removed it.
    assert_eq!(d.berth(&["ps", "-aq"]).ok(), "");

    let out = d.berth(&["run", "--network", "none", "busybox", "nosuchcmd"]).output();
    assert_eq!(status(&out), 127, "{}", text(&out.stderr));
    let out = d.berth(&["run", "--network", "none", "busybox", "/etc"]).output();
    assert_eq!(status(&out), 126, "{}", text(&out.stderr));
    let out = d.berth(&["run", "--pull", "never", "nosuchimage"]).output();
    assert_eq!(status(&out), 125, "{}", text(&out.stderr));

    let out = d.berth(&["run", "-i", "--rm", "--network", "none", "busybox", "cat"]).stdin(b"through stdin\n".to_vec()).output();
    assert_eq!(status(&out), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "through stdin\n");

    let out = d.berth(&["run", "-t", "--rm", "--network", "none", "busybox", "echo", "tty"]).output();
    assert_eq!(text(&out.stdout), "tty\r\n");
}

#[test]
fn bad_flags_fail_before_the_daemon() {
    let d = daemon_with_busybox();
    for (args, needle) in [
        (&["run", "-m", "12q", "busybox"][..], "invalid suffix: 'q'"),
        (&["run", "-p", "99999:80", "busybox"][..], "invalid hostPort: 99999"),
        (&["run", "--restart", "sometimes", "busybox"][..], "sometimes"),
        (&["run", "--ulimit", "nofile=x", "busybox"][..], "--ulimit"),
    ] {
        let out = d.berth(args).output();
        assert_eq!(status(&out), 125, "{args:?}");
        assert!(text(&out.stderr).contains(needle), "{args:?}: {}", text(&out.stderr));
    }
    assert_eq!(d.berth(&["ps", "-aq"]).ok(), "", "nothing was created");
}

#[test]
fn detached_lifecycle_ps_logs_exec_stop_rm() {
    let d = daemon_with_busybox();
    let id = d.berth(&["run", "-d", "--name", "web", "--network", "none", "-l", "tier=front", "busybox", "sh", "-c", "echo started; exec sleep 100"]).ok();
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");

    let ps = d.berth(&["ps"]).ok();
    let lines: Vec<&str> = ps.lines().collect();
    assert!(lines[0].starts_with("CONTAINER ID   IMAGE     COMMAND"), "{ps}");
    assert!(lines[1].starts_with(&id[..12]) && lines[1].contains("\"sh -c 'echo started…\"") && lines[1].contains("Up ") && lines[1].ends_with("web"), "{ps}");
    assert_eq!(d.berth(&["ps", "--format", "{{.Names}} {{.State}} {{.Label \"tier\"}}"]).ok(), "web running front\n");
    assert_eq!(d.berth(&["ps", "-q", "--no-trunc"]).ok().trim(), id);

    // Logs need the process to have written: poll briefly.
    let mut logs = String::new();
    for _ in 0..50 {
        logs = d.berth(&["logs", "web"]).ok();
        if !logs.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(logs, "started\n");

    let out = d.berth(&["exec", "web", "sh", "-c", "echo in-exec; exit 4"]).output();
    assert_eq!((status(&out), text(&out.stdout)), (4, "in-exec\n".to_owned()));
    let out = d.berth(&["exec", "-i", "web", "cat"]).stdin(b"x\n".to_vec()).output();
    assert_eq!(text(&out.stdout), "x\n");

    assert_eq!(d.berth(&["inspect", "-f", "{{.State.Status}} {{.Name}}", "web"]).ok(), "running /web\n");
    assert_eq!(d.berth(&["container", "inspect", "-f", "{{.Config.Labels.tier}}", "web"]).ok(), "front\n");
    let out = d.berth(&["inspect", "nope"]).output();
    assert_eq!(status(&out), 1);
    assert!(text(&out.stderr).contains("Error: No such object: nope"));

    assert!(d.berth(&["top", "web"]).ok().contains("sleep 100"));
    d.berth(&["pause", "web"]).ok();
    assert!(d.berth(&["ps", "--format", "{{.Status}}"]).ok().contains("(Paused)"));
    d.berth(&["unpause", "web"]).ok();

    assert_eq!(d.berth(&["stop", "-t", "1", "web"]).ok(), "web\n");
    assert_eq!(d.berth(&["wait", "web"]).ok(), "137\n");
    assert!(d.berth(&["ps", "-a", "--format", "{{.Status}}"]).ok().starts_with("Exited (137)"));
    assert_eq!(d.berth(&["ps", "-q"]).ok(), "");
    d.berth(&["rename", "web", "web2"]).ok();
    assert_eq!(d.berth(&["rm", "web2"]).ok(), "web2\n");
    let out = d.berth(&["rm", "web2"]).output();
    assert_eq!(status(&out), 1);
    assert!(text(&out.stderr).contains("No such container"), "{}", text(&out.stderr));

    if let Some(r) = d.docker(&["ps", "-a", "--format", "{{.Names}}"]) {
        assert_eq!(r.ok(), "");
    }
}

#[test]
fn create_start_attach_and_prune() {
    let d = daemon_with_busybox();
    let id = d.berth(&["create", "--name", "c1", "--network", "none", "busybox", "sh", "-c", "echo hi; exit 2"]).ok();
    assert_eq!(id.trim().len(), 64);
    assert!(d.berth(&["ps", "-a", "--format", "{{.Status}}"]).ok().starts_with("Created"));
    let out = d.berth(&["start", "-a", "c1"]).output();
    assert_eq!((status(&out), text(&out.stdout)), (2, "hi\n".to_owned()));
    // Again once exited, as docker: the daemon takes the attach and streams the new run.
    let out = d.berth(&["start", "-a", "c1"]).output();
    assert_eq!((status(&out), text(&out.stdout), text(&out.stderr)), (2, "hi\n".to_owned(), String::new()));
    let out = d.berth(&["attach", "c1"]).output();
    assert!(text(&out.stderr).contains("You cannot attach to a stopped container, start it first"), "{out:?}");
    let out = d.berth(&["container", "prune", "-f"]).ok();
    assert!(out.starts_with("Deleted Containers:\n") && out.contains(id.trim()), "{out}");
}

#[test]
fn cp_both_ways() {
    let d = daemon_with_busybox();
    d.berth(&["run", "-d", "--name", "f1", "--network", "none", "busybox", "sleep", "100"]).ok();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.txt");
    std::fs::write(&src, "content\n").unwrap();
    d.berth(&["cp", src.to_str().unwrap(), "f1:/tmp/x"]).ok();
    assert_eq!(d.berth(&["exec", "f1", "cat", "/tmp/x"]).ok(), "content\n");
    let back = dir.path().join("back.txt");
    d.berth(&["cp", "f1:/tmp/x", back.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "content\n");
    d.berth(&["rm", "-f", "f1"]).ok();
}

/// CPU ticks (user + system) a process has used, from /proc/<pid>/stat.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_containers_shim_sleeps() {
    // A shim left polling a descriptor that is always ready (once: its signalfd
    // replaced by /dev/null) burns a core per container while everything still works.
    let d = daemon_with_busybox();
    let id = d.berth(&["run", "-d", "--network", "none", "busybox", "sleep", "100"]).ok().trim().to_owned();
    let pid = std::fs::read_to_string(d.dir.path().join("run/c").join(&id).join("shim.pid")).unwrap().trim().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = cpu_ticks(&pid);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let used = cpu_ticks(&pid) - before;
    // A busy loop takes ~100 ticks a second; an idle shim none (its one page trim, a few).
    assert!(used < 20, "berth-shim used {used} ticks of CPU in 1 s while its container slept");
    d.berth(&["rm", "-f", &id]).ok();
}
