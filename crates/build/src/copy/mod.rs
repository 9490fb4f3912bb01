//! COPY and ADD into a directory tree, with Docker's rules:
//! - sources are relative to the context (or a stage's rootfs for `--from`)
//!   and may not leave it, neither by `..` nor by a symlink (an error, where
//!   the classic builder said "Forbidden path outside the build context");
//!   symlinks on the way to a source are followed inside the root, symlinks
//!   inside copied directories are copied as symlinks;
//! - wildcards (`*`, `?`, `[…]`) match within one path component, results in
//!   lexical order; a wildcard matching nothing is an error unless
//!   [`CopyRequest::allow_empty_wildcard`] (BuildKit's behaviour) is set;
//! - a directory source copies its contents, not itself; a file source goes
//!   to `dest/<name>` when dest ends in `/` or is an existing directory, else
//!   to `dest`; several sources need a directory destination;
//! - a relative dest is relative to WORKDIR; missing parents are created;
//! - files from the context get uid/gid 0 unless `--chown` (names looked up
//!   in the destination's /etc/passwd and /etc/group; a lone user means
//!   gid = uid); files from `--from` keep their owner; `--chmod` sets the
//!   mode of everything copied; modes and mtimes are otherwise kept;
//! - ADD unpacks local tar archives (plain, gzip, bzip2, xz, zstd, known by
//!   content) into dest and fetches URLs through a caller-provided hook.
//!
//! All writes go through [`root::ConfinedRoot`].

mod archive;
mod owner;
pub mod root;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::dockerignore::DockerIgnore;
use crate::evaluate::join_workdir;
use crate::instructions::InlineSource;
use root::{ConfinedRoot, Existing};

/// Why a COPY/ADD failed.
#[derive(Debug, Error)]
pub enum CopyError {
    #[error("forbidden path outside the build context: {0}")]
    OutsideContext(String),
    #[error("failed to compute cache key: {0:?}: not found")]
    NotFound(String),
    #[error("no source files were specified: {0:?} matched nothing")]
    NoMatch(String),
    #[error("When using COPY with more than one source file, the destination must be a directory and end with a /")]
    MultipleSourcesNeedDirectory,
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    #[error("invalid chmod parameter: '{0}'. it should be octal string and between 0 and 07777")]
    InvalidChmod(String),
    #[error("too many levels of symbolic links at {0}")]
    SymlinkLoop(String),
    #[error("source URL {0} given but no URL fetcher is configured")]
    NoUrlFetcher(String),
    #[error("failed to fetch {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("cannot determine a file name from URL {0}; use a destination path that is not a directory")]
    UrlFileName(String),
    #[error("invalid exclude pattern: {0}")]
    BadExclude(String),
    #[error("failed to unpack {path}: {message}")]
    Archive { path: String, message: String },
    #[error("failed to read {0}: {1}")]
    Read(String, #[source] std::io::Error),
    #[error("failed to write {0}: {1}")]
    Write(String, #[source] std::io::Error),
}

/// Downloads an ADD URL; returns the body.
pub trait UrlFetcher {
    fn fetch(&self, url: &str) -> Result<Vec<u8>, String>;
}

impl<F: Fn(&str) -> Result<Vec<u8>, String>> UrlFetcher for F {
    fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        self(url)
    }
}

/// Where sources are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The build context: symlinks may not point outside it; copied files
    /// are owned by 0:0 unless `--chown`.
    Context,
    /// A stage or image rootfs (`--from`): absolute symlinks resolve inside
    /// it; owners are kept unless `--chown`.
    Rootfs,
}

/// One COPY or ADD to perform (values already expanded).
#[derive(Clone, Copy)]
pub struct CopyRequest<'a> {
    pub source_root: &'a Path,
    pub source_kind: SourceKind,
    pub sources: &'a [String],
    pub inline_sources: &'a [InlineSource],
    pub dest: &'a str,
    /// WORKDIR in force, for a relative dest.
    pub workdir: &'a str,
    /// The image's root (upper) directory written into.
    pub dest_root: &'a Path,
    pub chown: Option<&'a str>,
    pub chmod: Option<&'a str>,
    /// `--exclude` patterns, matched against paths below each source.
    pub excludes: &'a [String],
    /// `--parents`: keep the source's directories under dest.
    pub parents: bool,
    /// ADD semantics (archives unpacked, URLs fetched).
    pub is_add: bool,
    /// ADD `--unpack`; `None` means unpack local archives.
    pub unpack: Option<bool>,
    pub url_fetcher: Option<&'a dyn UrlFetcher>,
    /// Let a wildcard match nothing (BuildKit) instead of failing (classic builder).
    pub allow_empty_wildcard: bool,
    /// For [`source_checksum`]: the size and sha256 of files whose data is known
    /// without reading them, by (st_dev, st_ino) — the build context's large files,
    /// hashed as they arrived and left as empty placeholders.
    pub known_files: Option<&'a KnownFiles>,
}

