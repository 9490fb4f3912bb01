//! OCI whiteouts (in layer tars) and their overlayfs form (in unpacked layers and
//! container upper dirs).
//!
//! - `dir/.wh.NAME` in a tar deletes `dir/NAME` from lower layers; overlayfs writes that
//!   as a character device 0:0 named `NAME`.
//! - `dir/.wh..wh..opq` in a tar hides everything lower layers had in `dir`; overlayfs
//!   marks such a directory with the xattr `trusted.overlay.opaque=y`.

/// Prefix of a whiteout file name in a layer tar.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker in a layer tar.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Prefix of aufs metadata entries (`.wh..wh.plnk`, ...), which carry no content.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// The overlayfs xattr that marks an opaque directory.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What a tar entry's file name means.
#[derive(Debug, PartialEq, Eq)]
pub enum TarName<'a> {
    /// An ordinary entry.
    Plain,
    /// `.wh..wh..opq`: the parent directory is opaque.
    Opaque,
    /// `.wh.NAME`: `NAME` is deleted.
    Whiteout(&'a [u8]),
    /// Other `.wh..wh.` metadata: ignored.
    Meta,
}

/// Classifies an entry's base name.
pub fn classify(base: &[u8]) -> TarName<'_> {
    if base == OPAQUE_MARKER.as_bytes() {
        TarName::Opaque
    } else if base.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        TarName::Meta
    } else if let Some(name) = base.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        TarName::Whiteout(name)
    } else {
        TarName::Plain
    }
}

/// Whether file metadata describes an overlay whiteout (char device 0:0).
pub fn is_overlay_whiteout(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_char_device() && meta.rdev() == 0
}
