//! `.dockerignore` with Docker's exact rules (moby/patternmatcher and
//! ignorefile): lines starting with `#` are comments, patterns are trimmed
//! and `filepath.Clean`ed, a leading `/` is dropped, `!` re-includes, the last
//! matching pattern wins, `*`/`?`/`[...]` never cross `/`, `**` crosses any
//! number of directories, and a pattern that matches a directory matches
//! everything below it.

use std::path::Path;

use regex::Regex;
use thiserror::Error;

/// A `.dockerignore` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    BareExclamation,
    #[error("syntax error in pattern: {0:?}")]
    BadPattern(String),
    #[error("failed to read {path}: {message}")]
    Read { path: String, message: String },
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact,
    /// `dir/**`: anything that starts with `dir`.
    Prefix(String),
    /// `**/name`: anything that ends with `/name` or is `name`.
    Suffix(String),
    Regex(Regex),
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct IgnorePattern {
    /// The cleaned pattern without its `!`.
    pub pattern: String,
    /// A `!` pattern: re-includes what it matches.
    pub exclusion: bool,
    segments: usize,
    matcher: Matcher,
}

impl IgnorePattern {
    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => path == self.pattern,
            Matcher::Prefix(p) => path.starts_with(p.as_str()),
            Matcher::Suffix(s) => path.ends_with(s.as_str()) || (s.starts_with('/') && path == &s[1..]),
            Matcher::Regex(re) => re.is_match(path),
        }
    }
}

/// Which patterns matched a directory, so its children need not recheck them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentMatches(Vec<bool>);

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<IgnorePattern>,
}

/// Go's `filepath.Clean` for slash paths.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The pattern lines of a `.dockerignore`, normalised as Docker's
/// `ignorefile.ReadAll` does.
pub fn read_patterns(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = if i == 0 { line.strip_prefix('\u{feff}').unwrap_or(line) } else { line };
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = clean(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        out.push(if invert { format!("!{p}") } else { p });
    }
    out
}

/// Checks the syntax `filepath.Match` accepts: closed `[...]` classes with
/// valid ranges and no trailing `\`.
fn validate_glob(p: &str) -> bool {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return false;
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut n = 0;
                loop {
                    let Some(&c) = chars.get(i) else { return false };
                    if c == ']' && n > 0 {
                        i += 1;
                        break;
                    }
                    let lo = if c == '\\' {
                        i += 1;
                        match chars.get(i) {
                            Some(&e) => e,
                            None => return false,
                        }
                    } else {
                        c
                    };
                    i += 1;
                    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
                        i += 1;
                        let mut hi = chars[i];
                        if hi == '\\' {
                            i += 1;
                            match chars.get(i) {
                                Some(&e) => hi = e,
                                None => return false,
                            }
                        }
                        if hi < lo {
                            return false;
                        }
                        i += 1;
                    }
                    n += 1;
                }
            }
            _ => i += 1,
        }
    }
    true
}

fn compile(pattern: &str) -> Result<Matcher, IgnoreError> {
    let bad = || IgnoreError::BadPattern(pattern.to_string());
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => {
                if let Some(&next) = chars.get(i) {
                    i += 1;
                    re.push_str(&regex::escape(&next.to_string()));
                    kind = Kind::Regex;
                } else {
                    re.push_str("\\\\");
                }
            }
            '[' | ']' => {
                re.push(ch);
                kind = Kind::Regex;
            }
            '^' => {
                // Only meaningful inside a class, where Go passes it through too.
                re.push('^');
            }
            c => re.push(c),
        }
        first = false;
    }
    Ok(match kind {
        Kind::Exact => Matcher::Exact,
        Kind::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Kind::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Kind::Regex => {
            re.push('$');
            Matcher::Regex(Regex::new(&re).map_err(|_| bad())?)
        }
    })
}

impl DockerIgnore {
    /// Compiles the text of a `.dockerignore`.
    pub fn parse(text: &str) -> Result<Self, IgnoreError> {
        Self::from_patterns(&read_patterns(text))
    }

