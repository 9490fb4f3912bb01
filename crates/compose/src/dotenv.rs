//! `.env` / `env_file` parsing with the syntax docker compose accepts.
//!
//! - `KEY=VALUE`, optional `export ` prefix, `KEY: VALUE` also accepted;
//! - `# comment` lines, and ` #` inline comments after unquoted values;
//! - `'single'` quotes are literal, `"double"` quotes process `\n`, `\t`, `\\`, `\"`
//!   and may span several lines;
//! - unquoted and double-quoted values are interpolated: the lookup (the process
//!   environment) first, then the variables defined earlier in the same file;
//! - a bare `KEY` takes its value from the lookup, and is skipped when unset.

use crate::error::{ComposeError, Result};
use crate::interpolate::{substitute, Lookup, SubstituteError};
use std::collections::BTreeMap;
use std::path::Path;

/// Ordered `(key, value)` pairs; later duplicates win when collected into a map.
pub type EnvPairs = Vec<(String, String)>;

/// Parses dotenv `content`. `file` is only used in error messages.
pub fn parse(content: &str, file: &str, lookup: &dyn Lookup) -> Result<EnvPairs> {
    let mut out: EnvPairs = Vec::new();
    let mut own: BTreeMap<String, String> = BTreeMap::new();
    let chars: Vec<char> = content.chars().collect();
    let mut i = 0;
    let mut line = 1;
    let err = |line: usize, message: String| ComposeError::Dotenv {
        file: file.to_string(),
        line,
        message,
    };
    while i < chars.len() {
        // Skip blank space, including empty lines.
        if chars[i] == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let start_line = line;
        // Key.
        let key_start = i;
        while i < chars.len() && !matches!(chars[i], '=' | ':' | '\n') {
            i += 1;
        }
        let mut key: String = chars[key_start..i].iter().collect::<String>().trim().to_string();
        if let Some(rest) = key.strip_prefix("export ") {
            key = rest.trim_start().to_string();
        }
        if key.is_empty() {
            return Err(err(start_line, "missing variable name".into()));
        }
        if let Some(c) = key
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')))
        {
            return Err(err(
                start_line,
                format!("unexpected character {c:?} in variable name {key:?}"),
            ));
        }
        if i >= chars.len() || chars[i] == '\n' {
            // Bare `KEY`: inherit from the environment when set.
            if let Some(v) = lookup.lookup(&key) {
                own.insert(key.clone(), v.clone());
                out.push((key, v));
            }
            continue;
        }
        i += 1; // '=' or ':'
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        let value = match chars.get(i) {
            Some('\'') => {
                i += 1;
                let s = i;
                while i < chars.len() && chars[i] != '\'' {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(err(start_line, format!("unterminated quoted value for {key}")));
                }
                let v: String = chars[s..i].iter().collect();
                i += 1;
                skip_to_eol(&chars, &mut i);
                v
            }
            Some('"') => {
                i += 1;
                let mut raw = String::new();
                let mut closed = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' if i + 1 < chars.len() => {
                            let n = chars[i + 1];
                            match n {
                                'n' => raw.push('\n'),
                                'r' => raw.push('\r'),
                                't' => raw.push('\t'),
                                '"' => raw.push('"'),
                                '\\' => raw.push('\\'),
                                // `\$` must survive until interpolation, where `$$` means '$'.
                                '$' => raw.push_str("$$"),
                                other => {
                                    raw.push('\\');
                                    raw.push(other);
                                }
                            }
                            i += 2;
                        }
                        '"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        c => {
                            if c == '\n' {
                                line += 1;
                            }
                            raw.push(c);
                            i += 1;
                        }
                    }
                }
                if !closed {
                    return Err(err(start_line, format!("unterminated quoted value for {key}")));
                }
                skip_to_eol(&chars, &mut i);
                expand(&raw, lookup, &own).map_err(|e| err(start_line, e.to_string()))?
            }
            _ => {
                let s = i;
                while i < chars.len() && chars[i] != '\n' {
                    if chars[i] == '#' && i > s && chars[i - 1].is_whitespace() {
                        break;
                    }
                    i += 1;
                }
                let raw: String = chars[s..i].iter().collect::<String>().trim().to_string();
                skip_to_eol(&chars, &mut i);
                expand(&raw, lookup, &own).map_err(|e| err(start_line, e.to_string()))?
            }
        };
        own.insert(key.clone(), value.clone());
        out.push((key, value));
    }
    Ok(out)
}

