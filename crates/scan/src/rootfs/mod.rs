//! An image's filesystem as the catalogers see it: the layers merged in order with
//! OCI whiteouts applied, keeping only what a cataloger reads (package databases,
//! manifests, symlinks) and, for executables, only the packages found in them while
//! the layer streamed by. Nothing else is held in memory.

mod archive;
mod layer;

use std::collections::BTreeMap;

use crate::package::Package;

pub use archive::{read_image_archive, Image};

/// Largest package database or manifest kept (a big dpkg status is a few MiB).
pub const MAX_KEPT_FILE: u64 = 64 << 20;
/// Largest executable read to look for embedded module information.
pub const MAX_BINARY: u64 = 512 << 20;

/// What the merged view holds at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A file a cataloger wants, with its content.
    File(Vec<u8>),
    /// An executable, reduced to the packages built into it (locations not yet set).
    Binary(Vec<Package>),
    /// A symlink and its target as written.
    Symlink(String),
}

/// The merged view: paths relative to the root, without a leading slash.
#[derive(Clone, Debug, Default)]
pub struct RootFs {
    nodes: BTreeMap<String, Node>,
}

impl RootFs {
    /// Every kept path with its node, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Adds or replaces a node (tests build views by hand).
    pub fn insert(&mut self, path: &str, node: Node) {
        self.nodes.insert(path.trim_start_matches('/').to_owned(), node);
    }

    /// A kept file's content, following symlinks in any component (`/etc/os-release`
    /// is usually a link to `../usr/lib/os-release`; `/lib` may be a link to `usr/lib`).
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        match self.nodes.get(&self.resolve(path)?)? {
            Node::File(b) => Some(b),
            _ => None,
        }
    }

    /// The path with every symlink component replaced by its target, as the kernel
    /// would resolve it inside the image root (absolute targets are image-relative).
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut pending: Vec<String> = components(path).into_iter().rev().collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            done.push(c);
            let here = done.join("/");
            if let Some(Node::Symlink(target)) = self.nodes.get(&here) {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(components(target).into_iter().rev());
            }
        }
        Some(done.join("/"))
    }

    /// Removes `path` and everything below it.
    fn remove_tree(&mut self, path: &str) {
        self.nodes.remove(path);
        self.remove_below(path);
    }

    /// Removes everything below `dir` (an opaque directory keeps itself).
    fn remove_below(&mut self, dir: &str) {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let doomed: Vec<String> = self.nodes.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// Puts one layer on top: its opaque directories and whiteouts hide what lower
    /// layers had, then its entries replace what was at their paths.
    fn apply(&mut self, layer: layer::Layer) {
        for dir in &layer.opaque {
            self.remove_below(dir);
        }
        for path in &layer.whiteouts {
            self.remove_tree(path);
        }
        for (path, entry) in layer.entries {
            match entry {
                layer::Entry::Dir => {
                    // A directory replaces a lower file or symlink, keeps a lower directory.
                    self.nodes.remove(&path);
                }
                layer::Entry::Other => self.remove_tree(&path),
                layer::Entry::Keep(node) => {
                    self.remove_below(&path);
                    self.nodes.insert(path, node);
                }
            }
        }
    }
}

fn components(path: &str) -> Vec<String> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").map(str::to_owned).collect()
}

#[cfg(test)]
mod tests;
