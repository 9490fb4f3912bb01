//! Small filesystem helpers shared by the stores: unique temp names, directory fsync,
//! atomic file replacement.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Random lowercase letters and digits, for temp names and short layer links.
pub(crate) fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        // SAFETY: getrandom writes at most `len - filled` bytes into the live buffer.
        let n = unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), len - filled, 0) };
        if n > 0 {
            filled += n as usize;
        } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // Not reachable on Linux ≥ 3.17; fall back to time and pid so we still make
            // progress rather than spin.
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let seed = t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32) ^ filled as u64;
            buf[filled] = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8;
            filled += 1;
        }
    }
    buf.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// fsyncs a directory so a rename or create inside it survives a crash.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).ctx("fsync", dir)
}

/// Writes `data` to `path` through a temp file in the same directory and a rename.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-{}", random_id(12)));
    let res = (|| {
        let mut f = File::create(&tmp).ctx("create", &tmp)?;
        f.write_all(data).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        fs::rename(&tmp, path).ctx("rename", path)?;
        fsync_dir(dir)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}
