//! What berthd and berth-shim say to each other. Shared by both sides so they cannot
//! drift.
//!
//! ## Starting
//! berthd execs `berth-shim run …` (a container) or `berth-shim exec …` (a process in a
//! running container) with descriptor 3 the write end of a pipe (the *ready pipe*). The
//! shim sets up the container's stdio, creates the container (its init waits, as after
//! `runc create`), binds its control socket `<dir>/shim.sock`, writes its own pid to
//! `<dir>/shim.pid`, then writes one JSON line [`Ready`] to descriptor 3 and closes it.
//! If anything fails first it writes `Ready { error: Some(..) }`, undoes what it made and
//! exits non-zero. The shim lives in its own session, ignores SIGHUP/SIGPIPE and does not
//! depend on berthd: berthd may die and come back, and re-adopts the shim through the
//! socket (live restore).
//!
//! ## The control socket
//! Each connection to `<dir>/shim.sock` sends one JSON line, a [`Request`]. The shim
//! answers with one JSON line, a [`Reply`]. After an `Attach` reply with `ok`, the
//! connection becomes the attached stream (see [`Request::Attach`]).
//!
//! ## Exit
//! When the container's process exits the shim reads what is left of its output (without
//! waiting for grandchildren that keep the pipes open), writes [`ExitStatus`] to
//! `<dir>/exit.json` (temp file + rename, before telling anyone: berthd may be down and
//! read it later), answers every pending `Wait`, flushes attached streams (giving slow
//! readers at most 2 s), closes them, deletes the runtime state (killing what is left in
//! the cgroup and removing it), removes `shim.sock` and `shim.pid` and exits 0. Once the
//! shim is gone, `exit.json` is the record: a client that connects too late gets
//! ECONNREFUSED/ENOENT and reads the file instead (send `Wait` before `Start` to be
//! answered on the socket).
//!
//! ## Slow clients
//! Output goes to every attached client through a bounded queue. While a client has
//! more than 256 KiB queued the shim stops reading the container's output (the container
//! then waits on its full pipe, as with Docker's attach), so a slow reader loses nothing;
//! a client that takes nothing for 10 s while behind, or whose queue passes 1 MiB, is
//! dropped. The log is written as output is read.
//!
//! ## Other files in the directory
//! `console.sock` (with a terminal, while the runtime hands over the pty master) and
//! `init.pid` (with an external `--runtime`, during create) are transient.

use serde::{Deserialize, Serialize};

/// File names inside the shim's directory.
pub const SOCKET: &str = "shim.sock";
pub const PID_FILE: &str = "shim.pid";
pub const EXIT_FILE: &str = "exit.json";

/// The one line on the ready pipe.
#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct Ready {
    /// The container init's (or exec'd process's) pid in the host pid namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// The shim's own pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shim_pid: Option<i32>,
    /// Why the container could not be created (the runtime's message, verbatim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Let the created process run (runc's `start`). Answered once it runs.
    Start,
    /// Attach to the process's stdio. After `Reply::ok` the connection carries: from the
    /// shim, output — with a terminal the raw pty bytes, without one Docker's multiplexed
    /// frames (8-byte header: stream 1 = stdout / 2 = stderr, three zero bytes, big-endian
    /// u32 length; then the payload); to the shim, bytes for the process's stdin (only if
    /// `stdin` and the process was started with stdin open). When the client closes its
    /// write side: with `stdin_once` set at start, the process's stdin is closed; else
    /// nothing happens. `detach_keys` (e.g. [16, 17] for ctrl-p,ctrl-q): when the client
    /// sends this sequence the shim drops the connection without passing the keys on
    /// (bytes of a partial match are passed on once the match fails). When the process
    /// exits and its output is flushed, the shim closes the connection.
    Attach {
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        stdout: bool,
        #[serde(default)]
        stderr: bool,
        #[serde(default)]
        detach_keys: Vec<u8>,
    },
    /// Set the terminal size (no-op without a terminal).
    Resize { height: u16, width: u16 },
    /// Send a signal to the process (`all`: to every process in the container's cgroup).
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    /// Answered when the process has exited (at once if it already has), with `exit`.
    Wait,
    /// The shim's view: `status` and `pid`, `exit` once exited.
    State,
}

#[derive(Serialize, Deserialize, Debug, Default, Clone)]
pub struct Reply {
    #[serde(default)]
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// "created", "running" or "exited".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

/// How the process ended. Written to `<dir>/exit.json`.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct ExitStatus {
    /// The exit code, or 128 + signal number when killed by a signal (Docker's rule).
    pub exit_code: i32,
    /// The kernel's OOM killer killed a process of the container's cgroup.
    #[serde(default)]
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds, UTC.
    pub finished_at: String,
    /// Set when the shim itself failed (e.g. the start failed); Docker's `State.Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
