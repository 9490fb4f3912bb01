//! Unpacking a layer tar into a directory, safely.
//!
//! The `tar` crate is used only to iterate entries and read headers; every file is
//! created here with fd-relative syscalls inside a [`Root`], so no entry can write
//! outside the directory: `..` that climbs out is rejected, absolute names are taken
//! relative to the root (as Docker does), symlinks and hard links are resolved in the
//! root. OCI whiteouts become overlayfs whiteouts.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, fchmodat, fstatat, futimens, mknodat, utimensat, FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};

use super::confined::{fsetxattr, setxattr_on_path_fd, Root};
use super::decompress::decompress;
use crate::digest::{Algorithm, Digest, HashingReader};
use crate::error::{Error, Result};
use crate::media_type::Compression;
use crate::whiteout::{classify, TarName, OVERLAY_OPAQUE_XATTR};

/// The result of unpacking a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Size of the uncompressed tar stream in bytes.
    pub tar_size: u64,
}

/// How entries are applied: layer unpack (overlay whiteouts, owners from the archive)
/// or a `docker cp` style extraction into a live tree.
#[derive(Debug, Default)]
struct Opts {
    /// `docker cp`: entries go under this directory of the root.
    prefix: PathBuf,
    /// Owner forced on every entry (`docker cp` without `-a`: the container's root).
    owner: Option<(u32, u32)>,
    ids: Option<crate::changes::IdMapping>,
    /// `.wh.` names are plain files, not whiteouts.
    plain_whiteouts: bool,
    /// Refuse to replace a directory with a non-directory and vice versa.
    no_overwrite_dir_non_dir: bool,
    /// Regular files of at least this size are hashed as they are written, into
    /// `hashed` (see [`extract_hashing_large_files`]).
    hash_min: Option<u64>,
    hashed: std::cell::RefCell<HashedFiles>,
}

/// Options of [`extract_in_root`].
#[derive(Clone, Debug, Default)]
pub struct ExtractOptions {
    /// Owner given to every extracted entry; `None` keeps the archive's owners.
    pub owner: Option<(u32, u32)>,
    /// Owners (given or the archive's) are ids inside this user namespace: they are
    /// written as the host ids they map to (`docker cp` into a remapped container).
    pub ids: Option<crate::changes::IdMapping>,
    /// Docker's `noOverwriteDirNonDir`.
    pub no_overwrite_dir_non_dir: bool,
}

/// Extracts a plain (or compressed, sniffed) tar under `dir` of the tree whose root
/// directory is the open fd `root` (`docker cp` into a container). Every path, `dir`
/// included, is resolved inside `root` (openat2 RESOLVE_IN_ROOT), so neither a symlink
/// already in the tree nor one in the archive can lead a write outside it. `.wh.` names
/// are ordinary files here.
pub fn extract_in_root(root: OwnedFd, dir: &Path, reader: impl Read, opts: &ExtractOptions) -> Result<()> {
    let what = "archive";
    let prefix = clean_entry_path(dir.as_os_str().as_bytes()).map_err(|r| Error::UnsafePath { layer: what.into(), path: dir.display().to_string(), reason: r })?;
    let o = Opts { prefix, owner: opts.owner, ids: opts.ids.clone(), plain_whiteouts: true, no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir, ..Default::default() };
    extract_archive(root, reader, &o)
}

/// Applies a whole (maybe compressed) archive into `root` with `o`; directory times
/// last, deepest first, since creating children bumps a parent's mtime.
fn extract_archive(root: OwnedFd, reader: impl Read, o: &Opts) -> Result<()> {
    let corrupt = |e: io::Error| Error::InvalidArchive(format!("reading the tar stream: {e}"));
    let stream = decompress(reader, None).map_err(corrupt)?;
    let root = Root::from_fd(root);
    let mut archive = tar::Archive::new(stream);
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        apply_entry(&root, &mut entry, "archive", &mut dir_times, o)?;
    }
    dir_times.sort_by(|a, b| b.0.components().count().cmp(&a.0.components().count()));
    for (rel, mtime) in dir_times {
        if let Ok(fd) = root.open_in(&rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW) {
            let t = TimeSpec::new(mtime as i64, 0);
            let _ = futimens(fd.as_fd(), &t, &t);
        }
    }
    Ok(())
}

