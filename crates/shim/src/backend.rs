//! Who makes the container: the runtime library in this process (the default), or an
//! external runc-compatible binary (runc, crun, berth-runtime) driven through its
//! command line.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_runtime::{CreateOptions, Runtime};

pub enum Backend {
    Library(Runtime),
    External { bin: PathBuf, root: PathBuf },
}

impl Backend {
    /// Creates the container (its init waits for `start`). The caller has put the
    /// container's stdio on our descriptors 0/1/2; an external runtime inherits them and
    /// passes them on. `err_capture` is read for an external runtime's error message.
    pub fn create(&self, id: &str, bundle: &Path, dir: &Path, console: Option<&Path>, err_capture: Option<&OwnedFd>) -> Result<i32, String> {
        match self {
            Backend::Library(rt) => {
                let opts = CreateOptions { bundle: bundle.to_path_buf(), console_socket: console.map(Path::to_path_buf), ..Default::default() };
                rt.create(id, &opts).map_err(|e| e.to_string())
            }
            Backend::External { bin, root } => {
                let pid_file = dir.join("init.pid");
                let _ = std::fs::remove_file(&pid_file);
                let mut cmd = Command::new(bin);
                cmd.arg("--root").arg(root).arg("create").arg("--bundle").arg(bundle).arg("--pid-file").arg(&pid_file);
                if let Some(c) = console {
                    cmd.arg("--console-socket").arg(c);
                }
                cmd.arg(id).stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
                let status = spawn_plain(&mut cmd).and_then(|mut c| c.wait()).map_err(|e| format!("running {}: {e}", bin.display()))?;
                if !status.success() {
                    let msg = err_capture.map(drain_text).unwrap_or_default();
                    let _ = std::fs::remove_file(&pid_file);
                    return Err(if msg.is_empty() { format!("{} create failed ({status})", bin.display()) } else { msg });
                }
                let text = std::fs::read_to_string(&pid_file).map_err(|e| format!("reading {}: {e}", pid_file.display()))?;
                let _ = std::fs::remove_file(&pid_file);
                text.trim().parse().map_err(|_| format!("bad pid file content {text:?}"))
            }
        }
    }

    pub fn start(&self, id: &str) -> Result<(), String> {
        match self {
            Backend::Library(rt) => rt.start(id).map_err(|e| e.to_string()),
            Backend::External { .. } => self.external(&["start", id]),
        }
    }

    pub fn kill(&self, id: &str, sig: i32, all: bool) -> Result<(), String> {
        match self {
            Backend::Library(rt) => rt.kill(id, sig, all).map_err(|e| e.to_string()),
            Backend::External { .. } => {
                let sig = sig.to_string();
                if all {
                    self.external(&["kill", "--all", id, &sig])
                } else {
                    self.external(&["kill", id, &sig])
                }
            }
        }
    }

    /// Removes the runtime state, killing what is left in the cgroup.
    pub fn delete(&self, id: &str) -> Result<(), String> {
        match self {
            Backend::Library(rt) => rt.delete(id, true).map_err(|e| e.to_string()),
            Backend::External { .. } => self.external(&["delete", "--force", id]),
        }
    }

    /// Did the OOM killer strike in the container's cgroup? Read before `delete`.
    pub fn oom_killed(&self, id: &str, cgroup: Option<&Path>) -> bool {
        match self {
            Backend::Library(rt) => rt.stats(id).map(|s| s.oom_kills > 0).unwrap_or(false),
            Backend::External { .. } => cgroup.is_some_and(oom_kills_in),
        }
    }

    fn external(&self, args: &[&str]) -> Result<(), String> {
        let Backend::External { bin, root } = self else { return Ok(()) };
        let mut cmd = Command::new(bin);
        cmd.arg("--root").arg(root).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let out = spawn_plain(&mut cmd).and_then(|c| c.wait_with_output()).map_err(|e| format!("running {}: {e}", bin.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(if msg.is_empty() { format!("{} {} failed ({})", bin.display(), args[0], out.status) } else { msg })
    }
}

/// Spawns with the signal dispositions a program expects: we ignore SIGHUP/SIGPIPE,
/// and ignored signals survive execve.
fn spawn_plain(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    // SAFETY: only async-signal-safe calls (signal, sigprocmask) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_DFL);
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    cmd.spawn()
}

/// What is waiting in a (nonblocking) pipe, as text.
fn drain_text(fd: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < 64 * 1024 {
        match berth_runtime::sys::read(fd.as_raw_fd(), &mut buf) {
            Ok(n) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    // runc writes JSON log lines with --log-format json; plain text otherwise.
    String::from_utf8_lossy(&out).trim().to_string()
}

/// The memory cgroup directory of a process, as the host sees it (for a container an
/// external runtime made, whose state we cannot read).
pub fn memory_cgroup_of(pid: i32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let v2 = berth_runtime::cgroups::host_version() == berth_runtime::cgroups::Version::V2;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        let rel = path.trim_start_matches('/');
        if v2 && ctrls.is_empty() {
            Some(Path::new("/sys/fs/cgroup").join(rel))
        } else if !v2 && ctrls.split(',').any(|c| c == "memory") {
            Some(Path::new("/sys/fs/cgroup").join(ctrls).join(rel))
        } else {
            None
        }
    })
}

/// The OOM-kill counter of a memory cgroup: v2 memory.events, v1 memory.oom_control.
fn oom_kills_in(dir: &Path) -> bool {
    ["memory.events", "memory.oom_control"].iter().any(|f| {
        std::fs::read_to_string(dir.join(f)).is_ok_and(|t| {
            t.lines().any(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > 0))
        })
    })
}
