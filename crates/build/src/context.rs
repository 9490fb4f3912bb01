//! Walking a build context: the files `.dockerignore` lets through, in the
//! order Docker sends them (lexical, depth first), symlinks not followed.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::dockerignore::{DockerIgnore, ParentMatches};

/// A context that cannot be walked.
#[derive(Debug, Error)]
#[error("failed to walk build context at {path}: {source}")]
pub struct ContextError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// What a context entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// FIFOs, sockets, devices.
    Other,
}

/// One included entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// Slash-separated path relative to the context root.
    pub rel_path: String,
    pub kind: EntryKind,
    /// Absolute path on disk.
    pub path: PathBuf,
}

fn kind_of(ft: std::fs::FileType) -> EntryKind {
    if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

/// Lists the entries of `root` that `ignore` does not exclude. An ignored
/// directory is not descended unless a `!` pattern could re-include
/// something below it; the directory entry itself is then still left out.
pub fn walk_context(root: &Path, ignore: &DockerIgnore) -> Result<Vec<ContextEntry>, ContextError> {
    let mut out = Vec::new();
    walk_dir(root, "", ignore, &ParentMatches::default(), &mut out)?;
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    rel: &str,
    ignore: &DockerIgnore,
    parent: &ParentMatches,
    out: &mut Vec<ContextEntry>,
) -> Result<(), ContextError> {
    let err = |source| ContextError {
        path: dir.to_path_buf(),
        source,
    };
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
        .map_err(err)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(err)?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let name = name.to_string_lossy();
        let rel_path = if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") };
        let meta = std::fs::symlink_metadata(&path).map_err(|source| ContextError {
            path: path.clone(),
            source,
        })?;
        let kind = kind_of(meta.file_type());
        let (skip, info) = ignore.matches_under(&rel_path, parent);
        if skip {
            if kind != EntryKind::Dir || !could_reinclude_below(ignore, &rel_path) {
                continue;
            }
            walk_dir(&path, &rel_path, ignore, &info, out)?;
            continue;
        }
        out.push(ContextEntry {
            rel_path: rel_path.clone(),
            kind,
            path: path.clone(),
        });
        if kind == EntryKind::Dir {
            walk_dir(&path, &rel_path, ignore, &info, out)?;
        }
    }
    Ok(())
}

/// Docker's shortcut: descend an ignored directory only when some `!`
/// pattern starts with that directory's path.
fn could_reinclude_below(ignore: &DockerIgnore, dir_rel: &str) -> bool {
    if !ignore.has_exclusions() {
        return false;
    }
    let dir_slash = format!("{dir_rel}/");
    ignore
        .patterns()
        .iter()
        .filter(|p| p.exclusion)
        .any(|p| format!("{}/", p.pattern).starts_with(&dir_slash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for dir in ["src/lib", "node_modules/x", "docs/api", ".git"] {
            fs::create_dir_all(r.join(dir)).unwrap();
        }
        for f in [
            "Dockerfile",
            ".dockerignore",
            "README.md",
            "CHANGES.md",
            "src/main.rs",
            "src/lib/a.rs",
            "src/debug.log",
            "node_modules/x/i.js",
            "docs/api/index.md",
            "docs/guide.md",
            ".git/HEAD",
        ] {
            fs::write(r.join(f), f).unwrap();
        }
        std::os::unix::fs::symlink("/etc/passwd", r.join("link")).unwrap();
        d
    }

    fn names(root: &Path, ignore: &str) -> Vec<String> {
        let ig = DockerIgnore::parse(ignore).unwrap();
        walk_context(root, &ig).unwrap().into_iter().map(|e| e.rel_path).collect()
    }

    #[test]
    fn everything_without_ignore() {
        let d = tree();
        let n = names(d.path(), "");
        assert_eq!(n.len(), 19);
        assert_eq!(n[0], ".dockerignore");
        assert!(n.contains(&"link".to_string()));
    }

    #[test]
    fn ignores_directories_and_globs() {
        let d = tree();
        let n = names(d.path(), "node_modules\n.git\n**/*.log\n*.md\n");
        assert!(!n.iter().any(|p| p.starts_with("node_modules") || p.starts_with(".git/") || p == ".git"));
        assert!(!n.contains(&"src/debug.log".to_string()));
        assert!(!n.contains(&"README.md".to_string()));
        assert!(n.contains(&"docs/guide.md".to_string()), "*.md is top-level only");
        assert!(n.contains(&"src/lib/a.rs".to_string()));
    }

    #[test]
    fn exception_inside_ignored_directory() {
        let d = tree();
        let n = names(d.path(), "docs\n!docs/api/index.md\n");
        assert!(n.contains(&"docs/api/index.md".to_string()));
        assert!(!n.contains(&"docs".to_string()));
        assert!(!n.contains(&"docs/guide.md".to_string()));
    }

    #[test]
    fn symlinks_are_entries_not_followed() {
        let d = tree();
        let all = walk_context(d.path(), &DockerIgnore::default()).unwrap();
        let link = all.iter().find(|e| e.rel_path == "link").unwrap();
        assert_eq!(link.kind, EntryKind::Symlink);
    }
}
