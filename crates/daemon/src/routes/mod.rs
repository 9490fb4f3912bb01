//! The Engine API routes berthd serves so far: system and images.

mod images;
mod system;

use axum::routing::{any, get, post};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping_head))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/images/get", get(images::save_many))
        .route("/images/load", post(images::load))
        .route("/images/prune", post(images::prune))
        // Image names contain slashes (`registry:5000/team/app:1`), so everything
        // below /images/ is dispatched on method and last segment by hand.
        .route("/images/{*rest}", any(images::by_name))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::page_not_found()
}
