//! Docker's word expander: `$VAR`, `${VAR…}` forms, quotes, escapes and word
//! splitting, with the semantics of BuildKit's `shell/lex.go` (not POSIX sh:
//! e.g. `${VAR/pat/repl}` is not anchored by `#`/`%`, and there is no command
//! substitution or arithmetic).

use std::collections::{BTreeSet, HashMap};

use regex::Regex;
use thiserror::Error;

/// Something that answers "what is the value of variable NAME".
pub trait EnvLookup {
    /// The value of `name`, or `None` when it is not set (set-but-empty is `Some("")`).
    fn lookup(&self, name: &str) -> Option<String>;
}

impl EnvLookup for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl EnvLookup for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<String> {
        // Later entries win, as with repeated ENV.
        self.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}

impl EnvLookup for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

impl<const N: usize> EnvLookup for [(&str, &str); N] {
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }
}

/// An environment with no variables at all.
pub struct NoEnv;

impl EnvLookup for NoEnv {
    fn lookup(&self, _name: &str) -> Option<String> {
        None
    }
}

/// What went wrong while expanding a word.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LexErrorKind {
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    #[error("unexpected end of statement while looking for matching {0}")]
    UnexpectedEnd(char),
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    /// `${VAR?msg}` / `${VAR:?msg}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern { pattern: String, reason: String },
}

/// An expansion error, naming the word as Docker does (`failed to process "…": …`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("failed to process {source_word:?}: {kind}")]
pub struct LexError {
    pub source_word: String,
    pub kind: LexErrorKind,
}

/// The full outcome of expanding one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word with quotes removed and variables substituted (no splitting).
    pub result: String,
    /// The same, split into words the way an unquoted shell word splits.
    pub words: Vec<String>,
    /// Variables that were referenced and set.
    pub matched: BTreeSet<String>,
    /// Variables that were referenced and not set.
    pub unmatched: BTreeSet<String>,
}

/// The expander, configured like BuildKit's `shell.Lex`.
#[derive(Debug, Clone, Copy)]
pub struct ShellLexer {
    escape: char,
    /// Keep quote characters in the output (used to tell quoted heredoc words).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters (heredoc bodies).
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written instead of expanding to "".
    pub skip_unset_env: bool,
}

