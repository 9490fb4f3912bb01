//! `/etc/os-release` (or `/usr/lib/os-release`): which distribution and release, so
//! distribution packages are matched against that release's advisories.

use crate::package::Distro;
use crate::rootfs::RootFs;

pub fn wants(path: &str) -> bool {
    matches!(path, "etc/os-release" | "usr/lib/os-release" | "etc/alpine-release" | "etc/debian_version")
}

pub fn read(fs: &RootFs) -> Option<Distro> {
    for p in ["etc/os-release", "usr/lib/os-release"] {
        if let Some(d) = fs.read(p).and_then(|b| parse(&String::from_utf8_lossy(b))) {
            return Some(d);
        }
    }
    // Images without os-release still name their release in these.
    if let Some(v) = fs.read("etc/alpine-release") {
        return Some(Distro { id: "alpine".into(), version_id: String::from_utf8_lossy(v).trim().into(), pretty_name: String::new() });
    }
    if let Some(v) = fs.read("etc/debian_version") {
        let v = String::from_utf8_lossy(v);
        let major = v.trim().split('.').next().unwrap_or("").to_owned();
        if major.chars().all(|c| c.is_ascii_digit()) && !major.is_empty() {
            return Some(Distro { id: "debian".into(), version_id: major, pretty_name: String::new() });
        }
    }
    None
}

/// Parses os-release's shell-style `KEY=value` lines.
pub fn parse(text: &str) -> Option<Distro> {
    let mut d = Distro::default();
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else { continue };
        let v = v.trim();
        let v = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\''))).unwrap_or(v);
        match k {
            "ID" => d.id = v.to_ascii_lowercase(),
            "VERSION_ID" => d.version_id = v.to_owned(),
            "PRETTY_NAME" => d.pretty_name = v.to_owned(),
            _ => {}
        }
    }
    (!d.id.is_empty()).then_some(d)
}
