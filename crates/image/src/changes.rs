//! A container's filesystem changes, read from its overlay upper dir: the A/C/D list
//! `docker diff` shows, and the same changes as a layer tar with OCI whiteouts (what
//! `commit` and the builder store).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, Metadata};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::layer::{lgetxattr, llistxattr};
use crate::whiteout::{is_overlay_whiteout, OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};

/// The kind of a change, numbered as the Engine API's `Kind` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// `C`: the path existed below and was changed.
    Modified = 0,
    /// `A`: the path is new.
    Added = 1,
    /// `D`: the path was removed.
    Deleted = 2,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path (absolute inside the container, e.g. `/etc/hosts`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FsChange {
    pub path: String,
    pub kind: ChangeKind,
}

impl std::fmt::Display for FsChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path)
    }
}

fn is_opaque(path: &Path) -> bool {
    matches!(lgetxattr(path, OVERLAY_OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

/// Whether `rel` is visible in the stack of `lowers` (top layer first), honouring
/// whiteouts and opaque directories in the lower layers themselves.
fn in_lowers(lowers: &[PathBuf], rel: &Path) -> Option<Metadata> {
    'layers: for lower in lowers {
        // An ancestor that is whited out or opaque in this layer hides everything below.
        let mut anc = PathBuf::new();
        let comps: Vec<_> = rel.components().collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            anc.push(c);
            match fs::symlink_metadata(lower.join(&anc)) {
                Ok(m) if is_overlay_whiteout(&m) || !m.is_dir() => return None,
                Ok(_) if is_opaque(&lower.join(&anc)) => {
                    return fs::symlink_metadata(lower.join(rel)).ok().filter(|m| !is_overlay_whiteout(m));
                }
                Ok(_) => {}
                Err(_) => continue 'layers,
            }
        }
        match fs::symlink_metadata(lower.join(rel)) {
            Ok(m) if is_overlay_whiteout(&m) => return None,
            Ok(m) => return Some(m),
            Err(_) => {}
        }
    }
    None
}

/// The changes recorded in `upper` against the lower layers `lowers` (top layer first),
/// sorted by path, as `docker diff` reports them: a directory that is only a parent of
/// changes appears as `C`, deletions (overlay whiteouts) as `D`.
pub fn changes(lowers: &[PathBuf], upper: &Path) -> Result<Vec<FsChange>> {
    let mut out: Vec<FsChange> = Vec::new();
    let mut changed_dirs: HashSet<PathBuf> = HashSet::new();
    walk(lowers, upper, Path::new(""), false, &mut out, &mut changed_dirs)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(
    lowers: &[PathBuf],
    upper: &Path,
    rel_dir: &Path,
    under_opaque: bool,
    out: &mut Vec<FsChange>,
    changed_dirs: &mut HashSet<PathBuf>,
) -> Result<()> {
    let dir = upper.join(rel_dir);
    let mut names: Vec<_> = fs::read_dir(&dir).ctx("read dir", &dir)?.map(|e| e.map(|e| e.file_name())).collect::<std::io::Result<_>>().ctx("read dir", &dir)?;
    names.sort();
    for name in names {
        let rel = rel_dir.join(&name);
        let path = upper.join(&rel);
        let meta = fs::symlink_metadata(&path).ctx("stat", &path)?;
        let kind = if is_overlay_whiteout(&meta) {
            ChangeKind::Deleted
        } else if under_opaque {
            ChangeKind::Added
        } else {
            match in_lowers(lowers, &rel) {
                None => ChangeKind::Added,
                Some(lm) => {
                    // A directory that merely holds changes is reported through its
                    // children (and as their parent below), not for itself.
                    let same_dir = lm.is_dir()
                        && meta.is_dir()
                        && lm.mode() == meta.mode()
                        && lm.uid() == meta.uid()
                        && lm.gid() == meta.gid()
                        && lm.mtime() == meta.mtime()
                        && lm.mtime_nsec() == meta.mtime_nsec()
                        && !is_opaque(&path);
                    if same_dir {
                        changed_dirs.insert(rel.clone());
                        walk(lowers, upper, &rel, false, out, changed_dirs)?;
                        continue;
                    }
                    ChangeKind::Modified
                }
            }
        };
        if kind != ChangeKind::Modified {
            if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
                if changed_dirs.insert(parent.to_owned()) {
                    out.push(FsChange { path: abs(parent), kind: ChangeKind::Modified });
                }
            }
        }
        if meta.is_dir() {
            changed_dirs.insert(rel.clone());
        }
        out.push(FsChange { path: abs(&rel), kind });
        if meta.is_dir() {
            walk(lowers, upper, &rel, under_opaque || is_opaque(&path), out, changed_dirs)?;
        }
    }
    Ok(())
}

/// A user namespace's id maps as (inside, host, count) ranges: what a remapped
/// container's files are owned by on the host, and by whom inside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMapping {
    pub uids: Vec<(u32, u32, u32)>,
    pub gids: Vec<(u32, u32, u32)>,
}

