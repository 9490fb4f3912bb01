//! `create` (and the first half of `up`): bring the project's containers to
//! what the files say, as docker compose converges them. Each service's
//! containers are compared with its `config-hash` and image id: unchanged ones
//! are kept (running or not), changed ones recreated under the same number,
//! missing numbers created, surplus numbers (scale down) removed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use berth_api::client::{encode, query};
use serde_json::Value;

use super::body::{container_body, container_name, Target};
use super::containers::Container;
use super::error::{EngineError, Result};
use super::images::ImagePolicy;
use super::{api, parallel, secrets, Engine, Kind};
use crate::labels;
use crate::model::Service;

/// When `up` replaces an existing container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recreate {
    /// When its configuration or image changed (the default).
    #[default]
    Diverged,
    /// Always (`--force-recreate`).
    Force,
    /// Never (`--no-recreate`).
    Never,
}

/// What `up`/`create`/`scale` are asked to do.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Services named on the command line (all when empty).
    pub services: Vec<String>,
    /// Leave the named services' dependencies alone (`--no-deps`).
    pub no_deps: bool,
    pub recreate: Recreate,
    pub remove_orphans: bool,
    /// `--scale svc=N`, over `scale`/`deploy.replicas`.
    pub scale: BTreeMap<String, u64>,
    /// Seconds to wait for a replaced container to stop (`-t`).
    pub timeout: Option<i64>,
    pub images: ImagePolicy,
    /// `-V`: replaced containers do not pass their anonymous volumes on.
    pub renew_anon_volumes: bool,
}

/// What a convergence did.
#[derive(Debug, Clone, Default)]
pub struct Converged {
    /// The services it covered (those named and their dependencies).
    pub services: BTreeSet<String>,
    /// Ids of the containers it created or recreated (all their output is new).
    pub fresh: BTreeSet<String>,
    /// Services to restart once started: they asked (`depends_on.restart: true`)
    /// to follow a dependency that was just recreated.
    pub restart: BTreeSet<String>,
}

impl Engine {
    /// The services a command covers: those named (all when none) plus, unless
    /// `no_deps`, everything they depend on.
    pub fn selection(&self, services: &[String], no_deps: bool) -> Result<BTreeSet<String>> {
        for s in services {
            if !self.project.services.contains_key(s) {
                return Err(crate::ComposeError::NoSuchService(s.clone()).into());
            }
        }
        if services.is_empty() {
            return Ok(self.project.services.keys().cloned().collect());
        }
        if no_deps {
            return Ok(services.iter().cloned().collect());
        }
        Ok(crate::graph::with_dependencies(&self.project, services)?)
    }

    /// Everything that can be known wrong before anything is made: a cycle, a
    /// service that cannot become a container, external resources missing.
    pub fn check(&self, services: &BTreeSet<String>, scale: &BTreeMap<String, u64>) -> Result<()> {
        crate::graph::start_order(&self.project)?;
        for name in services {
            let svc = &self.project.services[name];
            let replicas = scale.get(name).copied().unwrap_or_else(|| svc.replicas());
            if let Some(cn) = &svc.container_name {
                if replicas > 1 {
                    return Err(EngineError::service(name, format!("container_name {cn:?} is set, so the service cannot have {replicas} containers (names must be unique)")));
                }
            }
            let t = Target { name: &container_name(&self.project, svc, 1), number: 1, oneoff: false, image_id: None, aliases: true, inherited: HashMap::new() };
            container_body(&self.project, svc, &t)?;
            secrets::check(&self.project, svc)?;
        }
        self.check_external(services)?;
        self.check_external_secrets(services)
    }

    /// `create`: checks, images, networks and volumes, then containers in
    /// dependency order. Nothing is started.
    pub fn create(&self, o: &UpOptions) -> Result<Converged> {
        let services = self.selection(&o.services, o.no_deps)?;
        self.check(&services, &o.scale)?;
        let orphans = self.orphans()?;
        if !orphans.is_empty() {
            if o.remove_orphans {
                self.remove_containers(&orphans, o.timeout, false)?;
            } else {
                self.warn_orphans(&orphans);
            }
        }
        let image_ids = self.ensure_images(&services, &o.images)?;
        self.ensure_resources(&services)?;
        let changed_secrets = self.ensure_secrets(&services)?;
        let mut existing = self.containers_by_service()?;
        let mut fresh = BTreeSet::new();
        let mut recreated = BTreeSet::new();
        for name in crate::graph::start_order(&self.project)?.into_iter().filter(|n| services.contains(n)) {
            let svc = &self.project.services[&name];
            // --force-recreate and --no-recreate are about the services named;
            // their dependencies are only recreated when they changed.
            let mut recreate = if o.services.is_empty() || o.services.contains(&name) { o.recreate } else { Recreate::Diverged.min_with(o.recreate) };
            // A secret's new value reaches containers made after it changed.
            if recreate == Recreate::Diverged && svc.secrets.iter().any(|r| changed_secrets.contains(&r.source)) {
                recreate = Recreate::Force;
            }
            let want = o.scale.get(&name).copied().unwrap_or_else(|| svc.replicas());
            let have = existing.remove(&name).unwrap_or_default();
            let (made, replaced) = self.converge_service(svc, have, want, image_ids.get(&name).map(String::as_str), recreate, o)?;
            fresh.extend(made);
            if replaced {
                recreated.insert(name);
            }
        }
        let restart = self
            .project
            .services
            .keys()
            .filter(|s| !recreated.contains(*s))
            .filter(|s| self.project.services[*s].depends_on.iter().any(|(d, dep)| dep.restart && recreated.contains(d)))
            .cloned()
            .collect();
        Ok(Converged { services, fresh, restart })
    }

