//! `--init`: the init binary bind-mounted read-only at /sbin/docker-init (Docker's path,
//! so scripts that look for it find it) and put in front of the container's command.
//! berthd carries berth-init (crates/init) built statically into itself and writes it
//! under the exec root on first use; daemon.json `init-path` names another one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};

/// Where the init appears in the container, as in Docker.
pub const CONTAINER_PATH: &str = "/sbin/docker-init";

static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-init"));

/// The host path of the init binary: `configured` (daemon.json `init-path`) when set,
/// else the embedded berth-init, written once per daemon run to `<exec-root>/berth-init`
/// (written anew each run so an upgraded berthd never mounts a stale one; running
/// containers keep the inode they mounted).
pub fn host_path(exec_root: &Path, configured: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = configured {
        return Ok(p.to_owned());
    }
    static WRITTEN: OnceLock<PathBuf> = OnceLock::new();
    if let Some(p) = WRITTEN.get() {
        return Ok(p.clone());
    }
    let path = exec_root.join("berth-init");
    let tmp = exec_root.join(format!(".berth-init.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o755).open(&tmp)?;
        f.write_all(EMBEDDED)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing the init binary to {}", path.display()));
    }
    Ok(WRITTEN.get_or_init(|| path).clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_init_is_a_static_executable() {
        let elf = super::EMBEDDED;
        assert_eq!(&elf[..4], b"\x7fELF");
        // A static binary has no PT_INTERP program header (no dynamic loader needed).
        let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
        let phentsize = u16::from_le_bytes(elf[0x36..0x38].try_into().unwrap()) as usize;
        let phnum = u16::from_le_bytes(elf[0x38..0x3a].try_into().unwrap()) as usize;
        let types: Vec<u32> = (0..phnum).map(|i| u32::from_le_bytes(elf[phoff + i * phentsize..][..4].try_into().unwrap())).collect();
        assert!(!types.is_empty());
        assert!(!types.contains(&3), "PT_INTERP present: berth-init is dynamically linked");
    }
}
