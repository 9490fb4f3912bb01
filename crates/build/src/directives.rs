//! Parser directives: `# syntax=`, `# escape=`, `# check=` at the very top.

use crate::error::ErrorKind;

/// The directives found at the top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` (the frontend image; berth records it, it has one frontend).
    pub syntax: Option<String>,
    /// The escape character: `\` unless `# escape=` says `` ` ``.
    pub escape: char,
    /// `# check=` (lint configuration), kept verbatim.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// Reads directives line by line until the first line that is not one;
/// after that nothing is a directive (Docker's rule: a blank line, a plain
/// comment, an unknown directive or an instruction ends them).
#[derive(Debug, Default)]
pub(crate) struct DirectiveScanner {
    pub directives: Directives,
    done: bool,
    seen: Vec<String>,
}

impl DirectiveScanner {
    /// Looks at one line (left-trimmed, newline removed). Returns true when the
    /// line was a directive.
    pub fn scan_line(&mut self, line: &str) -> Result<bool, ErrorKind> {
        if self.done {
            return Ok(false);
        }
        let Some((name, value)) = parse_directive(line) else {
            self.done = true;
            return Ok(false);
        };
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&name) {
            return Err(ErrorKind::DuplicateDirective(name));
        }
        self.seen.push(name.clone());
        match name.as_str() {
            "escape" => {
                self.directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => return Err(ErrorKind::InvalidEscapeToken(value)),
                }
            }
            "syntax" => self.directives.syntax = Some(value),
            _ => self.directives.check = Some(value),
        }
        Ok(true)
    }
}

/// `#` blanks NAME blanks `=` blanks VALUE blanks, NAME a letter then letters/digits.
fn parse_directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .take_while(|(i, c)| if *i == 0 { c.is_ascii_alphabetic() } else { c.is_ascii_alphanumeric() })
        .count();
    if name_len == 0 {
        return None;
    }
    let (name, after) = rest.split_at(name_len);
    let value = after.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(lines: &[&str]) -> Result<Directives, ErrorKind> {
        let mut s = DirectiveScanner::default();
        for l in lines {
            s.scan_line(l)?;
        }
        Ok(s.directives)
    }

    #[test]
    fn reads_all_three() {
        let d = scan(&["# syntax=docker/dockerfile:1", "#escape=`", "# CHECK = skip=all"]).unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
        assert_eq!(d.check.as_deref(), Some("skip=all"));
    }

    #[test]
    fn stops_at_first_non_directive() {
        let d = scan(&["# a comment", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
        let d = scan(&["", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
        let d = scan(&["# unknown=1", "# escape=`"]).unwrap();
        assert_eq!(d.escape, '\\');
    }

    #[test]
    fn rejects_duplicates_and_bad_escape() {
        assert_eq!(
            scan(&["# escape=`", "# escape=\\"]).unwrap_err().to_string(),
            "only one escape parser directive can be used"
        );
        assert_eq!(
            scan(&["# escape=x"]).unwrap_err().to_string(),
            "invalid escape token 'x' does not match ` or \\"
        );
    }
}
