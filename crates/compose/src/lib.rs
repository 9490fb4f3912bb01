//! The compose-spec model, interpolation and project loading for berth.
//!
//! Everything here works without an engine: it turns compose files into a
//! resolved [`model::Project`] that the engine part (`up`, `down`, …) consumes.

pub mod dotenv;
pub mod error;
pub mod interpolate;
pub mod schema;
pub mod yaml;

pub use error::{ComposeError, Result};
pub mod merge;
pub mod normalize;
