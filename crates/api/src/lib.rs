//! The Docker Engine API as berth speaks it, shared by `berthd` and the `berth` CLI:
//! - [`models`]: request/response bodies with Docker's exact field names (generated from
//!   Docker's swagger spec by the `bollard-stubs` project);
//! - [`error`]: the `{"message": "..."}` error body;
//! - [`message`]: the JSON progress messages of streaming endpoints (import, load, pull);
//! - [`filters`]: the `filters` query parameter in both of Docker's encodings;
//! - [`version`]: which API versions the daemon serves;
//! - [`host`]: `-H` / `BERTH_HOST` / `DOCKER_HOST` selection;
//! - [`client`]: a small blocking HTTP/1.1 client for the daemon;
//! - [`transport`]: how it connects (UNIX socket, TCP, TLS with client certificates).

pub mod client;
pub mod error;
pub mod filters;
pub mod host;
pub mod message;
pub mod stdcopy;
pub mod transport;
pub mod units;
pub mod version;

/// Engine API bodies (ImageSummary, ImageInspect, SystemInfo, ...).
pub mod models {
    pub use bollard_stubs::models::*;
}

pub use client::{Client, ClientError, Hijacked};
pub use error::ErrorBody;
pub use filters::Filters;
pub use host::Host;
pub use transport::TlsOptions;
pub use message::JsonMessage;
