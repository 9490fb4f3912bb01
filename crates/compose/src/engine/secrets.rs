//! Secrets and configs, never through the image or the environment.
//!
//! A secret becomes a berth secret (`POST /secrets/create`) named `<project>_<key>`
//! (or its `name:`), labelled with the project, kept encrypted by the daemon and
//! given to containers through the create body's `HostConfig.BerthSecrets` with the
//! service's target, uid, gid and mode; the daemon mounts it from a tmpfs. An
//! unchanged secret is re-used; a changed one is replaced and the services using it
//! are recreated; `down` removes the project's secrets; `external: true` names an
//! existing one.
//!
//! A config is a read-only bind mount of one file: a `file:` source as it is,
//! `environment:`/`content:` sources written first to a private directory of the
//! project on this host (0700, files 0444), removed by `down`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use berth_api::client::{encode, query};
use berth_api::Filters;
use serde_json::{json, Value};

use super::error::{EngineError, Result};
use super::{api, Engine, Kind};
use crate::labels;
use crate::model::{ConfigObject, FileReference, Project, Service};

/// The daemon's (Docker's) limit: a secret must be shorter than this. Checked here
/// too, so a project with a too-large secret fails before anything is made.
pub const MAX_SECRET_SIZE: usize = 500 * 1024;

/// The label naming the project key a berth secret was made for.
pub const SECRET_LABEL: &str = "com.docker.compose.secret";

/// Where `environment:`/`content:` configs of `project` are written: under
/// `$XDG_RUNTIME_DIR` when set (a per-user tmpfs), else the temporary directory.
pub fn state_dir(project: &str) -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_dir()).unwrap_or_else(std::env::temp_dir);
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    base.join(format!("berth-compose-{uid}")).join(project)
}

/// The engine-side name of a project secret key: its `name:` (the loader fills in
/// `<project>_<key>`, or the key for an external one).
pub fn secret_name(project: &Project, key: &str) -> String {
    project.secrets.get(key).and_then(|s| s.name.clone()).unwrap_or_else(|| labels::resource_name(&project.name, key))
}

fn definition<'a>(project: &'a Project, service: &Service, word: &str, key: &str) -> Result<&'a ConfigObject> {
    let defs = if word == "secret" { &project.secrets } else { &project.configs };
    defs.get(key).ok_or_else(|| EngineError::service(&service.name, format!("refers to undefined {word} {key}")))
}

/// The bytes of a top-level secret or config (`file:`, `environment:`, `content:`).
fn value(project: &Project, service: &Service, word: &str, key: &str, obj: &ConfigObject) -> Result<Vec<u8>> {
    let err = |m: String| EngineError::service(&service.name, m);
    if let Some(f) = &obj.file {
        return std::fs::read(f).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => err(format!("{word} {key:?}: file {f} not found")),
            _ => err(format!("{word} {key:?}: reading {f}: {e}")),
        });
    }
    if let Some(var) = &obj.environment {
        return project.meta.environment.get(var).map(|v| v.clone().into_bytes()).ok_or_else(|| err(format!("{word} {key:?}: environment variable {var} is not set")));
    }
    if let Some(c) = &obj.content {
        return Ok(c.clone().into_bytes());
    }
    Err(err(format!("{word} {key:?} has no file, environment or content")))
}

/// A secret's value, with the daemon's limits checked.
fn secret_value(project: &Project, service: &Service, key: &str, obj: &ConfigObject) -> Result<Vec<u8>> {
    let v = value(project, service, "secret", key, obj)?;
    if v.is_empty() || v.len() >= MAX_SECRET_SIZE {
        return Err(EngineError::service(&service.name, format!("secret {key:?} is {} bytes: a secret must be larger than 0 and less than {MAX_SECRET_SIZE} bytes", v.len())));
    }
    Ok(v)
}

/// Checks, before anything is made, that every secret the service is granted is
/// defined and (unless external) has a value within the limits.
pub fn check(project: &Project, service: &Service) -> Result<()> {
    for r in &service.secrets {
        let obj = definition(project, service, "secret", &r.source)?;
        if !obj.external {
            secret_value(project, service, &r.source, obj)?;
        }
        reference(project, service, r)?;
    }
    Ok(())
}

/// A long-syntax `mode` as a number: YAML's `0o440` arrives as 288, `"0440"` (and
/// `0440`, which the loader keeps as text) as octal digits.
fn mode(service: &Service, r: &FileReference) -> Result<Option<u32>> {
    let bad = |m: &Value| EngineError::service(&service.name, format!("secrets: invalid mode {m} for {}", r.source));
    match &r.mode {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or_else(|| bad(r.mode.as_ref().unwrap_or(&Value::Null))),
        Some(m @ Value::String(s)) => u32::from_str_radix(s.trim_start_matches("0o"), 8).map(Some).map_err(|_| bad(m)),
        Some(m) => Err(bad(m)),
    }
}

