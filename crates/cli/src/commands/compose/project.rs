//! Loading the project the flags point at, and turning engine errors into
//! compose's exit status.

use std::sync::Arc;

use berth_compose::engine::{Engine, EngineError};
use berth_compose::{ComposeError, Project, ProjectOptions};

use super::output::Printer;
use super::ProjectFlags;
use crate::{Failure, Global};

/// Loads the project; `services` named on the command line are enabled whatever
/// their profiles.
pub fn load(p: &ProjectFlags, services: &[String]) -> Result<Project, Failure> {
    let opts = ProjectOptions {
        config_files: p.files.clone(),
        project_directory: p.project_directory.clone(),
        project_name: p.project_name.clone(),
        env_files: p.env_file.clone(),
        profiles: p.profile.clone(),
        services: services.to_vec(),
        ..Default::default()
    };
    berth_compose::load_project(&opts).map_err(|e| failure(e.into()))
}

/// The engine for the project. With `by_name`, a command that only needs the
/// project's name (down, ps, stop, logs, …) also works without compose files
/// when `-p` or `COMPOSE_PROJECT_NAME` names the project, as docker compose does.
pub fn engine(g: &Global, p: &ProjectFlags, services: &[String], by_name: bool) -> Result<Engine, Failure> {
    let project = match load(p, services) {
        Ok(project) => project,
        Err(f) => match named_only(p) {
            Some(name) if by_name && no_files(p) => Project { name, ..Default::default() },
            _ => return Err(f),
        },
    };
    for w in &project.meta.warnings {
        super::output::warn(w);
    }
    let quiet = p.progress.as_deref() == Some("quiet");
    let e = Engine::new(crate::commands::client(g)?, project, Arc::new(Printer { quiet }));
    Ok(super::with_hooks(g, e))
}

/// The project name given without files (when none can be found).
fn named_only(p: &ProjectFlags) -> Option<String> {
    let name = p.project_name.clone().or_else(|| std::env::var("COMPOSE_PROJECT_NAME").ok()).filter(|n| !n.is_empty())?;
    berth_compose::discovery::check_project_name(&name).ok()
}

/// Whether loading failed only because there is no compose file.
fn no_files(p: &ProjectFlags) -> bool {
    if !p.files.is_empty() {
        return false;
    }
    let dir = p.project_directory.clone().or_else(|| std::env::current_dir().ok()).unwrap_or_default();
    matches!(berth_compose::discovery::find_default_files(&dir), Err(ComposeError::NoConfigFile { .. }))
}

/// Compose's failures exit 1 with the message.
pub fn failure(e: EngineError) -> Failure {
    Failure { message: Some(e.to_string()), status: 1 }
}
