//! A container's root directory as an open fd, for cp, export and commit: a running
//! container's own view (`/proc/<pid>/root`, with its bind mounts) or its overlay
//! rootfs; a stopped container's rootfs is mounted for the duration and unmounted after.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use berth_image::snapshot::{self, SnapshotDirs};

use super::record::Container;
use super::Entry;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Which view of the container's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// What the container's processes see (mounts included): `docker cp`.
    Live,
    /// The overlay rootfs alone: `docker export`.
    Rootfs,
}

fn live(c: &Container) -> bool {
    matches!(c.state.status.as_str(), "running" | "paused") && c.state.pid > 0
}

fn open_dir(p: &Path) -> std::io::Result<OwnedFd> {
    Ok(std::fs::File::open(p)?.into())
}

/// Runs `f` on a blocking thread with the container's root fd. A stopped container's
/// rootfs is mounted under its lifecycle lock, so it cannot start (and mount the same
/// upper dir) meanwhile.
pub async fn with_root<T: Send + 'static>(state: &AppState, entry: &Arc<Entry>, view: View, f: impl FnOnce(OwnedFd) -> T + Send + 'static) -> ApiResult<T> {
    let c = entry.get();
    let dir = state.containers.container_dir(&c.id);
    if live(&c) {
        return run_live(dir, &c, view, f).await;
    }
    let _op = entry.op.lock().await;
    let c = entry.get();
    if entry.removed.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ApiError::not_found(format!("No such container: {}", c.id)));
    }
    if live(&c) {
        return run_live(dir, &c, view, f).await;
    }
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let dirs = SnapshotDirs::create(&dir).map_err(|e| ApiError::internal(e.to_string()))?;
        mount_stopped(&st, &c, &dirs)?;
        let root = open_dir(&dirs.merged).map_err(|e| ApiError::internal(format!("opening the rootfs of {}: {e}", c.id)));
        let out = root.map(f);
        if let Err(e) = snapshot::unmount(&dirs.merged) {
            tracing::warn!(container = %c.id, "unmounting the rootfs after use: {e}");
        }
        out
    })
    .await?
}

async fn run_live<T: Send + 'static>(dir: std::path::PathBuf, c: &Container, view: View, f: impl FnOnce(OwnedFd) -> T + Send + 'static) -> ApiResult<T> {
    let path = match view {
        View::Live => std::path::PathBuf::from(format!("/proc/{}/root", c.state.pid)),
        View::Rootfs => dir.join("merged"),
    };
    let id = c.id.clone();
    tokio::task::spawn_blocking(move || {
        let root = open_dir(&path).map_err(|e| ApiError::internal(format!("opening the root of container {id}: {e}")))?;
        Ok(f(root))
    })
    .await?
}

fn mount_stopped(state: &AppState, c: &Container, dirs: &SnapshotDirs) -> ApiResult<()> {
    let image_id: berth_image::Digest = c.image_id.parse().map_err(|e| ApiError::internal(format!("image id {}: {e}", c.image_id)))?;
    let img = state.images.get(&image_id).map_err(|e| ApiError::internal(format!("the image of this container ({}) is gone: {e}", c.image)))?;
    // A mount left behind by a crash would make the new one fail: clear it first.
    let _ = snapshot::unmount(&dirs.merged);
    snapshot::mount_overlay(state.images.layers(), &img.chain_ids, dirs).map_err(|e| ApiError::internal(e.to_string()))
}

/// The container's lower dirs, top layer first (for diff and commit).
pub fn lowers(state: &AppState, c: &Container) -> ApiResult<Vec<std::path::PathBuf>> {
    let image_id: berth_image::Digest = c.image_id.parse().map_err(|e| ApiError::internal(format!("image id {}: {e}", c.image_id)))?;
    let img = state.images.get(&image_id)?;
    Ok(img.chain_ids.iter().rev().map(|ch| state.images.layers().diff_dir(ch)).collect())
}
