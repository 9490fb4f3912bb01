//! YAML text → JSON value tree, the representation every later stage works on.
//!
//! Done here and nowhere else: anchors/aliases (the parser resolves them), merge
//! keys (`<<: *base`, also lists of them and chains, which the parser leaves to
//! us), the compose tags `!reset` and `!override` (removed from the tree and
//! recorded by path for the merge stage), mapping keys turned into strings, and
//! YAML errors reported with line and column.

use crate::error::{ComposeError, Result};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_norway::Value as Yaml;

/// What a tag asks the merge stage to do at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTag {
    /// `!reset`: drop whatever earlier files set at this path.
    Reset,
    /// `!override`: replace what earlier files set, without merging.
    Override,
}

/// One YAML document of a compose file.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// The tree, with `!reset` nodes already removed.
    pub value: Value,
    /// Paths (as key segments) carrying `!reset` / `!override`.
    pub tags: Vec<(Vec<String>, MergeTag)>,
}

impl Document {
    /// The tag recorded exactly at `path`, if any.
    pub fn tag_at(&self, path: &[String]) -> Option<MergeTag> {
        self.tags.iter().find(|(p, _)| p == path).map(|(_, t)| *t)
    }
}

/// Parses every document of a compose file. `file` names it in errors.
///
/// An empty file or a document that is not a mapping is an error, as in compose.
pub fn parse_documents(text: &str, file: &str) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for de in serde_norway::Deserializer::from_str(text) {
        let yaml = Yaml::deserialize(de).map_err(|e| yaml_error(&e, file))?;
        if yaml.is_null() && docs.is_empty() && text.trim().is_empty() {
            break;
        }
        let mut doc = Document::default();
        let mut path = Vec::new();
        doc.value = convert(yaml, &mut path, &mut doc.tags, file)?.unwrap_or(Value::Null);
        match &doc.value {
            Value::Object(_) => docs.push(doc),
            Value::Null => {}
            _ => {
                return Err(ComposeError::Structure {
                    file: file.to_string(),
                    message: "Top-level object must be a mapping".into(),
                })
            }
        }
    }
    if docs.is_empty() {
        return Err(ComposeError::Structure {
            file: file.to_string(),
            message: "empty compose file".into(),
        });
    }
    Ok(docs)
}

/// Parses a YAML text that must hold exactly one mapping (as used by tests and `config` round-trips).
pub fn parse_single(text: &str, file: &str) -> Result<Document> {
    let mut docs = parse_documents(text, file)?;
    let first = docs.remove(0);
    Ok(first)
}

fn yaml_error(e: &serde_norway::Error, file: &str) -> ComposeError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    // The library appends " at line L column C" itself; we carry those separately.
    let mut message = e.to_string();
    if let Some(p) = message.find(" at line ") {
        message.truncate(p);
    }
    ComposeError::Yaml {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// Converts a node; `None` means "dropped" (a `!reset` node).
fn convert(
    yaml: Yaml,
    path: &mut Vec<String>,
    tags: &mut Vec<(Vec<String>, MergeTag)>,
    file: &str,
) -> Result<Option<Value>> {
    Ok(Some(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // JSON has no NaN/inf; keep them as the YAML spelling.
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                path.push(out.len().to_string());
                let v = convert(item, path, tags, file)?;
                path.pop();
                if let Some(v) = v {
                    out.push(v);
                }
            }
            Value::Array(out)
        }
        Yaml::Mapping(mapping) => {
            let mut out = Map::new();
            let mut merged: Vec<Map<String, Value>> = Vec::new();
            for (k, v) in mapping {
                let key = key_string(&k, path, file)?;
                if key == "<<" && !matches!(k, Yaml::Tagged(_)) {
                    // Merge sources are converted on their own; their own `<<` are
                    // resolved by the recursion, which handles chains of anchors.
                    let mut scratch = Vec::new();
                    match convert(v, &mut path.clone(), &mut scratch, file)? {
                        Some(Value::Object(m)) => merged.push(m),
                        Some(Value::Array(list)) => {
                            for item in list {
                                match item {
                                    Value::Object(m) => merged.push(m),
                                    _ => return Err(merge_error(path, file)),
                                }
                            }
                        }
                        _ => return Err(merge_error(path, file)),
                    }
                    continue;
                }
                path.push(key.clone());
                let converted = convert(v, path, tags, file)?;
                path.pop();
                if let Some(v) = converted {
                    out.insert(key, v);
                }
            }
            // Explicit keys win over merged ones; earlier merge sources win over later.
            for m in merged {
                for (k, v) in m {
                    out.entry(k).or_insert(v);
                }
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            match tag.as_str() {
                "!reset" => {
                    tags.push((path.clone(), MergeTag::Reset));
                    return Ok(None);
                }
                "!override" => {
                    tags.push((path.clone(), MergeTag::Override));
                    return convert(tagged.value, path, tags, file);
                }
                // Other local tags carry no meaning for compose: keep the value.
                _ => return convert(tagged.value, path, tags, file),
            }
        }
    }))
}

