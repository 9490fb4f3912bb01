//! Unpacked layers: `<root>/<chain-id hex>/diff`, one per chain id, shared by every image
//! whose layer stack starts with the same layers.
//!
//! Each layer directory holds `diff/` (the unpacked tree, an overlayfs lower dir),
//! `diff_id`, `parent` (chain id of the layer below, absent for a base layer) and `link`
//! (the short name of its `<root>/l/<link>` symlink, used to keep overlay mount options
//! short). A layer is unpacked into a temp dir and renamed into place whole.

mod confined;
pub mod decompress;
pub mod unpack;

pub(crate) use confined::{lgetxattr, llistxattr};

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::digest::{Algorithm, Digest};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{fsync_dir, random_id, write_atomic};
use crate::media_type::Compression;

/// Length of the random short names in `<root>/l/`: 10 base-36 characters keep one
/// lowerdir at 13 bytes (`l/xxxxxxxxxx:`), so more than 300 layers fit in the one page
/// mount(2) allows for options.
pub const SHORT_LINK_LEN: usize = 10;

/// The chain id of a layer: its diff id for a base layer, otherwise
/// `sha256(parent_chain_id + " " + diff_id)` (OCI image spec, config.md).
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => Digest::sha256_of(format!("{p} {diff_id}").as_bytes()),
    }
}

/// Chain ids of a whole stack of diff ids, base first.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let c = chain_id(out.last(), d);
        out.push(c);
    }
    out
}

/// A layer present in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// Size of the layer's uncompressed tar (what `docker history` shows).
    pub size: u64,
}

/// A layer unpacked into a temp dir of the store by [`LayerStore::unpack_detached`],
/// waiting for [`LayerStore::adopt`]; dropped unadopted, its temp dir is removed.
#[derive(Debug)]
pub struct Detached {
    tmp: Option<PathBuf>,
    /// sha256 of the uncompressed tar stream.
    pub diff_id: Digest,
    /// Size of the uncompressed tar stream.
    pub size: u64,
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(t) = self.tmp.take() {
            let _ = fs::remove_dir_all(t);
        }
    }
}

/// The store of unpacked layers under `<data-root>/layers`.
#[derive(Debug)]
pub struct LayerStore {
    root: PathBuf,
    link_lock: Mutex<()>,
}

const TEMP_PREFIX: &str = ".tmp-";
const DELETE_PREFIX: &str = ".del-";

