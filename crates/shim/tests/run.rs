//! berth-shim run: a container's stdio, attach, exit, log, cleanup.

mod common;

use std::io::Write;
use std::net::Shutdown;

use berth_shim::protocol::Request;
use common::*;

#[test]
fn output_frames_exit_json_and_log() {
    let b = Bundle::sh("echo out; echo err >&2; exit 3");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("c.log");
    let mut shim = Shim::run(&b, &["--log-driver", "json-file", "--log-path", log.to_str().unwrap()]);
    assert!(shim.ready.error.is_none(), "ready error: {:?}", shim.ready.error);
    let pid = shim.ready.pid.expect("ready without pid");
    assert!(pid > 0);
    assert_eq!(shim.ok(&Request::State).status.as_deref(), Some("created"));
    let mut a = shim.attach(false, vec![]);
    let w = shim.wait_request();
    let started = shim.start();
    assert_eq!(started.pid, Some(pid));
    let frames = read_frames(&mut a);
    assert_eq!(stream_text(&frames, 1), "out\n");
    assert_eq!(stream_text(&frames, 2), "err\n");
    let exit = wait_reply(w);
    assert_eq!(exit.exit_code, 3);
    assert!(!exit.oom_killed);
    assert_eq!(shim.exit_file(), exit);
    shim.wait_gone();
    shim.assert_clean();
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut got: Vec<(String, String)> = records.iter().map(|r| (r["stream"].as_str().unwrap().to_string(), r["log"].as_str().unwrap().to_string())).collect();
    got.sort();
    assert_eq!(got, vec![("stderr".to_string(), "err\n".to_string()), ("stdout".to_string(), "out\n".to_string())]);
    assert!(records.iter().all(|r| chrono::DateTime::parse_from_rfc3339(r["time"].as_str().unwrap()).is_ok()));
}

#[test]
fn stdin_reaches_cat_and_every_client_gets_output_then_sigkill_is_137() {
    let b = Bundle::new(&["cat"]);
    let shim = Shim::run(&b, &["--stdin"]);
    assert!(shim.ready.error.is_none(), "{:?}", shim.ready.error);
    let mut writer = shim.attach(true, vec![]);
    let mut watcher = shim.attach(false, vec![]);
    shim.start();
    writer.write_all(b"hello\n").unwrap();
    assert_eq!(read_frame(&mut writer), (1, b"hello\n".to_vec()));
    assert_eq!(read_frame(&mut watcher), (1, b"hello\n".to_vec()));
    let w = shim.wait_request();
    shim.ok(&Request::Kill { signal: 9, all: false });
    let exit = wait_reply(w);
    assert_eq!(exit.exit_code, 137);
    assert_eq!(shim.exit_file().exit_code, 137);
}

#[test]
fn stdin_once_closes_stdin_when_the_client_shuts_down_writing() {
    let b = Bundle::new(&["cat"]);
    let mut shim = Shim::run(&b, &["--stdin", "--stdin-once"]);
    let mut a = shim.attach(true, vec![]);
    let w = shim.wait_request();
    shim.start();
    a.write_all(b"abc\n").unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let frames = read_frames(&mut a);
    assert_eq!(stream_text(&frames, 1), "abc\n");
    assert_eq!(wait_reply(w).exit_code, 0);
    shim.wait_gone();
    shim.assert_clean();
}

#[test]
fn terminal_gives_raw_bytes_and_resize_reaches_stty() {
    let mut b = Bundle::sh("read x; stty size; read y; stty size; exit 7");
    b.config["process"]["terminal"] = serde_json::json!(true);
    let mut shim = Shim::run(&b, &["--stdin"]);
    assert!(shim.ready.error.is_none(), "{:?}", shim.ready.error);
    let mut a = shim.attach(true, vec![]);
    let w = shim.wait_request();
    shim.start();
    shim.ok(&Request::Resize { height: 30, width: 100 });
    a.write_all(b"a\n").unwrap();
    read_until(&mut a, "30 100");
    shim.ok(&Request::Resize { height: 41, width: 123 });
    a.write_all(b"b\n").unwrap();
    read_until(&mut a, "41 123");
    assert_eq!(wait_reply(w).exit_code, 7);
    shim.wait_gone();
    shim.assert_clean();
}

#[test]
fn json_file_rotation_keeps_max_file_files() {
    let b = Bundle::sh("i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("c.log");
    let mut shim = Shim::run(&b, &["--log-driver=json-file", "--log-path", log.to_str().unwrap(), "--log-opt", "max-size=2k", "--log-opt", "max-file=3"]);
    let w = shim.wait_request();
    shim.start();
    assert_eq!(wait_reply(w).exit_code, 0);
    shim.wait_gone();
    let mut names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["c.log", "c.log.1", "c.log.2"]);
    let mut lines = Vec::new();
    for n in ["c.log.2", "c.log.1", "c.log"] {
        let text = std::fs::read_to_string(dir.path().join(n)).unwrap();
        if n != "c.log" {
            let len = text.len();
            assert!((2048..2048 + 200).contains(&len), "{n} is {len} bytes");
        }
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["stream"], "stdout");
            lines.push(v["log"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(lines.last().unwrap(), "line299\n");
    // What is kept is the newest output, in order and without gaps.
    let first: usize = lines[0].trim().trim_start_matches("line").parse().unwrap();
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l, &format!("line{}\n", first + i));
    }
}

