//! `docker logs`: reads the log the shim writes in the format of Docker's driver (json-file:
//! one JSON object per line; local: length-framed protobuf records), rotated as `log`,
//! `log.1`, …; filters by stream, time and tail, and frames entries as Docker does
//! (multiplexed without a tty, raw with one).

use std::io::SeekFrom;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

use super::Entry;

#[derive(Deserialize)]
struct Line {
    log: String,
    stream: String,
    time: String,
}

/// The record format of a log file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    JsonFile,
    Local,
}

impl Format {
    /// The format of a log driver's files (None: the driver keeps none).
    pub fn of_driver(driver: &str) -> Option<Format> {
        match driver {
            "local" => Some(Format::Local),
            "none" => None,
            _ => Some(Format::JsonFile),
        }
    }
}

/// One log entry, whatever the file format.
#[derive(Debug, PartialEq, Eq)]
struct Record {
    /// 1 stdout, 2 stderr.
    stream: u8,
    /// Nanoseconds since the epoch.
    time: i128,
    /// The text as `logs` shows it (with its newline unless the line was cut).
    text: Vec<u8>,
}

/// What the start of a buffer holds.
enum Next {
    Record(Record, usize),
    /// Bytes to skip (an unreadable record).
    Skip(usize),
    /// Only part of a record: wait for more.
    Incomplete,
}

fn next_record(format: Format, buf: &[u8]) -> Next {
    match format {
        Format::JsonFile => {
            let Some(nl) = buf.iter().position(|&b| b == b'\n') else { return Next::Incomplete };
            let rec = serde_json::from_slice::<Line>(&buf[..nl]).ok().and_then(|l| {
                let stream = match l.stream.as_str() {
                    "stdout" => 1,
                    "stderr" => 2,
                    _ => return None,
                };
                Some(Record { stream, time: parse_time(&l.time)?, text: l.log.into_bytes() })
            });
            rec.map_or(Next::Skip(nl + 1), |r| Next::Record(r, nl + 1))
        }
        Format::Local => match berth_shim::log_local::decode(buf) {
            Ok(Some((e, n))) => {
                let stream = if e.source == "stderr" { 2 } else { 1 };
                let mut text = e.line;
                if !e.partial {
                    text.push(b'\n');
                }
                Next::Record(Record { stream, time: e.time_nano as i128, text }, n)
            }
            Ok(None) => Next::Incomplete,
            // A torn or foreign record: nothing after it can be framed reliably.
            Err(_) => Next::Skip(buf.len()),
        },
    }
}