fn skip_to_eol(chars: &[char], i: &mut usize) {
    while *i < chars.len() && chars[*i] != '\n' {
        *i += 1;
    }
}

fn expand(
    raw: &str,
    lookup: &dyn Lookup,
    own: &BTreeMap<String, String>,
) -> Result<String, SubstituteError> {
    let chained = |k: &str| lookup.lookup(k).or_else(|| own.get(k).cloned());
    substitute(raw, &chained, &mut Vec::new())
}

/// Reads and parses a dotenv file.
pub fn read_file(path: &Path, lookup: &dyn Lookup) -> Result<EnvPairs> {
    let content = std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&content, &path.display().to_string(), lookup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn map(content: &str) -> BTreeMap<String, String> {
        parse(content, ".env", &no_env).unwrap().into_iter().collect()
    }

    #[test]
    fn basic_forms() {
        let m = map("A=1\nexport B=two\n# comment\n\n  C = spaced  \nD:colon\nE=\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two");
        assert_eq!(m["C"], "spaced");
        assert_eq!(m["D"], "colon");
        assert_eq!(m["E"], "");
    }

    #[test]
    fn comments_and_quotes() {
        let m = map("A=val # comment\nB=val#notcomment\nC='lit $A # x'\nD=\"dq # kept\" # dropped\n");
        assert_eq!(m["A"], "val");
        assert_eq!(m["B"], "val#notcomment");
        assert_eq!(m["C"], "lit $A # x");
        assert_eq!(m["D"], "dq # kept");
    }

    #[test]
    fn double_quote_escapes_and_multiline() {
        let m = map("A=\"line1\nline2\"\nB=\"tab\\there \\\"q\\\" nl\\n\"\nC=after\n");
        assert_eq!(m["A"], "line1\nline2");
        assert_eq!(m["B"], "tab\there \"q\" nl\n");
        assert_eq!(m["C"], "after");
    }

    #[test]
    fn interpolation_inside_env() {
        let env = |k: &str| (k == "HOME_X").then(|| "/home/x".to_string());
        let pairs = parse(
            "BASE=/srv\nP=${BASE}/data\nQ=\"$HOME_X/q\"\nR='${BASE}'\nS=${UNSET:-def}\nT=\"\\$BASE\"\n",
            ".env",
            &env,
        )
        .unwrap();
        let m: BTreeMap<_, _> = pairs.into_iter().collect();
        assert_eq!(m["P"], "/srv/data");
        assert_eq!(m["Q"], "/home/x/q");
        assert_eq!(m["R"], "${BASE}");
        assert_eq!(m["S"], "def");
        assert_eq!(m["T"], "$BASE");
    }

    #[test]
    fn process_env_wins_in_expansion() {
        let env = |k: &str| (k == "A").then(|| "fromenv".to_string());
        let m: BTreeMap<_, _> = parse("A=fromfile\nB=$A\n", ".env", &env).unwrap().into_iter().collect();
        assert_eq!(m["B"], "fromenv");
    }

    #[test]
    fn bare_key_inherits() {
        let env = |k: &str| (k == "SET").then(|| "yes".to_string());
        let m: BTreeMap<_, _> = parse("SET\nUNSET\n", ".env", &env).unwrap().into_iter().collect();
        assert_eq!(m.get("SET").map(String::as_str), Some("yes"));
        assert!(!m.contains_key("UNSET"));
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse("A=1\nBAD KEY=2\n", "/p/.env", &no_env).unwrap_err();
        assert_eq!(e.to_string(), "/p/.env: line 2: unexpected character ' ' in variable name \"BAD KEY\"");
        let e = parse("A=1\nB=\"open\n", "/p/.env", &no_env).unwrap_err();
        assert_eq!(e.to_string(), "/p/.env: line 2: unterminated quoted value for B");
        let e = parse("A=${X:?needed}\n", "/p/.env", &no_env).unwrap_err();
        assert_eq!(e.to_string(), "/p/.env: line 1: required variable X is missing a value: needed");
    }

    #[test]
    fn last_duplicate_wins() {
        assert_eq!(map("A=1\nA=2\n")["A"], "2");
    }
}
