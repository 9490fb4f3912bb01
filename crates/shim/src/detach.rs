//! Docker's detach keys: a client that types the sequence (ctrl-p,ctrl-q by default in
//! the CLI) is let go; the container keeps running. The keys are not passed on, and
//! bytes of a partial match are passed on once the match fails.

#[derive(Debug, Default)]
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> DetachMatcher {
        DetachMatcher { keys, matched: 0 }
    }

    /// Appends the bytes of `input` meant for the process to `out`. Returns true when the
    /// detach sequence is complete (what follows it is discarded).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return true;
                }
                continue;
            }
            // The held bytes were not the sequence after all.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return true;
                }
            } else {
                out.push(b);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_across_reads_and_passes_failed_prefixes() {
        let mut m = DetachMatcher::new(vec![16, 17]);
        let mut out = Vec::new();
        assert!(!m.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        assert!(!m.feed(b"c", &mut out));
        assert_eq!(out, b"ab\x10c");
        assert!(!m.feed(b"\x10\x10", &mut out));
        assert_eq!(out, b"ab\x10c\x10");
        assert!(m.feed(b"\x11rest", &mut out));
        assert_eq!(out, b"ab\x10c\x10");
    }

    #[test]
    fn no_keys_passes_everything() {
        let mut m = DetachMatcher::new(vec![]);
        let mut out = Vec::new();
        assert!(!m.feed(b"\x10\x11", &mut out));
        assert_eq!(out, b"\x10\x11");
    }

    #[test]
    fn single_key() {
        let mut m = DetachMatcher::new(vec![3]);
        let mut out = Vec::new();
        assert!(m.feed(b"x\x03", &mut out));
        assert_eq!(out, b"x");
    }
}
