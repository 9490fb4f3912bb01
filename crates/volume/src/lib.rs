//! Volumes: how data outlives a container.
//!
//! - [`store::VolumeStore`]: named and anonymous volumes of the `local` driver under
//!   `<data-root>/volumes/<name>/_data`, their records in berth.db, mounting of volumes
//!   with driver options (tmpfs, bind, nfs-style) while containers use them.
//! - [`spec`]: `-v`/`--volume` strings as dockerd parses them into mount specs.
//! - [`tree`]: copy-up of image content into a new volume, export and import as tar,
//!   and disk usage.

pub mod error;
pub mod name;
pub mod options;
pub mod spec;
pub mod store;
pub mod tree;

pub use error::{Error, Result};
pub use store::{Volume, VolumeStore};