    /// Reads `<dockerfile>.dockerignore` when it exists (BuildKit's
    /// per-Dockerfile ignore file), else `<context>/.dockerignore`, else nothing.
    pub fn load(context_dir: &Path, dockerfile: Option<&Path>) -> Result<Self, IgnoreError> {
        let mut candidates = Vec::new();
        if let Some(df) = dockerfile {
            let mut name = df.as_os_str().to_owned();
            name.push(".dockerignore");
            candidates.push(std::path::PathBuf::from(name));
        }
        candidates.push(context_dir.join(".dockerignore"));
        for path in candidates {
            match std::fs::read(&path) {
                Ok(bytes) => return Self::parse(&String::from_utf8_lossy(&bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(IgnoreError::Read {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })
                }
            }
        }
        Ok(Self::default())
    }

    /// Compiles patterns as Docker's `patternmatcher.New` does.
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<Self, IgnoreError> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(IgnoreError::BareExclamation);
                }
                exclusion = true;
                p = rest.to_string();
            }
            if !validate_glob(&p) {
                return Err(IgnoreError::BadPattern(p));
            }
            let matcher = compile(&p)?;
            out.push(IgnorePattern {
                segments: p.split('/').count(),
                pattern: p,
                exclusion,
                matcher,
            });
        }
        Ok(DockerIgnore { patterns: out })
    }

    /// The compiled patterns, in order.
    pub fn patterns(&self) -> &[IgnorePattern] {
        &self.patterns
    }

    /// True when any pattern starts with `!`.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether the context-relative `path` (slash-separated) is ignored.
    /// A pattern also matches when it matches the leading directories of the
    /// path that are as deep as the pattern.
    pub fn matches(&self, path: &str) -> bool {
        let path = clean(path);
        if path == "." {
            return false;
        }
        let parent = match path.rfind('/') {
            Some(i) => &path[..i],
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(&path);
            if !m && parent != "." && p.segments <= parent_dirs.len() {
                m = p.matches(&parent_dirs[..p.segments].join("/"));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether `path` is ignored, reusing which patterns matched its parent
    /// directory (what the context walk uses). Pass the default for
    /// top-level entries.
    pub fn matches_under(&self, path: &str, parent: &ParentMatches) -> (bool, ParentMatches) {
        let mut info = vec![false; self.patterns.len()];
        let mut matched = false;
        for (i, p) in self.patterns.iter().enumerate() {
            let mut m = parent.0.get(i).copied().unwrap_or(false);
            if !m {
                if p.exclusion != matched {
                    continue;
                }
                m = p.matches(path);
                if !m && parent.0.is_empty() {
                    if let Some(idx) = path.rfind('/') {
                        let dirs: Vec<&str> = path[..idx].split('/').collect();
                        m = (1..=dirs.len()).any(|n| p.matches(&dirs[..n].join("/")));
                    }
                }
            }
            info[i] = m;
            if m {
                matched = !p.exclusion;
            }
        }
        (matched, ParentMatches(info))
    }

    /// The patterns Docker's CLI sends the context with: if the Dockerfile
    /// or `.dockerignore` itself is ignored, it is re-included (the builder
    /// needs to read them; COPY still honours the original patterns).
    pub fn for_context_upload(&self, dockerfile_rel: &str) -> DockerIgnore {
        let mut out = self.clone();
        for keep in [".dockerignore", dockerfile_rel] {
            if self.matches(keep) {
                let p = clean(keep);
                if let Ok(matcher) = compile(&p) {
                    out.patterns.push(IgnorePattern {
                        segments: p.split('/').count(),
                        pattern: p,
                        exclusion: true,
                        matcher,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn go_clean() {
        assert_eq!(clean("a//b/./c/"), "a/b/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../a/../.."), "../..");
        assert_eq!(clean("./"), ".");
    }

    #[test]
    fn reading_normalises() {
        let p = read_patterns("\u{feff}# comment\n  /foo/bar/  \n\n! baz/../qux\n #not comment\n/\n");
        assert_eq!(p, ["foo/bar", "!qux", "#not comment", "/"]);
    }

    #[test]
    fn exact_and_directory_matches() {
        let i = ig("node_modules\n/build\n");
        assert!(i.matches("node_modules"));
        assert!(i.matches("node_modules/x/y.js"));
        assert!(i.matches("build/out"));
        assert!(!i.matches("src/node_modules"));
        assert!(!i.matches("buildx"));
    }

    #[test]
    fn star_and_question_stay_in_one_segment() {
        let i = ig("*.log\ntmp?\n*/cache\n");
        assert!(i.matches("a.log"));
        assert!(!i.matches("dir/a.log"));
        assert!(i.matches("tmp1"));
        assert!(!i.matches("tmp12"));
        assert!(i.matches("x/cache"));
        assert!(i.matches("x/cache/deep/file"));
        assert!(!i.matches("x/y/cache"));
    }

    #[test]
    fn double_star() {
        let i = ig("**/*.go\n");
        assert!(i.matches("a.go"));
        assert!(i.matches("x/y/z.go"));
        let i = ig("docs/**\n");
        assert!(i.matches("docs/a/b"));
        assert!(!i.matches("docs"), "docs/** is a prefix match on docs/");
        let i = ig("a/**/b\n");
        assert!(i.matches("a/b"));
        assert!(i.matches("a/x/y/b"));
        assert!(!i.matches("a/x/c"));
        let i = ig("**\n");
        assert!(i.matches("anything/at/all"));
    }

    #[test]
    fn character_classes_and_escapes() {
        let i = ig("file[0-9].txt\nlit\\*\n");
        assert!(i.matches("file3.txt"));
        assert!(!i.matches("filex.txt"));
        assert!(i.matches("lit*"));
        assert!(!i.matches("litx"));
        assert!(DockerIgnore::parse("[z-a]\n").is_err());
        assert!(DockerIgnore::parse("[abc\n").is_err());
    }

    #[test]
    fn exceptions_and_last_match_wins() {
        let i = ig("*.md\n!README.md\n");
        assert!(i.matches("CHANGES.md"));
        assert!(!i.matches("README.md"));
        let i = ig("!README.md\n*.md\n");
        assert!(i.matches("README.md"));
        let i = ig("docs\n!docs/keep.txt\n");
        assert!(i.matches("docs/other"));
        assert!(!i.matches("docs/keep.txt"));
        assert_eq!(DockerIgnore::parse("!\n").unwrap_err(), IgnoreError::BareExclamation);
    }

    #[test]
    fn dockerfile_and_ignore_file_are_still_sent() {
        let i = ig("*\n");
        assert!(i.matches("Dockerfile"));
        let upload = i.for_context_upload("Dockerfile");
        assert!(!upload.matches("Dockerfile"));
        assert!(!upload.matches(".dockerignore"));
        assert!(upload.matches("src"));
        let i = ig("src\n");
        assert_eq!(i.for_context_upload("Dockerfile").patterns().len(), 1);
    }

    #[test]
    fn parent_results() {
        let i = ig("a\n!a/b\n");
        let (m, info) = i.matches_under("a", &ParentMatches::default());
        assert!(m);
        let (m, _) = i.matches_under("a/b", &info);
        assert!(!m);
        let (m, _) = i.matches_under("a/c", &info);
        assert!(m);
    }

    #[test]
    fn per_dockerfile_ignore_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "a\n").unwrap();
        std::fs::write(dir.path().join("app.Dockerfile.dockerignore"), "b\n").unwrap();
        let df = dir.path().join("app.Dockerfile");
        let i = DockerIgnore::load(dir.path(), Some(&df)).unwrap();
        assert!(i.matches("b") && !i.matches("a"));
        let i = DockerIgnore::load(dir.path(), Some(&dir.path().join("Dockerfile"))).unwrap();
        assert!(i.matches("a") && !i.matches("b"));
    }
}
