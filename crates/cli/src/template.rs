//! A subset of Go's text/template, enough for docker's `--format`: `{{.Field.Sub}}`,
//! `{{.}}`, pipelines (`{{.Name | upper}}`), docker's functions (json, join, split,
//! upper, lower, title, pad, truncate, println) and Go's builtins (index, len, print,
//! printf %s/%d/%v, eq, ne, not, and, or), `{{if}}…{{else}}…{{end}}`,
//! `{{range}}…{{end}}` and `{{-`/`-}}` trimming. Data is JSON, as the API returns it.

use std::fmt::Write as _;

use serde_json::Value;

#[derive(Debug, PartialEq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template: {}", self.0)
    }
}

impl std::error::Error for TemplateError {}

#[derive(Clone, Debug)]
enum Arg {
    Dot,
    Field(Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Ident(String),
    /// `(pipeline).Field.Sub`: a parenthesised pipeline, then fields of its value.
    Sub(Box<Pipeline>, Vec<String>),
}

type Pipeline = Vec<Vec<Arg>>;

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Piece {
    Text(String),
    Action(String),
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let pieces = split(src)?;
        let mut iter = pieces.into_iter().peekable();
        let (nodes, end) = parse_nodes(&mut iter)?;
        if let Some(e) = end {
            return Err(TemplateError(format!("unexpected {{{{{e}}}}}")));
        }
        Ok(Template { nodes })
    }

    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        exec(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

/// Splits into text and action pieces, applying `{{-` / `-}}` trimming.
fn split(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_owned();
        let after = &rest[start + 2..];
        let (after, trim_left) = match after.strip_prefix("- ") {
            Some(a) => (a, true),
            None => (after, false),
        };
        if trim_left {
            text = text.trim_end().to_owned();
        }
        let end = find_close(after).ok_or_else(|| TemplateError("unclosed action".into()))?;
        let mut inner = &after[..end];
        let mut next = &after[end + 2..];
        if let Some(i) = inner.strip_suffix(" -") {
            inner = i;
            next = next.trim_start();
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        pieces.push(Piece::Action(inner.trim().to_owned()));
        rest = next;
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// The `}}` closing an action, skipping ones inside string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' && q == b'"' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => {
                if b[i] == b'"' || b[i] == b'`' {
                    quote = Some(b[i]);
                } else if b[i] == b'}' && b.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// Parses nodes up to an `else` or `end`, which it returns.
fn parse_nodes(it: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let mut nodes = Vec::new();
    while let Some(p) = it.next() {
        match p {
            Piece::Text(t) => nodes.push(Node::Text(t)),
            Piece::Action(a) => {
                if a.starts_with("/*") {
                    continue;
                }
                let word = a.split_whitespace().next().unwrap_or("");
                match word {
                    "end" | "else" => return Ok((nodes, Some(word.to_owned()))),
                    "if" | "range" => {
                        let pipe = parse_pipeline(a[word.len()..].trim())?;
                        let (body, end) = parse_nodes(it)?;
                        let (alt, end) = if end.as_deref() == Some("else") { parse_nodes(it)? } else { (Vec::new(), end) };
                        if end.as_deref() != Some("end") {
                            return Err(TemplateError(format!("{word} without {{{{end}}}}")));
                        }
                        nodes.push(if word == "if" { Node::If(pipe, body, alt) } else { Node::Range(pipe, body, alt) });
                    }
                    "" => return Err(TemplateError("missing value for command".into())),
                    _ => nodes.push(Node::Action(parse_pipeline(&a)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn parse_pipeline(s: &str) -> Result<Pipeline, TemplateError> {
    let tokens = tokenize(s)?;
    let mut pipe = vec![Vec::new()];
    for t in tokens {
        match t {
            Tok::Pipe => pipe.push(Vec::new()),
            Tok::Arg(a) => pipe.last_mut().expect("non-empty").push(a),
        }
    }
    if pipe.iter().any(Vec::is_empty) {
        return Err(TemplateError(format!("missing command in {s:?}")));
    }
    Ok(pipe)
}

enum Tok {
    Pipe,
    Arg(Arg),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, TemplateError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '|' {
            out.push(Tok::Pipe);
            i += 1;
        } else if c == '"' {
            let mut v = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(TemplateError("unterminated quoted string".into())),
                    Some('"') => break,
                    Some('\\') => {
                        i += 1;
                        match chars.get(i) {
                            Some('n') => v.push('\n'),
                            Some('t') => v.push('\t'),
                            Some(&o) => v.push(o),
                            None => return Err(TemplateError("unterminated quoted string".into())),
                        }
                    }
                    Some(&o) => v.push(o),
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Arg(Arg::Str(v)));
        } else if c == '(' {
            // The matching `)`, skipping quoted strings.
            let (mut depth, mut j, mut quote) = (0usize, i, None::<char>);
            while j < chars.len() {
                match (quote, chars[j]) {
                    (Some(q), x) if x == q => quote = None,
                    (Some('"'), '\\') => j += 1,
                    (Some(_), _) => {}
                    (None, '"' | '`') => quote = Some(chars[j]),
                    (None, '(') => depth += 1,
                    (None, ')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(TemplateError("unclosed left paren".into()));
            }
            let inner: String = chars[i + 1..j].iter().collect();
            let pipe = parse_pipeline(&inner)?;
            i = j + 1;
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '|' && chars[i] != ')' {
                i += 1;
            }
            let rest: String = chars[start..i].iter().collect();
            let fields = match rest.strip_prefix('.') {
                Some(p) => p.split('.').map(str::to_owned).collect(),
                None if rest.is_empty() => Vec::new(),
                None => return Err(TemplateError(format!("unexpected {rest:?} after parenthesised pipeline"))),
            };
            out.push(Tok::Arg(Arg::Sub(Box::new(pipe), fields)));
        } else if c == '`' {
            let end = chars[i + 1..].iter().position(|&x| x == '`').ok_or_else(|| TemplateError("unterminated raw string".into()))?;
            out.push(Tok::Arg(Arg::Str(chars[i + 1..i + 1 + end].iter().collect())));
            i += end + 2;
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '|' {
                i += 1;
            }
            let w: String = chars[start..i].iter().collect();
            let arg = if w == "." {
                Arg::Dot
            } else if let Some(path) = w.strip_prefix('.') {
                Arg::Field(path.split('.').map(str::to_owned).collect())
            } else if w == "true" || w == "false" {
                Arg::Bool(w == "true")
            } else if let Ok(n) = w.parse::<f64>() {
                Arg::Num(n)
            } else if w.chars().all(|c| c.is_alphanumeric() || c == '_') {
                Arg::Ident(w)
            } else {
                return Err(TemplateError(format!("unexpected {w:?} in command")));
            };
            out.push(Tok::Arg(arg));
        }
    }
    Ok(out)
}

fn exec(nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), TemplateError> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&display(&eval_pipeline(p, dot)?)),
            Node::If(p, body, alt) => exec(if truthy(&eval_pipeline(p, dot)?) { body } else { alt }, dot, out)?,
            Node::Range(p, body, alt) => {
                let v = eval_pipeline(p, dot)?;
                let items: Vec<Value> = match v {
                    Value::Array(a) => a,
                    Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => Vec::new(),
                    other => return Err(TemplateError(format!("range can't iterate over {}", display(&other)))),
                };
                if items.is_empty() {
                    exec(alt, dot, out)?;
                }
                for item in &items {
                    exec(body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
    let mut piped: Option<Value> = None;
    for cmd in p {
        piped = Some(eval_command(cmd, dot, piped)?);
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn eval_arg(a: &Arg, dot: &Value) -> Result<Value, TemplateError> {
    Ok(match a {
        Arg::Dot => dot.clone(),
        Arg::Field(path) => {
            let mut v = dot;
            for f in path {
                v = match v {
                    // Docker's templates see Go field names, its JSON has the tags: they
                    // differ only in case where it matters (`.ID`/`Id`, `.APIVersion`/
                    // `ApiVersion`), so an exact miss falls back to a case-blind match.
                    Value::Object(m) => match m.get(f).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(f)).map(|(_, x)| x)) {
                        Some(x) => x,
                        None => return Ok(Value::Null),
                    },
                    Value::Null => return Ok(Value::Null),
                    other => return Err(TemplateError(format!("can't evaluate field {f} in type {}", type_name(other)))),
                };
            }
            v.clone()
        }
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Num(n) => serde_json::Number::from_f64(*n).map(Value::Number).unwrap_or(Value::Null),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Ident(f) => call(f, Vec::new())?,
        Arg::Sub(pipe, fields) => {
            let v = eval_pipeline(pipe, dot)?;
            if fields.is_empty() {
                v
            } else {
                eval_arg(&Arg::Field(fields.clone()), &v)?
            }
        }
    })
}

fn eval_command(cmd: &[Arg], dot: &Value, piped: Option<Value>) -> Result<Value, TemplateError> {
    match &cmd[0] {
        Arg::Ident(f) => {
            let mut args = cmd[1..].iter().map(|a| eval_arg(a, dot)).collect::<Result<Vec<_>, _>>()?;
            args.extend(piped);
            call(f, args)
        }
        // `{{.Label "key"}}`: docker's formatters have methods with arguments; rows
        // carry them as a `__Name` map, looked up with the (one) argument.
        Arg::Field(path) if cmd.len() == 2 && path.len() == 1 && dot.get(format!("__{}", path[0])).is_some() => {
            let key = display(&eval_arg(&cmd[1], dot)?);
            Ok(dot[format!("__{}", path[0])].get(&key).cloned().unwrap_or(Value::String(String::new())))
        }
        _ if cmd.len() > 1 => Err(TemplateError(format!("can't give argument to non-function {:?}", cmd[0]))),
        other => {
            if piped.is_some() {
                return Err(TemplateError(format!("can't give argument to non-function {other:?}")));
            }
            eval_arg(other, dot)
        }
    }
}

fn call(f: &str, args: Vec<Value>) -> Result<Value, TemplateError> {
    let want = |n: usize| -> Result<(), TemplateError> {
        if args.len() != n {
            Err(TemplateError(format!("wrong number of args for {f}: want {n} got {}", args.len())))
        } else {
            Ok(())
        }
    };
    let s = |v: &Value| display(v);
    Ok(match f {
        "json" => {
            want(1)?;
            Value::String(go_json(&args[0]))
        }
        "upper" => {
            want(1)?;
            Value::String(s(&args[0]).to_uppercase())
        }
        "lower" => {
            want(1)?;
            Value::String(s(&args[0]).to_lowercase())
        }
        "title" => {
            want(1)?;
            let t = s(&args[0]);
            let mut out = String::new();
            let mut start = true;
            for c in t.chars() {
                out.extend(if start { c.to_uppercase().collect::<Vec<_>>() } else { vec![c] });
                start = c.is_whitespace();
            }
            Value::String(out)
        }
        "split" => {
            want(2)?;
            Value::Array(s(&args[0]).split(s(&args[1]).as_str()).map(|p| Value::String(p.to_owned())).collect())
        }
        "join" => {
            want(2)?;
            let items: Vec<String> = match &args[0] {
                Value::Array(a) => a.iter().map(display).collect(),
                other => vec![display(other)],
            };
            Value::String(items.join(&s(&args[1])))
        }
        "pad" => {
            want(3)?;
            let (l, r) = (args[1].as_f64().unwrap_or(0.0) as usize, args[2].as_f64().unwrap_or(0.0) as usize);
            Value::String(format!("{}{}{}", " ".repeat(l), s(&args[0]), " ".repeat(r)))
        }
        "truncate" => {
            want(2)?;
            let n = args[1].as_f64().unwrap_or(0.0) as usize;
            Value::String(s(&args[0]).chars().take(n).collect())
        }
        "len" => {
            want(1)?;
            let n = match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(t) => t.len(),
                other => return Err(TemplateError(format!("len of {}", type_name(other)))),
            };
            Value::from(n)
        }
        "index" => {
            if args.is_empty() {
                return Err(TemplateError("wrong number of args for index".into()));
            }
            let mut v = args[0].clone();
            for k in &args[1..] {
                v = match (&v, k) {
                    (Value::Object(m), _) => m.get(&s(k)).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), Value::Number(n)) => {
                        a.get(n.as_f64().unwrap_or(-1.0) as usize).cloned().ok_or_else(|| TemplateError(format!("index out of range: {n}")))?
                    }
                    _ => return Err(TemplateError(format!("can't index item of type {}", type_name(&v)))),
                };
            }
            v
        }
        "print" => Value::String(args.iter().map(display).collect::<Vec<_>>().join("")),
        "println" => Value::String(format!("{}\n", args.iter().map(display).collect::<Vec<_>>().join(" "))),
        "printf" => {
            let fmt = args.first().map(display).unwrap_or_default();
            Value::String(printf(&fmt, &args[1.min(args.len())..]))
        }
        "eq" => {
            want(2)?;
            Value::Bool(args[0] == args[1] || display(&args[0]) == display(&args[1]) && args[0].is_string() == args[1].is_string())
        }
        "ne" => {
            want(2)?;
            Value::Bool(args[0] != args[1])
        }
        "not" => {
            want(1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "and" => args.iter().find(|a| !truthy(a)).or(args.last()).cloned().unwrap_or(Value::Null),
        "or" => args.iter().find(|a| truthy(a)).or(args.last()).cloned().unwrap_or(Value::Null),
        _ => return Err(TemplateError(format!("function {f:?} not defined"))),
    })
}

fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut it = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => {
                let _ = write!(out, "{:?}", it.next().map(display).unwrap_or_default());
            }
            Some(_) => out.push_str(&it.next().map(display).unwrap_or_else(|| "%!v(MISSING)".into())),
            None => out.push('%'),
        }
    }
    out
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// How Go prints a value with `{{.}}`: strings bare, lists `[a b]`, maps `map[k:v]`;
/// a missing or null field as Go prints a missing map key.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(display).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!("map[{}]", m.iter().map(|(k, v)| format!("{k}:{}", display(v))).collect::<Vec<_>>().join(" ")),
    }
}

/// JSON as Go's encoding/json writes it: `<`, `>`, `&` escaped as \u003c etc. (They
/// only ever occur inside strings, so replacing them textually is exact.)
pub fn go_json(v: &Value) -> String {
    // `__Name` keys are method tables (see eval_command), not fields: not printed.
    let hidden;
    let v = match v {
        Value::Object(m) if m.keys().any(|k| k.starts_with("__")) => {
            hidden = Value::Object(m.iter().filter(|(k, _)| !k.starts_with("__")).map(|(k, v)| (k.clone(), v.clone())).collect());
            &hidden
        }
        other => other,
    };
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    s.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: Value) -> String {
        Template::parse(t).unwrap().render(&v).unwrap()
    }

    #[test]
    fn go_field_names_reach_json_keys_of_another_case() {
        let v = json!({"Id": "abc", "Server": {"ApiVersion": "1.50"}, "id": "lower"});
        assert_eq!(r("{{.ID}} {{.Server.APIVersion}} {{.id}}", v), "abc 1.50 lower");
    }

    #[test]
    fn fields_and_functions() {
        let v = json!({"ID": "abc", "Repository": "busybox", "Tags": ["a", "b"], "Config": {"Cmd": ["sh"], "Labels": {"k": "v"}}, "Size": 10});
        assert_eq!(r("{{.ID}} {{.Repository}}", v.clone()), "abc busybox");
        assert_eq!(r("{{.Config.Cmd}}", v.clone()), "[sh]");
        assert_eq!(r("{{json .Config.Cmd}}", v.clone()), "[\"sh\"]");
        assert_eq!(r("{{join .Tags \",\"}}", v.clone()), "a,b");
        assert_eq!(r("{{.Repository | upper}}", v.clone()), "BUSYBOX");
        assert_eq!(r("{{index .Config.Labels \"k\"}}", v.clone()), "v");
        let n = json!({"N": {"my-net": {"IPAddress": "10.0.0.2"}}});
        assert_eq!(r("{{(index .N \"my-net\").IPAddress}}", n.clone()), "10.0.0.2");
        assert_eq!(r("{{len (index .N \"my-net\")}} {{(index .N \"x)\")}}", n), "1 <no value>");
        assert_eq!(r("{{range .Tags}}<{{.}}>{{end}}", v.clone()), "<a><b>");
        assert_eq!(r("{{if .Tags}}yes{{else}}no{{end}}", v.clone()), "yes");
        assert_eq!(r("{{if .Missing}}yes{{else}}no{{end}}", v.clone()), "no");
        assert_eq!(r("{{.Size}} {{len .Tags}}", v.clone()), "10 2");
        assert_eq!(r("a {{- \" b \" -}} c", v.clone()), "a b c");
        assert_eq!(r("{{printf \"%s-%d\" .ID .Size}}", v.clone()), "abc-10");
        assert_eq!(r("{{.Nope}}", v.clone()), "<no value>");
        assert_eq!(r("{{json .}}", json!({"a": "<none>"})), "{\"a\":\"\\u003cnone\\u003e\"}");
    }

    #[test]
    fn errors_not_panics() {
        for bad in ["{{", "{{.ID", "{{if .A}}", "{{end}}", "{{nosuch .A}}", "{{\"x}}", "{{|}}", "{{.A | .B}}"] {
            let res = Template::parse(bad).and_then(|t| t.render(&json!({"A": 1, "B": 2})));
            assert!(res.is_err(), "{bad} should fail");
        }
    }
}
