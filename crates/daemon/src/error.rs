//! API errors: a status code and Docker's `{"message": "..."}` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// Docker's answer to any route it does not have (and to a wrong method).
    pub fn page_not_found() -> ApiError {
        ApiError::not_found("page not found")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.message);
        } else {
            tracing::debug!(status = %self.status, "{}", self.message);
        }
        (self.status, Json(ErrorBody::new(self.message))).into_response()
    }
}

impl From<berth_image::Error> for ApiError {
    fn from(e: berth_image::Error) -> ApiError {
        use berth_image::Error as E;
        let status = match &e {
            E::ImageNotFound(_) => StatusCode::NOT_FOUND,
            E::Conflict(_) => StatusCode::CONFLICT,
            E::InvalidReference(_)
            | E::InvalidDigest { .. }
            | E::AmbiguousImage(_)
            | E::InvalidChange { .. }
            | E::InvalidArchive(_)
            | E::InvalidLayer { .. }
            | E::UnsafePath { .. }
            | E::InvalidJson { .. }
            | E::DigestMismatch { .. }
            | E::SizeMismatch { .. }
            | E::UnsupportedMediaType { .. }
            | E::NoMatchingPlatform { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match e {
            // Docker names a missing image with its default tag: `No such image: x:latest`.
            E::ImageNotFound(name) => format!("No such image: {}", familiar_with_tag(&name)),
            other => other.to_string(),
        };
        ApiError::new(status, message)
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::internal(format!("internal task failed: {e}"))
    }
}

impl From<berth_api::filters::FilterError> for ApiError {
    fn from(e: berth_api::filters::FilterError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

/// `busybox` → `busybox:latest`; ids and digests unchanged.
pub fn familiar_with_tag(name: &str) -> String {
    if name.starts_with("sha256:") {
        return name.to_owned();
    }
    match berth_image::Reference::parse(name) {
        Ok(r) => r.with_default_tag().familiar(),
        Err(_) => name.to_owned(),
    }
}
