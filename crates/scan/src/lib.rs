//! berth-scan: what is in an image, and which of it is known to be vulnerable.
//!
//! - [`rootfs`]: a `docker save` archive read once into the merged view of its layers
//!   (whiteouts applied), keeping only package databases, manifests and what
//!   executables say they were built from.
//! - [`catalog`]: the catalogers (dpkg, apk, rpmdb.sqlite, Go and cargo-auditable
//!   binaries, Python dist-info/egg-info, npm) → [`Package`]s with OSV ecosystems and purls.
//! - [`osv`]: an offline OSV database (directory, JSON file, zip, URL) and matching.
//! - [`version`]: the version orderings matching needs (dpkg, apk, rpm, PEP 440, semver).
//! - [`severity`]: severities and the CVSS v3 base score.
//! - [`sbom`]: CycloneDX 1.5 and SPDX 2.3 JSON.

pub mod catalog;
pub mod error;
pub mod osv;
pub mod package;
pub mod purl;
pub mod rootfs;
pub mod sbom;
pub mod severity;
pub mod version;

#[cfg(test)]
mod testutil;

use std::io::Read;

use serde::Serialize;

pub use catalog::Inventory;
pub use error::{Error, Result};
pub use osv::{Database, Finding};
pub use package::{Distro, Kind, Package};
pub use severity::Severity;

/// A scan's result: what the image holds and, once matched, what is vulnerable.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub image: Option<String>,
    pub image_id: Option<String>,
    #[serde(flatten)]
    pub inventory: Inventory,
    /// `None` until matched against a database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<Finding>>,
}

impl Report {
    /// The image's name for documents: its tag, else its id, else `image`.
    pub fn image_name(&self) -> String {
        self.image.clone().or_else(|| self.image_id.clone()).unwrap_or_else(|| "image".into())
    }

    /// Matches the packages against a database, replacing earlier findings.
    pub fn match_database(&mut self, db: &Database) {
        self.findings = Some(osv::find(db, &self.inventory.packages));
    }
}

/// Catalogs the first image of a `docker save` / OCI layout archive.
pub fn scan_archive(reader: impl Read) -> Result<Report> {
    let image = rootfs::read_image_archive(reader)?;
    let mut inventory = catalog::catalog(&image.rootfs);
    let mut warnings = image.warnings;
    warnings.append(&mut inventory.warnings);
    inventory.warnings = warnings;
    Ok(Report { image: image.name, image_id: image.id, inventory, findings: None })
}