#[test]
fn detach_keys_drop_the_client_and_the_container_keeps_running() {
    let b = Bundle::new(&["cat"]);
    let shim = Shim::run(&b, &["--stdin"]);
    let mut a = shim.attach(true, vec![16, 17]);
    shim.start();
    a.write_all(b"one\n\x10x\n").unwrap();
    let mut got = Vec::new();
    while got.len() < 7 {
        got.extend(read_frame(&mut a).1);
    }
    // A partial match is passed on once it fails.
    assert_eq!(got, b"one\n\x10x\n");
    a.write_all(b"\x10\x11").unwrap();
    assert!(read_frames(&mut a).is_empty(), "detached client got more output");
    assert_eq!(shim.ok(&Request::State).status.as_deref(), Some("running"));
    let mut again = shim.attach(true, vec![]);
    again.write_all(b"two\n").unwrap();
    assert_eq!(read_frame(&mut again), (1, b"two\n".to_vec()));
    let w = shim.wait_request();
    // cat is the namespace's init: SIGTERM without a handler does not reach it.
    shim.ok(&Request::Kill { signal: 9, all: false });
    assert_eq!(wait_reply(w).exit_code, 137);
}

#[test]
fn the_shim_outlives_its_parent() {
    let b = Bundle::new(&["sleep", "1000"]);
    let id = new_id();
    let root = tempfile::Builder::new().prefix("berth-shim-root").tempdir().unwrap();
    let dir = tempfile::Builder::new().prefix("berth-shim-dir").tempdir().unwrap();
    let (r, w) = ready_pipe();
    // sh starts the shim in the background and exits at once.
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg("\"$@\" & exit 0").arg("sh").arg(SHIM).args(["run", "--bundle", b.write().to_str().unwrap(), "--id", &id]);
    cmd.arg("--runtime-root").arg(root.path()).arg("--dir").arg(dir.path());
    with_ready_fd(&mut cmd, &w, &dir.path().join("shim.log"));
    let st = cmd.status().unwrap();
    drop(w);
    assert!(st.success());
    let ready = read_ready(r);
    assert!(ready.error.is_none(), "{:?}", ready.error);
    let root_path = root.path().to_path_buf();
    let mut shim = Shim { id, root: Some(root), root_path, dir, child: None, shim_pid: ready.shim_pid.unwrap(), ready };
    let pid_file: i32 = std::fs::read_to_string(shim.dir.path().join("shim.pid")).unwrap().trim().parse().unwrap();
    assert_eq!(pid_file, shim.shim_pid);
    shim.start();
    // The parent is gone; a new client still finds the shim.
    let st = shim.ok(&Request::State);
    assert_eq!(st.status.as_deref(), Some("running"));
    assert_eq!(st.pid, shim.ready.pid);
    let w = shim.wait_request();
    shim.ok(&Request::Kill { signal: 9, all: true });
    assert_eq!(wait_reply(w).exit_code, 137);
    shim.wait_gone();
    shim.assert_clean();
    assert_eq!(shim.exit_file().exit_code, 137);
}

