//! `compose run`: a one-off container of a service, its command and settings
//! overridden from the command line, labelled `oneoff=True` so `up` and `ps`
//! leave it alone; its dependencies are brought up first unless `--no-deps`.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};

use berth_api::models::{RestartPolicy, RestartPolicyNameEnum};
use serde_json::Value;

use super::body::{container_body, Target};
use super::convergence::UpOptions;
use super::error::{EngineError, Result};
use super::images::ImagePolicy;
use super::{secrets, Engine, Kind};
use crate::model::{Port, Service, ServiceVolume};
use crate::normalize::{normalize_volume, parse_port_spec, PathContext};

/// `compose run` options.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub service: String,
    /// Replaces the service's command when not empty.
    pub command: Vec<String>,
    /// `--entrypoint`, split as a shell would.
    pub entrypoint: Option<String>,
    /// `-e K=V` (or `K`, taken from this environment).
    pub env: Vec<String>,
    /// `-l K=V`.
    pub labels: Vec<String>,
    pub name: Option<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    /// `-v` in the short syntax.
    pub volumes: Vec<String>,
    /// `-p` in the short syntax.
    pub publish: Vec<String>,
    /// Keep the service's `ports` (they are dropped otherwise).
    pub service_ports: bool,
    /// The service name as a DNS alias too.
    pub use_aliases: bool,
    pub rm: bool,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    pub no_deps: bool,
    pub images: ImagePolicy,
}

impl Engine {
    /// Creates the one-off container (not started); returns (id, name).
    pub fn run(&self, o: &RunOptions) -> Result<(String, String)> {
        let svc = self.project.services.get(&o.service).ok_or_else(|| crate::ComposeError::NoSuchService(o.service.clone()))?;
        let svc = self.run_service(svc, o)?;
        let only: BTreeSet<String> = [o.service.clone()].into();
        self.check(&only, &Default::default())?;
        let deps: Vec<String> = crate::graph::with_dependencies(&self.project, std::slice::from_ref(&o.service))?.into_iter().filter(|d| *d != o.service).collect();
        if !o.no_deps && !deps.is_empty() {
            let converged = self.create(&UpOptions { services: deps, images: o.images.clone(), ..Default::default() })?;
            self.start(&converged.services, &Default::default())?;
        }
        let ids = self.ensure_images(&only, &o.images)?;
        self.ensure_resources(&only)?;
        self.ensure_secrets(&only)?;
        secrets::write_files(&self.project, &svc)?;
        let name = o.name.clone().unwrap_or_else(|| crate::labels::oneoff_container_name(&self.project.name, &svc.name, &random_suffix()));
        let t = Target { name: &name, number: 1, oneoff: true, image_id: ids.get(&o.service).map(String::as_str), aliases: o.use_aliases, inherited: HashMap::new() };
        let mut body = container_body(&self.project, &svc, &t)?;
        let attached = !o.detach;
        body.attach_stdin = Some(attached && o.interactive);
        body.attach_stdout = Some(attached);
        body.attach_stderr = Some(attached);
        body.open_stdin = Some(o.interactive);
        body.stdin_once = Some(attached && o.interactive);
        body.tty = Some(o.tty);
        if let Some(h) = body.host_config.as_mut() {
            h.auto_remove = Some(o.rm);
            if o.rm {
                // The daemon refuses a restart policy on an auto-removed container.
                h.restart_policy = Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None });
            }
        }
        self.event(Kind::Container, &name, "Creating");
        let id = self.post_create(&name, &body, &svc)?;
        self.event(Kind::Container, &name, "Created");
        Ok((id, name))
    }

    /// The service with the command line's overrides applied.
    fn run_service(&self, svc: &Service, o: &RunOptions) -> Result<Service> {
        let bad = |m: String| EngineError::service(&svc.name, m);
        let mut s = svc.clone();
        if !o.command.is_empty() {
            s.command = Some(o.command.clone());
        }
        if let Some(ep) = &o.entrypoint {
            s.entrypoint = Some(shell_words::split(ep).map_err(|e| bad(format!("--entrypoint {ep:?}: {e}")))?);
        }
        for e in &o.env {
            match e.split_once('=') {
                Some((k, v)) => s.environment.insert(k.to_owned(), Some(v.to_owned())),
                None => s.environment.insert(e.clone(), std::env::var(e).ok()),
            };
        }
        for l in &o.labels {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            s.labels.insert(k.to_owned(), v.to_owned());
        }
        if o.user.is_some() {
            s.user = o.user.clone();
        }
        if o.workdir.is_some() {
            s.working_dir = o.workdir.clone();
        }
        let ctx = PathContext { base_dir: self.project.meta.working_dir.clone(), home: std::env::var_os("HOME").map(Into::into), file: "command line".into() };
        for v in &o.volumes {
            let long = normalize_volume(&Value::String(v.clone()), &ctx).map_err(|m| bad(format!("-v {v}: {m}")))?;
            s.volumes.push(serde_json::from_value::<ServiceVolume>(long).map_err(|e| bad(format!("-v {v}: {e}")))?);
        }
        if !o.service_ports {
            s.ports.clear();
        }
        for p in &o.publish {
            for long in parse_port_spec(p).map_err(|m| bad(format!("-p {p}: {m}")))? {
                s.ports.push(serde_json::from_value::<Port>(long).map_err(|e| bad(format!("-p {p}: {e}")))?);
            }
        }
        // A one-off has its own name; the service's fixed one would clash.
        s.container_name = None;
        Ok(s)
    }
}

/// 12 hex digits for a one-off's name, from the standard library's random
/// hasher keys (no crate needed for a name).
fn random_suffix() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}
