//! The Engine API routes berthd serves so far: system, images, containers, exec,
//! networks, volumes and secrets.

mod build;
mod container_fs;
mod container_stats;
pub mod containers;
mod distribution;
mod events;
mod images;
mod networks;
pub mod streams;
mod secrets;
mod system;
mod volumes;

use axum::routing::{any, delete, get, post, put};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping_head))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/events", get(events::events))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/get", get(images::save_many))
        .route("/images/load", post(images::load))
        .route("/images/prune", post(images::prune))
        // Image names contain slashes (`registry:5000/team/app:1`), so everything
        // below /images/ is dispatched on method and last segment by hand.
        .route("/images/{*rest}", any(images::by_name))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/auth", post(distribution::auth))
        .route("/distribution/{*rest}", get(distribution::inspect))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}", delete(containers::remove))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/attach", post(streams::attach))
        .route("/containers/{id}/resize", post(streams::resize))
        .route("/containers/{id}/exec", post(streams::exec_create))
        .route("/containers/{id}/archive", get(container_fs::archive_get).head(container_fs::archive_head).put(container_fs::archive_put))
        .route("/containers/{id}/export", get(container_fs::export))
        .route("/containers/{id}/changes", get(container_fs::changes))
        .route("/containers/{id}/stats", get(container_stats::stats))
        .route("/containers/{id}/update", post(container_stats::update))
        .route("/commit", post(container_fs::commit))
        .route("/system/df", get(container_fs::system_df))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route("/networks/{id}", get(networks::inspect).delete(networks::remove))
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route("/volumes/{name}", get(volumes::inspect).delete(volumes::remove))
        .route("/volumes/{name}/export", get(volumes::export))
        .route("/volumes/{name}/import", put(volumes::import))
        .route("/secrets", get(secrets::list))
        .route("/secrets/create", post(secrets::create))
        .route("/secrets/{id}", get(secrets::inspect).delete(secrets::remove))
        .route("/secrets/{id}/update", post(secrets::update))
        .route("/exec/{id}/start", post(streams::exec_start))
        .route("/exec/{id}/resize", post(streams::exec_resize))
        .route("/exec/{id}/json", get(streams::exec_inspect))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::page_not_found()
}
