//! The container's log file, in the on-disk format of Docker's driver:
//! - `json-file`: one JSON object per line, `{"log":"hello\n","stream":"stdout","time":"…"}`;
//! - `local`: length-framed protobuf records ([`crate::log_local`]), max-size 20m and
//!   max-file 5 by default (rotated files are kept uncompressed; Docker gzips them).
//!
//! Both rotate by size as Docker does (`log` → `log.1` → … `log.<max-file - 1>`).
//!
//! Writes never block the container for long: the file is a regular file, and any
//! write error (a full disk) drops the record and carries on.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::args::LogDriver;

/// Docker cuts lines longer than this into pieces without a newline.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 1,
    Stderr = 2,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// How records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonFile,
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub path: PathBuf,
    pub format: Format,
    /// None: never rotate.
    pub max_size: Option<u64>,
    pub max_file: u32,
}

/// Docker's size syntax (go-units RAMInBytes): a number, optional decimals, an optional
/// unit b/k/m/g/t/p (binary multiples), optionally followed by "i" and/or "b".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid size {s:?}");
    let t = s.trim();
    let num_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let mut chars = unit.chars();
    let mult: u64 = match chars.clone().next() {
        None => 1,
        Some('b') => 1,
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        Some('t') => 1 << 40,
        Some('p') => 1 << 50,
        Some(_) => return Err(bad()),
    };
    if mult > 1 {
        chars.next();
    }
    let rest: String = chars.collect();
    if !matches!(rest.as_str(), "" | "b" | "i" | "ib") {
        return Err(bad());
    }
    Ok((value * mult as f64) as u64)
}

impl LogSettings {
    /// The log settings for a driver and its options; None for the `none` driver.
    pub fn new(driver: LogDriver, path: Option<&Path>, opts: &[(String, String)]) -> Result<Option<LogSettings>, String> {
        let (format, mut max_size, mut max_file) = match driver {
            LogDriver::None => return Ok(None),
            LogDriver::JsonFile => (Format::JsonFile, None, 1),
            LogDriver::Local => (Format::Local, Some(20 << 20), 5),
        };
        let path = path.ok_or("a log path is required")?.to_path_buf();
        for (k, v) in opts {
            match k.as_str() {
                "max-size" => {
                    let n = parse_size(v).map_err(|e| format!("max-size: {e}"))?;
                    if n == 0 {
                        return Err("max-size must be a positive number".into());
                    }
                    max_size = Some(n);
                }
                "max-file" => {
                    let n: u32 = v.parse().map_err(|_| format!("max-file: invalid number {v:?}"))?;
                    if n < 1 {
                        return Err("max-file cannot be less than 1".into());
                    }
                    max_file = n;
                }
                // Options berthd validates and the shim has no use for (labels, env,
                // tag, compress, mode …).
                _ => {}
            }
        }
        Ok(Some(LogSettings { path, format, max_size, max_file }))
    }
}

pub struct LogFile {
    settings: LogSettings,
    file: Option<File>,
    size: u64,
    /// The unfinished line of each stream (stdout, stderr).
    partial: [Vec<u8>; 2],
    record: Vec<u8>,
}

fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o640).open(path)
}

impl LogFile {
    pub fn open(settings: LogSettings) -> std::io::Result<LogFile> {
        if let Some(parent) = settings.path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = open_log(&settings.path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogFile { settings, file: Some(file), size, partial: [Vec::new(), Vec::new()], record: Vec::new() })
    }