/// (st_dev, st_ino) → (size, sha256) of files hashed elsewhere.
pub type KnownFiles = std::collections::HashMap<(u64, u64), (u64, [u8; 32])>;

impl<'a> CopyRequest<'a> {
    /// A COPY from the context with everything else off.
    pub fn new(source_root: &'a Path, sources: &'a [String], dest: &'a str, dest_root: &'a Path) -> Self {
        CopyRequest {
            source_root,
            source_kind: SourceKind::Context,
            sources,
            inline_sources: &[],
            dest,
            workdir: "/",
            dest_root,
            chown: None,
            chmod: None,
            excludes: &[],
            parents: false,
            is_add: false,
            unpack: None,
            url_fetcher: None,
            allow_empty_wildcard: false,
            known_files: None,
        }
    }
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Entries written (files, directories, symlinks), extracted ones included.
    pub entries: usize,
    /// Regular-file bytes written.
    pub bytes: u64,
}

/// A source after wildcard expansion and symlink resolution.
#[derive(Debug, Clone)]
struct Resolved {
    /// Clean path inside the source root as named (after wildcard expansion).
    rel: String,
    /// Where it really is on disk.
    real: PathBuf,
    is_dir: bool,
    /// The source as written in the instruction.
    original: String,
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// `filepath.Match` on one path component.
fn glob_match(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|i| glob_match(&pattern[1..], &name[i..])),
        Some('?') => !name.is_empty() && glob_match(&pattern[1..], &name[1..]),
        Some('[') => {
            let Some(&c) = name.first() else { return false };
            let mut i = 1;
            let negate = pattern.get(i) == Some(&'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            while i < pattern.len() && (first || pattern[i] != ']') {
                first = false;
                let mut lo = pattern[i];
                if lo == '\\' && i + 1 < pattern.len() {
                    i += 1;
                    lo = pattern[i];
                }
                let mut hi = lo;
                if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|c| *c != ']') {
                    hi = pattern[i + 2];
                    i += 2;
                }
                if lo <= c && c <= hi {
                    matched = true;
                }
                i += 1;
            }
            if i >= pattern.len() {
                return false;
            }
            matched != negate && glob_match(&pattern[i + 1..], &name[1..])
        }
        Some('\\') if pattern.len() > 1 => name.first() == Some(&pattern[1]) && glob_match(&pattern[2..], &name[1..]),
        Some(p) => name.first() == Some(p) && glob_match(&pattern[1..], &name[1..]),
    }
}

/// Lexically cleans a source; errors when it climbs out of the root.
fn clean_source(src: &str) -> Result<String, CopyError> {
    let mut parts: Vec<&str> = Vec::new();
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(CopyError::OutsideContext(src.to_string()));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Follows symlinks along `rel` inside `root`; returns the real path.
fn resolve(root: &Path, rel: &str, kind: SourceKind, original: &str) -> Result<PathBuf, CopyError> {
    let mut queue: VecDeque<String> = rel.split('/').filter(|c| !c.is_empty()).map(str::to_string).collect();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = queue.pop_front() {
        match c.as_str() {
            "." => continue,
            ".." => {
                if done.pop().is_none() && kind == SourceKind::Context {
                    return Err(CopyError::OutsideContext(original.to_string()));
                }
                continue;
            }
            _ => {}
        }
        let candidate = root.join(done.join("/")).join(&c);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(CopyError::NotFound(format!("/{rel}")))
            }
            Err(e) => return Err(CopyError::Read(candidate.display().to_string(), e)),
        };
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return Err(CopyError::SymlinkLoop(original.to_string()));
            }
            let target = std::fs::read_link(&candidate).map_err(|e| CopyError::Read(candidate.display().to_string(), e))?;
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                if kind == SourceKind::Context {
                    return Err(CopyError::OutsideContext(original.to_string()));
                }
                done.clear();
            }
            for part in target.split('/').rev().filter(|p| !p.is_empty()) {
                queue.push_front(part.to_string());
            }
            continue;
        }
        done.push(c);
    }
    Ok(root.join(done.join("/")))
}

