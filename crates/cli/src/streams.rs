//! Plumbing for attached sessions (run, start -a, attach, exec): stdin → socket on one
//! thread, socket → stdout/stderr on this one (demultiplexed without a TTY, raw with
//! one), the detach-key watch on stdin, terminal resizes and signal forwarding.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_api::client::Body;
use berth_api::{Client, Hijacked};

/// docker's default detach sequence, ctrl-p ctrl-q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The daemon closed the output (the process ended or the stream was closed).
    Closed,
    /// The user typed the detach sequence.
    Detached,
}

/// Watches bytes typed for the detach sequence, holding back a partial match (docker's
/// term.EscapeProxy): `feed` returns what to pass on and whether the sequence completed.
pub struct EscapeWatch {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeWatch {
    pub fn new(keys: Vec<u8>) -> EscapeWatch {
        EscapeWatch { keys, matched: 0 }
    }

    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
                continue;
            }
            // A mismatch releases the held-back prefix, then the byte is looked at
            // again as a possible start.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// Runs a hijacked session until the output ends or the user detaches.
/// `stdin`: forward our stdin (half-closing the socket at its EOF); `tty`: output is
/// raw, otherwise demultiplexed; `detach`: the key sequence to watch for on stdin.
pub fn pump(conn: Hijacked, stdin: bool, tty: bool, detach: Option<Vec<u8>>) -> io::Result<Ended> {
    let detached = Arc::new(AtomicBool::new(false));
    let mut conn = conn;
    if stdin {
        let mut writer = conn.writer()?;
        let closer = conn.writer()?;
        let detached = detached.clone();
        std::thread::spawn(move || {
            let mut watch = detach.map(EscapeWatch::new);
            let mut buf = [0u8; 32 * 1024];
            let mut input = io::stdin().lock();
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let (data, hit) = match watch.as_mut() {
                    Some(w) => w.feed(&buf[..n]),
                    None => (buf[..n].to_vec(), false),
                };
                if !data.is_empty() && writer.write_all(&data).is_err() {
                    return;
                }
                if hit {
                    detached.store(true, Ordering::SeqCst);
                    // Closing both ways ends the output loop below.
                    let _ = closer.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
            // Our stdin ended: tell the daemon, keep reading its output.
            let _ = closer.shutdown(std::net::Shutdown::Write);
        });
    }
    let stdout = io::stdout();
    let stderr = io::stderr();
    let result = if tty {
        let mut out = stdout.lock();
        let mut buf = [0u8; 32 * 1024];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        }
    } else {
        berth_api::stdcopy::demux(&mut conn, &mut stdout.lock(), &mut stderr.lock())
    };
    if detached.load(Ordering::SeqCst) {
        return Ok(Ended::Detached);
    }
    result.map(|_| Ended::Closed)
}

/// Sends our terminal's size now and on every SIGWINCH to `path` (`/containers/{id}/resize`
/// or `/exec/{id}/resize`), as docker's CLI does for `-t` sessions.
pub fn follow_resize(client: &Client, path: String) {
    let send = {
        let client = client.clone();
        let path = path.clone();
        move || {
            if let Some((h, w)) = crate::tty::size(0).or_else(|| crate::tty::size(1)) {
                let _ = client.call("POST", &format!("{path}?h={h}&w={w}"), Body::Empty);
            }
        }
    };
    send();
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH]) {
        std::thread::spawn(move || {
            for _ in signals.forever() {
                send();
            }
        });
    }
}

/// Forwards the signals a user sends us to the container (`--sig-proxy`), as
/// `POST /containers/{id}/kill?signal=N`.
pub fn proxy_signals(client: &Client, id: &str) {
    use signal_hook::consts::*;
    let sigs = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGIO, libc::SIGPWR, SIGSYS, SIGTRAP, SIGABRT];
    let Ok(mut signals) = signal_hook::iterator::Signals::new(sigs) else {
        return;
    };
    let client = client.clone();
    let path = format!("/containers/{}/kill", berth_api::client::encode(id));
    std::thread::spawn(move || {
        for s in signals.forever() {
            let _ = client.call("POST", &format!("{path}?signal={s}"), Body::Empty);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_watch_holds_and_releases() {
        let mut w = EscapeWatch::new(vec![16, 17]);
        assert_eq!(w.feed(b"ab"), (b"ab".to_vec(), false));
        assert_eq!(w.feed(&[16]), (vec![], false));
        assert_eq!(w.feed(b"x"), (vec![16, b'x'], false));
        assert_eq!(w.feed(&[b'y', 16, 17, b'z']), (vec![b'y'], true));
        let mut w = EscapeWatch::new(vec![16, 17]);
        assert_eq!(w.feed(&[16, 16, 17]), (vec![16], true));
        let mut none = EscapeWatch::new(vec![]);
        assert_eq!(none.feed(&[16, 17]), (vec![16, 17], false));
    }
}
