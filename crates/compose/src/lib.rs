//! The compose-spec model, interpolation and project loading for berth, and the
//! engine that brings a project to life on berthd.
//!
//! The loader works without a daemon: it turns compose files into a resolved
//! [`model::Project`]. [`engine`] drives a daemon through the Engine API
//! (`berth-api`'s client) to create, converge, start and remove what the project
//! describes (`up`, `down`, …).
//!
//! ```no_run
//! use berth_compose::{load_project, ProjectOptions};
//! let project = load_project(&ProjectOptions::default())?;
//! for name in berth_compose::graph::start_order(&project)? {
//!     println!("{}", berth_compose::labels::container_name(&project.name, &name, 1));
//! }
//! # Ok::<(), berth_compose::ComposeError>(())
//! ```

pub mod config_output;
pub mod discovery;
pub mod engine;
pub mod dotenv;
pub mod error;
mod extends;
pub mod graph;
mod include;
pub mod interpolate;
pub mod labels;
pub mod loader;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod profiles;
pub mod schema;
pub mod yaml;

pub use error::{ComposeError, Result};
pub use loader::{load_project, ProjectOptions};
pub use model::{Project, Service};
