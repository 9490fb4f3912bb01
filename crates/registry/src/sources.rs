//! Which repositories each blob is known to live in (`docker.io/library/busybox`, ...),
//! remembered after pulls and pushes, so a push to another repository on the same
//! registry can ask for a cross-repository mount instead of sending the bytes again
//! (Docker keeps the same "v2 metadata").
//!
//! One small file per blob, `<dir>/<algorithm>/<hex>`, one repository name a line;
//! appends are single `write(2)`s of a whole line, so concurrent writers do not tear.
//!
//! It also remembers what an uncompressed layer became when a push gzipped it
//! (`<dir>/gzip/<algorithm>/<hex>`: `digest size`), so pushing the layer again (another
//! tag, another repository) asks the registry for that blob instead of compressing anew.

use std::io::Write;
use std::path::PathBuf;

use berth_image::Digest;

/// At most this many repositories are remembered per blob (newest kept).
const MAX_SOURCES: usize = 16;

/// The blob-source record.
#[derive(Clone, Debug)]
pub struct BlobSources {
    dir: PathBuf,
}

impl BlobSources {
    pub fn new(dir: impl Into<PathBuf>) -> BlobSources {
        BlobSources { dir: dir.into() }
    }

    fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.algorithm().as_str()).join(d.hex())
    }

    /// Repositories (`domain/path`) the blob is known in, newest last.
    pub fn get(&self, d: &Digest) -> Vec<String> {
        std::fs::read_to_string(self.path(d)).map(|s| s.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
    }

    /// Records that `repository` has the blob. Best effort: a failure only costs a
    /// future mount.
    pub fn add(&self, d: &Digest, repository: &str) {
        let mut known = self.get(d);
        if known.iter().any(|r| r == repository) {
            return;
        }
        let path = self.path(d);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if known.len() >= MAX_SOURCES {
            known.remove(0);
            known.push(repository.to_owned());
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, known.join("\n") + "\n").is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
            return;
        }
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            let _ = f.write_all(format!("{repository}\n").as_bytes());
        }
    }

    fn gzip_path(&self, d: &Digest) -> PathBuf {
        self.dir.join("gzip").join(d.algorithm().as_str()).join(d.hex())
    }

    /// The gzip blob (digest, size) a push made of the uncompressed blob `d`, if any.
    pub fn gzipped(&self, d: &Digest) -> Option<(Digest, u64)> {
        let text = std::fs::read_to_string(self.gzip_path(d)).ok()?;
        let (digest, size) = text.trim().split_once(' ')?;
        Some((Digest::parse(digest).ok()?, size.parse().ok()?))
    }

    /// Records that the uncompressed blob `d` gzips to `gz` of `size` bytes. Best effort,
    /// written whole then renamed, so a reader never sees half a record.
    pub fn set_gzipped(&self, d: &Digest, gz: &Digest, size: u64) {
        let path = self.gzip_path(d);
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, format!("{gz} {size}\n")).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
}