#[test]
fn bad_requests_get_errors() {
    let b = Bundle::new(&["sleep", "1000"]);
    let shim = Shim::run(&b, &[]);
    for line in ["nonsense", "{\"op\":\"fly\"}", "{\"op\":\"kill\"}"] {
        let mut s = shim.connect();
        s.write_all(line.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
        let r = read_reply(&mut s);
        assert!(!r.ok && r.error.is_some(), "{line}: {r:?}");
    }
    let r = shim.request(&Request::Kill { signal: 0, all: false });
    assert!(!r.ok);
    shim.start();
    let r = shim.request(&Request::Start);
    assert!(!r.ok, "second start accepted");
    let w = shim.wait_request();
    shim.ok(&Request::Kill { signal: 9, all: false });
    assert_eq!(wait_reply(w).exit_code, 137);
}

#[test]
fn a_bad_bundle_gives_a_ready_error_and_leaves_nothing() {
    let b = Bundle::new(&["/no/such/program"]);
    let mut shim = Shim::run(&b, &[]);
    let err = shim.ready.error.clone().expect("no error for a missing program");
    assert!(shim.ready.pid.is_none());
    assert!(err.contains("no/such/program"), "{err}");
    let status = shim.child.take().unwrap().wait().unwrap();
    assert!(!status.success());
    shim.assert_clean();
    assert!(!shim.dir.path().join("shim.pid").exists());
    assert!(!shim.dir.path().join("console.sock").exists());

    let empty = tempfile::tempdir().unwrap();
    let mut shim = Shim::spawn(&new_id(), None, &["run".into(), "--bundle".into(), empty.path().to_str().unwrap().into()]);
    assert!(shim.ready.error.as_deref().unwrap_or("").contains("config.json"), "{:?}", shim.ready.error);
    assert!(!shim.child.take().unwrap().wait().unwrap().success());
    shim.assert_clean();
}

#[test]
fn a_client_that_does_not_read_is_dropped_and_the_container_runs_on() {
    // 8 MiB of output; one client never reads, one reads everything.
    let b = Bundle::sh("dd if=/dev/zero bs=65536 count=128 2>/dev/null; echo done");
    let shim = Shim::run(&b, &[]);
    let stuck = shim.attach(false, vec![]);
    let mut reader = shim.attach(false, vec![]);
    let w = shim.wait_request();
    shim.start();
    let frames = read_frames(&mut reader);
    let total: usize = frames.iter().map(|(_, p)| p.len()).sum();
    assert_eq!(total, 8 * 1024 * 1024 + 5);
    assert_eq!(wait_reply(w).exit_code, 0);
    drop(stuck);
}

#[test]
fn oom_kill_is_reported() {
    let mut b = Bundle::sh("tail /dev/zero");
    b.config["linux"]["resources"] = serde_json::json!({"memory": {"limit": 16777216, "swap": 16777216}});
    let mut shim = Shim::run(&b, &[]);
    assert!(shim.ready.error.is_none(), "{:?}", shim.ready.error);
    let w = shim.wait_request();
    shim.start();
    let exit = wait_reply(w);
    assert_eq!(exit.exit_code, 137);
    assert!(exit.oom_killed, "{exit:?}");
    shim.wait_gone();
    shim.assert_clean();
    assert!(shim.exit_file().oom_killed);
}

/// The same container life through an external runc-compatible runtime, when one is
/// installed.
#[test]
fn external_runtime_runc() {
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"].into_iter().find(|p| std::path::Path::new(p).exists()) else {
        eprintln!("runc not installed: skipped");
        return;
    };
    let b = Bundle::sh("echo out; echo err >&2; exit 6");
    let mut shim = Shim::run(&b, &["--runtime", runc]);
    assert!(shim.ready.error.is_none(), "{:?} {}", shim.ready.error, shim.shim_log());
    assert!(shim.ready.pid.is_some());
    let mut a = shim.attach(false, vec![]);
    let w = shim.wait_request();
    shim.start();
    let frames = read_frames(&mut a);
    assert_eq!(stream_text(&frames, 1), "out\n");
    assert_eq!(stream_text(&frames, 2), "err\n");
    assert_eq!(wait_reply(w).exit_code, 6);
    shim.wait_gone();
    shim.assert_clean();

    // Killed through runc, and a terminal.
    let mut b = Bundle::sh("tty; sleep 1000");
    b.config["process"]["terminal"] = serde_json::json!(true);
    let mut shim = Shim::run(&b, &["--runtime", runc]);
    assert!(shim.ready.error.is_none(), "{:?} {}", shim.ready.error, shim.shim_log());
    let mut a = shim.attach(false, vec![]);
    let w = shim.wait_request();
    shim.start();
    read_until(&mut a, "/dev/pts/");
    shim.ok(&Request::Kill { signal: 9, all: false });
    assert_eq!(wait_reply(w).exit_code, 137);
    shim.wait_gone();
    shim.assert_clean();

    // runc's own error comes back in Ready.
    let b = Bundle::new(&["/no/such/program"]);
    let mut shim = Shim::run(&b, &["--runtime", runc]);
    assert!(shim.ready.error.as_deref().is_some_and(|e| e.contains("no/such/program")), "{:?}", shim.ready.error);
    assert!(!shim.child.take().unwrap().wait().unwrap().success());
    shim.assert_clean();
}

#[test]
fn local_driver_writes_and_none_does_not() {
    let dir = tempfile::tempdir().unwrap();
    for (driver, file) in [("local", "local.log"), ("none", "none.log")] {
        let b = Bundle::sh("echo hi");
        let path = dir.path().join(file);
        let mut shim = Shim::run(&b, &["--log-driver", driver, "--log-path", path.to_str().unwrap()]);
        let w = shim.wait_request();
        shim.start();
        assert_eq!(wait_reply(w).exit_code, 0);
        shim.wait_gone();
        shim.assert_clean();
        if driver == "none" {
            assert!(!path.exists());
        } else {
            // Docker's local records, not json-file lines.
            let bytes = std::fs::read(&path).unwrap();
            let (entry, used) = berth_shim::log_local::decode(&bytes).unwrap().expect("one whole record");
            assert_eq!((entry.source.as_str(), entry.line.as_slice(), entry.partial, used), ("stdout", &b"hi"[..], false, bytes.len()));
        }
    }
    // A bad log option fails before a container exists.
    let b = Bundle::sh("echo hi");
    let mut shim = Shim::run(&b, &["--log-path", dir.path().join("x.log").to_str().unwrap(), "--log-opt", "max-size=lots"]);
    assert!(shim.ready.error.as_deref().is_some_and(|e| e.contains("max-size")), "{:?}", shim.ready.error);
    assert!(!shim.child.take().unwrap().wait().unwrap().success());
    shim.assert_clean();
}