/// A regular file whose data was hashed as it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedFile {
    pub size: u64,
    pub sha256: [u8; 32],
    /// Where it was written (relative to the root).
    pub path: PathBuf,
}

/// Files hashed by [`extract_hashing_large_files`], by (st_dev, st_ino).
pub type HashedFiles = std::collections::HashMap<(u64, u64), HashedFile>;

/// As [`extract_in_root`] at the root, also hashing (sha256) each regular file of
/// `min_size` bytes or more while it is written: the build context, whose large files
/// are hashed for COPY's cache key, so the hashing overlaps the upload instead of
/// reading the files back after it. Files are identified by device and inode, however
/// a later reader spells their path.
pub fn extract_hashing_large_files(root: OwnedFd, reader: impl Read, min_size: u64) -> Result<HashedFiles> {
    let o = Opts { prefix: PathBuf::new(), plain_whiteouts: true, hash_min: Some(min_size), ..Default::default() };
    let check = root.try_clone().map_err(|e| Error::io("dup", Path::new("."), e))?;
    extract_archive(root, reader, &o)?;
    // A later entry may have replaced a hashed file, and its freed inode may now be
    // another (unhashed) file's: keep only records whose path still holds that inode.
    let check = Root::from_fd(check);
    let mut hashed = o.hashed.into_inner();
    hashed.retain(|key, f| {
        check
            .open_in(&f.path, OFlag::O_PATH | OFlag::O_NOFOLLOW)
            .ok()
            .and_then(|fd| nix::sys::stat::fstat(&fd).ok())
            .is_some_and(|st| (st.st_dev, st.st_ino) == *key)
    });
    Ok(hashed)
}

/// Unpacks the layer blob from `reader` into the existing directory `dest`.
/// `compression` is the declared one (`None` to sniff). `layer` names the layer in errors.
/// On error `dest` holds a partial tree: callers unpack into a temp dir and discard it.
pub fn unpack(dest: &Path, reader: impl Read, compression: Option<Compression>, layer: &str) -> Result<Unpacked> {
    let corrupt = |e: io::Error| Error::layer(layer, e);
    let tar_stream = decompress(reader, compression).map_err(corrupt)?;
    let rest = unpack_tar(dest, HashingReader::new(tar_stream, Algorithm::Sha256), layer)?;
    let tar_size = rest.count();
    if tar_size == 0 {
        return Err(Error::layer(layer, EMPTY_STREAM));
    }
    let (diff_id, _) = rest.finish();
    Ok(Unpacked { diff_id, tar_size })
}

/// Unpacks an uncompressed layer tar whose digest the caller computes anyway (it is
/// the blob's, hashed as it is stored): the same as [`unpack`] without hashing the
/// stream a second time. Returns the size of the tar.
pub(crate) fn unpack_plain_unhashed(dest: &Path, reader: impl Read, layer: &str) -> Result<u64> {
    let size = unpack_tar(dest, Counting { inner: reader, count: 0 }, layer)?.count;
    if size == 0 {
        return Err(Error::layer(layer, EMPTY_STREAM));
    }
    Ok(size)
}

const EMPTY_STREAM: &str = "empty layer stream (not a tar archive)";

/// Counts what passes through.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Applies every entry of the tar `stream` under `dest`, reads the stream to its end
/// (end-of-archive blocks and padding belong to the diff id; this also makes gzip check
/// its trailer CRC), and hands the stream back.
fn unpack_tar<R: Read>(dest: &Path, stream: R, layer: &str) -> Result<R> {
    let corrupt = |e: io::Error| Error::layer(layer, e);
    let root = Root::open(dest).map_err(|e| Error::io("open", dest, e.into()))?;
    let mut archive = tar::Archive::new(stream);
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    {
        let entries = archive.entries().map_err(corrupt)?;
        for entry in entries {
            let mut entry = entry.map_err(corrupt)?;
            apply_entry(&root, &mut entry, layer, &mut dir_times, &Opts::default())?;
        }
    }
    let mut rest = archive.into_inner();
    let mut buf = [0u8; 8192];
    loop {
        match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(corrupt(e)),
        }
    }
    // Directory times last, deepest first: creating children bumps a parent's mtime.
    dir_times.sort_by(|a, b| b.0.components().count().cmp(&a.0.components().count()));
    for (rel, mtime) in dir_times {
        let fd = root.open_in(&rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW);
        if let Ok(fd) = fd {
            let t = TimeSpec::new(mtime as i64, 0);
            futimens(fd.as_fd(), &t, &t).map_err(|e| path_err(layer, &rel, "set times of", e))?;
        }
    }
    Ok(rest)
}

