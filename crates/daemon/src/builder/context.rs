//! The build context: the request body (a tar, maybe compressed) unpacked into the
//! build's own directory, confined to it, then trimmed by `.dockerignore` (clients that
//! already applied it send nothing it excludes; others are trimmed here, as dockerd's
//! classic builder does).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use berth_build::context::{walk_context, EntryKind};
use berth_build::dockerignore::DockerIgnore;
use berth_build::copy::KnownFiles;
use berth_image::layer::unpack::extract_hashing_large_files;

/// A context unpacked for a build.
pub struct Unpacked {
    pub dir: PathBuf,
    /// Size and sha256 of its large files by (st_dev, st_ino), hashed while they were
    /// written, so COPY's cache key does not read them back.
    pub known_files: KnownFiles,
}

/// Files from this size on are hashed while they are unpacked: below it, reading one
/// back costs less than the bookkeeping.
const HASH_WHILE_UNPACKING: u64 = 256 * 1024;

/// Unpacks the context tar into `dir` (created empty).
pub fn unpack(reader: impl Read, dir: &Path) -> Result<Unpacked> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let root: std::os::fd::OwnedFd = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?.into();
    let hashed = extract_hashing_large_files(root, reader, HASH_WHILE_UNPACKING).map_err(|e| anyhow!("invalid build context: {e}"))?;
    let known_files = hashed.into_iter().map(|(k, f)| (k, (f.size, f.sha256))).collect();
    Ok(Unpacked { dir: dir.to_owned(), known_files })
}

/// The Dockerfile's path inside the context: `name` as the client sent it (relative to
/// the context root; `Dockerfile` by default), never outside the context.
pub fn dockerfile_path(context: &Path, name: &str) -> Result<(PathBuf, String)> {
    let name = if name.is_empty() { "Dockerfile" } else { name };
    let rel = berth_build::evaluate::clean_path(&format!("/{name}"));
    let rel = rel.trim_start_matches('/').to_owned();
    if rel.is_empty() || rel.starts_with("..") {
        bail!("the Dockerfile ({name}) must be within the build context");
    }
    let path = context.join(&rel);
    // The path may not lead out through a symlink in the context.
    let real = std::fs::canonicalize(&path).map_err(|_| anyhow!("Cannot locate specified Dockerfile: {name}"))?;
    let base = std::fs::canonicalize(context)?;
    if !real.starts_with(&base) {
        bail!("the Dockerfile ({name}) must be within the build context");
    }
    if !real.is_file() {
        bail!("Cannot locate specified Dockerfile: {name}");
    }
    Ok((real, rel))
}

/// Removes what `.dockerignore` excludes (the Dockerfile and .dockerignore themselves
/// stay, as the client sends them).
pub fn apply_dockerignore(context: &Path, dockerfile_rel: &str) -> Result<()> {
    let ignore = DockerIgnore::load(context, Some(&context.join(dockerfile_rel))).map_err(|e| anyhow!("{e}"))?;
    if ignore.patterns().is_empty() {
        return Ok(());
    }
    let keep = ignore.for_context_upload(dockerfile_rel);
    let kept: std::collections::HashSet<String> = walk_context(context, &keep)?.into_iter().map(|e| e.rel_path).collect();
    let everything = walk_context(context, &DockerIgnore::default())?;
    // Deepest first, so a directory is looked at after what it holds.
    for e in everything.iter().rev() {
        if kept.contains(&e.rel_path) {
            continue;
        }
        let r = if e.kind == EntryKind::Dir {
            match std::fs::remove_dir(&e.path) {
                // Something below it is kept (a `!` exception).
                Err(err) if err.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(()),
                other => other,
            }
        } else {
            std::fs::remove_file(&e.path)
        };
        r.with_context(|| format!("removing ignored {}", e.rel_path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, body) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn ignored_files_are_removed_and_exceptions_kept() {
        let dir = std::env::temp_dir().join(format!("berth-ctx-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let body = tar_of(&[("Dockerfile", "FROM scratch\n"), (".dockerignore", "logs\n*.tmp\n!keep.tmp\n"), ("a.tmp", "x"), ("keep.tmp", "k"), ("logs/1", "l"), ("src/main", "m")]);
        unpack(&body[..], &dir).unwrap();
        apply_dockerignore(&dir, "Dockerfile").unwrap();
        assert!(!dir.join("a.tmp").exists());
        assert!(!dir.join("logs").exists());
        assert!(dir.join("keep.tmp").exists());
        assert!(dir.join("src/main").exists());
        assert!(dir.join("Dockerfile").exists());
        let (_, rel) = dockerfile_path(&dir, "./Dockerfile").unwrap();
        assert_eq!(rel, "Dockerfile");
        assert!(dockerfile_path(&dir, "../etc/passwd").is_err());
        assert!(dockerfile_path(&dir, "missing").unwrap_err().to_string().contains("Cannot locate"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
