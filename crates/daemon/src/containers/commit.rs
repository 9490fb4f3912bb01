//! `docker commit`: the container's upper dir becomes a layer on its image, with the
//! config Docker would give it (the request's config plus `--change`s, gaps filled from
//! the container's own config).

use std::sync::Arc;

use berth_api::models::ContainerConfig;
use berth_image::store::{apply_changes, CommitOptions};

use super::{lifecycle, Entry};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub struct Request {
    pub repo: Option<String>,
    pub tag: Option<String>,
    pub comment: Option<String>,
    pub author: Option<String>,
    pub pause: bool,
    pub changes: Vec<String>,
    pub config: ContainerConfig,
}

/// The image config of the commit (Docker's daemon/commit.go: changes applied to the
/// request's config, then merged over the container's).
fn image_config(req: &Request, container: &ContainerConfig) -> ApiResult<ContainerConfig> {
    let user = serde_json::to_value(&req.config).map_err(|e| ApiError::internal(e.to_string()))?;
    let changed = apply_changes(&user, &req.changes)?;
    let mut cfg: ContainerConfig = serde_json::from_value(changed).map_err(|e| ApiError::bad_request(format!("invalid config after changes: {e}")))?;
    lifecycle::merge_config(&mut cfg, container);
    // Per-run settings do not belong to an image.
    cfg.hostname = container.hostname.clone();
    cfg.image = None;
    Ok(cfg)
}

pub async fn commit(state: &AppState, entry: &Arc<Entry>, req: Request) -> ApiResult<String> {
    let c = entry.get();
    let tag = match (&req.repo, &req.tag) {
        (Some(r), Some(t)) => Some(format!("{r}:{t}")),
        (Some(r), None) => Some(r.clone()),
        (None, Some(_)) => return Err(ApiError::bad_request("tag given without a repository")),
        (None, None) => None,
    };
    if let Some(t) = &tag {
        berth_image::Reference::parse(t).map_err(ApiError::from)?;
    }
    let cfg = image_config(&req, &c.config)?;
    let config = serde_json::to_value(&cfg).map_err(|e| ApiError::internal(e.to_string()))?;
    let base = c.image_id.parse().map_err(|e| ApiError::internal(format!("image id {}: {e}", c.image_id)))?;
    let created_by = c.config.cmd.clone().unwrap_or_default().join(" ");
    let owners = lifecycle::remap_of(state, &c).map(|r| r.id_mapping());
    let opts = CommitOptions { base: Some(base), config, created_by, comment: req.comment, author: req.author, tag, owners };

    let paused_here = req.pause && c.running() && !c.paused() && c.state.status == "running";
    if paused_here {
        lifecycle::pause(state, entry).await?;
    }
    let upper = state.containers.container_dir(&c.id).join("upper");
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || st.images.commit_container(&upper, &opts)).await;
    if paused_here {
        if let Err(e) = lifecycle::unpause(state, entry).await {
            tracing::warn!(container = %c.id, "unpausing after commit: {}", e.message);
        }
    }
    let id = result??;
    state.events.container(&c.id, "commit");
    Ok(id.to_string())
}