    /// One service: returns the ids of containers made, and whether any replaced one.
    fn converge_service(&self, svc: &Service, mut have: Vec<Container>, want: u64, image_id: Option<&str>, recreate: Recreate, o: &UpOptions) -> Result<(Vec<String>, bool)> {
        have.sort_by_key(|c| c.number);
        let keep = have.len().min(want as usize);
        let surplus: Vec<Container> = have.split_off(keep);
        if !surplus.is_empty() {
            self.remove_containers(&surplus, o.timeout, false)?;
        }
        let hash = labels::service_hash(svc);
        let diverged = |c: &Container| c.config_hash != hash || image_id.is_some_and(|id| c.image_id.as_deref() != Some(id));
        let replace: Vec<&Container> = have.iter().filter(|c| recreate == Recreate::Force || (recreate == Recreate::Diverged && diverged(c))).collect();
        let made = std::sync::Mutex::new(Vec::new());
        parallel::each(&replace, |c| {
            let id = self.recreate(svc, c, image_id, o)?;
            made.lock().unwrap_or_else(|p| p.into_inner()).push(id);
            Ok(())
        })?;
        let mut made = made.into_inner().unwrap_or_else(|p| p.into_inner());
        for c in have.iter().filter(|c| !replace.iter().any(|r| r.id == c.id)) {
            self.event(Kind::Container, &c.name, if c.state == "running" { "Running" } else { "Created" });
        }
        // New numbers follow the highest in use, as compose numbers them.
        let first = have.iter().map(|c| c.number).max().unwrap_or(0) + 1;
        for number in (first..).take((want as usize).saturating_sub(have.len())) {
            let name = container_name(&self.project, svc, number);
            self.event(Kind::Container, &name, "Creating");
            made.push(self.create_container(svc, number, &name, image_id, HashMap::new())?);
            self.event(Kind::Container, &name, "Created");
        }
        Ok((made, !replace.is_empty()))
    }

    /// Makes one container of `svc` (configs written first); returns its id.
    pub(crate) fn create_container(&self, svc: &Service, number: u64, name: &str, image_id: Option<&str>, inherited: HashMap<String, String>) -> Result<String> {
        secrets::write_files(&self.project, svc)?;
        let t = Target { name, number, oneoff: false, image_id, aliases: true, inherited };
        let body = container_body(&self.project, svc, &t)?;
        self.post_create(name, &body, svc)
    }

    /// `POST /containers/create?name=` with the service's secrets as berth's
    /// `HostConfig.BerthSecrets`; returns the id.
    pub(crate) fn post_create(&self, name: &str, body: &berth_api::models::ContainerCreateBody, svc: &Service) -> Result<String> {
        let q = query([("name", Some(name.to_owned()))]);
        let mut body = serde_json::to_value(body).map_err(|e| EngineError::Other(format!("encoding the create body of {name}: {e}")))?;
        let refs = secrets::references(&self.project, svc)?;
        if !refs.is_empty() {
            body["HostConfig"]["BerthSecrets"] = Value::Array(refs);
        }
        let v: Value = api::post_json(&self.client, &format!("/containers/create{q}"), &body, || format!("creating container {name}"))?;
        for w in v["Warnings"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            self.warn(w);
        }
        v["Id"].as_str().map(str::to_owned).ok_or_else(|| EngineError::Other(format!("the daemon's answer to creating {name} has no Id")))
    }

    /// Replaces `old` as compose does: the new container is made under a
    /// temporary name (so a refused create leaves the old one untouched), the old
    /// one stopped and removed, the new one renamed into place.
    fn recreate(&self, svc: &Service, old: &Container, image_id: Option<&str>, o: &UpOptions) -> Result<String> {
        let name = container_name(&self.project, svc, old.number);
        self.event(Kind::Container, &name, "Recreate");
        let inherited = if o.renew_anon_volumes { HashMap::new() } else { self.anonymous_volumes(&old.id)? };
        let short: String = old.id.chars().take(12).collect();
        let tmp = format!("{short}_{name}");
        let id = self.create_container(svc, old.number, &tmp, image_id, inherited)?;
        self.stop_one(old, o.timeout)?;
        api::delete(&self.client, &format!("/containers/{}?force=1", encode(&old.id)), || format!("removing container {}", old.name))?;
        api::post(&self.client, &format!("/containers/{}/rename{}", encode(&id), query([("name", Some(name.clone()))])), || format!("renaming {tmp} to {name}"))?;
        self.event(Kind::Container, &name, "Recreated");
        Ok(id)
    }

    /// target → name of the anonymous volumes a container has.
    fn anonymous_volumes(&self, id: &str) -> Result<HashMap<String, String>> {
        let info = api::inspect_container(&self.client, id)?;
        Ok(info["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["Type"] == "volume")
            .filter_map(|m| Some((m["Destination"].as_str()?.to_owned(), m["Name"].as_str()?.to_owned())))
            // The daemon names anonymous volumes with 64 hex digits, as dockerd.
            .filter(|(_, n)| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect())
    }
}

impl Recreate {
    /// Dependencies follow `--no-recreate` but not `--force-recreate`.
    fn min_with(self, asked: Recreate) -> Recreate {
        if asked == Recreate::Never {
            Recreate::Never
        } else {
            self
        }
    }
}
