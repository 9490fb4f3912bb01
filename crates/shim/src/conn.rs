//! One connection to the control socket: a request line in, a reply line out; after
//! `Attach`, the attached stream. Buffers are bounded: a client that does not read its
//! output is dropped rather than allowed to hold up the shim.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::detach::DetachMatcher;
use crate::log::Stream;
use crate::protocol::Reply;
use crate::sys;

/// Output queued for one client above this drops the client.
pub const MAX_PENDING: usize = 1 << 20;
/// Above this, the shim stops reading the container's output until the client catches
/// up (the container then waits on its full pipe, as with Docker's attach), so a client
/// that reads slower than the container writes loses nothing.
pub const HIGH_WATER: usize = 256 * 1024;
/// A client above the high-water mark that takes nothing for this long is dropped, so
/// a stuck client holds the container up no longer than this.
pub const STALL: Duration = Duration::from_secs(10);
/// A request line longer than this is refused.
const MAX_REQUEST: usize = 64 * 1024;

pub enum Phase {
    /// Reading the request line.
    Request,
    /// Waiting for the process to exit.
    Waiting,
    Attached(Attachment),
    /// Reply sent or being sent; closed once flushed.
    Closing,
}

pub struct Attachment {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub detach: DetachMatcher,
}

pub struct Conn {
    pub sock: UnixStream,
    pub phase: Phase,
    inbuf: Vec<u8>,
    out: VecDeque<u8>,
    /// The client shut down its write side (or closed).
    pub read_closed: bool,
    /// Drop at the end of this round (write error, overflow, detach).
    pub dead: bool,
    /// When the client last took output (or had none waiting).
    last_progress: Instant,
}

pub enum ReadResult {
    /// Bytes the client sent (attached).
    Data(Vec<u8>),
    /// A full request line.
    Line(Vec<u8>),
    Nothing,
    Eof,
}

impl Conn {
    pub fn new(sock: UnixStream) -> io::Result<Conn> {
        sock.set_nonblocking(true)?;
        Ok(Conn { sock, phase: Phase::Request, inbuf: Vec::new(), out: VecDeque::new(), read_closed: false, dead: false, last_progress: Instant::now() })
    }

    pub fn fd(&self) -> i32 {
        self.sock.as_raw_fd()
    }

    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// Is the client so far behind that the container's output should wait for it?
    /// Returns when it will be dropped if it takes nothing until then.
    pub fn behind(&self) -> Option<Instant> {
        (!self.dead && self.out.len() > HIGH_WATER).then(|| self.last_progress + STALL)
    }

    pub fn done(&self) -> bool {
        self.dead || (matches!(self.phase, Phase::Closing) && self.out.is_empty())
    }

    pub fn reply(&mut self, r: &Reply) {
        let mut line = serde_json::to_vec(r).unwrap_or_else(|_| br#"{"ok":false,"error":"reply encoding failed"}"#.to_vec());
        line.push(b'\n');
        self.queue(&line);
    }

    pub fn fail(&mut self, msg: impl Into<String>) {
        self.reply(&Reply { ok: false, error: Some(msg.into()), ..Default::default() });
        self.phase = Phase::Closing;
    }

    /// Queues bytes for the client, dropping it when it is too far behind.
    pub fn queue(&mut self, data: &[u8]) {
        if self.out.len() + data.len() > MAX_PENDING {
            self.dead = true;
            return;
        }
        self.out.extend(data);
    }

    /// Queues container output in the attach format: raw with a terminal, Docker's
    /// multiplexed frames without.
    pub fn output(&mut self, stream: Stream, data: &[u8], tty: bool) {
        let Phase::Attached(a) = &self.phase else { return };
        let wanted = match stream {
            Stream::Stdout => a.stdout,
            Stream::Stderr => a.stderr,
        };
        if !wanted || data.is_empty() {
            return;
        }
        if tty {
            self.queue(data);
        } else {
            let mut header = [0u8; 8];
            header[0] = stream as u8;
            header[4..].copy_from_slice(&(data.len() as u32).to_be_bytes());
            if self.out.len() + 8 + data.len() > MAX_PENDING {
                self.dead = true;
                return;
            }
            self.queue(&header);
            self.queue(data);
        }
    }

    /// Writes what the socket takes now.
    pub fn flush(&mut self) {
        if self.out.is_empty() {
            self.last_progress = Instant::now();
        }
        while !self.out.is_empty() {
            let (front, _) = self.out.as_slices();
            match sys::write(self.fd(), front) {
                Ok(0) => break,
                Ok(n) => {
                    self.out.drain(..n);
                    self.last_progress = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.dead = true;
                    self.out.clear();
                    break;
                }
            }
        }
        if self.out.is_empty() && self.out.capacity() > 64 * 1024 {
            self.out = VecDeque::new();
        }
    }

    /// Reads what the client sent.
    pub fn read(&mut self) -> ReadResult {
        let mut buf = [0u8; 8192];
        match self.sock.read(&mut buf) {
            Ok(0) => {
                self.read_closed = true;
                if matches!(self.phase, Phase::Request) && !self.inbuf.is_empty() {
                    // A request without its newline: take it as it is.
                    return ReadResult::Line(std::mem::take(&mut self.inbuf));
                }
                ReadResult::Eof
            }
            Ok(n) => {
                if !matches!(self.phase, Phase::Request) {
                    return ReadResult::Data(buf[..n].to_vec());
                }
                self.inbuf.extend_from_slice(&buf[..n]);
                if let Some(nl) = self.inbuf.iter().position(|&b| b == b'\n') {
                    let rest = self.inbuf.split_off(nl + 1);
                    let mut line = std::mem::replace(&mut self.inbuf, rest);
                    line.pop();
                    return ReadResult::Line(line);
                }
                if self.inbuf.len() > MAX_REQUEST {
                    self.inbuf = Vec::new();
                    self.fail("request line too long");
                }
                ReadResult::Nothing
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => ReadResult::Nothing,
            Err(_) => {
                self.read_closed = true;
                self.dead = true;
                ReadResult::Eof
            }
        }
    }

    /// Bytes that came after the request line (a client may send stdin right behind
    /// its Attach request).
    pub fn take_leftover(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.inbuf)
    }
}
