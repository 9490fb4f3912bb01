//! `docker logs`: reads the json-file log the shim writes (Docker's format, one JSON
//! object per line, rotated as `log`, `log.1`, …), filters by stream, time and tail,
//! and frames entries as Docker does (multiplexed without a tty, raw with one).

use std::io::SeekFrom;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc;

use super::Entry;

#[derive(Deserialize)]
struct Line {
    log: String,
    stream: String,
    time: String,
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
fn fixed_time(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => d.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
        Err(_) => t.to_owned(),
    }
}

fn render(line: &str, o: &Options) -> Option<Vec<u8>> {
    let l: Line = serde_json::from_str(line).ok()?;
    let stream = match l.stream.as_str() {
        "stdout" if o.stdout => 1,
        "stderr" if o.stderr => 2,
        _ => return None,
    };
    if o.since.is_some() || o.until.is_some() {
        let t = parse_time(&l.time)?;
        if o.since.is_some_and(|s| t < s) || o.until.is_some_and(|u| t > u) {
            return None;
        }
    }
    let mut payload = Vec::new();
    if o.timestamps {
        payload.extend_from_slice(fixed_time(&l.time).as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(l.log.as_bytes());
    Some(frame(stream, &payload, o.tty))
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
pub async fn stream(path: PathBuf, entry: Arc<Entry>, o: Options, tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let mut rx = entry.changed.subscribe();
    // What is there now: every rotated file, then the live one (tracked by offset).
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let all = files(&path);
    let (old, live) = all.split_at(all.len() - 1);
    for f in old {
        if let Ok(text) = tokio::fs::read_to_string(f).await {
            pending.extend(text.lines().filter_map(|l| render(l, &o)));
        }
    }
    let mut pos = 0u64;
    let mut ino = 0u64;
    let mut partial = String::new();
    if let Ok(mut f) = tokio::fs::File::open(&live[0]).await {
        ino = f.metadata().await.map(|m| m.ino()).unwrap_or(0);
        let mut r = BufReader::new(&mut f);
        let mut line = String::new();
        while r.read_line(&mut line).await.unwrap_or(0) > 0 {
            if line.ends_with('\n') {
                pending.extend(render(line.trim_end(), &o));
                pos += line.len() as u64;
            } else {
                partial = line.clone();
                pos += line.len() as u64;
            }
            line.clear();
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
                partial.clear();
            }
            if md.len() > pos {
                if let Ok(mut f) = tokio::fs::File::open(&path).await {
                    if f.seek(SeekFrom::Start(pos)).await.is_ok() {
                        let mut r = BufReader::new(f);
                        let mut line = String::new();
                        while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                            pos += line.len() as u64;
                            progressed = true;
                            partial.push_str(&line);
                            line.clear();
                            if partial.ends_with('\n') {
                                if let Some(b) = render(partial.trim_end(), &o) {
                                    if tx.send(Ok(Bytes::from(b))).await.is_err() {
                                        return;
                                    }
                                }
                                partial.clear();
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
        let l = r#"{"log":"a\n","stream":"stdout","time":"2026-11-22T10:00:00.5Z"}"#;
        assert_eq!(render(l, &o).unwrap()[8..], *b"2026-11-22T10:00:00.500000000Z a\n");
        assert!(render(&l.replace("stdout", "stderr"), &o).is_none());
    }
}
