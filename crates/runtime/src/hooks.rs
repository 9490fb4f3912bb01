//! OCI hooks: run with the container state as JSON on stdin, bounded by their timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

pub fn run_all(hooks: &Option<Vec<Hook>>, stage: &str, state_json: &str) -> Result<()> {
    for h in hooks.iter().flatten() {
        run(h, stage, state_json)?;
    }
    Ok(())
}

pub fn run(hook: &Hook, stage: &str, state_json: &str) -> Result<()> {
    let path = hook.path();
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(path);
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::inherit()).stderr(Stdio::piped());
    let fail = |msg: String| Error::other(format!("{stage} hook {}: {msg}", path.display()));
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin; EPIPE is not its failure.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = hook.timeout().filter(|t| *t > 0).map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        if let Some(status) = child.try_wait().map_err(|e| fail(e.to_string()))? {
            if status.success() {
                return Ok(());
            }
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                use std::io::Read;
                let _ = s.read_to_string(&mut err);
            }
            return Err(fail(format!("{status}{}{}", if err.is_empty() { "" } else { ": " }, err.trim())));
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("timed out after {}s", hook.timeout().unwrap_or(0))));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
