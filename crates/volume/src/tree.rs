//! Moving a volume's files as whole trees: copy-up of an image directory into a new
//! volume, export to a tar and import from one, and disk usage.
//!
//! Everything goes through the image crate's confined tar code: the walk opens every
//! entry relative to its parent with O_NOFOLLOW, the extraction resolves every path
//! inside the destination (openat2 RESOLVE_IN_ROOT), so a symlink in an image or in a
//! volume can never make us read or write the host's files.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_image::layer::unpack::{extract_in_root, ExtractOptions};
use berth_image::tree_tar;

use crate::error::{Error, IoContext, Result};

fn open_dir(p: &Path) -> Result<OwnedFd> {
    let f = std::fs::File::open(p).ctx("opening", p)?;
    Ok(f.into())
}

fn is_empty_dir(p: &Path) -> Result<bool> {
    Ok(std::fs::read_dir(p).ctx("reading", p)?.next().is_none())
}

/// Docker's pre-population: when the volume at `data` is empty and the container's
/// root `rootfs` has a directory at `target`, that directory's content, owner and mode
/// are copied into the volume. Returns whether anything was copied.
pub fn copy_up(rootfs: &Path, target: &str, data: &Path) -> Result<bool> {
    if !is_empty_dir(data)? {
        return Ok(false);
    }
    let root = open_dir(rootfs)?;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    let src = match berth_runtime::safe_path::open_in_root(root.as_raw_fd(), Path::new(target), flags) {
        Ok(fd) => fd,
        // Nothing (or not a directory) there in the image: nothing to copy.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(false),
        Err(e) => return Err(Error::io("opening in the container's root", target, e)),
    };
    let st = nix::sys::stat::fstat(&src).map_err(|e| Error::io("stat", target, e.into()))?;
    let data_fd = open_dir(data)?;
    copy_tree(src, data_fd.try_clone().ctx("dup", data)?)?;
    // The volume's root takes the image directory's owner and mode (Docker's
    // copyOwnership), so a non-root service can write its data directory.
    nix::unistd::fchown(&data_fd, Some(st.st_uid.into()), Some(st.st_gid.into())).map_err(|e| Error::io("chown", data, e.into()))?;
    nix::sys::stat::fchmod(&data_fd, nix::sys::stat::Mode::from_bits_truncate(st.st_mode & 0o7777)).map_err(|e| Error::io("chmod", data, e.into()))?;
    Ok(true)
}

/// Streams the tree under `src` into `dst` through a pipe: one thread archives, this
/// one extracts.
fn copy_tree(src: OwnedFd, dst: OwnedFd) -> Result<()> {
    let (reader, writer) = std::io::pipe().map_err(|e| Error::io("creating a pipe", "", e))?;
    let archiver = std::thread::spawn(move || -> std::io::Result<()> { tree_tar::locate(&src, "/.")?.write_tar(writer) });
    let extracted = extract_in_root(dst, Path::new("/"), reader, &ExtractOptions::default());
    let archived = archiver.join().map_err(|_| Error::Archive("the copy thread panicked".into()))?;
    extracted.map_err(|e| Error::Archive(format!("copying: {e}")))?;
    archived.map_err(|e| Error::io("archiving", "", e))
}

/// Writes a tar of the volume's content (entries relative to its root).
pub fn export(data: &Path, out: impl Write) -> Result<()> {
    let root = open_dir(data)?;
    tree_tar::locate(&root, "/.").and_then(|l| l.write_tar(out)).ctx("archiving", data)
}

/// Extracts a tar (plain or compressed) into the volume, keeping the archive's owners;
/// nothing can land outside the volume.
pub fn import(data: &Path, reader: impl Read) -> Result<()> {
    extract_in_root(open_dir(data)?, Path::new("/"), reader, &ExtractOptions::default()).map_err(|e| Error::Archive(format!("importing into {}: {e}", data.display())))
}

/// Bytes used under `dir`: sizes of everything but directories, each inode once (as
/// Docker's UsageData.Size), staying on one filesystem.
pub fn disk_usage(dir: &Path) -> u64 {
    let Ok(top) = std::fs::symlink_metadata(dir) else { return 0 };
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                if m.dev() == top.dev() {
                    stack.push(e.path());
                }
            } else if seen.insert((m.dev(), m.ino())) {
                total += m.size();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn copy_up_keeps_owners_modes_links_and_stays_inside() {
        let t = tempfile::tempdir().unwrap();
        let rootfs = t.path().join("rootfs");
        let src = rootfs.join("var/lib/app");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/file"), "content").unwrap();
        std::os::unix::fs::chown(src.join("sub/file"), Some(1000), Some(1001)).unwrap();
        std::fs::set_permissions(src.join("sub/file"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(&src, Some(999), Some(998)).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o750)).unwrap();
        std::fs::hard_link(src.join("sub/file"), src.join("hard")).unwrap();
        symlink("/etc/passwd", src.join("abs-link")).unwrap();
        // A symlinked path in the image resolves inside the image's root, not the host.
        symlink("/var/lib/app", rootfs.join("alias")).unwrap();
        let data = t.path().join("vol");
        std::fs::create_dir(&data).unwrap();

        assert!(copy_up(&rootfs, "/alias", &data).unwrap());
        let f = std::fs::metadata(data.join("sub/file")).unwrap();
        assert_eq!((f.uid(), f.gid(), f.mode() & 0o777), (1000, 1001, 0o640));
        assert_eq!(std::fs::read_to_string(data.join("sub/file")).unwrap(), "content");
        assert_eq!(std::fs::metadata(data.join("hard")).unwrap().ino(), f.ino(), "hard links stay linked");
        assert_eq!(std::fs::read_link(data.join("abs-link")).unwrap(), Path::new("/etc/passwd"), "symlinks copied as links");
        let d = std::fs::metadata(&data).unwrap();
        assert_eq!((d.uid(), d.gid(), d.mode() & 0o777), (999, 998, 0o750));

        // A volume with content is never overwritten; a missing image path copies nothing.
        std::fs::write(src.join("later"), "x").unwrap();
        assert!(!copy_up(&rootfs, "/var/lib/app", &data).unwrap());
        assert!(!data.join("later").exists());
        let empty = t.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(!copy_up(&rootfs, "/no/such/dir", &empty).unwrap());
    }

    #[test]
    fn export_import_round_trip() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        std::fs::create_dir_all(a.join("d")).unwrap();
        std::fs::write(a.join("d/x"), vec![7u8; 100_000]).unwrap();
        symlink("d/x", a.join("l")).unwrap();
        let mut tar = Vec::new();
        export(&a, &mut tar).unwrap();
        let b = t.path().join("b");
        std::fs::create_dir(&b).unwrap();
        import(&b, tar.as_slice()).unwrap();
        assert_eq!(std::fs::read(b.join("d/x")).unwrap(), vec![7u8; 100_000]);
        assert_eq!(std::fs::read_link(b.join("l")).unwrap(), Path::new("d/x"));
        assert_eq!(disk_usage(&a), disk_usage(&b));
        assert!(disk_usage(&b) >= 100_000);
    }

    #[test]
    fn import_of_a_hostile_tar_stays_inside() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let vol = t.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "escape", &outside).unwrap();
        let mut f = tar::Header::new_gnu();
        f.set_size(2);
        f.set_mode(0o644);
        f.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut f, "escape/pwned", &b"hi"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let _ = import(&vol, data.as_slice());
        assert!(!outside.join("pwned").exists(), "a symlink in the archive must not lead outside the volume");
    }
}