impl IdMapping {
    fn inside(maps: &[(u32, u32, u32)], host: u32) -> u32 {
        // Ids outside every range are the kernel's overflow id inside too.
        maps.iter().find(|(_, h, n)| host >= *h && host - h < *n).map_or(65534, |(c, h, _)| c + (host - h))
    }

    pub fn uid_inside(&self, host: u32) -> u32 {
        Self::inside(&self.uids, host)
    }

    pub fn gid_inside(&self, host: u32) -> u32 {
        Self::inside(&self.gids, host)
    }

    fn outside(maps: &[(u32, u32, u32)], inside: u32) -> u32 {
        maps.iter().find(|(c, _, n)| inside >= *c && inside - c < *n).map_or(65534, |(c, h, _)| h + (inside - c))
    }

    /// The host id of `inside` (the overflow id when no range holds it).
    pub fn uid_outside(&self, inside: u32) -> u32 {
        Self::outside(&self.uids, inside)
    }

    pub fn gid_outside(&self, inside: u32) -> u32 {
        Self::outside(&self.gids, inside)
    }
}

fn abs(rel: &Path) -> String {
    format!("/{}", rel.display())
}

/// Writes the changes in `upper` as a layer tar (OCI whiteouts for deletions and opaque
/// directories, hard links kept, owners/modes/times/xattrs preserved). Entries come in
/// path order so parents precede children. Returns the list of changes written.
pub fn write_changes_tar(lowers: &[PathBuf], upper: &Path, out: impl Write, owners: Option<&IdMapping>) -> Result<Vec<FsChange>> {
    let list = changes(lowers, upper)?;
    let mut tar = tar::Builder::new(out);
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    let werr = |e: std::io::Error| Error::io("write changes tar of", upper, e);
    for c in &list {
        let rel = c.path.trim_start_matches('/');
        let path = upper.join(rel);
        if c.kind == ChangeKind::Deleted {
            let p = Path::new(rel);
            let name = format!("{WHITEOUT_PREFIX}{}", p.file_name().unwrap_or_default().to_string_lossy());
            let wh = p.parent().unwrap_or(Path::new("")).join(name);
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o600);
            h.set_mtime(0);
            tar.append_data(&mut h, &wh, std::io::empty()).map_err(werr)?;
            continue;
        }
        let meta = fs::symlink_metadata(&path).ctx("stat", &path)?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        let (uid, gid) = owners.map_or((meta.uid(), meta.gid()), |o| (o.uid_inside(meta.uid()), o.gid_inside(meta.gid())));
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        h.set_mtime(meta.mtime().max(0) as u64);
        // xattrs (except overlay's own bookkeeping) go in a PAX header before the entry.
        let xattrs: Vec<(String, Vec<u8>)> = llistxattr(&path)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| !n.starts_with(b"trusted.overlay."))
            .filter_map(|n| {
                let name = String::from_utf8(n).ok()?;
                let value = lgetxattr(&path, &name).ok()??;
                Some((format!("SCHILY.xattr.{name}"), value))
            })
            .collect();
        if !xattrs.is_empty() {
            tar.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).map_err(werr)?;
        }
        let ft = meta.file_type();
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            tar.append_data(&mut h, format!("{rel}/"), std::io::empty()).map_err(werr)?;
            if is_opaque(&path) {
                let mut o = tar::Header::new_gnu();
                o.set_entry_type(tar::EntryType::Regular);
                o.set_size(0);
                o.set_mode(0o600);
                tar.append_data(&mut o, Path::new(rel).join(OPAQUE_MARKER), std::io::empty()).map_err(werr)?;
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).ctx("readlink", &path)?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, rel, &target).map_err(werr)?;
        } else if let Some(first) = (meta.nlink() > 1).then(|| inodes.get(&(meta.dev(), meta.ino()))).flatten() {
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            tar.append_link(&mut h, rel, first).map_err(werr)?;
        } else if ft.is_file() {
            inodes.insert((meta.dev(), meta.ino()), rel.to_owned());
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            let f = File::open(&path).ctx("open", &path)?;
            tar.append_data(&mut h, rel, f).map_err(werr)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            h.set_entry_type(if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            });
            h.set_size(0);
            if !ft.is_fifo() {
                h.set_device_major(libc::major(meta.rdev())).map_err(werr)?;
                h.set_device_minor(libc::minor(meta.rdev())).map_err(werr)?;
            }
            tar.append_data(&mut h, rel, std::io::empty()).map_err(werr)?;
        }
        // Sockets are not archived (as in Docker).
    }
    tar.into_inner().map_err(werr)?.flush().map_err(werr)?;
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::tests_support::tar_of;
    use crate::layer::LayerStore;
    use crate::snapshot::{mount_overlay, unmount, SnapshotDirs};

    fn lines(c: &[FsChange]) -> Vec<String> {
        c.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn reports_docker_diff_changes_and_round_trips_them_as_a_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path().join("layers")).unwrap();
        let files: Vec<(String, String)> = [
            ("etc/hosts", "h"), ("etc/passwd", "p"), ("var/lib/old/a", "a"), ("var/lib/old/b", "b"), ("tmp/gone", "g"), ("bin/sh", "sh"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let base = store.unpack(None, None, &tar_of(&files)[..], None, "base").unwrap();
        let dirs = SnapshotDirs::create(&tmp.path().join("c")).unwrap();
        mount_overlay(&store, &[base.chain_id.clone()], &dirs).unwrap();
        let m = &dirs.merged;
        let work = (|| -> std::io::Result<()> {
            fs::write(m.join("etc/hosts"), "changed")?;
            fs::write(m.join("etc/new"), "new")?;
            fs::remove_file(m.join("tmp/gone"))?;
            fs::remove_dir_all(m.join("var/lib/old"))?;
            fs::create_dir(m.join("var/lib/old"))?;
            fs::write(m.join("var/lib/old/fresh"), "f")?;
            fs::create_dir_all(m.join("srv/www"))?;
            fs::write(m.join("srv/www/index.html"), "hi")?;
            fs::hard_link(m.join("srv/www/index.html"), m.join("srv/www/alias.html"))?;
            std::os::unix::fs::symlink("/srv/www", m.join("www"))?;
            Ok(())
        })();
        unmount(m).unwrap();
        work.unwrap();

        let lowers = vec![store.diff_dir(&base.chain_id)];
        let got = changes(&lowers, &dirs.upper).unwrap();
        assert_eq!(
            lines(&got),
            vec![
                "C /etc", "C /etc/hosts", "A /etc/new", "A /srv", "A /srv/www", "A /srv/www/alias.html", "A /srv/www/index.html",
                "C /tmp", "D /tmp/gone", "C /var/lib", "C /var/lib/old", "A /var/lib/old/fresh", "A /www",
            ]
        );

        // The tar, unpacked as a layer on top of the base, gives the same view.
        let mut tar = Vec::new();
        write_changes_tar(&lowers, &dirs.upper, &mut tar, None).unwrap();
        let top = store.unpack(Some(&base.chain_id), None, &tar[..], None, "diff").unwrap();
        let top_dir = store.diff_dir(&top.chain_id);
        assert!(is_overlay_whiteout(&fs::symlink_metadata(top_dir.join("tmp/gone")).unwrap()));
        assert!(is_opaque(&top_dir.join("var/lib/old")));
        let idx = fs::symlink_metadata(top_dir.join("srv/www/index.html")).unwrap();
        assert_eq!(idx.nlink(), 2, "hard link kept");
        let dirs2 = SnapshotDirs::create(&tmp.path().join("c2")).unwrap();
        mount_overlay(&store, &[base.chain_id.clone(), top.chain_id.clone()], &dirs2).unwrap();
        let m2 = &dirs2.merged;
        let view = (
            fs::read_to_string(m2.join("etc/hosts")),
            m2.join("tmp/gone").exists(),
            m2.join("var/lib/old/a").exists(),
            fs::read_to_string(m2.join("var/lib/old/fresh")),
            fs::read_link(m2.join("www")),
            fs::read_to_string(m2.join("etc/passwd")),
        );
        unmount(m2).unwrap();
        assert_eq!(view.0.unwrap(), "changed");
        assert!(!view.1 && !view.2);
        assert_eq!(view.3.unwrap(), "f");
        assert_eq!(view.4.unwrap(), Path::new("/srv/www"));
        assert_eq!(view.5.unwrap(), "p");
        // The layer's own diff has the same additions and deletions (parents that the
        // tar did not carry get fresh mtimes on unpack, so `C` lines may differ).
        let ad = |v: Vec<FsChange>| lines(&v).into_iter().filter(|l| !l.starts_with('C')).collect::<Vec<_>>();
        assert_eq!(ad(changes(&lowers, &top_dir).unwrap()), ad(got));
    }
}
