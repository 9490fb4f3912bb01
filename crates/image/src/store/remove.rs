//! `docker rmi`: untag, and delete images no name or container needs, with Docker's
//! conflict rules and its `Untagged:` / `Deleted:` report.

use std::collections::HashSet;
use std::fmt;

use rusqlite::params;

use super::ImageStore;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;

/// A container that uses an image, as the daemon reports it to [`ImageStore::remove`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerUse {
    pub container_id: String,
    pub running: bool,
}

/// One line of `docker rmi`'s report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteRecord {
    /// A name removed (familiar form).
    Untagged(String),
    /// An image id or layer chain id deleted.
    Deleted(String),
}

impl fmt::Display for DeleteRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeleteRecord::Untagged(s) => write!(f, "Untagged: {s}"),
            DeleteRecord::Deleted(s) => write!(f, "Deleted: {s}"),
        }
    }
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

impl ImageStore {
    /// Removes the image `name` names, as `docker rmi [-f]` does:
    /// - by tag: the tag goes; the image goes too if that was its last name;
    /// - by id: all its names go if they are one repository's, else it needs `force`;
    /// - an image used by a container (per `in_use`) is not deleted: a running one
    ///   blocks even `force`, a stopped one needs `force`.
    ///
    /// Layers no other image (or the container of a force-deleted image) uses are
    /// removed too and reported as `Deleted:` lines.
    pub fn remove(&self, name: &str, force: bool, in_use: &dyn Fn(&Digest) -> Option<ContainerUse>) -> Result<Vec<DeleteRecord>> {
        let id = self.resolve(name)?;
        let idstr = id.to_string();
        let by_id = idstr.strip_prefix("sha256:").is_some_and(|hex| hex.starts_with(name.strip_prefix("sha256:").unwrap_or(name)));
        let tags = self.tags_of(&id)?;
        let mut records = Vec::new();
        let user = in_use(&id);

        if !by_id {
            let r = Reference::parse(name)?.with_default_tag();
            if !force && tags.len() <= 1 {
                if let Some(u) = &user {
                    return Err(Error::Conflict(format!(
                        "unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                        short(&u.container_id),
                        short(&idstr)
                    )));
                }
            }
            if self.untag(name)? {
                records.push(DeleteRecord::Untagged(r.familiar()));
            }
            if !self.tags_of(&id)?.is_empty() {
                return Ok(records);
            }
        } else {
            let repos: HashSet<String> = tags.iter().map(Reference::name).collect();
            if tags.len() > 1 && repos.len() > 1 && !force {
                return Err(Error::Conflict(format!(
                    "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    short(&idstr)
                )));
            }
        }
        if let Some(u) = &user {
            if u.running {
                return Err(Error::Conflict(format!(
                    "unable to delete {} (cannot be forced) - image is being used by running container {}",
                    short(&idstr),
                    short(&u.container_id)
                )));
            }
            if !force {
                return Err(Error::Conflict(format!(
                    "unable to delete {} (must be forced) - image is being used by stopped container {}",
                    short(&idstr),
                    short(&u.container_id)
                )));
            }
        }
        let rec = self.get(&id)?;
        let mut own_blobs = vec![rec.id.clone(), rec.manifest_digest.clone()];
        if let Ok(bytes) = self.content().read(&rec.manifest_digest, crate::manifest::MAX_MANIFEST_SIZE) {
            if let Ok(crate::manifest::Manifest::Image(m)) = crate::manifest::Manifest::parse(&bytes, None, &idstr) {
                own_blobs.extend(crate::manifest::layers(&m).into_iter().map(|(d, _, _)| d));
            }
        }
        // The record and all its names go in one transaction.
        {
            let mut db = self.db();
            let tx = db.transaction()?;
            for t in self.tags_of_tx(&tx, &id)? {
                records.push(DeleteRecord::Untagged(t.familiar()));
            }
            tx.execute("DELETE FROM image_tags WHERE image_id = ?1", params![idstr])?;
            tx.execute("DELETE FROM image_digests WHERE image_id = ?1", params![idstr])?;
            tx.execute("DELETE FROM image_images WHERE id = ?1", params![idstr])?;
            tx.commit()?;
        }
        records.push(DeleteRecord::Deleted(idstr.clone()));
        // A container of a force-deleted image still runs on its layers.
        let keep: HashSet<Digest> = if user.is_some() { rec.chain_ids.iter().cloned().collect() } else { HashSet::new() };
        let removed_layers = self.release(&own_blobs, &rec.chain_ids, &keep)?;
        for c in removed_layers.iter().rev() {
            records.push(DeleteRecord::Deleted(c.to_string()));
        }
        Ok(records)
    }

    fn tags_of_tx(&self, tx: &rusqlite::Transaction<'_>, id: &Digest) -> Result<Vec<Reference>> {
        let mut stmt = tx.prepare("SELECT name FROM image_tags WHERE image_id = ?1 ORDER BY name")?;
        let names: Vec<String> = stmt.query_map([id.to_string()], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        names.iter().map(|n| Reference::parse(n)).collect()
    }

    /// Removes those of a deleted image's blobs and layers that no recorded image uses
    /// any more (only these: blobs of a pull in progress are not touched). Returns the
    /// layers removed.
    fn release(&self, blobs: &[Digest], chain: &[Digest], keep: &HashSet<Digest>) -> Result<Vec<Digest>> {
        let (used_blobs, used_layers) = self.referenced_pub()?;
        for d in blobs {
            if !used_blobs.contains(d) {
                self.content().delete(d)?;
            }
        }
        let mut removed = Vec::new();
        for c in chain {
            if !used_layers.contains(c) && !keep.contains(c) && self.layers().remove(c)? {
                removed.push(c.clone());
            }
        }
        Ok(removed)
    }
}
