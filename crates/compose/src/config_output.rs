//! `docker compose config`: the resolved model printed as YAML or JSON.
//!
//! Keys are sorted at every level except the top, which follows compose's
//! order (`name`, `services`, `networks`, `volumes`, `secrets`, `configs`, then
//! the rest sorted), so output is stable and diffs well. The YAML writer is our
//! own: it indents sequences under their key and double-quotes only the strings
//! that would otherwise read back as something else, as compose's output does.

use crate::model::Project;
use serde_json::{Map, Value};

const TOP_ORDER: &[&str] = &["name", "services", "networks", "volumes", "secrets", "configs"];

/// The project's top-level entries in compose's order, each value a JSON tree
/// with sorted keys.
///
/// Values are interpolated already, so a literal `$` is written back as `$$`
/// (as docker compose does) for the output to load again unchanged.
pub fn to_entries(project: &Project) -> Vec<(String, Value)> {
    let mut v = serde_json::to_value(project).expect("the model always serialises");
    escape_dollars(&mut v);
    let Value::Object(top) = sorted(v) else { unreachable!("a project is a mapping") };
    let mut out = Vec::new();
    for k in TOP_ORDER {
        if let Some(v) = top.get(*k) {
            out.push(((*k).to_string(), v.clone()));
        }
    }
    for (k, v) in top {
        if !TOP_ORDER.contains(&k.as_str()) {
            out.push((k, v));
        }
    }
    out
}

/// `config --format json`: pretty JSON, top-level keys in compose's order.
pub fn to_json(project: &Project) -> String {
    let entries = to_entries(project);
    let mut s = String::from("{");
    for (i, (k, v)) in entries.iter().enumerate() {
        let body = serde_json::to_string_pretty(v).expect("serialisable").replace('\n', "\n  ");
        s.push_str(if i == 0 { "\n  " } else { ",\n  " });
        s.push_str(&serde_json::to_string(k).expect("json"));
        s.push_str(": ");
        s.push_str(&body);
    }
    s.push_str("\n}\n");
    s
}

/// `config` (YAML).
pub fn to_yaml(project: &Project) -> String {
    let mut out = String::new();
    for (k, v) in to_entries(project) {
        let mut m = Map::new();
        m.insert(k, v);
        write_map(&m, 0, false, &mut out);
    }
    out
}

fn escape_dollars(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Array(a) => a.iter_mut().for_each(escape_dollars),
        Value::Object(m) => m.values_mut().for_each(escape_dollars),
        _ => {}
    }
}

/// Recursively sorts mapping keys (independent of serde_json's map flavour).
pub fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Writes a mapping. With `inline_first`, the first key continues the current
/// line (a mapping that is a sequence item: `- key: value`).
fn write_map(m: &Map<String, Value>, indent: usize, inline_first: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if !(inline_first && i == 0) {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&scalar_str(k));
        out.push(':');
        write_value_after_key(v, indent, out);
    }
}

fn write_value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if m.is_empty() => out.push_str(" {}\n"),
        Value::Array(a) if a.is_empty() => out.push_str(" []\n"),
        Value::Object(m) => {
            out.push('\n');
            write_map(m, indent + 2, false, out);
        }
        Value::Array(a) => {
            out.push('\n');
            write_seq(a, indent + 2, out);
        }
        Value::String(s) if s.contains('\n') && !s.contains('\r') => {
            // Literal block keeps multi-line scripts readable.
            let chomp = if s.ends_with('\n') { if s.ends_with("\n\n") { "+" } else { "" } } else { "-" };
            let lead = if s.starts_with(' ') { "2" } else { "" };
            out.push_str(&format!(" |{lead}{chomp}\n"));
            let body = s.strip_suffix('\n').unwrap_or(s);
            for line in body.split('\n') {
                if !line.is_empty() {
                    out.push_str(&" ".repeat(indent + 2));
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_to_yaml(scalar));
            out.push('\n');
        }
    }
}

fn write_seq(a: &[Value], indent: usize, out: &mut String) {
    for item in a {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => write_map(m, indent + 2, true, out),
            Value::Array(inner) if !inner.is_empty() => {
                // Nested sequences are rare in compose; flow style keeps them simple.
                out.push_str(&serde_json::to_string(inner).expect("json"));
                out.push('\n');
            }
            Value::Object(_) => out.push_str("{}\n"),
            Value::Array(_) => out.push_str("[]\n"),
            Value::String(s) if s.contains('\n') => {
                out.push_str(&scalar_str(s));
                out.push('\n');
            }
            scalar => {
                out.push_str(&scalar_to_yaml(scalar));
                out.push('\n');
            }
        }
    }
}

fn scalar_to_yaml(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_str(s),
        other => serde_json::to_string(other).expect("json"),
    }
}

/// A string as a YAML scalar: plain when it reads back as the same string,
/// otherwise double-quoted (JSON escapes are valid YAML escapes).
pub fn scalar_str(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("json string")
    }
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if !(first.is_alphanumeric() || matches!(first, '/' | '.' | '_' | '$')) {
        return false;
    }
    if s.ends_with(' ') || s.ends_with(':') || s.contains(": ") || s.contains(" #") {
        return false;
    }
    if !s.chars().all(|c| c.is_alphanumeric() || " _./=+@%-:,~$()^".contains(c)) {
        return false;
    }
    const SPECIAL: &[&str] = &["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"];
    if SPECIAL.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    // Anything that YAML 1.1 or 1.2 could read as a number (incl. 1_000, 0x1f,
    // .5, 1e3, and sexagesimal 12:30) is quoted.
    let numberish = s.chars().all(|c| c.is_ascii_hexdigit() || "_.:+-xXoO".contains(c))
        && s.chars().any(|c| c.is_ascii_digit());
    let dotted_float = s.starts_with('.') && s.len() > 1;
    !(numberish || dotted_float || s.parse::<f64>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_quoting() {
        for plain in ["nginx", "nginx:1.25", "/srv/data", "a b", "host=1.2.3.4", "CMD-SHELL", "echo $$HOME"] {
            assert_eq!(scalar_str(plain), plain, "{plain}");
        }
        for quoted in ["", "8080", "1.5", "true", "no", "Yes", "~", "12:30", "0x1f", "1e3", "-c", "a: b", "x #y", "*star", "a\"b", "tab\t", " lead", "trail:"] {
            assert!(scalar_str(quoted).starts_with('"'), "{quoted:?} should be quoted");
        }
    }

    #[test]
    fn yaml_layout() {
        let v = serde_json::json!({"a": {"list": [{"k": 1, "j": "x"}, "s"], "empty": {}, "none": null, "l0": []}});
        let mut out = String::new();
        if let Value::Object(m) = sorted(v) {
            write_map(&m, 0, false, &mut out);
        }
        assert_eq!(out, "a:\n  empty: {}\n  l0: []\n  list:\n    - j: x\n      k: 1\n    - s\n  none: null\n");
    }

    #[test]
    fn multiline_strings_use_blocks() {
        let v = serde_json::json!({"c": "line1\nline2\n", "d": "no newline\nat end"});
        let mut out = String::new();
        if let Value::Object(m) = sorted(v) {
            write_map(&m, 0, false, &mut out);
        }
        assert_eq!(out, "c: |\n  line1\n  line2\nd: |-\n  no newline\n  at end\n");
        let back: serde_json::Value = serde_norway::from_str(&out).unwrap();
        assert_eq!(back["c"], "line1\nline2\n");
        assert_eq!(back["d"], "no newline\nat end");
    }
}
