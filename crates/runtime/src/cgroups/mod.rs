//! cgroups v1 and v2, chosen at run time from what /sys/fs/cgroup is. Hybrid hosts (v1
//! controllers plus a cgroup2 mount at /sys/fs/cgroup/unified, as on these machines) are
//! driven through v1, as runc's fs driver does.
//!
//! A [`Cgroup`] is a set of directories, one per v1 hierarchy or one on v2; it is
//! serialisable so that later commands (`kill --all`, `pause`, `delete`, `exec`) act on
//! the same directories `create` made.

mod devices_bpf;
mod v1;
mod v2;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A container's cgroup: the directories it lives in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cgroup {
    pub version: Version,
    /// v1: (controller list as mounted, e.g. "memory" or "cpu,cpuacct", directory).
    /// v2: a single ("", directory) entry.
    pub paths: Vec<(String, PathBuf)>,
}

/// Usage figures for `stats`/`events --stats`, in the units Docker reports.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    pub memory_usage: u64,
    pub memory_max_usage: u64,
    pub memory_limit: u64,
    pub cpu_usage_ns: u64,
    pub pids_current: u64,
    pub pids_limit: u64,
    pub oom_kills: u64,
    /// CPU time split by mode (what Docker reports as usage_in_user/kernelmode).
    #[serde(default)]
    pub cpu_user_ns: u64,
    #[serde(default)]
    pub cpu_system_ns: u64,
    /// CFS throttling: periods, throttled periods, throttled time.
    #[serde(default)]
    pub cpu_periods: u64,
    #[serde(default)]
    pub cpu_throttled_periods: u64,
    #[serde(default)]
    pub cpu_throttled_ns: u64,
    /// memory.stat as read (Docker passes it through as memory_stats.stats).
    #[serde(default)]
    pub memory_stat: std::collections::BTreeMap<String, u64>,
    /// Bytes read and written on block devices.
    #[serde(default)]
    pub io_read_bytes: u64,
    #[serde(default)]
    pub io_write_bytes: u64,
}

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup version of this host, from the filesystem type of /sys/fs/cgroup.
pub fn host_version() -> Version {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    match crate::sys::statfs(Path::new(CGROUP_ROOT)) {
        Ok(st) if st.f_type as i64 == CGROUP2_SUPER_MAGIC => Version::V2,
        _ => Version::V1,
    }
}

/// Turns a spec's cgroupsPath into a plain path. `slice:prefix:name` (systemd driver
/// syntax, which containerd and podman pass with --systemd-cgroup) becomes the cgroupfs
/// path systemd would have used, since these hosts run no systemd.
pub fn normalize_path(spec_path: Option<&Path>, id: &str) -> PathBuf {
    let Some(p) = spec_path.filter(|p| !p.as_os_str().is_empty()) else {
        return PathBuf::from(id);
    };
    let s = p.to_string_lossy();
    if !s.starts_with('/') && s.matches(':').count() == 2 {
        let mut parts = s.splitn(3, ':');
        let (slice, prefix, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let slice = if slice.is_empty() { "system.slice" } else { slice };
        let scope = if prefix.is_empty() { format!("{name}.scope") } else { format!("{prefix}-{name}.scope") };
        return PathBuf::from("/").join(slice).join(scope);
    }
    p.to_path_buf()
}

impl Cgroup {
    /// Creates (or reuses) the container's cgroup directories. Nothing is joined yet.
    pub fn create(path: &Path) -> Result<Cgroup> {
        match host_version() {
            Version::V1 => v1::create(path),
            Version::V2 => v2::create(path),
        }
    }

    /// Applies the spec's resource limits.
    pub fn apply(&self, res: &LinuxResources) -> Result<()> {
        match self.version {
            Version::V1 => v1::apply(self, res),
            Version::V2 => v2::apply(self, res),
        }
    }

    /// Moves `pid` into the cgroup (every hierarchy on v1).
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for (ctrl, dir) in &self.paths {
            write_file(dir, "cgroup.procs", &pid.to_string()).map_err(|e| {
                Error::Cgroup(format!("adding pid {pid} to {} ({ctrl}): {e}", dir.display()))
            })?;
        }
        Ok(())
    }

    /// Whether the container's init can move itself in (`join_self`): on v1 only.
    pub fn can_join_self(&self) -> bool {
        self.version == Version::V1
    }

    /// Moves the calling thread, which must be its process's only one, into the cgroup.
    /// Moving a whole process (cgroup.procs) write-locks a global percpu rwsem, which
    /// waits out an RCU grace period: 7 ms on an idle 2-core host, 30 under load, and the
    /// longest step of a container start. The kernel skips that lock when a thread moves
    /// itself (pid 0 to v1's `tasks`), and a single-threaded init is the whole process.
    pub fn join_self(&self) -> Result<()> {
        for (ctrl, dir) in &self.paths {
            write_file(dir, "tasks", "0").map_err(|e| Error::Cgroup(format!("joining {} ({ctrl}): {e}", dir.display())))?;
        }
        Ok(())
    }

    /// Every process in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = match self.version {
            Version::V2 => self.paths.first().map(|p| p.1.clone()),
            Version::V1 => self.v1_dir("pids").or_else(|| self.v1_dir("memory")).or_else(|| self.paths.first().map(|p| p.1.clone())),
        };
        let Some(dir) = dir else { return Ok(vec![]) };
        let text = match fs::read_to_string(dir.join("cgroup.procs")) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::Cgroup(format!("reading {}: {e}", dir.display()))),
        };
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    pub fn freeze(&self, frozen: bool) -> Result<()> {
        match self.version {
            Version::V1 => v1::freeze(self, frozen),
            Version::V2 => v2::freeze(self, frozen),
        }
    }

    pub fn is_frozen(&self) -> bool {
        match self.version {
            Version::V1 => v1::is_frozen(self),
            Version::V2 => v2::is_frozen(self),
        }
    }

    pub fn stats(&self) -> Stats {
        match self.version {
            Version::V1 => v1::stats(self),
            Version::V2 => v2::stats(self),
        }
    }

    /// Kills every process in the cgroup with SIGKILL (thawing it first, as a frozen
    /// process cannot die).
    pub fn kill_all(&self, sig: i32) {
        if self.is_frozen() && sig == libc::SIGKILL {
            let _ = self.freeze(false);
        }
        for pid in self.pids().unwrap_or_default() {
            let _ = crate::sys::kill(pid, sig);
        }
    }

    /// Removes the directories, killing what is left inside first.
    pub fn destroy(&self) -> Result<()> {
        let mut last_err = None;
        for attempt in 0..200 {
            last_err = None;
            for (_, dir) in self.paths.iter().rev() {
                match fs::remove_dir(dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => last_err = Some(format!("removing {}: {e}", dir.display())),
                }
            }
            if last_err.is_none() {
                return Ok(());
            }
            if attempt == 0 {
                self.kill_all(libc::SIGKILL);
            }
            std::thread::sleep(std::time::Duration::from_millis(if attempt < 20 { 1 } else { 10 }));
        }
        Err(Error::Cgroup(last_err.unwrap_or_default()))
    }

    pub(crate) fn v1_dir(&self, controller: &str) -> Option<PathBuf> {
        self.paths
            .iter()
            .find(|(c, _)| c.split(',').any(|x| x == controller))
            .map(|(_, d)| d.clone())
    }
}

