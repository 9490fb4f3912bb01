//! npm: every installed package's `node_modules/[@scope/]name/package.json`, and lock
//! files (`package-lock.json`, npm 7's hidden `node_modules/.package-lock.json`).

use serde_json::Value;

use super::utf8;
use crate::package::{Kind, Package};

/// What kind of npm file a path is, if any.
enum File {
    Manifest,
    Lock,
}

fn kind(path: &str) -> Option<File> {
    let comps: Vec<&str> = path.split('/').collect();
    let base = *comps.last()?;
    let nm = comps.iter().rposition(|c| *c == "node_modules");
    match base {
        "package.json" => {
            let rest = &comps[nm? + 1..];
            match rest {
                [name, _] if !name.starts_with('@') && !name.starts_with('.') => Some(File::Manifest),
                [scope, _, _] if scope.starts_with('@') => Some(File::Manifest),
                _ => None,
            }
        }
        ".package-lock.json" => (nm == Some(comps.len() - 2)).then_some(File::Lock),
        // An application's lock file, not one shipped inside an installed package.
        "package-lock.json" => nm.is_none().then_some(File::Lock),
        _ => None,
    }
}

pub fn wants(path: &str) -> bool {
    kind(path).is_some()
}

pub fn parse(path: &str, data: &[u8], location: &str) -> Result<Vec<Package>, String> {
    let v: Value = serde_json::from_str(utf8(data)?).map_err(|e| format!("invalid JSON: {e}"))?;
    match kind(path) {
        Some(File::Manifest) => {
            let (Some(name), Some(version)) = (v["name"].as_str(), v["version"].as_str()) else {
                return Err("no name or version".into());
            };
            let mut p = Package::new(Kind::Npm, name, version, "npm", location);
            p.license = v["license"].as_str().map(str::to_owned);
            Ok(vec![p])
        }
        Some(File::Lock) => Ok(lock(&v, location)),
        None => Ok(Vec::new()),
    }
}

fn lock(v: &Value, location: &str) -> Vec<Package> {
    let mut out = Vec::new();
    // lockfileVersion 2 and 3: a flat map keyed by install path.
    if let Some(packages) = v["packages"].as_object() {
        for (key, entry) in packages {
            let Some(at) = key.rfind("node_modules/") else { continue };
            if entry["link"].as_bool() == Some(true) {
                continue;
            }
            let name = entry["name"].as_str().unwrap_or(&key[at + "node_modules/".len()..]);
            if let Some(version) = entry["version"].as_str() {
                out.push(Package::new(Kind::Npm, name, version, "npm", location));
            }
        }
        return out;
    }
    // lockfileVersion 1: nested `dependencies`.
    fn walk(deps: &Value, location: &str, out: &mut Vec<Package>) {
        for (name, entry) in deps.as_object().into_iter().flatten() {
            if let Some(version) = entry["version"].as_str().filter(|v| !v.starts_with("file:")) {
                out.push(Package::new(Kind::Npm, name, version, "npm", location));
            }
            walk(&entry["dependencies"], location, out);
        }
    }
    walk(&v["dependencies"], location, &mut out);
    out
}
