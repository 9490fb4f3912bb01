//! `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="...",service="...",scope="..."`
//! or `Basic realm="..."`. Parsed leniently (registries differ in spacing and quoting)
//! but never panicking on a hostile header.

use std::collections::BTreeMap;

/// One challenge: its scheme (lowercased) and parameters (names lowercased).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// A parameter by (lowercase) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses every challenge in a header value. Unparseable parts are skipped.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        // A scheme token, then params until the next bare token (a new scheme).
        let end = rest.find(|c: char| c.is_whitespace() || c == ',').unwrap_or(rest.len());
        let token = &rest[..end];
        rest = rest[end..].trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if token.is_empty() || token.contains('=') {
            // Stray text: skip to the next separator.
            continue;
        }
        let mut ch = Challenge { scheme: token.to_ascii_lowercase(), params: BTreeMap::new() };
        while let Some((name, after)) = param_name(rest) {
            let (value, after) = param_value(after);
            ch.params.insert(name.to_ascii_lowercase(), value);
            rest = after.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        }
        out.push(ch);
    }
    out
}

/// `name=` at the start of `s`: the name and what follows the `=`.
fn param_name(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))?;
    let (name, after) = s.split_at(end);
    let after = after.trim_start();
    if name.is_empty() || !after.starts_with('=') {
        return None;
    }
    Some((name, after[1..].trim_start()))
}

/// A quoted string (with `\` escapes) or a token, and the rest.
fn param_value(s: &str) -> (String, &str) {
    if let Some(body) = s.strip_prefix('"') {
        let mut v = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        v.push(n);
                    }
                }
                '"' => return (v, &body[i + 1..]),
                c => v.push(c),
            }
        }
        (v, "")
    } else {
        let end = s.find(|c: char| c == ',' || c.is_whitespace()).unwrap_or(s.len());
        (s[..end].to_owned(), &s[end..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let c = parse(r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.example/token"));
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
        let c = parse(r#"Basic realm="Registry Realm""#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
        let c = parse(r#"Basic realm="a\"b", Bearer realm=http://x/t , service = s"#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("realm"), Some("a\"b"));
        assert_eq!(c[1].param("realm"), Some("http://x/t"));
        assert_eq!(c[1].param("service"), Some("s"));
        for junk in ["", "=", "\"", "Bearer realm=\"unterminated", ",,,", "Bearer =x", "a=b=c"] {
            let _ = parse(junk);
        }
    }
}
