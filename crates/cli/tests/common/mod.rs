//! Harness for end-to-end tests: a real berthd per test (own temp data root, socket and
//! pid file, stopped on drop), the `berth` binary, and the real docker CLI pointed at
//! the same socket.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const DOCKER: &str = "/usr/local/bin/docker";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// berthd, next to this package's `berth` binary. Cargo builds only this package's
/// binaries for its tests, so berthd is built here once per test binary (a no-op when
/// `cargo build --workspace --bins` already ran, as in scripts/test.sh).
pub fn berthd() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "berth-daemon", "--bin", "berthd", "-p", "berth-shim", "--bin", "berth-shim"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build for berthd");
        assert!(status.success(), "building berthd failed");
        let p = Path::new(env!("CARGO_BIN_EXE_berth")).with_file_name("berthd");
        assert!(p.exists(), "{} missing after build", p.display());
        p
    })
}

/// A tar of the busybox fixture rootfs (tests/fixtures/busybox-rootfs.sh), made once.
pub fn busybox_tar() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let root = workspace_root();
        let rootfs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-busybox-rootfs");
        let st = Command::new("bash").arg(root.join("tests/fixtures/busybox-rootfs.sh")).arg(&rootfs).status().expect("run busybox-rootfs.sh");
        assert!(st.success(), "busybox-rootfs.sh failed (is busybox-static installed?)");
        // One tar shared by runs, made under a temporary name and renamed into place.
        let tar = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-busybox.tar");
        if !tar.exists() {
            let tmp = tar.with_extension(format!("tmp.{}", std::process::id()));
            let st = Command::new("tar").arg("-C").arg(&rootfs).args(["-cf"]).arg(&tmp).arg(".").status().expect("run tar");
            assert!(st.success(), "tar of the rootfs failed");
            std::fs::rename(&tmp, &tar).expect("rename the fixture tar");
        }
        tar
    })
}

pub struct Daemon {
    child: Child,
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    /// This daemon's default bridge (its own, so parallel tests never share one).
    pub bridge: String,
    /// Extra berthd arguments (kept for restarts).
    args: Vec<String>,
}

/// A bridge name and a /24 for the default network of each test daemon, unique in
/// this process (test binaries run one at a time).
fn default_network() -> (String, String) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let pid = std::process::id();
    (format!("bt{}x{}", pid % 100_000, n), format!("10.{}.{}.1/24", 100 + pid % 100, n % 250))
}

impl Daemon {
    pub fn start() -> Daemon {
        Self::start_with_config("")
    }

    /// A daemon whose daemon.json also has `extra` (JSON members, e.g.
    /// `"userns-remap": "default"`).
    pub fn start_with_config(extra: &str) -> Daemon {
        Self::start_with(extra, &[])
    }

    /// A daemon with `extra` in its daemon.json and `args` on its command line.
    pub fn start_with(extra: &str, args: &[&str]) -> Daemon {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let dir = tempfile::Builder::new().prefix("berth-e2e-").tempdir().expect("temp dir");
        let sock = dir.path().join("berth.sock");
        // An explicit daemon.json keeps the host's /etc/berth/daemon.json out of tests;
        // it gives this daemon its own default bridge and subnet.
        let (bridge, bip) = default_network();
        let extra = if extra.is_empty() { String::new() } else { format!(", {extra}") };
        std::fs::write(dir.path().join("daemon.json"), format!(r#"{{"bridge": "{bridge}", "bip": "{bip}"{extra}}}"#)).expect("daemon.json");
        let child = Self::spawn(dir.path(), &sock, &args);
        let mut d = Daemon { child, dir, sock, bridge, args };
        d.wait_ready();
        d
    }

    /// Kills berthd with SIGKILL (its containers and shims keep running) and starts a
    /// new one on the same data root and socket: the live-restore path.
    pub fn crash_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(self.dir.path().join("berthd.pid"));
        self.child = Self::spawn(self.dir.path(), &self.sock, &self.args);
        self.wait_ready();
    }

    fn spawn(dir: &Path, sock: &Path, args: &[String]) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("berthd.log")).expect("log file");
        Command::new(berthd())
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--pidfile")
            .arg(dir.join("berthd.pid"))
            // Shim sockets live here: a short path keeps them under the 108-byte limit.
            .arg("--exec-root")
            .arg(dir.join("run"))
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--debug")
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start berthd")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if UnixStream::connect(&self.sock).is_ok() {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("berthd exited early ({st}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not listen within 20s: {}", self.log());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// Runs `berth ARGS` against this daemon.
    pub fn berth(&self, args: &[&str]) -> Run {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args).env("BERTH_HOST", self.host()).env_remove("DOCKER_HOST");
        Run::new(c)
    }

    /// Runs the real `docker ARGS` against this daemon; `None` (with a note) without it.
    pub fn docker(&self, args: &[&str]) -> Option<Run> {
        if !Path::new(DOCKER).exists() {
            eprintln!("note: {DOCKER} absent, skipping docker CLI check: docker {}", args.join(" "));
            return None;
        }
        let mut c = Command::new(DOCKER);
        let cfg = self.dir.path().join("docker-config");
        c.args(args).env("DOCKER_HOST", self.host()).env("DOCKER_CONFIG", cfg).env_remove("DOCKER_CONTEXT")
            // berthd serves the classic builder's /build (no BuildKit session).
            .env("DOCKER_BUILDKIT", "0");
        Some(Run::new(c))
    }

