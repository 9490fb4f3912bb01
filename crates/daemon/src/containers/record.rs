//! A container as berthd records it: Docker's own Config and HostConfig (as the client
//! sent them, merged with the image's defaults) plus the run state. Stored as JSON in
//! one SQLite row so that a berthd restart finds everything `inspect` shows.

use berth_api::models::{ContainerConfig, HostConfig, NetworkingConfig};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Container {
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    /// RFC 3339, nanoseconds, UTC.
    pub created: String,
    /// The image as the client named it (`Config.Image`).
    pub image: String,
    /// `sha256:…` of the image config.
    pub image_id: String,
    /// The executable and its arguments (Entrypoint + Cmd), as inspect's Path/Args.
    pub path: String,
    pub args: Vec<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    #[serde(default)]
    pub networking_config: Option<NetworkingConfig>,
    pub state: RunState,
    #[serde(default)]
    pub restart_count: i64,
    /// Set by `stop`/`kill` from a user: a restart policy does not bring it back (until
    /// berthd restarts, for `always`).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Exec ids started in this container (inspect's ExecIDs while they run).
    #[serde(default)]
    pub exec_ids: Vec<String>,
    /// Volumes, binds and `--mount` tmpfs, resolved at create (inspect's Mounts).
    #[serde(default)]
    pub mounts: Vec<super::mounts::MountPoint>,
    /// Secrets granted at create (`HostConfig.BerthSecrets`), resolved to ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<super::secret_mounts::SecretRef>,
    /// Disconnected from the network its NetworkMode names. Docker keeps NetworkMode
    /// then (docker-compose 1.29 disconnects a new container from it and connects it
    /// again with aliases), so the mode stays and this says the endpoint is gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary_detached: bool,
}

/// Docker's State, kept in the shape inspect prints.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct RunState {
    /// created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    #[serde(default)]
    pub health: Option<HealthState>,
}

impl Default for RunState {
    fn default() -> RunState {
        RunState {
            status: "created".into(),
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            health: None,
        }
    }
}

/// Go's zero time, which Docker prints for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct HealthState {
    /// starting, healthy, unhealthy.
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthLogEntry>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct HealthLogEntry {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

impl Container {
    pub fn running(&self) -> bool {
        matches!(self.state.status.as_str(), "running" | "paused" | "restarting")
    }

    pub fn paused(&self) -> bool {
        self.state.status == "paused"
    }

    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }


    /// `sh -c 'echo hi'` as `docker ps` shows the command: arguments a shell would
    /// split are single-quoted, as dockerd does.
    pub fn command_line(&self) -> String {
        let mut parts = vec![self.path.clone()];
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        parts.join(" ")
    }
}

fn shell_quote(a: &str) -> String {
    let plain = !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if plain {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', "'\"'\"'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_like_dockerd() {
        let c = Container { path: "sh".into(), args: vec!["-c".into(), "echo hi; it's".into(), "".into()], ..Default::default() };
        assert_eq!(c.command_line(), r#"sh -c 'echo hi; it'"'"'s' ''"#);
    }
}
