//! What the catalogers find: packages with the ecosystem names OSV uses, so a package
//! and an advisory meet on `(ecosystem, name)`.

use serde::Serialize;

/// A package ecosystem, named as OSV names it (`Debian`, `Alpine`, `Go`, `crates.io`,
/// `PyPI`, `npm`, …). Distribution packages carry their release (`Debian:12`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Kind {
    /// dpkg: Debian, Ubuntu and their derivatives.
    Deb,
    /// apk: Alpine, Wolfi, Chainguard.
    Apk,
    Rpm,
    Go,
    Cargo,
    PyPI,
    Npm,
}

impl Kind {
    /// The short type name shown in tables (and in purls).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deb => "deb",
            Kind::Apk => "apk",
            Kind::Rpm => "rpm",
            Kind::Go => "go-module",
            Kind::Cargo => "rust-crate",
            Kind::PyPI => "python",
            Kind::Npm => "npm",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    /// The OSV ecosystem, with the distribution release when known (`Debian:12`,
    /// `Alpine:v3.19`, `PyPI`).
    pub ecosystem: String,
    pub purl: String,
    /// Where in the image it was found (an absolute path).
    pub location: String,
    /// The source package (dpkg `Source:`, apk origin): distribution advisories name
    /// source packages, not the binary packages built from them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The source package's version when it differs (dpkg `Source: name (version)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

impl Package {
    /// A package with its purl computed from the rest.
    pub fn new(kind: Kind, name: &str, version: &str, ecosystem: &str, location: &str) -> Package {
        let mut p = Package {
            name: name.to_owned(),
            version: version.to_owned(),
            kind,
            ecosystem: ecosystem.to_owned(),
            purl: String::new(),
            location: location.to_owned(),
            source: None,
            source_version: None,
            license: None,
            arch: None,
        };
        p.purl = crate::purl::of(&p, None);
        p
    }
}

/// The operating system an image's `/etc/os-release` names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Distro {
    /// `ID` (debian, ubuntu, alpine, …).
    pub id: String,
    /// `VERSION_ID` (12, 22.04, 3.19.1).
    pub version_id: String,
    /// `PRETTY_NAME`.
    pub pretty_name: String,
}

impl Distro {
    /// The OSV ecosystem for this distribution's packages: `Debian:12`, `Ubuntu:22.04`,
    /// `Alpine:v3.19`; `None` for distributions OSV does not cover by that name.
    pub fn ecosystem(&self) -> Option<String> {
        let v = &self.version_id;
        Some(match self.id.as_str() {
            "debian" if !v.is_empty() => format!("Debian:{v}"),
            "debian" => "Debian".into(),
            "ubuntu" if !v.is_empty() => format!("Ubuntu:{v}"),
            "alpine" => {
                // OSV names Alpine releases by branch: v3.19, not 3.19.1.
                let branch: Vec<&str> = v.split('.').take(2).collect();
                if branch.len() == 2 {
                    format!("Alpine:v{}", branch.join("."))
                } else {
                    "Alpine".into()
                }
            }
            "wolfi" => "Wolfi".into(),
            "chainguard" => "Chainguard".into(),
            "rocky" if !v.is_empty() => format!("Rocky Linux:{}", v.split('.').next().unwrap_or(v)),
            "almalinux" if !v.is_empty() => format!("AlmaLinux:{}", v.split('.').next().unwrap_or(v)),
            "opensuse-leap" if !v.is_empty() => format!("openSUSE:Leap {v}"),
            _ => return None,
        })
    }
}
