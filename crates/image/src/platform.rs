//! Platforms (`linux/amd64`, `linux/arm64/v8`) and choosing one manifest from an index,
//! as containerd's platform matcher does: OS and architecture must match, the variant must
//! match or be an older one the wanted variant can run.

use std::fmt;

use oci_spec::image::{Descriptor, ImageIndex};

use crate::error::{Error, Result};
use crate::media_type::ManifestKind;

/// An OS/architecture/variant triple, normalised (`aarch64` → `arm64`, `x86_64` →
/// `amd64`, arm64 defaults to variant `v8`, arm to `v7`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Builds a normalised platform.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let os = os.to_ascii_lowercase();
        let mut variant = variant.filter(|v| !v.is_empty()).map(str::to_ascii_lowercase);
        let architecture = match architecture.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_owned(),
            "i386" => "386".to_owned(),
            "aarch64" | "arm64" => {
                if variant.as_deref() == Some("8") {
                    variant = Some("v8".into());
                }
                variant.get_or_insert_with(|| "v8".into());
                "arm64".to_owned()
            }
            "armhf" => {
                variant = Some("v7".into());
                "arm".to_owned()
            }
            "armel" => {
                variant = Some("v6".into());
                "arm".to_owned()
            }
            "arm" => {
                variant = Some(match variant.as_deref() {
                    None | Some("7") => "v7".into(),
                    Some("5") => "v5".into(),
                    Some("6") => "v6".into(),
                    Some("8") => "v8".into(),
                    Some(v) => v.into(),
                });
                "arm".to_owned()
            }
            "amd64" => {
                if variant.as_deref() == Some("v1") {
                    variant = None;
                }
                "amd64".to_owned()
            }
            a => a.to_owned(),
        };
        Platform { os, architecture, variant }
    }

    /// The platform the default `pull`/`load` selects: linux with the host's architecture
    /// (linux/amd64 on x86_64 machines).
    pub fn host() -> Platform {
        Platform::new("linux", std::env::consts::ARCH, None)
    }

    /// Parses `os[/arch[/variant]]` (`--platform` syntax); a bare arch means linux/arch.
    pub fn parse(s: &str) -> Result<Platform> {
        let bad = || Error::InvalidJson { what: "platform".into(), reason: format!("{s:?}: expected os/arch[/variant]") };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [one] if *one == "linux" || *one == "windows" => Ok(Platform::new(one, std::env::consts::ARCH, None)),
            [arch] => Ok(Platform::new("linux", arch, None)),
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(bad()),
        }
    }

    /// Reads the platform of an index entry.
    pub fn of_descriptor(d: &Descriptor) -> Option<Platform> {
        let p = d.platform().as_ref()?;
        Some(Platform::new(&p.os().to_string(), &p.architecture().to_string(), p.variant().as_deref()))
    }

    /// How well `self` (wanted) accepts `candidate`: `None` if it cannot run it, otherwise
    /// a rank where 0 is an exact match and higher numbers are older compatible variants.
    pub fn match_rank(&self, candidate: &Platform) -> Option<usize> {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return None;
        }
        if self.variant == candidate.variant {
            return Some(0);
        }
        let order: &[&str] = match self.architecture.as_str() {
            "arm" => &["v8", "v7", "v6", "v5"],
            "arm64" => &["v9", "v8"],
            "amd64" => &["v4", "v3", "v2", ""],
            _ => return None,
        };
        let want = self.variant.as_deref().unwrap_or("");
        let have = candidate.variant.as_deref().unwrap_or("");
        let wi = order.iter().position(|v| *v == want)?;
        let hi = order.iter().position(|v| *v == have)?;
        hi.checked_sub(wi)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Chooses the manifest for `wanted` from an index: the best-ranked entry (exact variant
/// first), the first one on ties. Entries without a platform (attestations, artifacts) and
/// entries that are not image manifests are skipped.
pub fn select_manifest<'a>(index: &'a ImageIndex, wanted: &Platform) -> Result<&'a Descriptor> {
    index
        .manifests()
        .iter()
        .filter(|d| ManifestKind::of(d.media_type().as_ref()).is_some())
        .filter_map(|d| Some((wanted.match_rank(&Platform::of_descriptor(d)?)?, d)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, d)| d)
        .ok_or_else(|| Error::NoMatchingPlatform { platform: wanted.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> ImageIndex {
        let manifests: Vec<serde_json::Value> = platforms
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| {
                let mut p = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = variant {
                    p["variant"] = (*v).into();
                }
                serde_json::json!({
                    "mediaType": crate::media_type::OCI_MANIFEST,
                    "size": 100 + i,
                    "digest": format!("sha256:{:064x}", i),
                    "platform": p,
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({"schemaVersion": 2, "manifests": manifests})).unwrap()
    }

    fn chosen(idx: &ImageIndex, want: &str) -> Option<u64> {
        select_manifest(idx, &Platform::parse(want).unwrap()).ok().map(|d| d.size() - 100)
    }

    #[test]
    fn picks_exact_platform_and_compatible_variants() {
        let idx = index(&[
            ("unknown", "unknown", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "amd64", None),
            ("linux", "arm64", Some("v8")),
            ("windows", "amd64", None),
        ]);
        assert_eq!(chosen(&idx, "linux/amd64"), Some(3));
        assert_eq!(chosen(&idx, "linux/arm64"), Some(4));
        assert_eq!(chosen(&idx, "linux/arm/v7"), Some(2));
        assert_eq!(chosen(&idx, "linux/arm/v8"), Some(2), "v8 32-bit runs v7 before v6");
        assert_eq!(chosen(&idx, "linux/arm/v6"), Some(1));
        assert_eq!(chosen(&idx, "linux/arm/v5"), None);
        assert_eq!(chosen(&idx, "windows/amd64"), Some(5));
        assert_eq!(chosen(&idx, "linux/s390x"), None);
        let err = select_manifest(&idx, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "no matching manifest for linux/s390x in the manifest list entries");
    }

    #[test]
    fn normalises_aliases() {
        assert_eq!(Platform::new("linux", "aarch64", None).to_string(), "linux/arm64/v8");
        assert_eq!(Platform::new("linux", "x86_64", None).to_string(), "linux/amd64");
        assert_eq!(Platform::new("Linux", "arm", None).to_string(), "linux/arm/v7");
        assert_eq!(Platform::parse("arm64").unwrap(), Platform::new("linux", "arm64", Some("v8")));
        assert!(Platform::parse("linux//v7").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        // An amd64/v2 host runs plain amd64 images.
        let idx = index(&[("linux", "amd64", None)]);
        assert_eq!(chosen(&idx, "linux/amd64/v2"), Some(0));
    }
}
