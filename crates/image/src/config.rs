//! Image configs (the JSON whose digest is the image id): reading them safely and the
//! values derived from them.

use oci_spec::image::ImageConfiguration;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Largest image config we read. Configs with long histories reach a few hundred KiB;
/// the bound only stops hostile documents.
pub const MAX_CONFIG_SIZE: usize = 8 << 20;

/// Parses an image config and checks what the rest of the library relies on (rootfs type,
/// well-formed diff ids). `what` names the image in errors.
pub fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfiguration> {
    if bytes.len() > MAX_CONFIG_SIZE {
        return Err(Error::json(
            format!("image config {what}"),
            format!("{} bytes is larger than the {MAX_CONFIG_SIZE} byte limit", bytes.len()),
        ));
    }
    let config: ImageConfiguration =
        serde_json::from_slice(bytes).map_err(|e| Error::json(format!("image config {what}"), e))?;
    if config.rootfs().typ() != "layers" {
        return Err(Error::json(
            format!("image config {what}"),
            format!("rootfs type {:?} is not \"layers\"", config.rootfs().typ()),
        ));
    }
    diff_ids(&config, what)?;
    Ok(config)
}

/// The config's layer diff ids (digests of the uncompressed layer tars), base layer first.
pub fn diff_ids(config: &ImageConfiguration, what: &str) -> Result<Vec<Digest>> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d).map_err(|e| Error::json(format!("image config {what}"), format!("rootfs.diff_ids: {e}"))))
        .collect()
}

/// The current time in RFC 3339 with nanoseconds, UTC, as Docker writes `created`.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

/// Formats a UNIX time as RFC 3339 UTC (`2024-01-02T03:04:05.000000006Z`).
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_700_000_000, 0), "2023-11-14T22:13:20.000000000Z");
    }

    #[test]
    fn config_checks() {
        let ok = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},"config":{"Cmd":["sh"],"ExposedPorts":{"80/tcp":{}}}}"#;
        let c = parse_config(ok, "t").unwrap();
        assert_eq!(diff_ids(&c, "t").unwrap().len(), 1);
        assert_eq!(c.config().as_ref().unwrap().exposed_ports().as_ref().unwrap(), &vec!["80/tcp".to_string()]);
        let bad_type = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"tar","diff_ids":[]}}"#;
        assert!(parse_config(bad_type, "t").unwrap_err().to_string().contains("rootfs type"));
        let bad_id = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:1"]}}"#;
        assert!(parse_config(bad_id, "img").unwrap_err().to_string().contains("image config img"));
        assert!(parse_config(b"{", "t").is_err());
        assert!(parse_config(br#"{"os":"linux"}"#, "t").is_err());
    }
}
