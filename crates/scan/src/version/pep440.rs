//! PEP 440 (Python) versions: `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the
//! spellings PEP 440 normalises (`alpha`, `beta`, `c`, `pre`, `preview`, `rev`, `r`,
//! `-N` for a post release, separators `-`, `_`, `.`). Order: epoch, release (trailing
//! zeros ignored), then dev < pre < final < post, then local labels.

use std::cmp::Ordering;

/// A sort key; `i64::MIN` / `i64::MAX` stand for "absent" where absence sorts first / last.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    epoch: u64,
    release: Vec<u64>,
    pre: (i64, i64),
    post: i64,
    dev: i64,
    local: Vec<Local>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Local {
    // Declared first, so letters sort before numbers, as PEP 440 asks.
    Text(String),
    Number(u64),
}

struct Cursor<'a> {
    s: &'a str,
}

impl Cursor<'_> {
    fn sep(&mut self) -> bool {
        match self.s.strip_prefix(['.', '-', '_']) {
            Some(r) => {
                self.s = r;
                true
            }
            None => false,
        }
    }
    fn number(&mut self) -> Option<u64> {
        let n = self.s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let (d, rest) = self.s.split_at(n);
        self.s = rest;
        d.parse().ok()
    }
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        // Longest first, so `preview` wins over `pre`.
        let mut best: Option<(usize, usize)> = None;
        for (i, w) in words.iter().enumerate() {
            if self.s.starts_with(w) && best.is_none_or(|(_, l)| w.len() > l) {
                best = Some((i, w.len()));
            }
        }
        let (i, l) = best?;
        self.s = &self.s[l..];
        Some(i)
    }
}

fn key(v: &str) -> Option<Key> {
    let lower = v.trim().to_ascii_lowercase();
    let mut c = Cursor { s: lower.strip_prefix('v').unwrap_or(&lower) };
    let (main, local) = match c.s.split_once('+') {
        Some((m, l)) => (m, Some(l)),
        None => (c.s, None),
    };
    c.s = main;
    let mut epoch = 0;
    if let Some((e, rest)) = c.s.split_once('!') {
        epoch = e.parse().ok()?;
        c.s = rest;
    }
    let mut release = vec![c.number()?];
    while c.s.starts_with('.') && c.s[1..].starts_with(|ch: char| ch.is_ascii_digit()) {
        c.s = &c.s[1..];
        release.push(c.number()?);
    }
    while release.len() > 1 && release.last() == Some(&0) {
        release.pop();
    }
    // Pre-release.
    let save = c.s;
    c.sep();
    let mut pre = None;
    if let Some(i) = c.word(&["a", "alpha", "b", "beta", "c", "rc", "pre", "preview"]) {
        let phase = [0, 0, 1, 1, 2, 2, 2, 2][i];
        c.sep();
        pre = Some((phase, c.number().unwrap_or(0) as i64));
    } else {
        c.s = save;
    }
    // Post release: `.post1`, `-1`, `.rev1`, `r1`.
    let save = c.s;
    let mut post = None;
    if let Some(rest) = c.s.strip_prefix('-').filter(|r| r.starts_with(|ch: char| ch.is_ascii_digit())) {
        c.s = rest;
        post = Some(c.number()? as i64);
    } else {
        c.sep();
        if c.word(&["post", "rev", "r"]).is_some() {
            c.sep();
            post = Some(c.number().unwrap_or(0) as i64);
        } else {
            c.s = save;
        }
    }
    let save = c.s;
    c.sep();
    let mut dev = None;
    if c.word(&["dev"]).is_some() {
        c.sep();
        dev = Some(c.number().unwrap_or(0) as i64);
    } else {
        c.s = save;
    }
    if !c.s.is_empty() {
        return None;
    }
    let local = match local {
        Some("") => return None,
        Some(l) => l.split(['.', '-', '_']).map(|p| p.parse().map(Local::Number).unwrap_or_else(|_| Local::Text(p.to_owned()))).collect(),
        None => Vec::new(),
    };
    let pre = match (pre, post, dev) {
        (Some(p), _, _) => p,
        // `1.0.dev1` comes before `1.0a1`.
        (None, None, Some(_)) => (i64::MIN, 0),
        (None, _, _) => (i64::MAX, 0),
    };
    Some(Key { epoch, release, pre, post: post.unwrap_or(i64::MIN), dev: dev.unwrap_or(i64::MAX), local })
}

pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(key(a)?.cmp(&key(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn pep440_order() {
        // PEP 440's own example order, each less than the next.
        let chain = [
            "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456",
            "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456",
            "1.0.15", "1.1.dev1",
        ];
        for w in chain.windows(2) {
            assert_eq!(compare(w[0], w[1]), Some(Less), "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Some(Greater), "{} > {}", w[1], w[0]);
        }
        let same = [("1.0", "1.0.0"), ("1.0alpha1", "1.0a1"), ("1.0-1", "1.0.post1"), ("1.0c1", "1.0rc1"), ("V2.0", "2.0"), ("1.0-rc.1", "1.0rc1"), ("0!1.0", "1.0")];
        for (a, b) in same {
            assert_eq!(compare(a, b), Some(Equal), "{a} == {b}");
        }
        assert_eq!(compare("1!0.1", "2.0"), Some(Greater));
        assert_eq!(compare("2.28.0", "2.31.0"), Some(Less));
        assert_eq!(compare("not a version", "1.0"), None);
        assert_eq!(compare("1.0+", "1.0"), None);
    }
}
