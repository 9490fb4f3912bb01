#![allow(dead_code)]

use berth_compose::{load_project, ComposeError, Project, ProjectOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Options for a project in `dir`, with a controlled environment (never the real one).
pub fn opts(dir: &Path, env: &[(&str, &str)]) -> ProjectOptions {
    ProjectOptions {
        working_dir: Some(dir.to_path_buf()),
        environment: Some(env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()),
        home: Some(PathBuf::from("/home/tester")),
        ..Default::default()
    }
}

pub fn load(dir: &Path, env: &[(&str, &str)]) -> Result<Project, ComposeError> {
    load_project(&opts(dir, env))
}

/// A temp project with the given files (relative path → content).
pub fn temp_project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for (p, c) in files {
        let path = t.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, c).unwrap();
    }
    t
}

/// Loads a single compose.yaml given as text.
pub fn load_text(yaml: &str) -> Result<Project, ComposeError> {
    let t = temp_project(&[("compose.yaml", yaml)]);
    load(t.path(), &[])
}

pub fn err_text(yaml: &str) -> String {
    load_text(yaml).unwrap_err().to_string()
}
