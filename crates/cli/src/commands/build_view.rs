//! `berth build`'s live terminal view, drawn from the classic builder's JSON stream as
//! BuildKit draws its own: each step on one line with its time (ticking while it runs)
//! or a CACHED mark, the last lines of the running step's output beneath it, and a
//! `[+] Building 3.2s (5/12)` status line.
//!
//! Finished steps are printed once, for good; only the running step, its output tail
//! and the status line are redrawn (cursor up, clear line). So the redrawn region never
//! outgrows the terminal, and what scrolled off stays correct.

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

/// Output lines kept under the running step.
const TAIL: usize = 6;
/// Output lines kept for a step, shown in full when the build fails in it.
const KEEP: usize = 200;

struct Step {
    /// `[3/12] RUN echo hi`
    title: String,
    start: Instant,
    cached: bool,
    output: VecDeque<String>,
}

pub struct TtyView<W: Write> {
    out: W,
    width: usize,
    started: Instant,
    running: Option<Step>,
    done: usize,
    total: usize,
    /// Lines of the live region on screen now.
    drawn: usize,
    /// A partial output line (the stream may split lines anywhere).
    pending: String,
    /// docker's closing lines ("Successfully built …"), printed after the view.
    trailer: Vec<String>,
}

impl<W: Write> TtyView<W> {
    pub fn new(out: W, width: usize, now: Instant) -> TtyView<W> {
        TtyView { out, width: width.max(20), started: now, running: None, done: 0, total: 0, drawn: 0, pending: String::new(), trailer: Vec::new() }
    }

    /// Takes a piece of the builder's `stream` text.
    pub fn text(&mut self, s: &str, now: Instant) {
        self.pending.push_str(s);
        while let Some(i) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=i).collect();
            self.line(line.trim_end_matches(['\n', '\r']), now);
        }
        self.draw(now);
    }

    fn line(&mut self, line: &str, now: Instant) {
        let line = printable(line);
        let line = line.as_str();
        if let Some(rest) = line.strip_prefix("Step ") {
            // "Step 3/12 : RUN echo hi"
            let (count, what) = rest.split_once(" : ").unwrap_or((rest, ""));
            if let Some((_, total)) = count.split_once('/') {
                self.total = total.trim().parse().unwrap_or(self.total);
            }
            self.finish_step(now);
            self.running = Some(Step { title: format!("[{count}] {what}"), start: now, cached: false, output: VecDeque::new() });
        } else if line.trim() == "---> Using cache" {
            if let Some(s) = &mut self.running {
                s.cached = true;
            }
        } else if line.starts_with(" ---> ") || line.starts_with("Removing intermediate container") {
            // The classic builder's container and image ids: not shown, as in BuildKit.
        } else if line.starts_with("Successfully built ") || line.starts_with("Successfully tagged ") {
            self.trailer.push(line.to_owned());
        } else if let Some(s) = &mut self.running {
            if s.output.len() == KEEP {
                s.output.pop_front();
            }
            s.output.push_back(line.to_owned());
        } else {
            self.trailer.push(line.to_owned());
        }
    }

    /// The running step is over: printed for good above the live region.
    fn finish_step(&mut self, now: Instant) {
        let Some(s) = self.running.take() else { return };
        self.done += 1;
        let line = self.step_line(&s, now);
        self.clear();
        let _ = writeln!(self.out, "{line}");
    }

    fn step_line(&self, s: &Step, now: Instant) -> String {
        let time = if s.cached { "0.0s".to_owned() } else { secs(now - s.start) };
        let title = if s.cached { format!(" => CACHED {}", s.title) } else { format!(" => {}", s.title) };
        fit(&title, &time, self.width)
    }

    /// The live region: the running step, its output tail, the status line.
    pub fn frame(&self, now: Instant, finished: bool) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(s) = &self.running {
            lines.push(self.step_line(s, now));
            for l in s.output.iter().skip(s.output.len().saturating_sub(TAIL)) {
                lines.push(cut(&format!(" => => # {l}"), self.width));
            }
        }
        let total = self.total.max(self.done + usize::from(self.running.is_some()));
        let done = self.done + usize::from(finished && self.running.is_some());
        let mut status = format!("[+] Building {} ({done}/{total})", secs(now - self.started));
        if finished {
            status.push_str(" FINISHED");
        }
        lines.push(cut(&status, self.width));
        lines
    }

    /// Moves to the top of the live region and clears it.
    fn clear(&mut self) {
        if self.drawn > 0 {
            let _ = write!(self.out, "\x1b[{}A", self.drawn);
            let _ = write!(self.out, "\x1b[0J");
            self.drawn = 0;
        }
    }

    /// Redraws the live region (the ticker calls this too, so running times move).
    pub fn draw(&mut self, now: Instant) {
        let lines = self.frame(now, false);
        self.clear();
        for l in &lines {
            let _ = writeln!(self.out, "{l}");
        }
        self.drawn = lines.len();
        let _ = self.out.flush();
    }

    /// The build ended: the last step and the status line stay on screen; on failure
    /// the failing step's whole output (what it kept) is printed under it.
    pub fn finish(&mut self, now: Instant, ok: bool) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.line(&rest, now);
        }
        self.clear();
        let failed = if ok { None } else { self.running.as_ref().map(|s| (s.title.clone(), s.output.clone())) };
        let lines = self.frame(now, ok);
        for l in lines.iter().take_while(|l| !l.starts_with(" => => # ")) {
            if !l.starts_with("[+]") {
                let _ = writeln!(self.out, "{l}");
            }
        }
        if let Some((title, output)) = failed {
            let _ = writeln!(self.out, "------\n > {title}:");
            for l in &output {
                let _ = writeln!(self.out, "{l}");
            }
            let _ = writeln!(self.out, "------");
        }
        if let Some(status) = lines.last() {
            let _ = writeln!(self.out, "{status}");
        }
        for l in &self.trailer {
            let _ = writeln!(self.out, "{l}");
        }
        let _ = self.out.flush();
    }
}

