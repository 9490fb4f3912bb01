//! berth-shim's entry: take the ready pipe, detach from berthd's session, set up, loop.

use std::fs::File;
use std::os::fd::FromRawFd;

use berth_shim::protocol::Ready;
use berth_shim::{args, setup, stdio, sys};

/// berthd passes the write end of the ready pipe as descriptor 3.
const READY_FD: i32 = 3;

fn main() {
    // Take fd 3 before anything else could be opened there.
    let mut ready = if sys::is_open(READY_FD) {
        let _ = berth_runtime::sys::set_cloexec(READY_FD, true);
        // SAFETY: fd 3 is open and nothing else in this process owns it.
        Some(unsafe { File::from_raw_fd(READY_FD) })
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
