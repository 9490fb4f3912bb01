//! Reading a path inside a container's root as `docker cp` and `docker export` do:
//! its stat (the `X-Docker-Container-Path-Stat` header) and a tar of it.
//!
//! The root is an open directory fd (a container's `/proc/<pid>/root` or its mounted
//! rootfs). The path is resolved with openat2(RESOLVE_IN_ROOT), and the walk below it
//! opens every entry relative to its parent's fd with O_NOFOLLOW, so a symlink in the
//! container (`/x -> /etc`) is archived as a symlink and never makes us read the host's
//! files.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, FileStat, Mode};

/// What Docker's path stat header carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's os.FileMode bits (type bits high, permission bits low).
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    pub link_target: String,
}

/// A path located inside a root: its parent directory and name, or (for the root
/// itself and for paths that end in `/`) the directory itself.
pub struct Located {
    dir: OwnedFd,
    name: Option<OsString>,
    /// The first path component of the tar entries (Docker's rebase name).
    rebase: PathBuf,
    display_name: String,
}

fn how(flags: OFlag) -> OpenHow {
    OpenHow::new().flags(flags | OFlag::O_CLOEXEC).resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Lexically cleaned components; `..` above the root stays at the root, as in a chroot.
fn clean(path: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Finds `path` (absolute inside the container) under `root`. A path ending in `/` or
/// `/.` follows its last symlink and must be a directory (`/.` archives the directory's
/// contents rather than the directory); otherwise the last component is taken as is.
pub fn locate(root: &OwnedFd, path: &str) -> io::Result<Located> {
    let rel = clean(path);
    let dot = path.ends_with("/.") || path == ".";
    let follow = path.ends_with('/') || dot;
    let Some(base) = rel.file_name().map(|b| b.to_owned()) else {
        let dir = openat2(root.as_fd(), ".", how(OFlag::O_PATH | OFlag::O_DIRECTORY)).map_err(errno)?;
        return Ok(Located { dir, name: None, rebase: PathBuf::from("."), display_name: "/".into() });
    };
    let display_name = base.to_string_lossy().into_owned();
    if follow {
        let dir = openat2(root.as_fd(), &rel, how(OFlag::O_PATH | OFlag::O_DIRECTORY)).map_err(errno)?;
        let rebase = if dot { PathBuf::from(".") } else { PathBuf::from(&base) };
        return Ok(Located { dir, name: None, rebase, display_name });
    }
    let parent = rel.parent().unwrap_or(Path::new(""));
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let dir = openat2(root.as_fd(), parent, how(OFlag::O_PATH | OFlag::O_DIRECTORY)).map_err(errno)?;
    // The entry must exist (lstat): a missing path is the caller's 404.
    fstatat(dir.as_fd(), base.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(errno)?;
    Ok(Located { dir, name: Some(base.clone()), rebase: PathBuf::from(&base), display_name })
}

fn stat_at(dir: BorrowedFd<'_>, name: Option<&OsStr>) -> io::Result<FileStat> {
    match name {
        Some(n) => fstatat(dir, n, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(errno),
        None => nix::sys::stat::fstat(dir).map_err(errno),
    }
}

/// Whether the directory is on procfs or sysfs.
fn is_kernel_fs(fd: BorrowedFd<'_>) -> bool {
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs fills the buffer on success; fd is open for the call.
    let r = unsafe { libc::fstatfs(std::os::fd::AsRawFd::as_raw_fd(&fd), st.as_mut_ptr()) };
    if r != 0 {
        return false;
    }
    // SAFETY: fstatfs returned 0, so the struct is initialised.
    let t = unsafe { st.assume_init() }.f_type as i64;
    t == PROC_SUPER_MAGIC || t == SYSFS_MAGIC
}

/// Go's os.FileMode for a stat mode.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    match st_mode & libc::S_IFMT {
        libc::S_IFDIR => m |= 1 << 31,
        libc::S_IFLNK => m |= 1 << 27,
        libc::S_IFIFO => m |= 1 << 25,
        libc::S_IFSOCK => m |= 1 << 24,
        libc::S_IFBLK => m |= 1 << 26,
        libc::S_IFCHR => m |= (1 << 26) | (1 << 21),
        _ => {}
    }
    if st_mode & libc::S_ISUID != 0 {
        m |= 1 << 23;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= 1 << 22;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= 1 << 20;
    }
    m
}

impl Located {
    pub fn stat(&self) -> io::Result<PathStat> {
        let st = stat_at(self.dir.as_fd(), self.name.as_deref())?;
        let link_target = match (&self.name, st.st_mode & libc::S_IFMT) {
            (Some(n), libc::S_IFLNK) => readlinkat(self.dir.as_fd(), n.as_os_str()).map_err(errno)?.to_string_lossy().into_owned(),
            _ => String::new(),
        };
        let mtime = chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        Ok(PathStat { name: self.display_name.clone(), size: st.st_size, mode: go_mode(st.st_mode), mtime, link_target })
    }

    /// Whether the located path is a directory (symlinks not followed).
    pub fn is_dir(&self) -> io::Result<bool> {
        Ok(stat_at(self.dir.as_fd(), self.name.as_deref())?.st_mode & libc::S_IFMT == libc::S_IFDIR)
    }

    /// Writes a tar of the located path; entry names start with its base name.
    pub fn write_tar(&self, out: impl Write) -> io::Result<()> {
        self.write_tar_mapped(out, None)
    }

    /// As [`write_tar`](Self::write_tar), with owners shown as ids inside a user
    /// namespace (a userns-remapped container's files, as its processes see them).
    pub fn write_tar_mapped(&self, out: impl Write, ids: Option<&crate::changes::IdMapping>) -> io::Result<()> {
        let mut w = Walker { tar: tar::Builder::new(out), links: HashMap::new(), ids };
        w.append(self.dir.as_fd(), self.name.as_deref(), &self.rebase)?;
        w.tar.into_inner()?.flush()
    }
}

struct Walker<'a, W: Write> {
    tar: tar::Builder<W>,
    /// Host ids shown as the ids inside this mapping.
    ids: Option<&'a crate::changes::IdMapping>,
    /// First archived name of each multiply-linked inode (later ones become hard links).
    links: HashMap<(u64, u64), PathBuf>,
}

/// A reader that yields exactly `size` bytes: the file's, then zeros if it shrank while
/// being read (a tar entry must match its header).
fn exact(f: std::fs::File, size: u64) -> impl Read {
    f.take(size).chain(io::repeat(0)).take(size)
}

impl<W: Write> Walker<'_, W> {
    fn header(&self, st: &FileStat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        let (uid, gid) = match self.ids {
            Some(m) => (m.uid_inside(st.st_uid), m.gid_inside(st.st_gid)),
            None => (st.st_uid, st.st_gid),
        };
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    fn append(&mut self, dir: BorrowedFd<'_>, name: Option<&OsStr>, tar_name: &Path) -> io::Result<()> {
        let st = stat_at(dir, name)?;
        let fmt = st.st_mode & libc::S_IFMT;
        let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match fmt {
            libc::S_IFDIR => {
                // `.` (a whole root, or `dir/.`): the contents alone, with bare names, as
                // docker export and `cp dir/.` produce.
                let contents_only = tar_name == Path::new(".");
                if !contents_only {
                    let mut h = self.header(&st, tar::EntryType::Directory);
                    self.tar.append_data(&mut h, tar_name, io::empty())?;
                }
                let base = if contents_only { PathBuf::new() } else { tar_name.to_owned() };
                let fd = openat(dir, name.unwrap_or(OsStr::new(".")), OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow, Mode::empty()).map_err(errno)?;
                // A live container's /proc and /sys are kernel views, not its files (and
                // /proc/kcore claims terabytes): kept as empty directories, as Docker's
                // archives of a rootfs show them.
                if name.is_some() && is_kernel_fs(fd.as_fd()) {
                    return Ok(());
                }
                let mut names: Vec<OsString> = {
                    let d = nix::dir::Dir::from_fd(fd.try_clone()?).map_err(errno)?;
                    let mut d = d;
                    d.iter().filter_map(|e| e.ok()).map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_owned()).filter(|n| n != "." && n != "..").collect()
                };
                names.sort();
                for n in names {
                    match self.append(fd.as_fd(), Some(&n), &base.join(&n)) {
                        // Gone since the listing (a live container): skip it.
                        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                        r => r?,
                    }
                }
            }
            libc::S_IFLNK => {
                let n = name.ok_or_else(|| io::Error::other("symlink without a name"))?;
                let target = readlinkat(dir, n).map_err(errno)?;
                let mut h = self.header(&st, tar::EntryType::Symlink);
                self.tar.append_link(&mut h, tar_name, Path::new(&target))?;
            }
            libc::S_IFREG => {
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)) {
                        let mut h = self.header(&st, tar::EntryType::Link);
                        let first = first.clone();
                        return self.tar.append_link(&mut h, tar_name, &first);
                    }
                    self.links.insert((st.st_dev, st.st_ino), tar_name.to_owned());
                }
                let n = name.ok_or_else(|| io::Error::other("file without a name"))?;
                let fd = openat(dir, n, OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | nofollow, Mode::empty()).map_err(errno)?;
                let f = std::fs::File::from(fd);
                let size = f.metadata()?.len();
                let mut h = self.header(&st, tar::EntryType::Regular);
                h.set_size(size);
                self.tar.append_data(&mut h, tar_name, exact(f, size))?;
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                let kind = match fmt {
                    libc::S_IFCHR => tar::EntryType::Char,
                    libc::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = self.header(&st, kind);
                if fmt != libc::S_IFIFO {
                    h.set_device_major(libc::major(st.st_rdev))?;
                    h.set_device_minor(libc::minor(st.st_rdev))?;
                }
                self.tar.append_data(&mut h, tar_name, io::empty())?;
            }
            // Sockets are not archived (as in Docker).
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<(String, Option<String>)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().display().to_string(), e.link_name().unwrap().map(|l| l.display().to_string()))
            })
            .collect()
    }

    #[test]
    fn stays_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("data/sub")).unwrap();
        std::fs::write(root.join("data/sub/f"), "hello").unwrap();
        std::fs::hard_link(root.join("data/sub/f"), root.join("data/g")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("evil")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", root.join("data/up")).unwrap();
        let fd: OwnedFd = std::fs::File::open(&root).unwrap().into();

        let l = locate(&fd, "/data").unwrap();
        let st = l.stat().unwrap();
        assert_eq!(st.name, "data");
        assert_ne!(st.mode & (1 << 31), 0);
        let mut out = Vec::new();
        l.write_tar(&mut out).unwrap();
        let n = names(&out);
        assert_eq!(n[0].0, "data");
        assert!(n.contains(&("data/up".into(), Some("../../../../etc/passwd".into()))), "{n:?}");
        assert!(n.iter().any(|(p, l)| p == "data/sub/f" && l.as_deref() == Some("data/g")) || n.iter().any(|(p, l)| p == "data/g" && l.is_none()), "{n:?}");

        // The symlink itself, not the host's /etc.
        let l = locate(&fd, "/evil").unwrap();
        let st = l.stat().unwrap();
        assert_ne!(st.mode & (1 << 27), 0);
        assert_eq!(st.link_target, "/etc");
        // Following it stays in the root: there is no /etc in this root.
        assert_eq!(locate(&fd, "/evil/").err().unwrap().raw_os_error(), Some(libc::ENOENT));
        assert_eq!(locate(&fd, "/evil/passwd").err().unwrap().raw_os_error(), Some(libc::ENOENT));
        assert_eq!(locate(&fd, "/data/up/x").err().unwrap().raw_os_error(), Some(libc::ENOENT));
        assert!(locate(&fd, "/../../etc/passwd").is_err());
        let mut out = Vec::new();
        locate(&fd, "/data/.").unwrap().write_tar(&mut out).unwrap();
        assert_eq!(names(&out).iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), vec!["g", "sub", "sub/f", "up"]);
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(go_mode(libc::S_IFREG | 0o4755), (1 << 23) | 0o755);
    }
}