impl LayerStore {
    /// Opens (creating if needed) the layer store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<LayerStore> {
        let root = root.into();
        fs::create_dir_all(root.join("l")).ctx("create", root.join("l"))?;
        Ok(LayerStore { root, link_lock: Mutex::new(()) })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the layer with `chain_id` (whether or not it exists).
    pub fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.root.join(chain_id.hex())
    }

    /// The unpacked tree of the layer (an overlay lower dir).
    pub fn diff_dir(&self, chain_id: &Digest) -> PathBuf {
        self.layer_dir(chain_id).join("diff")
    }

    /// Whether the layer is present (complete: layers appear by rename only).
    pub fn has(&self, chain_id: &Digest) -> bool {
        self.diff_dir(chain_id).is_dir()
    }

    /// Reads a present layer's record.
    pub fn get(&self, chain_id: &Digest) -> Result<Layer> {
        let dir = self.layer_dir(chain_id);
        let read = |name: &str| -> Result<Option<Digest>> {
            match fs::read_to_string(dir.join(name)) {
                Ok(s) => Ok(Some(Digest::parse(s.trim())?)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("read", dir.join(name), e)),
            }
        };
        if !self.has(chain_id) {
            return Err(Error::layer(chain_id, "not present in the layer store"));
        }
        let diff_id = read("diff_id")?.ok_or_else(|| Error::layer(chain_id, "diff_id file missing"))?;
        let size = fs::read_to_string(dir.join("size")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        Ok(Layer { chain_id: chain_id.clone(), diff_id, parent: read("parent")?, size })
    }

    /// Unpacks a layer blob on top of `parent` (chain id of the layer below, which must be
    /// present) and returns the new layer. With `expected_diff_id`, an already present
    /// layer is returned without reading `reader`, and a stream whose diff id differs is
    /// refused. `what` names the layer (e.g. its blob digest) in errors. Nothing is left
    /// behind on failure.
    pub fn unpack(
        &self,
        parent: Option<&Digest>,
        expected_diff_id: Option<&Digest>,
        reader: impl Read,
        compression: Option<Compression>,
        what: &str,
    ) -> Result<Layer> {
        if let Some(p) = parent {
            if !self.has(p) {
                return Err(Error::layer(what, format!("parent layer {p} is not present")));
            }
        }
        if let Some(d) = expected_diff_id {
            let chain = chain_id(parent, d);
            if self.has(&chain) {
                return self.get(&chain);
            }
        }
        let detached = self.unpack_detached(reader, compression, what)?;
        if let Some(want) = expected_diff_id {
            if &detached.diff_id != want {
                return Err(Error::DigestMismatch { what: format!("diff id of layer {what}"), expected: want.clone(), actual: detached.diff_id.clone() });
            }
        }
        self.adopt(detached, parent)
    }

    /// Unpacks a layer blob into a temp dir of the store, not yet a layer: an unpacked tree
    /// does not depend on the layers below it, so layers can be unpacked in any order (in
    /// parallel, or while the blob is still arriving) and placed in their chain by
    /// [`LayerStore::adopt`]. The temp dir goes when the [`Detached`] is dropped unadopted.
    pub fn unpack_detached(&self, reader: impl Read, compression: Option<Compression>, what: &str) -> Result<Detached> {
        self.detached(|diff| unpack::unpack(diff, reader, compression, what).map(|u| (u.diff_id, u.tar_size)))
    }

    /// [`LayerStore::unpack_detached`] of an uncompressed layer tar whose digest (its
    /// diff id) the caller computes anyway while storing the blob: the stream is not
    /// hashed twice. The caller sets [`Detached::diff_id`] before adopting it.
    pub fn unpack_detached_unhashed(&self, reader: impl Read, what: &str) -> Result<Detached> {
        self.detached(|diff| unpack::unpack_plain_unhashed(diff, reader, what).map(|size| (Digest::sha256_of(b""), size)))
    }

    fn detached(&self, unpack_into: impl FnOnce(&Path) -> Result<(Digest, u64)>) -> Result<Detached> {
        let tmp = self.root.join(format!("{TEMP_PREFIX}{}", random_id(16)));
        fs::create_dir(&tmp).ctx("create", &tmp)?;
        // From here the guard removes the temp dir on any failure.
        let mut d = Detached { tmp: Some(tmp.clone()), diff_id: Digest::sha256_of(b""), size: 0 };
        fs::create_dir(tmp.join("diff")).ctx("create", tmp.join("diff"))?;
        (d.diff_id, d.size) = unpack_into(&tmp.join("diff"))?;
        Ok(d)
    }

    /// Places a detached unpack on top of `parent` (which must be present): flushed to
    /// disk, then renamed into its chain id's directory in one step. If that layer
    /// appeared meanwhile, the present one is kept.
    pub fn adopt(&self, mut detached: Detached, parent: Option<&Digest>) -> Result<Layer> {
        if let Some(p) = parent {
            if !self.has(p) {
                return Err(Error::layer(&detached.diff_id, format!("parent layer {p} is not present")));
            }
        }
        let chain = chain_id(parent, &detached.diff_id);
        let layer = Layer { chain_id: chain.clone(), diff_id: detached.diff_id.clone(), parent: parent.cloned(), size: detached.size };
        if self.has(&chain) {
            return Ok(layer);
        }
        let tmp = detached.tmp.clone().expect("a detached unpack owns its temp dir until adopted");
        fs::write(tmp.join("diff_id"), detached.diff_id.to_string()).ctx("write", tmp.join("diff_id"))?;
        fs::write(tmp.join("size"), detached.size.to_string()).ctx("write", tmp.join("size"))?;
        if let Some(p) = parent {
            fs::write(tmp.join("parent"), p.to_string()).ctx("write", tmp.join("parent"))?;
        }
        syncfs(&tmp)?;
        let dest = self.layer_dir(&chain);
        match fs::rename(&tmp, &dest) {
            Ok(()) => {
                detached.tmp = None;
                fsync_dir(&self.root)?;
            }
            // Someone else unpacked the same chain meanwhile: theirs is as good (the drop
            // of `detached` removes ours).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {}
            Err(e) => return Err(Error::io("rename", dest, e)),
        }
        Ok(layer)
    }

    /// Every present layer's chain id.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).ctx("read dir", &self.root)? {
            let entry = entry.ctx("read dir", &self.root)?;
            if let Some(d) = entry.file_name().to_str().and_then(|n| Digest::new(Algorithm::Sha256, n).ok()) {
                if self.has(&d) {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The layer's short link, `l/<id>` relative to the store root, created on first use.
    pub fn short_link(&self, chain_id: &Digest) -> Result<String> {
        let _guard = self.link_lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.layer_dir(chain_id);
        if !self.has(chain_id) {
            return Err(Error::layer(chain_id, "not present in the layer store"));
        }
        let link_file = dir.join("link");
        if let Ok(id) = fs::read_to_string(&link_file) {
            let id = id.trim().to_owned();
            let link = self.root.join("l").join(&id);
            if fs::read_link(&link).is_err() {
                std::os::unix::fs::symlink(format!("../{}/diff", chain_id.hex()), &link).ctx("symlink", &link)?;
            }
            return Ok(format!("l/{id}"));
        }
        loop {
            let id = random_id(SHORT_LINK_LEN);
            let link = self.root.join("l").join(&id);
            match std::os::unix::fs::symlink(format!("../{}/diff", chain_id.hex()), &link) {
                Ok(()) => {
                    write_atomic(&link_file, id.as_bytes())?;
                    return Ok(format!("l/{id}"));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("symlink", link, e)),
            }
        }
    }

    /// Removes a layer (its short link first, then the directory, renamed away before the
    /// slow recursive delete so it never looks present but partial). Returns whether it
    /// existed. The caller makes sure no image or container uses it.
    pub fn remove(&self, chain_id: &Digest) -> Result<bool> {
        let dir = self.layer_dir(chain_id);
        if !dir.exists() {
            return Ok(false);
        }
        if let Ok(id) = fs::read_to_string(dir.join("link")) {
            let _ = fs::remove_file(self.root.join("l").join(id.trim()));
        }
        let doomed = self.root.join(format!("{DELETE_PREFIX}{}", random_id(16)));
        fs::rename(&dir, &doomed).ctx("rename", &dir)?;
        fs::remove_dir_all(&doomed).ctx("remove", &doomed)?;
        Ok(true)
    }

    /// Removes leftovers of interrupted unpacks and deletes and dangling short links.
    /// Call when no unpack is running (at daemon start).
    pub fn remove_stale(&self) -> Result<()> {
        for entry in fs::read_dir(&self.root).ctx("read dir", &self.root)? {
            let entry = entry.ctx("read dir", &self.root)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMP_PREFIX) || name.starts_with(DELETE_PREFIX) {
                fs::remove_dir_all(entry.path()).ctx("remove", entry.path())?;
            }
        }
        let l = self.root.join("l");
        for entry in fs::read_dir(&l).ctx("read dir", &l)? {
            let entry = entry.ctx("read dir", &l)?;
            if fs::metadata(entry.path()).is_err() {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

/// Flushes the filesystem holding `path`: one call instead of an fsync per file of a
/// freshly unpacked tree.
fn syncfs(path: &Path) -> Result<()> {
    let f = fs::File::open(path).ctx("open", path)?;
    // SAFETY: the fd is valid for the duration of the call.
    let r = unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&f)) };
    if r != 0 {
        return Err(Error::io("syncfs", path, io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// Helpers for other modules' tests.
#[cfg(test)]
pub(crate) mod tests_support {
    /// A plain tar of regular files `(path, content)`.
    pub(crate) fn tar_of(files: &[(String, String)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, c) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(c.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_600_000_000);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, p, c.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }
}
