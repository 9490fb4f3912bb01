//! The per-layer progress of `pull`, `push` and `load`, drawn as the docker CLI draws
//! its JSON message stream (its `jsonmessage.DisplayJSONMessagesStream`): on a terminal
//! each layer id owns a line that is rewritten in place (cursor up, clear, redraw,
//! cursor down) with a `[====>   ]  12.3MB/45.6MB` bar; elsewhere only the status
//! changes are printed, one line each, and byte counts are left out.
//!
//! Hand-written rather than indicatif: docker's output is a line protocol (ids, statuses
//! and bars interleaved with plain status lines, rewritten by relative cursor moves),
//! and scripts and users compare it with docker's; indicatif draws its own layout.

use std::collections::HashMap;
use std::io::Write;

use berth_api::JsonMessage;

use crate::units::human_size;

/// Draws a JSON message stream on `out`.
pub struct Display<W: Write> {
    out: W,
    terminal: bool,
    /// Terminal columns: the bar is drawn only on wide terminals, as docker does.
    width: u16,
    /// Line index (from the first progress line) of each id being drawn.
    lines: HashMap<String, usize>,
}

impl<W: Write> Display<W> {
    pub fn new(out: W, terminal: bool, width: u16) -> Display<W> {
        Display { out, terminal, width, lines: HashMap::new() }
    }

    /// Shows one message (errors are the caller's: they end the stream).
    pub fn show(&mut self, m: &JsonMessage) {
        let Some(status) = m.status.as_deref() else {
            if let Some(s) = &m.stream {
                let _ = write!(self.out, "{s}");
            }
            return;
        };
        let has_progress = m.progress_detail.is_some();
        let mut moved = 0;
        match &m.id {
            Some(id) if has_progress => {
                let line = match self.lines.get(id) {
                    Some(l) => *l,
                    None => {
                        let l = self.lines.len();
                        self.lines.insert(id.clone(), l);
                        if self.terminal {
                            let _ = writeln!(self.out);
                        }
                        l
                    }
                };
                moved = self.lines.len() - line;
                if self.terminal {
                    let _ = write!(self.out, "\x1b[{moved}A");
                }
            }
            // A line no id owns: the lines above are done being redrawn.
            _ => self.lines.clear(),
        }
        let bar = m.progress_detail.as_ref().map(|p| bar(p.current.unwrap_or(0), p.total.unwrap_or(0), self.width)).unwrap_or_default();
        let id = m.id.as_deref().map(|i| format!("{i}: ")).unwrap_or_default();
        if self.terminal && has_progress {
            let _ = write!(self.out, "\x1b[2K\r{id}{status} {bar}\r");
        } else if !bar.is_empty() {
            // Byte counts are for terminals only.
        } else {
            let _ = writeln!(self.out, "{id}{status}");
        }
        if self.terminal && m.id.is_some() && moved > 0 {
            let _ = write!(self.out, "\x1b[{moved}B");
        }
        let _ = self.out.flush();
    }
}

/// docker's `JSONProgress.String()` without the time left (berthd sends no start time):
/// `[=====>      ]  12.3MB/45.6MB`, the bar only on terminals wider than 110 columns.
pub fn bar(current: i64, total: i64, width: u16) -> String {
    if current <= 0 && total <= 0 {
        return String::new();
    }
    let cur = human_size(current.max(0) as f64);
    if total <= 0 {
        return format!("{cur:>8}");
    }
    let filled = ((current as f64 / total as f64 * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let boxed = if width > 110 { format!("[{}>{}] ", "=".repeat(filled), " ".repeat(50 - filled)) } else { String::new() };
    let numbers = if current > total { format!("{cur:>8}") } else { format!("{cur:>8}/{}", human_size(total as f64)) };
    boxed + &numbers
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::message::ProgressDetail;

    fn msg(id: Option<&str>, status: &str, detail: Option<(i64, i64)>) -> JsonMessage {
        JsonMessage {
            id: id.map(str::to_owned),
            status: Some(status.to_owned()),
            progress_detail: detail.map(|(c, t)| ProgressDetail { current: (c > 0).then_some(c), total: (t > 0).then_some(t) }),
            ..Default::default()
        }
    }

    #[test]
    fn bars_as_docker_draws_them() {
        assert_eq!(bar(0, 0, 200), "");
        assert_eq!(bar(1_500, 0, 200), "   1.5kB");
        assert_eq!(bar(5_000_000, 10_000_000, 200), format!("[{}>{}]      5MB/10MB", "=".repeat(25), " ".repeat(25)));
        assert_eq!(bar(5_000_000, 10_000_000, 80), "     5MB/10MB");
        assert_eq!(bar(10_000_000, 10_000_000, 200), format!("[{}>]     10MB/10MB", "=".repeat(50)));
    }

    #[test]
    fn a_terminal_rewrites_each_layer_line_in_place() {
        let mut d = Display::new(Vec::new(), true, 200);
        d.show(&msg(None, "Pulling from library/x", None));
        d.show(&msg(Some("aaa"), "Pulling fs layer", Some((0, 0))));
        d.show(&msg(Some("bbb"), "Pulling fs layer", Some((0, 0))));
        d.show(&msg(Some("aaa"), "Downloading", Some((500, 1000))));
        d.show(&msg(None, "Digest: sha256:00", None));
        let out = String::from_utf8(d.out).unwrap();
        // The new ids add a line each; "aaa" is two lines up from the bottom when redrawn.
        assert_eq!(
            out,
            format!(
                "Pulling from library/x\n\n\x1b[1A\x1b[2K\raaa: Pulling fs layer \r\x1b[1B\n\x1b[1A\x1b[2K\rbbb: Pulling fs layer \r\x1b[1B\x1b[2A\x1b[2K\raaa: Downloading [{}>{}]     500B/1kB\r\x1b[2BDigest: sha256:00\n",
                "=".repeat(25),
                " ".repeat(25)
            )
        );
    }

    #[test]
    fn elsewhere_only_status_changes_are_printed() {
        let mut d = Display::new(Vec::new(), false, 200);
        d.show(&msg(Some("aaa"), "Pulling fs layer", Some((0, 0))));
        d.show(&msg(Some("aaa"), "Downloading", Some((500, 1000))));
        d.show(&msg(Some("aaa"), "Pull complete", Some((0, 0))));
        d.show(&msg(None, "Status: Downloaded newer image for x:latest", None));
        assert_eq!(String::from_utf8(d.out).unwrap(), "aaa: Pulling fs layer\naaa: Pull complete\nStatus: Downloaded newer image for x:latest\n");
    }
}
