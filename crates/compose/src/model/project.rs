//! The project and its top-level resources.

use super::service::{Extras, Service};
use super::values::{is_false, lenient_bool, opt_bool};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A fully loaded compose project: files merged, variables substituted, short
/// syntaxes expanded, profiles applied, references checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Normalised project name (`[a-z0-9][a-z0-9_-]*`).
    pub name: String,
    /// Enabled services.
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, ConfigObject>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, ConfigObject>,
    /// Other top-level keys (`models`, `x-*`), as written.
    #[serde(flatten)]
    pub extra: Extras,

    /// Where the project was loaded from; not part of the compose document.
    #[serde(skip)]
    pub meta: ProjectMeta,
}

/// Facts about how a project was loaded, needed for labels and `config`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectMeta {
    /// The project directory, against which relative paths were resolved.
    pub working_dir: PathBuf,
    /// The compose files, in merge order (absolute; `-` for stdin).
    pub config_files: Vec<PathBuf>,
    /// `--env-file`s / the `.env` that were read.
    pub env_files: Vec<PathBuf>,
    /// The environment used for interpolation (process environment over `.env`).
    pub environment: BTreeMap<String, String>,
    /// Services switched off by profiles, keyed by name.
    pub disabled_services: BTreeMap<String, Service>,
    /// The active profiles.
    pub profiles: Vec<String>,
    /// Warnings compose would print (unset variables, obsolete `version`, …).
    pub warnings: Vec<String>,
}

impl Project {
    /// Enabled service names, sorted.
    pub fn service_names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }
}

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Engine-side name: `<project>_<key>` unless set or external.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_bool", skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(default, deserialize_with = "lenient_bool", skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(default, deserialize_with = "lenient_bool", skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(default, deserialize_with = "opt_bool", skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `ipam`, `enable_ipv4`, `x-*` …
    #[serde(flatten)]
    pub extra: Extras,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// Engine-side name: `<project>_<key>` unless set or external.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_bool", skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extras,
}

/// A top-level secret or config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Absolute path of the file holding the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Name of an environment variable holding the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Inline data (configs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool", skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Extras,
}
