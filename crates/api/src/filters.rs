//! The `filters` query parameter: a JSON object mapping a filter name to its values.
//! Docker accepts two encodings and its own CLI still sends the older one:
//! `{"dangling":["true"]}` (map of lists) and `{"dangling":{"true":true}}` (map of sets).

use std::collections::BTreeMap;

use serde_json::Value;

/// Parsed filters: name → values (in sorted order, duplicates removed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

/// A `filters` value that is not one of Docker's two encodings.
#[derive(Debug, thiserror::Error)]
#[error("invalid filters: {0}")]
pub struct FilterError(pub String);

impl Filters {
    pub fn new() -> Filters {
        Filters::default()
    }

    /// Parses the query value; an empty string means no filters.
    pub fn parse(s: &str) -> Result<Filters, FilterError> {
        if s.trim().is_empty() {
            return Ok(Filters::new());
        }
        let v: Value = serde_json::from_str(s).map_err(|e| FilterError(format!("filters is not valid JSON: {e}")))?;
        let Value::Object(map) = v else {
            return Err(FilterError("filters must be a JSON object".into()));
        };
        let mut out = Filters::new();
        for (name, values) in map {
            match values {
                Value::Array(items) => {
                    for item in items {
                        match item {
                            Value::String(s) => out.add(&name, &s),
                            other => return Err(FilterError(format!("filter {name:?}: value {other} is not a string"))),
                        }
                    }
                }
                Value::Object(set) => {
                    for (value, on) in set {
                        if on.as_bool() == Some(true) {
                            out.add(&name, &value);
                        } else if on.as_bool().is_none() {
                            return Err(FilterError(format!("filter {name:?}: {value:?} must map to a boolean")));
                        }
                    }
                }
                other => return Err(FilterError(format!("filter {name:?}: {other} is neither a list nor a set"))),
            }
        }
        Ok(out)
    }

    /// Parses `key=value` as the CLI's `--filter` takes it.
    pub fn add_cli(&mut self, arg: &str) -> Result<(), FilterError> {
        let (k, v) = arg.split_once('=').ok_or_else(|| FilterError(format!("bad format of filter (expected name=value): {arg}")))?;
        self.add(k.trim().to_ascii_lowercase().as_str(), v);
        Ok(())
    }

    pub fn add(&mut self, name: &str, value: &str) {
        let values = self.0.entry(name.to_owned()).or_default();
        if !values.iter().any(|v| v == value) {
            values.push(value.to_owned());
            values.sort();
        }
    }

    pub fn get(&self, name: &str) -> &[String] {
        self.0.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Rejects filter names not in `accepted`, with Docker's message.
    pub fn validate(&self, accepted: &[&str]) -> Result<(), FilterError> {
        match self.names().find(|n| !accepted.contains(n)) {
            Some(n) => Err(FilterError(format!("invalid filter '{n}'"))),
            None => Ok(()),
        }
    }

    /// A boolean filter (`dangling=true|1|false|0`); `None` when absent.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, FilterError> {
        let values = self.get(name);
        if values.is_empty() {
            return Ok(None);
        }
        let mut want = None;
        for v in values {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(FilterError(format!("invalid filter '{name}={v}'"))),
            };
            if want.is_some_and(|w| w != b) {
                return Err(FilterError(format!("conflicting values for filter '{name}'")));
            }
            want = Some(b);
        }
        Ok(want)
    }

    /// Whether labels pass every `label=key[=value]` and `label!=key[=value]` filter;
    /// `get` looks a label up.
    pub fn labels_match<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        let has = |want: &str| match want.split_once('=') {
            Some((k, v)) => get(k) == Some(v),
            None => get(want).is_some(),
        };
        self.get("label").iter().all(|w| has(w)) && !self.get("label!").iter().any(|w| has(w))
    }

    /// The list-of-values encoding, for requests.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_filters() {
        let labels: BTreeMap<&str, &str> = [("team", "db"), ("tier", "")].into_iter().collect();
        let get = |k: &str| labels.get(k).copied();
        let f = |s: &str| Filters::parse(s).unwrap();
        assert!(f(r#"{"label":["team"]}"#).labels_match(get));
        assert!(f(r#"{"label":["team=db","tier"]}"#).labels_match(get));
        assert!(!f(r#"{"label":["team=web"]}"#).labels_match(get));
        assert!(!f(r#"{"label!":["team"]}"#).labels_match(get));
        assert!(f(r#"{"label!":["team=web"]}"#).labels_match(get));
    }

    #[test]
    fn both_encodings() {
        let a = Filters::parse(r#"{"dangling":["true"],"reference":["busybox*"]}"#).unwrap();
        let b = Filters::parse(r#"{"dangling":{"true":true},"reference":{"busybox*":true}}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.bool("dangling").unwrap(), Some(true));
        assert_eq!(Filters::parse(&a.to_json()).unwrap(), a);
        assert!(Filters::parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_input_names_the_problem() {
        assert!(Filters::parse("{nope").unwrap_err().to_string().contains("filters"));
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse(r#"{"a":[1]}"#).unwrap_err().to_string().contains("\"a\""));
        let f = Filters::parse(r#"{"colour":["red"]}"#).unwrap();
        assert_eq!(f.validate(&["dangling"]).unwrap_err().to_string(), "invalid filters: invalid filter 'colour'");
        assert!(Filters::parse(r#"{"dangling":["maybe"]}"#).unwrap().bool("dangling").is_err());
    }
}
