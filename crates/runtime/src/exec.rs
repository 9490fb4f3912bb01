//! `exec`: a new process inside a running container. It joins every namespace and the
//! cgroup of the container's init, and gets the same seccomp filter, capabilities and
//! no_new_privs treatment as a spec'd process.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use crate::container::{write_pid_file, Runtime};
use crate::error::{Error, Result};
use crate::process::ProcessPlan;
use crate::state::Status;
use crate::sys;

#[derive(Default)]
pub struct ExecOptions {
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
}

/// Namespace join order: user first (it grants the rest), mount last.
const ORDER: [(&str, i32); 7] = [
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("time", crate::namespaces::CLONE_NEWTIME),
    ("mnt", libc::CLONE_NEWNS),
];

fn same_ns(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.ino() == y.ino() && x.dev() == y.dev(),
        _ => false,
    }
}

impl Runtime {
    /// Runs `process` in container `id`. Returns the exit code (foreground) or 0 once
    /// the process has exec'd (detached).
    pub fn exec(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        let pid = self.exec_spawn(id, process, opts)?;
        if opts.detach {
            return Ok(0);
        }
        crate::supervise::wait_forwarding(pid)
    }

    /// Starts `process` in container `id` as a child of the caller and returns its pid
    /// once it has exec'd, without waiting for it (for a supervisor such as the shim,
    /// which reaps it itself). `opts.detach` is ignored.
    pub fn exec_spawn(&self, id: &str, process: &Process, opts: &ExecOptions) -> Result<i32> {
        let (sd, saved, spec) = self.load_for_exec(id)?;
        let status = saved.status(&sd);
        if status != Status::Running && status != Status::Created {
            return Err(Error::State { id: id.into(), status: status.to_string(), msg: "cannot exec in a container that is not running".into() });
        }
        let linux = spec.linux().clone().unwrap_or_default();
        let precompiled = spec.annotations().as_ref().and_then(|a| a.get(crate::seccomp::PROGRAM_ANNOTATION)).map(String::as_str);
        let seccomp = linux.seccomp().as_ref().map(|s| crate::seccomp::program(s, precompiled)).transpose()?;
        let warn = &self.warn;
        let mut plan = ProcessPlan::from_spec(process, seccomp, None, &mut |m| warn(&m))?;
        plan.preserve_fds = opts.preserve_fds;
        if plan.terminal && opts.console_socket.is_none() {
            return Err(Error::other("exec with a terminal needs --console-socket"));
        }
        let mut fds: Vec<(i32, OwnedFd)> = Vec::new();
        let mut pidns: Option<OwnedFd> = None;
        for name in &saved.namespaces {
            let target = PathBuf::from(format!("/proc/{}/ns/{name}", saved.pid));
            let own = PathBuf::from(format!("/proc/self/ns/{name}"));
            if same_ns(&target, &own) {
                continue;
            }
            let fd = sys::open(&target, libc::O_RDONLY, 0).map_err(|e| Error::io(format!("opening {}", target.display()), e))?;
            if name == "pid" {
                pidns = Some(fd);
            } else if let Some((_, flag)) = ORDER.iter().find(|(n, _)| n == name) {
                fds.push((*flag, fd));
            }
        }
        fds.sort_by_key(|(flag, _)| ORDER.iter().position(|(_, f)| f == flag));
        // Host root may enter every namespace, but not after it has entered the user
        // namespace (its root has no say over a network namespace the engine made
        // outside it): so the user namespace goes last. An unprivileged caller needs
        // that namespace's capabilities first.
        if sys::geteuid() == 0 {
            if let Some(i) = fds.iter().position(|(f, _)| *f == libc::CLONE_NEWUSER) {
                let user = fds.remove(i);
                fds.push(user);
            }
        }
        if let Some(fd) = &pidns {
            sys::setns(fd.as_raw_fd(), libc::CLONE_NEWPID).map_err(|e| Error::io("joining pid namespace", e))?;
        }
        let console = match &opts.console_socket {
            Some(p) if plan.terminal => Some(crate::console::connect(p)?),
            _ => None,
        };
        let cgroup = saved.cgroup.clone();
        let (err_r, err_w) = sys::pipe().map_err(|e| Error::io("pipe", e))?;
        let pid = sys::clone_fork(0).map_err(|e| Error::io("fork", e))?;
        if pid == 0 {
            drop(err_r);
            let r = (|| -> Result<std::convert::Infallible> {
                sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(|e| Error::io("PR_SET_DUMPABLE", e))?;
                // Still in the host's user namespace, and single-threaded: on v1 the
                // cheap self-move (no RCU grace period, see Cgroup::join_self).
                match &cgroup {
                    Some(cg) if cg.can_join_self() => cg.join_self()?,
                    Some(cg) => cg.add_pid(sys::getpid())?,
                    None => {}
                }
                for (flag, fd) in &fds {
                    sys::setns(fd.as_raw_fd(), *flag).map_err(|e| Error::io("joining container namespace", e))?;
                }
                if saved.userns {
                    // SAFETY: integer-only syscalls.
                    unsafe {
                        libc::setresgid(0, 0, 0);
                        libc::setresuid(0, 0, 0);
                    }
                }
                if let Some(c) = &console {
                    crate::console::setup_pty(c.as_raw_fd(), plan.console_size)?;
                }
                plan.default_home();
                let exe = plan.resolve_executable()?;
                plan.finalize_and_exec(&exe, true)
            })();
            let e = match r {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = sys::write_all(err_w.as_raw_fd(), e.to_string().as_bytes());
            // SAFETY: _exit skips the parent's destructors.
            unsafe { libc::_exit(127) }
        }
        drop(err_w);
        drop(console);
        // The pipe is close-on-exec: EOF without data means the exec succeeded.
        let mut msg = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = sys::read(err_r.as_raw_fd(), &mut buf) {
            if n == 0 {
                break;
            }
            msg.extend_from_slice(&buf[..n]);
        }
        if !msg.is_empty() {
            let _ = sys::waitpid(pid, 0);
            return Err(Error::other(String::from_utf8_lossy(&msg).into_owned()));
        }
        if let Some(pf) = &opts.pid_file {
            write_pid_file(pf, pid)?;
        }
        Ok(pid)
    }
}