/// Expands wildcards component by component; results sorted.
fn expand_wildcards(req: &CopyRequest, clean: &str, original: &str) -> Result<Vec<String>, CopyError> {
    let mut candidates = vec![String::new()];
    for comp in clean.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for cand in &candidates {
            if !has_wildcard(comp) {
                next.push(if cand.is_empty() { comp.to_string() } else { format!("{cand}/{comp}") });
                continue;
            }
            let dir = match resolve(req.source_root, cand, req.source_kind, original) {
                Ok(d) => d,
                Err(CopyError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            let pat: Vec<char> = comp.chars().collect();
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| glob_match(&pat, &n.chars().collect::<Vec<_>>()))
                .collect();
            names.sort();
            for n in names {
                next.push(if cand.is_empty() { n } else { format!("{cand}/{n}") });
            }
        }
        candidates = next;
    }
    Ok(candidates)
}

fn resolve_sources(req: &CopyRequest) -> Result<Vec<Resolved>, CopyError> {
    let mut out = Vec::new();
    for src in req.sources {
        if req.is_add && is_url(src) {
            continue;
        }
        let clean = clean_source(src)?;
        let rels = if has_wildcard(&clean) {
            let found = expand_wildcards(req, &clean, src)?;
            if found.is_empty() && !req.allow_empty_wildcard {
                return Err(CopyError::NoMatch(src.clone()));
            }
            found
        } else {
            vec![clean]
        };
        for rel in rels {
            let real = resolve(req.source_root, &rel, req.source_kind, src)?;
            let meta = std::fs::metadata(&real).map_err(|e| CopyError::Read(real.display().to_string(), e))?;
            out.push(Resolved {
                rel,
                real,
                is_dir: meta.is_dir(),
                original: src.clone(),
            });
        }
    }
    Ok(out)
}

fn excludes_matcher(req: &CopyRequest) -> Result<DockerIgnore, CopyError> {
    DockerIgnore::from_patterns(req.excludes).map_err(|e| CopyError::BadExclude(e.to_string()))
}

/// Entries below a directory source, depth first, lexical, not following
/// symlinks; `(relative path, absolute path, metadata)`.
fn walk_dir(base: &Path, excludes: &DockerIgnore) -> Result<Vec<(String, PathBuf, std::fs::Metadata)>, CopyError> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), base.to_path_buf())];
    while let Some((rel, dir)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| CopyError::Read(dir.display().to_string(), e))?;
        let mut names: Vec<std::ffi::OsString> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let child_rel = if rel.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            if excludes.matches(&child_rel) {
                continue;
            }
            let path = dir.join(&name);
            let meta = std::fs::symlink_metadata(&path).map_err(|e| CopyError::Read(path.display().to_string(), e))?;
            if meta.is_dir() {
                subdirs.push((child_rel.clone(), path.clone()));
            }
            out.push((child_rel, path, meta));
        }
        // Reverse so the stack pops them in lexical order; a directory's
        // contents follow it, before its next sibling's entries are listed.
        for s in subdirs.into_iter().rev() {
            stack.push(s);
        }
    }
    // Stack order interleaves levels; sort so parents precede children.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Where the copy goes: the absolute dest and whether it is a directory.
fn destination(req: &CopyRequest, root: &ConfinedRoot, count: usize) -> Result<(String, bool), CopyError> {
    let raw = req.dest;
    let wants_dir = raw.ends_with('/') || raw.is_empty() || raw == "." || raw.ends_with("/.");
    let abs = join_workdir(req.workdir, if raw.is_empty() { "." } else { raw });
    let exists_dir = root.existing(&abs).map_err(|e| CopyError::Write(abs.clone(), e))? == Existing::Dir;
    if count > 1 && !wants_dir && !exists_dir {
        return Err(CopyError::MultipleSourcesNeedDirectory);
    }
    Ok((abs.clone(), wants_dir || exists_dir))
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

fn join(dir: &str, name: &str) -> String {
    if name.is_empty() {
        dir.to_string()
    } else {
        format!("{}/{}", dir.trim_end_matches('/'), name)
    }
}

/// The part of a source kept under dest with `--parents` (after a `/./`
/// pivot when there is one).
fn parents_part(original: &str, rel: &str) -> String {
    match original.rfind("/./") {
        Some(i) => {
            let prefix = clean_source(&original[..i]).unwrap_or_default();
            rel.strip_prefix(&prefix).unwrap_or(rel).trim_start_matches('/').to_string()
        }
        None => rel.to_string(),
    }
}

struct Writer<'r> {
    root: &'r ConfinedRoot,
    owner_override: Option<(u32, u32)>,
    chmod: Option<u32>,
    kind: SourceKind,
    report: CopyReport,
}

