//! The shim's one thread: poll(2) over the signalfd (SIGCHLD), the control socket, the
//! container's output (pipes or pty master), its stdin and the clients. Nothing here
//! blocks on a client or on the container.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_runtime::exec::ExecOptions;
use berth_runtime::Runtime;

use crate::args::{Args, Mode};
use crate::backend::Backend;
use crate::conn::{Attachment, Conn, Phase, ReadResult};
use crate::detach::DetachMatcher;
use crate::exit;
use crate::log::{LogFile, Stream};
use crate::protocol::{ExitStatus, Reply, Request, PID_FILE, SOCKET};
use crate::stdio::{ChildEnds, ConsoleSocket, OwnStdio, ShimEnds};
use crate::sys;

/// Clients' stdin queued for the process beyond this: stop reading from the clients
/// until the process catches up.
const STDIN_HIGH: usize = 256 * 1024;
/// After the exit, output still coming from grandchildren is read up to this much.
const DRAIN_LIMIT: usize = 4 << 20;
/// Slow attach readers get this long to take the last output.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

pub enum Kind {
    Run { backend: Backend },
    Exec { runtime: Runtime, process: Box<oci_spec::runtime::Process>, child: Option<ChildEnds>, console: Option<ConsoleSocket> },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

#[derive(Clone, Copy)]
enum Token {
    Signal,
    Listener,
    Output(Stream),
    Pty,
    Stdin,
    Conn(usize),
}

pub struct Shim {
    args: Args,
    own: OwnStdio,
    kind: Kind,
    sigfd: OwnedFd,
    listener: UnixListener,
    ends: ShimEnds,
    tty: bool,
    log: Option<LogFile>,
    conns: Vec<Conn>,
    status: Status,
    pid: Option<i32>,
    exit: Option<ExitStatus>,
    start_error: Option<String>,
    stdin_buf: Vec<u8>,
    /// Close the process's stdin once `stdin_buf` is written (StdinOnce).
    stdin_close_pending: bool,
    /// The memory cgroup of a container an external runtime made.
    cgroup: Option<PathBuf>,
}

/// How long after a burst of work the shim gives its pages back ([`berth_runtime::sys::trim_resident`]).
const TRIM_AFTER_QUIET: Duration = Duration::from_secs(2);

fn log_err(msg: &str) {
    eprintln!("berth-shim[{}]: {msg}", std::process::id());
}

impl Shim {
    #[allow(clippy::too_many_arguments)]
    pub fn new(args: Args, own: OwnStdio, kind: Kind, sigfd: OwnedFd, listener: UnixListener, ends: ShimEnds, tty: bool, log: Option<LogFile>, pid: Option<i32>, cgroup: Option<PathBuf>) -> Shim {
        Shim {
            args,
            own,
            kind,
            sigfd,
            listener,
            ends,
            tty,
            log,
            conns: Vec::new(),
            status: Status::Created,
            pid,
            exit: None,
            start_error: None,
            stdin_buf: Vec::new(),
            stdin_close_pending: false,
            cgroup,
        }
    }

    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// Runs until the process has exited and its output is delivered, then removes the
    /// runtime state. Returns the shim's exit code.
    pub fn run(mut self) -> i32 {
        // A child that exited between create and now has already raised SIGCHLD into
        // the signalfd, so nothing is missed.
        let mut deadline: Option<Instant> = None;
        // Setting up is over: from here on the shim mostly waits. What the last burst of
        // work faulted in is given back once the shim has been quiet for a while: not at
        // once, which would put the trim (and the faults after it) between Ready and the
        // start request, on every container start's path.
        let mut trim_at = Some(Instant::now() + TRIM_AFTER_QUIET);
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut toks: Vec<Token> = Vec::new();
        loop {
            let mut timeout = -1;
            if let Some(t) = trim_at {
                let now = Instant::now();
                if now >= t {
                    berth_runtime::sys::trim_resident();
                    trim_at = None;
                } else {
                    timeout = (t - now).as_millis().min(i32::MAX as u128) as i32 + 1;
                }
            }
            if self.exit.is_some() {
                let d = *deadline.get_or_insert_with(|| Instant::now() + FLUSH_GRACE);
                let now = Instant::now();
                if self.conns.is_empty() || now >= d {
                    break;
                }
                let ms = (d - now).as_millis().min(i32::MAX as u128) as i32 + 1;
                timeout = if timeout < 0 { ms } else { timeout.min(ms) };
            }
            // A client far behind holds the output back; one stuck too long is dropped.
            let now = Instant::now();
            let mut held = false;
            for c in &mut self.conns {
                if let Some(drop_at) = c.behind() {
                    if now >= drop_at {
                        c.dead = true;
                        continue;
                    }
                    held = true;
                    let ms = (drop_at - now).as_millis().min(i32::MAX as u128) as i32 + 1;
                    timeout = if timeout < 0 { ms } else { timeout.min(ms) };
                }
            }
            self.interests(&mut fds, &mut toks, held);
            if let Err(e) = sys::poll(&mut fds, timeout) {
                log_err(&format!("poll: {e}"));
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            for (pfd, tok) in fds.iter().zip(toks.iter()) {
                if pfd.revents != 0 {
                    self.dispatch(*tok, pfd.revents);
                    trim_at.get_or_insert_with(|| Instant::now() + TRIM_AFTER_QUIET);
                }
            }
            self.conns.retain(|c| !c.done());
        }
        self.finish()
    }

    fn interests(&self, fds: &mut Vec<libc::pollfd>, toks: &mut Vec<Token>, hold_output: bool) {
        fds.clear();
        toks.clear();
        let mut add = |fd: i32, events: i16, tok: Token| {
            fds.push(libc::pollfd { fd, events, revents: 0 });
            toks.push(tok);
        };
        add(self.sigfd.as_raw_fd(), libc::POLLIN, Token::Signal);
        add(self.listener.as_raw_fd(), libc::POLLIN, Token::Listener);
        if !hold_output {
            if let Some(f) = &self.ends.stdout {
                add(f.as_raw_fd(), libc::POLLIN, Token::Output(Stream::Stdout));
            }
            if let Some(f) = &self.ends.stderr {
                add(f.as_raw_fd(), libc::POLLIN, Token::Output(Stream::Stderr));
            }
            if let Some(f) = &self.ends.pty {
                add(f.as_raw_fd(), libc::POLLIN, Token::Pty);
            }
        }
        if let Some(f) = &self.ends.stdin {
            if !self.stdin_buf.is_empty() {
                add(f.as_raw_fd(), libc::POLLOUT, Token::Stdin);
            }
        }
        let stdin_full = self.stdin_buf.len() >= STDIN_HIGH;
        for (i, c) in self.conns.iter().enumerate() {
            let mut ev = 0;
            let reads = match &c.phase {
                Phase::Request | Phase::Waiting => true,
                Phase::Attached(a) => !(a.stdin && stdin_full),
                Phase::Closing => false,
            };
            if reads && !c.read_closed {
                ev |= libc::POLLIN;
            }
            if c.wants_write() {
                ev |= libc::POLLOUT;
            }
            add(c.fd(), ev, Token::Conn(i));
        }
    }

    fn dispatch(&mut self, tok: Token, revents: i16) {
        match tok {
            Token::Signal => self.reap(),
            Token::Listener => self.accept(),
            Token::Output(s) => self.pump(s, false, usize::MAX),
            Token::Pty => self.pump(Stream::Stdout, true, usize::MAX),
            Token::Stdin => self.write_stdin(),
            Token::Conn(i) => self.conn_event(i, revents),
        }
    }

    fn reap(&mut self) {
        sys::drain_signalfd(&self.sigfd);
        while let Some((pid, status)) = sys::reap_any() {
            if Some(pid) == self.pid && self.exit.is_none() {
                self.exited(status);
            }
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => match Conn::new(s) {
                    Ok(c) => self.conns.push(c),
                    Err(e) => log_err(&format!("client socket: {e}")),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log_err(&format!("accept: {e}"));
                    break;
                }
            }
        }
    }

