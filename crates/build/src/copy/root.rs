//! Writes confined to a directory tree (an image's upper dir). Every path is
//! resolved with `openat2(RESOLVE_IN_ROOT)`, so `..` and symlinks in the
//! image (absolute or relative) stay inside the root; the last component is
//! then acted on by name relative to its parent's fd, never followed.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A directory that all operations are confined to.
#[derive(Debug)]
pub struct ConfinedRoot {
    fd: OwnedFd,
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Splits a root-relative path into components, dropping `.` and empties.
/// `..` is kept: the kernel clamps it at the root.
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

/// What is at a path inside the root (not following a final symlink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Missing,
    Dir,
    Other,
}

impl ConfinedRoot {
    /// Opens `dir` as the root.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let c = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
        // SAFETY: `c` is a valid NUL-terminated string; the returned fd is checked.
        let fd = check(unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by open and is owned by nobody else.
        Ok(ConfinedRoot {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// `openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
    fn open_in_root(&self, path: &str, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
        let p = if path.is_empty() { ".".to_string() } else { path.to_string() };
        let c = cstr(&p)?;
        // SAFETY: open_how is plain integers; all-zero is its documented default.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (flags | libc::O_CLOEXEC) as u64;
        how.mode = if flags & libc::O_CREAT != 0 { mode as u64 } else { 0 };
        how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: the root fd is valid for `self`'s lifetime, `c` is NUL-terminated and
        // `how` is a properly sized open_how passed with its size.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.fd.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a non-negative return of openat2 is a new fd we now own.
        Ok(unsafe { OwnedFd::from_raw_fd(ret as libc::c_int) })
    }

    /// The parent directory of `path` (resolved in the root) and the final name.
    fn parent_of<'p>(&self, path: &'p str) -> io::Result<(OwnedFd, &'p str)> {
        let comps = components(path);
        let Some((name, parents)) = comps.split_last() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot operate on the root itself"));
        };
        if *name == ".." {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "path ends in .."));
        }
        let dir = self.open_in_root(&parents.join("/"), libc::O_PATH | libc::O_DIRECTORY, 0)?;
        Ok((dir, name))
    }

    /// What `path` is, without following a final symlink.
    pub fn existing(&self, path: &str) -> io::Result<Existing> {
        if components(path).is_empty() {
            return Ok(Existing::Dir);
        }
        let (dir, name) = match self.parent_of(path) {
            Ok(x) => x,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) || e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Ok(Existing::Missing)
            }
            Err(e) => return Err(e),
        };
        let c = cstr(name)?;
        // SAFETY: zeroed stat is a valid out-buffer for fstatat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: dir fd is open, `c` NUL-terminated, `st` a valid out-pointer.
        let ret = unsafe { libc::fstatat(dir.as_raw_fd(), c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        if ret < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOENT) {
                return Ok(Existing::Missing);
            }
            return Err(e);
        }
        Ok(if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            Existing::Dir
        } else {
            // A symlink to a directory counts as a directory, as for `cp`.
            match self.open_in_root(path, libc::O_PATH | libc::O_DIRECTORY, 0) {
                Ok(_) => Existing::Dir,
                Err(_) => Existing::Other,
            }
        })
    }

    /// Creates `path` and missing parents as directories; newly created ones
    /// get `mode` and, when given, `owner`. Existing symlinks to directories
    /// are traversed (inside the root).
    pub fn mkdir_all(&self, path: &str, mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
        self.mkdir_all_depth(path, mode, owner, 0)
    }

    fn mkdir_all_depth(&self, path: &str, mode: u32, owner: Option<(u32, u32)>, depth: usize) -> io::Result<()> {
        if depth > 40 {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let comps = components(path);
        for i in 0..comps.len() {
            let prefix = comps[..=i].join("/");
            match self.open_in_root(&prefix, libc::O_PATH | libc::O_DIRECTORY, 0) {
                Ok(_) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(io::Error::other(
                        format!("cannot create directory /{prefix}: a non-directory is in the way"),
                    ))
                }
                Err(e) => return Err(e),
            }
            let (dir, name) = self.parent_of(&prefix)?;
            let c = cstr(name)?;
            // SAFETY: dir fd is open and `c` is NUL-terminated.
            let ret = unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) };
            if ret < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(e);
                }
                // A dangling symlink: create its target (inside the root), as
                // resolving the path in the root and then creating it would.
                let Some(target) = self.read_link_at(&dir, name)? else {
                    return Err(e);
                };
                let rest = comps[i + 1..].join("/");
                let base = if target.starts_with('/') {
                    target
                } else {
                    format!("{}/{}", comps[..i].join("/"), target)
                };
                return self.mkdir_all_depth(&format!("{base}/{rest}"), mode, owner, depth + 1);
            }
            self.fchmodat(&dir, name, mode)?;
            if let Some((uid, gid)) = owner {
                self.lchown_at(&dir, name, uid, gid)?;
            }
        }
        Ok(())
    }

    /// The target of the symlink `name` in `dir`, `None` when it is not a symlink.
    fn read_link_at(&self, dir: &OwnedFd, name: &str) -> io::Result<Option<String>> {
        let c = cstr(name)?;
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        // SAFETY: dir fd open, `c` NUL-terminated, buf has the length passed.
        let n = unsafe { libc::readlinkat(dir.as_raw_fd(), c.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                return Ok(None);
            }
            return Err(e);
        }
        buf.truncate(n as usize);
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }

    /// Removes whatever non-directory is at `path` (used before replacing it).
    fn unlink_non_dir(&self, dir: &OwnedFd, name: &str) -> io::Result<()> {
        let c = cstr(name)?;
        // SAFETY: dir fd is open and `c` is NUL-terminated.
        let ret = unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
        if ret < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ENOENT) {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Creates (replacing a file or symlink there) a regular file for writing.
    pub fn create_file(&self, path: &str, mode: u32) -> io::Result<File> {
        let (dir, name) = self.parent_of(path)?;
        self.unlink_non_dir(&dir, name)?;
        let c = cstr(name)?;
        // SAFETY: dir fd is open, `c` NUL-terminated; O_EXCL|O_NOFOLLOW make the
        // call create a fresh file in that directory and never follow a link.
        let fd = check(unsafe {
            libc::openat(
                dir.as_raw_fd(),
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        })?;
        // SAFETY: fd was just returned by openat and is ours.
        let file = unsafe { File::from_raw_fd(fd) };
        // The umask may have masked bits off; set the exact mode.
        // SAFETY: fd is open.
        check(unsafe { libc::fchmod(file.as_raw_fd(), mode) })?;
        Ok(file)
    }

    /// Creates a symlink at `path` pointing at `target` (replacing a non-dir).
    pub fn symlink(&self, target: &str, path: &str) -> io::Result<()> {
        let (dir, name) = self.parent_of(path)?;
        self.unlink_non_dir(&dir, name)?;
        let t = cstr(target)?;
        let c = cstr(name)?;
        // SAFETY: both strings are NUL-terminated, dir fd is open.
        check(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), c.as_ptr()) })?;
        Ok(())
    }

    /// Hard-links `existing` to `path`, both inside the root.
    pub fn hard_link(&self, existing: &str, path: &str) -> io::Result<()> {
        let (src_dir, src_name) = self.parent_of(existing)?;
        let (dir, name) = self.parent_of(path)?;
        self.unlink_non_dir(&dir, name)?;
        let s = cstr(src_name)?;
        let c = cstr(name)?;
        // SAFETY: all fds open, strings NUL-terminated; flags 0 never follows links.
        check(unsafe { libc::linkat(src_dir.as_raw_fd(), s.as_ptr(), dir.as_raw_fd(), c.as_ptr(), 0) })?;
        Ok(())
    }

    fn lchown_at(&self, dir: &OwnedFd, name: &str, uid: u32, gid: u32) -> io::Result<()> {
        let c = cstr(name)?;
        // SAFETY: dir fd open, `c` NUL-terminated, AT_SYMLINK_NOFOLLOW acts on the link itself.
        check(unsafe { libc::fchownat(dir.as_raw_fd(), c.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })?;
        Ok(())
    }

    fn fchmodat(&self, dir: &OwnedFd, name: &str, mode: u32) -> io::Result<()> {
        let c = cstr(name)?;
        // SAFETY: dir fd open, `c` NUL-terminated; callers only use this on non-symlinks.
        check(unsafe { libc::fchmodat(dir.as_raw_fd(), c.as_ptr(), mode, 0) })?;
        Ok(())
    }

    /// Sets owner of `path` itself (a symlink is not followed).
    pub fn lchown(&self, path: &str, uid: u32, gid: u32) -> io::Result<()> {
        if components(path).is_empty() {
            // SAFETY: the root fd is open; an O_PATH fd is accepted with AT_EMPTY_PATH.
            check(unsafe {
                libc::fchownat(self.fd.as_raw_fd(), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH)
            })?;
            return Ok(());
        }
        let (dir, name) = self.parent_of(path)?;
        self.lchown_at(&dir, name, uid, gid)
    }

    /// Sets the mode of a directory or file at `path` (not a symlink).
    pub fn chmod(&self, path: &str, mode: u32) -> io::Result<()> {
        let (dir, name) = self.parent_of(path)?;
        self.fchmodat(&dir, name, mode)
    }

    /// Sets access and modification time of `path` (not following a symlink).
    pub fn set_mtime(&self, path: &str, secs: i64, nsecs: i64) -> io::Result<()> {
        let (dir, name) = self.parent_of(path)?;
        let c = cstr(name)?;
        let ts = libc::timespec {
            tv_sec: secs as libc::time_t,
            tv_nsec: nsecs as _,
        };
        let times = [ts, ts];
        // SAFETY: dir fd open, `c` NUL-terminated, `times` has two timespecs.
        check(unsafe { libc::utimensat(dir.as_raw_fd(), c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })?;
        Ok(())
    }

    /// Reads a file inside the root (for /etc/passwd and /etc/group).
    pub fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let fd = self.open_in_root(path, libc::O_RDONLY, 0)?;
        let mut f = File::from(fd);
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn writes_stay_inside_through_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::os::unix::fs::symlink("../../..", root.path().join("up")).unwrap();
        let r = ConfinedRoot::open(root.path()).unwrap();
        r.mkdir_all("escape/sub", 0o755, None).unwrap();
        r.create_file("up/x", 0o644).unwrap();
        // The absolute link target is taken as inside the root.
        let inner = root.path().join(outside.path().strip_prefix("/").unwrap()).join("sub");
        assert!(inner.is_dir(), "{inner:?}");
        assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
        assert!(root.path().join("x").is_file());
    }

    #[test]
    fn replaces_a_symlink_instead_of_writing_through_it() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&victim, root.path().join("f")).unwrap();
        let r = ConfinedRoot::open(root.path()).unwrap();
        use std::io::Write;
        r.create_file("f", 0o600).unwrap().write_all(b"new").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(fs::read_to_string(root.path().join("f")).unwrap(), "new");
    }

    #[test]
    fn existing_kinds() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("d")).unwrap();
        fs::write(root.path().join("f"), "").unwrap();
        let r = ConfinedRoot::open(root.path()).unwrap();
        assert_eq!(r.existing("d").unwrap(), Existing::Dir);
        assert_eq!(r.existing("f").unwrap(), Existing::Other);
        assert_eq!(r.existing("nope/x").unwrap(), Existing::Missing);
        assert_eq!(r.existing("/").unwrap(), Existing::Dir);
    }
}
