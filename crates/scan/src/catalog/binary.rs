//! Packages compiled into executables: Go's build information (module path, version
//! and every dependency, since Go 1.18 stored inline after the `\xff Go buildinf:`
//! magic) and cargo-auditable's `.dep-v0` ELF section (zlib-compressed JSON listing
//! the crates a Rust binary was built from).

use std::io::Read;

use object::{Object, ObjectSection};
use serde::Deserialize;

use crate::package::{Kind, Package};

const GO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// Go writes the module information between two 16-byte sentinels.
const GO_SENTINEL_LEN: usize = 16;
/// cargo-auditable caps its decompressed JSON at 8 MiB; so do we.
const MAX_DEP_JSON: u64 = 8 << 20;

/// Every package the binary says it was built from (locations left empty).
pub fn packages(data: &[u8]) -> Vec<Package> {
    let file = object::File::parse(data).ok();
    let mut out = Vec::new();
    let go_section = file.as_ref().and_then(|f| f.section_by_name(".go.buildinfo")).and_then(|s| s.data().ok());
    if let Some(info) = go_section.and_then(go_buildinfo).or_else(|| memchr::memmem::find_iter(data, GO_MAGIC).find_map(|at| go_buildinfo(&data[at..]))) {
        out.extend(info);
    }
    if let Some(s) = file.as_ref().and_then(|f| f.section_by_name(".dep-v0")) {
        if let Ok(d) = s.data() {
            out.extend(rust_audit_data(d));
        }
    }
    out
}

/// Go 1.18+'s inline build information: a 32-byte header (magic, pointer size,
/// flags), then the Go version and the module information as varint-prefixed strings.
pub fn go_buildinfo(blob: &[u8]) -> Option<Vec<Package>> {
    if !blob.starts_with(GO_MAGIC) || blob.len() < 32 {
        return None;
    }
    let flags = blob[15];
    // Before Go 1.18 the header held pointers into the data segment instead.
    if flags & 0x2 == 0 {
        return None;
    }
    let mut rest = &blob[32..];
    let version = read_varint_string(&mut rest)?;
    let mut modinfo = read_varint_string(&mut rest)?;
    if modinfo.len() > 2 * GO_SENTINEL_LEN && modinfo[modinfo.len() - GO_SENTINEL_LEN - 1] == b'\n' {
        modinfo = &modinfo[GO_SENTINEL_LEN..modinfo.len() - GO_SENTINEL_LEN];
    }
    let version = std::str::from_utf8(version).ok()?;
    let modinfo = String::from_utf8_lossy(modinfo);
    let mut out = Vec::new();
    // The standard library is a package too: OSV lists its advisories as `stdlib`.
    if let Some(v) = version.strip_prefix("go") {
        let v = v.split([' ', '-']).next().unwrap_or(v);
        out.push(Package::new(Kind::Go, "stdlib", &format!("v{v}"), "Go", ""));
    }
    for line in modinfo.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["mod", path, ver, ..] | ["dep", path, ver, ..] => out.push(Package::new(Kind::Go, path, ver, "Go", "")),
            // `=> path version sum` replaces the module on the line before it; a
            // replacement by a local directory (`=> ./x`) is code of unknown version.
            ["=>", path, ver, ..] => {
                if let Some(last) = out.last_mut() {
                    let local = path.starts_with("./") || path.starts_with("../") || path.starts_with('/');
                    *last = if local { Package::new(Kind::Go, &last.name.clone(), "(devel)", "Go", "") } else { Package::new(Kind::Go, path, ver, "Go", "") };
                }
            }
            _ => {}
        }
    }
    Some(out)
}

fn read_varint_string<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    let mut n: u64 = 0;
    let mut shift = 0;
    loop {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let n = usize::try_from(n).ok().filter(|n| *n <= buf.len())?;
    let (s, rest) = buf.split_at(n);
    *buf = rest;
    Some(s)
}

#[derive(Deserialize)]
struct AuditData {
    packages: Vec<AuditPackage>,
}

#[derive(Deserialize)]
struct AuditPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: String,
}

/// cargo-auditable's section: zlib-compressed `{"packages": [{name, version, source}]}`.
pub fn rust_audit_data(compressed: &[u8]) -> Vec<Package> {
    let mut json = Vec::new();
    let decoder = flate2::read::ZlibDecoder::new(compressed);
    if decoder.take(MAX_DEP_JSON).read_to_end(&mut json).is_err() {
        return Vec::new();
    }
    let Ok(data) = serde_json::from_slice::<AuditData>(&json) else { return Vec::new() };
    data.packages
        .into_iter()
        .map(|p| {
            // Only crates.io crates are in crates.io's advisories; a local or git crate
            // of the same name is another crate.
            let eco = if p.source == "crates.io" { "crates.io" } else { "" };
            Package::new(Kind::Cargo, &p.name, &p.version, eco, "")
        })
        .collect()
}
