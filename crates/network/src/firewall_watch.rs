//! Noticing when someone else changes the host's firewall.
//!
//! berth's rules are right when berth writes them, but other software changes the
//! ruleset later: dockerd starting after berthd sets iptables FORWARD's policy to DROP
//! (berth's containers would lose their outbound and published traffic), and a reload
//! of nftables.service or firewalld flushes the whole ruleset, berth's table with it.
//! Every nftables change (iptables-nft's included) is announced on netlink's
//! `NFNLGRP_NFTABLES` group, which is what `nft monitor` listens to; berthd listens
//! too, waits until the burst of changes is over, and calls back (the caller then
//! runs [`crate::firewall::ensure`], which changes nothing when all is in place). No
//! timer runs while nothing changes. iptables-legacy changes are not announced;
//! SIGHUP makes berthd check as well.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

/// nfnetlink's multicast group for nftables ruleset changes (linux/netfilter/nfnetlink.h).
const NFNLGRP_NFTABLES: u32 = 7;

/// How long the ruleset must stay unchanged before the callback runs: a starting
/// dockerd makes dozens of changes within a few hundred milliseconds.
const QUIET: Duration = Duration::from_millis(300);
/// The callback runs at the latest this long after the first change of a burst, even
/// if changes keep coming (a firewall manager updating sets all the time).
const LATEST: Duration = Duration::from_secs(2);
/// The longest pause after repairs that keep being needed (a rule that cannot be added
/// makes every attempt a change of its own).
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A running watcher; dropping it stops the thread.
pub struct FirewallWatch {
    stop: Option<OwnedFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FirewallWatch {
    fn drop(&mut self) {
        // Closing the pipe's write end wakes the thread's poll with POLLHUP.
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts watching; `on_change` runs on the watcher's thread once per burst of changes
/// and returns whether it changed the ruleset itself (or failed): then the next run
/// waits, 1 s and doubling up to a minute, until a run finds everything in place.
pub fn watch(mut on_change: impl FnMut() -> bool + Send + 'static) -> io::Result<FirewallWatch> {
    let mut sock = Socket::new(NETLINK_NETFILTER)?;
    sock.bind(&SocketAddr::new(0, 0))?;
    sock.add_membership(NFNLGRP_NFTABLES)?;
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    let (stop_rx, stop_tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let thread = std::thread::Builder::new()
        .name("firewall-watch".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut backoff = Duration::ZERO;
            // Changes seen during a pause, still to be looked at.
            let mut pending = false;
            loop {
                if !pending {
                    match wait(&sock, &stop_rx, None) {
                        Wake::Stop => return,
                        Wake::Timeout => continue,
                        Wake::Readable => {}
                    }
                }
                pending = false;
                drain(&sock, &mut buf);
                // Let the burst end: every further change restarts the quiet period,
                // up to LATEST after the first.
                let first = std::time::Instant::now();
                loop {
                    let left = LATEST.saturating_sub(first.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    match wait(&sock, &stop_rx, Some(QUIET.min(left))) {
                        Wake::Stop => return,
                        Wake::Readable => drain(&sock, &mut buf),
                        Wake::Timeout => break,
                    }
                }
                if on_change() {
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                    // Changes made meanwhile (ours included) are looked at after the pause.
                    let until = std::time::Instant::now() + backoff;
                    while let Some(left) = until.checked_duration_since(std::time::Instant::now()).filter(|d| !d.is_zero()) {
                        match wait(&sock, &stop_rx, Some(left)) {
                            Wake::Stop => return,
                            Wake::Readable => {
                                drain(&sock, &mut buf);
                                pending = true;
                            }
                            Wake::Timeout => break,
                        }
                    }
                } else {
                    backoff = Duration::ZERO;
                }
            }
        })?;
    Ok(FirewallWatch { stop: Some(stop_tx), thread: Some(thread) })
}

enum Wake {
    Readable,
    Timeout,
    Stop,
}

fn wait(sock: &Socket, stop: &OwnedFd, timeout: Option<Duration>) -> Wake {
    let mut fds = [
        libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: stop.as_raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    let ms = timeout.map_or(-1, |d| d.as_millis() as libc::c_int);
    // SAFETY: fds is a valid array of two pollfd structs.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
    if n < 0 {
        // EINTR: poll again; anything else would repeat, so stop watching.
        return if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted { Wake::Timeout } else { Wake::Stop };
    }
    if fds[1].revents != 0 {
        Wake::Stop
    } else if fds[0].revents != 0 {
        Wake::Readable
    } else {
        Wake::Timeout
    }
}

/// Reads every queued message without blocking. Their content does not matter (the
/// check afterwards looks at the whole state); an overrun (ENOBUFS) is a change too.
fn drain(sock: &Socket, buf: &mut Vec<u8>) {
    loop {
        buf.clear();
        match sock.recv(buf, libc::MSG_DONTWAIT) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
            Err(_) => return,
        }
    }
}
