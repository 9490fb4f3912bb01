//! Opening an offline OSV database: a directory of `*.json` records (searched
//! recursively), one JSON file (a record, an array of records, or `{"vulns": [...]}`),
//! a `.zip` of records (osv.dev's `all.zip` or an ecosystem's `all.zip`), or an
//! http(s) URL to such a file. Only records about packages the image holds are kept,
//! so a full osv.dev dump does not have to fit in memory.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::model::{PackageRef, Record};
use crate::error::{Error, Result};
use crate::package::{Kind, Package};

/// Largest single JSON document read from the database.
const MAX_RECORD_FILE: u64 = 256 << 20;

/// The `(ecosystem, name)` pairs worth keeping records for; `None` in
/// [`Database::open`] keeps everything.
#[derive(Clone, Debug, Default)]
pub struct Wanted(HashSet<(String, String)>);

impl Wanted {
    /// The names a scan of these packages may look up (binary and source names).
    pub fn from_packages(packages: &[Package]) -> Wanted {
        let mut set = HashSet::new();
        for p in packages {
            let base = base(&p.ecosystem).to_owned();
            set.insert((base.clone(), key_name(&base, &p.name)));
            if let Some(s) = &p.source {
                set.insert((base.clone(), key_name(&base, s)));
            }
            if p.kind == Kind::Go && p.name == "stdlib" {
                set.insert((base.clone(), "stdlib".into()));
            }
        }
        Wanted(set)
    }

    fn contains(&self, p: &PackageRef) -> bool {
        let b = base(&p.ecosystem);
        self.0.contains(&(b.to_owned(), key_name(b, &p.name)))
    }
}

/// An ecosystem without its release: `Debian:12` → `Debian`.
pub(crate) fn base(ecosystem: &str) -> &str {
    ecosystem.split(':').next().unwrap_or(ecosystem)
}

/// A name as the index compares it: PyPI names are case- and separator-insensitive.
pub(crate) fn key_name(base: &str, name: &str) -> String {
    if base == "PyPI" {
        crate::catalog::python::normalize(name)
    } else {
        name.to_owned()
    }
}

/// The records kept, indexed by `(ecosystem base, name)`.
#[derive(Debug, Default)]
pub struct Database {
    pub records: Vec<Record>,
    index: HashMap<(String, String), Vec<usize>>,
    /// How many records were read in all (kept or not).
    pub scanned: usize,
    /// Where it came from, for messages.
    pub source: String,
}

/// Just enough of a record to decide whether to parse it fully.
#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    affected: Vec<PeekAffected>,
}

#[derive(Deserialize)]
struct PeekAffected {
    #[serde(default)]
    package: Option<PackageRef>,
}

impl Database {
    /// Opens a database from a path or an http(s) URL.
    pub fn open(spec: &str, wanted: Option<&Wanted>) -> Result<Database> {
        let mut db = Database { source: spec.to_owned(), ..Database::default() };
        if spec.starts_with("http://") || spec.starts_with("https://") {
            let tmp = download(spec)?;
            db.load_file(tmp.path(), spec, wanted)?;
        } else {
            let path = Path::new(spec);
            let meta = std::fs::metadata(path).map_err(|e| Error::db(spec, io_words(&e)))?;
            if meta.is_dir() {
                let mut files = Vec::new();
                walk(path, &mut files).map_err(|e| Error::db(spec, e))?;
                files.sort();
                if files.is_empty() {
                    return Err(Error::db(spec, "directory holds no .json files"));
                }
                for f in files {
                    let data = read_bounded(File::open(&f).map_err(|e| Error::db(f.display(), io_words(&e)))?, &f.display().to_string())?;
                    db.add_document(&data, &f.display().to_string(), wanted)?;
                }
            } else {
                db.load_file(path, spec, wanted)?;
            }
        }
        Ok(db)
    }

    /// Parses records from JSON text already in memory (tests, and callers with their own source).
    pub fn from_json(data: &[u8], place: &str) -> Result<Database> {
        let mut db = Database { source: place.to_owned(), ..Database::default() };
        db.add_document(data, place, None)?;
        Ok(db)
    }

    /// Records about `(ecosystem, name)`, the ecosystem given with or without release.
    pub fn lookup(&self, ecosystem: &str, name: &str) -> impl Iterator<Item = &Record> {
        let b = base(ecosystem);
        self.index.get(&(b.to_owned(), key_name(b, name))).into_iter().flatten().map(|i| &self.records[*i])
    }

    fn load_file(&mut self, path: &Path, place: &str, wanted: Option<&Wanted>) -> Result<()> {
        let mut f = File::open(path).map_err(|e| Error::db(place, io_words(&e)))?;
        let mut magic = [0u8; 4];
        let n = f.read(&mut magic).map_err(|e| Error::db(place, e))?;
        if n == 4 && &magic == b"PK\x03\x04" {
            return self.load_zip(File::open(path).map_err(|e| Error::db(place, e))?, place, wanted);
        }
        let data = read_bounded(File::open(path).map_err(|e| Error::db(place, e))?, place)?;
        self.add_document(&data, place, wanted)
    }

