//! The container's filesystem, built inside its new mount namespace: the spec's mounts
//! in order, /dev and its devices, pivot_root into the rootfs, then sysctls, read-only
//! and masked paths and the read-only root. Every target is resolved inside the rootfs
//! (see [`crate::safe_path`]) and mounted through its descriptor.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};

use crate::error::{Error, Result};
use crate::safe_path::{self, Kind};
use crate::sys;

/// Parsed mount options: flags for mount(2), propagation changes applied after it,
/// and the rest as filesystem data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOpts {
    pub flags: libc::c_ulong,
    pub clear: libc::c_ulong,
    pub propagation: Vec<libc::c_ulong>,
    pub data: Vec<String>,
    pub bind: bool,
}

pub fn parse_options(opts: &[String]) -> MountOpts {
    let mut m = MountOpts::default();
    for o in opts {
        let (set, clear): (libc::c_ulong, libc::c_ulong) = match o.as_str() {
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "remount" => (libc::MS_REMOUNT, 0),
            "mand" => (libc::MS_MANDLOCK, 0),
            "nomand" => (0, libc::MS_MANDLOCK),
            "atime" => (0, libc::MS_NOATIME),
            "noatime" => (libc::MS_NOATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "lazytime" => (libc::MS_LAZYTIME, 0),
            "nolazytime" => (0, libc::MS_LAZYTIME),
            "silent" => (libc::MS_SILENT, 0),
            "loud" => (0, libc::MS_SILENT),
            "bind" => {
                m.bind = true;
                (libc::MS_BIND, 0)
            }
            "rbind" => {
                m.bind = true;
                (libc::MS_BIND | libc::MS_REC, 0)
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable" | "runbindable" => {
                m.propagation.extend(parse_propagation(o).ok());
                (0, 0)
            }
            // Recursive attributes, idmapped mounts and podman's tmpcopyup have no
            // mount(2) flag; they are accepted and left to the kernel defaults.
            "rro" | "rrw" | "rnosuid" | "rsuid" | "rnodev" | "rdev" | "rnoexec" | "rexec" | "tmpcopyup" | "idmap" | "ridmap" => (0, 0),
            _ => {
                m.data.push(o.clone());
                (0, 0)
            }
        };
        m.flags = (m.flags | set) & !clear;
        m.clear |= clear;
    }
    m
}

/// Flags of an existing mount that a bind remount must keep (the kernel refuses to
/// clear locked flags inside a user namespace).
fn locked_flags(fd: RawFd) -> libc::c_ulong {
    // SAFETY: zeroed statvfs is a valid out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid out-pointer.
    if unsafe { libc::fstatvfs(fd, &mut st) } != 0 {
        return 0;
    }
    let mut f = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
        (libc::ST_RDONLY, libc::MS_RDONLY),
    ] {
        if st.f_flag & st_flag != 0 {
            f |= ms_flag;
        }
    }
    f
}

pub struct RootfsPlan {
    pub rootfs: PathBuf,
    pub bundle: PathBuf,
    pub readonly: bool,
    pub propagation: Option<libc::c_ulong>,
    pub mounts: Vec<Mount>,
    pub devices: Vec<LinuxDevice>,
    pub masked: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub sysctl: HashMap<String, String>,
    pub userns: bool,
    pub cgroupns: bool,
    pub no_pivot: bool,
    /// The container's cgroup directories, for bind-mounting them when there is no
    /// cgroup namespace.
    pub cgroup: Option<crate::cgroups::Cgroup>,
}

pub fn parse_propagation(s: &str) -> Result<libc::c_ulong> {
    Ok(match s {
        "" => return Err(Error::other("empty rootfsPropagation")),
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        other => return Err(Error::other(format!("invalid rootfsPropagation {other:?}"))),
    })
}

fn mnt_err(what: &str, dest: &Path, e: std::io::Error) -> Error {
    Error::io(format!("{what} {}", dest.display()), e)
}

