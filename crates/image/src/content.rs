//! The content store: blobs (layers, configs, manifests) addressed by digest under
//! `<root>/blobs/<algorithm>/<hex>`.
//!
//! A blob is written to a temp file in its final directory, fsynced, checked against the
//! digest it was announced with, and only then renamed into place: after a crash a digest
//! names either nothing or a whole, verified blob. Readers never see partial content.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::digest::{Algorithm, Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{fsync_dir, random_id};

const TEMP_PREFIX: &str = ".tmp-";

/// A content-addressed blob store rooted at a directory (`<data-root>/content`).
#[derive(Clone, Debug)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<ContentStore> {
        let root = root.into();
        for alg in Algorithm::ALL {
            let dir = root.join("blobs").join(alg.as_str());
            fs::create_dir_all(&dir).ctx("create", &dir)?;
        }
        Ok(ContentStore { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm().as_str()).join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn has(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The blob's size in bytes.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        match fs::metadata(self.blob_path(digest)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::BlobNotFound(digest.clone())),
            Err(e) => Err(Error::io("stat", self.blob_path(digest), e)),
        }
    }

    /// Opens the blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        match File::open(&path) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::BlobNotFound(digest.clone())),
            Err(e) => Err(Error::io("open", path, e)),
        }
    }

    /// Reads a whole blob into memory, refusing blobs larger than `max` bytes (configs
    /// and manifests are read this way; layers are streamed with [`Self::open_blob`]).
    pub fn read(&self, digest: &Digest, max: usize) -> Result<Vec<u8>> {
        let size = self.size(digest)?;
        if size > max as u64 {
            return Err(Error::json(format!("blob {digest}"), format!("{size} bytes is larger than the {max} byte limit")));
        }
        let mut buf = Vec::with_capacity(size as usize);
        self.open_blob(digest)?.read_to_end(&mut buf).ctx("read", self.blob_path(digest))?;
        Ok(buf)
    }

    /// Writes a blob from `reader`, verifying it against `expected` (and `expected_size`
    /// when known). On any mismatch or error nothing is left behind. If the blob is
    /// already present the reader is not consumed. Returns the blob's size.
    pub fn write(&self, reader: impl Read, expected: &Digest, expected_size: Option<u64>) -> Result<u64> {
        if let Ok(size) = self.size(expected) {
            return Ok(size);
        }
        let (digest, size) = self.ingest(reader, expected.algorithm(), |actual, size| {
            if let Some(want) = expected_size {
                if want != size {
                    return Err(Error::SizeMismatch { what: format!("blob {expected}"), expected: want, actual: size });
                }
            }
            if actual != expected {
                return Err(Error::DigestMismatch {
                    what: format!("blob {expected}"),
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
            Ok(())
        })?;
        debug_assert_eq!(&digest, expected);
        Ok(size)
    }

    /// Writes a blob whose digest is not known in advance (an imported tarball, a config
    /// we generated); returns its sha256 digest and size.
    pub fn write_new(&self, reader: impl Read) -> Result<(Digest, u64)> {
        self.ingest(reader, Algorithm::Sha256, |_, _| Ok(()))
    }

    /// Writes an in-memory blob (config, manifest) and returns its sha256 digest.
    pub fn write_bytes(&self, data: &[u8]) -> Result<Digest> {
        let digest = Digest::sha256_of(data);
        self.write(data, &digest, Some(data.len() as u64))?;
        Ok(digest)
    }

    fn ingest(
        &self,
        reader: impl Read,
        algorithm: Algorithm,
        verify: impl FnOnce(&Digest, u64) -> Result<()>,
    ) -> Result<(Digest, u64)> {
        let dir = self.root.join("blobs").join(algorithm.as_str());
        let tmp = dir.join(format!("{TEMP_PREFIX}{}", random_id(16)));
        let result = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp).ctx("create", &tmp)?;
            let mut hashing = HashingReader::new(reader, algorithm);
            copy_to_file(&mut hashing, &mut file).ctx("write", &tmp)?;
            let size = hashing.count();
            let (digest, _) = hashing.finish();
            verify(&digest, size)?;
            file.sync_all().ctx("fsync", &tmp)?;
            drop(file);
            let dest = dir.join(digest.hex());
            fs::rename(&tmp, &dest).ctx("rename", &dest)?;
            fsync_dir(&dir)?;
            Ok((digest, size))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Deletes a blob; returns whether it existed.
    pub fn delete(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    }

    /// Every blob in the store (temp files and stray names are skipped).
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for alg in Algorithm::ALL {
            let dir = self.root.join("blobs").join(alg.as_str());
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read dir", dir, e)),
            };
            for entry in entries {
                let entry = entry.ctx("read dir", &dir)?;
                if let Some(name) = entry.file_name().to_str() {
                    if let Ok(d) = Digest::new(alg, name) {
                        out.push(d);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Re-hashes a stored blob and reports whether its content still matches its name.
    pub fn verify(&self, digest: &Digest) -> Result<bool> {
        let mut r = HashingReader::new(self.open_blob(digest)?, digest.algorithm());
        io::copy(&mut r, &mut io::sink()).ctx("read", self.blob_path(digest))?;
        Ok(&r.finish().0 == digest)
    }

    /// Removes every blob not in `keep`, and temp files left by writers that died more
    /// than `stale_temp_age` ago. Returns the digests removed.
    pub fn gc(&self, keep: &HashSet<Digest>, stale_temp_age: Duration) -> Result<Vec<Digest>> {
        let mut removed = Vec::new();
        for d in self.list()? {
            if !keep.contains(&d) && self.delete(&d)? {
                removed.push(d);
            }
        }
        let now = SystemTime::now();
        for alg in Algorithm::ALL {
            let dir = self.root.join("blobs").join(alg.as_str());
            for entry in fs::read_dir(&dir).ctx("read dir", &dir)? {
                let entry = entry.ctx("read dir", &dir)?;
                let is_temp = entry.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX));
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|t| now.duration_since(t).unwrap_or_default() >= stale_temp_age)
                    .unwrap_or(false);
                if is_temp && old {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(removed)
    }
}

/// Copies into a new blob file, starting the write-back of every 8 MiB as soon as it is
/// written (sync_file_range, asynchronous): the disk works while the stream still comes
/// in, so the fsync that seals the blob finds little left to write.
fn copy_to_file(r: &mut impl Read, file: &mut File) -> io::Result<u64> {
    const FLUSH_EVERY: u64 = 8 << 20;
    let mut buf = vec![0u8; 256 * 1024];
    let (mut total, mut flushed) = (0u64, 0u64);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        file.write_all(&buf[..n])?;
        total += n as u64;
        if total - flushed >= FLUSH_EVERY {
            // SAFETY: a hint about a range of our own open file; failure only loses the hint.
            unsafe { libc::sync_file_range(file.as_raw_fd(), flushed as i64, (total - flushed) as i64, libc::SYNC_FILE_RANGE_WRITE) };
            flushed = total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that fails after `n` bytes, like a dropped connection.
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer went away"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }

    fn dir_entries(p: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    }

    #[test]
    fn write_read_has_delete() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(tmp.path().join("content")).unwrap();
        let data = b"hello blob".to_vec();
        let d = Digest::sha256_of(&data);
        assert!(!cs.has(&d));
        assert_eq!(cs.write(&data[..], &d, Some(data.len() as u64)).unwrap(), data.len() as u64);
        assert!(cs.has(&d));
        assert_eq!(cs.read(&d, 1024).unwrap(), data);
        assert!(cs.read(&d, 3).is_err(), "size limit applies");
        assert!(cs.verify(&d).unwrap());
        assert_eq!(cs.list().unwrap(), vec![d.clone()]);
        assert!(cs.delete(&d).unwrap());
        assert!(!cs.delete(&d).unwrap());
        assert!(matches!(cs.open_blob(&d), Err(Error::BlobNotFound(_))));
    }

    #[test]
    fn sha512_blobs_are_accepted() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(tmp.path()).unwrap();
        let mut h = crate::digest::Hasher::new(Algorithm::Sha512);
        h.update(b"five twelve");
        let d = h.finish();
        cs.write(&b"five twelve"[..], &d, None).unwrap();
        assert!(cs.blob_path(&d).starts_with(tmp.path().join("blobs/sha512")));
        assert!(cs.list().unwrap().contains(&d));
    }

    #[test]
    fn mismatches_and_failures_leave_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(tmp.path()).unwrap();
        let d = Digest::sha256_of(b"expected");
        let e = cs.write(&b"something else"[..], &d, None).unwrap_err();
        assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
        assert!(e.to_string().contains(&d.to_string()));
        let e = cs.write(&b"expected"[..], &d, Some(3)).unwrap_err();
        assert!(matches!(e, Error::SizeMismatch { .. }), "{e}");
        let e = cs.write(Failing(100_000), &d, None).unwrap_err();
        assert!(e.to_string().contains("peer went away"), "{e}");
        assert!(!cs.has(&d));
        assert!(dir_entries(&tmp.path().join("blobs/sha256")).is_empty(), "no temp files or blobs left");
    }

    #[test]
    fn gc_keeps_only_the_keep_set_and_stale_temps_go() {
        let tmp = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(tmp.path()).unwrap();
        let a = cs.write_bytes(b"a").unwrap();
        let b = cs.write_bytes(b"b").unwrap();
        let (c, size) = cs.write_new(&b"ccc"[..]).unwrap();
        assert_eq!(size, 3);
        fs::write(tmp.path().join("blobs/sha256/.tmp-dead"), b"partial").unwrap();
        let keep: HashSet<Digest> = [a.clone()].into();
        let mut removed = cs.gc(&keep, Duration::ZERO).unwrap();
        removed.sort();
        let mut want = vec![b, c];
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(dir_entries(&tmp.path().join("blobs/sha256")), vec![a.hex().to_string()]);
    }
}
