//! The two word splitters the line parser uses before any expansion:
//! builder flags (`--x=y` at the start of the arguments) and quote-aware
//! words for ENV/LABEL/ARG, which keep quotes and escapes for the expander.

/// Splits leading `--flag[=value]` words off `line`; returns the remaining
/// arguments and the flags (quotes and escapes inside flags resolved).
/// A bare `--` ends the flags and is dropped.
pub(crate) fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        // Between words: stop at the first word that does not start with `--`.
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            return (String::new(), flags);
        }
        let starts_flag = chars[i].1 == '-' && chars.get(i + 1).map(|c| c.1) == Some('-');
        if !starts_flag {
            return (line[chars[i].0..].to_string(), flags);
        }
        let mut quote: Option<char> = None;
        loop {
            let Some(&(byte_pos, ch)) = chars.get(i) else {
                if word != "--" && (blank_ok || !word.is_empty()) {
                    flags.push(std::mem::take(&mut word));
                }
                return (String::new(), flags);
            };
            match quote {
                None => {
                    if ch.is_whitespace() {
                        if word == "--" {
                            return (line[byte_pos..].to_string(), flags);
                        }
                        if blank_ok || !word.is_empty() {
                            flags.push(std::mem::take(&mut word));
                        }
                        word.clear();
                        blank_ok = false;
                        break;
                    }
                    if ch == '\'' || ch == '"' {
                        quote = Some(ch);
                        blank_ok = true;
                        i += 1;
                        continue;
                    }
                    if ch == escape {
                        if i + 1 == chars.len() {
                            i += 1;
                            continue;
                        }
                        i += 1;
                        word.push(chars[i].1);
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                }
                Some(q) => {
                    if ch == q {
                        quote = None;
                        i += 1;
                        continue;
                    }
                    if ch == escape {
                        if i + 1 == chars.len() {
                            quote = None;
                            i += 1;
                            continue;
                        }
                        i += 1;
                        word.push(chars[i].1);
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                }
            }
        }
    }
}

/// Splits on whitespace outside quotes, keeping quotes and escapes in the
/// words (the expander removes them later).
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if !in_word {
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            in_word = true;
        }
        match quote {
            None => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    in_word = false;
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    // An unquoted escape keeps itself and the next character,
                    // even when that character is a quote.
                    word.push(ch);
                    i += 1;
                }
                word.push(chars[i]);
                i += 1;
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                // Single quotes escape nothing.
                if ch == escape && q != '\'' {
                    if i + 1 == chars.len() {
                        quote = None;
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                }
                word.push(chars[i]);
                i += 1;
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// Splits on runs of space, tab, CR, VT and FF (Docker's `[\t\v\f\r ]+`).
pub(crate) fn split_whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split([' ', '\t', '\r', '\x0b', '\x0c'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_split_off() {
        let (rest, flags) = extract_builder_flags("--from=build --chown=1:1 src dst", '\\');
        assert_eq!(flags, ["--from=build", "--chown=1:1"]);
        assert_eq!(rest, "src dst");
    }

    #[test]
    fn flag_quotes_and_double_dash() {
        let (rest, flags) = extract_builder_flags("--mount=\"type=cache,target=/a b\" -- --notaflag", '\\');
        assert_eq!(flags, ["--mount=type=cache,target=/a b"]);
        assert_eq!(rest, " --notaflag");
        let (rest, flags) = extract_builder_flags("--link", '\\');
        assert_eq!(flags, ["--link"]);
        assert_eq!(rest, "");
    }

    #[test]
    fn words_keep_quotes() {
        assert_eq!(parse_words(r#"a="b c" d=e\ f"#, '\\'), [r#"a="b c""#, r"d=e\ f"]);
        assert_eq!(parse_words("  x   'y z'  ", '\\'), ["x", "'y z'"]);
        assert_eq!(parse_words(r#"a="x\"y""#, '\\'), [r#"a="x\"y""#]);
    }

    #[test]
    fn whitespace_split() {
        assert_eq!(split_whitespace_delimited("a \t b"), ["a", "b"]);
        assert!(split_whitespace_delimited("").is_empty());
    }
}