impl RootfsPlan {
    /// Everything before pivot_root: the rootfs becomes a mount point and gets the
    /// spec's mounts and /dev.
    pub fn prepare(&self) -> Result<()> {
        // Nothing we mount may propagate back to the host. The spec's propagation is set
        // on the new root after pivot_root; here "shared" becomes slave, and "unbindable"
        // private, since the rootfs could not be bind-mounted below an unbindable mount.
        let base = self
            .propagation
            .map(|p| {
                if p & libc::MS_SHARED != 0 {
                    libc::MS_SLAVE | libc::MS_REC
                } else if p & libc::MS_UNBINDABLE != 0 {
                    libc::MS_PRIVATE | libc::MS_REC
                } else {
                    p
                }
            })
            .unwrap_or(libc::MS_SLAVE | libc::MS_REC);
        sys::mount(None, "/", None, base | libc::MS_REC, None).map_err(|e| Error::io("making / a slave mount", e))?;
        let root_s = self.rootfs.to_string_lossy().into_owned();
        sys::mount(Some(&root_s), &root_s, None, libc::MS_BIND | libc::MS_REC, None)
            .map_err(|e| Error::io(format!("bind-mounting rootfs {root_s}"), e))?;
        let rootfd = sys::open(&self.rootfs, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::io(format!("opening rootfs {root_s}"), e))?;
        let mut dev_is_tmpfs = false;
        for m in &self.mounts {
            self.mount_one(rootfd.as_raw_fd(), m)?;
            if m.destination() == Path::new("/dev") && !parse_options(m.options().as_deref().unwrap_or(&[])).bind {
                dev_is_tmpfs = true;
            }
        }
        if dev_is_tmpfs {
            self.default_devices(rootfd.as_raw_fd())?;
        }
        for d in &self.devices {
            self.make_device(rootfd.as_raw_fd(), d)?;
        }
        Ok(())
    }

