//! berth-init: PID 1 for containers started with `--init` (Docker's docker-init, i.e.
//! tini, does the same job). It runs the command as its only child in a process group of
//! its own, forwards every signal it gets to that child, reaps every process re-parented
//! to it (so orphans never pile up as zombies), and exits with the child's status
//! (128 + signal when the child was killed).
//!
//! Usage: `berth-init [--] command [args...]`.
//!
//! berthd compiles this file by itself into a static binary (see crates/daemon/build.rs)
//! and bind-mounts it read-only at /sbin/docker-init, so it must not depend on any crate:
//! the few libc calls std does not wrap are declared below.

use std::ffi::OsString;
use std::io::{Error, ErrorKind};
use std::os::raw::{c_int, c_ulong};
use std::os::unix::process::CommandExt;
use std::process::{exit, Command};

/// glibc's sigset_t (1024 bits).
#[repr(C)]
struct SigSet([c_ulong; 16]);

/// glibc's siginfo_t: 128 bytes, si_signo first.
#[repr(C)]
struct SigInfo {
    signo: c_int,
    _rest: [c_int; 31],
}

// glibc's sizes on Linux; anything else would let the calls below write past the buffers.
const _: () = assert!(std::mem::size_of::<SigSet>() == 128 && std::mem::size_of::<SigInfo>() == 128);

const SIG_SETMASK: c_int = 2;
const SIGCHLD: c_int = 17;
const SIGTTIN: c_int = 21;
const SIGTTOU: c_int = 22;
const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;
const WNOHANG: c_int = 1;
const PR_SET_CHILD_SUBREAPER: c_int = 36;

extern "C" {
    fn sigfillset(set: *mut SigSet) -> c_int;
    fn sigemptyset(set: *mut SigSet) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwaitinfo(set: *const SigSet, info: *mut SigInfo) -> c_int;
    fn signal(sig: c_int, handler: usize) -> usize;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn getpid() -> c_int;
    fn getpgrp() -> c_int;
    fn isatty(fd: c_int) -> c_int;
    fn tcsetpgrp(fd: c_int, pgrp: c_int) -> c_int;
    fn prctl(option: c_int, arg2: c_ulong, ...) -> c_int;
}

fn fatal(msg: &str, code: i32) -> ! {
    eprintln!("berth-init: {msg}");
    exit(code)
}

/// The shell's convention, which `docker run` follows: 127 for a command that is not
/// there, 126 for one that cannot be run.
fn exec_failure_code(e: &Error) -> i32 {
    if e.kind() == ErrorKind::NotFound {
        127
    } else {
        126
    }
}

/// A wait status as an exit code.
fn exit_code(status: c_int) -> i32 {
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        fatal("usage: berth-init [--] command [args...]", 1);
    }
    // SAFETY (all blocks below): plain libc calls on local, correctly sized buffers.
    unsafe {
        // Outside a PID namespace (e.g. run by hand) orphans would go to the real init;
        // becoming a subreaper keeps the reaping promise there too.
        if getpid() != 1 {
            prctl(PR_SET_CHILD_SUBREAPER, 1);
        }
        // Every signal is taken synchronously with sigwaitinfo: none can be lost between
        // the child's spawn and the loop, and none kills us by its default action.
        let mut all = SigSet([0; 16]);
        sigfillset(&mut all);
        sigprocmask(SIG_SETMASK, &all, std::ptr::null_mut());
        // Handing the terminal to the child's process group would stop us with SIGTTOU
        // in the child before exec; ignored here, restored there.
        signal(SIGTTIN, SIG_IGN);
        signal(SIGTTOU, SIG_IGN);
    }
    let program = args.remove(0);
    let mut cmd = Command::new(&program);
    cmd.args(&args).process_group(0);
    // SAFETY: runs in the forked child before exec; only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(|| {
            if isatty(0) == 1 {
                tcsetpgrp(0, getpgrp());
            }
            signal(SIGTTIN, SIG_DFL);
            signal(SIGTTOU, SIG_DFL);
            // The command starts with no signal blocked (std leaves our full mask).
            let mut none = SigSet([0; 16]);
            sigemptyset(&mut none);
            sigprocmask(SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c.id() as c_int,
        Err(e) => fatal(&format!("exec {}: {e}", program.to_string_lossy()), exec_failure_code(&e)),
    };
    let mut set = SigSet([0; 16]);
    let mut info = SigInfo { signo: 0, _rest: [0; 31] };
    unsafe { sigfillset(&mut set) };
    loop {
        let sig = unsafe { sigwaitinfo(&set, &mut info) };
        if sig < 0 {
            continue; // EINTR
        }
        if sig != SIGCHLD {
            // The child may be gone already (ESRCH): nothing to do, its SIGCHLD follows.
            unsafe { kill(child, sig) };
            continue;
        }
        let mut child_status = None;
        loop {
            let mut status: c_int = 0;
            let pid = unsafe { waitpid(-1, &mut status, WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == child {
                child_status = Some(status);
            }
        }
        if let Some(status) = child_status {
            // The rest of the container dies with PID 1, as with Docker's init.
            exit(exit_code(status));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_to_exit_code() {
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(9), 137);
        assert_eq!(exit_code(15 | 0x80), 143); // core dumped flag
    }

    #[test]
    fn exec_failure_codes() {
        assert_eq!(exec_failure_code(&Error::from(ErrorKind::NotFound)), 127);
        assert_eq!(exec_failure_code(&Error::from(ErrorKind::PermissionDenied)), 126);
    }

}
