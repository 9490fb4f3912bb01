//! The `containers` table of berth.db: one row per container, its record as JSON.
//! Rows are small and written on every state change; WAL with synchronous=NORMAL keeps
//! that cheap (container state is rebuilt from the shims after a crash anyway).

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};
use rusqlite::{params, Connection};

use super::record::Container;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data TEXT NOT NULL
);
";

pub struct Store {
    db: Mutex<Connection>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.execute_batch(SCHEMA).context("creating the containers table")?;
        Ok(Store { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn save(&self, c: &Container) -> Result<()> {
        let data = serde_json::to_string(c)?;
        let db = self.db();
        let mut st = db.prepare_cached("INSERT INTO containers (id, name, data) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET name = excluded.name, data = excluded.data")?;
        st.execute(params![c.id, c.name, data]).with_context(|| format!("saving container {}", c.id))?;
        Ok(())
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        let db = self.db();
        db.prepare_cached("DELETE FROM containers WHERE id = ?1")?.execute(params![id])?;
        Ok(())
    }

    /// Every container; rows that no longer parse are skipped with a warning rather than
    /// keeping the daemon from starting.
    pub fn load_all(&self) -> Result<Vec<Container>> {
        let db = self.db();
        let mut st = db.prepare("SELECT id, data FROM containers")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, data) = row?;
            match serde_json::from_str::<Container>(&data) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!(container = %id, "skipping unreadable container record: {e}"),
            }
        }
        Ok(out)
    }
}
