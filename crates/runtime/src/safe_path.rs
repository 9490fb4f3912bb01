//! Path resolution confined to a root directory. Every mount target, device node and
//! symlink the runtime makes inside a rootfs goes through here, so a symlink planted in
//! an image (CVE-2021-30465 and its kin) can never steer a write or a mount outside it:
//! the kernel resolves each path with openat2(RESOLVE_IN_ROOT), treating symlinks as if
//! the rootfs were `/`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

use crate::sys;

const IN_ROOT: u64 = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS;

/// Cleans `path` into a list of normal components; `..` is handled by the kernel's
/// in-root resolution, but we drop it lexically at the root too, as runc does.
fn components(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(PathBuf::from(n)),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Opens `path` inside `root` with O_PATH (or `flags`), symlinks resolved in the root.
pub fn open_in_root(root: RawFd, path: &Path, flags: i32) -> io::Result<OwnedFd> {
    let rel: PathBuf = components(path).iter().collect();
    let rel = if rel.as_os_str().is_empty() { PathBuf::from(".") } else { rel };
    sys::openat2(root, &rel, flags, 0, IN_ROOT)
}

/// What [`remove_beneath`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removed {
    Yes,
    /// Absent, reached only through a symlink, not empty, or not what `keep` allowed.
    No,
}

/// Removes `path` (an empty directory, or a file `keep_file` refuses to keep) beneath
/// `root`, never through a symlink: every component is resolved with
/// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, so a process that swapped a parent directory
/// for a symlink (BuildKit CVE-2024-23652) cannot make this remove a host file.
pub fn remove_beneath(root: RawFd, path: &Path, keep_file: impl Fn(&libc::stat) -> bool) -> io::Result<Removed> {
    let comps = components(path);
    let Some((name, parents)) = comps.split_last() else { return Ok(Removed::No) };
    let parent: PathBuf = parents.iter().collect();
    let parent = if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent };
    let dir = match sys::openat2(root, &parent, libc::O_PATH | libc::O_DIRECTORY, 0, sys::RESOLVE_BENEATH | sys::RESOLVE_NO_SYMLINKS) {
        Ok(d) => d,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ELOOP | libc::ENOTDIR | libc::EXDEV)) => return Ok(Removed::No),
        Err(e) => return Err(e),
    };
    let cname = std::ffi::CString::new(name.as_os_str().as_encoded_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: dir is a valid descriptor, cname NUL-terminated, st a valid out pointer.
    if unsafe { libc::fstatat(dir.as_raw_fd(), cname.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) } != 0 {
        return Ok(Removed::No);
    }
    let flags = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => libc::AT_REMOVEDIR,
        libc::S_IFREG if !keep_file(&st) => 0,
        _ => return Ok(Removed::No),
    };
    // SAFETY: as above; unlinkat acts on the name inside the resolved directory only.
    if unsafe { libc::unlinkat(dir.as_raw_fd(), cname.as_ptr(), flags) } != 0 {
        return Ok(Removed::No);
    }
    Ok(Removed::Yes)
}

