//! Temporary overlay views the builder works in: an image's root with a fresh upper dir
//! (COPY/ADD write there, and the upper becomes the step's layer), a stage's or image's
//! root for `COPY --from` and `RUN --mount=type=bind,from=`, and a writable view of a
//! context directory whose writes are thrown away. Each is unmounted and deleted when
//! dropped.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use berth_image::snapshot::{self, SnapshotDirs};
use berth_image::Digest;

use crate::state::AppState;

pub struct Mounted {
    dir: PathBuf,
    pub dirs: SnapshotDirs,
}

impl Mounted {
    /// The image's layers (none for `scratch`) under a fresh upper dir, in `dir`.
    pub fn image(state: &AppState, image: Option<&Digest>, dir: PathBuf) -> Result<Mounted> {
        let chain = match image {
            Some(id) => state.images.get(id)?.chain_ids,
            None => Vec::new(),
        };
        let dirs = SnapshotDirs::create(&dir)?;
        let m = Mounted { dir, dirs };
        // Volatile: a build step's upper dir is read back as a layer or thrown away.
        snapshot::mount_overlay_mapped(state.images.layers(), &chain, &m.dirs, None, true)?;
        Ok(m)
    }

    /// A plain directory as the only lower layer: writes land in the upper and vanish.
    pub fn directory(lower: &Path, dir: PathBuf) -> Result<Mounted> {
        let dirs = SnapshotDirs::create(&dir)?;
        let m = Mounted { dir, dirs };
        let abs = |p: &Path| -> Result<String> {
            let s = std::fs::canonicalize(p)?.to_str().ok_or_else(|| anyhow!("path is not UTF-8"))?.to_owned();
            if s.contains([',', ':']) {
                bail!("overlay paths cannot contain ',' or ':': {s}");
            }
            Ok(s)
        };
        let data = format!("lowerdir={},upperdir={},workdir={}", abs(lower)?, abs(&m.dirs.upper)?, abs(&m.dirs.work)?);
        let target = CString::new(m.dirs.merged.as_os_str().as_encoded_bytes())?;
        let data = CString::new(data)?;
        // SAFETY: all pointers are valid NUL-terminated strings for the call.
        let r = unsafe { libc::mount(c"overlay".as_ptr(), target.as_ptr(), c"overlay".as_ptr(), 0, data.as_ptr().cast()) };
        if r != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("mounting an overlay of {}", lower.display()));
        }
        Ok(m)
    }

    pub fn root(&self) -> &Path {
        &self.dirs.merged
    }

    pub fn upper(&self) -> &Path {
        &self.dirs.upper
    }

    /// Unmounts now (before the upper dir is committed), keeping the directories.
    pub fn unmount(&self) -> Result<()> {
        snapshot::unmount(&self.dirs.merged)?;
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = snapshot::unmount(&self.dirs.merged) {
            tracing::warn!("unmounting build view {}: {e}", self.dirs.merged.display());
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!("removing build view {}: {e}", self.dir.display());
        }
    }
}
