//! The runtime side of the lifecycle: create, start, run, state, kill, delete, pause,
//! resume. Each is one short-lived, single-threaded process acting on the state
//! directory, as with runc.

use std::collections::HashMap;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::cgroups::{self, Cgroup};
use crate::error::{Error, IoContext, Result};
use crate::init::{InitConfig, StartSignal};
use crate::namespaces::{self, Plan};
use crate::process::ProcessPlan;
use crate::rootfs::{self, RootfsPlan};
use crate::state::{self, OciState, Saved, StateDir, Status};
use crate::sync::{Channel, Msg};
use crate::sys;

pub struct Runtime {
    pub root: PathBuf,
    /// Where warnings go (the --log file or stderr), set by the binary.
    pub warn: Box<dyn Fn(&str)>,
}

#[derive(Default, Clone)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
}

/// A container that `run` started and supervises.
pub struct Started {
    pub pid: i32,
}

pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = fs::read(&path).map_err(|e| Error::Bundle { bundle: bundle.to_path_buf(), msg: format!("reading config.json: {e}") })?;
    serde_json::from_slice(&data).map_err(|e| Error::Config { path, msg: e.to_string() })
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => {
            if let Some(off) = name.strip_prefix("RTMIN+").and_then(|n| n.parse::<i32>().ok()) {
                return Ok(libc::SIGRTMIN() + off);
            }
            return Err(Error::other(format!("unknown signal {s:?}")));
        }
    };
    Ok(n)
}

