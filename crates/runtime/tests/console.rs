//! process.terminal: the pty master arrives over the console socket (runc's protocol)
//! and the container's stdio is the pty slave.

mod common;
use common::*;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

#[test]
fn pty_master_is_sent_over_the_console_socket() {
    let mut b = Bundle::sh("tty; stty size; echo hello-pty");
    b.config["process"]["terminal"] = serde_json::json!(true);
    b.config["process"]["consoleSize"] = serde_json::json!({"height": 33, "width": 101});
    let sock = b.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        berth_runtime::sys::recv_fd(conn.as_raw_fd()).unwrap()
    });
    b.write();
    let o = b.detached(&["run", "-d", "--console-socket", sock.to_str().unwrap(), "--bundle", b.path().to_str().unwrap(), &b.id]);
    assert!(o.status.success(), "{}", err(&o));
    let master = receiver.join().unwrap();
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    // Reading the master ends with EIO once the container closes the slave.
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if text.contains("hello-pty") {
            break;
        }
    }
    assert!(text.contains("/dev/pts/0"), "stdin is not the pty: {text:?}");
    assert!(text.contains("33 101"), "console size not applied: {text:?}");
    assert!(text.contains("hello-pty"), "{text:?}");
}
