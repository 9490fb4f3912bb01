//! Removed containers' directories: renamed aside at once, so that `rm` (and a
//! `run --rm` waiting on it) answers without waiting for the disk, then deleted by a
//! background thread. The deletion never crosses into another filesystem: a mount left
//! behind inside (a rootfs that would not unmount) is skipped, never emptied.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Trash {
    dir: PathBuf,
    seq: AtomicU64,
}

impl Trash {
    /// The trash at `dir`; what a previous berthd left there is deleted in the background.
    pub fn open(dir: PathBuf) -> io::Result<Trash> {
        std::fs::create_dir_all(&dir)?;
        let leftovers: Vec<PathBuf> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        if !leftovers.is_empty() {
            std::thread::spawn(move || leftovers.iter().for_each(|p| delete(p)));
        }
        Ok(Trash { dir, seq: AtomicU64::new(0) })
    }

    /// Moves `path` into the trash and deletes it there in the background. A missing
    /// `path` is not an error.
    pub fn discard(&self, path: &Path) -> io::Result<()> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let target = self.dir.join(format!("{name}.{}.{}", std::process::id(), self.seq.fetch_add(1, Ordering::Relaxed)));
        match std::fs::rename(path, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        std::thread::spawn(move || delete(&target));
        Ok(())
    }
}

fn delete(path: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return };
    if let Err(e) = remove_on_device(path, meta.dev()) {
        tracing::warn!("deleting {}: {e}", path.display());
    }
}

/// Deletes `path` and everything below it that is on device `dev`; a directory on
/// another device (a mount point) is left alone and reported.
fn remove_on_device(path: &Path, dev: u64) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.is_dir() {
        return std::fs::remove_file(path);
    }
    if meta.dev() != dev {
        return Err(io::Error::other(format!("{} is another filesystem (still mounted?): left in place", path.display())));
    }
    let mut first_err = None;
    for entry in std::fs::read_dir(path)? {
        if let Err(e) = entry.and_then(|e| remove_on_device(&e.path(), dev)) {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => std::fs::remove_dir(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_moves_at_once_and_deletes_in_the_background() {
        let root = tempfile::tempdir().unwrap();
        let trash = Trash::open(root.path().join("trash")).unwrap();
        let victim = root.path().join("c1");
        std::fs::create_dir_all(victim.join("a/b")).unwrap();
        std::fs::write(victim.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", victim.join("link")).unwrap();
        trash.discard(&victim).unwrap();
        assert!(!victim.exists(), "the directory is gone from its place at once");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_dir(root.path().join("trash")).unwrap().next().is_some() {
            assert!(std::time::Instant::now() < deadline, "the trash was not emptied");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(Path::new("/etc/passwd").exists(), "a symlink is removed, not followed");
        trash.discard(&root.path().join("never-existed")).unwrap();
    }

    #[test]
    fn a_mount_inside_is_never_emptied() {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("c2");
        let mnt = victim.join("merged");
        std::fs::create_dir_all(&mnt).unwrap();
        let c = std::ffi::CString::new(mnt.to_str().unwrap()).unwrap();
        // SAFETY: valid C strings; a tmpfs mount on our own temp dir.
        let r = unsafe { libc::mount(c"tmpfs".as_ptr(), c.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null()) };
        assert_eq!(r, 0, "mounting tmpfs: {}", io::Error::last_os_error());
        std::fs::write(mnt.join("keep"), b"data").unwrap();
        let dev = std::fs::symlink_metadata(&victim).unwrap().dev();
        let err = remove_on_device(&victim, dev).unwrap_err();
        assert!(err.to_string().contains("another filesystem"), "{err}");
        assert_eq!(std::fs::read(mnt.join("keep")).unwrap(), b"data");
        // SAFETY: valid C string.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        remove_on_device(&victim, dev).unwrap();
        assert!(!victim.exists());
    }
}
