//! The engine half of compose: a loaded [`Project`] brought to life on berthd
//! (or any Docker Engine API) through `berth-api`'s blocking client.
//!
//! Everything compose makes carries the `com.docker.compose.*` labels, and the
//! daemon's own lists (filtered by those labels) are the only state: there is no
//! compose database, so `docker compose` and `berth compose` see the same
//! projects, and a project survives the CLI that made it.

mod api;
pub mod body;
pub mod containers;
mod convergence;
mod error;
pub mod images;
mod lifecycle;
pub mod logs;
mod mounts;
mod parallel;
mod resources;
mod run;
mod secrets;
mod start;

use std::sync::Arc;

use berth_api::Client;

use crate::model::Project;

pub use containers::{Container, OneOff};
pub use convergence::{Converged, Recreate, UpOptions};
pub use error::{EngineError, Result};
pub use lifecycle::{DownOptions, RemoveImages};
pub use run::RunOptions;
pub use start::{OnStarted, StartOptions};

/// What kind of object a progress line is about (compose's first column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Network,
    Volume,
    Container,
    Image,
    Service,
    Secret,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Network => "Network",
            Kind::Volume => "Volume",
            Kind::Container => "Container",
            Kind::Image => "Image",
            Kind::Service => "Service",
            Kind::Secret => "Secret",
        }
    }
}

/// Where the engine reports what it does (` Container demo-web-1  Started`)
/// and the warnings compose prints. Called from worker threads.
pub trait Progress: Send + Sync {
    fn event(&self, kind: Kind, name: &str, status: &str);
    fn warning(&self, message: &str);
}

/// A [`Progress`] that says nothing (tests, `--quiet`).
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Kind, _: &str, _: &str) {}
    fn warning(&self, _: &str) {}
}

/// Pulls one image (`name[:tag]`) through the daemon; the CLI supplies it so
/// that its saved registry credentials are used.
pub type Puller = dyn Fn(&Client, &str) -> std::result::Result<(), String> + Send + Sync;

/// A project bound to a daemon.
pub struct Engine {
    pub client: Client,
    pub project: Project,
    progress: Arc<dyn Progress>,
    puller: Option<Arc<Puller>>,
    builder: Option<Arc<images::Builder>>,
}

impl Engine {
    pub fn new(client: Client, project: Project, progress: Arc<dyn Progress>) -> Engine {
        Engine { client, project, progress, puller: None, builder: None }
    }

    /// Uses `puller` for the pulls `up`, `create`, `run` and `pull` make.
    pub fn with_puller(mut self, puller: Arc<Puller>) -> Engine {
        self.puller = Some(puller);
        self
    }

    /// Uses `builder` for `build` and the builds `up`/`create`/`run` make.
    pub fn with_builder(mut self, builder: Arc<images::Builder>) -> Engine {
        self.builder = Some(builder);
        self
    }

    pub fn progress(&self) -> &dyn Progress {
        &*self.progress
    }

    pub(crate) fn event(&self, kind: Kind, name: &str, status: &str) {
        self.progress.event(kind, name, status);
    }

    pub(crate) fn warn(&self, message: &str) {
        self.progress.warning(message);
    }

    pub fn name(&self) -> &str {
        &self.project.name
    }
}
