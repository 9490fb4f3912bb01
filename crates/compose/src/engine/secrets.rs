//! Secrets and configs reach a container as read-only bind mounts of one file,
//! never through the image or the environment. A `file:` source is mounted as it
//! is; `environment:` and `content:` sources are written first to a private
//! directory of the project on this host (0700, files 0444), removed by `down`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::error::{EngineError, Result};
use crate::model::{ConfigObject, FileReference, Project, Service};

/// Where `environment:`/`content:` secrets of `project` are written: under
/// `$XDG_RUNTIME_DIR` when set (a per-user tmpfs), else the temporary directory.
pub fn state_dir(project: &str) -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_dir()).unwrap_or_else(std::env::temp_dir);
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    base.join(format!("berth-compose-{uid}")).join(project)
}

#[derive(Clone, Copy)]
enum Kind {
    Secret,
    Config,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }
    fn dir(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Config => "configs",
        }
    }
}

/// Where a granted secret/config appears in the container.
fn target(kind: Kind, r: &FileReference) -> String {
    let t = r.target.clone().unwrap_or_else(|| r.source.clone());
    match kind {
        _ if t.starts_with('/') => t,
        Kind::Secret => format!("/run/secrets/{t}"),
        Kind::Config => format!("/{t}"),
    }
}

/// Where the data of a top-level secret/config is on this host, and what to
/// write there first (for `environment:`/`content:`).
fn source(project: &Project, service: &Service, kind: Kind, key: &str, obj: &ConfigObject) -> Result<(PathBuf, Option<String>)> {
    let err = |m: String| EngineError::service(&service.name, m);
    if obj.external {
        return Err(err(format!("{} {key:?} is external: external {}s need a swarm, which berth does not have", kind.word(), kind.word())));
    }
    let written = state_dir(&project.name).join(kind.dir()).join(key);
    if let Some(f) = &obj.file {
        let p = PathBuf::from(f);
        if !p.exists() {
            return Err(err(format!("{} {key:?}: file {} not found", kind.word(), p.display())));
        }
        return Ok((p, None));
    }
    if let Some(var) = &obj.environment {
        let value = project.meta.environment.get(var).cloned().ok_or_else(|| err(format!("{} {key:?}: environment variable {var} is not set", kind.word())))?;
        return Ok((written, Some(value)));
    }
    if let Some(c) = &obj.content {
        return Ok((written, Some(c.clone())));
    }
    Err(err(format!("{} {key:?} has no file, environment or content", kind.word())))
}

fn each(project: &Project, service: &Service, mut f: impl FnMut(Kind, &FileReference, PathBuf, Option<String>) -> Result<()>) -> Result<()> {
    for (kind, refs, defs) in [(Kind::Secret, &service.secrets, &project.secrets), (Kind::Config, &service.configs, &project.configs)] {
        for r in refs {
            let obj = defs.get(&r.source).ok_or_else(|| EngineError::service(&service.name, format!("refers to undefined {} {}", kind.word(), r.source)))?;
            let (path, data) = source(project, service, kind, &r.source, obj)?;
            f(kind, r, path, data)?;
        }
    }
    Ok(())
}

/// (target in the container, file on the host) for every secret and config the
/// service is granted. Checks only; writes nothing.
pub fn file_mounts(project: &Project, service: &Service) -> Result<Vec<(String, PathBuf)>> {
    let mut out: BTreeMap<String, PathBuf> = BTreeMap::new();
    each(project, service, |kind, r, path, _| {
        out.insert(target(kind, r), path);
        Ok(())
    })?;
    Ok(out.into_iter().collect())
}

/// Writes the `environment:`/`content:` sources the service is granted.
pub fn write_files(project: &Project, service: &Service) -> Result<()> {
    each(project, service, |_, _, path, data| match data {
        Some(d) => write_private(&path, d.as_bytes()),
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
