//! The container side of `create`: what the cloned child does, in order, until it
//! execs the container's program. It talks to the runtime over a [`Channel`]; any
//! failure is reported there as a message and the child exits.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{Hook, LinuxNamespaceType};

use crate::error::{Error, Result};
use crate::namespaces::{self, Plan};
use crate::process::ProcessPlan;
use crate::rootfs::RootfsPlan;
use crate::sync::{Channel, Msg};
use crate::sys;

/// How the init learns that it may exec.
pub enum StartSignal {
    /// `create` + `start`: an O_PATH descriptor of the exec fifo; `start` opens the
    /// read side and the init's blocking open for writing returns.
    Fifo(OwnedFd),
    /// `run`: the runtime sends Msg::Start on the channel.
    Channel,
}

pub struct InitConfig {
    pub id: String,
    pub namespaces: Plan,
    /// Namespaces joined by path, opened by the runtime (pid excluded: the runtime
    /// joins that one itself so the clone lands in it).
    pub join: Vec<(LinuxNamespaceType, OwnedFd)>,
    /// Namespaces the clone itself created (the rest are unshared by the child).
    pub clone_flags: i32,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub rootfs: RootfsPlan,
    pub process: ProcessPlan,
    pub console: Option<OwnedFd>,
    pub start: StartSignal,
    pub wants_runtime_hooks: bool,
    pub create_container_hooks: Option<Vec<Hook>>,
    pub start_container_hooks: Option<Vec<Hook>>,
    pub bundle: std::path::PathBuf,
    pub time_offsets: Vec<(String, i64, u32)>,
    /// The init joins this cgroup itself, first thing (the runtime does not add it).
    pub join_cgroup: Option<crate::cgroups::Cgroup>,
}

