//! Dockerfile text → logical instruction lines ([`Node`]s), as BuildKit's
//! `frontend/dockerfile/parser` does it: BOM, directives, comments, line
//! continuations (with comment and empty lines inside them), per-instruction
//! argument shapes (JSON or shell form, name=value pairs) and heredoc bodies.

mod heredoc;
mod words;

pub use heredoc::{chomp_content, parse_heredoc_word, Heredoc};

use crate::directives::{DirectiveScanner, Directives};
use crate::error::{DockerfileError, ErrorKind, Location};
use words::{extract_builder_flags, parse_words, split_whitespace_delimited};

/// One instruction as written, before typing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction keyword as written (`RUN`, `run`, …).
    pub keyword: String,
    /// Builder flags (`--from=x`), quotes resolved, unvalidated.
    pub flags: Vec<String>,
    /// The arguments, shaped per instruction:
    /// JSON form → the array items; shell form of RUN/CMD/ENTRYPOINT/SHELL →
    /// one string; ENV/LABEL → (key, value, "=" or "") triples; COPY/ADD/
    /// VOLUME/EXPOSE/FROM → words; ARG → quote-aware words; HEALTHCHECK →
    /// type then command; ONBUILD → the nested keyword then its arguments.
    pub args: Vec<String>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// ONBUILD's nested instruction.
    pub sub: Option<Box<Node>>,
    /// Heredoc bodies, in the order their markers appear.
    pub heredocs: Vec<Heredoc>,
    /// The logical line (continuations joined), without heredoc bodies.
    pub original: String,
    pub location: Location,
    /// Comment lines directly above the instruction.
    pub comments: Vec<String>,
}

impl Node {
    /// The keyword in lower case, for dispatch.
    pub fn command(&self) -> String {
        self.keyword.to_ascii_lowercase()
    }

    fn can_contain_heredoc(&self) -> bool {
        let target = match (&self.command()[..], &self.sub) {
            ("onbuild", Some(sub)) => sub.as_ref(),
            _ => self,
        };
        matches!(&target.command()[..], "run" | "copy" | "add") && !target.json
    }
}

/// A non-fatal finding while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseWarning {
    pub message: String,
    pub line: usize,
}

/// The parsed file: directives and instruction lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    pub directives: Directives,
    pub nodes: Vec<Node>,
    pub warnings: Vec<ParseWarning>,
}

/// Physical lines, each keeping its line ending (heredoc bodies need it).
fn physical_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    trim_newline(line).trim_start().starts_with('#')
}

/// Removes a trailing escape (plus blanks) that continues the line; an
/// escaped escape (`\\`) at the end does not continue.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, true);
    };
    if before.ends_with(escape) {
        return (line, true);
    }
    (before, false)
}

/// Parses Dockerfile text into instruction lines.
pub fn parse(text: &str) -> Result<Ast, DockerfileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = physical_lines(text);
    let mut directives = DirectiveScanner::default();
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut idx = 0;

    while idx < lines.len() {
        let raw = lines[idx];
        idx += 1;
        let start_line = idx;
        let stripped = trim_newline(raw).trim_start();
        let column = trim_newline(raw).chars().count() - stripped.chars().count() + 1;
        let is_directive = directives
            .scan_line(stripped)
            .map_err(|k| DockerfileError::new(Location::at(start_line, 1), k))?;
        if is_comment(raw) && !is_directive {
            let c = stripped[1..].trim();
            if c.is_empty() {
                comments.clear();
            } else {
                comments.push(c.to_string());
            }
        }
        let escape = directives.directives.escape;
        let first = if is_comment(raw) { "" } else { stripped };
        let (first, mut ended) = trim_continuation(first, escape);
        if ended && first.is_empty() {
            continue;
        }
        let mut logical = first.to_string();
        let mut empty_continuation = false;
        while !ended && idx < lines.len() {
            let raw = lines[idx];
            idx += 1;
            if is_comment(raw) {
                continue;
            }
            let line = trim_newline(raw);
            if line.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, e) = trim_continuation(line, escape);
            ended = e;
            logical.push_str(part);
        }
        let end_line = idx;
        let location = Location {
            line: start_line,
            end_line,
            column,
        };
        if empty_continuation {
            warnings.push(ParseWarning {
                message: format!("Empty continuation line found in: {logical}"),
                line: end_line,
            });
        }

        let mut node = node_from_line(&logical, escape).map_err(|k| DockerfileError::new(location, k))?;
        node.location = location;
        node.comments = std::mem::take(&mut comments);

        if node.can_contain_heredoc() && logical.contains("<<") {
            for mut doc in heredoc::heredocs_from_line(&logical) {
                let mut terminated = false;
                while idx < lines.len() {
                    let body_line = lines[idx];
                    idx += 1;
                    let mut candidate = trim_newline(body_line);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(body_line);
                }
                if !terminated {
                    let loc = Location { end_line: idx, ..location };
                    return Err(DockerfileError::new(loc, ErrorKind::UnterminatedHeredoc));
                }
                node.heredocs.push(doc);
            }
            node.location.end_line = idx;
        }
        nodes.push(node);
    }

    if nodes.is_empty() {
        return Err(DockerfileError::new(
            Location::at(lines.len(), 1),
            ErrorKind::NoInstructions,
        ));
    }
    Ok(Ast {
        directives: directives.directives,
        nodes,
        warnings,
    })
}

