//! The exit record, `<dir>/exit.json`, written before anyone is told: berthd may be
//! down and read it when it comes back.

use std::path::Path;

use crate::protocol::{ExitStatus, EXIT_FILE};

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Docker's exit code: the code, or 128 + the signal.
pub fn exit_code(wait_status: libc::c_int) -> i32 {
    berth_runtime::sys::exit_code(wait_status)
}

/// Writes exit.json whole (temp file, rename), so a reader never sees half. No fsync:
/// the record is for a berthd that restarts while the host stays up (the directory is
/// under the exec root, a tmpfs on most hosts); a host crash takes the container
/// with it, and the fsync was a millisecond on every container's exit.
pub fn write(dir: &Path, status: &ExitStatus) -> std::io::Result<()> {
    let mut data = serde_json::to_vec(status).map_err(std::io::Error::other)?;
    data.push(b'\n');
    let tmp = dir.join(format!("{EXIT_FILE}.tmp"));
    std::fs::write(&tmp, &data)?;
    std::fs::rename(&tmp, dir.join(EXIT_FILE))
}
