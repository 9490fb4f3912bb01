//! Container logs as lines, for `logs` and attached `up`: each container's
//! `GET /containers/{id}/logs` demultiplexed (or raw with a TTY) and cut into
//! lines handed to a sink, which prefixes them with the container's name.

use std::io::{self, Write};

use berth_api::client::{encode, query, Body};
use berth_api::Client;

use super::api;
use super::containers::Container;
use super::error::{Context, Result};

/// `logs` options, as the API takes them.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Lines from the end (`all` when `None`).
    pub tail: Option<String>,
    pub timestamps: bool,
    /// UNIX time (`secs[.nanos]`), as the API takes it.
    pub since: Option<String>,
    pub until: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Receives log lines (without their newline), from several threads.
pub trait LogSink: Send + Sync {
    fn line(&self, container: &Container, stream: Stream, line: &str);
}

/// Streams one container's log into `sink` until it ends (with `follow`: until
/// the container stops). A last line without a newline is delivered too.
pub fn stream(client: &Client, c: &Container, o: &LogOptions, sink: &dyn LogSink) -> Result<()> {
    let info = api::inspect_container(client, &c.id)?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let one = |b: bool| b.then(|| "1".to_owned());
    let q = query([
        ("stdout", one(true)),
        ("stderr", one(true)),
        ("follow", one(o.follow)),
        ("tail", Some(o.tail.clone().unwrap_or_else(|| "all".into()))),
        ("timestamps", one(o.timestamps)),
        ("since", o.since.clone()),
        ("until", o.until.clone()),
    ]);
    let resp = client.call("GET", &format!("/containers/{}/logs{q}", encode(&c.id)), Body::Empty).context(|| format!("reading the log of {}", c.name))?;
    let mut reader = resp.into_reader();
    let mut out = Lines::new(|l: &str| sink.line(c, Stream::Stdout, l));
    let mut err = Lines::new(|l: &str| sink.line(c, Stream::Stderr, l));
    let r = if tty { io::copy(&mut reader, &mut out).map(drop) } else { berth_api::stdcopy::demux(&mut reader, &mut out, &mut err) };
    out.finish();
    err.finish();
    match r {
        // The daemon closing a followed stream as the container goes is its end.
        Err(e) if !matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) => Err(super::EngineError::Io { path: format!("log of {}", c.name), source: e }),
        _ => Ok(()),
    }
}

/// A writer that cuts what it is given into lines.
struct Lines<F: FnMut(&str)> {
    buf: Vec<u8>,
    emit: F,
}

impl<F: FnMut(&str)> Lines<F> {
    fn new(emit: F) -> Self {
        Lines { buf: Vec::new(), emit }
    }

    fn finish(&mut self) {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            (self.emit)(String::from_utf8_lossy(&rest).trim_end_matches('\r'));
        }
    }
}

impl<F: FnMut(&str)> Write for Lines<F> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            (self.emit)(String::from_utf8_lossy(&line[..pos]).trim_end_matches('\r'));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_across_writes() {
        let mut got = Vec::new();
        {
            let mut l = Lines::new(|s: &str| got.push(s.to_owned()));
            l.write_all(b"one\ntw").unwrap();
            l.write_all(b"o\r\nthree").unwrap();
            l.finish();
        }
        assert_eq!(got, vec!["one", "two", "three"]);
    }
}
