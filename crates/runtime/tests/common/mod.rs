//! Shared by the runtime's integration tests: bundles on the busybox fixture rootfs,
//! each test with its own state root and container id, driven through the real
//! `berth-runtime` binary (never in-process: the test harness is multi-threaded).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

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

pub fn cgroup_v1() -> bool {
    berth_runtime::cgroups::host_version() == berth_runtime::cgroups::Version::V1
}

/// Where the runtime puts a container with a relative cgroupsPath (the id) on v2: below
/// the parent of our own cgroup, as runc does (our own cgroup holds processes, so v2
/// lets it give no controllers to children).
pub fn v2_parent_cgroup() -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let own = text.lines().find_map(|l| l.strip_prefix("0::")).expect("no cgroup v2 entry in /proc/self/cgroup");
    let parent = Path::new(own).parent().unwrap_or(Path::new("/"));
    Path::new("/sys/fs/cgroup").join(parent.strip_prefix("/").unwrap_or(parent))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub root: tempfile::TempDir,
    pub id: String,
    pub config: Value,
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

impl Bundle {
    /// A bundle running `sh -c script` with runc's default spec (terminal off).
    pub fn sh(script: &str) -> Bundle {
        let dir = tempfile::Builder::new().prefix("berth-rt-bundle").tempdir().unwrap();
        let root = tempfile::Builder::new().prefix("berth-rt-root").tempdir().unwrap();
        let st = Command::new("cp").arg("-a").arg(fixture_rootfs()).arg(dir.path().join("rootfs")).status().unwrap();
        assert!(st.success());
        let mut config: Value = serde_json::from_str(berth_runtime::spec::DEFAULT_SPEC).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["sh", "-c", script]);
        let id = format!("rt{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        Bundle { dir, root, id, config }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn write(&self) {
        std::fs::write(self.dir.path().join("config.json"), serde_json::to_vec_pretty(&self.config).unwrap()).unwrap();
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(self.root.path()).args(args);
        c.stdin(Stdio::null());
        c
    }

    pub fn runtime(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// `run` in the foreground: the container's output and exit status.
    pub fn run(&self) -> Output {
        self.write();
        self.runtime(&["run", "--bundle", self.dir.path().to_str().unwrap(), &self.id])
    }

    /// Runs and asserts success; returns stdout.
    pub fn run_ok(&self) -> String {
        let o = self.run();
        assert!(o.status.success(), "container failed ({:?}): stdout={} stderr={}", o.status, out(&o), err(&o));
        out(&o)
    }

    /// Runs a command whose container outlives it (`create`, `run -d`, `exec -d`): the
    /// container inherits our stdio, so it gets /dev/null and a file for stderr rather
    /// than pipes we would wait on.
    pub fn detached(&self, args: &[&str]) -> Output {
        let errf = self.dir.path().join(format!("stderr-{}", COUNTER.fetch_add(1, Ordering::SeqCst)));
        let status = self
            .cmd(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errf).unwrap())
            .status()
            .unwrap();
        Output { status, stdout: vec![], stderr: std::fs::read(&errf).unwrap_or_default() }
    }

    pub fn create(&self) -> Output {
        self.write();
        self.detached(&["create", "--bundle", self.dir.path().to_str().unwrap(), &self.id])
    }

    pub fn run_detached(&self) -> Output {
        self.write();
        self.detached(&["run", "-d", "--bundle", self.dir.path().to_str().unwrap(), &self.id])
    }

    pub fn state(&self) -> Value {
        let o = self.runtime(&["state", &self.id]);
        assert!(o.status.success(), "state failed: {}", err(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// The container's cgroup directory on the host: per controller on v1, the one
    /// directory on v2 (`controller` ignored).
    pub fn cgroup_dir(&self, controller: &str) -> PathBuf {
        if cgroup_v1() {
            Path::new("/sys/fs/cgroup").join(controller).join(&self.id)
        } else {
            v2_parent_cgroup().join(&self.id)
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self.cmd(&["delete", "--force", &self.id]).stderr(Stdio::null()).status();
    }
}

/// Asserts nothing of container `id` is left on the host: no state dir, no cgroup, no
/// mount under the bundle.
pub fn assert_nothing_left(b: &Bundle) {
    assert!(!b.root.path().join(&b.id).exists(), "state dir left behind");
    for c in ["memory", "pids", "cpu", "devices", "freezer"] {
        assert!(!b.cgroup_dir(c).exists(), "cgroup {c}/{} left behind", b.id);
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(b.dir.path().to_str().unwrap()), "a mount under the bundle is left: {mi}");
}