fn merge_error(path: &[String], file: &str) -> ComposeError {
    ComposeError::Structure {
        file: file.to_string(),
        message: format!(
            "{}: merge key '<<' must refer to a mapping or a list of mappings",
            display_path(path)
        ),
    }
}

fn key_string(k: &Yaml, path: &[String], file: &str) -> Result<String> {
    match k {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::Bool(b) => Ok(b.to_string()),
        Yaml::Tagged(t) => key_string(&t.value, path, file),
        other => Err(ComposeError::Structure {
            file: file.to_string(),
            message: format!("{}: non-string key {other:?}", display_path(path)),
        }),
    }
}

fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        "(root)".to_string()
    } else {
        path.join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_merge_keys() {
        let d = parse_single(
            "x-base: &base\n  image: busybox\n  environment: {A: '1'}\nx-more: &more\n  <<: *base\n  user: root\nservices:\n  a:\n    <<: *more\n    image: alpine\n  b:\n    <<: [*base, {user: nobody, image: other}]\n",
            "c.yaml",
        )
        .unwrap();
        let a = &d.value["services"]["a"];
        assert_eq!(a["image"], "alpine");
        assert_eq!(a["user"], "root");
        assert_eq!(a["environment"]["A"], "1");
        assert!(a.get("<<").is_none());
        let b = &d.value["services"]["b"];
        assert_eq!(b["image"], "busybox");
        assert_eq!(b["user"], "nobody");
    }

    #[test]
    fn tags_are_recorded_and_reset_removed() {
        let d = parse_single(
            "services:\n  app:\n    ports: !reset []\n    environment:\n      FOO: !reset null\n    volumes: !override\n      - a:/b\n",
            "c.yaml",
        )
        .unwrap();
        let app = &d.value["services"]["app"];
        assert!(app.get("ports").is_none());
        assert!(app["environment"].get("FOO").is_none());
        assert_eq!(app["volumes"][0], "a:/b");
        let p = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(d.tag_at(&p("services.app.ports")), Some(MergeTag::Reset));
        assert_eq!(d.tag_at(&p("services.app.environment.FOO")), Some(MergeTag::Reset));
        assert_eq!(d.tag_at(&p("services.app.volumes")), Some(MergeTag::Override));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let e = parse_single("services:\n  web:\n    image: [a, b\n", "/p/compose.yaml").unwrap_err();
        match e {
            ComposeError::Yaml { line, column, ref file, .. } => {
                assert_eq!(file, "/p/compose.yaml");
                assert!(line >= 3, "line {line}");
                assert!(column >= 1);
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = parse_single("services:\n  web:\n    image: nginx\n     bad: indent\n", "f.yaml").unwrap_err();
        assert_eq!(e.to_string(), "yaml: f.yaml: line 4, column 9: mapping values are not allowed in this context");
    }

    #[test]
    fn non_mapping_and_empty() {
        assert_eq!(
            parse_single("- a\n- b\n", "f.yaml").unwrap_err().to_string(),
            "f.yaml: Top-level object must be a mapping"
        );
        assert_eq!(parse_single("", "f.yaml").unwrap_err().to_string(), "f.yaml: empty compose file");
    }

    #[test]
    fn keys_become_strings_and_multi_documents() {
        let docs = parse_documents("a:\n  1: x\n  true: y\n---\nb: 2\n", "f.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["a"]["1"], "x");
        assert_eq!(docs[0].value["a"]["true"], "y");
        assert_eq!(docs[1].value["b"], 2);
    }

    #[test]
    fn duplicate_keys_rejected() {
        let e = parse_single("a: 1\na: 2\n", "f.yaml").unwrap_err();
        assert!(matches!(e, ComposeError::Yaml { .. }), "{e}");
    }
}
