//! create / start / state / kill / delete / pause / resume / exec, and the exit code.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn run_reports_exit_code_and_cleans_up() {
    let b = Bundle::sh("echo out; echo err >&2; exit 7");
    let o = b.run();
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(out(&o), "out\n");
    assert!(err(&o).contains("err"));
    assert_nothing_left(&b);
}

#[test]
fn create_start_state_kill_delete() {
    let b = Bundle::sh("sleep 1000");
    let o = b.create();
    assert!(o.status.success(), "{}", err(&o));
    let st = b.state();
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    // The init waits: it has not exec'd sleep yet.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_ne!(comm.trim(), "sleep");
    let o = b.detached(&["start", &b.id]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(b.state()["status"], "running");
    // A second start is refused.
    assert!(!b.runtime(&["start", &b.id]).status.success());
    // Deleting a running container needs --force.
    let o = b.runtime(&["delete", &b.id]);
    assert!(!o.status.success());
    assert!(err(&o).contains("not stopped"), "{}", err(&o));
    assert!(b.runtime(&["kill", &b.id, "KILL"]).status.success());
    for _ in 0..200 {
        if b.state()["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(b.state()["status"], "stopped");
    assert!(b.runtime(&["delete", &b.id]).status.success());
    assert_nothing_left(&b);
}

#[test]
fn list_shows_containers() {
    let b = Bundle::sh("sleep 1000");
    assert!(b.create().status.success());
    let o = b.runtime(&["list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["id"], b.id.as_str());
    assert_eq!(v[0]["status"], "created");
    let o = b.runtime(&["list", "-q"]);
    assert_eq!(out(&o).trim(), b.id);
}

#[test]
fn pause_and_resume_freeze_the_container() {
    let b = Bundle::sh("sleep 1000");
    let o = b.run_detached();
    assert!(o.status.success(), "{}", err(&o));
    assert!(b.runtime(&["pause", &b.id]).status.success());
    assert_eq!(b.state()["status"], "paused");
    let pid = b.state()["pid"].as_i64().unwrap();
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state_char = st.rsplit(')').next().unwrap().split_whitespace().next().unwrap();
    if cgroup_v1() {
        assert_eq!(state_char, "D", "a frozen task sleeps uninterruptibly");
    } else {
        // The v2 freezer parks tasks in an interruptible sleep ("S"); the cgroup says
        // whether it is frozen.
        let events = std::fs::read_to_string(b.cgroup_dir("").join("cgroup.events")).unwrap();
        assert!(events.lines().any(|l| l == "frozen 1"), "{events}");
    }
    assert!(b.runtime(&["resume", &b.id]).status.success());
    assert_eq!(b.state()["status"], "running");
}

#[test]
fn exec_joins_the_container() {
    let mut b = Bundle::sh("echo inside > /tmp/marker; sleep 1000");
    b.config["root"]["readonly"] = serde_json::json!(false);
    let o = b.run_detached();
    assert!(o.status.success(), "{}", err(&o));
    // The memory hierarchy's line on v1, the unified one on v2.
    let own_cg = if cgroup_v1() { "memory" } else { "'^0::'" };
    let mut o = None;
    for _ in 0..100 {
        let r = b.runtime(&["exec", &b.id, "sh", "-c", &format!("cat /tmp/marker; hostname; echo $$; grep {own_cg} /proc/self/cgroup")]);
        if r.status.success() && out(&r).starts_with("inside") {
            o = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = o.expect("exec never saw the container's file");
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "berth");
    let pid: i32 = lines[2].parse().unwrap();
    assert!(pid > 1 && pid < 100, "exec'd process should be in the container's pid namespace, got pid {pid}");
    assert!(lines[3].ends_with(&format!("/{}", b.id)), "not in the container's cgroup: {}", lines[3]);
    // Exit codes come back.
    let o = b.runtime(&["exec", &b.id, "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    // A missing program is a clear error.
    let o = b.runtime(&["exec", &b.id, "no-such-program"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("executable file not found"), "{}", err(&o));
}

#[test]
fn exec_process_json_and_detach_with_pid_file() {
    let b = Bundle::sh("sleep 1000");
    let o = b.run_detached();
    assert!(o.status.success(), "{}", err(&o));
    let pf = b.path().join("exec.pid");
    let proc_json = b.path().join("process.json");
    std::fs::write(&proc_json, serde_json::json!({"cwd": "/", "args": ["sleep", "1000"], "user": {"uid": 65534, "gid": 65534}, "env": ["PATH=/bin"]}).to_string()).unwrap();
    let o = b.detached(&["exec", "-d", "--pid-file", pf.to_str().unwrap(), "--process", proc_json.to_str().unwrap(), &b.id]);
    assert!(o.status.success(), "{}", err(&o));
    let pid: i32 = std::fs::read_to_string(&pf).unwrap().trim().parse().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.lines().any(|l| l.starts_with("Uid:") && l.contains("65534")), "{status}");
    let o = b.runtime(&["ps", "--format", "json", &b.id]);
    let pids: Vec<i32> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(pids.contains(&pid), "{pids:?} lacks {pid}");
}

#[test]
fn kill_all_signals_every_process() {
    let b = Bundle::sh("sleep 1000 & sleep 1000 & wait");
    let o = b.run_detached();
    assert!(o.status.success(), "{}", err(&o));
    std::thread::sleep(Duration::from_millis(100));
    assert!(b.runtime(&["kill", "--all", &b.id, "9"]).status.success());
    for _ in 0..200 {
        let o = b.runtime(&["ps", "--format", "json", &b.id]);
        let pids: Vec<i32> = serde_json::from_slice(&o.stdout).unwrap_or_default();
        if pids.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("processes survived kill --all");
}

#[test]
fn hooks_run_with_state_on_stdin() {
    let mut b = Bundle::sh("true");
    let log = b.path().join("hooks.log");
    let hook = |name: &str| serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat >> {}; echo ' {name}' >> {}", log.display(), log.display())]});
    b.config["hooks"] = serde_json::json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    b.run_ok();
    let text = std::fs::read_to_string(&log).unwrap();
    for stage in ["prestart", "createRuntime", "poststart", "poststop"] {
        assert!(text.contains(&format!(" {stage}")), "{stage} did not run: {text}");
    }
    assert!(text.contains(&format!("\"id\":\"{}\"", b.id)), "state JSON missing: {text}");
}

#[test]
fn failing_hook_fails_create_and_leaves_nothing() {
    let mut b = Bundle::sh("true");
    b.config["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]});
    let o = b.run();
    assert!(!o.status.success());
    assert!(err(&o).contains("createRuntime hook"), "{}", err(&o));
    assert_nothing_left(&b);
}

/// createContainer runs in the container's namespaces before pivot_root (host paths
/// still visible); startContainer runs in the container after `start`, before the
/// process, with paths resolved in the container.
#[test]
fn container_namespace_hooks() {
    let mut b = Bundle::sh("cat /started-by-hook");
    let log = b.path().join("cc.log");
    b.config["root"]["readonly"] = serde_json::json!(false);
    b.config["hostname"] = serde_json::json!("hooked");
    b.config["hooks"] = serde_json::json!({
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", format!("hostname > {}", log.display())]}],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo from-start-hook > /started-by-hook"]}],
    });
    assert_eq!(b.run_ok(), "from-start-hook\n");
    // The createContainer hook saw the container's UTS namespace.
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "hooked\n");
}
