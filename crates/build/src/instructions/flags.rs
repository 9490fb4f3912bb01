//! Builder flags (`--name=value`) as Docker's BFlags parses them.

use std::collections::HashMap;

use crate::error::ErrorKind;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    Bool,
    String,
    /// May repeat (`--mount`, `--exclude`).
    Strings,
}

/// The parsed values of a declared flag set.
#[derive(Default, Debug)]
pub(crate) struct FlagValues {
    values: HashMap<&'static str, Vec<String>>,
}

impl FlagValues {
    pub fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
    /// `None` when the flag was not given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
}

/// Parses `flags` against the declared `(name, kind)` list.
pub(crate) fn parse_flags(flags: &[String], declared: &[(&'static str, FlagKind)]) -> Result<FlagValues, ErrorKind> {
    let mut out = FlagValues::default();
    for arg in flags {
        let Some(body) = arg.strip_prefix("--") else {
            return Err(ErrorKind::FlagWithoutDashes(arg.clone()));
        };
        if body.is_empty() {
            return Ok(out);
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(decl, kind)) = declared.iter().find(|(n, _)| *n == name) else {
            return Err(ErrorKind::UnknownFlag(name.to_string()));
        };
        if kind != FlagKind::Strings && out.values.contains_key(decl) {
            return Err(ErrorKind::DuplicateFlag(name.to_string()));
        }
        let value = match kind {
            FlagKind::Bool => match value {
                Some("") => return Err(ErrorKind::MissingFlagValue(name.to_string())),
                None => "true".to_string(),
                Some(v) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => {
                        return Err(ErrorKind::BadBoolFlag {
                            flag: name.to_string(),
                            value: v.to_string(),
                        })
                    }
                },
            },
            FlagKind::String | FlagKind::Strings => match value {
                None => return Err(ErrorKind::MissingFlagValue(name.to_string())),
                Some(v) => v.to_string(),
            },
        };
        out.values.entry(decl).or_default().push(value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &[(&str, FlagKind)] = &[
        ("link", FlagKind::Bool),
        ("from", FlagKind::String),
        ("exclude", FlagKind::Strings),
    ];

    fn p(flags: &[&str]) -> Result<FlagValues, ErrorKind> {
        parse_flags(&flags.iter().map(|s| s.to_string()).collect::<Vec<_>>(), DECL)
    }

    #[test]
    fn values() {
        let v = p(&["--link", "--from=x", "--exclude=a", "--exclude=b"]).unwrap();
        assert_eq!(v.bool("link"), Some(true));
        assert_eq!(v.string("from").as_deref(), Some("x"));
        assert_eq!(v.strings("exclude"), ["a", "b"]);
        assert_eq!(p(&["--link=FALSE"]).unwrap().bool("link"), Some(false));
        assert_eq!(p(&[]).unwrap().bool("link"), None);
    }

    #[test]
    fn errors() {
        assert_eq!(p(&["--nope=1"]).unwrap_err().to_string(), "unknown flag: nope");
        assert_eq!(p(&["--from"]).unwrap_err().to_string(), "missing a value on flag: from");
        assert_eq!(p(&["--link="]).unwrap_err().to_string(), "missing a value on flag: link");
        assert_eq!(p(&["--from=a", "--from=b"]).unwrap_err().to_string(), "duplicate flag specified: from");
        assert_eq!(
            p(&["--link=maybe"]).unwrap_err().to_string(),
            "expecting boolean value for flag link, not: maybe"
        );
    }
}
