//! A fallback order for ecosystems without a scheme of their own: runs of digits
//! compare as numbers, other runs as text, and a longer version after its prefix.

use std::cmp::Ordering;

fn runs(v: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let digit = b[i].is_ascii_digit();
        let start = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() && b[i].is_ascii_digit() == digit {
            i += 1;
        }
        out.push((digit, &v[start..i]));
    }
    out
}

pub fn compare(a: &str, b: &str) -> Ordering {
    let (ra, rb) = (runs(a), runs(b));
    for ((da, sa), (db, sb)) in ra.iter().zip(&rb) {
        let o = match (da, db) {
            (true, true) => {
                let (x, y) = (sa.trim_start_matches('0'), sb.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => sa.cmp(sb),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ra.len().cmp(&rb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_order() {
        assert_eq!(compare("1.2.10", "1.2.9"), Ordering::Greater);
        assert_eq!(compare("1.2", "1.2.0"), Ordering::Less);
        assert_eq!(compare("r10", "r9"), Ordering::Greater);
        assert_eq!(compare("1.0", "1.0"), Ordering::Equal);
    }
}