/// Splits `KEYWORD [flags] args` and shapes the arguments for the keyword.
fn node_from_line(line: &str, escape: char) -> Result<Node, ErrorKind> {
    let trimmed = line.trim();
    let (keyword, rest) = match trimmed.find([' ', '\t', '\r', '\x0b', '\x0c']) {
        Some(pos) => (&trimmed[..pos], &trimmed[pos..]),
        None => (trimmed, ""),
    };
    let (args_text, flags) = if rest.is_empty() {
        (String::new(), Vec::new())
    } else {
        extract_builder_flags(rest.trim_start_matches([' ', '\t', '\r', '\x0b', '\x0c']), escape)
    };
    let rest = args_text.trim();
    let mut node = Node {
        keyword: keyword.to_string(),
        flags,
        args: Vec::new(),
        json: false,
        sub: None,
        heredocs: Vec::new(),
        original: line.to_string(),
        location: Location::default(),
        comments: Vec::new(),
    };
    match &keyword.to_ascii_lowercase()[..] {
        "add" | "copy" | "volume" => {
            if let Some(items) = parse_json(rest)? {
                node.args = items;
                node.json = true;
            } else {
                node.args = split_whitespace_delimited(rest);
            }
        }
        "cmd" | "entrypoint" | "run" | "shell"
            if !rest.is_empty() => {
                if let Some(items) = parse_json(rest)? {
                    node.args = items;
                    node.json = true;
                } else {
                    node.args = vec![rest.to_string()];
                }
            }
        "arg" => node.args = parse_words(rest, escape),
        "env" => node.args = parse_name_value(rest, "ENV", escape)?,
        "label" => node.args = parse_name_value(rest, "LABEL", escape)?,
        "expose" | "from" => node.args = split_whitespace_delimited(rest),
        "maintainer" | "stopsignal" | "user" | "workdir"
            if !rest.is_empty() => {
                node.args = vec![rest.to_string()];
            }
        "healthcheck" => {
            let typ_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if typ_end > 0 {
                node.args.push(rest[..typ_end].to_string());
                let cmd = rest[typ_end..].trim_start();
                if !cmd.is_empty() {
                    if let Some(items) = parse_json(cmd)? {
                        node.args.extend(items);
                        node.json = true;
                    } else {
                        node.args.push(cmd.to_string());
                    }
                }
            }
        }
        "onbuild"
            if !rest.is_empty() => {
                let sub = node_from_line(rest, escape)?;
                node.args.push(sub.keyword.clone());
                node.args.extend(sub.args.iter().cloned());
                node.sub = Some(Box::new(sub));
            }
        // Unknown keywords are reported when typing, with their location.
        _ => {}
    }
    Ok(node)
}

