//! Names and labels the engine part gives to what it creates, as docker compose
//! names them, so that `docker compose ps` and berth see the same project.

use crate::config_output::sorted;
use crate::model::{Project, Service};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";
pub const VERSION: &str = "com.docker.compose.version";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// The id of the image a container was created from (a newer image means recreate).
pub const IMAGE: &str = "com.docker.compose.image";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";

/// Value of the `com.docker.compose.version` label written by berth.
pub const COMPOSE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// `<project>-<service>-<n>`, compose v2's container name (n starts at 1).
pub fn container_name(project: &str, service: &str, number: u64) -> String {
    format!("{project}-{service}-{number}")
}

/// `<project>-<service>-run-<suffix>`, the name of a `compose run` container.
pub fn oneoff_container_name(project: &str, service: &str, suffix: &str) -> String {
    format!("{project}-{service}-run-{suffix}")
}

/// `<project>_<key>`: the engine-side name of a project network/volume/secret/config.
pub fn resource_name(project: &str, key: &str) -> String {
    format!("{project}_{key}")
}

/// `<project>_default`.
pub fn default_network_name(project: &str) -> String {
    resource_name(project, "default")
}

/// The `com.docker.compose.config-hash` of a service: sha256 (hex) of its
/// normalised definition with sorted keys, leaving out what does not require
/// recreating containers when it changes (build, pull_policy, scale,
/// deploy.replicas, depends_on, profiles), as docker compose does.
pub fn service_hash(service: &Service) -> String {
    let mut v = serde_json::to_value(service).expect("the model always serialises");
    if let Some(o) = v.as_object_mut() {
        for k in ["build", "pull_policy", "scale", "depends_on", "profiles"] {
            o.remove(k);
        }
        if let Some(serde_json::Value::Object(d)) = o.get_mut("deploy") {
            d.remove("replicas");
        }
    }
    let bytes = serde_json::to_vec(&sorted(v)).expect("json");
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `db:service_started:false,cache:service_healthy:true` — compose's depends_on label.
pub fn depends_on_label(service: &Service) -> String {
    service
        .depends_on
        .iter()
        .map(|(n, d)| format!("{n}:{}:{}", d.condition.as_str(), d.restart))
        .collect::<Vec<_>>()
        .join(",")
}

/// The labels of a service container: the service's own labels, then compose's
/// (which win).
pub fn container_labels(project: &Project, service: &Service, number: u64, oneoff: bool) -> BTreeMap<String, String> {
    let mut l = service.labels.clone();
    l.extend(project_labels(project));
    l.insert(SERVICE.into(), service.name.clone());
    l.insert(CONTAINER_NUMBER.into(), number.to_string());
    l.insert(ONEOFF.into(), if oneoff { "True" } else { "False" }.into());
    l.insert(CONFIG_HASH.into(), service_hash(service));
    l.insert(DEPENDS_ON.into(), depends_on_label(service));
    l
}

/// Labels shared by everything of a project.
pub fn project_labels(project: &Project) -> BTreeMap<String, String> {
    let join = |p: &[std::path::PathBuf]| p.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(",");
    let mut l = BTreeMap::new();
    l.insert(PROJECT.into(), project.name.clone());
    l.insert(WORKING_DIR.into(), project.meta.working_dir.display().to_string());
    l.insert(CONFIG_FILES.into(), join(&project.meta.config_files));
    if !project.meta.env_files.is_empty() {
        l.insert(ENVIRONMENT_FILE.into(), join(&project.meta.env_files));
    }
    l.insert(VERSION.into(), COMPOSE_VERSION.into());
    l
}

/// Labels of a project network (`key` is its name under `networks:`).
pub fn network_labels(project: &Project, key: &str) -> BTreeMap<String, String> {
    let mut l = project.networks.get(key).map(|n| n.labels.clone()).unwrap_or_default();
    l.insert(PROJECT.into(), project.name.clone());
    l.insert(NETWORK.into(), key.into());
    l.insert(VERSION.into(), COMPOSE_VERSION.into());
    l
}

/// Labels of a project volume (`key` is its name under `volumes:`).
pub fn volume_labels(project: &Project, key: &str) -> BTreeMap<String, String> {
    let mut l = project.volumes.get(key).map(|v| v.labels.clone()).unwrap_or_default();
    l.insert(PROJECT.into(), project.name.clone());
    l.insert(VOLUME.into(), key.into());
    l.insert(VERSION.into(), COMPOSE_VERSION.into());
    l
}
