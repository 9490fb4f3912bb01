//! The container's stdio as the shim holds it: pipes (stdout, stderr, optional stdin)
//! without a terminal, or the pty master received over the console socket with one.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use berth_runtime::sys as rsys;

use crate::sys;

/// The shim's ends. All nonblocking and close-on-exec.
#[derive(Default)]
pub struct ShimEnds {
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Where the process's stdin is written: the stdin pipe, or a duplicate of the pty
    /// master (so reading and writing can be polled separately).
    pub stdin: Option<OwnedFd>,
    /// The pty master (output side).
    pub pty: Option<OwnedFd>,
}

/// The ends the container process gets as its 0/1/2.
pub struct ChildEnds {
    pub fds: [OwnedFd; 3],
}

/// The descriptors of the shim's own stdio, to give back once the container has its
/// copies.
pub struct OwnStdio {
    pub devnull: OwnedFd,
    /// The shim's original stderr (berthd points it at `<dir>/shim.log`).
    pub errlog: OwnedFd,
}

impl OwnStdio {
    /// Call first thing: makes sure 0/1/2 are open, so no later descriptor lands there.
    pub fn init() -> io::Result<OwnStdio> {
        let devnull = rsys::open(Path::new("/dev/null"), libc::O_RDWR | libc::O_CLOEXEC, 0)?;
        for fd in 0..3 {
            if !sys::is_open(fd) {
                rsys::dup2(devnull.as_raw_fd(), fd)?;
            }
        }
        let devnull = sys::dup_high(devnull.as_raw_fd())?;
        let errlog = sys::dup_high(2)?;
        Ok(OwnStdio { devnull, errlog })
    }

    /// Puts the container's ends on 0/1/2 (for the runtime to hand on).
    pub fn lend(&self, child: &ChildEnds) -> io::Result<()> {
        for (n, fd) in child.fds.iter().enumerate() {
            rsys::dup2(fd.as_raw_fd(), n as RawFd)?;
        }
        Ok(())
    }

    /// Back to the shim's own: /dev/null in, /dev/null out, stderr to the shim's log.
    pub fn restore(&self) {
        let _ = rsys::dup2(self.devnull.as_raw_fd(), 0);
        let _ = rsys::dup2(self.devnull.as_raw_fd(), 1);
        let _ = rsys::dup2(self.errlog.as_raw_fd(), 2);
    }
}

fn nonblocking_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    rsys::pipe()
}

/// Pipes for a process without a terminal. stdin is /dev/null unless `stdin`.
pub fn pipes(stdin: bool, own: &OwnStdio) -> io::Result<(ShimEnds, ChildEnds)> {
    let (out_r, out_w) = nonblocking_pipe()?;
    let (err_r, err_w) = nonblocking_pipe()?;
    sys::set_nonblock(out_r.as_raw_fd())?;
    sys::set_nonblock(err_r.as_raw_fd())?;
    let (stdin_shim, stdin_child) = if stdin {
        let (r, w) = nonblocking_pipe()?;
        sys::set_nonblock(w.as_raw_fd())?;
        (Some(w), r)
    } else {
        (None, sys::dup_high(own.devnull.as_raw_fd())?)
    };
    Ok((
        ShimEnds { stdout: Some(out_r), stderr: Some(err_r), stdin: stdin_shim, pty: None },
        ChildEnds { fds: [stdin_child, out_w, err_w] },
    ))
}

/// What a process with a terminal gets on 0/1/2 from us: nothing of use (the runtime
/// gives it the pty), so /dev/null, with stderr on `err` to catch an external runtime's
/// error message.
pub fn terminal_child_ends(own: &OwnStdio, err: &OwnedFd) -> io::Result<ChildEnds> {
    Ok(ChildEnds { fds: [sys::dup_high(own.devnull.as_raw_fd())?, sys::dup_high(own.devnull.as_raw_fd())?, sys::dup_high(err.as_raw_fd())?] })
}

/// A capture pipe for a runtime's error output: (nonblocking read end, write end).
pub fn capture_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nonblocking_pipe()?;
    sys::set_nonblock(r.as_raw_fd())?;
    Ok((r, w))
}

/// The console socket the runtime connects to; the container sends its pty master
/// over it (runc's --console-socket protocol).
pub struct ConsoleSocket {
    listener: UnixListener,
    pub path: PathBuf,
}

impl ConsoleSocket {
    pub fn bind(dir: &Path) -> io::Result<ConsoleSocket> {
        let path = dir.join("console.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        Ok(ConsoleSocket { listener, path })
    }

    /// Receives the pty master. Called after the runtime returned, so the connection
    /// and the descriptor already wait in the socket; never blocks for long.
    pub fn receive(self) -> io::Result<ShimEnds> {
        self.listener.set_nonblocking(true)?;
        let (conn, _) = self.listener.accept().map_err(|e| io::Error::new(e.kind(), format!("the runtime did not connect to the console socket: {e}")))?;
        conn.set_nonblocking(false)?;
        sys::set_recv_timeout(conn.as_raw_fd(), 10)?;
        let master = rsys::recv_fd(conn.as_raw_fd()).map_err(|e| io::Error::new(e.kind(), format!("receiving the pty master: {e}")))?;
        sys::set_nonblock(master.as_raw_fd())?;
        let input = sys::dup_high(master.as_raw_fd())?;
        Ok(ShimEnds { stdout: None, stderr: None, stdin: Some(input), pty: Some(master) })
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