    /// Reads container output and hands it to the log and every attached client.
    /// `limit` bounds how much is read at once (the drain after the exit).
    fn pump(&mut self, stream: Stream, pty: bool, limit: usize) {
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0;
        // A few reads per round, so one busy stream cannot starve the rest.
        let rounds = if limit == usize::MAX { 4 } else { usize::MAX };
        for _ in 0..rounds {
            let fd = match (pty, stream) {
                (true, _) => self.ends.pty.as_ref(),
                (false, Stream::Stdout) => self.ends.stdout.as_ref(),
                (false, Stream::Stderr) => self.ends.stderr.as_ref(),
            };
            let Some(fd) = fd else { return };
            match berth_runtime::sys::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) => return self.close_output(stream, pty),
                Ok(n) => {
                    self.deliver(stream, &buf[..n]);
                    total += n;
                    if total >= limit {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // EIO: the pty's last slave descriptor closed.
                Err(_) => return self.close_output(stream, pty),
            }
        }
    }

    fn close_output(&mut self, stream: Stream, pty: bool) {
        match (pty, stream) {
            (true, _) => self.ends.pty = None,
            (false, Stream::Stdout) => self.ends.stdout = None,
            (false, Stream::Stderr) => self.ends.stderr = None,
        }
    }

    fn deliver(&mut self, stream: Stream, data: &[u8]) {
        if let Some(l) = &mut self.log {
            l.write(stream, data);
        }
        for c in &mut self.conns {
            c.output(stream, data, self.tty);
            // Try at once: most clients keep up, and the queue stays empty.
            c.flush();
        }
    }

