//! `docker commit`: a container's writable layer becomes a new image on top of the
//! image it was created from.

use std::fs::File;
use std::path::{Path, PathBuf};

use oci_spec::image::Config;
use serde_json::{json, Value};

use super::ImageStore;
use crate::change::Change;
use crate::changes::write_changes_tar;
use crate::config::{now_rfc3339, MAX_CONFIG_SIZE};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::random_id;
use crate::manifest::MAX_MANIFEST_SIZE;
use crate::media_type;
use crate::reference::Reference;

/// What [`ImageStore::commit_container`] needs besides the upper dir.
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// The image the container was created from.
    pub base: Option<Digest>,
    /// The new image's runtime config, in Docker's shape (`Cmd`, `Env`, `Healthcheck`...).
    pub config: Value,
    /// History `created_by` (Docker: the container's command).
    pub created_by: String,
    pub comment: Option<String>,
    pub author: Option<String>,
    /// The name to tag the new image with (`latest` if it has no tag).
    pub tag: Option<String>,
    /// The container ran user-namespaced: its files' host owners go back to the ids
    /// they have inside, so the layer is the same as without the remap.
    pub owners: Option<crate::changes::IdMapping>,
}

/// Applies `--change` instructions to a Docker-shaped config, keeping the fields the
/// instructions do not touch (Healthcheck, OnBuild, ...) as they are.
pub fn apply_changes(config: &Value, changes: &[String]) -> Result<Value> {
    let parsed = changes.iter().map(|c| Change::parse(c)).collect::<Result<Vec<_>>>()?;
    if parsed.is_empty() {
        return Ok(config.clone());
    }
    let mut oci: Config = serde_json::from_value(config.clone()).map_err(|e| Error::json("container config", e))?;
    for c in &parsed {
        c.apply(&mut oci);
    }
    let applied = serde_json::to_value(&oci).map_err(|e| Error::json("container config", e))?;
    let mut out = if config.is_object() { config.clone() } else { json!({}) };
    // Keys an instruction may have changed or cleared (ENTRYPOINT clears Cmd).
    for key in ["User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal"] {
        match applied.get(key) {
            Some(v) if !v.is_null() => out[key] = v.clone(),
            _ => {
                if let Some(o) = out.as_object_mut() {
                    o.remove(key);
                }
            }
        }
    }
    Ok(out)
}

/// One history entry a derived image appends.
#[derive(Clone, Debug, Default)]
pub struct HistoryItem {
    pub created_by: String,
    pub comment: Option<String>,
    /// Whether the step made no layer (ENV, CMD ...). A step that would make one but
    /// changed nothing is marked empty too.
    pub empty_layer: bool,
}

/// What [`ImageStore::derive`] needs besides the upper dir.
#[derive(Clone, Debug, Default)]
pub struct DeriveOptions {
    /// The image to build on; `None` for `scratch`.
    pub base: Option<Digest>,
    /// The new image's runtime config, in Docker's shape (`Cmd`, `Env`, `Healthcheck`...).
    pub config: Value,
    /// History entries appended, in order; at most one may make the layer.
    pub history: Vec<HistoryItem>,
    pub author: Option<String>,
    /// The name to tag the new image with (`latest` if it has no tag).
    pub tag: Option<String>,
    /// A builder's step image: hidden from `images` and image prune (it is build cache).
    pub intermediate: bool,
    /// As [`CommitOptions::owners`].
    pub owners: Option<crate::changes::IdMapping>,
    /// Top-level config fields to set (a null value removes one inherited from `base`):
    /// the builder's inline cache record.
    pub fields: serde_json::Map<String, Value>,
}

impl ImageStore {
    /// Makes a new image from `base` plus the changes recorded in the overlay `upper`
    /// dir (whiteouts become OCI `.wh.` entries), with `opts.config` as its config and a
    /// history entry; tags it if asked. Returns the new image id.
    pub fn commit_container(&self, upper: &Path, opts: &CommitOptions) -> Result<Digest> {
        let history = vec![HistoryItem { created_by: opts.created_by.clone(), comment: opts.comment.clone(), empty_layer: false }];
        let derive = DeriveOptions { base: opts.base.clone(), config: opts.config.clone(), history, author: opts.author.clone(), tag: opts.tag.clone(), intermediate: false, owners: opts.owners.clone(), fields: Default::default() };
        self.derive(Some(upper), &derive)
    }

