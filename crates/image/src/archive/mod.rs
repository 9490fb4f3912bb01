//! Image archives: `docker save` / `docker load` tars. Saved archives carry both the
//! docker-archive entries (`manifest.json`, `repositories`) and the OCI image layout
//! (`oci-layout`, `index.json`, `blobs/`), as Docker 25+ writes them; loading accepts
//! either form.

mod load;
mod save;

pub use load::LoadReport;

/// Largest metadata file (`manifest.json`, `index.json`, ...) read from an archive.
pub const MAX_ARCHIVE_JSON: usize = 8 << 20;

/// The annotation containerd and Docker use for an image's full name in `index.json`.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for a manifest's tag in `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

#[cfg(test)]
mod tests;
