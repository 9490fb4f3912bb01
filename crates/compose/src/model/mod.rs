//! The typed, resolved project model.

mod project;
mod service;
pub mod values;

pub use project::{ConfigObject, Network, Project, ProjectMeta, Volume};
pub use service::*;
pub use values::{ByteSize, Duration};
