//! A container's mounts: resolved once at create time from `--volumes-from`, the
//! image's and the client's `Volumes`, `Binds` (`-v`) and `Mounts` (`--mount`) into
//! the mount points inspect shows (named volumes created, anonymous ones made), then
//! set up at every start (volumes acquired, image content copied up, missing `-v`
//! host directories made) and released at exit.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::models::{ContainerConfig, HostConfig, Mount, MountTypeEnum};
use berth_volume::spec::{self, Kind};
use berth_volume::store::CreateOptions;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// One mount point of a container, in the shape inspect's `Mounts` shows, plus what
/// starting it needs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MountPoint {
    /// volume, bind or tmpfs.
    pub kind: String,
    /// The volume's name (volumes only).
    #[serde(default)]
    pub name: String,
    /// Host path: the bind source, or the volume's `_data`.
    pub source: String,
    pub destination: String,
    pub mode: String,
    pub rw: bool,
    pub propagation: String,
    /// Do not copy image content into an empty volume.
    #[serde(default)]
    pub nocopy: bool,
    /// `-v /missing:/x` creates the host directory (Docker's legacy behaviour);
    /// `--mount type=bind` refuses it.
    #[serde(default)]
    pub create_source: bool,
    /// tmpfs mount data (`size=…,mode=…`).
    #[serde(default)]
    pub tmpfs_options: String,
    /// `volume-subpath`: the part of the volume mounted (relative, checked at create).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

impl MountPoint {
    pub fn is_volume(&self) -> bool {
        self.kind == "volume"
    }

    /// inspect's and ps's JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "Type": self.kind,
            "Source": self.source,
            "Destination": self.destination,
            "Mode": self.mode,
            "RW": self.rw,
            "Propagation": self.propagation,
        });
        if self.is_volume() {
            v["Name"] = json!(self.name);
            v["Driver"] = json!("local");
        }
        v
    }
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// Docker's status codes for volume errors.
pub fn api_error(e: berth_volume::Error) -> ApiError {
    match e {
        berth_volume::Error::NotFound(_) => ApiError::not_found(e.to_string()),
        berth_volume::Error::InUse { .. } => ApiError::new(axum::http::StatusCode::CONFLICT, e.to_string()),
        e if e.is_invalid_input() => bad(e),
        e => ApiError::internal(e.to_string()),
    }
}

/// Lexically cleaned container path (`/data/` and `/data/.` are `/data`), the key
/// mounts are compared by.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolves what the client asked for. Volumes created here (named ones that did not
/// exist, anonymous ones) are removed again if anything fails, so a refused create
/// leaves nothing behind.
pub fn resolve(state: &AppState, config: &ContainerConfig, hc: &HostConfig) -> ApiResult<Vec<MountPoint>> {
    let mut created = Vec::new();
    let r = resolve_inner(state, config, hc, &mut created);
    if r.is_err() {
        for name in created {
            let _ = state.volumes.remove(&name, &[]);
        }
    }
    r
}

