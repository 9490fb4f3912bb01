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
