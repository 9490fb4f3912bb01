//! The few syscalls the shim needs beyond berth_runtime::sys, each wrapped once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use berth_runtime::sys::cvt;

pub fn set_nonblock(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain fcntl on a descriptor.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// Is `fd` an open descriptor?
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// A close-on-exec duplicate numbered 3 or above (so it never lands on stdio).
pub fn dup_high(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: plain fcntl; the new descriptor is ours.
    let n = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

pub fn ignore_signal(sig: libc::c_int) {
    // SAFETY: SIG_IGN is always a valid disposition.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

pub fn setsid() {
    // SAFETY: no arguments; fails harmlessly if we already lead a process group.
    unsafe { libc::setsid() };
}

/// Blocks SIGCHLD and returns a signalfd that reports it (nonblocking, close-on-exec).
/// The runtime resets the mask in the container process before its execve.
pub fn sigchld_fd() -> io::Result<OwnedFd> {
    // SAFETY: a local sigset, and sigprocmask on our only thread.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        cvt(libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()))?;
        set
    };
    // SAFETY: set is a valid sigset.
    let fd = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) })?;
    // SAFETY: fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Empties the signalfd (several SIGCHLDs may have merged into one).
pub fn drain_signalfd(fd: &OwnedFd) {
    let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
    while matches!(berth_runtime::sys::read(fd.as_raw_fd(), &mut buf), Ok(n) if n > 0) {}
}

pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: fds is a valid array of pollfd of the given length.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(n as usize)
}

/// One write(2); nonblocking descriptors may take less than all.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: ws is a valid winsize for TIOCSWINSZ.
    cvt(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(drop)
}

pub fn set_child_subreaper() -> io::Result<()> {
    berth_runtime::sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1).map(drop)
}

/// Reaps one exited child, if any: (pid, raw status).
pub fn reap_any() -> Option<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r > 0 {
            return Some((r, status));
        }
        if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return None;
    }
}

pub fn set_recv_timeout(fd: RawFd, secs: i64) -> io::Result<()> {
    let tv = libc::timeval { tv_sec: secs, tv_usec: 0 };
    // SAFETY: tv is a valid timeval of the size given.
    cvt(unsafe {
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv as *const _ as *const libc::c_void, std::mem::size_of::<libc::timeval>() as u32)
    })
    .map(drop)
}
