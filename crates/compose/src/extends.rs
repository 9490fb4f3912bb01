//! `extends`: a service built on another one, from the same file or another.
//!
//! The referenced service is resolved first (recursively, so chains work), then
//! the local definition is merged over it with the ordinary merge rules. A
//! service from another file has its relative paths resolved against that
//! file's directory, and its own `extends.file` is relative to that file too.

use crate::error::{ComposeError, Result};
use crate::loader::Loader;
use crate::merge::merge_with_prefix;
use crate::yaml::{parse_documents, Document};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Replaces every service of `doc` that has `extends` by its resolved definition.
pub(crate) fn apply_extends(loader: &mut Loader, doc: &mut Document, file: &Path) -> Result<()> {
    let names: Vec<String> = match doc.value.get("services") {
        Some(Value::Object(s)) => s
            .iter()
            .filter(|(_, v)| v.get("extends").is_some())
            .map(|(k, _)| k.clone())
            .collect(),
        _ => return Ok(()),
    };
    let snapshot = doc.clone();
    for name in names {
        let mut stack = Vec::new();
        let resolved = resolve(loader, &snapshot, file, &name, &mut stack)?;
        doc.value["services"][&name] = resolved;
    }
    Ok(())
}

fn label(file: &Path, service: &str) -> String {
    format!("{service} ({})", file.display())
}

fn resolve(
    loader: &mut Loader,
    doc: &Document,
    file: &Path,
    name: &str,
    stack: &mut Vec<(PathBuf, String)>,
) -> Result<Value> {
    let mut svc = doc
        .value
        .get("services")
        .and_then(|s| s.get(name))
        .cloned()
        .ok_or_else(|| ComposeError::ExtendsServiceNotFound {
            file: file.display().to_string(),
            service: name.to_string(),
        })?;
    let Some(ext) = svc.as_object_mut().and_then(|o| o.remove("extends")) else {
        return Ok(svc);
    };
    let (target_file, target_service) = match &ext {
        Value::String(s) => (None, s.clone()),
        Value::Object(o) => (
            o.get("file").and_then(Value::as_str).map(String::from),
            o.get("service").and_then(Value::as_str).unwrap_or_default().to_string(),
        ),
        _ => (None, String::new()),
    };
    let target_path = match &target_file {
        Some(f) => {
            let dir = file.parent().unwrap_or(Path::new("/"));
            crate::normalize::clean_path(&dir.join(f))
        }
        None => file.to_path_buf(),
    };
    stack.push((file.to_path_buf(), name.to_string()));
    if stack.iter().any(|(f, s)| *f == target_path && *s == target_service) {
        let mut chain: Vec<String> = stack.iter().map(|(f, s)| label(f, s)).collect();
        chain.push(label(&target_path, &target_service));
        return Err(ComposeError::ExtendsCycle(chain));
    }
    let mut base = if target_path == file {
        resolve(loader, doc, file, &target_service, stack)?
    } else {
        let other = load_other(loader, &target_path)?;
        resolve(loader, &other, &target_path, &target_service, stack)?
    };
    stack.pop();
    let prefix = vec!["services".to_string(), name.to_string()];
    merge_with_prefix(&mut base, svc, &doc.tags, &prefix);
    Ok(base)
}

/// Reads, interpolates, validates and normalises a file referenced by `extends.file`,
/// with its own directory as the base for relative paths.
fn load_other(loader: &mut Loader, path: &Path) -> Result<Document> {
    if let Some(d) = loader.extends_cache.get(path) {
        return Ok(d.clone());
    }
    let content = std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = path.display().to_string();
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut merged = Document { value: Value::Object(Default::default()), tags: Vec::new() };
    for mut doc in parse_documents(&content, &file)? {
        loader.prepare(&mut doc, &file, &dir)?;
        crate::merge::merge(&mut merged.value, doc.value, &doc.tags);
        merged.tags.extend(doc.tags);
    }
    loader.extends_cache.insert(path.to_path_buf(), merged.clone());
    Ok(merged)
}
