//! The build cache: step cache key → the image that step produced, in berth.db's
//! `build_cache` table, so a rebuild after a berthd restart still hits. The images are
//! the image store's intermediate (hidden) images; an entry whose image is gone is a
//! miss and is dropped.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS build_cache (
    key        TEXT PRIMARY KEY,   -- berth_build::cache_key
    image_id   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used  INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS build_cache_by_image ON build_cache(image_id);
";

/// One cache record (`system df`'s BuildCache rows).
#[derive(Clone, Debug)]
pub struct Record {
    pub image_id: String,
    pub created_at: i64,
    pub last_used: i64,
    pub uses: i64,
}

pub struct BuildCache {
    db: Mutex<Connection>,
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64
}

impl BuildCache {
    pub fn open(db_path: &Path) -> Result<BuildCache> {
        let db = Connection::open(db_path).with_context(|| format!("opening {}", db_path.display()))?;
        db.busy_timeout(Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.execute_batch(SCHEMA).context("creating the build_cache table")?;
        Ok(BuildCache { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The image recorded for `key`, marking it used.
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        let db = self.db();
        let id: Option<String> = db.query_row("SELECT image_id FROM build_cache WHERE key = ?1", [key], |r| r.get(0)).optional()?;
        if id.is_some() {
            db.execute("UPDATE build_cache SET last_used = ?2, uses = uses + 1 WHERE key = ?1", params![key, now()])?;
        }
        Ok(id)
    }

    pub fn put(&self, key: &str, image_id: &str) -> Result<()> {
        let t = now();
        self.db().execute(
            "INSERT INTO build_cache (key, image_id, created_at, last_used) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id, last_used = excluded.last_used",
            params![key, image_id, t],
        )?;
        Ok(())
    }

    pub fn forget(&self, key: &str) -> Result<()> {
        self.db().execute("DELETE FROM build_cache WHERE key = ?1", [key])?;
        Ok(())
    }

    pub fn forget_image(&self, image_id: &str) -> Result<()> {
        self.db().execute("DELETE FROM build_cache WHERE image_id = ?1", [image_id])?;
        Ok(())
    }

    /// Forgets every record (`builder prune`).
    pub fn clear(&self) -> Result<()> {
        self.db().execute("DELETE FROM build_cache", [])?;
        Ok(())
    }

    pub fn all(&self) -> Result<Vec<Record>> {
        let db = self.db();
        let mut stmt = db.prepare("SELECT image_id, created_at, last_used, uses FROM build_cache ORDER BY created_at")?;
        let rows = stmt
            .query_map([], |r| Ok(Record { image_id: r.get(0)?, created_at: r.get(1)?, last_used: r.get(2)?, uses: r.get(3)? }))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopening() {
        let dir = tempfile_dir();
        let db = dir.join("berth.db");
        {
            let c = BuildCache::open(&db).unwrap();
            assert_eq!(c.get("k1").unwrap(), None);
            c.put("k1", "sha256:aa").unwrap();
            c.put("k1", "sha256:bb").unwrap();
        }
        let c = BuildCache::open(&db).unwrap();
        assert_eq!(c.get("k1").unwrap().as_deref(), Some("sha256:bb"));
        assert_eq!(c.all().unwrap()[0].uses, 1);
        c.forget_image("sha256:bb").unwrap();
        assert_eq!(c.get("k1").unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("berth-cache-test-{}-{}", std::process::id(), now()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
