//! Version orderings, one per ecosystem family: OSV ranges are only meaningful in the
//! ecosystem's own order (dpkg's `1.0~rc1 < 1.0`, PEP 440's `1.0.dev1 < 1.0a1`, …).

pub mod apk;
pub mod dpkg;
pub mod generic;
pub mod pep440;
pub mod rpm;
pub mod semver;

use std::cmp::Ordering;

/// Which ordering an OSV ecosystem uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Dpkg,
    Apk,
    Rpm,
    Pep440,
    Semver,
    Generic,
}

impl Scheme {
    /// The ordering for an ecosystem (`Debian:12` → dpkg); the part after `:` is the
    /// release and does not change the ordering.
    pub fn of(ecosystem: &str) -> Scheme {
        match ecosystem.split(':').next().unwrap_or("") {
            "Debian" | "Ubuntu" => Scheme::Dpkg,
            "Alpine" | "Wolfi" | "Chainguard" => Scheme::Apk,
            "Red Hat" | "Rocky Linux" | "AlmaLinux" | "openSUSE" | "SUSE" | "Mageia" | "Photon OS" | "Azure Linux" => Scheme::Rpm,
            "PyPI" => Scheme::Pep440,
            "npm" | "crates.io" | "Go" | "NuGet" | "Hex" | "Pub" => Scheme::Semver,
            _ => Scheme::Generic,
        }
    }

    /// Compares two versions; `None` when either is not a valid version in this scheme.
    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Scheme::Dpkg => dpkg::compare(a, b),
            Scheme::Apk => apk::compare(a, b),
            Scheme::Rpm => Some(rpm::compare(a, b)),
            Scheme::Pep440 => pep440::compare(a, b),
            Scheme::Semver => semver::compare(a, b),
            Scheme::Generic => Some(generic::compare(a, b)),
        }
    }
}
