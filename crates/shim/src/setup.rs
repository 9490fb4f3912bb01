//! Everything before the event loop: the container (or exec'd process) is created with
//! its stdio, the control socket is bound, and the ready line is written. A failure
//! undoes what was made and is reported on the ready pipe.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use berth_runtime::Runtime;

use crate::args::{Args, Mode};
use crate::backend::{self, Backend};
use crate::event_loop::{Kind, Shim};
use crate::log::{LogFile, LogSettings};
use crate::protocol::{Ready, PID_FILE, SOCKET};
use crate::stdio::{self, ChildEnds, ConsoleSocket, OwnStdio, ShimEnds};
use crate::sys;

/// Writes the one ready line (if berthd gave us a ready pipe) and closes the pipe.
pub fn send_ready(ready: &mut Option<File>, r: &Ready) {
    if let Some(mut f) = ready.take() {
        let mut line = serde_json::to_vec(r).unwrap_or_default();
        line.push(b'\n');
        let _ = f.write_all(&line);
    }
}

/// A runtime whose warnings go to the shim's log even while descriptor 2 is lent to
/// the container.
fn library(root: &Path, errlog: &OwnedFd) -> Runtime {
    let mut rt = Runtime::new(root);
    let fd = errlog.as_raw_fd();
    rt.warn = Box::new(move |m| {
        let _ = berth_runtime::sys::write_all(fd, format!("berth-shim: runtime warning: {m}\n").as_bytes());
    });
    rt
}

/// Binds `<dir>/shim.sock`, replacing a stale one.
fn bind_control(dir: &Path) -> Result<UnixListener, String> {
    let path = dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).map_err(|e| format!("binding {}: {e}", path.display()))?;
    l.set_nonblocking(true).map_err(|e| format!("control socket: {e}"))?;
    Ok(l)
}

fn write_pid_file(dir: &Path) -> Result<(), String> {
    berth_runtime::container::write_pid_file(&dir.join(PID_FILE), std::process::id() as i32).map_err(|e| e.to_string())
}

/// Removes what setup made in `dir` (the socket; the console socket removes itself).
fn unbind(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(SOCKET));
    let _ = std::fs::remove_file(dir.join(PID_FILE));
}

pub fn setup(args: Args, own: OwnStdio) -> Result<Shim, String> {
    std::fs::create_dir_all(&args.dir).map_err(|e| format!("creating {}: {e}", args.dir.display()))?;
    let sigfd = sys::sigchld_fd().map_err(|e| format!("signalfd: {e}"))?;
    let r = match args.mode {
        Mode::Run => setup_run(&args, &own),
        Mode::Exec => setup_exec(&args, &own),
    };
    let (kind, ends, tty, log, pid, cgroup) = match r {
        Ok(x) => x,
        Err(e) => {
            unbind(&args.dir);
            return Err(e);
        }
    };
    let listener = match bind_control(&args.dir).and_then(|l| write_pid_file(&args.dir).map(|_| l)) {
        Ok(l) => l,
        Err(e) => {
            if let Kind::Run { backend, .. } = &kind {
                let _ = backend.delete(&args.id);
            }
            unbind(&args.dir);
            return Err(e);
        }
    };
    Ok(Shim::new(args, own, kind, sigfd, listener, ends, tty, log, pid, cgroup))
}

type Prepared = (Kind, ShimEnds, bool, Option<LogFile>, Option<i32>, Option<PathBuf>);

fn setup_run(args: &Args, own: &OwnStdio) -> Result<Prepared, String> {
    let bundle = args.bundle.clone().unwrap_or_default();
    let spec = berth_runtime::container::load_spec(&bundle).map_err(|e| e.to_string())?;
    let tty = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    // The log is opened first: a bad log option must fail before a container exists.
    let log = match LogSettings::new(args.log_driver, args.log_path.as_deref(), &args.log_opts)? {
        Some(s) => {
            let path = s.path.clone();
            Some(LogFile::open(s).map_err(|e| format!("opening log {}: {e}", path.display()))?)
        }
        None => None,
    };
    let backend = match &args.runtime {
        Some(bin) => {
            // The container will be runc's child, not ours: become its reaper when runc
            // exits, so we still see it exit.
            sys::set_child_subreaper().map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
            Backend::External { bin: bin.clone(), root: args.runtime_root.clone() }
        }
        None => Backend::Library(library(&args.runtime_root, &own.errlog)),
    };
    let (console, capture, child, pipe_ends) = if tty {
        let console = ConsoleSocket::bind(&args.dir).map_err(|e| format!("console socket: {e}"))?;
        let (cap_r, cap_w) = stdio::capture_pipe().map_err(|e| format!("pipe: {e}"))?;
        let child = stdio::terminal_child_ends(own, &cap_w).map_err(|e| format!("stdio: {e}"))?;
        (Some(console), Some(cap_r), child, None)
    } else {
        let (ends, child) = stdio::pipes(args.stdin, own).map_err(|e| format!("stdio pipes: {e}"))?;
        (None, None, child, Some(ends))
    };
    let pid = create_with_stdio(own, &child, || {
        // Without a terminal the container's stderr pipe is where an external runtime's
        // error message lands.
        let capture = capture.as_ref().or(pipe_ends.as_ref().and_then(|e| e.stderr.as_ref()));
        backend.create(&args.id, &bundle, &args.dir, console.as_ref().map(|c| c.path.as_path()), capture)
    })?;
    drop(child);
    let ends = match (console, pipe_ends) {
        (Some(c), _) => match c.receive() {
            Ok(e) => e,
            Err(e) => {
                let _ = backend.delete(&args.id);
                return Err(e.to_string());
            }
        },
        (None, Some(e)) => e,
        (None, None) => ShimEnds::default(),
    };
    let cgroup = match backend {
        Backend::External { .. } => backend::memory_cgroup_of(pid),
        Backend::Library(_) => None,
    };
    Ok((Kind::Run { backend }, ends, tty, log, Some(pid), cgroup))
}

/// Runs `f` with the container's ends on our 0/1/2, then takes ours back.
pub fn create_with_stdio<T>(own: &OwnStdio, child: &ChildEnds, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    own.lend(child).map_err(|e| {
        own.restore();
        format!("stdio: {e}")
    })?;
    let r = f();
    own.restore();
    r
}

fn setup_exec(args: &Args, own: &OwnStdio) -> Result<Prepared, String> {
    let pfile = args.process.clone().unwrap_or_default();
    let data = std::fs::read(&pfile).map_err(|e| format!("reading {}: {e}", pfile.display()))?;
    let process: oci_spec::runtime::Process = serde_json::from_slice(&data).map_err(|e| format!("{}: {e}", pfile.display()))?;
    let tty = process.terminal().unwrap_or(false);
    let runtime = library(&args.runtime_root, &own.errlog);
    let st = runtime.state(&args.id).map_err(|e| e.to_string())?;
    if st.status != berth_runtime::state::Status::Running {
        return Err(format!("container {} is not running (status {})", args.id, st.status));
    }
    let (ends, child, console) = if tty {
        let console = ConsoleSocket::bind(&args.dir).map_err(|e| format!("console socket: {e}"))?;
        let child = stdio::terminal_child_ends(own, &own.errlog).map_err(|e| format!("stdio: {e}"))?;
        (ShimEnds::default(), child, Some(console))
    } else {
        let (ends, child) = stdio::pipes(args.stdin, own).map_err(|e| format!("stdio pipes: {e}"))?;
        (ends, child, None)
    };
    Ok((Kind::Exec { runtime, process: Box::new(process), child: Some(child), console }, ends, tty, None, None, None))
}
