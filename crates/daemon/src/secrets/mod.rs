//! Secrets (`/secrets`, `berth secret`): small values kept encrypted at rest in
//! berth.db's `secrets` table and handed to containers as files on a private tmpfs
//! (see [`crate::containers::secret_mounts`]). Only berthd ever sees a value in clear,
//! and only in memory: the API never returns it.

mod key;
mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use key::Key;
use store::{Row, Table};

/// Docker's (swarmkit's MaxSecretSize) limit: a value must be shorter than this.
pub const MAX_SIZE: usize = 500 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
}

/// A secret without its value: what the API shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339, nanoseconds, UTC.
    pub created: String,
    pub updated: String,
    pub version: i64,
}

/// A change asked of a stored secret (`POST /secrets/{id}/update`).
pub struct Update {
    /// The version the client read; a different current one is refused.
    pub version: i64,
    /// Must be the current name.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// As Docker: absent, or equal to the current value (so a client can send back
    /// the spec it created).
    pub data: Option<Vec<u8>>,
    /// berth's own: `data` replaces the value (compose uses it when a secret's file
    /// changed; containers see the new value at their next start).
    pub replace_data: bool,
}

pub struct SecretStore {
    table: Table,
    /// `<data-root>/secrets`, where the key lives.
    dir: PathBuf,
    /// Loaded (or made) on first use, so a daemon that never stores a secret has no key.
    key: Mutex<Option<Arc<Key>>>,
}

/// Docker's name rule (swarmkit's validateConfigOrSecretAnnotations).
pub fn validate_name(name: &str) -> Result<(), SecretError> {
    if name.is_empty() {
        return Err(SecretError::Invalid("name must be provided".into()));
    }
    let inner_ok = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b);
    let bytes = name.as_bytes();
    let ok = bytes.len() <= 64 && bytes[0].is_ascii_alphanumeric() && bytes[bytes.len() - 1].is_ascii_alphanumeric() && bytes.iter().all(|b| inner_ok(*b));
    if !ok {
        return Err(SecretError::Invalid(format!("invalid name {name:?}: only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]")));
    }
    Ok(())
}

pub fn validate_data(data: &[u8]) -> Result<(), SecretError> {
    if data.is_empty() || data.len() >= MAX_SIZE {
        return Err(SecretError::Invalid(format!("secret data must be larger than 0 and less than {MAX_SIZE} bytes (this one is {} bytes)", data.len())));
    }
    Ok(())
}

