//! Starting services in dependency order, each once its `depends_on`
//! conditions hold: `service_started`, `service_healthy` (the dependency's
//! health check says healthy), `service_completed_successfully` (it exited 0).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use berth_api::client::encode;
use serde_json::Value;

use super::containers::{Container, OneOff};
use super::error::{EngineError, Result};
use super::parallel::{self, dependency_graph};
use super::{api, Engine, Kind};
use crate::model::DependsOnCondition;

/// How often a waited-for container is looked at.
const POLL: Duration = Duration::from_millis(250);

/// Called with each container once its service is up (attached `up` follows
/// its log from then on).
pub type OnStarted<'a> = &'a (dyn Fn(&Container) + Sync);

/// What `start`/`up` do once containers exist.
#[derive(Default)]
pub struct StartOptions<'a> {
    pub on_started: Option<OnStarted<'a>>,
}

impl Engine {
    /// Starts the containers of `services` that are not running, in dependency
    /// order, independent services in parallel.
    pub fn start(&self, services: &BTreeSet<String>, o: &StartOptions) -> Result<()> {
        let graph = dependency_graph(&self.project, services, false);
        parallel::walk(&graph, |name| {
            self.wait_dependencies(name)?;
            let containers = self.containers(&[name.to_owned()], OneOff::Exclude, true)?;
            parallel::each(&containers, |c| {
                if c.state != "running" {
                    self.start_one(c)?;
                }
                if let Some(f) = o.on_started {
                    f(c);
                }
                Ok(())
            })
        })
    }

    /// `up`'s start: the services converged, then the restarts their
    /// dependencies' recreation asked for.
    pub fn start_converged(&self, c: &super::Converged, o: &StartOptions, timeout: Option<i64>) -> Result<()> {
        self.start(&c.services, o)?;
        if c.restart.is_empty() {
            return Ok(());
        }
        self.restart(&c.restart.iter().cloned().collect::<Vec<_>>(), timeout)
    }

    pub(crate) fn start_one(&self, c: &Container) -> Result<()> {
        self.event(Kind::Container, &c.name, "Starting");
        let path = if c.state == "paused" { "unpause" } else { "start" };
        api::post(&self.client, &format!("/containers/{}/{path}", encode(&c.id)), || format!("starting container {}", c.name))?;
        self.event(Kind::Container, &c.name, "Started");
        Ok(())
    }

    /// Waits for what `name` depends on. A dependency with `required: false`
    /// that does not become ready is a warning.
    fn wait_dependencies(&self, name: &str) -> Result<()> {
        let Some(svc) = self.project.services.get(name) else { return Ok(()) };
        for (dep, d) in &svc.depends_on {
            if d.condition == DependsOnCondition::ServiceStarted || !self.project.services.contains_key(dep) {
                continue;
            }
            let containers = self.containers(std::slice::from_ref(dep), OneOff::Exclude, true)?;
            let r = containers.iter().try_for_each(|c| match d.condition {
                DependsOnCondition::ServiceHealthy => self.wait_healthy(c, None),
                _ => self.wait_completed(c),
            });
            match r {
                Err(e) if !d.required => self.warn(&format!("optional dependency {dep:?} of {name:?}: {e}")),
                r => r?,
            }
        }
        Ok(())
    }

    /// Until the container's health check reports healthy.
    pub(crate) fn wait_healthy(&self, c: &Container, deadline: Option<Instant>) -> Result<()> {
        self.event(Kind::Container, &c.name, "Waiting");
        loop {
            let info = api::inspect_container(&self.client, &c.id)?;
            let state = &info["State"];
            match state["Health"]["Status"].as_str() {
                Some("healthy") => {
                    self.event(Kind::Container, &c.name, "Healthy");
                    return Ok(());
                }
                Some("unhealthy") => return Err(EngineError::Dependency(format!("dependency failed to start: container {} is unhealthy", c.name))),
                Some(_) => {}
                None if has_healthcheck(&info) => {}
                None => return Err(EngineError::Dependency(format!("container {} has no healthcheck configured", c.name))),
            }
            if matches!(state["Status"].as_str(), Some("exited" | "dead")) {
                return Err(EngineError::Dependency(format!("dependency failed to start: container {} exited ({})", c.name, state["ExitCode"].as_i64().unwrap_or(-1))));
            }
            if deadline.is_some_and(|d| Instant::now() > d) {
                return Err(EngineError::Dependency(format!("timeout waiting for container {} to be healthy", c.name)));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Until the container exited; an exit status other than 0 is an error.
    fn wait_completed(&self, c: &Container) -> Result<()> {
        self.event(Kind::Container, &c.name, "Waiting");
        loop {
            let info = api::inspect_container(&self.client, &c.id)?;
            let state = &info["State"];
            match state["Status"].as_str() {
                Some("exited" | "dead") => {
                    let code = state["ExitCode"].as_i64().unwrap_or(-1);
                    if code != 0 {
                        return Err(EngineError::Dependency(format!("service {:?} didn't complete successfully: exit {code}", c.service)));
                    }
                    self.event(Kind::Container, &c.name, "Exited");
                    return Ok(());
                }
                // Made but never started (its service was not part of this start).
                Some("created") if state["StartedAt"].as_str().is_none_or(|s| s.starts_with("0001")) => return Ok(()),
                _ => std::thread::sleep(POLL),
            }
        }
    }

    /// `up --wait`: every container of `services` running, and healthy when it
    /// has a health check. One-shot services others wait on may have exited 0.
    pub fn wait_ready(&self, services: &BTreeSet<String>, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let one_shot: BTreeSet<&String> = self.project.services.values().flat_map(|s| s.depends_on.iter()).filter(|(_, d)| d.condition == DependsOnCondition::ServiceCompletedSuccessfully).map(|(n, _)| n).collect();
        let containers: Vec<Container> = self.containers(&[], OneOff::Exclude, true)?.into_iter().filter(|c| services.contains(&c.service)).collect();
        parallel::each(&containers, |c| {
            let info = api::inspect_container(&self.client, &c.id)?;
            let state = &info["State"];
            if has_healthcheck(&info) && state["Running"].as_bool() == Some(true) {
                return self.wait_healthy(c, deadline);
            }
            match (state["Status"].as_str(), state["ExitCode"].as_i64()) {
                (Some("running"), _) => Ok(()),
                (Some("exited"), Some(0)) if one_shot.contains(&c.service) => Ok(()),
                (s, code) => Err(EngineError::Dependency(format!("container {} is {} (exit {})", c.name, s.unwrap_or("gone"), code.unwrap_or(-1)))),
            }
        })
    }
}

/// Whether the container (or its image) has a health check that is not NONE.
fn has_healthcheck(info: &Value) -> bool {
    info["Config"]["Healthcheck"]["Test"].as_array().and_then(|t| t.first()).and_then(Value::as_str).is_some_and(|t| t != "NONE")
}