/// Runs in the cloned child. Never returns.
pub fn child_main(mut cfg: InitConfig, chan: Channel) -> ! {
    let err = match setup_and_exec(&mut cfg, &chan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // Before Ready the runtime is listening and reports this to its caller.
    if chan.send(&Msg::Error(err.to_string())).is_err() {
        eprintln!("berth-runtime: {err}");
    }
    // SAFETY: _exit skips atexit handlers and destructors, which belong to the parent.
    unsafe { libc::_exit(127) }
}

fn setup_and_exec(cfg: &mut InitConfig, chan: &Channel) -> Result<std::convert::Infallible> {
    // If the runtime dies while we are being set up, so do we.
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).map_err(|e| Error::io("PR_SET_PDEATHSIG", e))?;
    // Not dumpable: while this process still runs the runtime's binary, nothing in the
    // container may open /proc/<pid>/exe and overwrite it (CVE-2019-5736).
    sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(|e| Error::io("PR_SET_DUMPABLE", e))?;

    if let Some(cg) = &cfg.join_cgroup {
        cg.join_self()?;
    }
    namespaces::join_all(&cfg.join)?;
    let userns_new = cfg.namespaces.creates(LinuxNamespaceType::User);
    let userns = cfg.namespaces.has(LinuxNamespaceType::User);
    if userns_new && cfg.clone_flags & libc::CLONE_NEWUSER == 0 {
        sys::unshare(libc::CLONE_NEWUSER).map_err(|e| Error::io("creating user namespace", e))?;
    }
    if userns_new {
        chan.send(&Msg::UsernsCreated)?;
    }
    // Until Continue the runtime may still be adding us to our cgroup (the slow way, see
    // Cgroup::join_self) and setting oom_score_adj. When nothing before exec depends on
    // that (no user or cgroup namespace to create, no hooks that would run in the
    // cgroup), the namespaces and the root filesystem are set up meanwhile and Continue
    // is awaited just before Ready.
    let overlap = !userns_new
        && !cfg.namespaces.creates(LinuxNamespaceType::Cgroup)
        && !cfg.wants_runtime_hooks
        && cfg.create_container_hooks.as_ref().is_none_or(|h| h.is_empty());
    if !overlap {
        chan.expect(Msg::Continue)?;
    }
    if userns {
        // Become root of the user namespace (the runtime has written our maps).
        // SAFETY: integer-only syscalls.
        unsafe {
            if libc::setresgid(0, 0, 0) != 0 || libc::setresuid(0, 0, 0) != 0 {
                return Err(Error::io("becoming root in the user namespace", std::io::Error::last_os_error()));
            }
        }
    }
    let rest = cfg.namespaces.new_flags(&[LinuxNamespaceType::Pid, LinuxNamespaceType::User, LinuxNamespaceType::Cgroup, LinuxNamespaceType::Time])
        & !cfg.clone_flags;
    if rest != 0 {
        sys::unshare(rest).map_err(|e| Error::io("creating namespaces", e))?;
    }
    if cfg.namespaces.creates(LinuxNamespaceType::Network) {
        sys::loopback_up().map_err(|e| Error::io("bringing up lo", e))?;
    }
    // The cgroup namespace comes after the runtime moved us into our cgroup, so that
    // cgroup is the namespace's root.
    if cfg.namespaces.creates(LinuxNamespaceType::Cgroup) {
        sys::unshare(libc::CLONE_NEWCGROUP).map_err(|e| Error::io("creating cgroup namespace", e))?;
    }
    if cfg.namespaces.creates(LinuxNamespaceType::Time) {
        sys::unshare(namespaces::CLONE_NEWTIME).map_err(|e| Error::io("creating time namespace", e))?;
        let text: String = cfg.time_offsets.iter().map(|(c, s, ns)| format!("{c} {s} {ns}\n")).collect();
        if !text.is_empty() {
            std::fs::write("/proc/self/timens_offsets", text).map_err(|e| Error::io("writing time offsets", e))?;
        }
        // unshare puts only our children in the new time namespace. Newer kernels also
        // move us into it at execve, but Debian 12's 6.1 does not (the offsets were
        // silently lost there, seen with scripts/cgroup-v2-vm.sh). Enter it ourselves:
        // allowed since 5.6 for a single-threaded process, after the offsets are set.
        let ns = sys::open(Path::new("/proc/self/ns/time_for_children"), libc::O_RDONLY | libc::O_CLOEXEC, 0).map_err(|e| Error::io("opening time namespace", e))?;
        sys::setns(ns.as_raw_fd(), namespaces::CLONE_NEWTIME).map_err(|e| Error::io("entering time namespace", e))?;
    }
    if let Some(h) = &cfg.hostname {
        sys::sethostname(h).map_err(|e| Error::io(format!("sethostname {h:?}"), e))?;
    }
    if let Some(d) = &cfg.domainname {
        sys::setdomainname(d).map_err(|e| Error::io(format!("setdomainname {d:?}"), e))?;
    }
    if cfg.wants_runtime_hooks {
        chan.send(&Msg::RunCreateRuntimeHooks)?;
        chan.expect(Msg::Continue)?;
    }
    let has_mntns = cfg.namespaces.has(LinuxNamespaceType::Mount);
    let mut fd_dir: Option<OwnedFd> = None;
    if has_mntns {
        cfg.rootfs.prepare()?;
    }
    let state = hook_state(cfg, "created");
    crate::hooks::run_all(&cfg.create_container_hooks, "createContainer", &state)?;
    if has_mntns {
        cfg.rootfs.pivot()?;
        cfg.rootfs.finish()?;
    } else {
        // Without a mount namespace no /proc is mounted in the rootfs, so the exec
        // fifo cannot be reopened through /proc/self/fd once we are chrooted: keep
        // the host's fd directory for that one open (close-on-exec, dropped before
        // the container's program runs).
        if matches!(cfg.start, StartSignal::Fifo(_)) {
            fd_dir = Some(sys::open(Path::new("/proc/self/fd"), libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::io("opening /proc/self/fd", e))?);
        }
        let r = cfg.rootfs.rootfs.to_string_lossy().into_owned();
        sys::chroot(&r).map_err(|e| Error::io("chroot", e))?;
        sys::chdir("/").map_err(|e| Error::io("chdir /", e))?;
    }
    if cfg.process.terminal {
        let sock = cfg.console.as_ref().ok_or_else(|| Error::other("process.terminal is set but no console socket was given"))?;
        crate::console::setup_pty(sock.as_raw_fd(), cfg.process.console_size)?;
        cfg.console = None;
    }
    if overlap {
        chan.expect(Msg::Continue)?;
    }
    cfg.process.default_home();
    let exe = cfg.process.resolve_executable()?;
    sys::prctl(libc::PR_SET_PDEATHSIG, 0).map_err(|e| Error::io("PR_SET_PDEATHSIG", e))?;
    chan.send(&Msg::Ready)?;
    let err = match after_ready(cfg, chan, &exe, fd_dir) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // After Ready nobody reads the channel any more: stderr is all the container has.
    eprintln!("berth-runtime: {err}");
    // SAFETY: _exit skips destructors that belong to the parent.
    unsafe { libc::_exit(127) }
}

fn after_ready(cfg: &mut InitConfig, chan: &Channel, exe: &Path, fd_dir: Option<OwnedFd>) -> Result<std::convert::Infallible> {
    match &cfg.start {
        StartSignal::Fifo(fd) => {
            let w = match &fd_dir {
                Some(dir) => sys::openat(dir.as_raw_fd(), Path::new(&fd.as_raw_fd().to_string()), libc::O_WRONLY, 0),
                None => sys::open(Path::new(&sys::fd_path(fd.as_raw_fd())), libc::O_WRONLY, 0),
            }
            .map_err(|e| Error::io("opening exec fifo", e))?;
            drop(fd_dir);
            sys::write_all(w.as_raw_fd(), b"0").map_err(|e| Error::io("writing exec fifo", e))?;
        }
        StartSignal::Channel => chan.expect(Msg::Start)?,
    }
    let state = hook_state(cfg, "running");
    crate::hooks::run_all(&cfg.start_container_hooks, "startContainer", &state)?;
    cfg.process.finalize_and_exec(exe, true)
}

fn hook_state(cfg: &InitConfig, status: &str) -> String {
    serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "id": cfg.id,
        "status": status,
        "pid": sys::getpid(),
        "bundle": cfg.bundle,
    })
    .to_string()
}
