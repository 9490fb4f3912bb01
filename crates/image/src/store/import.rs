//! `docker import`: a root filesystem tarball becomes a one-layer image.

use std::io::{BufRead, BufReader, Read};

use oci_spec::image::{Config, History, ImageConfiguration, RootFs};
use serde_json::json;

use super::ImageStore;
use crate::change::Change;
use crate::config::now_rfc3339;
use crate::digest::Digest;
use crate::error::Result;
use crate::media_type::{self, Compression};
use crate::platform::Platform;
use crate::reference::Reference;

/// Options of [`ImageStore::import`].
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// `--change` instructions (`CMD ["sh"]`, `ENV A=1`, ...), applied in order.
    pub changes: Vec<String>,
    /// `--message`: the history comment (default `Imported from -`).
    pub message: Option<String>,
    /// `--platform`; defaults to the host's.
    pub platform: Option<Platform>,
    /// The name to tag the image with (`latest` if it has no tag).
    pub tag: Option<String>,
}

impl ImageStore {
    /// Imports a root filesystem tar (plain, gzip or zstd, sniffed) as a new image and
    /// returns its id. Changes and the tag are validated before anything is written.
    pub fn import(&self, reader: impl Read, opts: &ImportOptions) -> Result<Digest> {
        let changes = opts.changes.iter().map(|c| Change::parse(c)).collect::<Result<Vec<_>>>()?;
        let tag = opts.tag.as_deref().map(Reference::parse).transpose()?.map(Reference::with_default_tag);
        if tag.as_ref().is_some_and(|t| t.digest().is_some()) {
            return Err(crate::Error::InvalidReference("refusing to create a tag with a digest reference".into()));
        }
        let mut reader = BufReader::with_capacity(64 * 1024, reader);
        let compression = Compression::sniff(reader.fill_buf().map_err(|e| crate::Error::io("read", "import stream", e))?);
        let (blob, blob_size) = self.content().write_new(reader)?;
        let layer_what = format!("imported layer {blob}");
        let layer = self.layers().unpack(None, None, self.content().open_blob(&blob)?, Some(compression), &layer_what)?;

        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let mut config = Config::default();
        for c in &changes {
            c.apply(&mut config);
        }
        let created = now_rfc3339();
        let mut history = History::default();
        history.set_created(Some(created.clone()));
        history.set_comment(Some(opts.message.clone().unwrap_or_else(|| "Imported from -".into())));
        let mut rootfs = RootFs::default();
        rootfs.set_diff_ids(vec![layer.diff_id.to_string()]);
        let mut image = ImageConfiguration::default();
        image.set_created(Some(created));
        image.set_architecture(platform.architecture.as_str().into());
        image.set_os(platform.os.as_str().into());
        image.set_variant(platform.variant.clone());
        image.set_config(Some(config));
        image.set_rootfs(rootfs);
        image.set_history(Some(vec![history]));
        let config_bytes = serde_json::to_vec(&image).map_err(|e| crate::Error::json("generated config", e))?;
        let config_digest = self.content().write_bytes(&config_bytes)?;

        let layer_media_type = match compression {
            Compression::None => media_type::OCI_LAYER_TAR,
            Compression::Gzip => media_type::OCI_LAYER_GZIP,
            Compression::Zstd => media_type::OCI_LAYER_ZSTD,
        };
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": {"mediaType": media_type::OCI_CONFIG, "digest": config_digest.to_string(), "size": config_bytes.len()},
            "layers": [{"mediaType": layer_media_type, "digest": blob.to_string(), "size": blob_size}],
        });
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| crate::Error::json("generated manifest", e))?;
        self.register_manifest(&manifest_bytes, tag.as_slice())
    }
}