    /// Output read from the container: whole lines are written now, the rest is kept
    /// until its newline comes (or it reaches 16 KiB).
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) {
        let idx = stream as usize - 1;
        while !data.is_empty() {
            let room = MAX_LINE - self.partial[idx].len();
            let window = &data[..data.len().min(room)];
            match window.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    let mut line = std::mem::take(&mut self.partial[idx]);
                    line.extend_from_slice(&window[..=nl]);
                    self.emit(stream, &line);
                    line.clear();
                    self.partial[idx] = line;
                    data = &data[nl + 1..];
                }
                None if window.len() == room => {
                    let mut line = std::mem::take(&mut self.partial[idx]);
                    line.extend_from_slice(window);
                    self.emit(stream, &line);
                    line.clear();
                    self.partial[idx] = line;
                    data = &data[room..];
                }
                None => {
                    self.partial[idx].extend_from_slice(window);
                    data = &[];
                }
            }
        }
        // Keep idle memory small: a long line's buffer is not kept around.
        for p in &mut self.partial {
            if p.is_empty() && p.capacity() > 4096 {
                *p = Vec::new();
            }
        }
    }

    /// The stream ended: its unfinished line is written as it is.
    pub fn finish(&mut self) {
        for (idx, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            let line = std::mem::take(&mut self.partial[idx]);
            if !line.is_empty() {
                self.emit(stream, &line);
            }
        }
    }

    fn emit(&mut self, stream: Stream, line: &[u8]) {
        self.record.clear();
        match self.settings.format {
            Format::JsonFile => {
                let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                self.record.extend_from_slice(b"{\"log\":");
                // Invalid UTF-8 becomes U+FFFD, as Go's encoder does.
                let text = String::from_utf8_lossy(line);
                if serde_json::to_writer(&mut self.record, text.as_ref()).is_err() {
                    return;
                }
                self.record.extend_from_slice(b",\"stream\":\"");
                self.record.extend_from_slice(stream.name().as_bytes());
                self.record.extend_from_slice(b"\",\"time\":\"");
                self.record.extend_from_slice(time.as_bytes());
                self.record.extend_from_slice(b"\"}\n");
            }
            Format::Local => {
                let (text, partial) = match line.strip_suffix(b"\n") {
                    Some(t) => (t, false),
                    None => (line, true),
                };
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                let entry = crate::log_local::LogEntry {
                    source: stream.name().into(),
                    time_nano: now.as_nanos() as i64,
                    line: text.to_vec(),
                    partial,
                    partial_log_metadata: None,
                };
                crate::log_local::encode(&entry, &mut self.record);
            }
        }
        // Docker checks the size before each write, so a file may exceed max-size by
        // one record.
        if self.settings.max_size.is_some_and(|max| self.size >= max) {
            self.rotate();
        }
        if self.file.is_none() {
            // A rotation could not make the new file (full disk): try again now.
            self.file = open_log(&self.settings.path).ok();
        }
        let Some(f) = self.file.as_mut() else { return };
        if f.write_all(&self.record).is_ok() {
            self.size += self.record.len() as u64;
        }
        if self.record.capacity() > 2 * MAX_LINE + 4096 {
            self.record = Vec::new();
        }
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut p = self.settings.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate(&mut self) {
        let max_file = self.settings.max_file;
        if max_file <= 1 {
            if let Some(f) = &self.file {
                if f.set_len(0).is_ok() {
                    self.size = 0;
                }
            }
            return;
        }
        for n in (1..max_file - 1).rev() {
            let _ = fs::rename(self.numbered(n), self.numbered(n + 1));
        }
        self.file = None;
        let _ = fs::rename(&self.settings.path, self.numbered(1));
        // If the new file cannot be made (full disk), records are dropped until the
        // next rotation attempt.
        self.file = open_log(&self.settings.path).ok();
        self.size = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10").unwrap(), 10);
        assert_eq!(parse_size("10b").unwrap(), 10);
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("10m").unwrap(), 10 << 20);
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("2MiB").unwrap(), 2 << 20);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        for bad in ["", "m", "10x", "1..2k", "-1", "10mm", "10q"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults() {
        let p = Path::new("/x/log");
        assert_eq!(LogSettings::new(LogDriver::None, Some(p), &[]).unwrap(), None);
        let j = LogSettings::new(LogDriver::JsonFile, Some(p), &[]).unwrap().unwrap();
        assert_eq!((j.max_size, j.max_file), (None, 1));
        let l = LogSettings::new(LogDriver::Local, Some(p), &[]).unwrap().unwrap();
        assert_eq!((l.max_size, l.max_file), (Some(20 << 20), 5));
        assert!(LogSettings::new(LogDriver::JsonFile, Some(p), &[("max-file".into(), "0".into())]).is_err());
        assert!(LogSettings::new(LogDriver::JsonFile, Some(p), &[("max-size".into(), "x".into())]).is_err());
    }

    fn records(path: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn lines_partials_and_long_lines() {
        let d = std::env::temp_dir().join(format!("berth-shim-log-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let s = LogSettings { path: d.join("c.log"), format: Format::JsonFile, max_size: None, max_file: 1 };
        let mut l = LogFile::open(s).unwrap();
        l.write(Stream::Stdout, b"hel");
        l.write(Stream::Stderr, b"oops\n");
        l.write(Stream::Stdout, b"lo\nwor");
        l.write(Stream::Stdout, &vec![b'x'; MAX_LINE + 10]);
        l.write(Stream::Stdout, b"\n\xff");
        l.finish();
        let r = records(&d.join("c.log"));
        assert_eq!(r[0]["log"], "oops\n");
        assert_eq!(r[0]["stream"], "stderr");
        assert_eq!(r[1]["log"], "hello\n");
        assert_eq!(r[1]["stream"], "stdout");
        let long = r[2]["log"].as_str().unwrap();
        assert_eq!(long.len(), MAX_LINE);
        assert!(long.starts_with("wor"));
        assert_eq!(r[3]["log"].as_str().unwrap(), "x".repeat(13) + "\n");
        assert_eq!(r[4]["log"], "\u{fffd}");
        assert!(r[1]["time"].as_str().unwrap().ends_with('Z'));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn rotation() {
        let d = std::env::temp_dir().join(format!("berth-shim-rot-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let s = LogSettings { path: d.join("c.log"), format: Format::JsonFile, max_size: Some(200), max_file: 3 };
        let mut l = LogFile::open(s).unwrap();
        for i in 0..40 {
            l.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        let mut names: Vec<String> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["c.log", "c.log.1", "c.log.2"]);
        let last = records(&d.join("c.log"));
        assert_eq!(last.last().unwrap()["log"], "line 39\n");
        for n in ["c.log.1", "c.log.2"] {
            let len = fs::metadata(d.join(n)).unwrap().len();
            assert!((200..300).contains(&len), "{n}: {len}");
        }
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn local_records() {
        let d = std::env::temp_dir().join(format!("berth-shim-local-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let s = LogSettings::new(LogDriver::Local, Some(&d.join("container.log")), &[("max-size".into(), "1k".into())]).unwrap().unwrap();
        assert_eq!(s.format, Format::Local);
        let mut l = LogFile::open(s).unwrap();
        l.write(Stream::Stdout, b"one\ntw");
        l.write(Stream::Stderr, b"err\n");
        l.finish();
        let bytes = fs::read(d.join("container.log")).unwrap();
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((e, n)) = crate::log_local::decode(&bytes[at..]).unwrap() {
            got.push((e.source, String::from_utf8(e.line).unwrap(), e.partial, e.time_nano > 1_600_000_000_000_000_000));
            at += n;
        }
        assert_eq!(at, bytes.len());
        assert_eq!(got, [("stdout".into(), "one".into(), false, true), ("stderr".into(), "err".into(), false, true), ("stdout".into(), "tw".into(), true, true)]);
        // Rotation by size as for json-file.
        for i in 0..300 {
            l.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        assert!(d.join("container.log.1").exists() && d.join("container.log.4").exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