/// A new id in swarmkit's shape: a random 128-bit number in base 36, 25 digits.
fn new_id() -> Result<String, SecretError> {
    let mut b = [0u8; 16];
    key::random(&mut b)?;
    let mut n = u128::from_le_bytes(b);
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; 25];
    for slot in out.iter_mut().rev() {
        *slot = digits[(n % 36) as usize];
        n /= 36;
    }
    Ok(String::from_utf8(out).expect("ascii digits"))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Equal without an early exit, so comparing a guess takes as long as it is wrong.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl SecretStore {
    pub fn open(data_root: &Path, db: &Path) -> anyhow::Result<SecretStore> {
        Ok(SecretStore { table: Table::open(db)?, dir: data_root.join("secrets"), key: Mutex::new(None) })
    }

    fn key(&self) -> Result<Arc<Key>, SecretError> {
        let mut k = self.key.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = &*k {
            return Ok(k.clone());
        }
        let loaded = Arc::new(Key::load_or_create(&self.dir)?);
        *k = Some(loaded.clone());
        Ok(loaded)
    }

    pub fn create(&self, name: &str, labels: BTreeMap<String, String>, data: &[u8]) -> Result<Secret, SecretError> {
        validate_name(name)?;
        validate_data(data)?;
        let id = new_id()?;
        let (nonce, sealed) = self.key()?.seal(&id, data)?;
        let t = now();
        let s = Secret { id, name: name.to_owned(), labels, created: t.clone(), updated: t, version: 1 };
        self.table.insert(s, &nonce, &sealed)
    }

    pub fn list(&self) -> Result<Vec<Secret>, SecretError> {
        Ok(self.table.all()?.into_iter().map(|r| r.secret).collect())
    }

    /// The secret a user's word names: its id, its name, or a unique id prefix
    /// (Docker's order).
    pub fn find(&self, word: &str) -> Result<Secret, SecretError> {
        let all = self.list()?;
        if let Some(s) = all.iter().find(|s| s.id == word).or_else(|| all.iter().find(|s| s.name == word)) {
            return Ok(s.clone());
        }
        let hits: Vec<&Secret> = if word.is_empty() { vec![] } else { all.iter().filter(|s| s.id.starts_with(word)).collect() };
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(SecretError::NotFound(word.to_owned())),
            many => Err(SecretError::Invalid(format!("secret {word} is ambiguous ({} matches found)", many.len()))),
        }
    }

    pub fn remove(&self, id: &str) -> Result<(), SecretError> {
        self.table.delete(id)
    }

    /// The value of secret `id`, in clear (wiped from memory when dropped).
    pub fn value(&self, id: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let Row { secret, nonce, sealed } = self.table.get(id)?;
        self.key()?.open(&secret.id, &nonce, &sealed)
    }

    pub fn update(&self, id: &str, u: Update) -> Result<Secret, SecretError> {
        let row = self.table.get(id)?;
        let cur = &row.secret;
        if u.version != cur.version {
            return Err(SecretError::Conflict(format!("update out of sequence: secret {} is at version {}, not {}", cur.name, cur.version, u.version)));
        }
        if u.name != cur.name {
            return Err(SecretError::Invalid("only updates to Labels are allowed".into()));
        }
        let mut sealed = None;
        if let Some(data) = &u.data {
            if u.replace_data {
                validate_data(data)?;
                sealed = Some(self.key()?.seal(&cur.id, data)?);
            } else {
                let current = self.key()?.open(&cur.id, &row.nonce, &row.sealed)?;
                if !same_bytes(&current, data) {
                    return Err(SecretError::Invalid("only updates to Labels are allowed".into()));
                }
            }
        }
        let next = Secret { labels: u.labels, updated: now(), version: cur.version + 1, ..cur.clone() };
        self.table.update(&next, cur.version, sealed.as_ref().map(|(n, s)| (n.as_slice(), s.as_slice())))?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SecretStore) {
        let tmp = tempfile::tempdir().unwrap();
        let s = SecretStore::open(tmp.path(), &tmp.path().join("berth.db")).unwrap();
        (tmp, s)
    }

    #[test]
    fn names_as_docker_checks_them() {
        for good in ["a", "db_password", "my-app.key", "A1", &"x".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "a b", "a/b", "é", &"x".repeat(65), "../x"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_look_like_swarmkit_ones() {
        let a = new_id().unwrap();
        assert_eq!(a.len(), 25);
        assert!(a.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        assert_ne!(a, new_id().unwrap());
    }

    #[test]
    fn create_find_value_remove() {
        let (tmp, st) = store();
        assert!(!tmp.path().join("secrets/key").exists(), "no key before the first secret");
        let s = st.create("db", [("team".to_string(), "a".to_string())].into(), b"s3cr3t-value").unwrap();
        assert!(tmp.path().join("secrets/key").exists());
        assert_eq!(st.find("db").unwrap(), s);
        assert_eq!(st.find(&s.id).unwrap().name, "db");
        assert_eq!(st.find(&s.id[..6]).unwrap().name, "db");
        assert!(matches!(st.find("nope"), Err(SecretError::NotFound(_))));
        assert_eq!(&*st.value(&s.id).unwrap(), b"s3cr3t-value");
        assert!(matches!(st.create("db", Default::default(), b"x"), Err(SecretError::Conflict(_))));
        st.remove(&s.id).unwrap();
        assert!(matches!(st.find("db"), Err(SecretError::NotFound(_))));
        assert!(matches!(st.remove(&s.id), Err(SecretError::NotFound(_))));
    }

    #[test]
    fn bad_values_are_refused_and_nothing_is_stored() {
        let (_tmp, st) = store();
        assert!(matches!(st.create("e", Default::default(), b""), Err(SecretError::Invalid(_))));
        let e = st.create("big", Default::default(), &vec![b'x'; MAX_SIZE]).unwrap_err();
        assert!(e.to_string().contains("less than 512000 bytes"), "{e}");
        assert!(st.create("ok", Default::default(), &vec![b'x'; MAX_SIZE - 1]).is_ok());
        assert!(matches!(st.create("bad name", Default::default(), b"x"), Err(SecretError::Invalid(_))));
        assert_eq!(st.list().unwrap().len(), 1);
    }

    #[test]
    fn updates_as_docker_allows_them() {
        let (_tmp, st) = store();
        let s = st.create("tok", Default::default(), b"one").unwrap();
        let up = |version, data: Option<&[u8]>, replace| Update { version, name: "tok".into(), labels: [("l".to_string(), "1".to_string())].into(), data: data.map(<[u8]>::to_vec), replace_data: replace };
        // The same value, or none, may come back with new labels.
        let s2 = st.update(&s.id, up(s.version, Some(b"one"), false)).unwrap();
        assert_eq!(s2.labels["l"], "1");
        assert!(s2.version > s.version);
        // A stale version, another value, another name: refused.
        assert!(matches!(st.update(&s.id, up(s.version, None, false)), Err(SecretError::Conflict(_))));
        assert!(st.update(&s.id, up(s2.version, Some(b"two"), false)).unwrap_err().to_string().contains("only updates to Labels"));
        assert!(st.update(&s.id, Update { name: "other".into(), ..up(s2.version, None, false) }).is_err());
        assert_eq!(&*st.value(&s.id).unwrap(), b"one");
        // berth's replace_data.
        let s3 = st.update(&s.id, up(s2.version, Some(b"two"), true)).unwrap();
        assert_eq!(&*st.value(&s.id).unwrap(), b"two");
        assert!(s3.version > s2.version);
    }
}
