//! Terminals: the container's pty is created inside its own devpts and the master end
//! is handed to the caller over the console socket (runc's --console-socket protocol).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::error::{Error, Result};
use crate::sys;

/// Connects to the caller's console socket (done by the runtime, before cloning, so the
/// child can reach it after pivot_root).
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path).map_err(|e| Error::io(format!("connecting to console socket {}", path.display()), e))?;
    Ok(OwnedFd::from(s))
}

/// In the container (after pivot_root): opens a pty on /dev/ptmx, sends the master over
/// `sock`, and makes the slave the controlling terminal and stdio.
pub fn setup_pty(sock: RawFd, size: Option<(u16, u16)>) -> Result<()> {
    let master = sys::open(Path::new("/dev/ptmx"), libc::O_RDWR | libc::O_NOCTTY, 0).map_err(|e| Error::io("opening /dev/ptmx", e))?;
    // SAFETY: master is a valid pty master descriptor.
    unsafe {
        if libc::grantpt(master.as_raw_fd()) != 0 || libc::unlockpt(master.as_raw_fd()) != 0 {
            return Err(Error::io("unlocking pty", std::io::Error::last_os_error()));
        }
    }
    // TIOCGPTPEER opens the slave through the master, never through a path the
    // container could have replaced.
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    // SAFETY: ioctl on a valid master returns a new descriptor or -1.
    let slave_fd = unsafe { libc::ioctl(master.as_raw_fd(), TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY) };
    if slave_fd < 0 {
        return Err(Error::io("opening pty slave", std::io::Error::last_os_error()));
    }
    // SAFETY: fresh descriptor from the kernel.
    let slave = unsafe { OwnedFd::from_raw_fd(slave_fd) };
    if let Some((rows, cols)) = size {
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: ws is a valid winsize.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    sys::send_fds(sock, &[master.as_raw_fd()], b"/dev/ptmx").map_err(|e| Error::io("sending pty master over console socket", e))?;
    drop(master);
    // SAFETY: setsid and TIOCSCTTY take no pointers.
    unsafe {
        libc::setsid();
        if libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) != 0 {
            return Err(Error::io("setting controlling terminal", std::io::Error::last_os_error()));
        }
    }
    for fd in 0..3 {
        sys::dup2(slave.as_raw_fd(), fd).map_err(|e| Error::io("dup2 pty", e))?;
    }
    Ok(())
}
