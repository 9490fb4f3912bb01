//! The project's containers as the daemon lists them, found by their
//! `com.docker.compose.*` labels.

use std::collections::BTreeMap;

use berth_api::client::query;
use berth_api::{Client, Filters};
use serde_json::Value;

use super::api;
use super::error::Result;
use super::Engine;
use crate::labels;

/// Which containers of `compose run` to include.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneOff {
    Exclude,
    Include,
    Only,
}

/// One container of a project, from `GET /containers/json`.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub project: String,
    pub service: String,
    pub number: u64,
    pub oneoff: bool,
    pub config_hash: String,
    /// `com.docker.compose.image`: the image id it was created from.
    pub image_id: Option<String>,
    /// `created`, `running`, `paused`, `restarting`, `exited`, `dead`.
    pub state: String,
    /// The list entry as the daemon sent it (for `ps`).
    pub summary: Value,
}

impl Container {
    fn from_summary(s: Value) -> Option<Container> {
        let label = |k: &str| s["Labels"][k].as_str().map(str::to_owned);
        let name = s["Names"].as_array()?.iter().filter_map(Value::as_str).map(|n| n.trim_start_matches('/')).find(|n| !n.contains('/'))?.to_owned();
        Some(Container {
            id: s["Id"].as_str()?.to_owned(),
            name,
            project: label(labels::PROJECT)?,
            service: label(labels::SERVICE).unwrap_or_default(),
            number: label(labels::CONTAINER_NUMBER).and_then(|n| n.parse().ok()).unwrap_or(0),
            oneoff: label(labels::ONEOFF).is_some_and(|v| v.eq_ignore_ascii_case("true")),
            config_hash: label(labels::CONFIG_HASH).unwrap_or_default(),
            image_id: label(labels::IMAGE),
            state: s["State"].as_str().unwrap_or("").to_owned(),
            summary: s,
        })
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "restarting" | "paused")
    }

    /// `web-1`: the name without the project, as compose prefixes log lines.
    pub fn short_name(&self) -> String {
        let prefix = format!("{}-", self.project);
        match self.name.strip_prefix(&prefix) {
            Some(rest) if !self.oneoff => rest.to_owned(),
            _ => self.name.clone(),
        }
    }
}

/// Containers carrying `filters` (label filters in docker's syntax), sorted by
/// service then number.
pub fn list(c: &Client, label_filters: &[String], all: bool) -> Result<Vec<Container>> {
    let mut f = Filters::new();
    for l in label_filters {
        f.add("label", l);
    }
    let q = query([("all", all.then(|| "1".to_owned())), ("filters", Some(f.to_json()))]);
    let raw: Vec<Value> = api::get(c, &format!("/containers/json{q}"), || "listing containers".into())?;
    let mut out: Vec<Container> = raw.into_iter().filter_map(Container::from_summary).collect();
    out.sort_by(|a, b| (&a.service, a.oneoff, a.number, &a.name).cmp(&(&b.service, b.oneoff, b.number, &b.name)));
    Ok(out)
}

impl Engine {
    /// The project's containers (all states when `all`), of `services` (every
    /// service when empty).
    pub fn containers(&self, services: &[String], oneoff: OneOff, all: bool) -> Result<Vec<Container>> {
        let mut filters = vec![format!("{}={}", labels::PROJECT, self.project.name)];
        match oneoff {
            OneOff::Exclude => filters.push(format!("{}=False", labels::ONEOFF)),
            OneOff::Only => filters.push(format!("{}=True", labels::ONEOFF)),
            OneOff::Include => {}
        }
        let mut list = list(&self.client, &filters, all)?;
        if !services.is_empty() {
            list.retain(|c| services.contains(&c.service));
        }
        Ok(list)
    }

    /// The project's containers grouped by service (one-offs left out).
    pub fn containers_by_service(&self) -> Result<BTreeMap<String, Vec<Container>>> {
        let mut by: BTreeMap<String, Vec<Container>> = BTreeMap::new();
        for c in self.containers(&[], OneOff::Exclude, true)? {
            by.entry(c.service.clone()).or_default().push(c);
        }
        Ok(by)
    }

    /// Containers of services the project no longer has (renamed or removed
    /// from the file, not merely switched off by a profile). A project known only
    /// by its name (no files) has none: all its containers are its own.
    pub fn orphans(&self) -> Result<Vec<Container>> {
        let p = &self.project;
        if p.meta.config_files.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .containers(&[], OneOff::Exclude, true)?
            .into_iter()
            .filter(|c| !p.services.contains_key(&c.service) && !p.meta.disabled_services.contains_key(&c.service))
            .collect())
    }

    pub(crate) fn warn_orphans(&self, orphans: &[Container]) {
        let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
        self.warn(&format!(
            "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(" ")
        ));
    }
}

/// A container's `State.Status` (`running`, `exited`, …).
pub fn state(c: &Client, id: &str) -> Result<String> {
    Ok(api::inspect_container(c, id)?["State"]["Status"].as_str().unwrap_or("").to_owned())
}

/// A container's last exit status.
pub fn exit_code(c: &Client, id: &str) -> Result<i64> {
    Ok(api::inspect_container(c, id)?["State"]["ExitCode"].as_i64().unwrap_or(0))
}

/// One row of `compose ls`: a project with containers on this daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectSummary {
    pub name: String,
    /// `running(2), exited(1)`.
    pub status: String,
    pub config_files: String,
    pub running: usize,
}

/// Every project on the daemon (from its containers' labels), sorted by name.
pub fn projects(c: &Client, all: bool) -> Result<Vec<ProjectSummary>> {
    let list = list(c, &[labels::PROJECT.to_owned()], true)?;
    let mut by: BTreeMap<String, Vec<Container>> = BTreeMap::new();
    for ct in list {
        by.entry(ct.project.clone()).or_default().push(ct);
    }
    let mut out = Vec::new();
    for (name, cts) in by {
        let mut states: BTreeMap<String, usize> = BTreeMap::new();
        for ct in &cts {
            *states.entry(ct.state.clone()).or_default() += 1;
        }
        let running = states.get("running").copied().unwrap_or(0);
        if running == 0 && !all {
            continue;
        }
        let status = states.iter().map(|(s, n)| format!("{s}({n})")).collect::<Vec<_>>().join(", ");
        let config_files = cts.iter().find_map(|c| c.summary["Labels"][labels::CONFIG_FILES].as_str()).unwrap_or("").to_owned();
        out.push(ProjectSummary { name, status, config_files, running });
    }
    Ok(out)
}
