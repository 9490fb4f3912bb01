//! Python distributions: `*.dist-info/METADATA` (wheels, pip) and `*.egg-info/PKG-INFO`
//! or a `*.egg-info` file (setuptools), wherever they are installed.

use super::{field, stanzas, utf8};
use crate::package::{Kind, Package};

pub fn wants(path: &str) -> bool {
    path.ends_with(".dist-info/METADATA") || path.ends_with(".egg-info/PKG-INFO") || path.ends_with(".egg-info")
}

pub fn parse(data: &[u8], location: &str) -> Result<Vec<Package>, String> {
    let text = utf8(data)?;
    // The headers end at the first blank line; the long description follows.
    let head = stanzas(text).into_iter().next().unwrap_or_default();
    let (Some(name), Some(version)) = (field(&head, "Name"), field(&head, "Version")) else {
        return Err("no Name or Version header".into());
    };
    let mut p = Package::new(Kind::PyPI, name, version, "PyPI", location);
    p.license = field(&head, "License-Expression").or_else(|| field(&head, "License")).filter(|l| !l.is_empty() && *l != "UNKNOWN" && !l.contains('\n')).map(str::to_owned);
    Ok(vec![p])
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
/// PyPI advisories and purls use it.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}
