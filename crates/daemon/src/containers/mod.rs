//! Containers: the records (SQLite), the in-memory registry every route works on, and
//! the pieces that turn a record into a running container under a berth-shim.

pub mod commit;
pub mod exec;
pub mod fs_access;
pub mod files;
pub mod health;
pub mod init;
pub mod lifecycle;
pub mod links;
pub mod logs;
pub mod mounts;
pub mod names;
pub mod networking;
pub mod record;
pub mod seccomp;
pub mod secret_mounts;
pub mod shim;
pub mod spec;
pub mod status;
pub mod store;
pub mod trash;
pub mod user;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Result;

use crate::error::ApiError;
use record::Container;

/// One container in memory. The record is behind a std mutex (held only to read or
/// change fields, never across an await); `op` serialises lifecycle operations
/// (start/stop/remove) so two of them never interleave.
pub struct Entry {
    rec: Mutex<Container>,
    /// Bumped on every state change; waiters (wait, logs -f, attach) watch it.
    pub changed: tokio::sync::watch::Sender<u64>,
    pub op: tokio::sync::Mutex<()>,
    /// Attach requests that arrived before the container started (docker run attaches
    /// first, then starts): connected to the shim between its creation and its start,
    /// so no output is lost.
    pub pending_attach: Mutex<Vec<shim::PendingAttach>>,
    /// Set once the container was removed: late handlers must not resurrect it.
    pub removed: std::sync::atomic::AtomicBool,
}

impl Entry {
    fn new(c: Container) -> Arc<Entry> {
        Arc::new(Entry {
            rec: Mutex::new(c),
            changed: tokio::sync::watch::channel(0).0,
            op: tokio::sync::Mutex::new(()),
            pending_attach: Mutex::new(Vec::new()),
            removed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Container> {
        self.rec.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the record.
    pub fn get(&self) -> Container {
        self.lock().clone()
    }

    pub fn id(&self) -> String {
        self.lock().id.clone()
    }

    pub fn notify(&self) {
        self.changed.send_modify(|g| *g += 1);
    }
}

/// All containers, by id, with Docker's lookup rules.
pub struct Registry {
    by_id: Mutex<HashMap<String, Arc<Entry>>>,
    store: store::Store,
    /// `<data-root>/containers`
    pub dir: PathBuf,
    /// `<data-root>/trash`: removed containers' directories on their way out.
    pub trash: trash::Trash,
}

impl Registry {
    pub fn open(data_root: &Path) -> Result<Registry> {
        let store = store::Store::open(&data_root.join("berth.db"))?;
        let dir = data_root.join("containers");
        std::fs::create_dir_all(&dir)?;
        let mut map = HashMap::new();
        for c in store.load_all()? {
            map.insert(c.id.clone(), Entry::new(c));
        }
        let trash = trash::Trash::open(data_root.join("trash"))?;
        Ok(Registry { by_id: Mutex::new(map), store, dir, trash })
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn all(&self) -> Vec<Arc<Entry>> {
        self.map().values().cloned().collect()
    }


    /// The container a user's word names: a full id, a name (with or without the
    /// slash), or a unique id prefix — Docker's order.
    pub fn find(&self, word: &str) -> Result<Arc<Entry>, ApiError> {
        let not_found = || ApiError::not_found(format!("No such container: {word}"));
        if word.is_empty() {
            return Err(not_found());
        }
        let map = self.map();
        if let Some(e) = map.get(word) {
            return Ok(e.clone());
        }
        let name = word.strip_prefix('/').unwrap_or(word);
        if let Some(e) = map.values().find(|e| e.lock().name == name) {
            return Ok(e.clone());
        }
        let mut hits = map.iter().filter(|(id, _)| id.starts_with(word));
        match (hits.next(), hits.next()) {
            (Some((_, e)), None) => Ok(e.clone()),
            (Some(_), Some(_)) => Err(ApiError::bad_request(format!("Multiple IDs found with provided prefix: {word}"))),
            _ => Err(not_found()),
        }
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Adds a new container, refusing a name in use (Docker's 409 wording).
    pub fn insert(&self, c: Container) -> Result<Arc<Entry>, ApiError> {
        let mut map = self.map();
        if let Some(other) = map.values().find(|e| e.lock().name == c.name) {
            let other_id = other.id();
            return Err(name_conflict(&c.name, &other_id));
        }
        self.store.save(&c).map_err(|e| ApiError::internal(format!("{e:#}")))?;
        let e = Entry::new(c.clone());
        map.insert(c.id.clone(), e.clone());
        Ok(e)
    }

    /// Renames under the registry lock, so two renames cannot take one name.
    pub fn rename(&self, entry: &Entry, new_name: &str) -> Result<(), ApiError> {
        let map = self.map();
        let id = entry.id();
        if let Some(other) = map.values().find(|e| e.lock().name == new_name) {
            let other_id = other.id();
            if other_id != id {
                return Err(name_conflict(new_name, &other_id));
            }
        }
        let mut rec = entry.lock();
        let old = std::mem::replace(&mut rec.name, new_name.to_owned());
        if let Err(e) = self.store.save(&rec) {
            rec.name = old;
            return Err(ApiError::internal(format!("{e:#}")));
        }
        Ok(())
    }

    pub fn name_taken(&self, name: &str) -> bool {
        self.map().values().any(|e| e.lock().name == name)
    }

    /// Persists the entry's record (after a change made through `lock()`), then wakes
    /// its watchers.
    pub fn save(&self, entry: &Entry) {
        if entry.removed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let c = entry.get();
        if let Err(e) = self.store.save(&c) {
            tracing::error!(container = %c.id, "saving container state: {e:#}");
        }
        entry.notify();
    }

    pub fn remove(&self, entry: &Entry) -> Result<()> {
        let id = entry.id();
        entry.removed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.map().remove(&id);
        self.store.delete(&id)?;
        entry.notify();
        Ok(())
    }
}

fn name_conflict(name: &str, id: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        format!("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."),
    )
}

/// A new 64-hex-digit id.
pub fn new_id() -> String {
    let mut b = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