fn resolve_inner(state: &AppState, config: &ContainerConfig, hc: &HostConfig, created: &mut Vec<String>) -> ApiResult<Vec<MountPoint>> {
    let mut by_dest: BTreeMap<String, MountPoint> = BTreeMap::new();
    let mut volume = |name: &str, labels: BTreeMap<String, String>, options: BTreeMap<String, String>| -> ApiResult<String> {
        let req = CreateOptions { name: Some(name.to_owned()).filter(|n| !n.is_empty()), driver: String::new(), labels, options };
        let (v, made) = state.volumes.create(req).map_err(api_error)?;
        if made {
            created.push(v.name.clone());
            state.events.volume(&v.name, "create");
        }
        Ok(v.name)
    };

    // 1. --volumes-from: the other container's mount points, optionally forced ro/rw.
    for from in hc.volumes_from.iter().flatten() {
        let (word, force_ro) = spec::parse_volumes_from(from).map_err(bad)?;
        let other = state.containers.find(&word)?.get();
        for mut m in other.mounts.clone() {
            if let Some(ro) = force_ro {
                m.rw = !ro;
                m.mode = if ro { "ro".into() } else { "rw".into() };
            }
            by_dest.insert(clean(&m.destination), m);
        }
    }

    // 2. -v and --mount: the client's own, each destination at most once.
    let mut user: Vec<MountPoint> = Vec::new();
    for b in hc.binds.iter().flatten() {
        let s = spec::parse_bind(b).map_err(bad)?;
        let mut m = MountPoint { kind: s.kind.as_str().into(), destination: s.target.clone(), rw: !s.read_only, mode: s.mode.clone(), nocopy: s.nocopy, ..Default::default() };
        match s.kind {
            Kind::Bind => {
                m.source = s.source.clone();
                m.propagation = s.propagation.clone();
                m.create_source = true;
            }
            _ => {
                m.name = volume(&s.source, BTreeMap::new(), BTreeMap::new())?;
                m.source = state.volumes.mountpoint(&m.name).to_string_lossy().into_owned();
                if m.mode.is_empty() {
                    m.mode = "z".into();
                }
            }
        }
        user.push(m);
    }
    for mt in hc.mounts.iter().flatten() {
        user.push(from_mount(state, mt, &mut volume)?);
    }
    for (i, m) in user.iter().enumerate() {
        if user[..i].iter().any(|o| clean(&o.destination) == clean(&m.destination)) {
            return Err(bad(format!("Duplicate mount point: {}", m.destination)));
        }
    }
    for m in user {
        by_dest.insert(clean(&m.destination), m);
    }

    // 3. The image's VOLUMEs and `-v /path`: an anonymous volume where nothing else is
    //    mounted.
    let mut declared: Vec<&String> = config.volumes.iter().flat_map(|v| v.keys()).collect();
    declared.sort();
    for dest in declared {
        spec::check_target(dest, Kind::Volume, dest).map_err(bad)?;
        if by_dest.contains_key(&clean(dest)) {
            continue;
        }
        let name = volume("", BTreeMap::new(), BTreeMap::new())?;
        let source = state.volumes.mountpoint(&name).to_string_lossy().into_owned();
        by_dest.insert(clean(dest), MountPoint { kind: "volume".into(), name, source, destination: dest.clone(), rw: true, ..Default::default() });
    }

    // Parents before children: /data before /data/logs.
    let mut out: Vec<MountPoint> = by_dest.into_values().collect();
    out.sort_by_key(|m| clean(&m.destination).matches('/').count());
    Ok(out)
}

/// One `--mount` (HostConfig.Mounts entry), checked as dockerd checks it.
fn from_mount(
    state: &AppState,
    mt: &Mount,
    volume: &mut dyn FnMut(&str, BTreeMap<String, String>, BTreeMap<String, String>) -> ApiResult<String>,
) -> ApiResult<MountPoint> {
    let target = mt.target.clone().unwrap_or_default();
    let source = mt.source.clone().unwrap_or_default();
    let kind = match mt.typ {
        Some(MountTypeEnum::BIND) => Kind::Bind,
        Some(MountTypeEnum::VOLUME) => Kind::Volume,
        Some(MountTypeEnum::TMPFS) => Kind::Tmpfs,
        other => return Err(bad(format!("invalid mount config: mount type {:?} is not supported", other.map(|t| t.to_string()).unwrap_or_default()))),
    };
    let t = kind.as_str();
    let what = format!("{}={target}", t);
    spec::check_target(&what, kind, &target).map_err(bad)?;
    let ro = mt.read_only.unwrap_or(false);
    let mut m = MountPoint { kind: t.into(), destination: target.clone(), rw: !ro, ..Default::default() };
    if mt.bind_options.is_some() && kind != Kind::Bind {
        return Err(bad(format!("invalid mount config for type \"{t}\": bind options specified on a non-bind mount")));
    }
    if mt.volume_options.is_some() && kind != Kind::Volume {
        return Err(bad(format!("invalid mount config for type \"{t}\": volume options specified on a non-volume mount")));
    }
    if mt.tmpfs_options.is_some() && kind != Kind::Tmpfs {
        return Err(bad(format!("invalid mount config for type \"{t}\": tmpfs options specified on a non-tmpfs mount")));
    }
    match kind {
        Kind::Bind => {
            if source.is_empty() {
                return Err(bad("invalid mount config for type \"bind\": field Source must not be empty"));
            }
            if !source.starts_with('/') {
                return Err(bad(format!("invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute")));
            }
            if !Path::new(&source).exists() {
                return Err(bad(format!("invalid mount config for type \"bind\": bind source path does not exist: {source}")));
            }
            m.source = source;
            m.propagation = mt.bind_options.as_ref().and_then(|b| b.propagation).map(|p| p.to_string()).filter(|p| !p.is_empty()).unwrap_or_else(|| "rprivate".into());
        }
        Kind::Volume => {
            let vo = mt.volume_options.clone().unwrap_or_default();
            if let Some(sp) = vo.subpath.as_deref().filter(|s| !s.is_empty()) {
                m.subpath = local_subpath(sp).ok_or_else(|| bad("invalid mount config for type \"volume\": subpath must be a relative path within the volume"))?;
            }
            let dc = vo.driver_config.unwrap_or_default();
            if let Some(d) = dc.name.as_deref().filter(|d| !d.is_empty() && *d != "local") {
                return Err(bad(format!("volume driver \"{d}\" is not supported (berth has the local driver only)")));
            }
            m.nocopy = vo.no_copy.unwrap_or(false);
            let labels = vo.labels.unwrap_or_default().into_iter().collect();
            let opts = dc.options.unwrap_or_default().into_iter().collect();
            m.name = volume(&source, labels, opts)?;
            m.source = state.volumes.mountpoint(&m.name).to_string_lossy().into_owned();
            m.mode = "z".into();
        }
        Kind::Tmpfs => {
            if !source.is_empty() {
                return Err(bad("invalid mount config for type \"tmpfs\": field Source must not be specified"));
            }
            if ro {
                m.tmpfs_options.push_str("ro");
            }
            if let Some(t) = &mt.tmpfs_options {
                if let Some(sz) = t.size_bytes.filter(|s| *s > 0) {
                    m.tmpfs_options.push_str(&format!(",size={sz}"));
                }
                if let Some(mode) = t.mode.filter(|m| *m > 0) {
                    m.tmpfs_options.push_str(&format!(",mode={mode:o}"));
                }
            }
        }
    }
    Ok(m)
}