impl Writer<'_> {
    fn owner_for(&self, meta: &std::fs::Metadata) -> (u32, u32) {
        match (self.owner_override, self.kind) {
            (Some(o), _) => o,
            (None, SourceKind::Context) => (0, 0),
            (None, SourceKind::Rootfs) => (meta.uid(), meta.gid()),
        }
    }

    fn parent_owner(&self) -> Option<(u32, u32)> {
        Some(self.owner_override.unwrap_or((0, 0)))
    }

    fn write_entry(&mut self, src: &Path, meta: &std::fs::Metadata, dest: &str) -> Result<(), CopyError> {
        let werr = |e: std::io::Error| CopyError::Write(dest.to_string(), e);
        if let Some((parent, _)) = dest.rsplit_once('/') {
            if !parent.is_empty() {
                self.root.mkdir_all(parent, 0o755, self.parent_owner()).map_err(werr)?;
            }
        }
        let (uid, gid) = self.owner_for(meta);
        let mode = self.chmod.unwrap_or(meta.permissions().mode() & 0o7777);
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(src).map_err(|e| CopyError::Read(src.display().to_string(), e))?;
            self.root.symlink(&target.to_string_lossy(), dest).map_err(werr)?;
            self.root.lchown(dest, uid, gid).map_err(werr)?;
        } else if ft.is_dir() {
            self.root.mkdir_all(dest, mode, None).map_err(werr)?;
            self.root.chmod(dest, mode).map_err(werr)?;
            self.root.lchown(dest, uid, gid).map_err(werr)?;
            self.root.set_mtime(dest, meta.mtime(), meta.mtime_nsec()).map_err(werr)?;
        } else if ft.is_file() {
            let mut input = std::fs::File::open(src).map_err(|e| CopyError::Read(src.display().to_string(), e))?;
            let mut out = self.root.create_file(dest, mode).map_err(werr)?;
            let n = std::io::copy(&mut input, &mut out).map_err(werr)?;
            drop(out);
            self.root.lchown(dest, uid, gid).map_err(werr)?;
            self.root.set_mtime(dest, meta.mtime(), meta.mtime_nsec()).map_err(werr)?;
            self.report.bytes += n;
        } else {
            // Sockets, FIFOs and devices are not copied.
            return Ok(());
        }
        self.report.entries += 1;
        Ok(())
    }

    fn write_bytes(&mut self, dest: &str, data: &[u8], mode: u32) -> Result<(), CopyError> {
        let werr = |e: std::io::Error| CopyError::Write(dest.to_string(), e);
        if let Some((parent, _)) = dest.rsplit_once('/') {
            if !parent.is_empty() {
                self.root.mkdir_all(parent, 0o755, self.parent_owner()).map_err(werr)?;
            }
        }
        let mode = self.chmod.unwrap_or(mode);
        let mut f = self.root.create_file(dest, mode).map_err(werr)?;
        f.write_all(data).map_err(werr)?;
        drop(f);
        let (uid, gid) = self.owner_override.unwrap_or((0, 0));
        self.root.lchown(dest, uid, gid).map_err(werr)?;
        self.report.entries += 1;
        self.report.bytes += data.len() as u64;
        Ok(())
    }
}

