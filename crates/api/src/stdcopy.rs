//! Docker's multiplexed stream format (attach, exec and logs without a TTY): each frame
//! is an 8-byte header — stream id (0 stdin, 1 stdout, 2 stderr, 3 a daemon error),
//! three zero bytes, big-endian u32 payload length — and the payload.

use std::io::{self, Read, Write};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const SYSTEM_ERR: u8 = 3;

/// Encodes one frame (the daemon side and tests use this).
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + payload.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Copies frames from `src` to `stdout` / `stderr` until EOF, flushing after each frame
/// so interactive output appears at once. A stream-3 frame ends the copy with its text
/// as the error; an unknown stream id is a protocol error, as in Docker's stdcopy.
pub fn demux(src: &mut dyn Read, stdout: &mut dyn Write, stderr: &mut dyn Write) -> io::Result<()> {
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // EOF exactly between frames is the normal end; inside a header it is a cut.
        let mut got = 0;
        while got < 8 {
            match src.read(&mut header[got..]) {
                Ok(0) if got == 0 => return Ok(()),
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream cut inside a frame header")),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut left = len;
        let mut sys_err = Vec::new();
        while left > 0 {
            let want = left.min(buf.len());
            let n = match src.read(&mut buf[..want]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "stream cut inside a frame")),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match header[0] {
                STDIN | STDOUT => stdout.write_all(&buf[..n])?,
                STDERR => stderr.write_all(&buf[..n])?,
                SYSTEM_ERR => sys_err.extend_from_slice(&buf[..n]),
                other => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unrecognized stream id {other} in the multiplexed stream"))),
            }
            left -= n;
        }
        match header[0] {
            SYSTEM_ERR => return Err(io::Error::other(String::from_utf8_lossy(&sys_err).into_owned())),
            STDERR => stderr.flush()?,
            STDIN | STDOUT => stdout.flush()?,
            other => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unrecognized stream id {other} in the multiplexed stream"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its data a few bytes at a time, as a socket may.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    #[test]
    fn splits_streams() {
        let mut data = frame(STDOUT, b"hello\n");
        data.extend(frame(STDERR, b"oops\n"));
        data.extend(frame(STDOUT, b""));
        data.extend(frame(STDOUT, b"bye\n"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        demux(&mut Trickle(data, 0), &mut out, &mut err).unwrap();
        assert_eq!(out, b"hello\nbye\n");
        assert_eq!(err, b"oops\n");
    }

    #[test]
    fn errors_on_cut_and_system_error() {
        let mut data = frame(STDOUT, b"hello");
        data.truncate(10);
        assert!(demux(&mut Trickle(data, 0), &mut Vec::new(), &mut Vec::new()).is_err());
        let e = demux(&mut Trickle(frame(SYSTEM_ERR, b"boom"), 0), &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "boom");
        assert!(demux(&mut Trickle(frame(7, b"x"), 0), &mut Vec::new(), &mut Vec::new()).is_err());
    }
}
