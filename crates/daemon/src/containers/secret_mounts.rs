//! Secrets in containers. Docker passes them only to swarm tasks
//! (`ContainerSpec.Secrets`); berth takes the same items in the create body as a
//! berth extension, `HostConfig.BerthSecrets`, checks them at create (each secret must
//! exist; nothing is created otherwise), and at every start decrypts them onto a
//! tmpfs of their own under the exec root, one file per item with its owner and mode,
//! bind-mounted read-only at `/run/secrets/<name>` (or an absolute target). Once the
//! runtime has made those mounts the tmpfs is detached from the host's tree: the
//! values then live only in memory reachable through the container's mounts, and
//! go when it stops. The overlay gets only the empty mount-point files, so commit,
//! export and diff never see a value.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::record::Container;
use crate::error::{ApiError, ApiResult};
use crate::secrets::SecretError;
use crate::state::AppState;

/// Where the file appears and who owns it (swarm's SecretReferenceFileTarget).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct SecretFile {
    /// Under /run/secrets when relative; the secret's name when empty.
    #[serde(default)]
    pub name: String,
    #[serde(rename = "UID", default)]
    pub uid: String,
    #[serde(rename = "GID", default)]
    pub gid: String,
    /// Permission bits, as a number (0444 when absent).
    #[serde(default)]
    pub mode: Option<u32>,
}

/// One secret granted to a container (swarm's SecretReference shape).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct SecretRef {
    #[serde(default)]
    pub file: Option<SecretFile>,
    #[serde(rename = "SecretID", default)]
    pub secret_id: String,
    #[serde(default)]
    pub secret_name: String,
}

pub const DEFAULT_MODE: u32 = 0o444;

/// The part of a create body berth adds: `HostConfig.BerthSecrets`.
#[derive(Deserialize, Default)]
pub struct CreateExtension {
    #[serde(rename = "HostConfig", default)]
    host_config: Option<HostConfigExtension>,
}

#[derive(Deserialize, Default)]
struct HostConfigExtension {
    #[serde(rename = "BerthSecrets", default)]
    berth_secrets: Option<Vec<SecretRef>>,
}

impl CreateExtension {
    pub fn secrets(self) -> Vec<SecretRef> {
        self.host_config.and_then(|h| h.berth_secrets).unwrap_or_default()
    }
}

impl SecretRef {
    fn file(&self) -> SecretFile {
        self.file.clone().unwrap_or_default()
    }

    /// The path in the container.
    pub fn target(&self) -> String {
        let name = self.file().name;
        if name.starts_with('/') {
            name
        } else {
            format!("/run/secrets/{name}")
        }
    }
}