    fn load_zip(&mut self, f: File, place: &str, wanted: Option<&Wanted>) -> Result<()> {
        let mut zip = zip::ZipArchive::new(f).map_err(|e| Error::db(place, format!("not a readable zip: {e}")))?;
        let mut seen = 0;
        for i in 0..zip.len() {
            let entry = zip.by_index(i).map_err(|e| Error::db(place, format!("entry {i}: {e}")))?;
            let entry_name = entry.name().map_err(|e| Error::db(place, format!("entry {i}: {e}")))?.into_owned();
            if !entry.is_file() || !entry_name.ends_with(".json") {
                continue;
            }
            let name = format!("{place}:{entry_name}");
            let data = read_bounded(entry, &name)?;
            self.add_document(&data, &name, wanted)?;
            seen += 1;
        }
        if seen == 0 {
            return Err(Error::db(place, "zip holds no .json files"));
        }
        Ok(())
    }

    /// Adds the records of one JSON document, keeping the wanted ones.
    fn add_document(&mut self, data: &[u8], place: &str, wanted: Option<&Wanted>) -> Result<()> {
        let bad = |e: serde_json::Error| Error::Record { place: place.to_owned(), reason: e.to_string() };
        let first = data.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'{') {
            // The common case (one record per file): decide from the package names alone.
            if let Some(w) = wanted {
                let peek: Peek = serde_json::from_slice(data).map_err(bad)?;
                self.scanned += 1;
                if !peek.affected.iter().any(|a| a.package.as_ref().is_some_and(|p| w.contains(p))) {
                    return Ok(());
                }
                let r: Record = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(data))
                    .map_err(|e| Error::Record { place: place.to_owned(), reason: e.to_string() })?;
                self.push(r);
                return Ok(());
            }
        }
        let v: Value = serde_json::from_slice(data).map_err(bad)?;
        let list = match v {
            Value::Array(a) => a,
            Value::Object(mut o) if o.contains_key("vulns") && !o.contains_key("id") => match o.remove("vulns") {
                Some(Value::Array(a)) => a,
                _ => return Err(Error::Record { place: place.to_owned(), reason: "\"vulns\" is not an array".into() }),
            },
            o @ Value::Object(_) => vec![o],
            _ => return Err(Error::Record { place: place.to_owned(), reason: "neither an OSV record nor an array of them".into() }),
        };
        for (i, item) in list.into_iter().enumerate() {
            let r: Record = serde_path_to_error::deserialize(item).map_err(|e| Error::Record { place: format!("{place} [{i}]"), reason: e.to_string() })?;
            self.scanned += 1;
            if wanted.is_none_or(|w| r.affected.iter().any(|a| a.package.as_ref().is_some_and(|p| w.contains(p)))) {
                self.push(r);
            }
        }
        Ok(())
    }

    fn push(&mut self, r: Record) {
        let at = self.records.len();
        let mut keys: Vec<(String, String)> = r
            .affected
            .iter()
            .filter_map(|a| a.package.as_ref())
            .map(|p| {
                let b = base(&p.ecosystem).to_owned();
                let n = key_name(&b, &p.name);
                (b, n)
            })
            .collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            self.index.entry(k).or_default().push(at);
        }
        self.records.push(r);
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::result::Result<(), String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {}", dir.display(), io_words(&e)))?;
    for entry in rd {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let p = entry.path();
        let ft = entry.file_type().map_err(|e| format!("{}: {e}", p.display()))?;
        if ft.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
    Ok(())
}

fn read_bounded(r: impl Read, place: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(MAX_RECORD_FILE + 1).read_to_end(&mut buf).map_err(|e| Error::db(place, e))?;
    if buf.len() as u64 > MAX_RECORD_FILE {
        return Err(Error::db(place, format!("larger than {MAX_RECORD_FILE} bytes")));
    }
    Ok(buf)
}

fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Downloads a database to a temporary file (a zip needs to seek).
#[cfg(feature = "fetch")]
fn download(url: &str) -> Result<tempfile::NamedTempFile> {
    let resp = ureq::get(url).call().map_err(|e| Error::db(url, format!("download failed: {e}")))?;
    let mut reader = resp.into_body().into_reader();
    let mut tmp = tempfile::NamedTempFile::new().map_err(|e| Error::db(url, format!("temporary file: {e}")))?;
    std::io::copy(&mut reader, tmp.as_file_mut()).map_err(|e| Error::db(url, format!("download failed: {e}")))?;
    Ok(tmp)
}

#[cfg(not(feature = "fetch"))]
fn download(url: &str) -> Result<tempfile::NamedTempFile> {
    Err(Error::db(url, "this build cannot download (berth-scan's `fetch` feature is off); download it and pass the path"))
}
