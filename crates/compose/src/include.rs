//! `include`: other compose applications loaded as sub-projects and copied in.
//!
//! Each include is loaded on its own (own project directory for relative paths,
//! own `.env`/`env_file` for interpolation, overridden by the including
//! project's environment), after the including files were merged, and its
//! resources are added; a resource already defined differently is a conflict.

use crate::error::{ComposeError, Result};
use crate::loader::Loader;
use crate::normalize::PathContext;
use crate::{dotenv, interpolate::Lookup};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rewrites `include` entries to `{path: [abs…], project_directory?, env_file?: [abs…]}`,
/// resolving paths against the including file's base directory.
pub(crate) fn normalize_include_entries(doc: &mut Value, ctx: &PathContext) {
    let Some(Value::Array(entries)) = doc.get_mut("include") else { return };
    for e in entries.iter_mut() {
        let mut obj = match e {
            Value::String(s) => {
                let mut m = serde_json::Map::new();
                m.insert("path".into(), json!(s));
                m
            }
            Value::Object(o) => o.clone(),
            _ => continue,
        };
        for key in ["path", "env_file"] {
            let list: Vec<Value> = match obj.get(key) {
                Some(Value::String(s)) => vec![json!(ctx.resolve(s))],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| json!(ctx.resolve(s)))
                    .collect(),
                _ => continue,
            };
            obj.insert(key.into(), Value::Array(list));
        }
        if let Some(Value::String(d)) = obj.get("project_directory") {
            let abs = ctx.resolve(d);
            obj.insert("project_directory".into(), json!(abs));
        }
        *e = Value::Object(obj);
    }
}

const KINDS: [&str; 6] = ["services", "networks", "volumes", "secrets", "configs", "models"];

/// Loads every include entry and copies its resources into `model`.
pub(crate) fn apply_includes(loader: &mut Loader, model: &mut Value, entries: &[Value], origin: &str) -> Result<()> {
    for entry in entries {
        let paths: Vec<PathBuf> = entry
            .get("path")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(PathBuf::from).collect())
            .unwrap_or_default();
        let Some(first) = paths.first().cloned() else { continue };
        if loader.include_stack.contains(&first) {
            let mut chain: Vec<String> = loader.include_stack.iter().map(|p| p.display().to_string()).collect();
            chain.push(first.display().to_string());
            return Err(ComposeError::IncludeCycle(chain));
        }
        let project_dir = entry
            .get("project_directory")
            .and_then(Value::as_str)
            .map(PathBuf::from)
            .unwrap_or_else(|| first.parent().unwrap_or(Path::new("/")).to_path_buf());
        let env_files: Vec<PathBuf> = match entry.get("env_file").and_then(Value::as_array) {
            Some(a) => a.iter().filter_map(Value::as_str).map(PathBuf::from).collect(),
            None => {
                let p = project_dir.join(".env");
                if p.is_file() { vec![p] } else { vec![] }
            }
        };
        // The including project's environment wins over the included env files.
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for f in &env_files {
            let parent = &loader.env;
            let lookup = |k: &str| parent.lookup(k).or_else(|| env.get(k).cloned());
            let pairs = dotenv::read_file(f, &lookup)?;
            env.extend(pairs);
        }
        env.extend(loader.env.iter().map(|(k, v)| (k.clone(), v.clone())));

        let mut sources = Vec::new();
        for p in &paths {
            let content = std::fs::read_to_string(p).map_err(|source| ComposeError::Io { path: p.clone(), source })?;
            sources.push((p.clone(), content));
        }
        let mut child = Loader::new(env, loader.home.clone());
        child.include_stack = loader.include_stack.clone();
        let sub = child.load_sources(&sources, &project_dir)?;
        for w in child.warnings {
            if !loader.warnings.contains(&w) {
                loader.warnings.push(w);
            }
        }
        let file = first.display().to_string();
        let root = model.as_object_mut().expect("model is a mapping");
        for (kind, label) in KINDS.iter().zip(["service", "network", "volume", "secret", "config", "model"]) {
            let Some(Value::Object(items)) = sub.get(*kind) else { continue };
            let target = root.entry(*kind).or_insert_with(|| json!({}));
            let Value::Object(target) = target else { continue };
            for (k, v) in items {
                match target.get(k) {
                    Some(existing) if existing != v => {
                        return Err(ComposeError::IncludeConflict { file: file.clone(), kind: label, name: k.clone() });
                    }
                    Some(_) => {}
                    None => {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let _ = origin;
    }
    Ok(())
}