/// Renders every whole record at the start of `buf` into `out`; returns the bytes used.
fn render_all(format: Format, buf: &[u8], o: &Options, out: &mut Vec<Vec<u8>>) -> usize {
    let mut at = 0;
    loop {
        match next_record(format, &buf[at..]) {
            Next::Record(r, n) => {
                out.extend(render(&r, o));
                at += n;
            }
            Next::Skip(n) => at += n,
            Next::Incomplete => return at,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    /// Nanoseconds since the epoch; entries before are skipped.
    pub since: Option<i128>,
    pub until: Option<i128>,
    /// Only the last N entries (None: all).
    pub tail: Option<usize>,
    pub tty: bool,
}

/// "1700000000.5" or "1700000000" (what the docker CLI sends) or RFC 3339 → ns.
pub fn parse_time(s: &str) -> Option<i128> {
    if s.is_empty() {
        return None;
    }
    if let Some((secs, frac)) = s.split_once('.') {
        if let (Ok(sec), true) = (secs.parse::<i128>(), frac.bytes().all(|b| b.is_ascii_digit())) {
            let mut f = frac.to_owned();
            f.truncate(9);
            while f.len() < 9 {
                f.push('0');
            }
            return Some(sec * 1_000_000_000 + f.parse::<i128>().unwrap_or(0));
        }
    }
    if let Ok(sec) = s.parse::<i128>() {
        return Some(sec * 1_000_000_000);
    }
    chrono::DateTime::parse_from_rfc3339(s).ok().and_then(|t| t.timestamp_nanos_opt()).map(|n| n as i128)
}

/// Frames one entry.
pub fn frame(stream: u8, payload: &[u8], tty: bool) -> Vec<u8> {
    if tty {
        return payload.to_vec();
    }
    berth_api::stdcopy::frame(stream, payload)
}

/// Docker's RFC3339NanoFixed: always nine fraction digits.
fn fixed_time(ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
        None => ns.to_string(),
    }
}

fn render(r: &Record, o: &Options) -> Option<Vec<u8>> {
    if !(r.stream == 1 && o.stdout || r.stream == 2 && o.stderr) {
        return None;
    }
    if o.since.is_some_and(|s| r.time < s) || o.until.is_some_and(|u| r.time > u) {
        return None;
    }
    let mut payload = Vec::new();
    if o.timestamps {
        payload.extend_from_slice(fixed_time(r.time).as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(&r.text);
    Some(frame(r.stream, &payload, o.tty))
}

/// The log files, oldest first.
fn files(path: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for n in (1..100).rev() {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if p.exists() {
            v.push(p);
        }
    }
    v.push(path.to_owned());
    v
}

/// Streams the container's log into `tx`; with `follow`, keeps going until the
/// container stops (or the client goes away).
pub async fn stream(path: PathBuf, format: Format, entry: Arc<Entry>, o: Options, tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let mut rx = entry.changed.subscribe();
    // What is there now: every rotated file, then the live one (tracked by offset).
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let all = files(&path);
    let (old, live) = all.split_at(all.len() - 1);
    for f in old {
        if let Ok(bytes) = tokio::fs::read(f).await {
            render_all(format, &bytes, &o, &mut pending);
        }
    }
    let mut pos = 0u64;
    let mut ino = 0u64;
    // Bytes of a record the shim is still writing.
    let mut carry: Vec<u8> = Vec::new();
    if let Ok(mut f) = tokio::fs::File::open(&live[0]).await {
        ino = f.metadata().await.map(|m| m.ino()).unwrap_or(0);
        if f.read_to_end(&mut carry).await.is_ok() {
            pos = carry.len() as u64;
            let used = render_all(format, &carry, &o, &mut pending);
            carry.drain(..used);
        }
    }
    if let Some(n) = o.tail {
        let skip = pending.len().saturating_sub(n);
        pending.drain(..skip);
    }
    for p in pending {
        if tx.send(Ok(Bytes::from(p))).await.is_err() {
            return;
        }
    }
    if !o.follow {
        return;
    }
    loop {
        let running = entry.lock().running();
        // Read what was appended; a rotation (new inode or shorter file) restarts at 0.
        let mut progressed = false;
        if let Ok(md) = tokio::fs::metadata(&path).await {
            if md.ino() != ino || md.len() < pos {
                ino = md.ino();
                pos = 0;
                carry.clear();
            }
            if md.len() > pos {
                if let Ok(mut f) = tokio::fs::File::open(&path).await {
                    if f.seek(SeekFrom::Start(pos)).await.is_ok() {
                        if let Ok(n) = f.read_to_end(&mut carry).await {
                            pos += n as u64;
                            progressed = n > 0;
                        }
                        let mut out = Vec::new();
                        let used = render_all(format, &carry, &o, &mut out);
                        carry.drain(..used);
                        for b in out {
                            if tx.send(Ok(Bytes::from(b))).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        }
        if progressed {
            continue;
        }
        if !running || entry.removed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        // The shim appends; poll briefly, or wake at once on a state change.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = rx.changed() => {}
            _ = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_frames() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_time(""), None);
        assert_eq!(frame(2, b"hi", false), vec![2, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        let o = Options { stdout: true, stderr: false, timestamps: true, ..Default::default() };
        let l = b"{\"log\":\"a\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00.5Z\"}\n";
        let Next::Record(r, n) = next_record(Format::JsonFile, l) else { panic!("a record") };
        assert_eq!(n, l.len());
        assert_eq!(render(&r, &o).unwrap()[8..], *b"2026-11-22T10:00:00.500000000Z a\n");
        assert!(render(&Record { stream: 2, ..r }, &o).is_none());
    }

    #[test]
    fn both_formats_decode_whole_records_and_wait_for_the_rest() {
        use berth_shim::log_local::{encode, LogEntry};
        let o = Options { stdout: true, stderr: true, ..Default::default() };
        let mut local = Vec::new();
        encode(&LogEntry { source: "stdout".into(), time_nano: 1, line: b"one".to_vec(), partial: false, partial_log_metadata: None }, &mut local);
        encode(&LogEntry { source: "stderr".into(), time_nano: 2, line: b"cut".to_vec(), partial: true, partial_log_metadata: None }, &mut local);
        let mut out = Vec::new();
        assert_eq!(render_all(Format::Local, &local, &o, &mut out), local.len());
        assert_eq!(out, vec![frame(1, b"one\n", false), frame(2, b"cut", false)]);
        // Half a record is left for later.
        let mut out = Vec::new();
        assert_eq!(render_all(Format::Local, &local[..local.len() - 2], &o, &mut out), 4 + 15 + 4);
        assert_eq!(out.len(), 1);

        let json = b"{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T10:00:00Z\"}\nnot json\n{\"log\":\"y";
        let mut out = Vec::new();
        let used = render_all(Format::JsonFile, json, &o, &mut out);
        assert_eq!(out, vec![frame(1, b"x\n", false)]);
        assert_eq!(&json[used..], b"{\"log\":\"y", "the unfinished line waits");
    }
}