/// Cleans an entry name: leading `/` dropped, `.` and empty components dropped, `..`
/// applied lexically and refused if it climbs above the root. `None`: the root itself.
pub(crate) fn clean_entry_path(raw: &[u8]) -> std::result::Result<PathBuf, &'static str> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err("climbs out of the layer root");
                }
            }
            c => parts.push(c),
        }
    }
    if raw.contains(&0) {
        return Err("contains a NUL byte");
    }
    let mut p = PathBuf::new();
    for c in parts {
        p.push(OsStr::from_bytes(c));
    }
    Ok(p)
}

fn path_err(layer: &str, rel: &Path, op: &str, e: impl Into<io::Error>) -> Error {
    Error::layer(layer, format!("{op} {:?}: {}", rel, e.into()))
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn entry_meta<R: Read>(entry: &mut tar::Entry<'_, R>, layer: &str) -> Result<Meta> {
    let h = entry.header();
    let bad = |what: &str, e: io::Error| Error::layer(layer, format!("bad {what} in tar header: {e}"));
    // Like Go's archive/tar (and so Docker), an all-blank numeric field reads as 0.
    let blank = |raw: &[u8]| raw.iter().all(|b| *b == 0 || *b == b' ');
    let old = h.as_old();
    let mut meta = Meta {
        mode: h.mode().or_else(|e| if blank(&old.mode) { Ok(0) } else { Err(e) }).map_err(|e| bad("mode", e))? & 0o7777,
        uid: h.uid().or_else(|e| if blank(&old.uid) { Ok(0) } else { Err(e) }).map_err(|e| bad("uid", e))? as u32,
        gid: h.gid().or_else(|e| if blank(&old.gid) { Ok(0) } else { Err(e) }).map_err(|e| bad("gid", e))? as u32,
        mtime: h.mtime().or_else(|e| if blank(&old.mtime) { Ok(0) } else { Err(e) }).map_err(|e| bad("mtime", e))?,
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions().map_err(|e| bad("pax header", e))? {
        for ext in exts {
            let ext = ext.map_err(|e| bad("pax header", e))?;
            let key = ext.key_bytes();
            let num = || std::str::from_utf8(ext.value_bytes()).ok().and_then(|v| v.split('.').next()?.parse::<u64>().ok());
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                meta.xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
            } else if key == b"uid" {
                meta.uid = num().ok_or_else(|| Error::layer(layer, "bad pax uid"))? as u32;
            } else if key == b"gid" {
                meta.gid = num().ok_or_else(|| Error::layer(layer, "bad pax gid"))? as u32;
            } else if key == b"mtime" {
                meta.mtime = num().unwrap_or(meta.mtime);
            }
        }
    }
    Ok(meta)
}

/// Copies a file's data from the archive, hashing it (sha256) on the way.
fn copy_data_hashing(r: &mut impl Read, w: &mut std::fs::File) -> io::Result<(u64, [u8; 32])> {
    use sha2::Digest as _;
    use std::io::Write;
    let mut h = sha2::Sha256::new();
    let mut n = 0u64;
    with_big_buffer(|buf| loop {
        let k = match r.read(buf) {
            Ok(0) => return Ok(()),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..k])?;
        h.update(&buf[..k]);
        n += k as u64;
    })?;
    Ok((n, h.finalize().into()))
}

/// Runs `f` with the thread's 1 MiB buffer.
fn with_big_buffer<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    const BIG: usize = 1 << 20;
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|b| {
        let mut buf = b.borrow_mut();
        buf.resize(BIG, 0);
        f(&mut buf[..])
    })
}

