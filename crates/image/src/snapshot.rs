//! Container root filesystems: an overlayfs mount of a layer chain (read-only lower dirs)
//! plus a container's own `upper` and `work` dirs.
//!
//! mount(2) takes its options in one page, which absolute lower dir paths overflow past a
//! few dozen layers. The lower dirs are therefore named by their short links (`l/<id>`)
//! relative to the layer store root, and the mount is made from a thread that has its own
//! working directory (`unshare(CLONE_FS)`) set to that root, so the daemon's other
//! threads never see a changed cwd.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layer::LayerStore;

/// overlayfs refuses deeper stacks (OVL_MAX_STACK).
pub const MAX_LOWER_LAYERS: usize = 500;

/// The directories of one container's writable layer.
#[derive(Clone, Debug)]
pub struct SnapshotDirs {
    /// Where the container's changes go (overlay upperdir).
    pub upper: PathBuf,
    /// overlay's scratch dir; must be on the same filesystem as `upper`.
    pub work: PathBuf,
    /// Where the merged root filesystem is mounted.
    pub merged: PathBuf,
}

impl SnapshotDirs {
    /// Creates `upper`, `work` and `merged` under `dir` (e.g. `containers/<id>`).
    pub fn create(dir: &Path) -> Result<SnapshotDirs> {
        let dirs = SnapshotDirs { upper: dir.join("upper"), work: dir.join("work"), merged: dir.join("merged") };
        for d in [&dirs.upper, &dirs.work, &dirs.merged] {
            fs::create_dir_all(d).ctx("create", d)?;
        }
        Ok(dirs)
    }
}

/// Mounts an overlay at `dirs.merged` whose lower layers are `chain` (chain ids, base
/// layer first, as in an image config) and whose upper/work dirs are `dirs`'. An empty
/// chain (a `FROM scratch` image) gets an empty lower dir.
pub fn mount_overlay(layers: &LayerStore, chain: &[Digest], dirs: &SnapshotDirs) -> Result<()> {
    mount_overlay_mapped(layers, chain, dirs, None, false)
}

