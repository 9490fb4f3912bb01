//! What every handler shares: the image store and the daemon's identity.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use berth_image::ImageStore;

pub struct State {
    pub images: ImageStore,
    pub data_root: PathBuf,
    /// A stable engine id (Docker's `ID` in /info), kept in `<data-root>/engine-id`.
    pub engine_id: String,
    pub debug: bool,
}

pub type AppState = Arc<State>;

impl State {
    pub fn open(data_root: &Path, debug: bool) -> Result<State> {
        std::fs::create_dir_all(data_root).with_context(|| format!("creating data root {}", data_root.display()))?;
        let images = ImageStore::open(data_root, &data_root.join("berth.db")).with_context(|| format!("opening the image store in {}", data_root.display()))?;
        let engine_id = engine_id(data_root)?;
        Ok(State { images, data_root: data_root.to_owned(), engine_id, debug })
    }
}

/// Reads the engine id, making a random UUID-shaped one on first start.
fn engine_id(data_root: &Path) -> Result<String> {
    let path = data_root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_owned());
        }
    }
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).context("reading /dev/urandom")?;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let id = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &id).and_then(|()| std::fs::rename(&tmp, &path)).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}