    fn mount_one(&self, rootfd: RawFd, m: &Mount) -> Result<()> {
        let dest = m.destination();
        if !dest.is_absolute() && !dest.as_os_str().is_empty() && dest.components().count() == 0 {
            return Err(Error::other(format!("mount destination {} is not absolute", dest.display())));
        }
        let typ = m.typ().clone().unwrap_or_else(|| "none".into());
        let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
        if opts.bind || typ == "bind" {
            return self.bind_mount(rootfd, m, &opts);
        }
        if typ == "cgroup" {
            return self.mount_cgroup(rootfd, dest, &opts);
        }
        let target = safe_path::mkdir_all_in_root(rootfd, dest, Kind::Dir).map_err(|e| mnt_err("creating mount point", dest, e))?;
        let source = m.source().as_ref().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| typ.clone());
        let data = opts.data.join(",");
        let tpath = sys::fd_path(target.as_raw_fd());
        let r = sys::mount(Some(&source), &tpath, Some(&typ), opts.flags & !libc::MS_REMOUNT, Some(&data));
        match r {
            Ok(()) => {}
            // sysfs cannot be mounted in a user namespace that does not own the network
            // namespace: bind the host's /sys instead, as runc does for rootless.
            Err(e) if typ == "sysfs" && (e.raw_os_error() == Some(libc::EPERM) || e.raw_os_error() == Some(libc::EBUSY)) => {
                sys::mount(Some("/sys"), &tpath, None, libc::MS_BIND | libc::MS_REC, None).map_err(|e| mnt_err("bind-mounting /sys on", dest, e))?;
                self.remount(rootfd, dest, opts.flags | libc::MS_BIND | libc::MS_REC)?;
            }
            Err(e) if typ == "mqueue" && e.raw_os_error() == Some(libc::EPERM) && self.userns => {
                sys::mount(Some("/dev/mqueue"), &tpath, None, libc::MS_BIND, None).map_err(|e| mnt_err("bind-mounting /dev/mqueue on", dest, e))?;
            }
            Err(e) => return Err(mnt_err(&format!("mounting {typ} on"), dest, e)),
        }
        self.apply_propagation(rootfd, dest, &opts)
    }

    fn top(&self, rootfd: RawFd, dest: &Path) -> Result<OwnedFd> {
        safe_path::open_in_root(rootfd, dest, libc::O_PATH).map_err(|e| mnt_err("reopening mount", dest, e))
    }

    fn remount(&self, rootfd: RawFd, dest: &Path, flags: libc::c_ulong) -> Result<()> {
        let top = self.top(rootfd, dest)?;
        let all = flags | locked_flags(top.as_raw_fd()) & !(libc::MS_RDONLY) | (flags & libc::MS_RDONLY);
        sys::mount(None, &sys::fd_path(top.as_raw_fd()), None, all | libc::MS_REMOUNT | libc::MS_BIND, None)
            .map_err(|e| mnt_err("remounting", dest, e))
    }

    fn apply_propagation(&self, rootfd: RawFd, dest: &Path, opts: &MountOpts) -> Result<()> {
        if opts.propagation.is_empty() {
            return Ok(());
        }
        let top = self.top(rootfd, dest)?;
        for p in &opts.propagation {
            sys::mount(None, &sys::fd_path(top.as_raw_fd()), None, *p, None).map_err(|e| mnt_err("setting propagation of", dest, e))?;
        }
        Ok(())
    }

    fn bind_mount(&self, rootfd: RawFd, m: &Mount, opts: &MountOpts) -> Result<()> {
        let dest = m.destination();
        let src = m.source().clone().ok_or_else(|| Error::other(format!("bind mount on {} has no source", dest.display())))?;
        let src = if src.is_absolute() { src } else { self.bundle.join(src) };
        let srcfd = sys::open(&src, libc::O_PATH, 0).map_err(|e| mnt_err("opening bind source", &src, e))?;
        let is_dir = sys::fstat(srcfd.as_raw_fd()).map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR).unwrap_or(true);
        let target = safe_path::mkdir_all_in_root(rootfd, dest, if is_dir { Kind::Dir } else { Kind::File })
            .map_err(|e| mnt_err("creating mount point", dest, e))?;
        let rec = opts.flags & libc::MS_REC;
        sys::mount(Some(&sys::fd_path(srcfd.as_raw_fd())), &sys::fd_path(target.as_raw_fd()), None, libc::MS_BIND | rec, None)
            .map_err(|e| Error::io(format!("bind-mounting {} on {}", src.display(), dest.display()), e))?;
        let extra = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
        if extra != 0 {
            self.remount(rootfd, dest, extra | rec)?;
        }
        self.apply_propagation(rootfd, dest, opts)
    }

    /// cgroup mounts: cgroup2 on v2 hosts; on v1 a tmpfs with one mount per hierarchy,
    /// each showing only the container's own cgroup.
    fn mount_cgroup(&self, rootfd: RawFd, dest: &Path, opts: &MountOpts) -> Result<()> {
        let target = safe_path::mkdir_all_in_root(rootfd, dest, Kind::Dir).map_err(|e| mnt_err("creating mount point", dest, e))?;
        let flags = opts.flags & !(libc::MS_RDONLY | libc::MS_REMOUNT);
        if crate::cgroups::host_version() == crate::cgroups::Version::V2 {
            let r = sys::mount(Some("cgroup"), &sys::fd_path(target.as_raw_fd()), Some("cgroup2"), opts.flags & !libc::MS_REMOUNT, None);
            if let Err(e) = r {
                // Without a cgroup namespace of our own (or in a userns), bind the host's.
                if e.raw_os_error() != Some(libc::EPERM) && e.raw_os_error() != Some(libc::EBUSY) {
                    return Err(mnt_err("mounting cgroup2 on", dest, e));
                }
                let own = self.cgroup.as_ref().and_then(|c| c.paths.first().map(|p| p.1.clone())).unwrap_or_else(|| PathBuf::from(crate::cgroups::CGROUP_ROOT));
                sys::mount(Some(&own.to_string_lossy()), &sys::fd_path(target.as_raw_fd()), None, libc::MS_BIND | libc::MS_REC, None)
                    .map_err(|e| mnt_err("bind-mounting cgroup on", dest, e))?;
                // A bind mount ignores the flags it is made with: the spec's nosuid,
                // nodev, noexec and ro need a remount, as runc does.
                if opts.flags & (libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) != 0 {
                    self.remount(rootfd, dest, flags | libc::MS_REC | (opts.flags & libc::MS_RDONLY))?;
                }
            }
            return Ok(());
        }
        sys::mount(Some("tmpfs"), &sys::fd_path(target.as_raw_fd()), Some("tmpfs"), flags, Some("mode=755"))
            .map_err(|e| mnt_err("mounting cgroup tmpfs on", dest, e))?;
        let text = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| Error::io("reading mountinfo", e))?;
        for line in text.lines() {
            let Some((pre, post)) = line.split_once(" - ") else { continue };
            let mut pi = post.split_whitespace();
            let fstype = pi.next().unwrap_or("");
            let super_opts = pi.nth(1).unwrap_or("");
            let fields: Vec<&str> = pre.split_whitespace().collect();
            // On v1 hosts only the v1 hierarchies are shown, as runc does (a hybrid
            // host's cgroup2 mount carries no controllers a container could use).
            if fields.len() < 5 || fstype != "cgroup" {
                continue;
            }
            let mountpoint = Path::new(fields[4]);
            if mountpoint.parent() != Some(Path::new(crate::cgroups::CGROUP_ROOT)) {
                continue;
            }
            let name = mountpoint.file_name().unwrap_or_default();
            let sub = dest.join(name);
            let subfd = safe_path::mkdir_all_in_root(rootfd, &sub, Kind::Dir).map_err(|e| mnt_err("creating", &sub, e))?;
            let ctrls: Vec<&str> = super_opts.split(',').filter(|o| !matches!(*o, "rw" | "ro")).collect();
            let r = if self.cgroupns {
                let (t, data) = if fstype == "cgroup2" { ("cgroup2", String::new()) } else { ("cgroup", ctrls.join(",")) };
                sys::mount(Some("cgroup"), &sys::fd_path(subfd.as_raw_fd()), Some(t), flags, Some(&data))
            } else {
                Err(std::io::Error::from_raw_os_error(libc::EPERM))
            };
            if r.is_err() {
                // Bind the container's own cgroup dir of that hierarchy (or the host's).
                let ctrl_key = ctrls.iter().filter(|c| !c.starts_with("name=")).cloned().collect::<Vec<_>>().join(",");
                let src = self
                    .cgroup
                    .as_ref()
                    .and_then(|c| c.paths.iter().find(|(k, _)| *k == ctrl_key).map(|p| p.1.clone()))
                    .unwrap_or_else(|| mountpoint.to_path_buf());
                sys::mount(Some(&src.to_string_lossy()), &sys::fd_path(subfd.as_raw_fd()), None, libc::MS_BIND | libc::MS_REC, None)
                    .map_err(|e| mnt_err("bind-mounting cgroup on", &sub, e))?;
                self.remount(rootfd, &sub, flags | libc::MS_REC | (opts.flags & libc::MS_RDONLY))?;
            }
            // Co-mounted controllers ("cpu,cpuacct") get a link per controller name.
            let name_s = name.to_string_lossy();
            if name_s.contains(',') {
                let dfd = self.top(rootfd, dest)?;
                for c in name_s.split(',') {
                    let _ = sys::symlinkat(Path::new(&*name_s), dfd.as_raw_fd(), Path::new(c));
                }
            }
        }
        // The tmpfs itself stays writable, as with runc: only the hierarchies are ro.
        Ok(())
    }

    fn default_devices(&self, rootfd: RawFd) -> Result<()> {
        for (name, major, minor) in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)] {
            let d: LinuxDevice = serde_json::from_value(serde_json::json!({
                "path": format!("/dev/{name}"), "type": "c", "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0
            }))
            .expect("static device");
            self.make_device(rootfd, &d)?;
        }
        let dev = safe_path::open_in_root(rootfd, Path::new("/dev"), libc::O_PATH | libc::O_DIRECTORY).map_err(|e| Error::io("opening /dev", e))?;
        let links = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")];
        for (name, target) in links {
            match sys::symlinkat(Path::new(target), dev.as_raw_fd(), Path::new(name)) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(Error::io(format!("creating /dev/{name}"), e)),
            }
        }
        if Path::new("/proc/kcore").exists() {
            let _ = sys::symlinkat(Path::new("/proc/kcore"), dev.as_raw_fd(), Path::new("core"));
        }
        Ok(())
    }

    fn make_device(&self, rootfd: RawFd, d: &LinuxDevice) -> Result<()> {
        let path = d.path();
        let parent = path.parent().unwrap_or(Path::new("/"));
        let name = path.file_name().ok_or_else(|| Error::other(format!("invalid device path {}", path.display())))?;
        let dir = safe_path::mkdir_all_in_root(rootfd, parent, Kind::Dir).map_err(|e| mnt_err("creating device dir", parent, e))?;
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => return Err(Error::other(format!("device {}: type 'a' is only valid in cgroup rules", path.display()))),
        };
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        let dev = libc::makedev(d.major() as u32, d.minor() as u32);
        // Replace whatever the image has there (but never a directory).
        let c = sys::cstr(name).map_err(|e| Error::io("device name", e))?;
        // SAFETY: c is a valid C string; unlinkat on an O_PATH dir descriptor.
        unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
        let made = if self.userns { Err(std::io::Error::from_raw_os_error(libc::EPERM)) } else { sys::mknodat(dir.as_raw_fd(), Path::new(name), kind | mode, dev) };
        match made {
            Ok(()) => {
                // SAFETY: c is valid; the node was just created under dir.
                unsafe {
                    libc::fchmodat(dir.as_raw_fd(), c.as_ptr(), mode, 0);
                    libc::fchownat(dir.as_raw_fd(), c.as_ptr(), d.uid().unwrap_or(0), d.gid().unwrap_or(0), libc::AT_SYMLINK_NOFOLLOW);
                }
                Ok(())
            }
            // In a user namespace mknod is forbidden: bind the host's node instead.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let host = Path::new("/dev").join(path.strip_prefix("/dev").unwrap_or(path));
                let target = safe_path::mkdir_all_in_root(rootfd, path, Kind::File).map_err(|e| mnt_err("creating", path, e))?;
                sys::mount(Some(&host.to_string_lossy()), &sys::fd_path(target.as_raw_fd()), None, libc::MS_BIND, None)
                    .map_err(|e| mnt_err("bind-mounting device", path, e))
            }
            Err(e) => Err(mnt_err("creating device", path, e)),
        }
    }

    /// pivot_root into the rootfs and detach the old root.
    pub fn pivot(&self) -> Result<()> {
        let root_s = self.rootfs.to_string_lossy().into_owned();
        sys::chdir(&root_s).map_err(|e| Error::io("chdir rootfs", e))?;
        if self.no_pivot {
            sys::mount(Some(&root_s), "/", None, libc::MS_MOVE, None).map_err(|e| Error::io("moving rootfs to /", e))?;
            sys::chroot(".").map_err(|e| Error::io("chroot", e))?;
        } else {
            // pivot_root(".", ".") stacks the old root on top of the new one; it is then
            // made a slave (so the unmount does not propagate to the host) and detached.
            sys::pivot_root(".", ".").map_err(|e| Error::io("pivot_root", e))?;
            sys::mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None).map_err(|e| Error::io("making old root a slave", e))?;
            sys::umount2(".", libc::MNT_DETACH).map_err(|e| Error::io("detaching old root", e))?;
        }
        sys::chdir("/").map_err(|e| Error::io("chdir /", e))?;
        if let Some(p) = self.propagation {
            sys::mount(None, "/", None, p, None).map_err(|e| Error::io("setting rootfs propagation", e))?;
        }
        Ok(())
    }

    /// After pivot_root: sysctls, read-only paths, masked paths, read-only root.
    pub fn finish(&self) -> Result<()> {
        let root = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::io("opening /", e))?;
        for (k, v) in &self.sysctl {
            write_sysctl(k, v)?;
        }
        for p in &self.readonly_paths {
            let fd = match safe_path::open_in_root(root.as_raw_fd(), Path::new(p), libc::O_PATH) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(mnt_err("opening read-only path", Path::new(p), e)),
            };
            check_kernel_fs(p, fd.as_raw_fd())?;
            let fp = sys::fd_path(fd.as_raw_fd());
            sys::mount(Some(&fp), &fp, None, libc::MS_BIND | libc::MS_REC, None).map_err(|e| mnt_err("bind-mounting read-only path", Path::new(p), e))?;
            self.remount(root.as_raw_fd(), Path::new(p), libc::MS_RDONLY | libc::MS_REC)?;
        }
        let null = safe_path::open_in_root(root.as_raw_fd(), Path::new("/dev/null"), libc::O_PATH).ok().filter(|fd| safe_path::is_dev_null(fd.as_raw_fd()).unwrap_or(false));
        for p in &self.masked {
            let fd = match safe_path::open_in_root(root.as_raw_fd(), Path::new(p), libc::O_PATH) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(mnt_err("opening masked path", Path::new(p), e)),
            };
            check_kernel_fs(p, fd.as_raw_fd())?;
            let is_dir = sys::fstat(fd.as_raw_fd()).map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR).unwrap_or(false);
            let tp = sys::fd_path(fd.as_raw_fd());
            if is_dir {
                sys::mount(Some("tmpfs"), &tp, Some("tmpfs"), libc::MS_RDONLY, Some("size=0")).map_err(|e| mnt_err("masking", Path::new(p), e))?;
            } else {
                let null = null.as_ref().ok_or_else(|| Error::other("cannot mask paths: /dev/null in the container is not the null device"))?;
                sys::mount(Some(&sys::fd_path(null.as_raw_fd())), &tp, None, libc::MS_BIND, None).map_err(|e| mnt_err("masking", Path::new(p), e))?;
            }
        }
        if self.readonly {
            let flags = locked_flags(root.as_raw_fd());
            sys::mount(None, "/", None, flags | libc::MS_RDONLY | libc::MS_BIND | libc::MS_REMOUNT, None).map_err(|e| Error::io("remounting / read-only", e))?;
        }
        Ok(())
    }
}

