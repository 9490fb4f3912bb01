//! The `secrets` table of berth.db: one row per secret, its value only as the
//! ciphertext and nonce made by [`super::key`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension};

use super::{Secret, SecretError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS secrets (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    labels  TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    version INTEGER NOT NULL,
    nonce   BLOB NOT NULL,
    sealed  BLOB NOT NULL
);
";

pub struct Row {
    pub secret: Secret,
    pub nonce: Vec<u8>,
    pub sealed: Vec<u8>,
}

pub struct Table {
    db: Mutex<Connection>,
}

fn db_err(e: impl std::fmt::Display) -> SecretError {
    SecretError::Internal(format!("secrets table: {e}"))
}

const COLUMNS: &str = "id, name, labels, created, updated, version, nonce, sealed";

fn row(r: &rusqlite::Row) -> rusqlite::Result<(Secret, String, Vec<u8>, Vec<u8>)> {
    let s = Secret { id: r.get(0)?, name: r.get(1)?, labels: BTreeMap::new(), created: r.get(3)?, updated: r.get(4)?, version: r.get(5)? };
    Ok((s, r.get(2)?, r.get(6)?, r.get(7)?))
}

fn finish((mut s, labels, nonce, sealed): (Secret, String, Vec<u8>, Vec<u8>)) -> Row {
    s.labels = serde_json::from_str(&labels).unwrap_or_else(|e| {
        tracing::warn!(secret = %s.id, "unreadable labels: {e}");
        BTreeMap::new()
    });
    Row { secret: s, nonce, sealed }
}

impl Table {
    pub fn open(path: &Path) -> anyhow::Result<Table> {
        let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.execute_batch(SCHEMA).context("creating the secrets table")?;
        Ok(Table { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a secret; a taken name is Docker's conflict.
    pub fn insert(&self, s: Secret, nonce: &[u8], sealed: &[u8]) -> Result<Secret, SecretError> {
        let labels = serde_json::to_string(&s.labels).map_err(db_err)?;
        let db = self.db();
        let taken: Option<String> = db.query_row("SELECT id FROM secrets WHERE name = ?1", params![s.name], |r| r.get(0)).optional().map_err(db_err)?;
        if taken.is_some() {
            return Err(SecretError::Conflict(format!("secret {} already exists", s.name)));
        }
        db.prepare_cached(&format!("INSERT INTO secrets ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"))
            .and_then(|mut st| st.execute(params![s.id, s.name, labels, s.created, s.updated, s.version, nonce, sealed]))
            .map_err(db_err)?;
        Ok(s)
    }

    pub fn all(&self) -> Result<Vec<Row>, SecretError> {
        let db = self.db();
        let mut st = db.prepare_cached(&format!("SELECT {COLUMNS} FROM secrets")).map_err(db_err)?;
        let rows = st.query_map([], row).map_err(db_err)?;
        rows.map(|r| r.map(finish).map_err(db_err)).collect()
    }

    pub fn get(&self, id: &str) -> Result<Row, SecretError> {
        let db = self.db();
        let found = db.query_row(&format!("SELECT {COLUMNS} FROM secrets WHERE id = ?1"), params![id], row).optional().map_err(db_err)?;
        found.map(finish).ok_or_else(|| SecretError::NotFound(id.to_owned()))
    }

    pub fn delete(&self, id: &str) -> Result<(), SecretError> {
        let n = self.db().execute("DELETE FROM secrets WHERE id = ?1", params![id]).map_err(db_err)?;
        if n == 0 {
            return Err(SecretError::NotFound(id.to_owned()));
        }
        Ok(())
    }

    /// Writes labels, version and time (and a new sealed value) if the row is still at
    /// `expected` version: two updates from one read cannot both win.
    pub fn update(&self, s: &Secret, expected: i64, sealed: Option<(&[u8], &[u8])>) -> Result<(), SecretError> {
        let labels = serde_json::to_string(&s.labels).map_err(db_err)?;
        let db = self.db();
        let n = match sealed {
            None => db.execute("UPDATE secrets SET labels = ?2, updated = ?3, version = ?4 WHERE id = ?1 AND version = ?5", params![s.id, labels, s.updated, s.version, expected]),
            Some((nonce, sealed)) => db.execute(
                "UPDATE secrets SET labels = ?2, updated = ?3, version = ?4, nonce = ?6, sealed = ?7 WHERE id = ?1 AND version = ?5",
                params![s.id, labels, s.updated, s.version, expected, nonce, sealed],
            ),
        }
        .map_err(db_err)?;
        if n == 0 {
            return Err(SecretError::Conflict(format!("update out of sequence: secret {} changed meanwhile", s.name)));
        }
        Ok(())
    }
}