/// What to create at the end of a path when it is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Returns an O_PATH descriptor for `path` inside `root`, creating missing directories
/// (mode 0755) and, for `Kind::File`, an empty final file. Each step is created relative
/// to the descriptor of its already-resolved parent, so no lookup ever leaves the root.
pub fn mkdir_all_in_root(root: RawFd, path: &Path, last: Kind) -> io::Result<OwnedFd> {
    let comps = components(path);
    let mut cur: OwnedFd = sys::openat2(root, Path::new("."), libc::O_PATH | libc::O_DIRECTORY, 0, IN_ROOT)?;
    for (i, name) in comps.iter().enumerate() {
        let is_last = i + 1 == comps.len();
        let want_dir = !is_last || last == Kind::Dir;
        let flags = libc::O_PATH | if want_dir { libc::O_DIRECTORY } else { 0 };
        // Resolve from the root each time, so symlinks in earlier components are
        // followed as the container would see them.
        let prefix: PathBuf = comps[..=i].iter().collect();
        match sys::openat2(root, &prefix, flags, 0, IN_ROOT) {
            Ok(fd) => cur = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                // The name may be a dangling symlink: create what it points to, in-root.
                if let Some(target) = dangling_symlink_target(cur.as_raw_fd(), name) {
                    let parent: PathBuf = comps[..i].iter().collect();
                    let resolved = if target.is_absolute() { target } else { parent.join(target) };
                    let mut rest: PathBuf = resolved;
                    for c in &comps[i + 1..] {
                        rest.push(c);
                    }
                    return mkdir_all_in_root(root, &rest, last);
                }
                if want_dir {
                    match sys::mkdirat(cur.as_raw_fd(), name, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                } else {
                    let f = sys::openat(cur.as_raw_fd(), name, libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW, 0o644);
                    match f {
                        Ok(_) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                }
                cur = sys::openat2(root, &prefix, flags, 0, IN_ROOT)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

fn dangling_symlink_target(dir: RawFd, name: &Path) -> Option<PathBuf> {
    let c = sys::cstr(name).ok()?;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is valid for its length; c is a valid C string.
    let n = unsafe { libc::readlinkat(dir, c.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize);
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(buf)))
}

/// Walks `path` inside the host directory `root` the way the host would, and reports a
/// relative symlink that climbs above `root` (e.g. `escape -> ../../../tmp`). Such a
/// link has no in-container meaning, so a bundle mounting through it is refused rather
/// than silently confined. Absolute links are fine: they are read as in-root.
pub fn relative_link_escape(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut stack: Vec<PathBuf> = Vec::new();
    let mut todo: Vec<PathBuf> = components(path).into_iter().rev().collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == Path::new("..") {
            if stack.pop().is_none() {
                return Some(path.to_path_buf());
            }
            continue;
        }
        let mut cur = root.to_path_buf();
        cur.extend(stack.iter());
        cur.push(&c);
        match std::fs::read_link(&cur) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return None; // a loop: the kernel reports it later as ELOOP
                }
                if target.is_absolute() {
                    stack.clear();
                }
                for t in target.components().rev() {
                    match t {
                        Component::Normal(n) => todo.push(PathBuf::from(n)),
                        Component::ParentDir => todo.push(PathBuf::from("..")),
                        _ => {}
                    }
                }
            }
            Err(_) => stack.push(c),
        }
    }
    None
}

/// True when the descriptor is on procfs: used to refuse /proc targets redirected
/// elsewhere (CVE-2025-31133/52565/52881 class).
pub fn is_procfs(fd: RawFd) -> io::Result<bool> {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    Ok(sys::fstatfs(fd)?.f_type as i64 == PROC_SUPER_MAGIC)
}

/// True when the descriptor is the real /dev/null character device (1:3).
pub fn is_dev_null(fd: RawFd) -> io::Result<bool> {
    let st = sys::fstat(fd)?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlink_escape_is_confined_to_root() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        // A symlink in the "image" pointing at the host directory.
        symlink(outside.path(), root.path().join("evil")).unwrap();
        let rootfd = sys::open(root.path(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        let fd = mkdir_all_in_root(rootfd.as_raw_fd(), Path::new("/evil/sub"), Kind::Dir).unwrap();
        // The directory landed under root, at the symlink's target read as in-root.
        let real = std::fs::read_link(sys::fd_path(fd.as_raw_fd())).unwrap();
        assert!(real.starts_with(root.path()), "{real:?} escaped {:?}", root.path());
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none(), "host dir was written");
    }

    #[test]
    fn relative_links_climbing_out_are_reported() {
        let root = tempfile::tempdir().unwrap();
        symlink("../../../../tmp", root.path().join("up")).unwrap();
        symlink("/etc", root.path().join("abs")).unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        symlink("../d", root.path().join("d/self")).unwrap();
        assert!(relative_link_escape(root.path(), Path::new("/up/x")).is_some());
        assert!(relative_link_escape(root.path(), Path::new("/abs/x")).is_none());
        assert!(relative_link_escape(root.path(), Path::new("/d/self/self/x")).is_none());
    }

    #[test]
    fn dotdot_stays_in_root() {
        let root = tempfile::tempdir().unwrap();
        let rootfd = sys::open(root.path(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        let fd = mkdir_all_in_root(rootfd.as_raw_fd(), Path::new("../../../etc-x/file"), Kind::File).unwrap();
        let real = std::fs::read_link(sys::fd_path(fd.as_raw_fd())).unwrap();
        assert_eq!(real, root.path().join("etc-x/file"));
    }

    #[test]
    fn absolute_symlink_resolves_inside_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("data")).unwrap();
        symlink("/data", root.path().join("link")).unwrap();
        let rootfd = sys::open(root.path(), libc::O_PATH | libc::O_DIRECTORY, 0).unwrap();
        let fd = open_in_root(rootfd.as_raw_fd(), Path::new("/link"), libc::O_PATH).unwrap();
        let real = std::fs::read_link(sys::fd_path(fd.as_raw_fd())).unwrap();
        assert_eq!(real, root.path().join("data"));
    }
}