/// [`mount_overlay`] for a container in a user namespace (userns-remap): each lower
/// layer is seen through an id-mapped mount made with `userns` (a user namespace fd),
/// so files owned by root in the shared layers appear owned by the container's root
/// (an unprivileged host uid) without copying or chowning the layers.
///
/// `volatile` is for an upper dir that is thrown away with its container (`run --rm`,
/// a build step): overlayfs then skips syncing the upper filesystem, which it otherwise
/// does in full at every unmount (milliseconds on a busy disk), as Podman does for
/// `--rm`. Kernels without the option (before 5.10) get a plain mount.
pub fn mount_overlay_mapped(layers: &LayerStore, chain: &[Digest], dirs: &SnapshotDirs, userns: Option<std::os::fd::RawFd>, volatile: bool) -> Result<()> {
    if chain.len() > MAX_LOWER_LAYERS {
        return Err(Error::Mount {
            op: "mount overlay on",
            target: dirs.merged.clone(),
            source: std::io::Error::other(format!("{} layers is more than overlayfs's {MAX_LOWER_LAYERS}", chain.len())),
        });
    }
    // overlayfs lists the top layer first.
    let mut lowers = Vec::with_capacity(chain.len().max(1));
    for c in chain.iter().rev() {
        lowers.push(layers.short_link(c)?);
    }
    if lowers.is_empty() {
        let empty = layers.root().join("empty");
        fs::create_dir_all(&empty).ctx("create", &empty)?;
        lowers.push("empty".to_owned());
    }
    let abs = |p: &Path| -> Result<String> {
        let p = fs::canonicalize(p).ctx("resolve", p)?;
        let s = p.to_str().ok_or_else(|| Error::io("mount", &p, std::io::Error::other("path is not UTF-8")))?;
        if s.contains([',', ':']) {
            return Err(Error::io("mount", &p, std::io::Error::other("overlay paths cannot contain ',' or ':'")));
        }
        Ok(s.to_owned())
    };
    let data = format!("lowerdir={},upperdir={},workdir={}", lowers.join(":"), abs(&dirs.upper)?, abs(&dirs.work)?);
    let page = page_size();
    if data.len() >= page {
        return Err(Error::Mount {
            op: "mount overlay on",
            target: dirs.merged.clone(),
            source: std::io::Error::other(format!("mount options are {} bytes, more than a page ({page})", data.len())),
        });
    }
    // A volatile mount leaves this marker in the work dir, and overlayfs refuses the
    // dir again until it is gone (a second start of the same container).
    let _ = fs::remove_dir_all(dirs.work.join("work/incompat"));
    let layers_root = layers.root().to_owned();
    let target = dirs.merged.clone();
    // `volatile` first when asked for; a kernel that does not know it says EINVAL.
    let with_volatile = |data: &str, attempt: &dyn Fn(&str) -> std::io::Result<()>| match volatile {
        true => match attempt(&format!("{data},volatile")) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => attempt(data),
            r => r,
        },
        false => attempt(data),
    };
    let plain = |d: &str| -> std::io::Result<()> { Ok(mount(Some("overlay"), &target, Some("overlay"), MsFlags::empty(), Some(d))?) };
    // Short enough with absolute lower paths (most images): mount from here. Otherwise
    // the short links are named relative to the layer root, from a thread of our own
    // whose cwd that is.
    if userns.is_none() {
        let lower_abs: Vec<String> = lowers.iter().map(|l| layers_root.join(l).to_string_lossy().into_owned()).collect();
        let abs_data = format!("lowerdir={},upperdir={},workdir={}", lower_abs.join(":"), abs(&dirs.upper)?, abs(&dirs.work)?);
        if abs_data.len() + ",volatile".len() < page && !lower_abs.iter().any(|l| l.contains([',', ':'])) {
            return with_volatile(&abs_data, &plain).map_err(|source| Error::Mount { op: "mount overlay on", target: dirs.merged.clone(), source });
        }
    }
    let staging = dirs.work.with_file_name("idmap");
    let result = std::thread::scope(|s| {
        s.spawn(|| -> std::io::Result<()> {
            // This thread gets its own cwd: chdir here affects no other thread.
            unshare(CloneFlags::CLONE_FS)?;
            nix::unistd::chdir(&layers_root)?;
            let attempt = |data: &str| match userns {
                None => plain(data),
                Some(fd) => idmap::mount_with_mapped_lowers(&lowers, &staging, fd, data, &target),
            };
            with_volatile(&data, &attempt)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("mount thread panicked")))
    });
    result.map_err(|source| Error::Mount { op: "mount overlay on", target: dirs.merged.clone(), source })
}

mod idmap {
    //! Id-mapped lower layers: each layer cloned with open_tree, given the user
    //! namespace's mapping with mount_setattr(MOUNT_ATTR_IDMAP), attached under a
    //! staging dir for the overlay mount to name, then detached again (the overlay keeps
    //! its own references), so nothing is left to clean up.

