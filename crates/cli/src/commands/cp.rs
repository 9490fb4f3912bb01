//! `cp`: files between a container and here, as tar archives through
//! GET/PUT /containers/{id}/archive (`-` streams the tar itself on stdin/stdout).

use std::io;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use berth_api::client::{encode, query, Body};
use berth_api::{Client, ClientError};
use clap::Args;
use serde_json::Value;

use super::{client, fail};
use crate::{CmdResult, Failure, Global};

#[derive(Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// SRC_PATH (CONTAINER:SRC_PATH to copy out)
    src: String,
    /// DEST_PATH (CONTAINER:DEST_PATH to copy in)
    dest: String,
}

/// `CONTAINER:PATH` → (container, path); a local path has no container. A path with
/// a slash before the colon (`./a:b`, `/x:y`) is local, as docker decides.
pub fn split_container_path(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.contains('/') && !c.is_empty() => (Some(c), p),
        _ => (None, arg),
    }
}

/// The `X-Docker-Container-Path-Stat` header: base64 JSON with name, size, mode, ...
fn path_stat(headers: Option<&str>) -> Option<Value> {
    let raw = base64::engine::general_purpose::STANDARD.decode(headers?.trim()).ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Go's os.ModeDir bit in the stat's mode.
const MODE_DIR: u64 = 1 << 31;

pub fn cp(g: &Global, a: CpArgs) -> CmdResult {
    let _ = (a.archive, a.quiet);
    match (split_container_path(&a.src), split_container_path(&a.dest)) {
        ((Some(_), _), (Some(_), _)) => Err(fail("copying between containers is not supported")),
        ((None, _), (None, _)) => Err(fail("must specify at least one container source")),
        ((Some(c), src), (None, dest)) => copy_out(&client(g)?, c, src, dest, a.follow_link),
        ((None, src), (Some(c), dest)) => copy_in(&client(g)?, c, src, dest, a.follow_link),
    }
}

fn copy_out(c: &Client, container: &str, src: &str, dest: &str, _follow: bool) -> CmdResult {
    let resp = c.call("GET", &format!("/containers/{}/archive{}", encode(container), query([("path", Some(src.to_owned()))])), Body::Empty)?;
    let stat = path_stat(resp.header("x-docker-container-path-stat"));
    let mut reader = resp.into_reader();
    if dest == "-" {
        io::copy(&mut reader, &mut io::stdout().lock()).map_err(|e| fail(e.to_string()))?;
        return Ok(());
    }
    let dest = Path::new(dest);
    let src_name = stat.as_ref().and_then(|s| s["name"].as_str().map(str::to_owned)).unwrap_or_else(|| Path::new(src).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let src_is_dir = stat.as_ref().and_then(|s| s["mode"].as_u64()).is_some_and(|m| m & MODE_DIR != 0);
    // Into an existing directory the item keeps its name; otherwise it is renamed to
    // the destination's name (docker's copy rules), its parent must exist.
    let (into, rename) = if dest.is_dir() {
        (dest.to_path_buf(), None)
    } else {
        if dest.exists() && src_is_dir {
            return Err(fail(format!("cannot copy directory to existing file: {}", dest.display())));
        }
        let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(fail(format!("invalid output path: directory {:?} does not exist", parent.display().to_string())));
        }
        (parent.to_path_buf(), dest.file_name().map(|n| n.to_string_lossy().into_owned()))
    };
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_overwrite(true);
    for entry in ar.entries().map_err(|e| fail(e.to_string()))? {
        let mut entry = entry.map_err(|e| fail(e.to_string()))?;
        let path = entry.path().map_err(|e| fail(e.to_string()))?.into_owned();
        let rel = match &rename {
            Some(new) => rename_first(&path, &src_name, new),
            None => path.clone(),
        };
        // unpack_in refuses entries that would land outside `into`.
        let target = into.join(&rel);
        if let Some(p) = target.parent() {
            let _ = std::fs::create_dir_all(p);
        }
        if rel.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(fail(format!("refusing to extract {} outside {}", rel.display(), into.display())));
        }
        entry.unpack(&target).map_err(|e| fail(format!("{}: {e}", target.display())))?;
    }
    Ok(())
}

