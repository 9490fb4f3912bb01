//! Variable substitution (`$VAR`, `${VAR:-default}` …) as the compose spec defines it.
//!
//! Substitution applies to string *values* only; mapping keys are never touched
//! (the spec's "alternate equal sign syntax" is how users interpolate labels).

use serde_json::Value;

/// Why a template could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubstituteError {
    /// `${VAR:?reason}` / `${VAR?reason}` and `VAR` is missing (or empty for `:?`).
    MissingRequired { variable: String, reason: String },
    /// Unbalanced braces or an operator compose does not know (`${A/b/c}`).
    InvalidTemplate(String),
}

impl std::fmt::Display for SubstituteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubstituteError::MissingRequired { variable, reason } if reason.is_empty() => {
                write!(f, "required variable {variable} is missing a value")
            }
            SubstituteError::MissingRequired { variable, reason } => {
                write!(f, "required variable {variable} is missing a value: {reason}")
            }
            SubstituteError::InvalidTemplate(t) => write!(f, "invalid template: {t:?}"),
        }
    }
}

impl std::error::Error for SubstituteError {}

/// Looks a variable up; `None` means unset (distinct from set-but-empty).
pub trait Lookup {
    fn lookup(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn lookup(&self, name: &str) -> Option<String> {
        self(name)
    }
}

impl Lookup for std::collections::BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Lookup for std::collections::HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Substitutes every variable reference in `template`.
///
/// Variables that are unset and have no default become empty and their names are
/// pushed on `unset` so the caller can warn as compose does.
pub fn substitute(
    template: &str,
    lookup: &dyn Lookup,
    unset: &mut Vec<String>,
) -> Result<String, SubstituteError> {
    let bytes = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    // Copy runs of non-'$' text in one go so multi-byte UTF-8 stays intact.
    while i < bytes.len() {
        let next = template[i..].find('$').map(|p| p + i).unwrap_or(bytes.len());
        out.push_str(&template[i..next]);
        i = next;
        if i >= bytes.len() {
            break;
        }
        match bytes.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let end = closing_brace(template, i + 2)
                    .ok_or_else(|| SubstituteError::InvalidTemplate(template.to_string()))?;
                let inner = &template[i + 2..end];
                out.push_str(&braced(inner, template, lookup, unset)?);
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                    end += 1;
                }
                let name = &template[start..end];
                match lookup.lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => unset.push(name.to_string()),
                }
                i = end;
            }
            // A '$' that starts no variable is kept literally, as the spec says.
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Index of the `}` closing a `${` whose body starts at `from`, honouring nesting.
fn closing_brace(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 1;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'$') => i += 2,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

fn braced(
    inner: &str,
    whole: &str,
    lookup: &dyn Lookup,
    unset: &mut Vec<String>,
) -> Result<String, SubstituteError> {
    let name_len = inner
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .count();
    let name = &inner[..name_len];
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(SubstituteError::InvalidTemplate(whole.to_string()));
    }
    let rest = &inner[name_len..];
    let value = lookup.lookup(name);
    let (op, word) = if let Some(w) = rest.strip_prefix(":-") {
        (":-", w)
    } else if let Some(w) = rest.strip_prefix(":?") {
        (":?", w)
    } else if let Some(w) = rest.strip_prefix(":+") {
        (":+", w)
    } else if let Some(w) = rest.strip_prefix('-') {
        ("-", w)
    } else if let Some(w) = rest.strip_prefix('?') {
        ("?", w)
    } else if let Some(w) = rest.strip_prefix('+') {
        ("+", w)
    } else if rest.is_empty() {
        ("", "")
    } else {
        return Err(SubstituteError::InvalidTemplate(whole.to_string()));
    };
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    // The word is only substituted when it is used, so `${A:-${B:?x}}` with A set
    // does not fail on B.
    match op {
        "" => match value {
            Some(v) => Ok(v),
            None => {
                unset.push(name.to_string());
                Ok(String::new())
            }
        },
        ":-" if set_nonempty => Ok(value.unwrap_or_default()),
        ":-" => substitute(word, lookup, unset),
        "-" => match value {
            Some(v) => Ok(v),
            None => substitute(word, lookup, unset),
        },
        ":?" if set_nonempty => Ok(value.unwrap_or_default()),
        "?" if value.is_some() => Ok(value.unwrap_or_default()),
        ":?" | "?" => Err(SubstituteError::MissingRequired {
            variable: name.to_string(),
            reason: substitute(word, lookup, unset)?,
        }),
        ":+" if set_nonempty => substitute(word, lookup, unset),
        ":+" => Ok(String::new()),
        "+" if value.is_some() => substitute(word, lookup, unset),
        "+" => Ok(String::new()),
        _ => unreachable!("operators are enumerated above"),
    }
}

/// A substitution failure located in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedError {
    /// Dotted path of the value, e.g. `services.web.image`.
    pub path: String,
    pub error: SubstituteError,
}

