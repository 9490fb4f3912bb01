//! dpkg: `/var/lib/dpkg/status`, and `/var/lib/dpkg/status.d/*` as distroless images
//! write it (one file per package, no `Status:` field).

use super::{field, stanzas, utf8};
use crate::package::{Kind, Package};

pub fn wants(path: &str) -> bool {
    path == "var/lib/dpkg/status"
        || path.strip_prefix("var/lib/dpkg/status.d/").is_some_and(|n| !n.contains('/') && !n.ends_with(".md5sums"))
}

pub fn parse(data: &[u8], location: &str, ecosystem: &str) -> Result<Vec<Package>, String> {
    let text = utf8(data)?;
    let mut out = Vec::new();
    for (i, s) in stanzas(text).iter().enumerate() {
        // Removed packages linger as `deinstall ok config-files`: not installed.
        if let Some(status) = field(s, "Status") {
            if status.split_whitespace().last() != Some("installed") {
                continue;
            }
        }
        let (Some(name), Some(version)) = (field(s, "Package"), field(s, "Version")) else {
            return Err(format!("stanza {} has no Package or Version field", i + 1));
        };
        let mut p = Package::new(Kind::Deb, name, version, ecosystem, location);
        p.arch = field(s, "Architecture").map(str::to_owned);
        // `Source: openssl` or `Source: glibc (2.36-9+deb12u4)`.
        if let Some(src) = field(s, "Source") {
            let mut parts = src.splitn(2, ' ');
            let sname = parts.next().unwrap_or("").trim();
            if !sname.is_empty() && sname != name {
                p.source = Some(sname.to_owned());
            }
            if let Some(v) = parts.next().map(|v| v.trim().trim_start_matches('(').trim_end_matches(')')) {
                if !v.is_empty() && v != version {
                    p.source_version = Some(v.to_owned());
                }
            }
        }
        out.push(p);
    }
    Ok(out)
}