impl ShellLexer {
    /// An expander whose escape character is `escape` (`\` or `` ` ``).
    pub fn new(escape: char) -> Self {
        ShellLexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// The escape character.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expands `word` as one word (what ENV, LABEL, WORKDIR, COPY paths… use).
    pub fn process_word(&self, word: &str, env: &dyn EnvLookup) -> Result<String, LexError> {
        Ok(self.process(word, env)?.result)
    }

    /// Expands `word` and splits it into words (what EXPOSE uses).
    pub fn process_words(&self, word: &str, env: &dyn EnvLookup) -> Result<Vec<String>, LexError> {
        Ok(self.process(word, env)?.words)
    }

    /// Expands `word`, returning the single-word and split results and the
    /// variables it referenced.
    pub fn process(&self, word: &str, env: &dyn EnvLookup) -> Result<Expansion, LexError> {
        let mut w = WordScanner {
            lex: self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        };
        match w.process_stop_on(None, self.raw_escapes) {
            Ok((result, words)) => Ok(Expansion {
                result,
                words,
                matched: w.matched,
                unmatched: w.unmatched,
            }),
            Err(kind) => Err(LexError {
                source_word: word.to_string(),
                kind,
            }),
        }
    }
}

/// Accumulates split words: text from variables splits on whitespace, quoted
/// and escaped text never does.
#[derive(Default)]
struct WordSplitter {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl WordSplitter {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

struct WordScanner<'a> {
    lex: &'a ShellLexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn EnvLookup,
    raw_escapes: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

type LexResult<T> = Result<T, LexErrorKind>;

impl WordScanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match self.env.lookup(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v)
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    fn process_stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> LexResult<(String, Vec<String>)> {
        // Pattern words of ${VAR%…} and ${VAR/…} keep their escapes so the
        // pattern compiler can tell `\*` from `*`; the outer setting comes back after.
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let out = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> LexResult<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = WordSplitter::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let tmp = self.process_dollar()?;
                    result.push_str(&tmp);
                    words.add_string(&tmp);
                }
                '<' => {
                    let tmp = self.process_possible_heredoc();
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                '\'' if !self.lex.skip_process_quotes => {
                    let tmp = self.process_single_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                '"' if !self.lex.skip_process_quotes => {
                    let tmp = self.process_double_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                _ => {
                    self.next();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            None => break,
                            Some(escaped) => {
                                words.add_raw_char(escaped);
                                result.push(escaped);
                            }
                        }
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(LexErrorKind::UnexpectedEnd(stop));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(LexErrorKind::UnterminatedSingleQuote),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> LexResult<String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(LexErrorKind::UnterminatedDoubleQuote),
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        // Inside double quotes only `"`, `$` and the escape
                        // itself are escapable; otherwise the escape is literal.
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                ch = c;
                                self.next();
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> LexResult<String> {
        self.next(); // '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next(); // '{'
        match self.peek() {
            None => return Err(LexErrorKind::MissingBrace),
            Some('{' | '}' | ':') => return Err(LexErrorKind::BadSubstitution),
            _ => {}
        }
        let name = self.process_name();
        let Some(mut ch) = self.next() else {
            return Err(LexErrorKind::MissingBrace);
        };
        let mut modifier = ch.to_string();
        match ch {
            '}' => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = ch == ':';
                if null_is_unset {
                    // `${VAR:x}` is parsed to the closing brace and then
                    // rejected with the two-character modifier, as Docker does.
                    let Some(next) = self.next() else {
                        return Err(LexErrorKind::MissingBrace);
                    };
                    ch = next;
                    modifier.push(ch);
                }
                let trims = ch == '#' || ch == '%';
                if null_is_unset && trims {
                    return Err(LexErrorKind::UnsupportedModifier(modifier));
                }
                let word = match self.process_stop_on(Some('}'), trims) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err(LexErrorKind::MissingBrace);
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{modifier}{word}}}"));
                }
                let unset_or_null = match &value {
                    None => true,
                    Some(v) => null_is_unset && v.is_empty(),
                };
                match ch {
                    '-' => Ok(if unset_or_null { word } else { value.unwrap_or_default() }),
                    '+' => Ok(if unset_or_null { String::new() } else { word }),
                    '?' => match value {
                        None => Err(LexErrorKind::Required {
                            name,
                            message: if word.is_empty() { "is not allowed to be unset".into() } else { word },
                        }),
                        Some(v) if null_is_unset && v.is_empty() => Err(LexErrorKind::Required {
                            name,
                            message: if word.is_empty() { "is not allowed to be empty".into() } else { word },
                        }),
                        Some(v) => Ok(v),
                    },
                    '#' | '%' => {
                        let value = value.unwrap_or_default();
                        let (greedy, pattern) = match word.strip_prefix(ch) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        if ch == '%' {
                            trim_suffix(&pattern, &value, greedy)
                        } else {
                            trim_prefix(&pattern, &value, greedy)
                        }
                    }
                    _ => Err(LexErrorKind::UnsupportedModifier(modifier)),
                }
            }
            '/' => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((p, _)) => p,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err(LexErrorKind::MissingSlash);
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((r, _)) => r,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err(LexErrorKind::MissingBrace);
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                let Some(value) = value else {
                    if self.lex.skip_unset_env {
                        return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                    }
                    return Ok(String::new());
                };
                let re = shell_pattern_regex(&pattern, true, false)?;
                Ok(if replace_all {
                    re.replace_all(&value, regex::NoExpand(&replacement)).into_owned()
                } else {
                    re.replace(&value, regex::NoExpand(&replacement)).into_owned()
                })
            }
            _ => Err(LexErrorKind::UnsupportedModifier(modifier)),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                // Positional parameters ($1, $10) are all digits.
                while let Some(d) = self.peek().filter(|c| c.is_ascii_digit()) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    /// `<<` followed by blanks stays glued to the next word so that heredoc
    /// markers written as `<< EOF` are seen as one word.
    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut out = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            out.push(c);
            self.next();
        }
        out
    }
}