    use std::ffi::CString;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use nix::mount::{mount, umount2, MntFlags, MsFlags};

    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }

    fn cstr(p: &Path) -> std::io::Result<CString> {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    }

    fn mapped_clone(src: &Path, userns: RawFd) -> std::io::Result<OwnedFd> {
        let c = cstr(src)?;
        // SAFETY: plain syscalls on valid C strings and descriptors.
        let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: open_tree returned a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let attr = MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns as u64 };
        let empty = c"";
        // SAFETY: attr is a valid mount_attr of the size passed.
        let rc = unsafe {
            libc::syscall(libc::SYS_mount_setattr, std::os::fd::AsRawFd::as_raw_fd(&fd), empty.as_ptr(), libc::AT_EMPTY_PATH, &attr as *const MountAttr, std::mem::size_of::<MountAttr>())
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    }

    fn attach(fd: &OwnedFd, at: &Path) -> std::io::Result<()> {
        let c = cstr(at)?;
        let empty = c"";
        // SAFETY: as above.
        let rc = unsafe {
            libc::syscall(libc::SYS_move_mount, std::os::fd::AsRawFd::as_raw_fd(fd), empty.as_ptr(), libc::AT_FDCWD, c.as_ptr(), MOVE_MOUNT_F_EMPTY_PATH)
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Called with the cwd at the layer store root (the lower names are relative to it).
    pub fn mount_with_mapped_lowers(lowers: &[String], staging: &Path, userns: RawFd, data: &str, target: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(staging)?;
        let mut attached = Vec::new();
        let result = (|| -> std::io::Result<()> {
            for (i, l) in lowers.iter().enumerate() {
                let at = staging.join(i.to_string());
                std::fs::create_dir_all(&at)?;
                let fd = mapped_clone(&std::fs::canonicalize(l)?, userns)?;
                attach(&fd, &at)?;
                attached.push(at);
            }
            // Same option string, the lower names swapped for the staging indexes.
            let names: Vec<String> = (0..lowers.len()).map(|i| i.to_string()).collect();
            let rest = data.split_once(',').map(|(_, r)| r).unwrap_or("");
            let data = format!("lowerdir={},{rest}", names.join(":"));
            nix::unistd::chdir(staging)?;
            mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(data.as_str()))?;
            Ok(())
        })();
        for at in &attached {
            let _ = umount2(at, MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(staging);
        result
    }
}

/// Unmounts `target`, lazily if it is busy. Returns false if nothing was mounted there.
pub fn unmount(target: &Path) -> Result<bool> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(false),
        Err(nix::errno::Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH)
            .map(|_| true)
            .map_err(|e| Error::Mount { op: "unmount", target: target.to_owned(), source: e.into() }),
        Err(e) => Err(Error::Mount { op: "unmount", target: target.to_owned(), source: e.into() }),
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::tests_support::tar_of;

    #[test]
    fn mounts_130_layers_and_reads_the_lowest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path().join("layers")).unwrap();
        let mut chain: Vec<Digest> = Vec::new();
        for i in 0..130 {
            let mut files = vec![(format!("layer-{i}"), format!("{i}")), ("shared".to_owned(), format!("from {i}"))];
            if i == 0 {
                files.push(("bottom".to_owned(), "lowest layer".to_owned()));
            }
            let tar = tar_of(&files);
            let l = store.unpack(chain.last(), None, &tar[..], None, &format!("layer {i}")).unwrap();
            chain.push(l.chain_id);
        }
        let dirs = SnapshotDirs::create(&tmp.path().join("containers/c1")).unwrap();
        mount_overlay(&store, &chain, &dirs).unwrap();
        let read = |p: &str| fs::read_to_string(dirs.merged.join(p));
        let bottom = read("bottom");
        let shared = read("shared");
        let l77 = read("layer-77");
        fs::write(dirs.merged.join("new"), b"upper").unwrap();
        assert!(unmount(&dirs.merged).unwrap());
        assert!(!unmount(&dirs.merged).unwrap(), "second unmount finds nothing");
        assert_eq!(bottom.unwrap(), "lowest layer");
        assert_eq!(shared.unwrap(), "from 129", "top layer wins");
        assert_eq!(l77.unwrap(), "77");
        assert_eq!(fs::read(dirs.upper.join("new")).unwrap(), b"upper");
        assert!(!dirs.merged.join("bottom").exists(), "unmounted");
    }

    #[test]
    fn scratch_images_mount_with_an_empty_lower() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path().join("layers")).unwrap();
        let dirs = SnapshotDirs::create(&tmp.path().join("c")).unwrap();
        mount_overlay(&store, &[], &dirs).unwrap();
        let r = fs::write(dirs.merged.join("f"), b"x");
        unmount(&dirs.merged).unwrap();
        r.unwrap();
        assert!(dirs.upper.join("f").exists());
        let missing = Digest::sha256_of(b"missing");
        assert!(mount_overlay(&store, &[missing], &dirs).is_err());
    }
}