    /// Makes a new image from `opts.base`: the changes in the overlay `upper` dir (if
    /// any) become one layer, `opts.history` is appended, `opts.config` replaces the
    /// runtime config. Docker's commit and the builder's steps both end here.
    pub fn derive(&self, upper: Option<&Path>, opts: &DeriveOptions) -> Result<Digest> {
        let tag = opts.tag.as_deref().map(Reference::parse).transpose()?.map(Reference::with_default_tag);
        if tag.as_ref().is_some_and(|t| t.digest().is_some()) {
            return Err(Error::InvalidReference("refusing to create a tag with a digest reference".into()));
        }
        let base = opts.base.as_ref().map(|b| self.get(b)).transpose()?;
        let lowers: Vec<PathBuf> = base.iter().flat_map(|b| b.chain_ids.iter().rev().map(|c| self.layers().diff_dir(c))).collect();

        // The changes tar goes to a temp file first: whether it is empty decides whether
        // the image gets a layer at all (Docker marks an empty commit `empty_layer`).
        let layer = match upper {
            Some(upper) => {
                let tmp = self.content().root().join(format!(".commit-{}", random_id(16)));
                let layer = (|| -> Result<Option<(Digest, u64, Digest)>> {
                    let f = File::create(&tmp).ctx("create", &tmp)?;
                    let list = write_changes_tar(&lowers, upper, std::io::BufWriter::new(f), opts.owners.as_ref())?;
                    if list.is_empty() {
                        return Ok(None);
                    }
                    let (blob, size) = self.content().write_new(File::open(&tmp).ctx("open", &tmp)?)?;
                    let parent = base.as_ref().and_then(|b| b.chain_ids.last().cloned());
                    let l = self.layers().unpack(parent.as_ref(), Some(&blob), self.content().open_blob(&blob)?, Some(media_type::Compression::None), &format!("commit layer {blob}"))?;
                    Ok(Some((blob, size, l.diff_id)))
                })();
                let _ = std::fs::remove_file(&tmp);
                layer?
            }
            None => None,
        };

        let created = now_rfc3339();
        let mut image: Value = match &base {
            Some(b) => serde_json::from_slice(&b.config_bytes).map_err(|e| Error::json("base image config", e))?,
            None => json!({ "architecture": crate::platform::Platform::host().architecture.as_str(), "os": "linux", "rootfs": { "type": "layers", "diff_ids": [] } }),
        };
        image["created"] = json!(created);
        image["config"] = opts.config.clone();
        if let Some(a) = opts.author.as_deref().filter(|a| !a.is_empty()) {
            image["author"] = json!(a);
        }
        if !image["history"].is_array() {
            image["history"] = json!([]);
        }
        for item in &opts.history {
            let mut h = json!({ "created": created, "created_by": item.created_by });
            if let Some(a) = opts.author.as_deref().filter(|a| !a.is_empty()) {
                h["author"] = json!(a);
            }
            if let Some(c) = item.comment.as_deref().filter(|c| !c.is_empty()) {
                h["comment"] = json!(c);
            }
            if item.empty_layer || layer.is_none() {
                h["empty_layer"] = json!(true);
            }
            if let Some(hist) = image["history"].as_array_mut() {
                hist.push(h);
            }
        }
        set_fields(&mut image, &opts.fields);
        if let Some((_, _, diff_id)) = &layer {
            if !image["rootfs"]["diff_ids"].is_array() {
                image["rootfs"]["diff_ids"] = json!([]);
            }
            if let Some(d) = image["rootfs"]["diff_ids"].as_array_mut() {
                d.push(json!(diff_id.to_string()));
            }
        }
        // The manifest: the base's layer descriptors plus the new layer.
        let mut manifest: Value = match &base {
            Some(b) => serde_json::from_slice(&self.content().read(&b.manifest_digest, MAX_MANIFEST_SIZE)?).map_err(|e| Error::json("base image manifest", e))?,
            None => json!({ "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST, "config": { "mediaType": media_type::OCI_CONFIG }, "layers": [] }),
        };
        let docker_kind = manifest["mediaType"].as_str() == Some(media_type::DOCKER_MANIFEST);
        self.write_config(&image, &mut manifest)?;
        if let Some((blob, size, _)) = &layer {
            let mt = if docker_kind { media_type::DOCKER_LAYER_TAR } else { media_type::OCI_LAYER_TAR };
            if !manifest["layers"].is_array() {
                manifest["layers"] = json!([]);
            }
            if let Some(l) = manifest["layers"].as_array_mut() {
                l.push(json!({ "mediaType": mt, "digest": blob.to_string(), "size": size }));
            }
        }
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::json("generated manifest", e))?;
        let id = self.register_manifest_as(&manifest_bytes, tag.as_slice(), opts.intermediate)?;
        Ok(id)
    }

    /// An intermediate image made of `source`'s first `layers` layers and first `history`
    /// history entries, with `config` as its runtime config and `fields` set on top: the
    /// state `source`'s build was in after one of its steps (`build --cache-from`). Its
    /// `created` is that of its last history entry, so making it twice gives one image.
    pub fn derive_prefix(&self, source: &Digest, layers: usize, history: usize, config: Value, fields: &serde_json::Map<String, Value>) -> Result<Digest> {
        let src = self.get(source)?;
        let bad = |what: &str| Error::json("image config", format!("{source} has no {what} to cut its history at"));
        if layers > src.diff_ids.len() {
            return Err(bad(&format!("{layers} layers")));
        }
        let mut image: Value = serde_json::from_slice(&src.config_bytes).map_err(|e| Error::json("source image config", e))?;
        let hist = image["history"].as_array_mut().ok_or_else(|| bad("history"))?;
        if history > hist.len() {
            return Err(bad(&format!("{history} history entries")));
        }
        hist.truncate(history);
        let made = hist.iter().filter(|h| !h["empty_layer"].as_bool().unwrap_or(false)).count();
        if made != layers {
            return Err(bad(&format!("layer count {layers} at history entry {history}")));
        }
        let created = hist.last().and_then(|h| h.get("created")).cloned();
        if let Some(c) = created {
            image["created"] = c;
        }
        if let Some(d) = image["rootfs"]["diff_ids"].as_array_mut() {
            d.truncate(layers);
        }
        image["config"] = config;
        set_fields(&mut image, fields);
        let mut manifest: Value = serde_json::from_slice(&self.content().read(&src.manifest_digest, MAX_MANIFEST_SIZE)?).map_err(|e| Error::json("source image manifest", e))?;
        self.write_config(&image, &mut manifest)?;
        if let Some(l) = manifest["layers"].as_array_mut() {
            l.truncate(layers);
        }
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::json("generated manifest", e))?;
        self.register_manifest_as(&manifest_bytes, &[], true)
    }

