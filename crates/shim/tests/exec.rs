//! berth-shim exec: a process in a running container, as a child of its own shim.

mod common;

use std::io::Write;

use berth_shim::protocol::Request;
use common::*;

/// An exec shim for a process in `ctr`'s container.
fn exec_shim(ctr: &Shim, process: &serde_json::Value, extra: &[&str]) -> (Shim, tempfile::TempDir) {
    let pdir = tempfile::tempdir().unwrap();
    let pfile = pdir.path().join("process.json");
    std::fs::write(&pfile, serde_json::to_vec(process).unwrap()).unwrap();
    let mut args: Vec<String> = vec!["exec".into(), "--exec-id".into(), "e1".into(), "--process".into(), pfile.to_str().unwrap().into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    (Shim::spawn(&ctr.id, Some(&ctr.root_path), &args), pdir)
}

fn process(args: &[&str], terminal: bool) -> serde_json::Value {
    serde_json::json!({
        "terminal": terminal,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        "cwd": "/",
        "noNewPrivileges": true
    })
}

fn running_container() -> Shim {
    let b = Bundle::new(&["sleep", "1000"]);
    let shim = Shim::run(&b, &[]);
    assert!(shim.ready.error.is_none(), "{:?}", shim.ready.error);
    shim.start();
    shim
}

fn stop(ctr: &mut Shim) {
    let w = ctr.wait_request();
    ctr.ok(&Request::Kill { signal: 9, all: true });
    assert_eq!(wait_reply(w).exit_code, 137);
    ctr.wait_gone();
    ctr.assert_clean();
}

#[test]
fn exec_runs_in_the_container_and_reports_its_exit_code() {
    let mut ctr = running_container();
    let (mut ex, _p) = exec_shim(&ctr, &process(&["sh", "-c", "echo in-$(hostname); cat /proc/1/cmdline; echo; echo oops >&2; exit 5"], false), &[]);
    assert!(ex.ready.error.is_none(), "{:?}", ex.ready.error);
    assert!(ex.ready.pid.is_none(), "exec has no pid before Start");
    assert_eq!(ex.ok(&Request::State).status.as_deref(), Some("created"));
    let mut a = ex.attach(false, vec![]);
    let w = ex.wait_request();
    let started = ex.start();
    assert!(started.pid.is_some_and(|p| p > 0));
    let frames = read_frames(&mut a);
    let out = stream_text(&frames, 1);
    // It sees the container's pid 1 (sleep), so it is in its pid namespace.
    assert!(out.contains("sleep\u{0}1000"), "{out:?}");
    assert_eq!(stream_text(&frames, 2), "oops\n");
    assert_eq!(wait_reply(w).exit_code, 5);
    assert_eq!(ex.exit_file().exit_code, 5);
    ex.wait_gone();
    assert!(!ex.sock().exists());
    // The container is untouched.
    assert_eq!(ctr.ok(&Request::State).status.as_deref(), Some("running"));
    stop(&mut ctr);
}

#[test]
fn exec_with_stdin_and_a_terminal() {
    let mut ctr = running_container();
    let (ex, _p) = exec_shim(&ctr, &process(&["cat"], false), &["--stdin", "--stdin-once"]);
    let mut a = ex.attach(true, vec![]);
    let w = ex.wait_request();
    ex.start();
    a.write_all(b"ping\n").unwrap();
    a.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(stream_text(&read_frames(&mut a), 1), "ping\n");
    assert_eq!(wait_reply(w).exit_code, 0);

    let (ex, _p) = exec_shim(&ctr, &process(&["sh", "-c", "tty; read x; exit 4"], true), &["--stdin"]);
    let mut a = ex.attach(true, vec![]);
    let w = ex.wait_request();
    ex.start();
    read_until(&mut a, "/dev/pts/");
    a.write_all(b"go\n").unwrap();
    assert_eq!(wait_reply(w).exit_code, 4);
    stop(&mut ctr);
}

#[test]
fn exec_of_a_missing_program_fails_start_and_records_it() {
    let mut ctr = running_container();
    let (mut ex, _p) = exec_shim(&ctr, &process(&["/no/such/thing"], false), &[]);
    let r = ex.request(&Request::Start);
    assert!(!r.ok);
    ex.wait_gone();
    let st = ex.exit_file();
    assert_eq!(st.exit_code, 127);
    assert!(st.error.is_some());
    stop(&mut ctr);
}

#[test]
fn exec_in_a_container_that_does_not_exist_fails_ready() {
    let ctr = running_container();
    let pdir = tempfile::tempdir().unwrap();
    let pfile = pdir.path().join("process.json");
    std::fs::write(&pfile, serde_json::to_vec(&process(&["true"], false)).unwrap()).unwrap();
    let args: Vec<String> = vec!["exec".into(), "--exec-id".into(), "e".into(), "--process".into(), pfile.to_str().unwrap().into()];
    let mut ex = Shim::spawn("nosuchctr", Some(&ctr.root_path), &args);
    assert!(ex.ready.error.is_some());
    assert!(!ex.child.take().unwrap().wait().unwrap().success());
    assert!(!ex.sock().exists());
    let mut ctr = ctr;
    stop(&mut ctr);
}