/// Replaces the archive's top-level name with the destination's.
fn rename_first(path: &Path, from: &str, to: &str) -> PathBuf {
    let mut comps = path.components().filter(|c| !matches!(c, Component::CurDir));
    match comps.next() {
        Some(Component::Normal(first)) if first.to_string_lossy() == from => {
            let mut p = PathBuf::from(to);
            p.extend(comps);
            p
        }
        _ => path.to_path_buf(),
    }
}

fn copy_in(c: &Client, container: &str, src: &str, dest: &str, follow: bool) -> CmdResult {
    let put = |dir: &str, body: Body<'_>| -> Result<(), ClientError> {
        let q = query([("path", Some(dir.to_owned())), ("noOverwriteDirNonDir", Some("true".to_owned()))]);
        c.call("PUT", &format!("/containers/{}/archive{q}", encode(container)), body).map(|_| ())
    };
    if src == "-" {
        put(dest, Body::Stream { content_type: "application/x-tar", reader: Box::new(io::stdin().lock()) })?;
        return Ok(());
    }
    let src_path = Path::new(src);
    let meta = if follow { std::fs::metadata(src_path) } else { std::fs::symlink_metadata(src_path) };
    meta.map_err(|e| fail(format!("could not find the file {src} in the local filesystem: {}", super::io_msg(&e))))?;
    // Where does it go: into DEST when that is a directory in the container, else
    // DEST's parent under DEST's name.
    let head = c.request("HEAD", &format!("/containers/{}/archive{}", encode(container), query([("path", Some(dest.to_owned()))])), Body::Empty)?;
    if head.status == 404 && !head.header("x-docker-container-path-stat").is_some() && head.status != 200 {
        // Either the container or the path is missing; the container's absence is an error.
        c.call("GET", &format!("/containers/{}/json", encode(container)), Body::Empty)?;
    }
    let dest_is_dir = head.status == 200 && path_stat(head.header("x-docker-container-path-stat")).and_then(|s| s["mode"].as_u64()).is_some_and(|m| m & MODE_DIR != 0);
    let src_base = src_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into());
    let (dir, name) = if dest_is_dir || dest.ends_with('/') {
        (dest.to_owned(), src_base)
    } else {
        let d = Path::new(dest);
        let parent = d.parent().map(|p| p.to_string_lossy().into_owned()).filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
        (parent, d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(src_base))
    };
    // Built in memory-light fashion: a pipe from a tar-writing thread.
    let (reader, writer) = pipe().map_err(|e| fail(e.to_string()))?;
    let src_owned = src_path.to_path_buf();
    let builder = std::thread::spawn(move || -> io::Result<()> {
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(follow);
        if src_owned.is_dir() {
            b.append_dir_all(&name, &src_owned)?;
        } else {
            b.append_path_with_name(&src_owned, &name)?;
        }
        b.finish()
    });
    let sent = put(&dir, Body::Stream { content_type: "application/x-tar", reader: Box::new(reader) });
    let built = builder.join().unwrap_or_else(|_| Err(io::Error::other("tar writer panicked")));
    sent?;
    built.map_err(|e| Failure::from(anyhow::anyhow!("archiving {src}: {e}")))?;
    Ok(())
}

/// A pipe as (reader, writer) files.
fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two new descriptors into fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nothing else.
    Ok(unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_container_paths_like_docker() {
        assert_eq!(split_container_path("web:/etc/hosts"), (Some("web"), "/etc/hosts"));
        assert_eq!(split_container_path("/tmp/a:b"), (None, "/tmp/a:b"));
        assert_eq!(split_container_path("./x:y"), (None, "./x:y"));
        assert_eq!(split_container_path("file.txt"), (None, "file.txt"));
        assert_eq!(split_container_path("-"), (None, "-"));
    }

    #[test]
    fn renames_top_level() {
        assert_eq!(rename_first(Path::new("hosts"), "hosts", "h2"), PathBuf::from("h2"));
        assert_eq!(rename_first(Path::new("./etc/passwd"), "etc", "e"), PathBuf::from("e/passwd"));
        assert_eq!(rename_first(Path::new("other"), "etc", "e"), PathBuf::from("other"));
    }
}