    /// Stores a generated image config and points the manifest's config descriptor at it.
    fn write_config(&self, image: &Value, manifest: &mut Value) -> Result<()> {
        let config_bytes = serde_json::to_vec(image).map_err(|e| Error::json("generated config", e))?;
        if config_bytes.len() > MAX_CONFIG_SIZE {
            return Err(Error::json("generated config", "larger than the config size limit"));
        }
        let config_digest = self.content().write_bytes(&config_bytes)?;
        manifest["config"]["digest"] = json!(config_digest.to_string());
        manifest["config"]["size"] = json!(config_bytes.len());
        Ok(())
    }
}

fn set_fields(image: &mut Value, fields: &serde_json::Map<String, Value>) {
    if let Some(o) = image.as_object_mut() {
        for (k, v) in fields {
            if v.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_keep_untouched_fields() {
        let cfg = json!({ "Cmd": ["sh"], "Healthcheck": { "Test": ["NONE"] }, "Env": ["A=1"] });
        let out = apply_changes(&cfg, &["ENV B=2".into(), "ENTRYPOINT [\"/bin/x\"]".into()]).unwrap();
        assert_eq!(out["Env"], json!(["A=1", "B=2"]));
        assert_eq!(out["Entrypoint"], json!(["/bin/x"]));
        assert!(out.get("Cmd").is_none(), "ENTRYPOINT resets CMD");
        assert_eq!(out["Healthcheck"], json!({ "Test": ["NONE"] }));
        assert!(apply_changes(&cfg, &["RUN x".into()]).is_err());
    }

    #[test]
    fn commits_an_upper_dir_as_a_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path(), &tmp.path().join("db")).unwrap();
        let base_tar = crate::layer::tests_support::tar_of(&[("etc/a".to_string(), "a".to_string())]);
        let base = store.import(&base_tar[..], &Default::default()).unwrap();
        let upper = tmp.path().join("upper");
        std::fs::create_dir_all(upper.join("srv")).unwrap();
        std::fs::write(upper.join("srv/new"), "n").unwrap();
        let opts = CommitOptions { base: Some(base.clone()), config: json!({ "Cmd": ["sh"] }), created_by: "sh".into(), comment: Some("c".into()), tag: Some("committed:v1".into()), ..Default::default() };
        let id = store.commit_container(&upper, &opts).unwrap();
        let rec = store.get(&id).unwrap();
        assert_eq!(rec.chain_ids.len(), 2);
        assert!(store.layers().diff_dir(&rec.chain_ids[1]).join("srv/new").exists());
        assert_eq!(rec.repo_tags, vec!["committed:v1".to_string()]);
        let h = store.history("committed:v1").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].comment, "c");
        assert!(h[0].size > 0);
        store.check(true).unwrap();
        // Nothing changed: no new layer, an empty_layer history entry.
        let empty = tmp.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let id2 = store.commit_container(&empty, &CommitOptions { base: Some(base), config: json!({}), ..Default::default() }).unwrap();
        assert_eq!(store.get(&id2).unwrap().chain_ids.len(), 1);
    }

    #[test]
    fn a_prefix_is_the_state_after_one_step() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path(), &tmp.path().join("db")).unwrap();
        let base_tar = crate::layer::tests_support::tar_of(&[("etc/a".to_string(), "a".to_string())]);
        let base = store.import(&base_tar[..], &Default::default()).unwrap();
        let step = |base: &Digest, file: &str, history: Vec<HistoryItem>| {
            let upper = tmp.path().join(format!("upper-{file}"));
            std::fs::create_dir_all(&upper).unwrap();
            std::fs::write(upper.join(file), file).unwrap();
            let mut fields = serde_json::Map::new();
            fields.insert("x.mark".into(), json!(file));
            store.derive(Some(&upper), &DeriveOptions { base: Some(base.clone()), config: json!({ "Cmd": [file] }), history, fields, ..Default::default() }).unwrap()
        };
        let made = |c: &str| HistoryItem { created_by: c.into(), ..Default::default() };
        let env = HistoryItem { created_by: "ENV A=1".into(), empty_layer: true, ..Default::default() };
        let one = step(&base, "one", vec![env.clone(), made("RUN one")]);
        let two = step(&one, "two", vec![env, made("RUN two")]);
        // base (1 entry) + ENV + RUN one: 2 layers, 3 entries.
        let fields: serde_json::Map<String, Value> = [("x.mark".to_string(), Value::Null)].into_iter().collect();
        let p = store.derive_prefix(&two, 2, 3, json!({ "Cmd": ["p"] }), &fields).unwrap();
        let rec = store.get(&p).unwrap();
        assert_eq!(rec.diff_ids, store.get(&one).unwrap().diff_ids);
        assert!(store.layers().diff_dir(&rec.chain_ids[1]).join("one").exists());
        let cfg: Value = serde_json::from_slice(&rec.config_bytes).unwrap();
        assert_eq!(cfg["history"].as_array().unwrap().len(), 3);
        assert_eq!(cfg["config"]["Cmd"], json!(["p"]));
        assert!(cfg.get("x.mark").is_none(), "a null field is removed");
        assert_eq!(store.derive_prefix(&two, 2, 3, json!({ "Cmd": ["p"] }), &fields).unwrap(), p, "the same prefix twice is one image");
        assert!(store.derive_prefix(&two, 2, 4, json!({}), &fields).is_ok(), "entry 4 is an ENV: still two layers");
        assert!(store.derive_prefix(&two, 2, 5, json!({}), &fields).is_err(), "entry 5 made a third layer");
        assert!(store.derive_prefix(&two, 3, 9, json!({}), &fields).is_err());
        store.check(true).unwrap();
    }
}