/// Copies a file's data from the archive. io::copy's 8 KiB buffer would make a 50 MB
/// file 6,400 writes (and as many reads through the stream below); large files go
/// through a 1 MiB buffer kept by the thread.
fn copy_data(r: &mut impl Read, w: &mut std::fs::File, size: u64) -> io::Result<u64> {
    use std::io::Write;
    if size < 256 * 1024 {
        return io::copy(r, w);
    }
    with_big_buffer(|buf| {
        let mut n = 0u64;
        loop {
            let k = match r.read(buf) {
                Ok(0) => return Ok(n),
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            w.write_all(&buf[..k])?;
            n += k as u64;
        }
    })
}

fn apply_entry<R: Read>(root: &Root, entry: &mut tar::Entry<'_, R>, layer: &str, dir_times: &mut Vec<(PathBuf, u64)>, o: &Opts) -> Result<()> {
    let raw = entry.path_bytes().into_owned();
    let unsafe_path = |reason| Error::UnsafePath { layer: layer.to_owned(), path: String::from_utf8_lossy(&raw).into_owned(), reason };
    let rel = o.prefix.join(clean_entry_path(&raw).map_err(unsafe_path)?);
    let kind = entry.header().entry_type();
    let mut meta = entry_meta(entry, layer)?;
    if let Some((uid, gid)) = o.owner {
        meta.uid = uid;
        meta.gid = gid;
    }
    if let Some(m) = &o.ids {
        meta.uid = m.uid_outside(meta.uid);
        meta.gid = m.gid_outside(meta.gid);
    }

    // The root directory itself ("./"): only its metadata applies.
    let Some(base) = rel.file_name().map(|b| b.to_owned()) else {
        if kind.is_dir() {
            let fd = root.open_in(&rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY).map_err(|e| path_err(layer, &rel, "open", e))?;
            set_meta_fd(&fd, &meta, layer, &rel)?;
            dir_times.push((rel, meta.mtime));
        }
        return Ok(());
    };
    let parent_rel = rel.parent().unwrap_or(Path::new("")).to_owned();
    let parent = root.dir_creating(&parent_rel).map_err(|e| path_err(layer, &parent_rel, "open parent of", e))?;

    let class = if o.plain_whiteouts { TarName::Plain } else { classify(base.as_bytes()) };
    match class {
        TarName::Meta => return Ok(()),
        TarName::Opaque => {
            let dir = root
                .open_in(&parent_rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .map_err(|e| path_err(layer, &parent_rel, "open", e))?;
            fsetxattr(dir.as_fd(), OVERLAY_OPAQUE_XATTR.as_bytes(), b"y").map_err(|e| path_err(layer, &parent_rel, "mark opaque", e))?;
            return Ok(());
        }
        TarName::Whiteout(name) => {
            let name = OsStr::from_bytes(name);
            if name.is_empty() || name == "." || name == ".." {
                return Err(unsafe_path("is a whiteout of an invalid name"));
            }
            Root::remove_all_at(parent.as_fd(), name).map_err(|e| path_err(layer, &rel, "replace", e))?;
            mknodat(parent.as_fd(), name, SFlag::S_IFCHR, Mode::empty(), 0).map_err(|e| path_err(layer, &rel, "create whiteout for", e))?;
            fchownat(parent.as_fd(), name, Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| path_err(layer, &rel, "chown", e))?;
            return Ok(());
        }
        TarName::Plain => {}
    }

    // Whatever is at the name now is replaced, except a directory by a directory (tar
    // semantics: the later entry's metadata wins, contents merge).
    let existing = fstatat(parent.as_fd(), base.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).ok();
    let existing_is_dir = existing.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
    if o.no_overwrite_dir_non_dir && existing.is_some() && existing_is_dir != kind.is_dir() {
        let msg = if existing_is_dir {
            format!("cannot overwrite directory {:?} with non-directory {:?}", Path::new("/").join(&rel), String::from_utf8_lossy(&raw))
        } else {
            format!("cannot overwrite non-directory {:?} with directory {:?}", Path::new("/").join(&rel), String::from_utf8_lossy(&raw))
        };
        return Err(Error::layer(layer, msg));
    }
    if existing.is_some() && !(kind.is_dir() && existing_is_dir) {
        Root::remove_all_at(parent.as_fd(), &base).map_err(|e| path_err(layer, &rel, "replace", e))?;
    }

    let owner = (Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)));
    let times = TimeSpec::new(meta.mtime as i64, 0);
    use tar::EntryType as T;
    match kind {
        T::Directory => {
            if !existing_is_dir {
                nix::sys::stat::mkdirat(parent.as_fd(), base.as_os_str(), Mode::from_bits_truncate(0o700))
                    .map_err(|e| path_err(layer, &rel, "mkdir", e))?;
            }
            let fd = nix::fcntl::openat(
                parent.as_fd(),
                base.as_os_str(),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| path_err(layer, &rel, "open", e))?;
            set_meta_fd(&fd, &meta, layer, &rel)?;
            dir_times.push((rel, meta.mtime));
        }
        T::Regular | T::Continuous => {
            let fd = nix::fcntl::openat(
                parent.as_fd(),
                base.as_os_str(),
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(|e| path_err(layer, &rel, "create", e))?;
            let mut file = std::fs::File::from(fd);
            let want = entry.size();
            let got = if o.hash_min.is_some_and(|m| want >= m) {
                let (got, sha256) = copy_data_hashing(entry, &mut file).map_err(|e| Error::layer(layer, format!("reading {:?}: {e}", rel)))?;
                let st = nix::sys::stat::fstat(file.as_fd()).map_err(|e| path_err(layer, &rel, "stat", e))?;
                o.hashed.borrow_mut().insert((st.st_dev, st.st_ino), HashedFile { size: got, sha256, path: rel.clone() });
                got
            } else {
                copy_data(entry, &mut file, want).map_err(|e| Error::layer(layer, format!("reading {:?}: {e}", rel)))?
            };
            // The tar reader stops quietly at the end of a short stream; a file shorter
            // than its header says means the archive is truncated.
            if got != want {
                return Err(Error::layer(layer, format!("truncated archive: {:?} has {got} of {want} bytes", rel)));
            }
            let fd = OwnedFd::from(file);
            set_meta_fd(&fd, &meta, layer, &rel)?;
            futimens(fd.as_fd(), &times, &times).map_err(|e| path_err(layer, &rel, "set times of", e))?;
        }
        T::Symlink => {
            let target = entry.link_name_bytes().ok_or_else(|| unsafe_path("is a symlink without a target"))?;
            // The target is stored verbatim: it is only ever resolved inside a root
            // (here by openat2, in a container by its mount namespace).
            symlinkat(OsStr::from_bytes(&target), parent.as_fd(), base.as_os_str()).map_err(|e| path_err(layer, &rel, "symlink", e))?;
            fchownat(parent.as_fd(), base.as_os_str(), owner.0, owner.1, AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| path_err(layer, &rel, "chown", e))?;
            set_xattrs_path_fd(root, &rel, &meta, layer)?;
            utimensat(parent.as_fd(), base.as_os_str(), &times, &times, UtimensatFlags::NoFollowSymlink)
                .map_err(|e| path_err(layer, &rel, "set times of", e))?;
        }
        T::Link => {
            let raw_target = entry.link_name_bytes().ok_or_else(|| unsafe_path("is a hard link without a target"))?;
            let target = o.prefix.join(clean_entry_path(&raw_target).map_err(|_| unsafe_path("is a hard link that points outside the layer"))?);
            let (Some(tbase), Some(tparent_rel)) = (target.file_name(), target.parent()) else {
                return Err(unsafe_path("is a hard link to the layer root"));
            };
            let tparent = root
                .open_in(tparent_rel, OFlag::O_PATH | OFlag::O_DIRECTORY)
                .map_err(|e| path_err(layer, &rel, "resolve hard link target of", e))?;
            // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself, so a
            // symlink can never smuggle in a file from outside the root.
            linkat(tparent.as_fd(), tbase, parent.as_fd(), base.as_os_str(), AtFlags::empty())
                .map_err(|e| path_err(layer, &rel, "hard link", e))?;
        }
        T::Char | T::Block | T::Fifo => {
            let (sflag, dev) = match kind {
                T::Char | T::Block => {
                    let h = entry.header();
                    let major = h.device_major().ok().flatten().unwrap_or(0);
                    let minor = h.device_minor().ok().flatten().unwrap_or(0);
                    let sflag = if kind == T::Char { SFlag::S_IFCHR } else { SFlag::S_IFBLK };
                    (sflag, libc::makedev(major, minor))
                }
                _ => (SFlag::S_IFIFO, 0),
            };
            mknodat(parent.as_fd(), base.as_os_str(), sflag, Mode::from_bits_truncate(0o600), dev)
                .map_err(|e| path_err(layer, &rel, "mknod", e))?;
            fchownat(parent.as_fd(), base.as_os_str(), owner.0, owner.1, AtFlags::AT_SYMLINK_NOFOLLOW)
                .map_err(|e| path_err(layer, &rel, "chown", e))?;
            // We just made this node, so it is not a symlink: following is harmless.
            fchmodat(parent.as_fd(), base.as_os_str(), Mode::from_bits_truncate(meta.mode), FchmodatFlags::FollowSymlink)
                .map_err(|e| path_err(layer, &rel, "chmod", e))?;
            set_xattrs_path_fd(root, &rel, &meta, layer)?;
            utimensat(parent.as_fd(), base.as_os_str(), &times, &times, UtimensatFlags::NoFollowSymlink)
                .map_err(|e| path_err(layer, &rel, "set times of", e))?;
        }
        other => {
            return Err(Error::layer(layer, format!("entry {:?}: unhandled tar entry type {:?}", rel, other)));
        }
    }
    Ok(())
}

/// Owner, then mode (chown clears set-id bits), then xattrs, on an open file or dir.
fn set_meta_fd(fd: &OwnedFd, meta: &Meta, layer: &str, rel: &Path) -> Result<()> {
    fchown(fd.as_fd(), Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid))).map_err(|e| path_err(layer, rel, "chown", e))?;
    fchmod(fd.as_fd(), Mode::from_bits_truncate(meta.mode)).map_err(|e| path_err(layer, rel, "chmod", e))?;
    for (name, value) in &meta.xattrs {
        fsetxattr(fd.as_fd(), name, value).map_err(|e| path_err(layer, rel, "set xattr on", e))?;
    }
    Ok(())
}