/// Compiles a shell glob (`*`, `?`, `\x`) used in `${VAR%pat}` and friends.
fn shell_pattern_regex(pattern: &str, greedy: bool, anchored: bool) -> LexResult<Regex> {
    let invalid = |reason: String| LexErrorKind::InvalidPattern {
        pattern: pattern.to_string(),
        reason,
    };
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut it = pattern.chars().peekable();
    while let Some(tok) = it.next() {
        match tok {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                // `\}` and `\/` were only there to get past the word parser.
                if matches!(it.peek(), Some('}') | Some('/')) {
                    continue;
                }
                match it.next() {
                    Some(c @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(c);
                    }
                    Some(c) => return Err(invalid(format!("invalid escape '\\{c}'"))),
                    None => return Err(invalid("invalid escape '\\'".to_string())),
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    Regex::new(&out).map_err(|e| invalid(e.to_string()))
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> LexResult<String> {
    let re = shell_pattern_regex(pattern, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Suffix trimming is prefix trimming of the reversed string with the
/// reversed pattern (escape pairs kept in order).
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> LexResult<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut units: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            units.push(format!("\\{}", chars[i + 1]));
            i += 2;
        } else {
            units.push(chars[i].to_string());
            i += 1;
        }
    }
    units.reverse();
    let rev_pattern: String = units.concat();
    let rev_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&rev_pattern, &rev_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// True when `word` contains something the expander would change; used to
/// reject variables where Docker forbids them (`COPY --from=$X`).
pub fn has_expansion(word: &str, escape: char) -> bool {
    match ShellLexer::new(escape).process_word(word, &NoEnv) {
        Ok(r) => r != word,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        [
            ("NAME", "world"),
            ("EMPTY", ""),
            ("PATHV", "/usr/local/bin/app.tar.gz"),
            ("SPACED", "  a b  c "),
            ("X", "aXbXc"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn word(s: &str) -> Result<String, LexError> {
        ShellLexer::new('\\').process_word(s, &env())
    }

    fn w(s: &str) -> String {
        word(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        word(s).expect_err(s).kind.to_string()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(w("hello $NAME"), "hello world");
        assert_eq!(w("${NAME}s"), "worlds");
        assert_eq!(w("$NAMEs"), "");
        assert_eq!(w("a$UNSET-b"), "a-b");
        assert_eq!(w("cost $"), "cost $");
        assert_eq!(w("$1x"), "x");
    }

    #[test]
    fn default_forms() {
        assert_eq!(w("${UNSET:-def}"), "def");
        assert_eq!(w("${EMPTY:-def}"), "def");
        assert_eq!(w("${NAME:-def}"), "world");
        assert_eq!(w("${UNSET-def}"), "def");
        assert_eq!(w("${EMPTY-def}"), "");
        assert_eq!(w("${UNSET:-$NAME!}"), "world!");
        assert_eq!(w("${UNSET:-${ALSO:-deep}}"), "deep");
    }

    #[test]
    fn alternative_forms() {
        assert_eq!(w("${NAME:+alt}"), "alt");
        assert_eq!(w("${EMPTY:+alt}"), "");
        assert_eq!(w("${EMPTY+alt}"), "alt");
        assert_eq!(w("${UNSET+alt}"), "");
    }

    #[test]
    fn required_forms() {
        assert_eq!(w("${NAME:?oops}"), "world");
        assert_eq!(err("${UNSET?}"), "UNSET: is not allowed to be unset");
        assert_eq!(err("${UNSET:?must set}"), "UNSET: must set");
        assert_eq!(err("${EMPTY:?}"), "EMPTY: is not allowed to be empty");
        assert_eq!(w("${EMPTY?}"), "");
    }

    #[test]
    fn prefix_and_suffix_trimming() {
        assert_eq!(w("${PATHV#*/}"), "usr/local/bin/app.tar.gz");
        assert_eq!(w("${PATHV##*/}"), "app.tar.gz");
        assert_eq!(w("${PATHV%.*}"), "/usr/local/bin/app.tar");
        assert_eq!(w("${PATHV%%.*}"), "/usr/local/bin/app");
        assert_eq!(w("${PATHV#nomatch}"), "/usr/local/bin/app.tar.gz");
        assert_eq!(w("${PATHV%.t?r.gz}"), "/usr/local/bin/app");
        assert_eq!(err("${NAME:#x}"), "unsupported modifier (:#) in substitution");
    }

    #[test]
    fn pattern_replacement() {
        assert_eq!(w("${X/X/-}"), "a-bXc");
        assert_eq!(w("${X//X/-}"), "a-b-c");
        assert_eq!(w("${X//b*/}"), "aX");
        assert_eq!(w("${UNSET/a/b}"), "");
        assert_eq!(err("${X/a"), "syntax error: missing '/' in ${}");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(w(r#""$NAME's""#), "world's");
        assert_eq!(w("'$NAME'"), "$NAME");
        assert_eq!(w(r"\$NAME"), "$NAME");
        assert_eq!(w(r#""a\"b""#), "a\"b");
        assert_eq!(w(r#""a\b""#), r"a\b");
        assert_eq!(w(r"'a\b'"), r"a\b");
        assert_eq!(w(r"a\ b"), "a b");
        let backtick = ShellLexer::new('`').process_word("a`$b\\c", &NoEnv).unwrap();
        assert_eq!(backtick, "a$b\\c");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(err("\"abc"), "unexpected end of statement while looking for matching double-quote");
        assert_eq!(err("'abc"), "unexpected end of statement while looking for matching single-quote");
        assert_eq!(err("${NAME"), "syntax error: missing '}'");
        assert_eq!(err("${}"), "syntax error: bad substitution");
        assert_eq!(err("${:a}"), "syntax error: bad substitution");
        assert_eq!(err("${NAME:x}"), "unsupported modifier (:x) in substitution");
        assert_eq!(err("${NAME=x}"), "unsupported modifier (=) in substitution");
        let full = word("${NAME").unwrap_err().to_string();
        assert_eq!(full, "failed to process \"${NAME\": syntax error: missing '}'");
    }

    #[test]
    fn word_splitting() {
        let lx = ShellLexer::new('\\');
        let e = env();
        assert_eq!(lx.process_words("a $SPACED z", &e).unwrap(), ["a", "a", "b", "c", "z"]);
        assert_eq!(lx.process_words("\"$SPACED\"", &e).unwrap(), ["  a b  c "]);
        assert_eq!(lx.process_words("x${SPACED}y", &e).unwrap(), ["x", "a", "b", "c", "y"]);
        assert_eq!(lx.process_words(r"a\ b c", &e).unwrap(), ["a b", "c"]);
        assert_eq!(lx.process_words("80/tcp   443", &e).unwrap(), ["80/tcp", "443"]);
    }

    #[test]
    fn records_matched_and_unmatched() {
        let r = ShellLexer::new('\\').process("$NAME ${NOPE:-x}", &env()).unwrap();
        assert!(r.matched.contains("NAME"));
        assert!(r.unmatched.contains("NOPE"));
    }

    #[test]
    fn skip_unset_keeps_references() {
        let mut lx = ShellLexer::new('\\');
        lx.skip_unset_env = true;
        assert_eq!(lx.process_word("$A ${B} ${C:-d} $NAME", &env()).unwrap(), "$A ${B} ${C:-d} world");
    }

    #[test]
    fn detects_expansion() {
        assert!(has_expansion("$X", '\\'));
        assert!(has_expansion("'a'", '\\'));
        assert!(!has_expansion("builder", '\\'));
    }
}