/// Interpolates every string value of a parsed document in place.
///
/// Returns the unset variable names met (deduplicated, in order of appearance).
pub fn interpolate_value(
    value: &mut Value,
    lookup: &dyn Lookup,
) -> Result<Vec<String>, LocatedError> {
    let mut unset = Vec::new();
    let mut path = Vec::new();
    walk(value, lookup, &mut path, &mut unset)?;
    let mut seen = std::collections::HashSet::new();
    unset.retain(|v| seen.insert(v.clone()));
    Ok(unset)
}

fn walk(
    value: &mut Value,
    lookup: &dyn Lookup,
    path: &mut Vec<String>,
    unset: &mut Vec<String>,
) -> Result<(), LocatedError> {
    match value {
        Value::String(s) if s.contains('$') => {
            *s = substitute(s, lookup, unset).map_err(|error| LocatedError {
                path: path.join("."),
                error,
            })?;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                walk(item, lookup, path, unset)?;
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                path.push(k.clone());
                walk(v, lookup, path, unset)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env() -> BTreeMap<String, String> {
        [("FOO", "foo"), ("EMPTY", ""), ("BAR", "bar")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sub(t: &str) -> Result<String, SubstituteError> {
        substitute(t, &env(), &mut Vec::new())
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(sub("$FOO-${BAR}x").unwrap(), "foo-barx");
        assert_eq!(sub("a${FOO}b$BAR.c").unwrap(), "afoobbar.c");
    }

    #[test]
    fn dollar_dollar_escapes() {
        assert_eq!(sub("$$FOO and $${BAR}").unwrap(), "$FOO and ${BAR}");
    }

    #[test]
    fn lone_dollar_kept() {
        assert_eq!(sub("cost: 5$ or $1 or $").unwrap(), "cost: 5$ or $1 or $");
    }

    #[test]
    fn defaults_distinguish_unset_and_empty() {
        assert_eq!(sub("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(sub("${EMPTY-d}").unwrap(), "");
        assert_eq!(sub("${NOPE-d}").unwrap(), "d");
        assert_eq!(sub("${FOO:-d}").unwrap(), "foo");
    }

    #[test]
    fn alternatives() {
        assert_eq!(sub("${FOO:+alt}").unwrap(), "alt");
        assert_eq!(sub("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(sub("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(sub("${NOPE+alt}").unwrap(), "");
    }

    #[test]
    fn required_messages() {
        assert_eq!(
            sub("${NOPE:?you must set it}").unwrap_err().to_string(),
            "required variable NOPE is missing a value: you must set it"
        );
        assert_eq!(
            sub("${EMPTY:?}").unwrap_err().to_string(),
            "required variable EMPTY is missing a value"
        );
        assert_eq!(sub("${EMPTY?x}").unwrap(), "");
        assert!(matches!(sub("${NOPE?x}"), Err(SubstituteError::MissingRequired { .. })));
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(sub("${NOPE:-${FOO}}").unwrap(), "foo");
        assert_eq!(sub("${NOPE:-${NADA:-deep}}").unwrap(), "deep");
        assert_eq!(sub("${NOPE?$FOO is needed}").unwrap_err().to_string(),
            "required variable NOPE is missing a value: foo is needed");
        // The unused branch is not evaluated.
        assert_eq!(sub("${FOO:-${NADA:?boom}}").unwrap(), "foo");
    }

    #[test]
    fn unset_warns_and_is_empty() {
        let mut unset = Vec::new();
        assert_eq!(substitute("a${NOPE}b$NADA", &env(), &mut unset).unwrap(), "ab");
        assert_eq!(unset, vec!["NOPE", "NADA"]);
    }

    #[test]
    fn invalid_templates() {
        assert!(matches!(sub("${FOO"), Err(SubstituteError::InvalidTemplate(_))));
        assert!(matches!(sub("${FOO/a/b}"), Err(SubstituteError::InvalidTemplate(_))));
        assert!(matches!(sub("${}"), Err(SubstituteError::InvalidTemplate(_))));
    }

    #[test]
    fn unicode_is_preserved() {
        assert_eq!(sub("héllo ${FOO} wörld").unwrap(), "héllo foo wörld");
    }

    #[test]
    fn tree_values_not_keys() {
        let mut v = serde_json::json!({"services": {"$FOO": {"image": "${FOO}:${BAR}", "n": 3, "l": ["$BAR"]}}});
        interpolate_value(&mut v, &env()).unwrap();
        assert_eq!(v["services"]["$FOO"]["image"], "foo:bar");
        assert_eq!(v["services"]["$FOO"]["l"][0], "bar");
        assert_eq!(v["services"]["$FOO"]["n"], 3);
    }

    #[test]
    fn tree_error_has_path() {
        let mut v = serde_json::json!({"services": {"web": {"environment": ["A=${X:?set X}"]}}});
        let e = interpolate_value(&mut v, &env()).unwrap_err();
        assert_eq!(e.path, "services.web.environment.0");
        assert_eq!(e.error.to_string(), "required variable X is missing a value: set X");
    }
}
