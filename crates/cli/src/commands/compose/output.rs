//! What compose prints: progress lines (` Container demo-web-1  Started`) and
//! warnings on stderr, and container log lines on stdout behind a padded,
//! coloured `web-1  | ` prefix.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use berth_compose::engine::logs::{LogSink, Stream};
use berth_compose::engine::{Container, Kind, Progress};

/// Progress on stderr, as compose's plain progress writer.
pub struct Printer {
    pub quiet: bool,
}

impl Progress for Printer {
    fn event(&self, kind: Kind, name: &str, status: &str) {
        if !self.quiet {
            eprintln!(" {} {name}  {status}", kind.as_str());
        }
    }

    fn warning(&self, message: &str) {
        warn(message);
    }
}

/// A warning, as compose (logrus) prints it.
pub fn warn(message: &str) {
    eprintln!("WARN[0000] {message}");
}

/// compose's rainbow: the colour each new container name gets, in turn.
const COLOURS: &[&str] = &["36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1"];

/// Writes log lines of several containers, each behind its name.
pub struct LogPrinter {
    colour: bool,
    prefix: bool,
    /// Width of the name column: the longest name plus one, as compose pads it.
    width: usize,
    assigned: Mutex<BTreeMap<String, &'static str>>,
}

impl LogPrinter {
    /// `names`: every name that will be printed, for the column width.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, colour: bool, prefix: bool) -> LogPrinter {
        let width = names.into_iter().map(str::len).max().unwrap_or(0) + 1;
        LogPrinter { colour, prefix, width, assigned: Mutex::new(BTreeMap::new()) }
    }

    fn prefix_of(&self, name: &str) -> String {
        let padded = format!("{name:<w$} |", w = self.width);
        if !self.colour {
            return padded;
        }
        let mut a = self.assigned.lock().unwrap_or_else(|p| p.into_inner());
        let n = a.len();
        let code = *a.entry(name.to_owned()).or_insert(COLOURS[n % COLOURS.len()]);
        format!("\x1b[{code}m{padded}\x1b[0m")
    }

    /// A line of compose's own about a container (`web-1 exited with code 0`).
    pub fn note(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

impl LogSink for LogPrinter {
    fn line(&self, c: &Container, _stream: Stream, line: &str) {
        let text = if self.prefix { format!("{} {line}", self.prefix_of(&c.short_name())) } else { line.to_owned() };
        // One write per line, so lines of different containers never interleave.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// Whether to colour: `--ansi always|never|auto` and `--no-color`.
pub fn use_colour(ansi: &str, no_color: bool) -> bool {
    !no_color
        && match ansi {
            "always" => true,
            "never" => false,
            _ => crate::commands::is_tty(1) && std::env::var_os("NO_COLOR").is_none(),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_padded_like_compose() {
        let p = LogPrinter::new(["web-1", "worker-12"], false, true);
        assert_eq!(p.prefix_of("web-1"), "web-1      |");
        assert_eq!(p.prefix_of("worker-12"), "worker-12  |");
        let c = LogPrinter::new(["a-1", "b-1"], true, true);
        assert_eq!(c.prefix_of("a-1"), "\x1b[36ma-1  |\x1b[0m");
        assert_eq!(c.prefix_of("b-1"), "\x1b[33mb-1  |\x1b[0m");
        assert_eq!(c.prefix_of("a-1"), "\x1b[36ma-1  |\x1b[0m");
    }
}
