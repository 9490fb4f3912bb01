//! RPM: the SQLite rpmdb (`rpmdb.sqlite`, Fedora 33+, RHEL 9, Rocky/Alma 9) — each row
//! of `Packages` is an RPM header blob. The older BerkeleyDB and ndb formats are not
//! read.

use crate::package::{Kind, Package};

pub fn wants(path: &str) -> bool {
    path == "var/lib/rpm/rpmdb.sqlite" || path == "usr/lib/sysimage/rpm/rpmdb.sqlite"
}

pub fn parse(data: &[u8], location: &str, ecosystem: &str) -> Result<Vec<Package>, String> {
    // SQLite reads files, not buffers: a private temporary copy.
    let mut tmp = tempfile::NamedTempFile::new().map_err(|e| format!("temporary copy: {e}"))?;
    std::io::Write::write_all(&mut tmp, data).map_err(|e| format!("temporary copy: {e}"))?;
    let db = rusqlite::Connection::open_with_flags(tmp.path(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| format!("not an SQLite rpmdb: {e}"))?;
    let mut stmt = db.prepare("SELECT blob FROM Packages").map_err(|e| format!("not an SQLite rpmdb: {e}"))?;
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).map_err(|e| format!("reading Packages: {e}"))?;
    let mut out = Vec::new();
    for (i, row) in rows.enumerate() {
        let blob = row.map_err(|e| format!("reading Packages: {e}"))?;
        let h = Header::parse(&blob).ok_or_else(|| format!("package header {} is malformed", i + 1))?;
        let (Some(name), Some(version), Some(release)) = (h.string(TAG_NAME), h.string(TAG_VERSION), h.string(TAG_RELEASE)) else {
            continue;
        };
        // Imported signing keys are stored as packages too.
        if name == "gpg-pubkey" {
            continue;
        }
        let full = match h.int32(TAG_EPOCH) {
            Some(e) => format!("{e}:{version}-{release}"),
            None => format!("{version}-{release}"),
        };
        let mut p = Package::new(Kind::Rpm, &name, &full, ecosystem, location);
        p.arch = h.string(TAG_ARCH);
        p.license = h.string(TAG_LICENSE);
        // `openssl-3.0.7-27.el9.src.rpm` → `openssl`.
        p.source = h.string(TAG_SOURCERPM).and_then(|s| {
            let s = s.strip_suffix(".src.rpm")?;
            let (rest, _release) = s.rsplit_once('-')?;
            let (n, _version) = rest.rsplit_once('-')?;
            (n != name).then(|| n.to_owned())
        });
        out.push(p);
    }
    Ok(out)
}

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_LICENSE: u32 = 1014;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_I18NSTRING: u32 = 9;

/// An RPM header as rpmdb stores it: index count, data length, 16-byte index entries
/// (tag, type, offset, count; big-endian), then the data store.
pub struct Header<'a> {
    entries: Vec<(u32, u32, usize)>,
    store: &'a [u8],
}

impl<'a> Header<'a> {
    pub fn parse(b: &'a [u8]) -> Option<Header<'a>> {
        let be = |at: usize| b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
        let il = be(0)? as usize;
        let dl = be(4)? as usize;
        let start = 8usize.checked_add(il.checked_mul(16)?)?;
        let store = b.get(start..start.checked_add(dl)?)?;
        let mut entries = Vec::with_capacity(il.min(4096));
        for i in 0..il {
            let at = 8 + i * 16;
            entries.push((be(at)?, be(at + 4)?, be(at + 8)? as usize));
        }
        Some(Header { entries, store })
    }

    fn find(&self, tag: u32) -> Option<(u32, usize)> {
        self.entries.iter().find(|(t, _, _)| *t == tag).map(|(_, ty, off)| (*ty, *off))
    }

    pub fn string(&self, tag: u32) -> Option<String> {
        let (ty, off) = self.find(tag)?;
        if ty != TYPE_STRING && ty != TYPE_I18NSTRING {
            return None;
        }
        let s = self.store.get(off..)?;
        let end = s.iter().position(|b| *b == 0)?;
        Some(String::from_utf8_lossy(&s[..end]).into_owned())
    }

    pub fn int32(&self, tag: u32) -> Option<u32> {
        let (ty, off) = self.find(tag)?;
        if ty != TYPE_INT32 {
            return None;
        }
        let s = self.store.get(off..off + 4)?;
        Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
}

/// Builds a header blob (tests make rpmdbs with it).
#[cfg(test)]
pub fn build_header(strings: &[(u32, &str)], epoch: Option<u32>) -> Vec<u8> {
    let mut index = Vec::new();
    let mut store = Vec::new();
    if let Some(e) = epoch {
        index.push((TAG_EPOCH, TYPE_INT32, store.len()));
        store.extend_from_slice(&e.to_be_bytes());
    }
    for (tag, s) in strings {
        index.push((*tag, TYPE_STRING, store.len()));
        store.extend_from_slice(s.as_bytes());
        store.push(0);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(index.len() as u32).to_be_bytes());
    out.extend_from_slice(&(store.len() as u32).to_be_bytes());
    for (t, ty, off) in index {
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&(off as u32).to_be_bytes());
        out.extend_from_slice(&1u32.to_be_bytes());
    }
    out.extend_from_slice(&store);
    out
}
