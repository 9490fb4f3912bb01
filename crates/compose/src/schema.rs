//! Validation against the compose-spec JSON schema (draft-07).
//!
//! compose-spec.json uses a small set of keywords (type, properties,
//! patternProperties, additionalProperties, items, oneOf, required, enum,
//! uniqueItems, minimum, maximum, pattern, $ref to local definitions); this module
//! implements exactly those, offline, and words its errors as docker compose does
//! (`services.web Additional property foo is not allowed`). A test walks the
//! schema and fails if it ever uses a keyword we do not implement.

use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The compose-spec schema this crate validates against.
pub const COMPOSE_SPEC_SCHEMA: &str = include_str!("../schema/compose-spec.json");

/// A schema violation: the dotted path of the node and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// e.g. `services.web` or `(root)`.
    pub path: String,
    /// e.g. `Additional property foo is not allowed`.
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.path, self.message)
    }
}

/// A compiled schema.
pub struct Validator {
    root: Value,
    regexes: HashMap<String, Regex>,
}

/// The validator for the embedded compose-spec schema, built once.
pub fn compose_validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let root: Value =
            serde_json::from_str(COMPOSE_SPEC_SCHEMA).expect("embedded compose-spec.json is valid JSON");
        Validator::new(root).expect("embedded compose-spec.json patterns compile")
    })
}

/// Validates a compose document against compose-spec.json.
pub fn validate(doc: &Value) -> Result<(), SchemaError> {
    compose_validator().validate(doc)
}

impl Validator {
    /// Compiles every `pattern` / `patternProperties` regex of `root` up front.
    pub fn new(root: Value) -> Result<Self, regex::Error> {
        let mut regexes = HashMap::new();
        collect_patterns(&root, &mut regexes)?;
        Ok(Validator { root, regexes })
    }

