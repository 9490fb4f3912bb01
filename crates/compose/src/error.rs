//! The error type of the crate.
//!
//! Messages follow docker compose's wording where one exists, so users who
//! grep for a compose error find ours too.

use std::path::PathBuf;

/// Everything that can go wrong while loading a compose project.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// No compose file in the working directory nor any of its parents.
    #[error("no configuration file provided: not found (looked for {candidates} in {dir} and its parents)")]
    NoConfigFile { dir: PathBuf, candidates: String },

    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The YAML itself is malformed. `line` and `column` are 1-based.
    #[error("yaml: {file}: line {line}, column {column}: {message}")]
    Yaml {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },

    /// The YAML is well formed but is not a compose document (e.g. a top-level list),
    /// or uses something compose forbids (e.g. a non-string key where a name is needed).
    #[error("{file}: {message}")]
    Structure { file: String, message: String },

    /// A `.env`/`env_file` line compose cannot parse.
    #[error("{file}: line {line}: {message}")]
    Dotenv {
        file: String,
        line: usize,
        message: String,
    },

    /// `${VAR:?msg}` / `${VAR?msg}` with `VAR` missing.
    #[error("error while interpolating {path} in {file}: required variable {variable} is missing a value{}", reason_suffix(.reason))]
    MissingRequiredVariable {
        file: String,
        path: String,
        variable: String,
        reason: String,
    },

    /// A `${` that does not close, or a bad substitution.
    #[error("error while interpolating {path} in {file}: invalid template: {template:?}")]
    InvalidTemplate {
        file: String,
        path: String,
        template: String,
    },

    /// The document does not satisfy compose-spec.json. `path` is the dotted path of
    /// the offending node (`services.web`), `message` the rule it breaks.
    #[error("validating {file}: {path} {message}")]
    Schema {
        file: String,
        path: String,
        message: String,
    },

    /// A short syntax (port, volume, duration, …) that does not parse.
    #[error("{file}: {path}: {message}")]
    InvalidValue {
        file: String,
        path: String,
        message: String,
    },

    /// A service refers to a network/volume/secret/config/service that is not defined.
    #[error("service {service:?} refers to undefined {kind} {name}: invalid compose project")]
    UndefinedReference {
        service: String,
        kind: &'static str,
        name: String,
    },

    /// A service depends on a service that is not enabled (disabled by profiles or absent).
    #[error("service {service:?} depends on undefined service {dependency:?}: invalid compose project")]
    UndefinedDependency { service: String, dependency: String },

    /// A service named on the command line does not exist.
    #[error("no such service: {0}")]
    NoSuchService(String),

    /// `depends_on`/`links`/`network_mode: service:`… form a loop.
    #[error("dependency cycle detected: {}", .0.join(" -> "))]
    DependencyCycle(Vec<String>),

    /// `extends` refers back to a service already being extended.
    #[error("circular reference with extends: {}", .0.join(" -> "))]
    ExtendsCycle(Vec<String>),

    /// `extends.service` names a service the target file does not define.
    #[error("cannot extend service {service:?} in {file}: service not found")]
    ExtendsServiceNotFound { file: String, service: String },

    /// An included file defines a resource that the including model already has, differently.
    #[error("imported compose file {file} defines conflicting {kind} {name}")]
    IncludeConflict {
        file: String,
        kind: &'static str,
        name: String,
    },

    /// `include` comes back to a file already being included.
    #[error("include cycle detected: {}", .0.join(" -> "))]
    IncludeCycle(Vec<String>),

    /// A project name given explicitly (`-p`, `name:`, `COMPOSE_PROJECT_NAME`) that compose rejects.
    #[error("invalid project name {0:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number")]
    InvalidProjectName(String),

    /// No name could be derived at all.
    #[error("project name must not be empty")]
    EmptyProjectName,

    /// A required `env_file` that does not exist.
    #[error("env file {} not found: {source}", .path.display())]
    EnvFileNotFound {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Semantic inconsistencies compose rejects (e.g. `scale` ≠ `deploy.replicas`).
    #[error("services.{service}: {message}")]
    InvalidService { service: String, message: String },
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

/// Shorthand used across the crate.
pub type Result<T, E = ComposeError> = std::result::Result<T, E>;
