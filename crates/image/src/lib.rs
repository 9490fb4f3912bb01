//! Images: references, manifests, content store, layers, snapshots.
//!
//! The daemon builds on these pieces:
//! - [`reference::Reference`]: Docker's image reference grammar and normalisation.
//! - [`digest::Digest`]: validated content digests.
//! - [`manifest::Manifest`], [`config`], [`platform`]: OCI / Docker schema 2 documents.
//! - [`content::ContentStore`]: verified, atomic blob storage (`content/blobs/...`).
//! - [`layer::LayerStore`]: confined layer unpack into `layers/<chain-id>/diff`.
//! - [`snapshot`]: overlay mounts of layer chains for containers.
//! - [`changes`]: `docker diff` and the changes-as-layer tar for commit/build.
//! - [`store::ImageStore`]: the image index in `berth.db` (import, tag, rmi, list,
//!   history, gc, check) plus [`archive`] save/load.

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
pub mod tee;
pub mod tree_tar;

pub use store::ImageStore;