/// A subpath as Go's `filepath.IsLocal` accepts it (Docker's rule): relative, not
/// empty, never climbing out; returned cleaned (`a/./b/` is `a/b`).
fn local_subpath(sp: &str) -> Option<String> {
    if sp.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in sp.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Volume subpaths bind-mounted by berthd under the container's directory, for the
/// runtime to mount from: each was opened inside its volume (a symlink in the volume
/// cannot lead it out) and mounted through that descriptor, so nothing a container
/// does to the volume between the check and the runtime's mount can redirect it.
/// Dropping this unmounts them (the container's own mounts stay).
#[derive(Default)]
pub struct Staged {
    /// (index in the mount list, the staged path to use as the mount's source)
    pub sources: Vec<(usize, std::path::PathBuf)>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (_, p) in &self.sources {
            unstage(p);
        }
        if let Some(dir) = self.sources.first().and_then(|(_, p)| p.parent()) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Detaches a staging mount (every one stacked there) and removes its mount point; both
/// may be gone already.
fn unstage(p: &Path) {
    if let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) {
        // SAFETY: umount2 with a valid C string; it fails once nothing is mounted there.
        while unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {}
    }
    let _ = std::fs::remove_file(p).or_else(|_| std::fs::remove_dir(p));
}

/// Where a container's subpaths are staged: under the exec root, away from the data
/// root, so a staging mount left by a crash can never be mistaken for container files
/// (and deleted with them).
pub fn staging_dir(state: &AppState, id: &str) -> std::path::PathBuf {
    state.exec_root.join("subpaths").join(id)
}

/// At daemon start: staging mounts a killed berthd left behind (the runtime had taken
/// what it needed, or the start failed) are detached and their directories removed.
pub fn clean_staging(state: &AppState) {
    let root = state.exec_root.join("subpaths");
    let Ok(dirs) = std::fs::read_dir(&root) else { return };
    for d in dirs.flatten() {
        if let Ok(entries) = std::fs::read_dir(d.path()) {
            for e in entries.flatten() {
                unstage(&e.path());
            }
        }
        let _ = std::fs::remove_dir(d.path());
    }
}

/// Opens `subpath` inside the volume's data and bind-mounts it at a fresh path under
/// `staging`.
fn stage_subpath(data: &Path, subpath: &str, staging: &Path, index: usize) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::fs::File::open(data).with_context(|| format!("opening {}", data.display()))?;
    let fd = berth_runtime::safe_path::open_in_root(dir.as_raw_fd(), Path::new(subpath), libc::O_PATH | libc::O_CLOEXEC)
        .map_err(|e| anyhow::anyhow!("cannot access path {}: {}", data.join(subpath).display(), e))?;
    let fd_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let is_dir = std::fs::metadata(&fd_path).map(|m| m.is_dir()).unwrap_or(true);
    // Traversable (not listable) by all: under userns-remap the runtime is the
    // container's root, an unprivileged host uid (the exec root above keeps others out).
    std::fs::DirBuilder::new().recursive(true).mode(0o711).create(staging).with_context(|| format!("creating {}", staging.display()))?;
    let at = staging.join(index.to_string());
    unstage(&at); // a leftover of a start that died half-way
    if is_dir {
        std::fs::create_dir(&at)
    } else {
        std::fs::File::create(&at).map(drop)
    }
    .with_context(|| format!("creating {}", at.display()))?;
    let src = std::ffi::CString::new(fd_path).expect("no NUL in a /proc path");
    let dst = std::ffi::CString::new(at.as_os_str().as_encoded_bytes()).context("a NUL in the container's path")?;
    // SAFETY: mount(2) with valid C strings and no data.
    if unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), std::ptr::null(), libc::MS_BIND, std::ptr::null()) } != 0 {
        let e = std::io::Error::last_os_error();
        unstage(&at);
        return Err(anyhow::anyhow!("mounting subpath {subpath} of {}: {e}", data.display()));
    }
    Ok(at)
}