fn write_id_map(pid: i32, file: &str, maps: &[oci_spec::runtime::LinuxIdMapping]) -> Result<()> {
    let text: String = maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect();
    fs::write(format!("/proc/{pid}/{file}"), text).ctx(|| format!("writing {file} of the container"))
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime { root: root.into(), warn: Box::new(|m| eprintln!("berth-runtime: warning: {m}")) }
    }

    fn dir(&self, id: &str) -> Result<StateDir> {
        StateDir::new(&self.root, id)
    }

    fn load(&self, id: &str) -> Result<(StateDir, Saved)> {
        let d = self.dir(id)?;
        let s = d.load(id)?;
        Ok((d, s))
    }

    /// `create`: the container's init is set up and waits for `start`.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        let (pid, _chan) = self.create_inner(id, opts, false)?;
        Ok(pid)
    }

    /// `run`: create and start at once (no fifo round trip). Returns the init's pid; the
    /// caller waits for it (it is our child) or leaves it running (detached).
    pub fn run(&self, id: &str, opts: &CreateOptions) -> Result<Started> {
        let (pid, chan) = self.create_inner(id, opts, true)?;
        let chan = chan.expect("run keeps its channel");
        let (sd, saved) = self.load(id)?;
        if let Err(e) = chan.send(&Msg::Start) {
            let _ = self.destroy(&sd, &saved);
            return Err(e);
        }
        self.poststart(&sd, &saved);
        Ok(Started { pid })
    }

    fn create_inner(&self, id: &str, opts: &CreateOptions, run_mode: bool) -> Result<(i32, Option<Channel>)> {
        let sd = self.dir(id)?;
        if sd.dir.exists() {
            return Err(Error::Exists(id.to_string()));
        }
        let bundle = fs::canonicalize(&opts.bundle).map_err(|e| Error::Bundle { bundle: opts.bundle.clone(), msg: e.to_string() })?;
        let spec = load_spec(&bundle)?;
        let prepared = self.prepare(id, &bundle, &spec, opts)?;
        fs::create_dir_all(&self.root).ctx(|| format!("creating {}", self.root.display()))?;
        fs::create_dir(&sd.dir).map_err(|e| if e.kind() == std::io::ErrorKind::AlreadyExists { Error::Exists(id.into()) } else { Error::io("creating state dir", e) })?;
        let result = self.spawn(id, &sd, &bundle, &spec, prepared, opts, run_mode);
        if result.is_err() {
            sd.remove();
        }
        result
    }

    /// Everything that can fail before anything exists: parsing, validation, seccomp.
    fn prepare(&self, _id: &str, bundle: &Path, spec: &Spec, opts: &CreateOptions) -> Result<Prepared> {
        let bad = |msg: String| Error::Bundle { bundle: bundle.to_path_buf(), msg };
        let root = spec.root().as_ref().ok_or_else(|| bad("config.json has no root".into()))?;
        let rootfs = if root.path().is_absolute() { root.path().clone() } else { bundle.join(root.path()) };
        let rootfs = fs::canonicalize(&rootfs).map_err(|e| bad(format!("rootfs {}: {e}", rootfs.display())))?;
        if !rootfs.is_dir() {
            return Err(bad(format!("rootfs {} is not a directory", rootfs.display())));
        }
        let process = spec.process().as_ref().ok_or_else(|| bad("config.json has no process".into()))?;
        let linux = spec.linux().clone().unwrap_or_default();
        // LSM labels are refused rather than ignored: a profile the caller asked for
        // must not silently not apply (runc also refuses them where the LSM is off).
        if process.apparmor_profile().as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(bad("apparmorProfile is set but berth-runtime does not apply AppArmor profiles".into()));
        }
        if process.selinux_label().as_deref().is_some_and(|l| !l.is_empty()) || linux.mount_label().as_deref().is_some_and(|l| !l.is_empty()) {
            return Err(bad("an SELinux label is set but berth-runtime does not apply SELinux labels".into()));
        }
        let plan = Plan::from_spec(linux.namespaces().as_deref().unwrap_or(&[]))?;
        let userns = plan.has(LinuxNamespaceType::User);
        if plan.creates(LinuxNamespaceType::User) && (linux.uid_mappings().is_none() || linux.gid_mappings().is_none()) {
            return Err(bad("a new user namespace needs linux.uidMappings and linux.gidMappings".into()));
        }
        // A UTS namespace joined by path counts too (runc sets the hostname there):
        // only the host's own must not be renamed.
        if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !plan.has(LinuxNamespaceType::Uts) {
            return Err(bad("hostname is set but the container has no UTS namespace of its own".into()));
        }
        for k in linux.sysctl().iter().flatten().map(|(k, _)| k) {
            rootfs::validate_sysctl(k, plan.has(LinuxNamespaceType::Ipc), plan.has(LinuxNamespaceType::Network), plan.has(LinuxNamespaceType::Uts))?;
        }
        for m in spec.mounts().iter().flatten() {
            if !m.destination().is_absolute() {
                return Err(bad(format!("mount destination {} is not absolute", m.destination().display())));
            }
            if crate::safe_path::relative_link_escape(&rootfs, m.destination()).is_some() {
                return Err(bad(format!("mount destination {} escapes the container rootfs through a symlink", m.destination().display())));
            }
        }
        let precompiled = spec.annotations().as_ref().and_then(|a| a.get(crate::seccomp::PROGRAM_ANNOTATION)).map(String::as_str);
        let seccomp = linux.seccomp().as_ref().map(|s| crate::seccomp::program(s, precompiled)).transpose()?;
        let warn = &self.warn;
        let mut pplan = ProcessPlan::from_spec(process, seccomp, None, &mut |m| warn(&m))?;
        pplan.preserve_fds = opts.preserve_fds;
        if pplan.terminal && opts.console_socket.is_none() {
            return Err(bad("process.terminal is true but no --console-socket was given".into()));
        }
        let propagation = linux.rootfs_propagation().as_deref().filter(|p| !p.is_empty()).map(rootfs::parse_propagation).transpose()?;
        let time_offsets = linux
            .time_offsets()
            .iter()
            .flatten()
            .map(|(clock, o)| (clock.clone(), o.secs().unwrap_or(0), o.nanosecs().unwrap_or(0)))
            .collect();
        Ok(Prepared {
            rootfs: RootfsPlan {
                rootfs,
                bundle: bundle.to_path_buf(),
                readonly: root.readonly().unwrap_or(false),
                propagation,
                mounts: spec.mounts().clone().unwrap_or_default(),
                devices: linux.devices().clone().unwrap_or_default(),
                masked: linux.masked_paths().clone().unwrap_or_default(),
                readonly_paths: linux.readonly_paths().clone().unwrap_or_default(),
                sysctl: linux.sysctl().clone().unwrap_or_default(),
                userns,
                cgroupns: plan.has(LinuxNamespaceType::Cgroup),
                no_pivot: opts.no_pivot,
                cgroup: None,
            },
            process: pplan,
            plan,
            time_offsets,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn(&self, id: &str, sd: &StateDir, bundle: &Path, spec: &Spec, mut p: Prepared, opts: &CreateOptions, run_mode: bool) -> Result<(i32, Option<Channel>)> {
        let linux = spec.linux().clone().unwrap_or_default();
        fs::write(sd.config(), serde_json::to_vec(spec).map_err(|e| Error::other(e.to_string()))?).ctx(|| "saving config.json copy".into())?;
        let fifo_fd = if run_mode {
            None
        } else {
            let c = sys::cstr(sd.fifo()).map_err(|e| Error::io("fifo path", e))?;
            // SAFETY: c is a valid C string.
            if unsafe { libc::mkfifo(c.as_ptr(), 0o622) } != 0 {
                return Err(Error::io("creating exec fifo", std::io::Error::last_os_error()));
            }
            // A non-root container user must be able to open it for writing.
            let _ = fs::set_permissions(sd.fifo(), fs::Permissions::from_mode(0o622));
            Some(sys::open(&sd.fifo(), libc::O_PATH, 0).map_err(|e| Error::io("opening exec fifo", e))?)
        };
        let cg_path = cgroups::normalize_path(linux.cgroups_path().as_deref(), id);
        let cgroup = Cgroup::create(&cg_path)?;
        let cleanup_cg = |e: Error| -> Error {
            let _ = cgroup.destroy();
            e
        };
        if let Some(res) = linux.resources() {
            let res = with_device_allows(res, linux.devices().as_deref().unwrap_or(&[]));
            cgroup.apply(&res).map_err(cleanup_cg)?;
        }
        p.rootfs.cgroup = Some(cgroup.clone());
        let mut join: Vec<_> = namespaces::open_all(&p.plan.join).map_err(cleanup_cg)?;
        // Joining a pid namespace only affects children: join it here so the clone
        // lands in it.
        if let Some(i) = join.iter().position(|(t, _)| *t == LinuxNamespaceType::Pid) {
            let (_, fd) = join.remove(i);
            sys::setns(fd.as_raw_fd(), libc::CLONE_NEWPID).map_err(|e| cleanup_cg(Error::io("joining pid namespace", e)))?;
        }
        let console = match &opts.console_socket {
            Some(path) if p.process.terminal => Some(crate::console::connect(path).map_err(cleanup_cg)?),
            _ => None,
        };
        // A new user namespace must own the new pid namespace (else the container may
        // not mount /proc), so the clone makes both. The child could not join namespaces
        // owned by the host's user namespace from inside its own, so the network, IPC
        // and UTS namespaces given by path (an engine's prepared netns) are entered by
        // this thread just around the clone, and the child inherits them.
        let mut restore: Vec<(LinuxNamespaceType, std::os::fd::OwnedFd)> = Vec::new();
        if p.plan.creates(LinuxNamespaceType::User) {
            let mut i = 0;
            while i < join.len() {
                let t = join[i].0;
                if !matches!(t, LinuxNamespaceType::Network | LinuxNamespaceType::Ipc | LinuxNamespaceType::Uts) {
                    i += 1;
                    continue;
                }
                let own = sys::open(Path::new(&format!("/proc/thread-self/ns/{}", namespaces::proc_name(t))), libc::O_RDONLY | libc::O_CLOEXEC, 0)
                    .map_err(|e| cleanup_cg(Error::io("opening own namespace", e)))?;
                let (t, fd) = join.remove(i);
                sys::setns(fd.as_raw_fd(), namespaces::flag(t)).map_err(|e| cleanup_cg(Error::io("joining namespace", e)))?;
                restore.push((t, own));
            }
        }
        let mut clone_flags = p.plan.new_flags(&[LinuxNamespaceType::Cgroup, LinuxNamespaceType::Time]);
        if !join.is_empty() {
            // Joined namespaces must be entered before new ones are made.
            clone_flags &= libc::CLONE_NEWPID;
        } else if p.plan.creates(LinuxNamespaceType::User) {
            // The rest are made once we are root in the new user namespace, so that
            // what they create (the mqueue root, say) belongs to the container's root.
            clone_flags &= libc::CLONE_NEWPID | libc::CLONE_NEWUSER;
        }
        let hooks = spec.hooks().clone().unwrap_or_default();
        let wants_runtime_hooks = hooks.prestart().as_ref().is_some_and(|h| !h.is_empty()) || hooks.create_runtime().as_ref().is_some_and(|h| !h.is_empty());
        let (parent_chan, child_chan) = Channel::pair().map_err(cleanup_cg)?;
        let userns_new = p.plan.creates(LinuxNamespaceType::User);
        let init_cfg = InitConfig {
            id: id.to_string(),
            namespaces: std::mem::take(&mut p.plan),
            join,
            clone_flags,
            hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
            domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
            rootfs: p.rootfs,
            process: p.process,
            console,
            start: match fifo_fd {
                Some(fd) => StartSignal::Fifo(fd),
                None => StartSignal::Channel,
            },
            wants_runtime_hooks,
            create_container_hooks: hooks.create_container().clone(),
            start_container_hooks: hooks.start_container().clone(),
            bundle: bundle.to_path_buf(),
            time_offsets: p.time_offsets,
            // In a new user namespace the init may no longer write the host's cgroup files.
            join_cgroup: (!userns_new && cgroup.can_join_self()).then(|| cgroup.clone()),
        };
        let ns_names: Vec<String> = [
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::User,
            LinuxNamespaceType::Cgroup,
            LinuxNamespaceType::Time,
        ]
        .into_iter()
        .filter(|t| init_cfg.namespaces.has(*t))
        .map(|t| namespaces::proc_name(t).to_string())
        .collect();
        let userns = init_cfg.namespaces.has(LinuxNamespaceType::User);
        let init_joins_cgroup = init_cfg.join_cgroup.is_some();

        let pid = sys::clone_fork(clone_flags as u64);
        if matches!(pid, Ok(0)) {
            drop(parent_chan);
            crate::init::child_main(init_cfg, child_chan);
        }
        for (t, own) in restore {
            if let Err(e) = sys::setns(own.as_raw_fd(), namespaces::flag(t)) {
                // This thread is in the container's namespace now: nothing after this
                // may run in it, the caller (a shim, the CLI) must not carry on.
                eprintln!("berth-runtime: returning to own {} namespace: {e}", namespaces::proc_name(t));
                std::process::abort();
            }
        }
        let pid = pid.map_err(|e| cleanup_cg(Error::io("clone", e)))?;
        drop(child_chan);
        drop(init_cfg);

        let fail = |e: Error| -> Error {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::waitpid(pid, 0);
            let _ = cgroup.destroy();
            e
        };
        // While the init sets up ahead of Continue (init.rs), a failure of its own may be
        // why ours happened: once it is dead, its error is the one to report.
        let fail_setup = |e: Error| -> Error {
            let e = fail(e);
            match parent_chan.recv() {
                Ok(Msg::Error(msg)) => Error::other(msg),
                _ => e,
            }
        };
        if userns_new {
            parent_chan.expect(Msg::UsernsCreated).map_err(fail)?;
            write_id_map(pid, "uid_map", linux.uid_mappings().as_deref().unwrap_or(&[])).map_err(fail)?;
            write_id_map(pid, "gid_map", linux.gid_mappings().as_deref().unwrap_or(&[])).map_err(fail)?;
        }
        // Otherwise the init moved itself, or failed to and says so on the channel.
        if !init_joins_cgroup {
            cgroup.add_pid(pid).map_err(fail_setup)?;
        }
        if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
            fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string()).ctx(|| format!("setting oom_score_adj {adj}")).map_err(fail_setup)?;
        }
        parent_chan.send(&Msg::Continue).map_err(fail_setup)?;
        let (_, pid_start) = state::proc_stat(pid).ok_or_else(|| fail(Error::other("container init vanished")))?;
        let saved = Saved {
            id: id.to_string(),
            pid,
            pid_start,
            bundle: bundle.to_path_buf(),
            rootfs: fs::canonicalize(bundle.join(spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_default())).unwrap_or_default(),
            created: now_rfc3339(),
            owner: String::new(),
            annotations: spec.annotations().clone().unwrap_or_default().into_iter().collect::<HashMap<_, _>>(),
            cgroup: Some(cgroup.clone()),
            namespaces: ns_names,
            userns,
        };
        if wants_runtime_hooks {
            parent_chan.expect(Msg::RunCreateRuntimeHooks).map_err(fail)?;
            let st = serde_json::to_string(&OciState { status: Status::Creating, ..saved.oci_state(sd) }).unwrap_or_default();
            crate::hooks::run_all(hooks.prestart(), "prestart", &st).map_err(fail)?;
            crate::hooks::run_all(hooks.create_runtime(), "createRuntime", &st).map_err(fail)?;
            parent_chan.send(&Msg::Continue).map_err(fail)?;
        }
        parent_chan.expect(Msg::Ready).map_err(fail)?;
        sd.save(&saved).map_err(fail)?;
        if let Some(pf) = &opts.pid_file {
            write_pid_file(pf, pid).map_err(fail)?;
        }
        Ok((pid, if run_mode { Some(parent_chan) } else { None }))
    }

    pub fn start(&self, id: &str) -> Result<()> {
        let (sd, saved) = self.load(id)?;
        let status = saved.status(&sd);
        if status != Status::Created {
            return Err(Error::State { id: id.into(), status: status.to_string(), msg: "cannot start a container that is not created".into() });
        }
        let fifo = sys::open(&sd.fifo(), libc::O_RDONLY | libc::O_NONBLOCK, 0).map_err(|e| Error::io("opening exec fifo", e))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 1];
        loop {
            match sys::read(fifo.as_raw_fd(), &mut buf) {
                Ok(1) => break,
                Ok(_) => {
                    // No writer yet: the init is on its way to the fifo, or dead.
                    if !saved.init_alive() {
                        return Err(Error::State { id: id.into(), status: "stopped".into(), msg: "container init exited before start".into() });
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
                Err(e) => return Err(Error::io("reading exec fifo", e)),
            }
            if Instant::now() > deadline {
                return Err(Error::other("timed out waiting for the container init to accept start"));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = fs::remove_file(sd.fifo());
        self.poststart(&sd, &saved);
        Ok(())
    }

    fn poststart(&self, sd: &StateDir, saved: &Saved) {
        if let Ok(spec) = load_spec_copy(sd) {
            if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().clone()) {
                let st = serde_json::to_string(&saved.oci_state(sd)).unwrap_or_default();
                // Poststart failures are logged, not fatal (runtime spec).
                if let Err(e) = crate::hooks::run_all(&Some(h), "poststart", &st) {
                    (self.warn)(&e.to_string());
                }
            }
        }
    }

    pub fn state(&self, id: &str) -> Result<OciState> {
        let (sd, saved) = self.load(id)?;
        Ok(saved.oci_state(&sd))
    }

    pub fn list(&self) -> Vec<OciState> {
        state::list(&self.root).into_iter().map(|(sd, s)| s.oci_state(&sd)).collect()
    }

    pub fn kill(&self, id: &str, sig: i32, all: bool) -> Result<()> {
        let (sd, saved) = self.load(id)?;
        let status = saved.status(&sd);
        if status == Status::Stopped && !all {
            return Err(Error::State { id: id.into(), status: status.to_string(), msg: "container not running".into() });
        }
        if all {
            if let Some(cg) = &saved.cgroup {
                cg.kill_all(sig);
                return Ok(());
            }
        }
        sys::kill(saved.pid, sig).map_err(|e| Error::io(format!("signalling container {id}"), e))?;
        // A paused container cannot act on the signal until thawed.
        if sig == libc::SIGKILL && status == Status::Paused {
            if let Some(cg) = &saved.cgroup {
                let _ = cg.freeze(false);
            }
        }
        Ok(())
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let (sd, saved) = self.load(id)?;
        let status = saved.status(&sd);
        if status != Status::Running {
            return Err(Error::State { id: id.into(), status: status.to_string(), msg: "container not running".into() });
        }
        saved.cgroup.as_ref().ok_or_else(|| Error::other("container has no cgroup"))?.freeze(true)
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        let (sd, saved) = self.load(id)?;
        let status = saved.status(&sd);
        if status != Status::Paused {
            return Err(Error::State { id: id.into(), status: status.to_string(), msg: "container not paused".into() });
        }
        saved.cgroup.as_ref().ok_or_else(|| Error::other("container has no cgroup"))?.freeze(false)
    }

    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let sd = self.dir(id)?;
        let saved = match sd.load(id) {
            Ok(s) => s,
            // A state dir without state.json is a create that died half-way.
            Err(_) if sd.dir.exists() && force => {
                sd.remove();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let status = saved.status(&sd);
        if matches!(status, Status::Running | Status::Paused) && !force {
            return Err(Error::State { id: id.into(), status: status.to_string(), msg: "cannot delete a container that is not stopped (use --force)".into() });
        }
        self.destroy(&sd, &saved)
    }

    /// Kills whatever is left, removes the cgroup, runs poststop hooks, drops the state.
    fn destroy(&self, sd: &StateDir, saved: &Saved) -> Result<()> {
        if saved.init_alive() {
            if let Some(cg) = &saved.cgroup {
                cg.kill_all(libc::SIGKILL);
            }
            let _ = sys::kill(saved.pid, libc::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(10);
            while saved.init_alive() && Instant::now() < deadline {
                // Our own child (run): reap it so it does not linger as a zombie.
                let _ = sys::waitpid(saved.pid, libc::WNOHANG);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if let Some(cg) = &saved.cgroup {
            cg.destroy()?;
        }
        if let Ok(spec) = load_spec_copy(sd) {
            if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststop().clone()) {
                let st = serde_json::to_string(&saved.oci_state(sd)).unwrap_or_default();
                if let Err(e) = crate::hooks::run_all(&Some(h), "poststop", &st) {
                    (self.warn)(&e.to_string());
                }
            }
        }
        sd.remove();
        Ok(())
    }

    /// Pids of every process in the container.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let (_, saved) = self.load(id)?;
        saved.cgroup.as_ref().map_or(Ok(vec![]), |c| c.pids())
    }

    pub fn stats(&self, id: &str) -> Result<cgroups::Stats> {
        let (_, saved) = self.load(id)?;
        Ok(saved.cgroup.as_ref().map(|c| c.stats()).unwrap_or_default())
    }

    pub fn update(&self, id: &str, res: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let (_, saved) = self.load(id)?;
        saved.cgroup.as_ref().ok_or_else(|| Error::other("container has no cgroup"))?.apply(res)
    }

    pub(crate) fn load_for_exec(&self, id: &str) -> Result<(StateDir, Saved, Spec)> {
        let (sd, saved) = self.load(id)?;
        let spec = load_spec_copy(&sd)?;
        Ok((sd, saved, spec))
    }
}

/// The spec's device rules plus allow rules for the devices every container gets and
/// for the spec's own devices, appended after them as runc does, so a "deny all" rule
/// in a spec still leaves /dev/null and friends usable.
fn with_device_allows(res: &oci_spec::runtime::LinuxResources, devices: &[oci_spec::runtime::LinuxDevice]) -> oci_spec::runtime::LinuxResources {
    let mut res = res.clone();
    let Some(rules) = res.devices().clone() else { return res };
    if rules.is_empty() {
        return res;
    }
    let rule = |typ: &str, major: Option<i64>, minor: Option<i64>, access: &str| -> Option<oci_spec::runtime::LinuxDeviceCgroup> {
        serde_json::from_value(serde_json::json!({"allow": true, "type": typ, "major": major, "minor": minor, "access": access})).ok()
    };
    let mut all = rules;
    let defaults: [(&str, Option<i64>, Option<i64>, &str); 12] = [
        ("c", None, None, "m"),
        ("b", None, None, "m"),
        ("c", Some(1), Some(3), "rwm"),
        ("c", Some(1), Some(5), "rwm"),
        ("c", Some(1), Some(7), "rwm"),
        ("c", Some(1), Some(8), "rwm"),
        ("c", Some(1), Some(9), "rwm"),
        ("c", Some(5), Some(0), "rwm"),
        ("c", Some(5), Some(1), "rwm"),
        ("c", Some(5), Some(2), "rwm"),
        ("c", Some(136), None, "rwm"),
        ("c", Some(10), Some(200), "rwm"),
    ];
    // An allow already granted after the spec's last deny changes nothing: engines
    // (Docker, berthd) list these same defaults, and each rule is a cgroup write.
    let last_deny = all.iter().rposition(|r| !r.allow());
    let mut push = |r: Option<oci_spec::runtime::LinuxDeviceCgroup>| {
        let Some(r) = r else { return };
        if !all.iter().skip(last_deny.map_or(0, |i| i + 1)).any(|x| x == &r) {
            all.push(r);
        }
    };
    for (t, ma, mi, a) in defaults {
        push(rule(t, ma, mi, a));
    }
    for d in devices {
        let typ = match d.typ() {
            oci_spec::runtime::LinuxDeviceType::B => "b",
            oci_spec::runtime::LinuxDeviceType::P => continue,
            _ => "c",
        };
        push(rule(typ, Some(d.major()), Some(d.minor()), "rwm"));
    }
    res.set_devices(Some(all));
    res
}

struct Prepared {
    rootfs: RootfsPlan,
    process: ProcessPlan,
    plan: Plan,
    time_offsets: Vec<(String, i64, u32)>,
}

pub(crate) fn load_spec_copy(sd: &StateDir) -> Result<Spec> {
    let data = fs::read(sd.config()).ctx(|| "reading saved config.json".into())?;
    serde_json::from_slice(&data).map_err(|e| Error::Config { path: sd.config(), msg: e.to_string() })
}

pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    // Written whole and renamed, so a reader never sees a partial pid.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, pid.to_string()).ctx(|| format!("writing pid file {}", tmp.display()))?;
    fs::rename(&tmp, path).ctx(|| format!("writing pid file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(v: serde_json::Value) -> oci_spec::runtime::LinuxResources {
        serde_json::from_value(serde_json::json!({ "devices": v })).unwrap()
    }

    fn text(res: &oci_spec::runtime::LinuxResources) -> Vec<String> {
        res.devices().clone().unwrap_or_default().iter().map(|r| format!("{} {:?} {:?}:{:?} {:?}", r.allow(), r.typ(), r.major(), r.minor(), r.access())).collect()
    }

    #[test]
    fn device_allows_already_granted_are_not_repeated() {
        // Docker's list: deny all, then the same defaults the runtime would append.
        let docker = rules(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
        ]));
        let out = with_device_allows(&docker, &[]);
        let t = text(&out);
        assert_eq!(t.iter().filter(|l| l.contains("Some(1):Some(3)")).count(), 1, "{t:?}");
        assert_eq!(t.iter().filter(|l| l.contains("Some(136):None")).count(), 1, "{t:?}");
        assert!(t.iter().any(|l| l.contains("Some(1):Some(5)")), "the missing defaults are added: {t:?}");
        assert_eq!(t.len(), 3 + 10);
        // An allow before a later deny does not count: it must be granted again.
        let denied_after = rules(serde_json::json!([
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": false, "access": "rwm"},
        ]));
        let t = text(&with_device_allows(&denied_after, &[]));
        assert_eq!(t.iter().filter(|l| l.contains("Some(1):Some(3)")).count(), 2, "{t:?}");
    }
}
