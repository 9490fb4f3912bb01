//! apk: `/lib/apk/db/installed`, one stanza per package of one-letter fields
//! (`P:` name, `V:` version, `A:` arch, `L:` license, `o:` origin).

use super::utf8;
use crate::package::{Kind, Package};

pub fn wants(path: &str) -> bool {
    path == "lib/apk/db/installed" || path == "usr/lib/apk/db/installed"
}

pub fn parse(data: &[u8], location: &str, ecosystem: &str) -> Result<Vec<Package>, String> {
    let text = utf8(data)?;
    let mut out = Vec::new();
    for (i, stanza) in text.split("\n\n").filter(|s| !s.trim().is_empty()).enumerate() {
        let (mut name, mut version, mut arch, mut license, mut origin) = (None, None, None, None, None);
        for line in stanza.lines() {
            let Some((k, v)) = line.split_once(':') else { continue };
            match k {
                "P" => name = Some(v),
                "V" => version = Some(v),
                "A" => arch = Some(v),
                "L" => license = Some(v),
                "o" => origin = Some(v),
                _ => {}
            }
        }
        let (Some(name), Some(version)) = (name, version) else {
            return Err(format!("package entry {} has no P: or V: line", i + 1));
        };
        let mut p = Package::new(Kind::Apk, name, version, ecosystem, location);
        p.arch = arch.map(str::to_owned);
        p.license = license.filter(|l| !l.is_empty()).map(str::to_owned);
        p.source = origin.filter(|o| *o != name).map(str::to_owned);
        out.push(p);
    }
    Ok(out)
}
