//! Drives the real berth-shim binary the way berthd does: a ready pipe on fd 3, its
//! stderr in `<dir>/shim.log`, requests on `<dir>/shim.sock`, on busybox bundles.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use berth_shim::protocol::{ExitStatus, Ready, Reply, Request};
use serde_json::{json, Value};

pub const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The busybox rootfs from tests/fixtures/busybox-rootfs.sh, built once.
pub fn fixture_rootfs() -> PathBuf {
    static ONCE: Once = Once::new();
    let dest = workspace().join("target/busybox-rootfs");
    ONCE.call_once(|| {
        let st = Command::new("bash").arg(workspace().join("tests/fixtures/busybox-rootfs.sh")).arg(&dest).status().unwrap();
        assert!(st.success(), "building the busybox fixture failed");
    });
    dest
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A bundle whose root is the shared fixture rootfs, mounted read-only.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    pub fn new(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new().prefix("berth-shim-bundle").tempdir().unwrap();
        let mut config: Value = serde_json::from_str(berth_runtime::spec::DEFAULT_SPEC).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["root"] = json!({"path": fixture_rootfs(), "readonly": true});
        Bundle { dir, config }
    }

    pub fn sh(script: &str) -> Bundle {
        Bundle::new(&["sh", "-c", script])
    }

    pub fn write(&self) -> &Path {
        std::fs::write(self.dir.path().join("config.json"), serde_json::to_vec_pretty(&self.config).unwrap()).unwrap();
        self.dir.path()
    }
}

/// One shim with its own state root and directory.
pub struct Shim {
    pub id: String,
    /// The runtime root; owned (removed at the end) unless this is an exec shim.
    pub root: Option<tempfile::TempDir>,
    pub root_path: PathBuf,
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub ready: Ready,
    pub shim_pid: i32,
}

pub fn ready_pipe() -> (OwnedFd, OwnedFd) {
    berth_runtime::sys::pipe().unwrap()
}

/// Reads the one ready line.
pub fn read_ready(r: OwnedFd) -> Ready {
    let mut line = String::new();
    BufReader::new(std::fs::File::from(r)).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad ready line {line:?}: {e}"))
}

/// A command with the write end of the ready pipe as fd 3 and stderr to `log`.
pub fn with_ready_fd(cmd: &mut Command, w: &OwnedFd, log: &Path) {
    let raw = w.as_raw_fd();
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(log).unwrap());
    // SAFETY: dup2 is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