pub(crate) fn write_file(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    // One write(2) of the whole value: cgroup files act on each write.
    use std::io::Write;
    let mut f = fs::OpenOptions::new().write(true).open(dir.join(file))?;
    f.write_all(value.as_bytes())
}

pub(crate) fn write_res(dir: &Path, file: &str, value: &str) -> Result<()> {
    write_file(dir, file, value)
        .map_err(|e| Error::Cgroup(format!("setting {} to {value:?} in {}: {e}", file, dir.display())))
}

pub(crate) fn read_u64(dir: &Path, file: &str) -> u64 {
    fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Every `key value` line of a file, for memory.stat.
pub(crate) fn read_all_keyed(dir: &Path, file: &str) -> std::collections::BTreeMap<String, u64> {
    let text = fs::read_to_string(dir.join(file)).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_owned(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// Clock ticks per second (cpuacct.stat is in these units).
pub(crate) fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}

/// Reads `key value` lines (memory.stat, memory.events, cpu.stat …).
pub(crate) fn read_keyed(dir: &Path, file: &str, key: &str) -> Option<u64> {
    let text = fs::read_to_string(dir.join(file)).ok()?;
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next().and_then(|v| v.parse().ok())).flatten()
    })
}

/// The cgroup of the calling process in one hierarchy ("" selects the v2 entry).
pub(crate) fn own_cgroup(controllers: &str) -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        let matches = if controllers.is_empty() { ctrls.is_empty() } else { ctrls == controllers };
        matches.then(|| PathBuf::from(path))
    })
}

/// Joins a cgroup-relative path onto a hierarchy mount, resolving relative spec paths
/// against the caller's own cgroup, as the runtime spec says.
pub(crate) fn resolve(mountpoint: &Path, mount_root: &Path, own: Option<&Path>, path: &Path) -> PathBuf {
    let rel_to_mount = |p: &Path| -> PathBuf {
        let stripped = p.strip_prefix(mount_root).unwrap_or(p);
        mountpoint.join(stripped.strip_prefix("/").unwrap_or(stripped))
    };
    if path.is_absolute() {
        mountpoint.join(path.strip_prefix("/").unwrap_or(path))
    } else {
        rel_to_mount(&own.unwrap_or(Path::new("/")).join(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_paths_become_scopes() {
        assert_eq!(normalize_path(Some(Path::new("system.slice:docker:abc")), "x"), PathBuf::from("/system.slice/docker-abc.scope"));
        assert_eq!(normalize_path(Some(Path::new("/docker/abc")), "x"), PathBuf::from("/docker/abc"));
        assert_eq!(normalize_path(None, "ctr"), PathBuf::from("ctr"));
    }

    #[test]
    fn relative_paths_resolve_against_own_cgroup() {
        let m = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(resolve(m, Path::new("/"), Some(Path::new("/user.slice")), Path::new("c1")), PathBuf::from("/sys/fs/cgroup/memory/user.slice/c1"));
        assert_eq!(resolve(m, Path::new("/"), Some(Path::new("/user.slice")), Path::new("/berth/c1")), PathBuf::from("/sys/fs/cgroup/memory/berth/c1"));
    }
}