    fn write_stdin(&mut self) {
        let Some(fd) = &self.ends.stdin else {
            self.stdin_buf.clear();
            return;
        };
        while !self.stdin_buf.is_empty() {
            match sys::write(fd.as_raw_fd(), &self.stdin_buf) {
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    // The process closed its stdin (EPIPE): nothing more can go there.
                    self.stdin_buf = Vec::new();
                    self.ends.stdin = None;
                    return;
                }
            }
        }
        if self.stdin_buf.capacity() > 64 * 1024 {
            self.stdin_buf = Vec::new();
        }
        self.maybe_close_stdin();
    }

    fn maybe_close_stdin(&mut self) {
        if !self.stdin_close_pending || !self.stdin_buf.is_empty() {
            return;
        }
        self.stdin_close_pending = false;
        if self.tty {
            // A pty cannot be half-closed: send the terminal's end-of-file character,
            // which a reader in canonical mode sees as EOF.
            if let Some(fd) = &self.ends.stdin {
                let _ = sys::write(fd.as_raw_fd(), &[4]);
            }
        } else {
            self.ends.stdin = None;
        }
    }

    fn conn_event(&mut self, i: usize, revents: i16) {
        if revents & libc::POLLOUT != 0 {
            self.conns[i].flush();
        }
        let hup = revents & (libc::POLLHUP | libc::POLLERR) != 0;
        if revents & libc::POLLIN != 0 || hup {
            // Several reads only matter for a peer that is gone: take everything it
            // sent before going.
            for _ in 0..if hup { 64 } else { 1 } {
                if self.conns[i].dead || self.conns[i].read_closed {
                    break;
                }
                match self.conns[i].read() {
                    ReadResult::Line(line) => self.request(i, &line),
                    ReadResult::Data(d) => self.client_input(i, &d),
                    ReadResult::Eof => self.client_eof(i),
                    ReadResult::Nothing => {
                        if !hup {
                            break;
                        }
                    }
                }
            }
        }
        if hup {
            // The peer is gone for good: nothing it could still be sent.
            self.conns[i].dead = true;
        }
    }

