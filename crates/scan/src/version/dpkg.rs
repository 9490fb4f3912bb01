//! dpkg's version order (deb-version(7)): `[epoch:]upstream[-revision]`, compared part
//! by part with `verrevcmp`: runs of non-digits by character, where `~` sorts before
//! everything (even the end of the string) and letters before other characters, then
//! runs of digits numerically.

use std::cmp::Ordering;

/// A dpkg version's three parts.
fn split(v: &str) -> Option<(u64, &str, &str)> {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (e.parse().ok()?, r),
        None => (0, v),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    if upstream.is_empty() || !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((epoch, upstream, revision))
}

pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (ea, ua, ra) = split(a)?;
    let (eb, ub, rb) = split(b)?;
    Some(ea.cmp(&eb).then_with(|| verrevcmp(ua, ub)).then_with(|| verrevcmp(ra, rb)))
}

/// The weight of a character in a non-digit run (0 is the end of the string).
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn dpkg_order() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0", "1.0+dfsg", Less),
            ("1.0-1", "1.0-1+deb12u1", Less),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("1:0.9", "2.0", Greater),
            ("2.0", "1:0.1", Less),
            ("1.10", "1.9", Greater),
            ("1.010", "1.10", Equal),
            ("1.0a", "1.0-", Greater),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("1.2.3-1", "1.2.3-1.1", Less),
            ("7.88.1-10+deb12u5", "7.88.1-10+deb12u5", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), Some(want), "{a} vs {b}");
            assert_eq!(compare(b, a), Some(want.reverse()), "{b} vs {a}");
        }
        assert_eq!(compare("x:1.0", "1.0"), None, "bad epoch");
        assert_eq!(compare("abc", "1.0"), None, "upstream must start with a digit");
    }
}