pub fn new_id() -> String {
    format!("shim{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

impl Shim {
    /// `berth-shim run` on `bundle` with `extra` flags.
    pub fn run(bundle: &Bundle, extra: &[&str]) -> Shim {
        let bdir = bundle.write().to_path_buf();
        let mut args: Vec<String> = vec!["run".into(), "--bundle".into(), bdir.to_str().unwrap().into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Shim::spawn(&new_id(), None, &args)
    }

    /// Spawns the shim with `args` plus --id/--runtime-root/--dir.
    pub fn spawn(id: &str, root: Option<&Path>, args: &[String]) -> Shim {
        let (root, root_path) = match root {
            Some(p) => (None, p.to_path_buf()),
            None => {
                let t = tempfile::Builder::new().prefix("berth-shim-root").tempdir().unwrap();
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let dir = tempfile::Builder::new().prefix("berth-shim-dir").tempdir().unwrap();
        let (r, w) = ready_pipe();
        let mut cmd = Command::new(SHIM);
        cmd.args(args).arg("--id").arg(id).arg("--runtime-root").arg(&root_path).arg("--dir").arg(dir.path());
        with_ready_fd(&mut cmd, &w, &dir.path().join("shim.log"));
        let child = cmd.spawn().unwrap();
        drop(w);
        let ready = read_ready(r);
        let shim_pid = ready.shim_pid.unwrap_or(child.id() as i32);
        Shim { id: id.to_string(), root, root_path, dir, child: Some(child), ready, shim_pid }
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("shim.sock")
    }

    pub fn shim_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shim.log")).unwrap_or_default()
    }

    pub fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(self.sock()).unwrap_or_else(|e| panic!("connect: {e}; shim log: {}", self.shim_log()));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    pub fn request(&self, req: &Request) -> Reply {
        let mut s = self.connect();
        send(&mut s, req);
        read_reply(&mut s)
    }

    pub fn ok(&self, req: &Request) -> Reply {
        let r = self.request(req);
        assert!(r.ok, "{req:?} failed: {:?}; shim log: {}", r.error, self.shim_log());
        r
    }

    pub fn start(&self) -> Reply {
        self.ok(&Request::Start)
    }

    pub fn attach(&self, stdin: bool, detach_keys: Vec<u8>) -> UnixStream {
        let mut s = self.connect();
        send(&mut s, &Request::Attach { stdin, stdout: true, stderr: true, detach_keys });
        let r = read_reply(&mut s);
        assert!(r.ok, "attach failed: {:?}", r.error);
        s
    }

    pub fn wait(&self) -> ExitStatus {
        let r = self.ok(&Request::Wait);
        r.exit.expect("Wait reply without exit")
    }

    /// Sends Wait now (before the exit: once the process has exited and its clients
    /// are served the shim is gone, and exit.json is what remains).
    pub fn wait_request(&self) -> UnixStream {
        let mut s = self.connect();
        send(&mut s, &Request::Wait);
        s
    }

    pub fn exit_file(&self) -> ExitStatus {
        let data = std::fs::read(self.dir.path().join("exit.json")).expect("exit.json");
        serde_json::from_slice(&data).unwrap()
    }

    /// Waits for the shim process to be gone (it exits after the container did).
    pub fn wait_gone(&mut self) {
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if c.try_wait().unwrap().is_some() {
                    return;
                }
                assert!(Instant::now() < deadline, "shim did not exit; log: {}", self.shim_log());
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{}", self.shim_pid)).exists() && !is_zombie(self.shim_pid) {
            assert!(Instant::now() < deadline, "shim did not exit; log: {}", self.shim_log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Nothing of the container left: no runtime state, no cgroup, no socket.
    pub fn assert_clean(&self) {
        assert!(!self.root_path.join(&self.id).exists(), "runtime state left behind");
        for c in ["memory", "pids", "cpu", "devices", "freezer"] {
            let p = Path::new("/sys/fs/cgroup").join(c).join(&self.id);
            assert!(!p.exists(), "cgroup {} left behind", p.display());
        }
        assert!(!self.sock().exists(), "shim.sock left behind");
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z')).unwrap_or(true)
}

impl Drop for Shim {
    fn drop(&mut self) {
        // A failed test: kill what is left, then let the shim clean up.
        if self.sock().exists() {
            if let Ok(mut s) = UnixStream::connect(self.sock()) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = writeln!(s, "{}", serde_json::to_string(&Request::Kill { signal: 9, all: true }).unwrap());
                let mut b = Vec::new();
                let _ = s.read_to_end(&mut b);
            }
        }
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(15);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if self.root.is_some() {
            let _ = berth_runtime::Runtime::new(&self.root_path).delete(&self.id, true);
        }
    }
}

pub fn send(s: &mut UnixStream, req: &Request) {
    let mut line = serde_json::to_vec(req).unwrap();
    line.push(b'\n');
    s.write_all(&line).unwrap();
}

/// Reads exactly one reply line (byte by byte, so nothing after it is consumed).
pub fn read_reply(s: &mut UnixStream) -> Reply {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => line.push(b[0]),
            Err(e) => panic!("reading reply: {e}"),
        }
    }
    serde_json::from_slice(&line).unwrap_or_else(|e| panic!("bad reply {:?}: {e}", String::from_utf8_lossy(&line)))
}

/// The exit status from a Wait sent earlier.
pub fn wait_reply(mut s: UnixStream) -> ExitStatus {
    let r = read_reply(&mut s);
    assert!(r.ok, "wait failed: {:?}", r.error);
    assert_eq!(r.status.as_deref(), Some("exited"));
    r.exit.expect("Wait reply without exit")
}

/// Reads Docker's multiplexed frames until EOF: (stream, payload) in order.
pub fn read_frames(s: &mut UnixStream) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    loop {
        let mut h = [0u8; 8];
        match s.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return frames,
            Err(e) => panic!("reading frame header: {e}"),
        }
        assert_eq!(&h[1..4], &[0, 0, 0], "bad frame header {h:?}");
        let n = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let mut p = vec![0u8; n];
        s.read_exact(&mut p).unwrap();
        frames.push((h[0], p));
    }
}

/// Reads one frame.
pub fn read_frame(s: &mut UnixStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).unwrap();
    let n = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let mut p = vec![0u8; n];
    s.read_exact(&mut p).unwrap();
    (h[0], p)
}

/// The payloads of one stream, joined.
pub fn stream_text(frames: &[(u8, Vec<u8>)], id: u8) -> String {
    String::from_utf8(frames.iter().filter(|(s, _)| *s == id).flat_map(|(_, p)| p.clone()).collect()).unwrap()
}

/// Reads raw bytes until `needle` shows up (or panics after the socket's timeout).
pub fn read_until(s: &mut UnixStream, needle: &str) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if text.contains(needle) {
            return text;
        }
        match s.read(&mut b) {
            Ok(0) => panic!("EOF before {needle:?}; got {text:?}"),
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e) => panic!("reading until {needle:?}: {e}; got {text:?}"),
        }
    }
}
