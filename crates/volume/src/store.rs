//! The volume store: records in berth.db's `volumes` table, data under
//! `<data-root>/volumes/<name>/_data`, and which users (containers) hold each volume
//! mounted, so that a volume with driver options is mounted once while in use.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::{name, options};

/// The label Docker 23+ puts on anonymous volumes; `volume prune` without `--all`
/// removes only volumes that carry it.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
";

/// One volume as `volume inspect` shows it (Mountpoint is derived from the root).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// RFC 3339, seconds, local offset as dockerd prints it.
    pub created_at: String,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// What `create` is asked for.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// None: an anonymous volume with a random name.
    pub name: Option<String>,
    /// Empty or "local".
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

pub struct VolumeStore {
    db: Mutex<Connection>,
    root: PathBuf,
    /// Users (container ids) holding each volume mounted.
    users: Mutex<HashMap<String, HashSet<String>>>,
}

impl VolumeStore {
    /// Opens (creating) the store: records in the SQLite file `db_path`, data under
    /// `root` (`<data-root>/volumes`).
    pub fn open(root: &Path, db_path: &Path) -> Result<VolumeStore> {
        std::fs::create_dir_all(root).ctx("creating", root)?;
        let db = Connection::open(db_path)?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.execute_batch(SCHEMA)?;
        Ok(VolumeStore { db: Mutex::new(db), root: root.to_owned(), users: Mutex::new(HashMap::new()) })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn users(&self) -> MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<name>/_data`, where the volume's files are (and where a container's
    /// bind mount comes from).
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// Creates a volume, or returns the existing one of that name (Docker's create is
    /// idempotent) — unless the existing one has another driver. Returns whether it
    /// was made now. Validates everything before writing anything; a failure after the
    /// directory was made removes it again.
    pub fn create(&self, req: CreateOptions) -> Result<(Volume, bool)> {
        let driver = if req.driver.is_empty() { "local".to_owned() } else { req.driver.clone() };
        if driver != "local" {
            return Err(Error::UnknownDriver(driver));
        }
        let (vol_name, labels) = match &req.name {
            Some(n) if !n.is_empty() => (n.clone(), req.labels.clone()),
            _ => {
                let mut l = req.labels.clone();
                l.insert(ANONYMOUS_LABEL.into(), String::new());
                (name::random(), l)
            }
        };
        name::validate(&vol_name)?;
        options::validate(&req.options)?;
        if let Some(existing) = self.get_opt(&vol_name)? {
            return Ok((existing, false));
        }
        let data = self.mountpoint(&vol_name);
        std::fs::create_dir_all(&data).ctx("creating", &data)?;
        let v = Volume {
            name: vol_name.clone(),
            driver,
            labels,
            options: req.options,
            created_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let json = serde_json::to_string(&v).map_err(|e| Error::Archive(e.to_string()))?;
        let inserted = self.db().execute("INSERT INTO volumes (name, data) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING", params![vol_name, json]);
        match inserted {
            Ok(1) => Ok((v, true)),
            // Another create of the same name won the race: that one stands.
            Ok(_) => Ok((self.get(&vol_name)?, false)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(self.root.join(&vol_name));
                Err(e.into())
            }
        }
    }

    fn get_opt(&self, name: &str) -> Result<Option<Volume>> {
        let data: Option<String> = self.db().query_row("SELECT data FROM volumes WHERE name = ?1", params![name], |r| r.get(0)).optional()?;
        data.map(|d| serde_json::from_str(&d).map_err(|e| Error::Archive(format!("volume {name}: unreadable record: {e}")))).transpose()
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        self.get_opt(name)?.ok_or_else(|| Error::NotFound(name.to_owned()))
    }

    pub fn list(&self) -> Result<Vec<Volume>> {
        let db = self.db();
        let mut st = db.prepare("SELECT name, data FROM volumes ORDER BY name")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (n, d) = row?;
            match serde_json::from_str(&d) {
                Ok(v) => out.push(v),
                Err(e) => tracing::warn!(volume = %n, "skipping unreadable volume record: {e}"),
            }
        }
        Ok(out)
    }

    /// Removes a volume and its data. `in_use` are the containers that reference it
    /// (the caller knows them); a volume in use is never removed.
    pub fn remove(&self, name: &str, in_use: &[String]) -> Result<()> {
        let v = self.get(name)?;
        let mounted_by: Vec<String> = self.users().get(name).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        let mut users: Vec<String> = in_use.iter().cloned().chain(mounted_by).collect();
        users.sort();
        users.dedup();
        if !users.is_empty() {
            return Err(Error::InUse { name: name.to_owned(), users: users.join(", ") });
        }
        let data = self.mountpoint(name);
        if options::needs_mount(&v.options) || options::is_mounted(&data) {
            options::unmount(&data)?;
        }
        // The record goes first: a crash in between leaves an orphan directory (cleaned
        // by `prune_orphans`), never a record without its data.
        self.db().execute("DELETE FROM volumes WHERE name = ?1", params![name])?;
        let dir = self.root.join(name);
        if options::is_mounted(&data) {
            // Never recurse into a device that is still mounted.
            return Err(Error::io("removing", dir, std::io::Error::from_raw_os_error(libc::EBUSY)));
        }
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(Error::io("removing", dir, e));
            }
        }
        Ok(())
    }

    /// Marks `user` as using the volume, mounting its device first if it has one and
    /// is not mounted yet. Returns the host path to bind into the container.
    pub fn acquire(&self, name: &str, user: &str) -> Result<PathBuf> {
        let v = self.get(name)?;
        let data = self.mountpoint(name);
        std::fs::create_dir_all(&data).ctx("creating", &data)?;
        let mut users = self.users();
        let set = users.entry(name.to_owned()).or_default();
        if options::needs_mount(&v.options) && !options::is_mounted(&data) {
            options::mount(&v.options, &data)?;
        }
        set.insert(user.to_owned());
        Ok(data)
    }

    /// `user` no longer uses the volume; the last user out unmounts its device.
    pub fn release(&self, name: &str, user: &str) {
        let mut users = self.users();
        let Some(set) = users.get_mut(name) else { return };
        set.remove(user);
        if !set.is_empty() {
            return;
        }
        users.remove(name);
        if let Ok(v) = self.get(name) {
            if options::needs_mount(&v.options) {
                if let Err(e) = options::unmount(&self.mountpoint(name)) {
                    tracing::warn!(volume = name, "unmounting: {e}");
                }
            }
        }
    }

    /// Containers holding the volume mounted now.
    pub fn users_of(&self, name: &str) -> Vec<String> {
        self.users().get(name).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Removes directories under the root that have no record (left by a crash between
    /// the record's deletion and the directory's).
    pub fn prune_orphans(&self) -> Result<()> {
        let known: HashSet<String> = self.list()?.into_iter().map(|v| v.name).collect();
        let Ok(rd) = std::fs::read_dir(&self.root) else { return Ok(()) };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if !known.contains(&n) && name::validate(&n).is_ok() {
                let data = e.path().join("_data");
                if options::is_mounted(&data) {
                    continue;
                }
                tracing::info!(volume = %n, "removing the directory of a volume that has no record");
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, VolumeStore) {
        let d = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(&d.path().join("volumes"), &d.path().join("berth.db")).unwrap();
        (d, s)
    }

    fn named(n: &str) -> CreateOptions {
        CreateOptions { name: Some(n.into()), ..Default::default() }
    }

    #[test]
    fn create_is_idempotent_and_persistent() {
        let (d, s) = store();
        let mut req = named("data");
        req.labels.insert("team".into(), "db".into());
        let (v, made) = s.create(req).unwrap();
        assert!(made);
        assert_eq!(v.driver, "local");
        assert!(!v.anonymous());
        assert!(s.mountpoint("data").is_dir());
        std::fs::write(s.mountpoint("data").join("f"), "x").unwrap();
        let (again, made) = s.create(named("data")).unwrap();
        assert!(!made);
        assert_eq!(again, v, "an existing volume is returned as it is");
        drop(s);
        let s = VolumeStore::open(&d.path().join("volumes"), &d.path().join("berth.db")).unwrap();
        assert_eq!(s.get("data").unwrap(), v);
        assert_eq!(std::fs::read_to_string(s.mountpoint("data").join("f")).unwrap(), "x");
    }

    #[test]
    fn anonymous_volumes_get_a_random_name_and_the_label() {
        let (_d, s) = store();
        let (a, _) = s.create(CreateOptions::default()).unwrap();
        let (b, _) = s.create(CreateOptions::default()).unwrap();
        assert_eq!(a.name.len(), 64);
        assert_ne!(a.name, b.name);
        assert!(a.anonymous() && b.anonymous());
    }

    #[test]
    fn bad_input_creates_nothing() {
        let (d, s) = store();
        assert!(matches!(s.create(named("a/b")), Err(Error::InvalidName(_))));
        let mut o = named("opts");
        o.options.insert("bogus".into(), "1".into());
        assert!(matches!(s.create(o), Err(Error::InvalidOption(_))));
        let mut drv = named("drv");
        drv.driver = "nfs-plugin".into();
        assert!(matches!(s.create(drv), Err(Error::UnknownDriver(_))));
        assert!(s.list().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(d.path().join("volumes")).unwrap().count(), 0);
    }

    #[test]
    fn in_use_volumes_are_never_removed() {
        let (_d, s) = store();
        s.create(named("keep")).unwrap();
        let e = s.remove("keep", &["c1".into()]).unwrap_err().to_string();
        assert_eq!(e, "remove keep: volume is in use - [c1]");
        s.acquire("keep", "c2").unwrap();
        assert!(s.remove("keep", &[]).is_err());
        s.release("keep", "c2");
        s.remove("keep", &[]).unwrap();
        assert!(matches!(s.get("keep"), Err(Error::NotFound(_))));
        assert!(!s.mountpoint("keep").exists());
        assert_eq!(s.remove("keep", &[]).unwrap_err().to_string(), "get keep: no such volume");
    }

    #[test]
    fn tmpfs_volume_is_mounted_while_used() {
        let (_d, s) = store();
        let mut req = named("scratch");
        for (k, v) in [("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m,mode=0750")] {
            req.options.insert(k.into(), v.into());
        }
        s.create(req).unwrap();
        let p = s.acquire("scratch", "a").unwrap();
        s.acquire("scratch", "b").unwrap();
        assert!(options::is_mounted(&p));
        let st = nix::sys::statfs::statfs(&p).unwrap();
        assert_eq!(st.filesystem_type(), nix::sys::statfs::TMPFS_MAGIC);
        s.release("scratch", "a");
        assert!(options::is_mounted(&p), "still used by b");
        s.release("scratch", "b");
        assert!(!options::is_mounted(&p));
        s.remove("scratch", &[]).unwrap();
    }

    #[test]
    fn bind_volume_shows_the_device_directory() {
        let (d, s) = store();
        let dev = d.path().join("device");
        std::fs::create_dir(&dev).unwrap();
        std::fs::write(dev.join("hello"), "hi").unwrap();
        let mut req = named("bound");
        for (k, v) in [("type", "none"), ("device", dev.to_str().unwrap()), ("o", "bind,ro")] {
            req.options.insert(k.into(), v.into());
        }
        s.create(req).unwrap();
        let p = s.acquire("bound", "c").unwrap();
        assert_eq!(std::fs::read_to_string(p.join("hello")).unwrap(), "hi");
        let e = std::fs::write(p.join("new"), "x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS));
        s.release("bound", "c");
        s.remove("bound", &[]).unwrap();
        assert_eq!(std::fs::read_to_string(dev.join("hello")).unwrap(), "hi", "removing the volume leaves the device alone");
    }
}