/// What a line shows on a terminal, made safe for the redrawn region: a progress bar's
/// `\r` redraws keep only the last, escape sequences and other control characters go,
/// tabs become spaces (the column count must be the character count).
fn printable(line: &str) -> String {
    let last = line.trim_end_matches('\r').rsplit('\r').next().unwrap_or("");
    let mut out = String::with_capacity(last.len());
    let mut chars = last.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI sequences end with a letter; other escapes are two characters.
                if chars.next() == Some('[') {
                    for d in chars.by_ref() {
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\t' => out.push_str("    "),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// `left` and `right` on one line of `width` columns, `left` cut to make room.
fn fit(left: &str, right: &str, width: usize) -> String {
    let room = width.saturating_sub(right.chars().count() + 2);
    let left = cut(left, room);
    let pad = width.saturating_sub(left.chars().count() + right.chars().count() + 1);
    format!("{left}{}{right}", " ".repeat(pad.max(1)))
}

/// At most `width - 1` columns (a full line would wrap on some terminals).
fn cut(s: &str, width: usize) -> String {
    let max = width.saturating_sub(1);
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max.saturating_sub(3)).collect();
    t.push_str("...");
    t
}

/// The terminal's width in columns (80 when it cannot be told).
pub fn terminal_width(fd: i32) -> usize {
    // SAFETY: TIOCGWINSZ fills the winsize struct we pass.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text without the cursor movements (`ESC [ … letter`).
    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
                continue;
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn steps_are_timed_cached_marked_and_committed() {
        let t0 = Instant::now();
        let mut v = TtyView::new(Vec::new(), 60, t0);
        v.text("Step 1/3 : FROM busybox\n", t0);
        v.text(" ---> 1234\nStep 2/3 : RUN echo one\n ---> Using cache\n ---> abcd\n", t0 + Duration::from_millis(100));
        v.text("Step 3/3 : RUN sha256sum /big\n ---> Running in ffff\n", t0 + Duration::from_millis(200));
        v.text("first line\nsecond ", t0 + Duration::from_millis(300));
        // While step 3 runs: the live region is the step, its output, the status.
        let frame = v.frame(t0 + Duration::from_millis(1500), false);
        assert_eq!(frame.len(), 3, "{frame:?}");
        assert!(frame[0].starts_with(" => [3/3] RUN sha256sum /big") && frame[0].ends_with("1.3s"), "{frame:?}");
        assert_eq!(frame[1], " => => # first line");
        assert_eq!(frame[2], "[+] Building 1.5s (2/3)");
        v.text("line\n ---> 9999\nSuccessfully built 9999\nSuccessfully tagged app:latest\n", t0 + Duration::from_millis(2000));
        v.finish(t0 + Duration::from_millis(2100), true);
        let text = strip(&String::from_utf8(v.out.clone()).unwrap());
        // The final screen, once the redrawn parts are gone: the committed lines.
        let committed: Vec<&str> = text.lines().filter(|l| l.starts_with(" => [") || l.starts_with(" => CACHED") || l.starts_with("[+]") || l.starts_with("Successfully")).collect();
        assert!(committed.iter().any(|l| l.starts_with(" => [1/3] FROM busybox")), "{text}");
        assert!(committed.iter().any(|l| l.starts_with(" => CACHED [2/3] RUN echo one") && l.ends_with("0.0s")), "{text}");
        assert!(committed.iter().any(|l| l.starts_with(" => [3/3] RUN sha256sum /big") && l.ends_with("1.9s")), "{text}");
        assert_eq!(text.lines().filter(|l| l.contains("FINISHED")).collect::<Vec<_>>(), vec!["[+] Building 2.1s (3/3) FINISHED"]);
        assert!(text.ends_with("Successfully built 9999\nSuccessfully tagged app:latest\n"), "{text}");
        // Lines never exceed the width.
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
    }

    #[test]
    fn a_failed_step_shows_its_whole_output() {
        let t0 = Instant::now();
        let mut v = TtyView::new(Vec::new(), 80, t0);
        v.text("Step 1/2 : FROM busybox\nStep 2/2 : RUN false\n", t0);
        for i in 0..10 {
            v.text(&format!("out {i}\n"), t0);
        }
        v.finish(t0 + Duration::from_secs(1), false);
        let text = strip(&String::from_utf8(v.out.clone()).unwrap());
        let tail = &text[text.rfind("------\n > [2/2] RUN false:").expect(&text)..];
        for i in 0..10 {
            assert!(tail.contains(&format!("\nout {i}\n")), "{tail}");
        }
        assert!(text.trim_end().ends_with("[+] Building 1.0s (1/2)"), "{text}");
        assert!(!text.contains("FINISHED"));
    }

    #[test]
    fn output_is_made_printable() {
        assert_eq!(printable("10%\r50%\r100% done\r"), "100% done");
        assert_eq!(printable("\x1b[31mred\x1b[0m\tend\x07"), "red    end");
    }

    #[test]
    fn long_titles_are_cut_to_the_width() {
        assert_eq!(cut("abcdefghij", 8), "abcd...");
        let l = fit(" => [1/1] RUN a very long command line indeed", "12.3s", 30);
        assert_eq!(l.chars().count(), 29, "{l}");
        assert!(l.ends_with(" 12.3s") && l.contains("..."), "{l}");
    }
}
