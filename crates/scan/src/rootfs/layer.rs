//! One layer tar, read once as it streams by: whiteouts, and for each path either
//! what a cataloger needs or just the fact that something is there (so it hides a
//! lower layer's file at the same path when the layers are merged).

use std::collections::HashMap;
use std::io::{BufReader, Read};

use berth_image::media_type::Compression;
use berth_image::whiteout::{classify, TarName};

use super::{Node, MAX_BINARY, MAX_KEPT_FILE};
use crate::catalog;

pub enum Entry {
    Dir,
    /// Present, but nothing a cataloger reads.
    Other,
    Keep(Node),
}

#[derive(Default)]
pub struct Layer {
    /// Directories marked opaque (`.wh..wh..opq`).
    pub opaque: Vec<String>,
    /// Paths deleted from lower layers (`.wh.NAME`).
    pub whiteouts: Vec<String>,
    /// Every other entry, in tar order.
    pub entries: Vec<(String, Entry)>,
    /// Files that could not be read fully (too large), for the report.
    pub warnings: Vec<String>,
}

/// Reads a layer blob (plain, gzip or zstd tar). `name` is used in errors.
pub fn read(mut blob: impl Read, name: &str) -> Result<Layer, String> {
    // Enough of the head to tell the compression (a short first read must not fool it).
    let mut head = Vec::with_capacity(4);
    (&mut blob).take(4).read_to_end(&mut head).map_err(|e| e.to_string())?;
    let r = BufReader::with_capacity(64 << 10, head.as_slice().chain(blob));
    let decoded: Box<dyn Read + '_> = match Compression::sniff(&head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r).map_err(|e| e.to_string())?),
        Compression::None => Box::new(r),
    };
    read_tar(decoded, name)
}

fn read_tar(r: impl Read, name: &str) -> Result<Layer, String> {
    let mut layer = Layer::default();
    // Hard links name an earlier entry of the same layer; index the kept ones.
    let mut kept: HashMap<String, usize> = HashMap::new();
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let raw = entry.path_bytes().into_owned();
        let path = clean(&raw).ok_or_else(|| format!("entry {:?} climbs out of the layer root", String::from_utf8_lossy(&raw)))?;
        if path.is_empty() {
            continue;
        }
        let (parent, base) = match path.rsplit_once('/') {
            Some((p, b)) => (p, b),
            None => ("", path.as_str()),
        };
        match classify(base.as_bytes()) {
            TarName::Opaque => {
                layer.opaque.push(parent.to_owned());
                continue;
            }
            TarName::Whiteout(n) => {
                let n = String::from_utf8_lossy(n);
                layer.whiteouts.push(if parent.is_empty() { n.into_owned() } else { format!("{parent}/{n}") });
                continue;
            }
            TarName::Meta => continue,
            TarName::Plain => {}
        }
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0);
        let size = entry.size();
        let e = if kind.is_dir() {
            Entry::Dir
        } else if kind.is_symlink() {
            let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
            Entry::Keep(Node::Symlink(target))
        } else if kind.is_hard_link() {
            let target = entry.link_name_bytes().and_then(|t| clean(&t)).unwrap_or_default();
            match kept.get(&target).and_then(|i| match &layer.entries[*i].1 {
                Entry::Keep(n) => Some(n.clone()),
                _ => None,
            }) {
                Some(n) => Entry::Keep(n),
                None => Entry::Other,
            }
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            if catalog::wants(&path) {
                if size > MAX_KEPT_FILE {
                    layer.warnings.push(format!("/{path} in layer {name}: {size} bytes, larger than the {MAX_KEPT_FILE}-byte limit; not read"));
                    Entry::Other
                } else {
                    let mut buf = Vec::with_capacity(size as usize);
                    entry.read_to_end(&mut buf).map_err(|e| format!("reading /{path}: {e}"))?;
                    Entry::Keep(Node::File(buf))
                }
            } else if mode & 0o111 != 0 && size >= 64 {
                binary(&mut entry, &path, size, name, &mut layer.warnings)?
            } else {
                Entry::Other
            }
        } else {
            Entry::Other
        };
        if matches!(e, Entry::Keep(_)) {
            kept.insert(path.clone(), layer.entries.len());
        }
        layer.entries.push((path, e));
    }
    Ok(layer)
}

/// An executable: ELF files are read (bounded) and reduced to the module lists that
/// Go and cargo-auditable embed; the bytes are dropped straight after.
fn binary(entry: &mut impl Read, path: &str, size: u64, layer: &str, warnings: &mut Vec<String>) -> Result<Entry, String> {
    let mut magic = [0u8; 4];
    entry.read_exact(&mut magic).map_err(|e| format!("reading /{path}: {e}"))?;
    if &magic != b"\x7fELF" {
        return Ok(Entry::Other);
    }
    if size > MAX_BINARY {
        warnings.push(format!("/{path} in layer {layer}: {size}-byte executable, larger than the {MAX_BINARY}-byte limit; not scanned"));
        return Ok(Entry::Other);
    }
    let mut buf = Vec::with_capacity(size as usize);
    buf.extend_from_slice(&magic);
    entry.read_to_end(&mut buf).map_err(|e| format!("reading /{path}: {e}"))?;
    let found = catalog::binary::packages(&buf);
    Ok(if found.is_empty() { Entry::Other } else { Entry::Keep(Node::Binary(found)) })
}

/// A tar path made relative and normalised; `None` if it climbs above the root.
pub(crate) fn clean(raw: &[u8]) -> Option<String> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(String::from_utf8_lossy(&parts.join(&b'/')).into_owned())
}
