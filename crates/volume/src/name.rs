//! Volume names: what the local driver accepts, and the random names of anonymous
//! volumes.

use crate::error::{Error, Result};

/// Docker's `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`: at least two characters, so that a name
/// can never be `.`/`..` or look like an option.
pub fn validate(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = b.len() >= 2 && b[0].is_ascii_alphanumeric() && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_owned()))
    }
}

/// A 64-hex-digit name for an anonymous volume, as Docker makes them.
pub fn random() -> String {
    let mut b = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_docker_accepts_them() {
        for ok in ["db", "my-vol_1.data", "0abc", &random()] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "-x", ".hidden", "a/b", "a:b", "with space", "../x", "ünï"] {
            let e = validate(bad).unwrap_err().to_string();
            assert!(e.contains("includes invalid characters for a local volume name"), "{bad}: {e}");
        }
    }
}