    fn client_input(&mut self, i: usize, data: &[u8]) {
        let process_has_stdin = self.ends.stdin.is_some();
        let c = &mut self.conns[i];
        let Phase::Attached(a) = &mut c.phase else { return };
        if !a.stdin {
            return;
        }
        let mut pass = Vec::new();
        if a.detach.feed(data, &mut pass) {
            // Detach: let the client go, the container keeps running.
            c.dead = true;
        }
        if process_has_stdin && !pass.is_empty() {
            self.stdin_buf.extend_from_slice(&pass);
            self.write_stdin();
        }
    }

    fn client_eof(&mut self, i: usize) {
        let c = &mut self.conns[i];
        match &c.phase {
            Phase::Attached(a) => {
                if a.stdin && self.args.stdin_once {
                    self.stdin_close_pending = true;
                    self.maybe_close_stdin();
                }
            }
            Phase::Request | Phase::Waiting => c.dead = true,
            Phase::Closing => {}
        }
    }

    fn state_reply(&self) -> Reply {
        Reply { ok: true, error: None, status: Some(self.status.name().into()), pid: self.pid, exit: self.exit.clone() }
    }

    fn request(&mut self, i: usize, line: &[u8]) {
        let req: Request = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => return self.conns[i].fail(format!("bad request: {e}")),
        };
        match req {
            Request::Start => {
                let r = self.start();
                let c = &mut self.conns[i];
                match r {
                    Ok(()) => {
                        let reply = Reply { ok: true, status: Some(Status::Running.name().into()), pid: self.pid, ..Default::default() };
                        c.reply(&reply);
                        c.phase = Phase::Closing;
                    }
                    Err(e) => c.fail(e),
                }
            }
            Request::Attach { stdin, stdout, stderr, detach_keys } => {
                let exited = self.exit.is_some();
                let c = &mut self.conns[i];
                c.reply(&Reply { ok: true, ..Default::default() });
                if exited {
                    c.phase = Phase::Closing;
                    return;
                }
                c.phase = Phase::Attached(Attachment { stdin, stdout, stderr, detach: DetachMatcher::new(detach_keys) });
                let early = c.take_leftover();
                if !early.is_empty() {
                    self.client_input(i, &early);
                }
            }
            Request::Resize { height, width } => {
                let r = match &self.ends.pty {
                    Some(pty) => sys::set_winsize(pty.as_raw_fd(), height, width).map_err(|e| format!("resize: {e}")),
                    None => Ok(()),
                };
                self.simple(i, r);
            }
            Request::Kill { signal, all } => {
                let r = self.kill(signal, all);
                self.simple(i, r);
            }
            Request::Wait => {
                if self.exit.is_some() {
                    let reply = self.state_reply();
                    let c = &mut self.conns[i];
                    c.reply(&reply);
                    c.phase = Phase::Closing;
                } else {
                    self.conns[i].phase = Phase::Waiting;
                }
            }
            Request::State => {
                let reply = self.state_reply();
                let c = &mut self.conns[i];
                c.reply(&reply);
                c.phase = Phase::Closing;
            }
        }
        let c = &mut self.conns[i];
        c.flush();
    }

    fn simple(&mut self, i: usize, r: Result<(), String>) {
        let c = &mut self.conns[i];
        match r {
            Ok(()) => {
                c.reply(&Reply { ok: true, ..Default::default() });
                c.phase = Phase::Closing;
            }
            Err(e) => c.fail(e),
        }
    }

    fn kill(&mut self, signal: i32, all: bool) -> Result<(), String> {
        if !(1..=64).contains(&signal) {
            return Err(format!("invalid signal {signal}"));
        }
        if self.exit.is_some() {
            return Err("the process is not running".into());
        }
        match &self.kind {
            Kind::Run { backend } => backend.kill(&self.args.id, signal, all),
            Kind::Exec { .. } => {
                let pid = self.pid.ok_or("the process is not started")?;
                berth_runtime::sys::kill(pid, signal).map_err(|e| format!("kill: {e}"))
            }
        }
    }

    fn start(&mut self) -> Result<(), String> {
        if self.status != Status::Created {
            return Err(format!("cannot start: the process is {}", self.status.name()));
        }
        match &mut self.kind {
            Kind::Run { backend } => {
                if let Err(e) = backend.start(&self.args.id) {
                    // The init still waits: kill it, and the exit carries the error.
                    self.start_error = Some(e.clone());
                    if let Some(pid) = self.pid {
                        let _ = berth_runtime::sys::kill(pid, libc::SIGKILL);
                    }
                    return Err(e);
                }
            }
            Kind::Exec { runtime, process, child, console } => {
                let Some(child_ends) = child.take() else { return Err("already started".into()) };
                let opts = ExecOptions { console_socket: console.as_ref().map(|c| c.path.clone()), ..Default::default() };
                let r = crate::setup::create_with_stdio(&self.own, &child_ends, || runtime.exec_spawn(&self.args.id, process, &opts).map_err(|e| e.to_string()));
                drop(child_ends);
                let console = console.take();
                let pid = match r {
                    Ok(pid) => pid,
                    Err(e) => {
                        self.exec_failed(&e);
                        return Err(e);
                    }
                };
                self.pid = Some(pid);
                if let Some(c) = console {
                    match c.receive() {
                        Ok(ends) => self.ends = ends,
                        Err(e) => {
                            let _ = berth_runtime::sys::kill(pid, libc::SIGKILL);
                            self.start_error = Some(e.to_string());
                            return Err(e.to_string());
                        }
                    }
                }
            }
        }
        self.status = Status::Running;
        Ok(())
    }

    /// An exec that never ran: record it as exited (126, or 127 when the program was
    /// not found, as Docker reports), so waiters and berthd learn of it.
    fn exec_failed(&mut self, err: &str) {
        let lower = err.to_ascii_lowercase();
        let code = if lower.contains("not found") || lower.contains("no such file") { 127 } else { 126 };
        self.record_exit(ExitStatus { exit_code: code, oom_killed: false, finished_at: exit::now_rfc3339(), error: Some(err.to_string()) });
    }

    /// The process exited: take what is left of its output, record the exit, tell the
    /// waiters, and let attached clients drain.
    fn exited(&mut self, status: libc::c_int) {
        for (stream, pty) in [(Stream::Stdout, false), (Stream::Stderr, false), (Stream::Stdout, true)] {
            self.pump(stream, pty, DRAIN_LIMIT);
        }
        let oom = match &self.kind {
            Kind::Run { backend } => backend.oom_killed(&self.args.id, self.cgroup.as_deref()),
            Kind::Exec { .. } => false,
        };
        let st = ExitStatus { exit_code: exit::exit_code(status), oom_killed: oom, finished_at: exit::now_rfc3339(), error: self.start_error.clone() };
        self.record_exit(st);
    }

    fn record_exit(&mut self, st: ExitStatus) {
        // Grandchildren may keep the pipes open: we no longer listen to them.
        self.ends = ShimEnds::default();
        self.stdin_buf = Vec::new();
        if let Some(l) = &mut self.log {
            l.finish();
        }
        if let Err(e) = exit::write(&self.args.dir, &st) {
            log_err(&format!("writing exit status: {e}"));
        }
        self.exit = Some(st);
        self.status = Status::Exited;
        let reply = self.state_reply();
        for c in &mut self.conns {
            match c.phase {
                Phase::Waiting => {
                    c.reply(&reply);
                    c.phase = Phase::Closing;
                }
                Phase::Attached(_) => c.phase = Phase::Closing,
                _ => {}
            }
            c.flush();
        }
    }

    fn finish(self) -> i32 {
        drop(self.conns);
        let _ = std::fs::remove_file(self.args.dir.join(SOCKET));
        let _ = std::fs::remove_file(self.args.dir.join(PID_FILE));
        if let Kind::Run { backend } = &self.kind {
            if let Err(e) = backend.delete(&self.args.id) {
                log_err(&format!("deleting container {}: {e}", self.args.id));
            }
        }
        if self.args.mode == Mode::Run {
            log_err(&format!("container {} exited: {:?}", self.args.id, self.exit));
        }
        0
    }
}
