//! berth-init run on the host (as a subreaper, since it is not PID 1 here): exit codes,
//! signal forwarding and the reaping of orphans.

use std::process::{Command, Stdio};
use std::time::Duration;

fn init() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth-init"))
}

#[test]
fn exit_code_is_the_childs() {
    let st = init().args(["--", "sh", "-c", "exit 3"]).status().unwrap();
    assert_eq!(st.code(), Some(3));
    let st = init().args(["sh", "-c", "kill -TERM $$"]).status().unwrap();
    assert_eq!(st.code(), Some(143), "a child killed by a signal is 128 + signal");
}

#[test]
fn missing_command_is_127() {
    let out = init().args(["--", "/nonexistent/cmd"]).output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/cmd"), "{out:?}");
    let out = init().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

#[test]
fn signals_are_forwarded_to_the_child() {
    // The child traps TERM and exits 42: only a forwarded signal gets it there.
    let mut child = init()
        .args(["--", "sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    std::thread::sleep(Duration::from_millis(100));
    send_signal(child.id(), 15);
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn orphans_are_reaped() {
    // `(sleep 0.1 &)` orphans a sleep, which is re-parented to berth-init ($PPID of the
    // outer shell); after it ends, no zombie child of berth-init may remain.
    let script = r#"(sleep 0.1 &); sleep 0.8
        for f in /proc/[0-9]*/status; do
          if grep -q "^PPid:[[:space:]]*$PPID\$" "$f" 2>/dev/null && grep -q '^State:[[:space:]]*Z' "$f" 2>/dev/null; then echo "zombie $f"; fi
        done; echo done"#;
    let out = init().args(["--", "sh", "-c", script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "done", "{out:?}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn the_command_starts_with_no_signal_blocked() {
    // sleep has no handler and no mask of its own: a forwarded TERM kills it only if
    // berth-init's own full signal mask was not passed on.
    let mut child = init().args(["--", "sleep", "5"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    send_signal(child.id(), 15);
    assert_eq!(child.wait().unwrap().code(), Some(143));
}

fn send_signal(pid: u32, sig: i32) {
    let st = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap();
    assert!(st.success());
}
