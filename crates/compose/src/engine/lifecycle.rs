//! stop, kill, restart, pause, unpause, rm and down: what happens to existing
//! containers, dependents before what they depend on.

use std::collections::{BTreeMap, BTreeSet};

use berth_api::client::{encode, query};

use super::body::image_name;
use super::containers::{Container, OneOff};
use super::error::Result;
use super::parallel::{self, dependency_graph};
use super::{api, secrets, Engine, Kind};

/// `down --rmi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveImages {
    /// Images compose named itself (`<project>-<service>`, built without `image:`).
    Local,
    /// Every service's image.
    All,
}

#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// `-v`: named volumes of the project and anonymous ones of its containers.
    pub volumes: bool,
    pub remove_orphans: bool,
    pub images: Option<RemoveImages>,
    /// `-t`: seconds to wait before killing.
    pub timeout: Option<i64>,
}

impl Engine {
    /// Runs `f` on the containers of each service, services in reverse dependency
    /// order (dependents first), a service's containers in parallel. Containers
    /// of services the project does not know (orphans) go first.
    fn reverse_each(&self, containers: Vec<Container>, f: impl Fn(&Container) -> Result<()> + Sync) -> Result<()> {
        let mut by: BTreeMap<String, Vec<Container>> = BTreeMap::new();
        for c in containers {
            by.entry(c.service.clone()).or_default().push(c);
        }
        let known: BTreeSet<String> = by.keys().filter(|s| self.project.services.contains_key(*s)).cloned().collect();
        let unknown: Vec<Container> = by.iter().filter(|(s, _)| !known.contains(*s)).flat_map(|(_, v)| v.clone()).collect();
        parallel::each(&unknown, &f)?;
        let graph = dependency_graph(&self.project, &known, true);
        parallel::walk(&graph, |name| parallel::each(by.get(name).map(Vec::as_slice).unwrap_or(&[]), &f))
    }

    pub(crate) fn stop_one(&self, c: &Container, timeout: Option<i64>) -> Result<()> {
        if !c.is_running() {
            return Ok(());
        }
        self.event(Kind::Container, &c.name, "Stopping");
        let q = query([("t", timeout.map(|t| t.to_string()))]);
        match api::post(&self.client, &format!("/containers/{}/stop{q}", encode(&c.id)), || format!("stopping container {}", c.name)) {
            Err(e) if !e.is_not_found() => return Err(e),
            _ => {}
        }
        self.event(Kind::Container, &c.name, "Stopped");
        Ok(())
    }

    fn remove_one(&self, c: &Container, volumes: bool) -> Result<()> {
        self.event(Kind::Container, &c.name, "Removing");
        let q = query([("force", Some("1".to_owned())), ("v", volumes.then(|| "1".to_owned()))]);
        match api::delete(&self.client, &format!("/containers/{}{q}", encode(&c.id)), || format!("removing container {}", c.name)) {
            Err(e) if !e.is_not_found() => return Err(e),
            _ => {}
        }
        self.event(Kind::Container, &c.name, "Removed");
        Ok(())
    }

    /// Stops then removes `containers`, dependents first.
    pub(crate) fn remove_containers(&self, containers: &[Container], timeout: Option<i64>, volumes: bool) -> Result<()> {
        self.reverse_each(containers.to_vec(), |c| {
            self.stop_one(c, timeout)?;
            self.remove_one(c, volumes)
        })
    }

    /// `stop`: the running containers of `services` (all when empty).
    pub fn stop(&self, services: &[String], timeout: Option<i64>) -> Result<()> {
        let cs = self.containers(services, OneOff::Exclude, false)?;
        self.reverse_each(cs, |c| self.stop_one(c, timeout))
    }