/// One `HostConfig.BerthSecrets` item (swarm's SecretReference shape).
fn reference(project: &Project, service: &Service, r: &FileReference) -> Result<Value> {
    let target = r.target.clone().unwrap_or_else(|| r.source.clone());
    let mut file = json!({ "Name": target, "UID": r.uid.clone().unwrap_or_else(|| "0".into()), "GID": r.gid.clone().unwrap_or_else(|| "0".into()) });
    if let Some(m) = mode(service, r)? {
        file["Mode"] = json!(m);
    }
    Ok(json!({ "File": file, "SecretName": secret_name(project, &r.source) }))
}

/// The `HostConfig.BerthSecrets` of a container of `service`.
pub fn references(project: &Project, service: &Service) -> Result<Vec<Value>> {
    service.secrets.iter().map(|r| reference(project, service, r)).collect()
}

/// Secret keys used by `services`.
fn used_secrets(project: &Project, services: &BTreeSet<String>) -> BTreeSet<String> {
    project.services.values().filter(|s| services.contains(&s.name)).flat_map(|s| s.secrets.iter().map(|r| r.source.clone())).collect()
}

impl Engine {
    /// `GET /secrets/{name}`; `None` when there is none.
    fn find_secret(&self, name: &str) -> Result<Option<Value>> {
        match api::get(&self.client, &format!("/secrets/{}", encode(name)), || format!("inspecting secret {name}")) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Checks that the external secrets `services` use exist.
    pub(crate) fn check_external_secrets(&self, services: &BTreeSet<String>) -> Result<()> {
        for key in used_secrets(&self.project, services) {
            let name = secret_name(&self.project, &key);
            if self.project.secrets.get(&key).is_some_and(|s| s.external) && self.find_secret(&name)?.is_none() {
                return Err(EngineError::Other(format!("external secret \"{name}\" not found")));
            }
        }
        Ok(())
    }

    /// Makes (or re-uses) the berth secrets `services` use; returns the keys whose
    /// value changed since they were made (their users must be recreated).
    pub(crate) fn ensure_secrets(&self, services: &BTreeSet<String>) -> Result<BTreeSet<String>> {
        let mut changed = BTreeSet::new();
        for key in used_secrets(&self.project, services) {
            let obj = self.project.secrets.get(&key).cloned().unwrap_or_default();
            if obj.external {
                continue;
            }
            let user = self.project.services.values().find(|s| s.secrets.iter().any(|r| r.source == key)).expect("a used secret has a user");
            let data = secret_value(&self.project, user, &key, &obj)?;
            let name = secret_name(&self.project, &key);
            if self.ensure_secret(&key, &name, &data)? {
                changed.insert(key);
            }
        }
        Ok(changed)
    }

    /// One secret; true if an existing one got a new value.
    fn ensure_secret(&self, key: &str, name: &str, data: &[u8]) -> Result<bool> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        let Some(found) = self.find_secret(name)? else {
            self.event(Kind::Secret, name, "Creating");
            let mut labels: BTreeMap<String, String> = self.project.secrets.get(key).map(|s| s.labels.clone()).unwrap_or_default();
            labels.insert(labels::PROJECT.into(), self.project.name.clone());
            labels.insert(SECRET_LABEL.into(), key.to_owned());
            let body = json!({ "Name": name, "Labels": labels, "Data": encoded });
            api::post_json::<_, Value>(&self.client, "/secrets/create", &body, || format!("creating secret {name}"))?;
            self.event(Kind::Secret, name, "Created");
            return Ok(false);
        };
        let id = found["ID"].as_str().unwrap_or(name).to_owned();
        let version = found["Version"]["Index"].as_i64().unwrap_or(0);
        // Docker's update takes the value back when it is unchanged (labels only),
        // which tells whether it is: the value itself is never read back.
        let body = json!({ "Name": name, "Labels": found["Spec"]["Labels"], "Data": encoded });
        let path = |extra: &str| format!("/secrets/{}/update{}{extra}", encode(&id), query([("version", Some(version.to_string()))]));
        match api::post_body(&self.client, &path(""), &body, || format!("checking secret {name}")) {
            Ok(()) => Ok(false),
            Err(e) if e.status() == Some(400) => {
                if found["Spec"]["Labels"][labels::PROJECT].as_str() != Some(self.project.name.as_str()) {
                    return Err(EngineError::Other(format!("secret \"{name}\" exists with another value and was not created for project \"{}\": remove it, or use `external: true` to use it", self.project.name)));
                }
                self.event(Kind::Secret, name, "Updating");
                api::post_body(&self.client, &path("&replaceData=1"), &body, || format!("updating secret {name}"))?;
                self.event(Kind::Secret, name, "Updated");
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the project's secrets (`down`); one still in use is a warning.
    pub(crate) fn remove_secrets(&self) -> Result<()> {
        let mut f = Filters::new();
        f.add("label", &format!("{}={}", labels::PROJECT, self.project.name));
        let list: Value = api::get(&self.client, &format!("/secrets{}", query([("filters", Some(f.to_json()))])), || "listing secrets".into())?;
        for s in list.as_array().into_iter().flatten() {
            let (Some(id), Some(name)) = (s["ID"].as_str(), s["Spec"]["Name"].as_str()) else { continue };
            self.remove_object(Kind::Secret, &format!("/secrets/{}", encode(id)), name);
        }
        Ok(())
    }
}

/// Where a granted config appears in the container.
fn config_target(r: &FileReference) -> String {
    let t = r.target.clone().unwrap_or_else(|| r.source.clone());
    if t.starts_with('/') {
        t
    } else {
        format!("/{t}")
    }
}

/// Where the data of a top-level config is on this host, and what to write there
/// first (for `environment:`/`content:`).
fn config_source(project: &Project, service: &Service, key: &str, obj: &ConfigObject) -> Result<(PathBuf, Option<Vec<u8>>)> {
    let err = |m: String| EngineError::service(&service.name, m);
    if obj.external {
        return Err(err(format!("config {key:?} is external: external configs need a swarm, which berth does not have")));
    }
    if let Some(f) = &obj.file {
        let p = PathBuf::from(f);
        if !p.exists() {
            return Err(err(format!("config {key:?}: file {} not found", p.display())));
        }
        return Ok((p, None));
    }
    let written = state_dir(&project.name).join("configs").join(key);
    Ok((written, Some(value(project, service, "config", key, obj)?)))
}

fn each_config(project: &Project, service: &Service, mut f: impl FnMut(&FileReference, PathBuf, Option<Vec<u8>>) -> Result<()>) -> Result<()> {
    for r in &service.configs {
        let obj = definition(project, service, "config", &r.source)?;
        let (path, data) = config_source(project, service, &r.source, obj)?;
        f(r, path, data)?;
    }
    Ok(())
}

/// (target in the container, file on the host) for every config the service is
/// granted. Checks only; writes nothing.
pub fn file_mounts(project: &Project, service: &Service) -> Result<Vec<(String, PathBuf)>> {
    let mut out: BTreeMap<String, PathBuf> = BTreeMap::new();
    each_config(project, service, |r, path, _| {
        out.insert(config_target(r), path);
        Ok(())
    })?;
    Ok(out.into_iter().collect())
}

/// Writes the `environment:`/`content:` configs the service is granted.
pub fn write_files(project: &Project, service: &Service) -> Result<()> {
    each_config(project, service, |_, path, data| match data {
        Some(d) => write_private(&path, &d),
        None => Ok(()),
    })
}

fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let io = |p: &Path, source: std::io::Error| EngineError::Io { path: p.display().to_string(), source };
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io(dir, e))?;
    }
    // Written aside and renamed, so a container never mounts a half-written file.
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o444).open(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(data).map_err(|e| io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// Removes what [`write_files`] wrote for the project (`down`).
pub fn remove_state(project: &str) {
    let dir = state_dir(project);
    let _ = std::fs::remove_dir_all(&dir);
    // The per-user parent goes too once no project uses it (remove_dir keeps a non-empty one).
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw.txt"), "pw").unwrap();
        std::fs::write(dir.path().join("big.txt"), vec![b'x'; MAX_SECRET_SIZE]).unwrap();
        std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
        let opts = crate::ProjectOptions { working_dir: Some(dir.path().to_path_buf()), project_name: Some("demo".into()), environment: Some(BTreeMap::new()), ..Default::default() };
        let p = crate::load_project(&opts).unwrap();
        (dir, p)
    }

    #[test]
    fn references_carry_target_owner_and_mode() {
        let (_d, p) = project("services:\n  a:\n    image: busybox\n    secrets:\n      - pw\n      - {source: pw, target: /etc/pw, uid: \"1000\", gid: \"50\", mode: 0400}\n      - {source: pw, target: t3, mode: 0o440}\nsecrets:\n  pw: {file: ./pw.txt}\n");
        let refs = references(&p, &p.services["a"]).unwrap();
        assert_eq!(refs[0], json!({"File": {"Name": "pw", "UID": "0", "GID": "0"}, "SecretName": "demo_pw"}));
        assert_eq!(refs[1], json!({"File": {"Name": "/etc/pw", "UID": "1000", "GID": "50", "Mode": 0o400}, "SecretName": "demo_pw"}));
        assert_eq!(refs[2]["File"]["Mode"], json!(0o440));
        check(&p, &p.services["a"]).unwrap();
    }

    #[test]
    fn bad_secrets_fail_the_check() {
        let (_d, p) = project("services:\n  a: {image: busybox, secrets: [big]}\nsecrets:\n  big: {file: ./big.txt}\n");
        let e = check(&p, &p.services["a"]).unwrap_err().to_string();
        assert!(e.contains("less than 512000 bytes"), "{e}");
        let (_d2, p) = project("services:\n  a: {image: busybox, secrets: [{source: pw, mode: \"rw\"}]}\nsecrets:\n  pw: {file: ./pw.txt}\n");
        assert!(check(&p, &p.services["a"]).unwrap_err().to_string().contains("invalid mode"));
    }
}
