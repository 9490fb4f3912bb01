//! ADD's local archive extraction: tar, optionally gzip/bzip2/xz/zstd
//! compressed, recognised by content (not by file name), unpacked through
//! the confined root.

use std::io::{self, BufReader, Read};
use std::path::Path;

use super::root::ConfinedRoot;
use super::CopyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

fn sniff_compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// A tar header block: checksum field matches the header's byte sum.
fn looks_like_tar(block: &[u8]) -> bool {
    if block.len() < 512 {
        return false;
    }
    let field = &block[148..156];
    let text: String = field.iter().take_while(|b| **b != 0 && **b != b' ').map(|b| *b as char).collect();
    let Ok(stored) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| if (148..156).contains(&i) { b' ' as u32 } else { *b as u32 })
        .sum();
    sum == stored
}

fn decompressor(c: Compression, file: std::fs::File) -> io::Result<Box<dyn Read>> {
    let r = BufReader::new(file);
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        Compression::Xz => {
            let mut r = r;
            let mut out = Vec::new();
            lzma_rs::xz_decompress(&mut r, &mut out).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e:?}")))?;
            Box::new(io::Cursor::new(out))
        }
    })
}

/// The compression of `path` if it is a (possibly compressed) tar archive.
pub(crate) fn detect_archive(path: &Path) -> io::Result<Option<Compression>> {
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)?.read(&mut head)?;
    let c = sniff_compression(&head[..n]);
    let mut r = decompressor(c, std::fs::File::open(path)?)?;
    let mut block = vec![0u8; 512];
    let mut got = 0;
    while got < 512 {
        match r.read(&mut block[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(_) => return Ok(None),
        }
    }
    Ok(looks_like_tar(&block[..got]).then_some(c))
}

/// Normalises an entry name to a path below `dest`; `None` when it would
/// leave it (`../x`), which Docker refuses too.
fn entry_path(dest: &str, name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!("{}/{}", dest.trim_end_matches('/'), parts.join("/")))
}

/// Unpacks the archive at `path` into directory `dest` of `root`.
pub(crate) fn extract(
    path: &Path,
    compression: Compression,
    root: &ConfinedRoot,
    dest: &str,
    owner: Option<(u32, u32)>,
) -> Result<(), CopyError> {
    let io_err = |e: io::Error| CopyError::Archive {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let reader = decompressor(compression, std::fs::File::open(path).map_err(io_err)?).map_err(io_err)?;
    let mut ar = tar::Archive::new(reader);
    root.mkdir_all(dest, 0o755, owner).map_err(|e| CopyError::Write(dest.to_string(), e))?;
    for entry in ar.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&name).into_owned();
        let Some(target) = entry_path(dest, &name) else {
            if name.trim_matches('/').trim_start_matches("./").is_empty() || name == "." {
                continue;
            }
            return Err(CopyError::Archive {
                path: path.display().to_string(),
                message: format!("entry {name:?} points outside the destination"),
            });
        };
        let h = entry.header();
        let mode = h.mode().unwrap_or(0o644) & 0o7777;
        let (uid, gid) = owner.unwrap_or((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32));
        let mtime = h.mtime().unwrap_or(0) as i64;
        let kind = h.entry_type();
        let werr = |e: io::Error| CopyError::Write(target.clone(), e);
        if let Some(parent) = target.rsplit_once('/').map(|(p, _)| p) {
            root.mkdir_all(parent, 0o755, owner).map_err(werr)?;
        }
        match kind {
            tar::EntryType::Directory => {
                root.mkdir_all(&target, mode, None).map_err(werr)?;
                root.chmod(&target, mode).map_err(werr)?;
                root.lchown(&target, uid, gid).map_err(werr)?;
                root.set_mtime(&target, mtime, 0).map_err(werr)?;
            }
            tar::EntryType::Symlink => {
                let link = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                root.symlink(&link, &target).map_err(werr)?;
                root.lchown(&target, uid, gid).map_err(werr)?;
            }
            tar::EntryType::Link => {
                let link = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                let Some(existing) = entry_path(dest, &link) else {
                    return Err(CopyError::Archive {
                        path: path.display().to_string(),
                        message: format!("hard link {name:?} points outside the destination"),
                    });
                };
                root.hard_link(&existing, &target).map_err(werr)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut f = root.create_file(&target, mode).map_err(werr)?;
                io::copy(&mut entry, &mut f).map_err(werr)?;
                drop(f);
                root.lchown(&target, uid, gid).map_err(werr)?;
                root.set_mtime(&target, mtime, 0).map_err(werr)?;
            }
            // Devices, FIFOs and pax/GNU metadata records are not created.
            _ => {}
        }
    }
    Ok(())
}
