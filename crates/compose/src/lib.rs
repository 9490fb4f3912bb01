//! The compose-spec model, interpolation and project loading for berth.
//!
//! Everything here works without an engine: it turns compose files into a
//! resolved [`model::Project`] that the engine part (`up`, `down`, …) consumes.
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