/// Docker's status codes for secret errors.
pub fn api_error(e: SecretError) -> ApiError {
    use axum::http::StatusCode;
    let status = match &e {
        SecretError::NotFound(_) => StatusCode::NOT_FOUND,
        SecretError::Invalid(_) => StatusCode::BAD_REQUEST,
        SecretError::Conflict(_) => StatusCode::CONFLICT,
        SecretError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

fn id_number(what: &str, v: &str) -> ApiResult<u32> {
    if v.is_empty() {
        return Ok(0);
    }
    v.parse().map_err(|_| ApiError::bad_request(format!("invalid secret {what} {v:?}: a number is needed")))
}

/// A relative name without `..`, or an absolute path other than `/`; cleaned.
fn check_name(name: &str) -> ApiResult<String> {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() || parts.contains(&"..") || name.contains('\0') {
        return Err(ApiError::bad_request(format!("invalid secret target {name:?}: a file name under /run/secrets or an absolute path, without \"..\", is needed")));
    }
    Ok(if name.starts_with('/') { format!("/{}", parts.join("/")) } else { parts.join("/") })
}

/// At create: every item names an existing secret (by id or name); ids, names,
/// owners and modes are filled in, so the record says exactly what a start mounts.
pub fn resolve(state: &AppState, refs: &[SecretRef]) -> ApiResult<Vec<SecretRef>> {
    let mut out: Vec<SecretRef> = Vec::new();
    for r in refs {
        let word = if r.secret_id.is_empty() { &r.secret_name } else { &r.secret_id };
        if word.is_empty() {
            return Err(ApiError::bad_request("invalid HostConfig.BerthSecrets item: SecretID or SecretName is required"));
        }
        let s = match state.secrets.find(word) {
            Ok(s) => s,
            Err(SecretError::NotFound(_)) => return Err(ApiError::not_found(format!("secret not found: {word}"))),
            Err(e) => return Err(api_error(e)),
        };
        if !r.secret_name.is_empty() && !r.secret_id.is_empty() && s.name != r.secret_name {
            return Err(ApiError::bad_request(format!("secret {} is named {:?}, not {:?}", s.id, s.name, r.secret_name)));
        }
        let f = r.file();
        let name = check_name(if f.name.is_empty() { &s.name } else { &f.name })?;
        let mode = f.mode.unwrap_or(DEFAULT_MODE);
        if mode > 0o777 {
            return Err(ApiError::bad_request(format!("invalid mode {mode:#o} for secret {}: only permission bits (0 to 0777) are allowed", s.name)));
        }
        let file = SecretFile { name, uid: id_number("UID", &f.uid)?.to_string(), gid: id_number("GID", &f.gid)?.to_string(), mode: Some(mode) };
        let resolved = SecretRef { file: Some(file), secret_id: s.id, secret_name: s.name };
        if out.iter().any(|o| o.target() == resolved.target()) {
            return Err(ApiError::bad_request(format!("duplicate secret target {}", resolved.target())));
        }
        out.push(resolved);
    }
    Ok(out)
}

/// Names of the containers (any state) granted secret `id`.
pub fn users_of(state: &AppState, id: &str) -> Vec<String> {
    let mut names: Vec<String> = state.containers.all().iter().map(|e| e.get()).filter(|c| c.secrets.iter().any(|s| s.secret_id == id)).map(|c| c.name).collect();
    names.sort();
    names
}

fn dir_of(state: &AppState, id: &str) -> PathBuf {
    state.exec_root.join("secrets").join(id)
}

fn cpath(p: &Path) -> anyhow::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| anyhow!("path {} has a NUL byte", p.display()))
}

/// Bytes of tmpfs the files need: whole pages each, and a few for the directory.
fn tmpfs_size(values: &[zeroize::Zeroizing<Vec<u8>>]) -> usize {
    let page = 4096;
    values.iter().map(|v| v.len().div_ceil(page) * page).sum::<usize>() + 4 * page
}

/// Host ids for a container's (uid, gid): the identity, or a user namespace's mapping.
pub type HostIds<'a> = dyn Fn(u32, u32) -> (u32, u32) + 'a;

