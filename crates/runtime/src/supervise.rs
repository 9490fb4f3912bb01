//! Waiting for a foreground container process (`run`, `exec` without -d) while passing
//! on the signals the runtime receives, as runc does.

use crate::error::{Error, Result};
use crate::sys;

/// Blocks until `pid` (our child) exits, forwarding every catchable signal to it.
/// Returns its shell-style exit code.
pub fn wait_forwarding(pid: libc::pid_t) -> Result<i32> {
    // SAFETY: sigset manipulation on a local set; sigprocmask on our own (single) thread.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for s in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE] {
            libc::sigdelset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    loop {
        // The child may have exited before we blocked SIGCHLD: check first.
        if let Some(status) = sys::waitpid(pid, libc::WNOHANG).map_err(|e| Error::io("waitpid", e))? {
            return Ok(sys::exit_code(status));
        }
        // SAFETY: set is a valid sigset; info may be NULL.
        let sig = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        if sig < 0 {
            continue; // EINTR
        }
        match sig {
            libc::SIGCHLD => {}
            // Terminal-generated stop signals stop us, not the container.
            libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => {}
            s => {
                let _ = sys::kill(pid, s);
            }
        }
    }
}
