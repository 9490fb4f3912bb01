//! apk's version order (apk-tools, after Gentoo's): `1.2.3[letter][_suffix[N]]…[-rN]`.
//! The first number compares numerically; later ones too, unless either has a leading
//! zero, when they compare as decimal fractions (`1.01 < 1.1`). Suffixes `_alpha`,
//! `_beta`, `_pre`, `_rc` sort before the plain release, `_cvs`, `_svn`, `_git`, `_hg`,
//! `_p` after it.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq)]
struct Version<'a> {
    numbers: Vec<&'a str>,
    letter: Option<u8>,
    suffixes: Vec<(i32, u64)>,
    revision: u64,
}

/// Suffix weights; 0 is "no suffix".
fn suffix_rank(s: &str) -> Option<i32> {
    Some(match s {
        "alpha" => -4,
        "beta" => -3,
        "pre" => -2,
        "rc" => -1,
        "cvs" => 1,
        "svn" => 2,
        "git" => 3,
        "hg" => 4,
        "p" => 5,
        _ => return None,
    })
}

fn parse(v: &str) -> Option<Version<'_>> {
    let v = v.trim();
    let (main, revision) = match v.rsplit_once("-r") {
        Some((m, r)) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => (m, r.parse().ok()?),
        _ => (v, 0),
    };
    // A `~<hash>` commit id (apk-tools 2.12+) does not take part in the order.
    let main = main.split('~').next().unwrap_or(main);
    let (head, suffix_part) = match main.split_once('_') {
        Some((h, s)) => (h, Some(s)),
        None => (main, None),
    };
    let (nums, letter) = match head.as_bytes().last() {
        Some(c) if c.is_ascii_lowercase() => (&head[..head.len() - 1], Some(*c)),
        _ => (head, None),
    };
    let numbers: Vec<&str> = nums.split('.').collect();
    if numbers.iter().any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let mut suffixes = Vec::new();
    if let Some(s) = suffix_part {
        for part in s.split('_') {
            let split = part.find(|c: char| c.is_ascii_digit()).unwrap_or(part.len());
            let rank = suffix_rank(&part[..split])?;
            let n = if split < part.len() { part[split..].parse().ok()? } else { 0 };
            suffixes.push((rank, n));
        }
    }
    Some(Version { numbers, letter, suffixes, revision })
}

fn cmp_number(a: &str, b: &str, first: bool) -> Ordering {
    if !first && (a.starts_with('0') || b.starts_with('0')) {
        // Decimal fractions: compare as strings without trailing zeros.
        return a.trim_end_matches('0').cmp(b.trim_end_matches('0'));
    }
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    for (i, (x, y)) in a.numbers.iter().zip(&b.numbers).enumerate() {
        let o = cmp_number(x, y, i == 0);
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    let o = a.numbers.len().cmp(&b.numbers.len());
    if o != Ordering::Equal {
        return Some(o);
    }
    let o = a.letter.cmp(&b.letter);
    if o != Ordering::Equal {
        return Some(o);
    }
    for i in 0..a.suffixes.len().max(b.suffixes.len()) {
        let x = a.suffixes.get(i).copied().unwrap_or((0, 0));
        let y = b.suffixes.get(i).copied().unwrap_or((0, 0));
        let o = x.cmp(&y);
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    Some(a.revision.cmp(&b.revision))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn apk_order() {
        let cases = [
            ("1.2.3-r0", "1.2.3-r0", Equal),
            ("1.2.3-r0", "1.2.3-r1", Less),
            ("1.2.3-r10", "1.2.3-r9", Greater),
            ("1.2.3", "1.2.3-r0", Equal),
            ("1.2", "1.2.1", Less),
            ("1.10", "1.9", Greater),
            ("1.01", "1.1", Less),
            ("1.0_alpha1", "1.0_beta1", Less),
            ("1.0_rc2", "1.0", Less),
            ("1.0", "1.0_p1", Less),
            ("1.0_p1", "1.0_p2", Less),
            ("1.0a", "1.0b", Less),
            ("1.0", "1.0a", Less),
            ("3.1.4-r5", "3.1.4_p1-r0", Less),
            ("2.4.58-r0", "2.4.60-r0", Less),
            ("1.36.1-r15", "1.36.1-r29", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), Some(want), "{a} vs {b}");
            assert_eq!(compare(b, a), Some(want.reverse()), "{b} vs {a}");
        }
        assert_eq!(compare("1.0_bogus", "1.0"), None);
        assert_eq!(compare("", "1.0"), None);
    }
}
