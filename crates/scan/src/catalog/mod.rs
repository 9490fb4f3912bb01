//! Catalogers: each knows where one package manager records what it installed and
//! turns that into [`Package`]s. [`wants`] tells the layer reader which files to keep.

pub mod apk;
pub mod binary;
pub mod dpkg;
pub mod npm;
pub mod os_release;
pub mod python;
pub mod rpm;

use crate::package::{Distro, Kind, Package};
use crate::rootfs::{Node, RootFs};

/// What an image holds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Inventory {
    pub distro: Option<Distro>,
    pub packages: Vec<Package>,
    /// Files that could not be parsed, and why; the scan goes on without them.
    pub warnings: Vec<String>,
}

/// Whether the layer reader should keep the file at `path` (relative, no leading `/`)
/// for a cataloger.
pub fn wants(path: &str) -> bool {
    os_release::wants(path) || dpkg::wants(path) || apk::wants(path) || rpm::wants(path) || python::wants(path) || npm::wants(path)
}

/// Runs every cataloger over a merged view.
pub fn catalog(fs: &RootFs) -> Inventory {
    let mut inv = Inventory { distro: os_release::read(fs), ..Inventory::default() };
    let os_ecosystem = inv.distro.as_ref().and_then(Distro::ecosystem);
    let mut warn = |path: &str, e: String| inv.warnings.push(format!("/{path}: {e}"));
    let mut found: Vec<Package> = Vec::new();
    for (path, node) in fs.iter() {
        let location = format!("/{path}");
        match node {
            Node::Binary(pkgs) => found.extend(pkgs.iter().cloned().map(|mut p| {
                p.location = location.clone();
                p
            })),
            Node::File(data) => {
                let result = if dpkg::wants(path) {
                    dpkg::parse(data, &location, os_ecosystem.as_deref().filter(|e| !e.starts_with("Alpine")).unwrap_or("Debian"))
                } else if apk::wants(path) {
                    apk::parse(data, &location, os_ecosystem.as_deref().filter(|e| !e.starts_with("Debian") && !e.starts_with("Ubuntu")).unwrap_or("Alpine"))
                } else if rpm::wants(path) {
                    rpm::parse(data, &location, os_ecosystem.as_deref().unwrap_or("Red Hat"))
                } else if python::wants(path) {
                    python::parse(data, &location)
                } else if npm::wants(path) {
                    npm::parse(path, data, &location)
                } else {
                    Ok(Vec::new())
                };
                match result {
                    Ok(p) => found.extend(p),
                    Err(e) => warn(path, e),
                }
            }
            Node::Symlink(_) => {}
        }
    }
    // OS packages carry the distribution in their purl.
    for p in &mut found {
        if matches!(p.kind, Kind::Deb | Kind::Apk | Kind::Rpm) {
            p.purl = crate::purl::of(p, inv.distro.as_ref());
        }
    }
    // The same package seen twice in one place (a lock file and node_modules) once.
    found.sort_by(|a, b| (a.kind, &a.name, &a.version, &a.location).cmp(&(b.kind, &b.name, &b.version, &b.location)));
    found.dedup_by(|a, b| a.kind == b.kind && a.name == b.name && a.version == b.version && a.location == b.location);
    inv.packages = found;
    inv
}

/// Splits RFC 822-style `Key: value` stanzas (dpkg status, Python METADATA),
/// joining continuation lines. Keys keep their case.
pub(crate) fn stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = cur.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub(crate) fn field<'a>(stanza: &'a [(String, String)], key: &str) -> Option<&'a str> {
    stanza.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

pub(crate) fn utf8(data: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(data).map_err(|e| format!("not UTF-8 text ({e})"))
}

#[cfg(test)]
mod tests;
