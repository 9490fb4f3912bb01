//! berthd's own life: configured by daemon.json, started and stopped by
//! scripts/berthd-start.sh, leaving no socket or pid file behind.

mod common;

use std::path::Path;
use std::process::Command;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/berthd-start.sh")
}

#[test]
fn start_script_and_daemon_json() {
    let berthd = common::berthd();
    let dir = tempfile::Builder::new().prefix("berth-life-").tempdir().unwrap();
    let d = dir.path();
    // The data root comes from daemon.json; the socket from the flag, which wins over
    // the file's `hosts`.
    let cfg = d.join("daemon.json");
    // Its own default bridge and subnet, so the host's berth0 is not touched.
    let bridge = format!("btlife{}", std::process::id() % 100_000);
    let _cleanup = BridgeCleanup(bridge.clone());
    std::fs::write(
        &cfg,
        format!(r#"{{"data-root": "{}", "hosts": ["unix://{}/from-file.sock"], "bridge": "{bridge}", "bip": "10.213.249.1/24"}}"#, d.join("root-from-file").display(), d.display()),
    )
    .unwrap();
    let sock = d.join("berth.sock");
    let out = Command::new("bash")
        .arg(script())
        .args(["--bin", berthd.to_str().unwrap(), "--host", &format!("unix://{}", sock.display())])
        .args(["--pidfile", d.join("berthd.pid").to_str().unwrap(), "--log", d.join("berthd.log").to_str().unwrap()])
        .args(["--data-root", d.join("root").to_str().unwrap(), "--config-file", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "start failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(sock.exists() && d.join("berthd.pid").exists());
    let info = Command::new(env!("CARGO_BIN_EXE_berth")).args(["-H", &format!("unix://{}", sock.display()), "info", "--format", "{{.DockerRootDir}}"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&info.stdout).trim(), d.join("root").display().to_string());
    // A second start on the same pid file is refused while the first runs.
    let again = Command::new("bash").arg(script()).args(["--bin", berthd.to_str().unwrap(), "--pidfile", d.join("berthd.pid").to_str().unwrap()]).output().unwrap();
    assert!(!again.status.success());
    let stop = Command::new("bash").arg(script()).args(["stop", "--pidfile", d.join("berthd.pid").to_str().unwrap()]).output().unwrap();
    assert!(stop.status.success(), "{}", String::from_utf8_lossy(&stop.stderr));
    assert!(!sock.exists() && !d.join("berthd.pid").exists(), "socket or pid file left behind");

    // Now daemon.json alone picks socket and data root.
    let mut child = Command::new(berthd)
        .args(["--config-file", cfg.to_str().unwrap(), "--pidfile", d.join("b2.pid").to_str().unwrap()])
        .stderr(std::fs::File::create(d.join("b2.log")).unwrap())
        .spawn()
        .unwrap();
    let file_sock = d.join("from-file.sock");
    for _ in 0..500 {
        if std::os::unix::net::UnixStream::connect(&file_sock).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let info = Command::new(env!("CARGO_BIN_EXE_berth")).args(["-H", &format!("unix://{}", file_sock.display()), "info", "--format", "{{.DockerRootDir}}"]).output().unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert_eq!(String::from_utf8_lossy(&info.stdout).trim(), d.join("root-from-file").display().to_string(), "{}", std::fs::read_to_string(d.join("b2.log")).unwrap_or_default());

    // A daemon.json with an unknown key is refused, naming it.
    std::fs::write(&cfg, r#"{"data_root": "/x"}"#).unwrap();
    let bad = Command::new(berthd).args(["--config-file", cfg.to_str().unwrap()]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("data_root"), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// Removes the test daemon's default bridge and nftables table when the test ends.
struct BridgeCleanup(String);

impl Drop for BridgeCleanup {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).stderr(std::process::Stdio::null()).status();
        let _ = Command::new("nft").args(["delete", "table", "ip", &format!("berth_{}", self.0)]).stderr(std::process::Stdio::null()).status();
    }
}
