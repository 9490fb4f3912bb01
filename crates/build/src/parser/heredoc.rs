//! Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) in RUN, COPY and ADD.

use crate::shell_lexer::{NoEnv, ShellLexer};

/// One heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed (`EOF`).
    pub name: String,
    /// File descriptor written before `<<` (`3<<EOF`), 0 when none.
    pub file_descriptor: u32,
    /// False when any part of the delimiter was quoted: the body is then
    /// taken literally, with no variable expansion.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from body lines and the terminator.
    pub chomp: bool,
    /// The body, each line with its newline, terminator excluded.
    pub content: String,
}

impl Heredoc {
    /// The body with leading tabs removed when the heredoc is `<<-`.
    pub fn effective_content(&self) -> String {
        if self.chomp {
            chomp_content(&self.content)
        } else {
            self.content.clone()
        }
    }
}

/// Removes leading tabs from every line.
pub fn chomp_content(s: &str) -> String {
    s.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect()
}

/// Reads a word as a heredoc marker: `^(\d*)<<(-?)\s*([^<]*)$` with a
/// delimiter that lexes to exactly one word.
pub fn parse_heredoc_word(word: &str) -> Option<Heredoc> {
    let digits_len = word.bytes().take_while(u8::is_ascii_digit).count();
    let (digits, rest) = word.split_at(digits_len);
    let rest = rest.strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let mut lexer = ShellLexer::new('\\');
    lexer.skip_unset_env = true;
    let words = lexer.process_words(rest, &NoEnv).ok()?;
    if words.len() != 1 {
        return None;
    }
    lexer.raw_quotes = true;
    let raw = lexer.process_words(rest, &NoEnv).ok()?;
    if raw.len() != 1 {
        return None;
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Some(Heredoc {
        name: words[0].clone(),
        file_descriptor: digits.parse().unwrap_or(0),
        expand: quotes(&words[0]) == quotes(&raw[0]),
        chomp,
        content: String::new(),
    })
}

/// The heredoc markers on an instruction line, in order.
pub(crate) fn heredocs_from_line(line: &str) -> Vec<Heredoc> {
    let mut lexer = ShellLexer::new('\\');
    lexer.raw_quotes = true;
    lexer.raw_escapes = true;
    lexer.skip_unset_env = true;
    let words = lexer.process_words(line, &NoEnv).unwrap_or_default();
    words.iter().filter_map(|w| parse_heredoc_word(w)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let h = parse_heredoc_word("<<EOF").unwrap();
        assert_eq!((h.name.as_str(), h.expand, h.chomp, h.file_descriptor), ("EOF", true, false, 0));
        let h = parse_heredoc_word("<<-'END'").unwrap();
        assert_eq!((h.name.as_str(), h.expand, h.chomp), ("END", false, true));
        let h = parse_heredoc_word("3<<\"X\"").unwrap();
        assert_eq!((h.name.as_str(), h.expand, h.file_descriptor), ("X", false, 3));
        assert!(parse_heredoc_word("<<").is_none());
        assert!(parse_heredoc_word("a<<b").is_none());
        assert!(parse_heredoc_word("<<a<b").is_none());
    }

    #[test]
    fn markers_on_a_line() {
        let names: Vec<String> = heredocs_from_line("RUN cat <<A > /a && cat <<-\"B\" >/b")
            .into_iter()
            .map(|h| h.name)
            .collect();
        assert_eq!(names, ["A", "B"]);
        assert!(heredocs_from_line("RUN echo '<<EOF'").is_empty());
        assert_eq!(heredocs_from_line("RUN cat << EOF")[0].name, "EOF");
    }

    #[test]
    fn chomping() {
        assert_eq!(chomp_content("\t\ta\n\tb\n c\n"), "a\nb\n c\n");
    }
}