/// /proc and /sys paths must still be on procfs/sysfs when we protect them: an image
/// could otherwise redirect them (CVE-2025-31133/52565/52881 class) and leave the real
/// files writable.
fn check_kernel_fs(p: &str, fd: RawFd) -> Result<()> {
    const SYSFS_MAGIC: i64 = 0x6265_6572;
    let fstype = sys::fstatfs(fd).map(|s| s.f_type as i64).unwrap_or(0);
    let ok = if p.starts_with("/proc/") || p == "/proc" {
        safe_path::is_procfs(fd).unwrap_or(false) || fstype == 0x0102_1994 /* tmpfs mask */
    } else if p.starts_with("/sys/") {
        fstype == SYSFS_MAGIC || fstype == 0x0102_1994 || fstype == 0x2746_7363
    } else {
        true
    };
    if ok {
        Ok(())
    } else {
        Err(Error::other(format!("{p} is not on the kernel filesystem it should be on (fs type {fstype:#x}); refusing")))
    }
}

/// Writes a sysctl through /proc/sys without following any symlink or crossing mounts,
/// and only if the file really is procfs.
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let rel = PathBuf::from("sys").join(key.replace('.', "/"));
    let proc = sys::open(Path::new("/proc"), libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::io("opening /proc", e))?;
    if !safe_path::is_procfs(proc.as_raw_fd()).unwrap_or(false) {
        return Err(Error::other("cannot set sysctls: /proc is not procfs"));
    }
    let fd = sys::openat2(proc.as_raw_fd(), &rel, libc::O_WRONLY, 0, sys::RESOLVE_BENEATH | sys::RESOLVE_NO_SYMLINKS | sys::RESOLVE_NO_XDEV)
        .map_err(|e| Error::io(format!("sysctl {key}"), e))?;
    if !safe_path::is_procfs(fd.as_raw_fd()).unwrap_or(false) {
        return Err(Error::other(format!("sysctl {key}: not a procfs file")));
    }
    sys::write_all(fd.as_raw_fd(), value.as_bytes()).map_err(|e| Error::io(format!("setting sysctl {key}={value}"), e))
}

