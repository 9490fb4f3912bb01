//! Finding compose files and naming the project, as docker compose does.

use crate::error::{ComposeError, Result};
use std::path::{Path, PathBuf};

/// Default file names, in compose-go's order of preference.
pub const DEFAULT_FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// Override files picked up next to a discovered default file.
pub const DEFAULT_OVERRIDE_FILE_NAMES: &[&str] = &[
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// Finds the compose file in `dir` or its nearest parent, plus its override file.
///
/// Returns the files in merge order and warnings (several candidates in one folder).
pub fn find_default_files(dir: &Path) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut cur = dir.to_path_buf();
    loop {
        let found: Vec<PathBuf> = DEFAULT_FILE_NAMES
            .iter()
            .map(|n| cur.join(n))
            .filter(|p| p.is_file())
            .collect();
        if let Some(first) = found.first() {
            if found.len() > 1 {
                warnings.push(format!(
                    "Found multiple config files with supported names: {}\nUsing {}",
                    join_paths(&found),
                    first.display()
                ));
            }
            let mut files = vec![first.clone()];
            let overrides: Vec<PathBuf> = DEFAULT_OVERRIDE_FILE_NAMES
                .iter()
                .map(|n| cur.join(n))
                .filter(|p| p.is_file())
                .collect();
            if let Some(o) = overrides.first() {
                if overrides.len() > 1 {
                    warnings.push(format!(
                        "Found multiple override files with supported names: {}\nUsing {}",
                        join_paths(&overrides),
                        o.display()
                    ));
                }
                files.push(o.clone());
            }
            return Ok((files, warnings));
        }
        if !cur.pop() {
            return Err(ComposeError::NoConfigFile {
                dir: dir.to_path_buf(),
                candidates: DEFAULT_FILE_NAMES.join(", "),
            });
        }
    }
}

fn join_paths(p: &[PathBuf]) -> String {
    p.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// compose's normalisation of a directory name into a project name: lowercase,
/// keep only `[a-z0-9_-]`, and no leading `_`/`-`.
pub fn normalize_project_name(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

/// Checks a name given explicitly (`-p`, `COMPOSE_PROJECT_NAME`, `name:`): compose
/// refuses to silently change those.
pub fn check_project_name(s: &str) -> Result<String> {
    if s.is_empty() {
        return Err(ComposeError::EmptyProjectName);
    }
    if normalize_project_name(s) != s {
        return Err(ComposeError::InvalidProjectName(s.to_string()));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_normalisation() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("__-x_y-z"), "x_y-z");
        assert_eq!(normalize_project_name("Ünïcode"), "ncode");
        assert!(check_project_name("ok_name-1").is_ok());
        assert_eq!(
            check_project_name("Bad").unwrap_err().to_string(),
            "invalid project name \"Bad\": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
        );
        assert!(check_project_name("-x").is_err());
        assert_eq!(check_project_name("").unwrap_err().to_string(), "project name must not be empty");
    }

    #[test]
    fn discovery_walks_up_and_prefers_compose_yaml() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::write(root.join("docker-compose.yml"), "services: {}\n").unwrap();
        std::fs::write(root.join("compose.yaml"), "services: {}\n").unwrap();
        std::fs::write(root.join("compose.override.yaml"), "services: {}\n").unwrap();
        let sub = root.join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let (files, warnings) = find_default_files(&sub).unwrap();
        assert_eq!(files, vec![root.join("compose.yaml"), root.join("compose.override.yaml")]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("Found multiple config files"));
    }

    #[test]
    fn discovery_without_files_fails() {
        let t = tempfile::tempdir().unwrap();
        // A temp dir under / could have a compose file in a parent only by accident;
        // use a nested dir and check the error kind only.
        match find_default_files(t.path()) {
            Err(ComposeError::NoConfigFile { .. }) => {}
            Ok((files, _)) => assert!(files.iter().all(|f| !f.starts_with(t.path()))),
            Err(e) => panic!("unexpected {e}"),
        }
    }
}
