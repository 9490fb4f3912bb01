//! On-disk state of containers under the runtime root (default /run/berth-runtime), one
//! directory per container: state.json, the exec fifo `start` opens, and a copy of the
//! spec so that `exec`, `delete` and hooks work after the bundle has changed.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;
use crate::error::{Error, IoContext, Result};

pub const DEFAULT_ROOT: &str = "/run/berth-runtime";
pub const OCI_VERSION: &str = "1.2.0";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What `create` records about a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// Start time of the init (from /proc/<pid>/stat), so a recycled pid is not
    /// mistaken for the container.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: Option<Cgroup>,
    /// /proc/<pid>/ns names of the namespaces the container has (made or joined).
    pub namespaces: Vec<String>,
    pub userns: bool,
}

/// The OCI state document, as runc prints it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_-.+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// (state char, start time) of a process, from /proc/<pid>/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some((fields.first()?.chars().next()?, fields.get(19)?.parse().ok()?))
}

pub struct StateDir {
    pub dir: PathBuf,
}

impl StateDir {
    pub fn new(root: &Path, id: &str) -> Result<StateDir> {
        validate_id(id)?;
        Ok(StateDir { dir: root.join(id) })
    }
    pub fn exists(&self) -> bool {
        self.dir.join("state.json").exists()
    }
    pub fn fifo(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn load(&self, id: &str) -> Result<Saved> {
        let data = fs::read(self.dir.join("state.json")).map_err(|_| Error::NotFound(id.to_string()))?;
        serde_json::from_slice(&data).map_err(|e| Error::other(format!("corrupt state for {id}: {e}")))
    }
    /// Written to a temp file and renamed: a reader sees the old or the new state.
    pub fn save(&self, s: &Saved) -> Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        fs::write(&tmp, serde_json::to_vec(s).expect("state serialises")).ctx(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, self.dir.join("state.json")).ctx(|| "saving state".into())
    }
    pub fn remove(&self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Saved {
    pub fn init_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((st, start)) if start == self.pid_start && st != 'Z' && st != 'X')
    }

    pub fn status(&self, dir: &StateDir) -> Status {
        if self.pid <= 0 || !self.init_alive() {
            return Status::Stopped;
        }
        if dir.fifo().exists() {
            return Status::Created;
        }
        if self.cgroup.as_ref().is_some_and(|c| c.is_frozen()) {
            return Status::Paused;
        }
        Status::Running
    }

    pub fn oci_state(&self, dir: &StateDir) -> OciState {
        let status = self.status(dir);
        OciState {
            oci_version: OCI_VERSION.into(),
            id: self.id.clone(),
            pid: if status == Status::Stopped { 0 } else { self.pid },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: self.owner.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// Every container under `root`, skipping entries that are not (or no longer) ours.
pub fn list(root: &Path) -> Vec<(StateDir, Saved)> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(root) else { return out };
    for e in rd.flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        if let Ok(sd) = StateDir::new(root, &id) {
            if let Ok(s) = sd.load(&id) {
                out.push((sd, s));
            }
        }
    }
    out.sort_by(|a, b| a.1.created.cmp(&b.1.created));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", "..", "a/b", "a b", "ü"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn own_process_is_alive() {
        let (st, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(st == 'R' || st == 'S');
        assert!(start > 0);
    }
}
