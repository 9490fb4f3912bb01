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

/// Writes exit.json whole (temp file, fsync, rename), so a reader never sees half.
pub fn write(dir: &Path, status: &ExitStatus) -> std::io::Result<()> {
    use std::io::Write;
    let data = serde_json::to_vec(status).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{EXIT_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&data)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(EXIT_FILE))
}