/// Sysctls a container may set: those namespaced by a namespace it has (runc's rule).
pub fn validate_sysctl(key: &str, has_ipc: bool, has_net: bool, has_uts: bool) -> Result<()> {
    let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    let ok = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        has_ipc
    } else if key.starts_with("net.") {
        has_net
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        has_uts
    } else {
        false
    };
    if ok {
        Ok(())
    } else {
        Err(Error::other(format!("sysctl {key:?} is not in a separate kernel namespace")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(v: &[&str]) -> MountOpts {
        parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_become_flags_and_data() {
        let m = o(&["nosuid", "noexec", "mode=755", "size=65536k", "ro"]);
        assert_eq!(m.flags, libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_RDONLY);
        assert_eq!(m.data, vec!["mode=755", "size=65536k"]);
        let m = o(&["rbind", "rprivate"]);
        assert!(m.bind);
        assert_eq!(m.flags, libc::MS_BIND | libc::MS_REC);
        assert_eq!(m.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        assert_eq!(o(&["ro", "rw"]).flags & libc::MS_RDONLY, 0);
        assert_eq!(o(&["shared"]).propagation, vec![libc::MS_SHARED]);
        assert_eq!(o(&["slave"]).propagation, vec![libc::MS_SLAVE]);
    }

    #[test]
    fn sysctls_need_their_namespace() {
        assert!(validate_sysctl("net.ipv4.ip_forward", false, true, false).is_ok());
        assert!(validate_sysctl("net.ipv4.ip_forward", true, false, true).is_err());
        assert!(validate_sysctl("kernel.shmmax", true, false, false).is_ok());
        assert!(validate_sysctl("vm.swappiness", true, true, true).is_err());
    }
}
