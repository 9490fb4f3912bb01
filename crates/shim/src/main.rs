//! berth-shim's entry: take the ready pipe, detach from berthd's session, set up, loop.

use std::fs::File;
use std::os::fd::FromRawFd;

use berth_shim::protocol::Ready;
use berth_shim::{args, setup, stdio, sys};

/// Where the write end of the ready pipe is: descriptor 3, or the one named by
/// `BERTH_SHIM_READY_FD` (berthd passes it as stdout, which a spawn without a fork can set).
const READY_FD: i32 = 3;

fn main() {
    // Take the ready pipe before anything else could be opened on its descriptor.
    let ready_fd = std::env::var("BERTH_SHIM_READY_FD").ok().and_then(|v| v.parse::<i32>().ok()).unwrap_or(READY_FD);
    // Not for an external runtime or anything else the shim starts.
    std::env::remove_var("BERTH_SHIM_READY_FD");
    let mut ready = if sys::is_open(ready_fd) {
        if ready_fd <= 2 {
            // Off stdio, which must be the shim's own /dev/null (OwnStdio fills it in).
            let moved = sys::dup_high(ready_fd).ok().map(File::from);
            // The slot gets /dev/null, not a close: a free stdio number would be taken by
            // the next descriptor opened (the signalfd) and then overwritten by the
            // shim's own stdio, leaving it polling /dev/null forever.
            if let Ok(null) = berth_runtime::sys::open(std::path::Path::new("/dev/null"), libc::O_RDWR | libc::O_CLOEXEC, 0) {
                let _ = berth_runtime::sys::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), ready_fd);
            }
            moved
        } else {
            let _ = berth_runtime::sys::set_cloexec(ready_fd, true);
            // SAFETY: the descriptor is open and nothing else in this process owns it.
            Some(unsafe { File::from_raw_fd(ready_fd) })
        }
    } else {
        None
    };
    let fail = |ready: &mut Option<File>, msg: String, code: i32| -> ! {
        eprintln!("berth-shim: {msg}");
        setup::send_ready(ready, &Ready { error: Some(msg), shim_pid: Some(std::process::id() as i32), pid: None });
        std::process::exit(code);
    };
    let own = match stdio::OwnStdio::init() {
        Ok(o) => o,
        Err(e) => fail(&mut ready, format!("stdio: {e}"), 1),
    };
    let args = match args::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => fail(&mut ready, e, 2),
    };
    // Outlive berthd: our own session, deaf to its terminal's hangup, and a closed
    // client socket is an error return, not a signal.
    sys::setsid();
    sys::ignore_signal(libc::SIGHUP);
    sys::ignore_signal(libc::SIGPIPE);
    let shim = match setup::setup(args, own) {
        Ok(s) => s,
        Err(e) => fail(&mut ready, e, 1),
    };
    setup::send_ready(&mut ready, &Ready { pid: shim.pid(), shim_pid: Some(std::process::id() as i32), error: None });
    std::process::exit(shim.run());
}
