//! The key secrets are sealed with: 256 random bits in `<data-root>/secrets/key`
//! (file 0600, directory 0700), made the first time a secret is stored. Each secret is
//! sealed with XChaCha20-Poly1305 under its own random 192-bit nonce, and its id as
//! associated data, so a sealed value copied onto another row does not open.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::SecretError;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 24;

pub struct Key {
    cipher: XChaCha20Poly1305,
}

fn internal(what: String, e: impl std::fmt::Display) -> SecretError {
    SecretError::Internal(format!("{what}: {e}"))
}

pub fn random(buf: &mut [u8]) -> Result<(), SecretError> {
    getrandom::fill(buf).map_err(|e| internal("reading random bytes".into(), e))
}

impl Key {
    /// The key in `dir/key`, made (with `dir`) when there is none yet.
    pub fn load_or_create(dir: &Path) -> Result<Key, SecretError> {
        let path = dir.join("key");
        let bytes = match std::fs::read(&path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(dir, &path)?,
            Err(e) => return Err(internal(format!("reading the secrets key {}", path.display()), e)),
        };
        if bytes.len() != KEY_LEN {
            return Err(SecretError::Internal(format!("the secrets key {} is {} bytes long, not {KEY_LEN}: it is damaged, and the stored secrets cannot be read without it", path.display(), bytes.len())));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|e| internal("loading the secrets key".into(), e))?;
        Ok(Key { cipher })
    }

    /// (nonce, ciphertext with its tag) of `plain`, bound to `id`.
    pub fn seal(&self, id: &str, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let sealed = self.cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: id.as_bytes() }).map_err(|_| SecretError::Internal("encrypting the secret failed".into()))?;
        Ok((nonce.to_vec(), sealed))
    }

    pub fn open(&self, id: &str, nonce: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        if nonce.len() != NONCE_LEN {
            return Err(SecretError::Internal(format!("the stored secret {id} is damaged (nonce of {} bytes)", nonce.len())));
        }
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: id.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Internal(format!("the stored secret {id} cannot be decrypted: it was damaged, or the secrets key was replaced")))
    }
}

/// Writes a new random key: aside, synced, then renamed into place, so a crash never
/// leaves a short key that would make every secret unreadable.
fn create(dir: &Path, path: &Path) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| internal(format!("creating {}", dir.display()), e))?;
    // The mode given to mkdir is masked by the umask; this one is not.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| internal(format!("securing {}", dir.display()), e))?;
    let mut key = Zeroizing::new(vec![0u8; KEY_LEN]);
    random(&mut key)?;
    let tmp: PathBuf = dir.join("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(&key)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        internal(format!("writing the secrets key {}", path.display()), e)
    })?;
    tracing::info!("made a new secrets key in {}", path.display());
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn key_is_made_private_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("secrets");
        let k1 = Key::load_or_create(&dir).unwrap();
        assert_eq!(std::fs::metadata(dir.join("key")).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let (nonce, sealed) = k1.seal("id1", b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        let k2 = Key::load_or_create(&dir).unwrap();
        assert_eq!(&*k2.open("id1", &nonce, &sealed).unwrap(), b"hunter2");
        // Bound to its id, and tamper-evident.
        assert!(k2.open("id2", &nonce, &sealed).is_err());
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert!(k2.open("id1", &nonce, &bad).is_err());
        // Two seals of one value differ (random nonces).
        assert_ne!(k1.seal("id1", b"hunter2").unwrap().1, sealed);
    }

    #[test]
    fn a_damaged_key_is_an_error_not_a_new_key() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("key"), b"short").unwrap();
        let e = Key::load_or_create(tmp.path()).err().unwrap();
        assert!(e.to_string().contains("damaged"), "{e}");
        assert_eq!(std::fs::read(tmp.path().join("key")).unwrap(), b"short");
    }
}
