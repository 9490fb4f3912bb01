//! Images: references, manifests, content store, layers, snapshots.
//!
//! The daemon builds on these pieces:
//! - [`reference::Reference`]: Docker's image reference grammar and normalisation.
//! - [`digest::Digest`]: validated content digests.

pub mod digest;
pub mod error;
pub mod reference;

pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub mod change;
pub mod config;
pub mod manifest;
pub mod media_type;
pub mod platform;
pub mod content;
mod fsutil;
pub mod layer;
pub mod whiteout;
pub mod snapshot;
pub mod changes;
pub mod store;
pub mod archive;

pub use store::ImageStore;
