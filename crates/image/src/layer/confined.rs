//! A directory that every path is resolved inside of, with fd-relative syscalls.
//!
//! Paths come from untrusted archives. Every lookup goes through `openat2` with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` from the root's fd, so a symlink planted by
//! an earlier entry (`evil -> /etc`, `up -> ../../..`) resolves as if the root were `/`
//! and can never lead outside. The final component is then operated on relative to its
//! parent's fd with no-follow semantics.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

/// An open directory that paths are confined to.
pub(crate) struct Root {
    fd: OwnedFd,
}

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

impl Root {
    /// Opens `path` (which must be a directory) as a root.
    pub(crate) fn open(path: &Path) -> nix::Result<Root> {
        let fd = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    /// A root from an already open directory fd (e.g. a container's root, opened by the
    /// caller through /proc/<pid>/root).
    pub(crate) fn from_fd(fd: OwnedFd) -> Root {
        Root { fd }
    }

    /// Opens `rel` (a cleaned relative path, possibly empty for the root itself) inside the
    /// root with `flags`.
    pub(crate) fn open_in(&self, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let rel: &Path = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        openat2(self.fd.as_fd(), rel, how(flags))
    }

    /// Opens the directory `rel` as an `O_PATH` fd, creating missing directories (mode
    /// 0755, owned by us) on the way, as tar extractors do for archives without directory
    /// entries.
    pub(crate) fn dir_creating(&self, rel: &Path) -> nix::Result<OwnedFd> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        match self.open_in(rel, flags) {
            Err(Errno::ENOENT) => {}
            other => return other,
        }
        let mut cur = PathBuf::new();
        let mut fd = self.open_in(&cur, flags)?;
        for comp in rel.components() {
            cur.push(comp);
            fd = match self.open_in(&cur, flags) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => {
                    // Made relative to the already-confined parent, and mkdirat never
                    // follows a final symlink, so a dangling link cannot redirect it.
                    match mkdirat(fd.as_fd(), comp.as_os_str(), Mode::from_bits_truncate(0o755)) {
                        // A symlink whose target is missing inside the root: refuse
                        // rather than guess where it should point.
                        Err(Errno::EEXIST) => return Err(Errno::ENOENT),
                        r => r?,
                    }
                    self.open_in(&cur, flags)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(fd)
    }

    /// Removes `name` in `dir` (recursively if it is a directory), never following links.
    pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<()> {
        let st = match fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        };
        if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) != SFlag::S_IFDIR {
            return unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
        }
        let sub = nix::fcntl::openat(
            dir,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let names: Vec<OsString> = {
            let mut d = nix::dir::Dir::from_fd(sub.try_clone().map_err(|_| Errno::EBADF)?)?;
            d.iter()
                .filter_map(|e| e.ok())
                .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_owned())
                .filter(|n| n != "." && n != "..")
                .collect()
        };
        for n in names {
            Root::remove_all_at(sub.as_fd(), &n)?;
        }
        unlinkat(dir, name, UnlinkatFlags::RemoveDir)
    }
}

/// Sets an extended attribute on an open fd (regular files and directories).
pub(crate) fn fsetxattr(fd: BorrowedFd<'_>, name: &[u8], value: &[u8]) -> std::io::Result<()> {
    let name = CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: fd is open for the call's duration; name is NUL-terminated; value pointer
    // and length describe a live slice.
    let r = unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets an extended attribute on the inode an `O_PATH` fd refers to (symlinks, device
/// nodes, fifos, which cannot be opened for I/O safely). `/proc/self/fd/N` names exactly
/// that inode; it is our own fd, not a path from the archive.
pub(crate) fn setxattr_on_path_fd(fd: BorrowedFd<'_>, name: &[u8], value: &[u8]) -> std::io::Result<()> {
    let path = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL");
    let name = CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: both strings are NUL-terminated and live; value pointer/length describe a
    // live slice.
    let r = unsafe { libc::setxattr(path.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reads an extended attribute of `path` without following a final symlink; `None` if
/// it is not set.
pub(crate) fn lgetxattr(path: &Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let p = CString::new(path.as_os_str().as_bytes()).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let n = CString::new(name).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: strings are NUL-terminated; buf is live and its length is passed.
        let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            buf.truncate(r as usize);
            return Ok(Some(buf));
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENODATA) => return Ok(None),
            Some(libc::ERANGE) if buf.len() < 1 << 16 => buf.resize(buf.len() * 4, 0),
            _ => return Err(e),
        }
    }
}

/// Lists the extended attribute names of `path` (not following a final symlink).
pub(crate) fn llistxattr(path: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let p = CString::new(path.as_os_str().as_bytes()).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a NULL buffer with size 0 asks only for the needed size.
    let size = unsafe { libc::llistxattr(p.as_ptr(), std::ptr::null_mut(), 0) };
    if size < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut buf = vec![0u8; size as usize];
    // SAFETY: buf is live and its length is passed.
    let r = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(r as usize);
    Ok(buf.split(|b| *b == 0).filter(|n| !n.is_empty()).map(<[u8]>::to_vec).collect())
}