    /// Validates `instance`; the first (depth-first, most specific) error is returned.
    pub fn validate(&self, instance: &Value) -> Result<(), SchemaError> {
        let mut path = Vec::new();
        self.check(&self.root, instance, &mut path)
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut s = schema;
        // Bounded: the schema has no ref-to-ref chains longer than a few hops.
        for _ in 0..16 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let pointer = r.strip_prefix('#').unwrap_or(r);
                    s = self.root.pointer(pointer).unwrap_or(&Value::Bool(true));
                }
                None => break,
            }
        }
        s
    }

    fn check(&self, schema: &Value, inst: &Value, path: &mut Vec<String>) -> Result<(), SchemaError> {
        let schema = self.resolve(schema);
        let obj = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return Err(err(path, "is not allowed".into())),
            Value::Object(o) => o,
            _ => return Ok(()),
        };

        if let Some(t) = obj.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|t| type_matches(t, inst)) {
                return Err(err(path, format!("must be a {}", human_types(&types))));
            }
        }

        if let Some(Value::Array(options)) = obj.get("enum") {
            if !options.contains(inst) {
                let list: Vec<String> = options.iter().map(|o| o.to_string()).collect();
                return Err(err(path, format!("must be one of the following: {}", list.join(", "))));
            }
        }

        if let Some(n) = inst.as_f64() {
            if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
                if n < min {
                    return Err(err(path, format!("must be greater than or equal to {min}")));
                }
            }
            if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
                if n > max {
                    return Err(err(path, format!("must be less than or equal to {max}")));
                }
            }
        }

        if let (Some(Value::String(p)), Value::String(s)) = (obj.get("pattern"), inst) {
            if !self.regexes[p].is_match(s) {
                return Err(err(path, format!("does not match pattern '{p}'")));
            }
        }

        if let Some(Value::Array(branches)) = obj.get("oneOf") {
            self.check_one_of(branches, inst, path)?;
        }

        match inst {
            Value::Object(map) => self.check_object(obj, map, path)?,
            Value::Array(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        path.push(i.to_string());
                        self.check(item_schema, item, path)?;
                        path.pop();
                    }
                }
                if obj.get("uniqueItems") == Some(&Value::Bool(true)) {
                    for i in 0..items.len() {
                        for j in i + 1..items.len() {
                            if items[i] == items[j] {
                                return Err(err(path, format!("array items[{i},{j}] must be unique")));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn check_object(
        &self,
        obj: &serde_json::Map<String, Value>,
        map: &serde_json::Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<(), SchemaError> {
        if let Some(Value::Array(req)) = obj.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !map.contains_key(r) {
                    return Err(err(path, format!("{r} is required")));
                }
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        let pattern_props = obj.get("patternProperties").and_then(Value::as_object);
        let additional = obj.get("additionalProperties");
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        // Unknown keys first: "Additional property foo" is the message users need
        // most, and it must not be hidden by an error deeper in a sibling key.
        if let Some(Value::Bool(false)) = additional {
            for k in &keys {
                let known = props.is_some_and(|p| p.contains_key(k.as_str()))
                    || pattern_props.is_some_and(|pp| pp.keys().any(|re| self.regexes[re].is_match(k)));
                if !known {
                    return Err(err(path, format!("Additional property {k} is not allowed")));
                }
            }
        }
        for k in keys {
            let v = &map[k];
            let mut matched = false;
            if let Some(s) = props.and_then(|p| p.get(k.as_str())) {
                matched = true;
                path.push(k.clone());
                self.check(s, v, path)?;
                path.pop();
            }
            if let Some(pp) = pattern_props {
                for (re, s) in pp {
                    if self.regexes[re].is_match(k) {
                        matched = true;
                        path.push(k.clone());
                        self.check(s, v, path)?;
                        path.pop();
                    }
                }
            }
            if !matched {
                if let Some(s @ Value::Object(_)) = additional {
                    path.push(k.clone());
                    self.check(s, v, path)?;
                    path.pop();
                }
            }
        }
        Ok(())
    }

    fn check_one_of(&self, branches: &[Value], inst: &Value, path: &[String]) -> Result<(), SchemaError> {
        let mut passing = 0;
        let mut first_err: Option<SchemaError> = None;
        for b in branches {
            let mut p = path.to_vec();
            match self.check(b, inst, &mut p) {
                Ok(()) => passing += 1,
                Err(e) => {
                    // The branch whose type fits the value explains the failure best.
                    if first_err.is_none() && self.shallow_type_fits(b, inst) {
                        first_err = Some(e);
                    }
                }
            }
        }
        match passing {
            1 => Ok(()),
            0 => Err(first_err.unwrap_or_else(|| {
                let mut types = Vec::new();
                for b in branches {
                    for t in self.branch_types(b) {
                        if !types.contains(&t) {
                            types.push(t);
                        }
                    }
                }
                err(path, format!("must be a {}", human_types(&types)))
            })),
            _ => Err(err(path, "must validate one and only one schema (oneOf)".into())),
        }
    }

    fn branch_types<'a>(&'a self, b: &'a Value) -> Vec<&'a str> {
        let b = self.resolve(b);
        match b.get("type") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => match b.get("oneOf") {
                Some(Value::Array(inner)) => inner.iter().flat_map(|i| self.branch_types(i)).collect(),
                _ => vec![],
            },
        }
    }

    fn shallow_type_fits(&self, b: &Value, inst: &Value) -> bool {
        let types = self.branch_types(b);
        types.is_empty() || types.iter().any(|t| type_matches(t, inst))
    }
}

fn err(path: &[String], message: String) -> SchemaError {
    SchemaError {
        path: if path.is_empty() { "(root)".into() } else { path.join(".") },
        message,
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn human_type(t: &str) -> &str {
    match t {
        "object" => "mapping",
        "array" => "list",
        other => other,
    }
}

fn human_types(types: &[&str]) -> String {
    let names: Vec<&str> = types.iter().map(|t| human_type(t)).collect();
    match names.len() {
        0 => "valid value".into(),
        1 => names[0].to_string(),
        n => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

fn collect_patterns(v: &Value, out: &mut HashMap<String, Regex>) -> Result<(), regex::Error> {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                if k == "pattern" {
                    if let Value::String(p) = child {
                        out.insert(p.clone(), Regex::new(p)?);
                    }
                } else if k == "patternProperties" {
                    if let Value::Object(pp) = child {
                        for (p, s) in pp {
                            out.insert(p.clone(), Regex::new(p)?);
                            collect_patterns(s, out)?;
                        }
                    }
                    continue;
                }
                collect_patterns(child, out)?;
            }
        }
        Value::Array(a) => {
            for c in a {
                collect_patterns(c, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> String {
        validate(&v).unwrap_err().to_string()
    }

    #[test]
    fn valid_document_passes() {
        let v = json!({
            "name": "demo",
            "services": {"web": {"image": "nginx", "ports": ["80:80", 443, {"target": 81}],
                "environment": {"A": "1", "B": null}, "depends_on": {"db": {"condition": "service_healthy"}},
                "x-custom": {"anything": true}}},
            "volumes": {"data": null},
            "x-top": 1
        });
        validate(&v).unwrap();
    }

    #[test]
    fn unknown_service_key() {
        assert_eq!(
            msg(json!({"services": {"web": {"image": "a", "foo": 1}}})),
            "services.web Additional property foo is not allowed"
        );
    }

    #[test]
    fn unknown_top_level_key() {
        assert_eq!(msg(json!({"servics": {}})), "(root) Additional property servics is not allowed");
    }

    #[test]
    fn wrong_types_are_humanised() {
        assert_eq!(
            msg(json!({"services": {"web": {"image": 1}}})),
            "services.web.image must be a string"
        );
        assert_eq!(
            msg(json!({"services": {"web": {"ports": [true]}}})),
            "services.web.ports.0 must be a number, string or mapping"
        );
        assert_eq!(
            msg(json!({"services": {"web": {"build": 3}}})),
            "services.web.build must be a string or mapping"
        );
    }

    #[test]
    fn one_of_reports_the_matching_branch() {
        assert_eq!(
            msg(json!({"services": {"web": {"depends_on": {"db": {"condition": "nope"}}}}})),
            "services.web.depends_on.db.condition must be one of the following: \"service_started\", \"service_healthy\", \"service_completed_successfully\""
        );
    }

    #[test]
    fn required_and_unique() {
        assert_eq!(
            msg(json!({"services": {"web": {"extends": {"file": "x.yml"}}}})),
            "services.web.extends service is required"
        );
        assert_eq!(
            msg(json!({"services": {"web": {"cap_add": ["NET_ADMIN", "NET_ADMIN"]}}})),
            "services.web.cap_add array items[0,1] must be unique"
        );
    }

    #[test]
    fn bad_service_name() {
        assert_eq!(
            msg(json!({"services": {"bad name": {"image": "a"}}})),
            "services Additional property bad name is not allowed"
        );
    }

    /// If compose-spec.json starts using a keyword we do not implement, validation
    /// would silently accept too much; fail loudly instead.
    #[test]
    fn schema_uses_only_supported_keywords() {
        const SUPPORTED: &[&str] = &[
            "$id", "$ref", "$schema", "additionalProperties", "default", "definitions", "deprecated",
            "description", "enum", "items", "maximum", "minimum", "oneOf", "pattern",
            "patternProperties", "properties", "required", "title", "type", "uniqueItems",
        ];
        fn walk(v: &Value, names_level: bool, bad: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    for (k, c) in o {
                        if !names_level && !SUPPORTED.contains(&k.as_str()) {
                            bad.push(k.clone());
                        }
                        let children_are_names =
                            !names_level && matches!(k.as_str(), "properties" | "patternProperties" | "definitions");
                        if !names_level && matches!(k.as_str(), "enum" | "default" | "required") {
                            continue;
                        }
                        walk(c, children_are_names, bad);
                    }
                }
                Value::Array(a) => a.iter().for_each(|c| walk(c, false, bad)),
                _ => {}
            }
        }
        let root: Value = serde_json::from_str(COMPOSE_SPEC_SCHEMA).unwrap();
        let mut bad = Vec::new();
        walk(&root, false, &mut bad);
        assert!(bad.is_empty(), "unsupported schema keywords: {bad:?}");
    }
}