/// Performs a COPY or ADD into `req.dest_root`.
pub fn copy_into(req: &CopyRequest) -> Result<CopyReport, CopyError> {
    let root = ConfinedRoot::open(req.dest_root).map_err(|e| CopyError::Write(req.dest_root.display().to_string(), e))?;
    let chmod = req.chmod.map(owner::parse_chmod).transpose()?;
    let owner_override = req.chown.map(|c| owner::resolve_chown(c, &root)).transpose()?;
    let resolved = resolve_sources(req)?;
    let urls: Vec<&String> = req.sources.iter().filter(|s| req.is_add && is_url(s)).collect();
    let count = resolved.len() + urls.len() + req.inline_sources.len();
    let (dest, dest_is_dir) = destination(req, &root, count)?;
    let excludes = excludes_matcher(req)?;
    let mut w = Writer {
        root: &root,
        owner_override,
        chmod,
        kind: req.source_kind,
        report: CopyReport::default(),
    };

    for src in &resolved {
        let base_dest = if req.parents {
            let keep = parents_part(&src.original, &src.rel);
            let parent = keep.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default();
            if src.is_dir {
                join(&dest, &keep)
            } else {
                join(&join(&dest, &parent), file_name(&src.rel))
            }
        } else if src.is_dir {
            dest.clone()
        } else if dest_is_dir {
            join(&dest, file_name(&src.rel))
        } else {
            dest.clone()
        };
        if src.is_dir {
            root.mkdir_all(&base_dest, 0o755, w.parent_owner())
                .map_err(|e| CopyError::Write(base_dest.clone(), e))?;
            for (rel, path, meta) in walk_dir(&src.real, &excludes)? {
                w.write_entry(&path, &meta, &join(&base_dest, &rel))?;
            }
            continue;
        }
        if !req.excludes.is_empty() && excludes.matches(file_name(&src.rel)) {
            continue;
        }
        if req.is_add && req.unpack != Some(false) {
            let detected = archive::detect_archive(&src.real).map_err(|e| CopyError::Read(src.rel.clone(), e))?;
            if let Some(compression) = detected {
                archive::extract(&src.real, compression, &root, &dest, owner_override)?;
                w.report.entries += 1;
                continue;
            }
        }
        let meta = std::fs::metadata(&src.real).map_err(|e| CopyError::Read(src.rel.clone(), e))?;
        w.write_entry(&src.real, &meta, &base_dest)?;
    }

    for url in urls {
        let Some(fetcher) = req.url_fetcher else {
            return Err(CopyError::NoUrlFetcher(url.clone()));
        };
        let body = fetcher.fetch(url).map_err(|message| CopyError::Fetch { url: url.clone(), message })?;
        let target = if dest_is_dir {
            let path = url.split(['?', '#']).next().unwrap_or(url);
            let name = path.splitn(4, '/').nth(3).and_then(|p| p.rsplit('/').next()).unwrap_or("");
            if name.is_empty() {
                return Err(CopyError::UrlFileName(url.clone()));
            }
            join(&dest, name)
        } else {
            dest.clone()
        };
        w.write_bytes(&target, &body, 0o600)?;
    }

    for inline in req.inline_sources {
        let target = if dest_is_dir { join(&dest, &inline.name) } else { dest.clone() };
        w.write_bytes(&target, inline.content.as_bytes(), 0o644)?;
    }
    Ok(w.report)
}

fn hash_file(path: &Path) -> Result<[u8; 32], CopyError> {
    let mut f = std::fs::File::open(path).map_err(|e| CopyError::Read(path.display().to_string(), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| CopyError::Read(path.display().to_string(), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

fn hash_entry(h: &mut Sha256, rel: &str, path: &Path, meta: &std::fs::Metadata, known: Option<&KnownFiles>) -> Result<(), CopyError> {
    let ft = meta.file_type();
    let kind = if ft.is_symlink() {
        "l"
    } else if ft.is_dir() {
        "d"
    } else if ft.is_file() {
        "f"
    } else {
        "o"
    };
    h.update(format!("{kind}\0{rel}\0{:o}\0", meta.permissions().mode() & 0o7777).as_bytes());
    if ft.is_symlink() {
        let t = std::fs::read_link(path).map_err(|e| CopyError::Read(path.display().to_string(), e))?;
        h.update(t.to_string_lossy().as_bytes());
    } else if ft.is_file() {
        match known.and_then(|k| k.get(&(meta.dev(), meta.ino()))).filter(|(size, _)| *size == meta.len()) {
            Some((size, sum)) => {
                h.update(size.to_le_bytes());
                h.update(sum);
            }
            None => {
                h.update(meta.len().to_le_bytes());
                h.update(hash_file(path)?);
            }
        }
    }
    h.update(b"\n");
    Ok(())
}

/// `sha256:<hex>` over what the COPY/ADD would copy: paths, kinds, modes,
/// symlink targets and file contents (not owners or times, which COPY resets
/// or which do not change the result). URLs count by their text.
pub fn source_checksum(req: &CopyRequest) -> Result<String, CopyError> {
    let resolved = resolve_sources(req)?;
    let excludes = excludes_matcher(req)?;
    let mut h = Sha256::new();
    for src in &resolved {
        h.update(format!("source\0{}\0", src.rel).as_bytes());
        if src.is_dir {
            for (rel, path, meta) in walk_dir(&src.real, &excludes)? {
                hash_entry(&mut h, &rel, &path, &meta, req.known_files)?;
            }
        } else {
            let meta = std::fs::metadata(&src.real).map_err(|e| CopyError::Read(src.rel.clone(), e))?;
            hash_entry(&mut h, file_name(&src.rel), &src.real, &meta, req.known_files)?;
        }
    }
    for url in req.sources.iter().filter(|s| req.is_add && is_url(s)) {
        h.update(format!("url\0{url}\n").as_bytes());
    }
    for inline in req.inline_sources {
        h.update(format!("inline\0{}\0{}\0", inline.name, inline.content.len()).as_bytes());
        h.update(inline.content.as_bytes());
    }
    let digest = h.finalize();
    Ok(format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

#[cfg(test)]
mod tests;
