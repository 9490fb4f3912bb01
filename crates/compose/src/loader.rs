//! Turning compose files into a [`Project`]: the pipeline and its options.
//!
//! Per file: parse YAML → interpolate → validate against the schema → expand
//! short syntaxes (resolving relative paths) → apply `extends`; then the files
//! are merged in order, `include`s are loaded and added, and the merged model is
//! finalised (environment resolved, default network and resource names added),
//! filtered by profiles and checked for dangling references.

use crate::discovery::{check_project_name, find_default_files, normalize_project_name};
use crate::dotenv;
use crate::error::{ComposeError, Result};
use crate::interpolate::interpolate_value;
use crate::merge::merge;
use crate::model::Project;
use crate::normalize::{normalize_document, PathContext};
use crate::yaml::{parse_documents, Document};
use crate::{extends, include, profiles, schema};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What the user asked for on the command line, and where to look.
#[derive(Debug, Clone, Default)]
pub struct ProjectOptions {
    /// `-f` files in merge order; `-` reads standard input. Empty: `COMPOSE_FILE`,
    /// else discovery from `working_dir` upwards.
    pub config_files: Vec<PathBuf>,
    /// Directory discovery starts from and relative `-f`/`--env-file` are resolved
    /// against; default the current directory.
    pub working_dir: Option<PathBuf>,
    /// `--project-directory`; default the directory of the first compose file.
    pub project_directory: Option<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--env-file` (several); default `.env` in the project directory.
    pub env_files: Vec<PathBuf>,
    /// `--profile`; `COMPOSE_PROFILES` is added when empty.
    pub profiles: Vec<String>,
    /// Services named on the command line: they are enabled whatever their profiles.
    pub services: Vec<String>,
    /// The process environment; `None` reads the real one.
    pub environment: Option<BTreeMap<String, String>>,
    /// Content served for `-`; `None` reads standard input.
    pub stdin: Option<String>,
    /// Home directory for `~`; `None` uses `$HOME`.
    pub home: Option<PathBuf>,
}

/// Loads, merges, validates and resolves a project.
pub fn load_project(opts: &ProjectOptions) -> Result<Project> {
    let cwd = match &opts.working_dir {
        Some(d) => d.clone(),
        None => std::env::current_dir().map_err(|source| ComposeError::Io { path: ".".into(), source })?,
    };
    let os_env: BTreeMap<String, String> = match &opts.environment {
        Some(e) => e.clone(),
        None => std::env::vars().collect(),
    };
    let mut warnings = Vec::new();

    // A first .env (from --project-directory or the current directory) may set
    // COMPOSE_FILE, so it is read before discovery, as docker compose does.
    let first_dir = opts.project_directory.clone().map(|d| absolute(&cwd, &d)).unwrap_or_else(|| cwd.clone());
    let (mut env, _) = project_environment(&os_env, &opts.env_files, &cwd, &first_dir)?;

    let mut files: Vec<PathBuf> = opts.config_files.iter().map(|f| if f.as_os_str() == "-" { f.clone() } else { absolute(&cwd, f) }).collect();
    if files.is_empty() {
        if let Some(cf) = env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
            let sep = env.get("COMPOSE_PATH_SEPARATOR").cloned().unwrap_or_else(|| ":".into());
            files = cf.split(sep.as_str()).filter(|s| !s.is_empty()).map(|f| absolute(&first_dir, Path::new(f))).collect();
        } else {
            let (found, w) = find_default_files(&first_dir)?;
            warnings.extend(w);
            files = found;
        }
    }
    let project_dir = match &opts.project_directory {
        Some(d) => absolute(&cwd, d),
        None => files
            .iter()
            .find(|f| f.as_os_str() != "-")
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| cwd.clone()),
    };
    let env_files_read;
    (env, env_files_read) = project_environment(&os_env, &opts.env_files, &cwd, &project_dir)?;

    // Read every file up front: the project name may come from one of them.
    let mut sources = Vec::new();
    for f in &files {
        let content = if f.as_os_str() == "-" {
            match &opts.stdin {
                Some(s) => s.clone(),
                None => {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                        .map_err(|source| ComposeError::Io { path: "-".into(), source })?;
                    s
                }
            }
        } else {
            std::fs::read_to_string(f).map_err(|source| ComposeError::Io { path: f.clone(), source })?
        };
        sources.push((f.clone(), content));
    }

    let name = project_name(opts, &env, &sources, &project_dir)?;
    env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());

    let home = opts.home.clone().or_else(|| os_env.get("HOME").map(PathBuf::from));
    let mut loader = Loader::new(env.clone(), home);
    let mut model = loader.load_sources(&sources, &project_dir)?;
    warnings.append(&mut loader.warnings);

    finalize(&mut model, &name, &env, &mut warnings)?;
    let first_file = files.first().map(|f| f.display().to_string()).unwrap_or_default();
    // serde's messages carry no path: type each service/resource on its own so
    // the error can name it.
    for kind in ["services", "networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = model.get(kind) {
            for (key, item) in items {
                let typed = match kind {
                    "services" => serde_json::from_value::<crate::model::Service>(item.clone()).map(drop),
                    "networks" => serde_json::from_value::<crate::model::Network>(item.clone()).map(drop),
                    "volumes" => serde_json::from_value::<crate::model::Volume>(item.clone()).map(drop),
                    _ => serde_json::from_value::<crate::model::ConfigObject>(item.clone()).map(drop),
                };
                typed.map_err(|e| ComposeError::InvalidValue {
                    file: first_file.clone(),
                    path: format!("{kind}.{key}"),
                    message: e.to_string(),
                })?;
            }
        }
    }
    let mut project: Project = serde_json::from_value(model).map_err(|e| ComposeError::Structure {
        file: first_file.clone(),
        message: e.to_string(),
    })?;
    for (n, s) in project.services.iter_mut() {
        s.name = n.clone();
    }
    project.meta.working_dir = project_dir;
    project.meta.config_files = files;
    project.meta.env_files = env_files_read;
    project.meta.environment = env.clone();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    project.meta.warnings = warnings;

    let mut active = opts.profiles.clone();
    if active.is_empty() {
        if let Some(p) = env.get("COMPOSE_PROFILES") {
            active = p.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
    }
    profiles::apply_profiles(&mut project, &active, &opts.services)?;
    profiles::check_references(&mut project)?;
    Ok(project)
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    crate::normalize::clean_path(&if p.is_absolute() { p.to_path_buf() } else { base.join(p) })
}

/// The interpolation environment: the process environment over the env files
/// (`--env-file`s in order, else `<dir>/.env` when present).
fn project_environment(
    os_env: &BTreeMap<String, String>,
    env_files: &[PathBuf],
    cwd: &Path,
    dir: &Path,
) -> Result<(BTreeMap<String, String>, Vec<PathBuf>)> {
    let files: Vec<PathBuf> = if env_files.is_empty() {
        let p = dir.join(".env");
        if p.is_file() { vec![p] } else { vec![] }
    } else {
        env_files.iter().map(|f| absolute(cwd, f)).collect()
    };
    let mut from_files: BTreeMap<String, String> = BTreeMap::new();
    for f in &files {
        if f.is_dir() {
            return Err(ComposeError::Io {
                path: f.clone(),
                source: std::io::Error::other("is a directory, not an env file"),
            });
        }
        // Each file sees the process environment and what earlier files set.
        let lookup = |k: &str| os_env.get(k).or_else(|| from_files.get(k)).cloned();
        let pairs = dotenv::read_file(f, &lookup)?;
        from_files.extend(pairs);
    }
    let mut env = from_files;
    env.extend(os_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok((env, files))
}

/// `-p` > `COMPOSE_PROJECT_NAME` > top-level `name:` > project directory name.
fn project_name(
    opts: &ProjectOptions,
    env: &BTreeMap<String, String>,
    sources: &[(PathBuf, String)],
    project_dir: &Path,
) -> Result<String> {
    if let Some(n) = &opts.project_name {
        return check_project_name(n);
    }
    if let Some(n) = env.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()) {
        return check_project_name(n);
    }
    let mut from_files = None;
    for (path, content) in sources {
        let file = path.display().to_string();
        for doc in parse_documents(content, &file)? {
            if let Some(Value::String(n)) = doc.value.get("name") {
                let n = crate::interpolate::substitute(n, env, &mut Vec::new()).map_err(|e| {
                    ComposeError::InvalidValue { file: file.clone(), path: "name".into(), message: e.to_string() }
                })?;
                from_files = Some(n);
            }
        }
    }
    if let Some(n) = from_files.filter(|n| !n.is_empty()) {
        return check_project_name(&n);
    }
    let base = project_dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let n = normalize_project_name(&base);
    if n.is_empty() {
        return Err(ComposeError::EmptyProjectName);
    }
    Ok(n)
}

/// Loads and merges compose files of one (sub-)project; shared by the main
/// project, `extends` of other files and `include`.
pub(crate) struct Loader {
    /// Interpolation environment of this (sub-)project.
    pub env: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
    pub warnings: Vec<String>,
    /// Files currently being included, to detect cycles.
    pub include_stack: Vec<PathBuf>,
    /// Normalised documents of files read for `extends`, by path.
    pub extends_cache: HashMap<PathBuf, Document>,
}

impl Loader {
    pub fn new(env: BTreeMap<String, String>, home: Option<PathBuf>) -> Self {
        Loader { env, home, warnings: Vec::new(), include_stack: Vec::new(), extends_cache: HashMap::new() }
    }

    /// Processes and merges `sources` in order, then applies their `include`s.
    pub fn load_sources(&mut self, sources: &[(PathBuf, String)], project_dir: &Path) -> Result<Value> {
        for (path, _) in sources {
            if !self.include_stack.contains(path) {
                self.include_stack.push(path.clone());
            }
        }
        let mut model = Value::Object(Map::new());
        for (path, content) in sources {
            for doc in self.load_file(path, content, project_dir)? {
                merge(&mut model, doc.value, &doc.tags);
            }
        }
        if let Some(Value::Array(entries)) = model.as_object_mut().and_then(|m| m.remove("include")) {
            let origin = sources.first().map(|(p, _)| p.display().to_string()).unwrap_or_default();
            include::apply_includes(self, &mut model, &entries, &origin)?;
        }
        Ok(model)
    }

    /// One file: every document interpolated, validated, normalised and extended.
    pub fn load_file(&mut self, path: &Path, content: &str, base_dir: &Path) -> Result<Vec<Document>> {
        let file = path.display().to_string();
        let mut docs = parse_documents(content, &file)?;
        for doc in docs.iter_mut() {
            self.prepare(doc, &file, base_dir)?;
            extends::apply_extends(self, doc, path)?;
        }
        Ok(docs)
    }

    /// Interpolation, schema validation and normalisation of one document.
    pub fn prepare(&mut self, doc: &mut Document, file: &str, base_dir: &Path) -> Result<()> {
        let unset = interpolate_value(&mut doc.value, &self.env).map_err(|e| match e.error {
            crate::interpolate::SubstituteError::MissingRequired { variable, reason } => {
                ComposeError::MissingRequiredVariable { file: file.to_string(), path: e.path, variable, reason }
            }
            crate::interpolate::SubstituteError::InvalidTemplate(template) => {
                ComposeError::InvalidTemplate { file: file.to_string(), path: e.path, template }
            }
        })?;
        for v in unset {
            let w = format!("The \"{v}\" variable is not set. Defaulting to a blank string.");
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        schema::validate(&doc.value).map_err(|e| ComposeError::Schema {
            file: file.to_string(),
            path: e.path,
            message: e.message,
        })?;
        let ctx = PathContext { base_dir: base_dir.to_path_buf(), home: self.home.clone(), file: file.to_string() };
        normalize_document(&mut doc.value, &ctx)?;
        include::normalize_include_entries(&mut doc.value, &ctx);
        Ok(())
    }
}

/// Project-wide resolution after merging: `version` dropped, environments
/// resolved (env_file contents, bare names from the environment), default
/// network added, engine-side resource names set, scale checked.
fn finalize(model: &mut Value, name: &str, env: &BTreeMap<String, String>, warnings: &mut Vec<String>) -> Result<()> {
    let root = model.as_object_mut().expect("a merged model is a mapping");
    if root.remove("version").is_some() {
        warnings.push("the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion".into());
    }
    root.insert("name".into(), json!(name));
    let services = root.entry("services").or_insert_with(|| json!({}));
    let mut uses_default = false;
    if let Value::Object(services) = services {
        for (sname, svc) in services.iter_mut() {
            let Value::Object(s) = svc else { continue };
            resolve_environment(sname, s, env)?;
            if !s.contains_key("networks") && !s.contains_key("network_mode") {
                s.insert("networks".into(), json!({"default": null}));
            }
            if s.get("networks").and_then(|n| n.get("default")).is_some() {
                uses_default = true;
            }
            let replicas = s.get("deploy").and_then(|d| d.get("replicas")).and_then(as_u64);
            let scale = s.get("scale").and_then(as_u64);
            if let (Some(r), Some(sc)) = (replicas, scale) {
                if r != sc {
                    return Err(ComposeError::InvalidService {
                        service: sname.clone(),
                        message: "can't set distinct values on 'scale' and 'deploy.replicas'".into(),
                    });
                }
            }
        }
    }
    if uses_default {
        let nets = root.entry("networks").or_insert_with(|| json!({}));
        if let Value::Object(n) = nets {
            n.entry("default").or_insert_with(|| json!({}));
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = root.get_mut(kind) {
            for (key, item) in items.iter_mut() {
                if item.is_null() {
                    *item = json!({});
                }
                if let Value::Object(o) = item {
                    if !o.contains_key("name") {
                        let external = o.get("external") == Some(&Value::Bool(true));
                        let n = if external { key.clone() } else { format!("{name}_{key}") };
                        o.insert("name".into(), json!(n));
                    }
                }
            }
        }
    }
    Ok(())
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// env_file contents first (in order), then `environment` on top; names without
/// a value are looked up in the project environment, as compose does.
fn resolve_environment(service: &str, s: &mut Map<String, Value>, env: &BTreeMap<String, String>) -> Result<()> {
    let mut resolved: Map<String, Value> = Map::new();
    if let Some(Value::Array(files)) = s.get("env_file") {
        for f in files {
            let Some(path) = f.get("path").and_then(Value::as_str) else { continue };
            let required = f.get("required") != Some(&Value::Bool(false));
            let p = Path::new(path);
            match std::fs::metadata(p) {
                Ok(_) => {}
                Err(source) if required => {
                    return Err(ComposeError::EnvFileNotFound { path: p.to_path_buf(), source });
                }
                Err(_) => continue,
            }
            let lookup = |k: &str| env.get(k).cloned();
            for (k, v) in dotenv::read_file(p, &lookup)? {
                resolved.insert(k, Value::String(v));
            }
        }
    }
    if let Some(Value::Object(vars)) = s.get("environment") {
        for (k, v) in vars {
            let v = match v {
                Value::Null => env.get(k).map(|x| Value::String(x.clone())).unwrap_or(Value::Null),
                other => other.clone(),
            };
            resolved.insert(k.clone(), v);
        }
    }
    let _ = service;
    if !resolved.is_empty() {
        s.insert("environment".into(), Value::Object(resolved));
    }
    Ok(())
}