/// A JSON array of strings, `None` when the text is not a JSON array at all
/// (then it is shell form), an error when it is an array of non-strings.
fn parse_json(rest: &str) -> Result<Option<Vec<String>>, ErrorKind> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(rest) else {
        return Ok(None);
    };
    let serde_json::Value::Array(items) = value else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ErrorKind::JsonNotStringArray),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// ENV/LABEL arguments: `k=v k2=v2` or the legacy `k v with spaces`.
fn parse_name_value(rest: &str, key: &'static str, escape: char) -> Result<Vec<String>, ErrorKind> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if !words[0].contains('=') {
        let mut parts = rest.splitn(2, [' ', '\t', '\r', '\x0b', '\x0c']);
        let name = parts.next().unwrap_or_default();
        let value = parts.next().map(|v| v.trim_start_matches([' ', '\t', '\r', '\x0b', '\x0c']));
        let Some(value) = value else {
            return Err(ErrorKind::MissingValue(key));
        };
        return Ok(vec![name.to_string(), value.to_string(), String::new()]);
    }
    let mut out = Vec::new();
    for word in words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(ErrorKind::MissingEquals(word));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(text: &str) -> Vec<Node> {
        parse(text).unwrap_or_else(|e| panic!("{e}")).nodes
    }

    #[test]
    fn comments_blank_lines_and_case() {
        let n = nodes("# hello\n\nfrom alpine\n  # indented comment\n\trun echo hi # not a comment\n");
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].keyword, "from");
        assert_eq!(n[0].args, ["alpine"]);
        assert_eq!(n[0].location.line, 3);
        assert_eq!(n[1].args, ["echo hi # not a comment"]);
        assert_eq!(n[1].location.line, 5);
        assert_eq!(n[1].location.column, 2);
    }

    #[test]
    fn continuations_with_comments_and_empty_lines() {
        let text = "FROM a\nRUN echo a \\\n# comment inside\n\n   && echo b \\\n  && echo c\nRUN x\n";
        let ast = parse(text).unwrap();
        assert_eq!(ast.nodes[1].args, ["echo a    && echo b   && echo c"]);
        assert_eq!(ast.nodes[1].location.line, 2);
        assert_eq!(ast.nodes[1].location.end_line, 6);
        assert_eq!(ast.nodes[2].location.line, 7);
        assert_eq!(ast.warnings.len(), 1);
        assert!(ast.warnings[0].message.starts_with("Empty continuation line found in: RUN echo a"));
    }

    #[test]
    fn escaped_escape_does_not_continue() {
        let n = nodes("FROM a\nRUN echo \\\\\nRUN b\n");
        assert_eq!(n.len(), 3);
        assert_eq!(n[1].args, ["echo \\\\"]);
    }

    #[test]
    fn backtick_escape_directive() {
        let text = "# escape=`\nFROM windows\nRUN dir c:\\ `\n  /w\n";
        let ast = parse(text).unwrap();
        assert_eq!(ast.directives.escape, '`');
        assert_eq!(ast.nodes[1].args, ["dir c:\\   /w"]);
    }

    #[test]
    fn directive_after_instruction_is_a_comment() {
        let ast = parse("FROM a\n# escape=`\nRUN a `\n").unwrap();
        assert_eq!(ast.directives.escape, '\\');
        assert_eq!(ast.nodes.len(), 2);
    }

    #[test]
    fn syntax_and_check_directives() {
        let ast = parse("# syntax=docker/dockerfile:1.7\n# check=error=true\nFROM a\n").unwrap();
        assert_eq!(ast.directives.syntax.as_deref(), Some("docker/dockerfile:1.7"));
        assert_eq!(ast.directives.check.as_deref(), Some("error=true"));
        assert!(ast.nodes[0].comments.is_empty());
    }

    #[test]
    fn json_and_shell_forms() {
        let n = nodes("FROM a\nCMD [\"echo\", \"hi\"]\nCMD echo hi\nCMD [\"unterminated\"\nENTRYPOINT []\n");
        assert!(n[1].json);
        assert_eq!(n[1].args, ["echo", "hi"]);
        assert!(!n[2].json);
        assert_eq!(n[2].args, ["echo hi"]);
        assert!(!n[3].json);
        assert_eq!(n[3].args, ["[\"unterminated\""]);
        assert!(n[4].json);
        assert!(n[4].args.is_empty());
    }

    #[test]
    fn json_of_non_strings_is_an_error() {
        let e = parse("FROM a\nCMD [1, 2]\n").unwrap_err();
        assert_eq!(e.line(), 2);
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 2: when using JSON array syntax, arrays must be comprised of strings only"
        );
    }

    #[test]
    fn env_forms() {
        let n = nodes("FROM a\nENV A=1 B=\"two words\"\nENV LEGACY value with  spaces\n");
        assert_eq!(n[1].args, ["A", "1", "=", "B", "\"two words\"", "="]);
        assert_eq!(n[2].args, ["LEGACY", "value with  spaces", ""]);
        let e = parse("FROM a\nENV A=1 B\n").unwrap_err();
        assert_eq!(e.kind.to_string(), "Syntax error - can't find = in \"B\". Must be of the form: name=value");
        let e = parse("FROM a\nENV ONLY\n").unwrap_err();
        assert_eq!(e.kind.to_string(), "ENV must have two arguments");
    }

    #[test]
    fn flags_are_separated() {
        let n = nodes("FROM a\nCOPY --from=b --chown=1:2 a b /c/\n");
        assert_eq!(n[1].flags, ["--from=b", "--chown=1:2"]);
        assert_eq!(n[1].args, ["a", "b", "/c/"]);
    }

    #[test]
    fn heredoc_bodies() {
        let text = "FROM a\nRUN <<EOF\necho $X\nEOF\nRUN <<-'A' cat - && cat <<B\n\tliteral\n\tA\nsecond\nB\nRUN after\n";
        let n = nodes(text);
        assert_eq!(n.len(), 4);
        assert_eq!(n[1].heredocs[0].content, "echo $X\n");
        assert!(n[1].heredocs[0].expand);
        assert_eq!(n[1].location.end_line, 4);
        let h = &n[2].heredocs;
        assert_eq!(h.len(), 2);
        assert_eq!((h[0].name.as_str(), h[0].chomp, h[0].expand), ("A", true, false));
        assert_eq!(h[0].content, "\tliteral\n");
        assert_eq!(h[0].effective_content(), "literal\n");
        assert_eq!(h[1].content, "second\n");
        assert_eq!(n[3].location.line, 10);
    }

    #[test]
    fn heredoc_not_in_json_or_other_instructions() {
        let n = nodes("FROM a\nRUN [\"cat\", \"<<EOF\"]\nLABEL a=<<EOF\n");
        assert!(n[1].heredocs.is_empty());
        assert!(n[2].heredocs.is_empty());
    }

    #[test]
    fn copy_heredoc() {
        let n = nodes("FROM a\nCOPY <<EOF /file\nhello\nEOF\n");
        assert_eq!(n[1].args, ["<<EOF", "/file"]);
        assert_eq!(n[1].heredocs[0].content, "hello\n");
    }

    #[test]
    fn unterminated_heredoc() {
        let e = parse("FROM a\nRUN <<EOF\necho\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnterminatedHeredoc);
        assert_eq!(e.location.line, 2);
        assert_eq!(e.to_string(), "dockerfile parse error on line 2: unterminated heredoc");
    }

    #[test]
    fn onbuild_nests() {
        let n = nodes("FROM a\nONBUILD RUN --network=none echo hi\n");
        let sub = n[1].sub.as_ref().unwrap();
        assert_eq!(sub.keyword, "RUN");
        assert_eq!(sub.flags, ["--network=none"]);
        assert_eq!(n[1].args, ["RUN", "echo hi"]);
    }

    #[test]
    fn empty_file() {
        let e = parse("# just a comment\n\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::NoInstructions);
    }

    #[test]
    fn crlf_and_bom() {
        let n = nodes("\u{feff}FROM a\r\nRUN echo \\\r\n  b\r\n");
        assert_eq!(n[0].args, ["a"]);
        assert_eq!(n[1].args, ["echo   b"]);
    }
}