    /// `kill`: sends `signal` (SIGKILL by default) to the running containers.
    pub fn kill(&self, services: &[String], signal: Option<&str>) -> Result<()> {
        let cs = self.containers(services, OneOff::Exclude, false)?;
        let q = query([("signal", signal.map(str::to_owned))]);
        parallel::each(&cs, |c| {
            self.event(Kind::Container, &c.name, "Killing");
            api::post(&self.client, &format!("/containers/{}/kill{q}", encode(&c.id)), || format!("killing container {}", c.name))?;
            self.event(Kind::Container, &c.name, "Killed");
            Ok(())
        })
    }

    /// `restart`: each container of `services` (all when empty) in dependency
    /// order, then the services that asked (`depends_on.restart: true`) to be
    /// restarted with them.
    pub fn restart(&self, services: &[String], timeout: Option<i64>) -> Result<()> {
        let mut names: BTreeSet<String> = if services.is_empty() { self.project.services.keys().cloned().collect() } else { services.iter().cloned().collect() };
        let asked = names.clone();
        for (name, svc) in &self.project.services {
            if svc.depends_on.iter().any(|(d, dep)| dep.restart && asked.contains(d)) {
                names.insert(name.clone());
            }
        }
        let q = query([("t", timeout.map(|t| t.to_string()))]);
        let graph = dependency_graph(&self.project, &names, false);
        parallel::walk(&graph, |name| {
            let cs = self.containers(&[name.to_owned()], OneOff::Exclude, true)?;
            parallel::each(&cs, |c| {
                self.event(Kind::Container, &c.name, "Restarting");
                api::post(&self.client, &format!("/containers/{}/restart{q}", encode(&c.id)), || format!("restarting container {}", c.name))?;
                self.event(Kind::Container, &c.name, "Started");
                Ok(())
            })
        })
    }

    /// `pause` / `unpause`.
    pub fn pause(&self, services: &[String], unpause: bool) -> Result<()> {
        let (verb, doing, done) = if unpause { ("unpause", "Unpausing", "Unpaused") } else { ("pause", "Pausing", "Paused") };
        let cs = self.containers(services, OneOff::Exclude, false)?;
        parallel::each(&cs, |c| {
            self.event(Kind::Container, &c.name, doing);
            api::post(&self.client, &format!("/containers/{}/{verb}", encode(&c.id)), || format!("{verb} container {}", c.name))?;
            self.event(Kind::Container, &c.name, done);
            Ok(())
        })
    }

    /// The stopped containers `rm` would remove (all of them with `stop`).
    pub fn removable(&self, services: &[String], stop: bool, oneoff: bool) -> Result<Vec<Container>> {
        let which = if oneoff { OneOff::Include } else { OneOff::Exclude };
        Ok(self.containers(services, which, true)?.into_iter().filter(|c| stop || !c.is_running()).collect())
    }

    /// `rm`: removes `containers` (stopping them first).
    pub fn remove(&self, containers: &[Container], volumes: bool) -> Result<()> {
        self.remove_containers(containers, None, volumes)
    }

    /// `down`: containers (one-offs too), then networks, then with `-v` volumes,
    /// with `--rmi` images, and the project's secrets and written configs.
    pub fn down(&self, o: &DownOptions) -> Result<()> {
        let mut containers = self.containers(&[], OneOff::Include, true)?;
        let orphans = self.orphans()?;
        if !orphans.is_empty() && !o.remove_orphans {
            containers.retain(|c| !orphans.iter().any(|o| o.id == c.id));
            self.warn_orphans(&orphans);
        }
        self.remove_containers(&containers, o.timeout, o.volumes)?;
        self.remove_networks()?;
        if o.volumes {
            self.remove_volumes()?;
        }
        if let Some(which) = o.images {
            self.remove_images(which);
        }
        self.remove_secrets()?;
        secrets::remove_state(&self.project.name);
        Ok(())
    }

    fn remove_images(&self, which: RemoveImages) {
        let mut images: BTreeSet<String> = BTreeSet::new();
        for svc in self.project.services.values() {
            if which == RemoveImages::All || svc.image.is_none() {
                images.insert(image_name(&self.project, svc));
            }
        }
        for image in images {
            self.remove_object(Kind::Image, &format!("/images/{}", encode(&image)), &image);
        }
    }
}