/// Before a start: the container's secrets as files on a fresh tmpfs, owned by
/// `host_ids` of their uid and gid; returns the OCI bind mounts that put them in
/// place. Nothing stays mounted on failure.
pub fn setup(state: &AppState, c: &Container, host_ids: &HostIds<'_>) -> anyhow::Result<Vec<Value>> {
    release(state, &c.id);
    if c.secrets.is_empty() {
        return Ok(Vec::new());
    }
    let mut values = Vec::new();
    for r in &c.secrets {
        let v = state.secrets.value(&r.secret_id).map_err(|e| match e {
            SecretError::NotFound(_) => anyhow!("secret {} ({}) used by this container was removed", r.secret_name, r.secret_id),
            e => anyhow!("secret {}: {e}", r.secret_name),
        })?;
        values.push(v);
    }
    let dir = dir_of(state, &c.id);
    // Under userns-remap the runtime opens the files as the container's root, an
    // unprivileged host uid: the directories let its group through (0710), nothing more.
    // The shared parent is set from the daemon's remap, not this container's (a
    // `--userns=host` one must not close it to remapped ones starting meanwhile).
    let (_, root_gid) = host_ids(0, 0);
    let dir_mode = if root_gid == 0 { 0o700 } else { 0o710 };
    let parent_gid = state.remap.as_ref().map(|r| r.root().1).filter(|g| *g != 0);
    let r = (|| -> anyhow::Result<Vec<Value>> {
        let parent = dir.parent().expect("dir_of has a parent");
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).with_context(|| format!("creating {}", parent.display()))?;
        if let Some(g) = parent_gid {
            std::os::unix::fs::chown(parent, None, Some(g)).with_context(|| format!("chown {}", parent.display()))?;
        }
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(if parent_gid.is_some() { 0o710 } else { 0o700 }))?;
        std::fs::DirBuilder::new().mode(0o700).create(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let target = cpath(&dir)?;
        let data = CString::new(format!("mode={dir_mode:o},gid={root_gid},size={}", tmpfs_size(&values))).expect("no NUL in options");
        // SAFETY: mount(2) with NUL-terminated strings that outlive the call.
        let rc = unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, data.as_ptr().cast()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("mounting the secrets tmpfs on {}", dir.display()));
        }
        let mut mounts = Vec::new();
        for (i, (r, value)) in c.secrets.iter().zip(&values).enumerate() {
            let f = r.file();
            let path = dir.join(i.to_string());
            let (uid, gid) = host_ids(f.uid.parse().unwrap_or(0), f.gid.parse().unwrap_or(0));
            let mode = f.mode.unwrap_or(DEFAULT_MODE);
            let write = || -> std::io::Result<()> {
                let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&path)?;
                file.write_all(value)?;
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
                // After the chown (which clears set-id bits) and past the umask.
                file.set_permissions(std::fs::Permissions::from_mode(mode))
            };
            write().with_context(|| format!("writing secret {}", r.secret_name))?;
            mounts.push(json!({
                "destination": r.target(),
                "type": "bind",
                "source": path.to_string_lossy(),
                "options": ["rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"],
            }));
        }
        Ok(mounts)
    })();
    if r.is_err() {
        release(state, &c.id);
    }
    r
}

/// Detaches the container's secrets tmpfs from the host and removes its directory.
/// Called once the runtime has made the container's mounts (which keep the files
/// while it runs), and again at every exit, failure and removal.
pub fn release(state: &AppState, id: &str) {
    let dir = dir_of(state, id);
    let Ok(target) = cpath(&dir) else { return };
    // SAFETY: umount2(2) with a NUL-terminated path; EINVAL (not a mount point) and
    // ENOENT are expected and harmless.
    while unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } == 0 {}
    match std::fs::remove_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(container = %id, "removing {}: {e}", dir.display()),
    }
}

/// At daemon start: no container is being started, so any secrets tmpfs left by a
/// crash goes.
pub fn release_all(state: &AppState) {
    let Ok(rd) = std::fs::read_dir(state.exec_root.join("secrets")) else { return };
    for e in rd.flatten() {
        if let Some(id) = e.file_name().to_str() {
            release(state, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_names() {
        let r = |name: &str| SecretRef { file: Some(SecretFile { name: name.into(), ..Default::default() }), ..Default::default() };
        assert_eq!(r("db").target(), "/run/secrets/db");
        assert_eq!(r("/etc/app/key").target(), "/etc/app/key");
        assert_eq!(check_name("a//b/./c").unwrap(), "a/b/c");
        assert_eq!(check_name("/etc//k").unwrap(), "/etc/k");
        for bad in ["", "/", "../x", "a/../../x", "."] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_extension_parses_in_swarms_shape() {
        let body = br#"{"Image":"busybox","HostConfig":{"Memory":0,"BerthSecrets":[{"File":{"Name":"x","UID":"1","GID":"2","Mode":256},"SecretName":"db"}]}}"#;
        let ext: CreateExtension = serde_json::from_slice(body).unwrap();
        let s = ext.secrets();
        assert_eq!(s[0].secret_name, "db");
        assert_eq!(s[0].file, Some(SecretFile { name: "x".into(), uid: "1".into(), gid: "2".into(), mode: Some(0o400) }));
        let none: CreateExtension = serde_json::from_slice(br#"{"Image":"busybox"}"#).unwrap();
        assert!(none.secrets().is_empty());
    }

    #[test]
    fn tmpfs_fits_the_files() {
        let v = |n: usize| zeroize::Zeroizing::new(vec![0u8; n]);
        assert_eq!(tmpfs_size(&[v(1), v(4096), v(4097)]), 4096 * 4 + 4 * 4096);
    }
}