/// Before a start: takes the container's volumes (mounting those with driver
/// options), copies image content into empty volumes, stages volume subpaths under
/// `staging`, and makes missing `-v` host directories. `rootfs` is the container's
/// mounted root. On failure, what was taken is given back.
pub fn setup(state: &AppState, id: &str, mounts: &[MountPoint], rootfs: &Path, staging: &Path, remap: Option<&crate::userns::Remap>) -> anyhow::Result<Staged> {
    use anyhow::Context;
    let mut staged = Staged::default();
    for (i, m) in mounts.iter().enumerate() {
        let r = (|| -> anyhow::Result<()> {
            if m.is_volume() {
                let volume_data = state.volumes.acquire(&m.name, id).with_context(|| format!("mounting volume {}", m.name))?;
                let data = if m.subpath.is_empty() {
                    volume_data
                } else {
                    let at = stage_subpath(&volume_data, &m.subpath, staging, i)?;
                    staged.sources.push((i, at.clone()));
                    at
                };
                if let Some(r) = remap {
                    // A fresh volume belongs to the container's root, as under dockerd's
                    // remapped volume root; one already owned by someone is left alone.
                    use std::os::unix::fs::MetadataExt;
                    if std::fs::metadata(&data).map(|md| md.uid() == 0 && md.gid() == 0).unwrap_or(false) {
                        let (uid, gid) = r.root();
                        std::os::unix::fs::chown(&data, Some(uid), Some(gid)).with_context(|| format!("chown volume {}", m.name))?;
                    }
                }
                // A subpath naming a file has nothing to be populated.
                if !m.nocopy && data.is_dir() {
                    if berth_volume::tree::copy_up(rootfs, &m.destination, &data).with_context(|| format!("copying {} of the image into volume {}", m.destination, m.name))? {
                        tracing::debug!(volume = %m.name, dest = %m.destination, "copied image content into the new volume");
                    }
                }
            } else if m.kind == "bind" && m.create_source && !Path::new(&m.source).exists() {
                std::fs::create_dir_all(&m.source).with_context(|| format!("creating bind mount source {}", m.source))?;
            }
            Ok(())
        })();
        if let Err(e) = r {
            release(state, id, &mounts[..=i]);
            return Err(e);
        }
    }
    Ok(staged)
}

/// After the container stopped: gives its volumes back.
pub fn release(state: &AppState, id: &str, mounts: &[MountPoint]) {
    for m in mounts.iter().filter(|m| m.is_volume()) {
        state.volumes.release(&m.name, id);
    }
}

/// Containers (any state) whose mounts use the volume.
pub fn users_of(state: &AppState, volume: &str) -> Vec<String> {
    state.containers.all().iter().map(|e| e.get()).filter(|c| c.mounts.iter().any(|m| m.is_volume() && m.name == volume)).map(|c| c.id).collect()
}

/// `rm -v` and `run --rm`: the container's anonymous volumes go with it, unless
/// another container uses them too (--volumes-from).
pub fn remove_anonymous(state: &AppState, mounts: &[MountPoint]) {
    for m in mounts.iter().filter(|m| m.is_volume()) {
        let Ok(v) = state.volumes.get(&m.name) else { continue };
        if !v.anonymous() {
            continue;
        }
        let users = users_of(state, &m.name);
        if !users.is_empty() {
            continue;
        }
        match state.volumes.remove(&m.name, &users) {
            Ok(()) => state.events.volume(&m.name, "destroy"),
            Err(e) => tracing::warn!(volume = %m.name, "removing the anonymous volume: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_compare_cleaned() {
        assert_eq!(clean("/data/"), "/data");
        assert_eq!(clean("/data/./x/../y"), "/data/y");
        assert_eq!(clean("/"), "/");
    }
}
