//! The cache record a built image carries, so that `build --cache-from IMAGE` can reuse
//! its steps on another machine or after `builder prune` (as BuildKit's inline cache,
//! `moby.buildkit.cache.v0`, does). The image config gets a top-level field listing the
//! step keys of its stage, in order, each with how many layers and history entries the
//! image had after that step; the last entry is the image itself and has no counts.
//!
//! A step whose key a cache-from image lists is taken from it: the image's first layers
//! and history entries up to that step become an intermediate image with the stage's
//! own config (`ImageStore::derive_prefix`), provided the layers below match the ones
//! the build has so far. The whole image is taken as it is when its last step matches.

use berth_image::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::state::AppState;

/// The config field (a berth name: docker and other tools keep unknown fields as they are).
pub const FIELD: &str = "berth.build.cache.v0";

/// One step of a stage: its cache key and, unless it is the image itself, its counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<usize>,
}

/// The field for an image made at step `key` after `earlier` steps of its stage.
pub fn fields(earlier: &[Step], key: &str) -> Map<String, Value> {
    let mut steps: Vec<Step> = earlier.to_vec();
    steps.push(Step { key: key.to_owned(), layers: None, history: None });
    let mut m = Map::new();
    m.insert(FIELD.into(), serde_json::to_value(steps).unwrap_or(Value::Null));
    m
}

/// The steps recorded in an image config (none when it has no valid record).
pub fn steps_of(config_bytes: &[u8]) -> Vec<Step> {
    #[derive(Deserialize)]
    struct Cfg {
        #[serde(rename = "berth.build.cache.v0", default)]
        steps: Vec<Step>,
    }
    serde_json::from_slice::<Cfg>(config_bytes).map(|c| c.steps).unwrap_or_default()
}

/// Layer and history counts of an image, as a step entry records them.
pub fn counts(config_bytes: &[u8]) -> (usize, usize) {
    let v: Value = serde_json::from_slice(config_bytes).unwrap_or_default();
    let layers = v["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len);
    let history = v["history"].as_array().map_or(0, Vec::len);
    (layers, history)
}

/// A `--cache-from` image and the steps it records.
#[derive(Clone, Debug)]
pub struct Source {
    pub image: Digest,
    pub diff_ids: Vec<Digest>,
    pub history: usize,
    pub steps: Vec<Step>,
}

/// Where a step can be found in the cache-from images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// The step is a cache-from image's last: the image itself.
    Whole(Digest),
    /// An earlier step: that many layers and history entries of the image.
    Prefix { image: Digest, layers: usize, history: usize },
}

/// The cache-from images named, resolved locally; names that are not local images are
/// skipped (as dockerd does), and so are images without a cache record.
pub fn sources(state: &AppState, names: &[String]) -> Vec<Source> {
    let mut out = Vec::new();
    for name in names {
        let rec = match state.images.resolve(name).and_then(|id| state.images.get(&id)) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("could not look up {name} for cache resolution, skipping: {e}");
                continue;
            }
        };
        let steps = steps_of(&rec.config_bytes);
        if steps.is_empty() {
            continue;
        }
        let (_, history) = counts(&rec.config_bytes);
        out.push(Source { image: rec.id.clone(), diff_ids: rec.diff_ids.clone(), history, steps });
    }
    out
}

/// The first cache-from image holding `key` on top of exactly the layers `below`.
pub fn find(sources: &[Source], key: &str, below: &[Digest]) -> Option<Found> {
    for s in sources {
        let Some(step) = s.steps.iter().find(|st| st.key == key) else { continue };
        let (layers, history) = match (step.layers, step.history) {
            (Some(l), Some(h)) => (l, h),
            _ => (s.diff_ids.len(), s.history),
        };
        if layers < below.len() || layers > s.diff_ids.len() || s.diff_ids[..below.len()] != *below {
            continue;
        }
        if layers == s.diff_ids.len() && history == s.history {
            return Some(Found::Whole(s.image.clone()));
        }
        return Some(Found::Prefix { image: s.image.clone(), layers, history });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    fn source() -> Source {
        let cfg = serde_json::json!({
            "rootfs": { "diff_ids": [d(1).to_string(), d(2).to_string(), d(3).to_string()] },
            "history": [{}, {}, {}, {}],
            FIELD: [
                { "key": "k1", "layers": 2, "history": 2 },
                { "key": "k2", "layers": 2, "history": 3 },
                { "key": "k3" },
            ],
        });
        let bytes = serde_json::to_vec(&cfg).unwrap();
        let (_, history) = counts(&bytes);
        Source { image: d(9), diff_ids: vec![d(1), d(2), d(3)], history, steps: steps_of(&bytes) }
    }

    #[test]
    fn the_record_round_trips_through_a_config() {
        let earlier = vec![Step { key: "a".into(), layers: Some(1), history: Some(2) }];
        let mut cfg = Map::new();
        cfg.extend(fields(&earlier, "b"));
        let bytes = serde_json::to_vec(&Value::Object(cfg)).unwrap();
        let steps = steps_of(&bytes);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0], earlier[0]);
        assert_eq!(steps[1], Step { key: "b".into(), layers: None, history: None });
        assert!(steps_of(b"{\"berth.build.cache.v0\": 3}").is_empty(), "a malformed record is no record");
    }

    #[test]
    fn steps_are_found_on_matching_layers_only() {
        let s = vec![source()];
        assert_eq!(find(&s, "k1", &[d(1)]), Some(Found::Prefix { image: d(9), layers: 2, history: 2 }));
        assert_eq!(find(&s, "k2", &[d(1), d(2)]), Some(Found::Prefix { image: d(9), layers: 2, history: 3 }));
        assert_eq!(find(&s, "k3", &[d(1), d(2)]), Some(Found::Whole(d(9))));
        assert_eq!(find(&s, "k1", &[d(7)]), None, "another base below");
        assert_eq!(find(&s, "k1", &[d(1), d(2), d(3)]), None, "more layers below than the step had");
        assert_eq!(find(&s, "nope", &[]), None);
    }
}
