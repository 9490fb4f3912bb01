//! Named network namespaces: files bind-mounted over a namespace (as `ip netns` does),
//! so a namespace outlives the thread that made it and the daemon can hand its path to
//! the OCI runtime (`linux.namespaces[{type: network, path}]`) before the container's
//! process exists.
//!
//! Namespace switches happen only on dedicated, short-lived std threads: setns()
//! changes the calling *thread*, and a tokio worker that moved into a container's
//! namespace would run unrelated tasks there. Such a thread is never reused.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// The netns file for a container under `run_dir`.
pub fn path_for(run_dir: &Path, container_id: &str) -> PathBuf {
    run_dir.join("netns").join(container_id)
}

/// Creates a new network namespace pinned at `path`, with `lo` up. An existing,
/// mounted file is reused (a daemon retrying after a crash).
pub fn create(path: &Path) -> Result<()> {
    if is_mounted_netns(path) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::netns(path, e))?;
    }
    File::create(path).map_err(|e| Error::netns(path, e))?;
    let target = path.to_path_buf();
    let made = std::thread::Builder::new()
        .name("berth-netns-new".into())
        .spawn(move || -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::netns(&target, e.into()))?;
            mount(Some("/proc/thread-self/ns/net"), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(|e| Error::netns(&target, e.into()))?;
            let mut nl = Netlink::new()?;
            if let Some(lo) = nl.link_index("lo")? {
                nl.set_up(lo, true)?;
            }
            Ok(())
        })
        .map_err(|e| Error::netns(path, e))?
        .join()
        .unwrap_or_else(|_| Err(Error::netns(path, std::io::Error::other("netns thread panicked"))));
    if made.is_err() {
        let _ = remove(path);
    }
    made
}

/// Unmounts and deletes a netns file; a missing one is fine. The namespace itself goes
/// when its last user (the container's processes, sockets bound in it) goes.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(Error::netns(path, e.into())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::netns(path, e)),
    }
}

/// True if `path` is a mounted namespace file (nsfs), i.e. not just an empty file.
pub fn is_mounted_netns(path: &Path) -> bool {
    match nix::sys::statfs::statfs(path) {
        Ok(s) => s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC,
        Err(_) => false,
    }
}

/// Runs `f` on a fresh thread that has joined the namespace at `path`, and returns its
/// result. Anything `f` opens there (netlink or UDP/TCP sockets) stays bound to that
/// namespace after the thread exits.
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    let ns = File::open(path).map_err(|e| Error::netns(path, e))?;
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("berth-netns".into())
            .spawn_scoped(s, move || {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| Error::netns(path, e.into()))?;
                f()
            })
            .map_err(|e| Error::netns(path, e))?
            .join()
            .unwrap_or_else(|_| Err(Error::netns(path, std::io::Error::other("netns thread panicked"))))
    })
}
