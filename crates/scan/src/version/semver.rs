//! Semantic Versioning 2.0 precedence (npm, crates.io, Go modules): the `semver`
//! crate parses; build metadata is ignored, as the spec says (the crate's own `Ord`
//! does not ignore it). Go's leading `v` and short forms like `1.2` are accepted.

use std::cmp::Ordering;

pub fn parse(v: &str) -> Option<::semver::Version> {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    if let Ok(p) = ::semver::Version::parse(v) {
        return Some(p);
    }
    // `1.2` / `1` (seen in advisories): pad the core to three numbers.
    let split = v.find(['-', '+']).unwrap_or(v.len());
    let (core, tail) = v.split_at(split);
    let parts = core.split('.').count();
    if (1..3).contains(&parts) && core.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        let padded = format!("{core}{}{tail}", ".0".repeat(3 - parts));
        return ::semver::Version::parse(&padded).ok();
    }
    None
}

pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    Some((a.major, a.minor, a.patch, &a.pre).cmp(&(b.major, b.minor, b.patch, &b.pre)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn semver_order() {
        let cases = [
            ("1.0.0", "1.0.0", Equal),
            ("1.0.0-alpha", "1.0.0", Less),
            ("1.0.0-alpha", "1.0.0-alpha.1", Less),
            ("1.0.0-alpha.1", "1.0.0-alpha.beta", Less),
            ("1.0.0-beta.2", "1.0.0-beta.11", Less),
            ("1.0.0-rc.1", "1.0.0", Less),
            ("1.0.0+build.1", "1.0.0+build.2", Equal),
            ("v1.2.3", "1.2.3", Equal),
            ("v0.0.0-20210101000000-abcdef123456", "v0.1.0", Less),
            ("2.0.0+incompatible", "2.0.1", Less),
            ("1.2", "1.2.0", Equal),
            ("1.10.0", "1.9.9", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), Some(want), "{a} vs {b}");
            assert_eq!(compare(b, a), Some(want.reverse()), "{b} vs {a}");
        }
        assert_eq!(compare("(devel)", "1.0.0"), None);
        assert_eq!(compare("1.0.0.0", "1.0.0"), None);
    }
}