    /// A raw HTTP/1.1 request on the socket; returns (status, body).
    pub fn raw(&self, method: &str, path: &str) -> (u16, String) {
        let mut s = UnixStream::connect(&self.sock).expect("connect");
        write!(s, "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").expect("send");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// POST a JSON body; returns (status, body).
    pub fn post_json(&self, path: &str, json: &str) -> (u16, String) {
        let mut s = UnixStream::connect(&self.sock).expect("connect");
        write!(s, "POST {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}", json.len()).expect("send");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// The full response head and body.
    pub fn raw_full(&self, method: &str, path: &str) -> String {
        let mut s = UnixStream::connect(&self.sock).expect("connect");
        write!(s, "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").expect("send");
        let mut resp = String::new();
        s.read_to_string(&mut resp).expect("read");
        resp
    }
}

impl Daemon {
    /// Removes every container (force), so no shim or container outlives the test.
    pub fn remove_all_containers(&self) {
        let (_, body) = self.raw("GET", "/containers/json?all=1");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        for c in list.as_array().into_iter().flatten() {
            if let Some(id) = c["Id"].as_str() {
                let _ = self.raw("DELETE", &format!("/containers/{id}?force=1"));
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.remove_all_containers();
            self.remove_user_networks();
        }
        // SIGTERM for a clean shutdown (socket and pid file removed), then make sure.
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.remove_default_network();
    }
}

impl Daemon {
    /// Removes the networks a test made (their bridges and rules go with them), also
    /// when the test failed before doing it itself.
    pub fn remove_user_networks(&self) {
        let (_, body) = self.raw("GET", "/networks");
        let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        for n in list.as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (n["Id"].as_str(), n["Name"].as_str()) {
                if !matches!(name, "bridge" | "host" | "none") {
                    let _ = self.raw("DELETE", &format!("/networks/{id}"));
                }
            }
        }
    }

    /// Removes this daemon's default bridge and nftables table (user networks are the
    /// tests' to remove).
    fn remove_default_network(&self) {
        let _ = Command::new("ip").args(["link", "del", &self.bridge]).stderr(Stdio::null()).status();
        let table = format!("berth_{}", self.bridge);
        let _ = Command::new("nft").args(["delete", "table", "ip", &table]).stderr(Stdio::null()).status();
    }
}

/// A daemon with the offline busybox image imported as `busybox`.
pub fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    let tar = busybox_tar().to_str().unwrap().to_owned();
    d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
    d
}

/// A loopback port nobody listens on right now (the kernel picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET / from 127.0.0.1:port with a plain TcpStream, retried until `limit` (the
/// server in the container may still be starting); returns the body.
pub fn http_get(port: u16, limit: Duration) -> Result<String, String> {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    while Instant::now() < deadline {
        match std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut resp = String::new();
                match s.read_to_string(&mut resp) {
                    Ok(_) if resp.starts_with("HTTP/1.") => return Ok(resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()),
                    Ok(_) => last = format!("unexpected response: {resp:?}"),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(last)
}

/// A command about to run, with optional stdin.
pub struct Run {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl Run {
    fn new(cmd: Command) -> Run {
        Run { cmd, stdin: None }
    }

    pub fn stdin(mut self, data: Vec<u8>) -> Run {
        self.stdin = Some(data);
        self
    }

    pub fn output(mut self) -> Output {
        self.cmd.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn command");
        if let Some(data) = self.stdin.take() {
            let mut sin = child.stdin.take().expect("stdin");
            std::thread::spawn(move || {
                let _ = sin.write_all(&data);
            });
        }
        child.wait_with_output().expect("wait for command")
    }

    /// Runs for at most `limit` (then kills it, e.g. `logs -f`); returns stdout.
    pub fn output_with_timeout(mut self, limit: Duration) -> Vec<u8> {
        self.cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = self.cmd.spawn().expect("spawn command");
        let mut out = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        });
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        reader.join().unwrap_or_default()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(self) -> String {
        let desc = format!("{:?}", self.cmd);
        let out = self.output();
        assert!(out.status.success(), "{desc} failed ({}):\nstdout: {}\nstderr: {}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A tar with one entry per (name, contents): `->T` in contents makes a symlink to T,
/// `=>T` a hard link to T; names are written raw (hostile archives have `..`, which the
/// tar crate refuses to write).
pub fn make_tar(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(1234);
        let link = |h: &mut tar::Header, kind, target: &str| {
            h.set_entry_type(kind);
            h.set_size(0);
            h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        };
        if let Some(target) = data.strip_prefix("->") {
            link(&mut h, tar::EntryType::Symlink, target);
        } else if let Some(target) = data.strip_prefix("=>") {
            link(&mut h, tar::EntryType::Link, target);
        } else {
            h.set_size(data.len() as u64);
        }
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        let body: &[u8] = if data.starts_with("->") || data.starts_with("=>") { &[] } else { data.as_bytes() };
        b.append(&h, body).unwrap();
    }
    b.into_inner().unwrap()
}