fn set_xattrs_path_fd(root: &Root, rel: &Path, meta: &Meta, layer: &str) -> Result<()> {
    if meta.xattrs.is_empty() {
        return Ok(());
    }
    let fd = root.open_in(rel, OFlag::O_PATH | OFlag::O_NOFOLLOW).map_err(|e| path_err(layer, rel, "open", e))?;
    for (name, value) in &meta.xattrs {
        setxattr_on_path_fd(fd.as_fd(), name, value).map_err(|e| path_err(layer, rel, "set xattr on", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn large_files_are_hashed_as_they_are_written() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut b = tar::Builder::new(Vec::new());
        for (name, body, mode) in [("small.txt", &b"hello"[..], 0o644), ("dir/big.bin", &big[..], 0o751)] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(mode);
            h.set_mtime(1_600_000_000);
            h.set_cksum();
            b.append_data(&mut h, name, body).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root: OwnedFd = std::fs::File::open(dir.path()).unwrap().into();
        let hashed = extract_hashing_large_files(root, &tar[..], 256 * 1024).unwrap();

        assert_eq!(std::fs::read(dir.path().join("small.txt")).unwrap(), b"hello", "small files are written");
        assert_eq!(std::fs::read(dir.path().join("dir/big.bin")).unwrap(), big);
        let meta = std::fs::metadata(dir.path().join("dir/big.bin")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o751);
        assert_eq!(meta.mtime(), 1_600_000_000);
        assert_eq!(hashed.len(), 1);
        let got = &hashed[&(meta.dev(), meta.ino())];
        assert_eq!(got.size, big.len() as u64);
        assert_eq!(got.sha256, <[u8; 32]>::from(sha2::Sha256::digest(&big)));

        // A hashed file replaced by a later entry leaves no record that could be taken
        // for the new file (whose inode may be the freed one).
        let mut b = tar::Builder::new(Vec::new());
        for body in [&big[..], &b"tiny"[..]] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "same.bin", body).unwrap();
        }
        let dir3 = tempfile::tempdir().unwrap();
        let root: OwnedFd = std::fs::File::open(dir3.path()).unwrap().into();
        let hashed = extract_hashing_large_files(root, &b.into_inner().unwrap()[..], 256 * 1024).unwrap();
        let meta = std::fs::metadata(dir3.path().join("same.bin")).unwrap();
        assert_eq!(meta.len(), 4);
        assert!(hashed.get(&(meta.dev(), meta.ino())).is_none_or(|f| f.size != meta.len()), "{hashed:?}");

        // A truncated stream is an error, not a short file.
        let dir2 = tempfile::tempdir().unwrap();
        let root: OwnedFd = std::fs::File::open(dir2.path()).unwrap().into();
        let cut = &tar[..tar.len() - 1024 - 100_000];
        assert!(extract_hashing_large_files(root, cut, 256 * 1024).is_err());
    }
}
