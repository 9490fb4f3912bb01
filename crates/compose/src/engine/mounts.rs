//! A service's `volumes`, `tmpfs` and `configs` as the create body's `Binds`,
//! `Mounts` and `Tmpfs` (its `secrets` go to `HostConfig.BerthSecrets`, see
//! [`super::secrets`]).

use std::collections::HashMap;

use berth_api::models::{Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountTypeEnum, MountVolumeOptions};
use serde_json::Value;

use super::body::volume_name;
use super::error::{EngineError, Result};
use super::secrets;
use crate::model::{ByteSize, Project, Service, ServiceVolume};

/// What goes into HostConfig for the service's file system.
#[derive(Debug, Default)]
pub struct Mounts {
    pub binds: Vec<String>,
    pub mounts: Vec<Mount>,
    pub tmpfs: HashMap<String, String>,
}

/// Builds the mounts of `service`. `inherited` are the anonymous volumes of the
/// container being replaced, keyed by target, which keep their data across a
/// recreate (as compose does, unless `--renew-anon-volumes`).
pub fn service_mounts(project: &Project, service: &Service, inherited: &HashMap<String, String>) -> Result<Mounts> {
    let mut out = Mounts::default();
    for v in &service.volumes {
        match v.kind.as_str() {
            "bind" => bind(service, v, &mut out)?,
            "volume" => out.mounts.push(volume(project, service, v, inherited)?),
            "tmpfs" => out.mounts.push(tmpfs(service, v)?),
            other => return Err(EngineError::service(&service.name, format!("volumes: mount type {other:?} is not supported by berth"))),
        }
    }
    for t in &service.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        out.tmpfs.insert(path.to_owned(), opts.to_owned());
    }
    for (target, source) in secrets::file_mounts(project, service)? {
        out.mounts.push(Mount {
            target: Some(target),
            source: Some(source.display().to_string()),
            typ: Some(MountTypeEnum::BIND),
            read_only: Some(true),
            ..Default::default()
        });
    }
    Ok(out)
}

/// Short-syntax binds create a missing host directory (docker-compose v1's habit,
/// kept by v2), which only `Binds` does; long-syntax ones must exist.
fn bind(service: &Service, v: &ServiceVolume, out: &mut Mounts) -> Result<()> {
    let source = v.source.clone().ok_or_else(|| EngineError::service(&service.name, format!("volumes: bind mount to {} has no source", v.target)))?;
    let opts = v.bind.clone().unwrap_or_default();
    if opts.create_host_path {
        let mut flags = Vec::new();
        if v.read_only {
            flags.push("ro".to_owned());
        }
        flags.extend(opts.propagation.clone());
        flags.extend(opts.selinux.clone());
        let mut spec = format!("{source}:{}", v.target);
        if !flags.is_empty() {
            spec = format!("{spec}:{}", flags.join(","));
        }
        out.binds.push(spec);
        return Ok(());
    }
    let propagation = match opts.propagation.as_deref() {
        None => None,
        Some(p) => Some(p.parse::<MountBindOptionsPropagationEnum>().map_err(|_| EngineError::service(&service.name, format!("volumes: invalid propagation {p:?}")))?),
    };
    out.mounts.push(Mount {
        target: Some(v.target.clone()),
        source: Some(source),
        typ: Some(MountTypeEnum::BIND),
        read_only: v.read_only.then_some(true),
        bind_options: propagation.map(|p| MountBindOptions { propagation: Some(p), ..Default::default() }),
        ..Default::default()
    });
    Ok(())
}

fn volume(project: &Project, service: &Service, v: &ServiceVolume, inherited: &HashMap<String, String>) -> Result<Mount> {
    let source = match &v.source {
        // A named volume: its engine-side name (`<project>_<key>` or `name:`).
        Some(key) if project.volumes.contains_key(key) => Some(volume_name(project, key)),
        Some(key) => return Err(EngineError::service(&service.name, format!("refers to undefined volume {key}"))),
        None => inherited.get(&v.target).cloned(),
    };
    let opts = v.volume.clone().unwrap_or_default();
    let subpath = opts.subpath.clone().filter(|s| !s.is_empty());
    Ok(Mount {
        target: Some(v.target.clone()),
        source,
        typ: Some(MountTypeEnum::VOLUME),
        read_only: v.read_only.then_some(true),
        volume_options: (opts.nocopy || subpath.is_some()).then(|| MountVolumeOptions { no_copy: opts.nocopy.then_some(true), subpath, ..Default::default() }),
        ..Default::default()
    })
}

fn tmpfs(service: &Service, v: &ServiceVolume) -> Result<Mount> {
    let bad = |what: &str, val: &Value| EngineError::service(&service.name, format!("volumes: invalid tmpfs {what} {val} for {}", v.target));
    let mut o = MountTmpfsOptions::default();
    if let Some(t) = &v.tmpfs {
        if let Some(size) = t.get("size") {
            let s = serde_json::from_value::<ByteSize>(size.clone()).map_err(|_| bad("size", size))?;
            o.size_bytes = Some(s.0 as i64);
        }
        if let Some(mode) = t.get("mode") {
            // Compose writes the mode in octal (`1777`), as a number or a string.
            let text = match mode {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => return Err(bad("mode", mode)),
            };
            o.mode = Some(i64::from_str_radix(text.trim_start_matches("0o"), 8).map_err(|_| bad("mode", mode))?);
        }
    }
    Ok(Mount {
        target: Some(v.target.clone()),
        typ: Some(MountTypeEnum::TMPFS),
        read_only: v.read_only.then_some(true),
        tmpfs_options: (o != MountTmpfsOptions::default()).then_some(o),
        ..Default::default()
    })
}
