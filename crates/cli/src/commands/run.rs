//! run, create, start and attach: the commands that create containers or hold a
//! session with one. The flow is docker's: create (pulling when --pull allows), attach
//! before start so no output is lost, start, stream, then the exit status from wait.

use std::sync::mpsc;
use std::time::Duration;

use berth_api::client::{encode, query, Body};
use berth_api::{Client, ClientError};
use clap::Args;
use serde_json::Value;

use super::{client, fail, is_tty};
use crate::create_opts::{parse_error, ContainerOptions};
use crate::streams::{self, Ended, DEFAULT_DETACH_KEYS};
use crate::{CmdResult, Failure, Global};

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    #[command(flatten)]
    opts: ContainerOptions,
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    sig_proxy: bool,
    /// IMAGE
    image: String,
    /// [COMMAND] [ARG...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    opts: ContainerOptions,
    /// IMAGE
    image: String,
    /// [COMMAND] [ARG...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// docker's rule (cli/command/container/run.go `toStatusError`) for a failed start:
/// 127 when the command was not found, 126 when it could not be run, else 125.
pub fn start_error_status(msg: &str) -> i32 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") || msg.contains("system cannot find the file specified") {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    }
}

fn engine_failure(cmd: &str, e: ClientError) -> Failure {
    match e {
        e @ ClientError::Connect { .. } => Failure::from(e),
        e => Failure { message: Some(crate::create_opts::cli_error(cmd, &e.to_string())), status: 125 },
    }
}

/// Pulls `image` through `POST /images/create` with the saved credentials, printing
/// progress unless `quiet`.
fn pull(c: &Client, image: &str, platform: Option<&str>, quiet: bool) -> Result<(), ClientError> {
    super::registry::pull_image(c, image, platform, quiet)
}

/// The image reference with `:latest` when it names no tag or digest (for messages).
fn tagged(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// Creates the container (pulling per `--pull`); returns its id.
fn create_container(c: &Client, cmd: &str, opts: &ContainerOptions, image: &str, args: &[String], detached: bool) -> Result<String, Failure> {
    let req = opts.to_request(cmd, image, args, detached)?;
    if let Some(f) = &opts.cidfile {
        if std::path::Path::new(f).exists() {
            return Err(parse_error(cmd, &format!("container ID file found, make sure the other container isn't running or delete {f}")));
        }
    }
    let q = query([("name", req.name.clone()), ("platform", req.platform.clone())]);
    let body = serde_json::to_vec(&req.body).map_err(|e| fail(e.to_string()))?;
    if opts.pull == "always" {
        pull(c, image, opts.platform.as_deref(), opts.quiet).map_err(|e| engine_failure(cmd, e))?;
    }
    let mut resp = c.call("POST", &format!("/containers/create{q}"), Body::Json(body.clone()));
    if let Err(ClientError::Api { status: 404, message }) = &resp {
        if message.contains("No such image") && opts.pull == "missing" {
            eprintln!("Unable to find image '{}' locally", tagged(image));
            pull(c, image, opts.platform.as_deref(), opts.quiet).map_err(|e| engine_failure(cmd, e))?;
            resp = c.call("POST", &format!("/containers/create{q}"), Body::Json(body));
        }
    }
    let created: Value = resp.and_then(|r| r.json()).map_err(|e| engine_failure(cmd, e))?;
    for w in created["Warnings"].as_array().into_iter().flatten() {
        if let Some(w) = w.as_str() {
            eprintln!("WARNING: {w}");
        }
    }
    let id = created["Id"].as_str().ok_or_else(|| fail("the daemon's create answer has no Id"))?.to_owned();
    if let Some(f) = &opts.cidfile {
        std::fs::write(f, &id).map_err(|e| parse_error(cmd, &format!("failed to write the container ID to the file: {e}")))?;
    }
    Ok(id)
}

pub fn create(g: &Global, a: CreateArgs) -> CmdResult {
    let c = client(g)?;
    let id = create_container(&c, "create", &a.opts, &a.image, &a.args, true)?;
    println!("{id}");
    Ok(())
}

/// Starts a waiter for the container's exit before it starts (as docker does, so a
/// fast exit is not missed): the returned channel yields the exit status. The request
/// head is awaited briefly so the daemon has registered the wait before start.
fn wait_for_exit(c: &Client, id: &str, condition: &str) -> mpsc::Receiver<Result<i64, String>> {
    let (head_tx, head_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    let c = c.clone();
    let path = format!("/containers/{}/wait?condition={condition}", encode(id));
    std::thread::spawn(move || {
        let r = c.request("POST", &path, Body::Empty).and_then(|r| {
            let _ = head_tx.send(());
            r.error_for_status()?.json::<Value>()
        });
        let _ = head_tx.send(());
        let _ = tx.send(match r {
            Ok(v) => match v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
                Some(m) => Err(m.to_owned()),
                None => Ok(v["StatusCode"].as_i64().unwrap_or(0)),
            },
            Err(e) => Err(e.to_string()),
        });
    });
    let _ = head_rx.recv_timeout(Duration::from_millis(500));
    rx
}

/// Opens the attach stream (`POST /containers/{id}/attach`, upgraded).
fn attach_stream(c: &Client, id: &str, stdin: bool, stdout: bool, stderr: bool, detach_keys: Option<&str>, logs: bool) -> Result<berth_api::Hijacked, ClientError> {
    let b = |v: bool| Some(if v { "1" } else { "0" }.to_owned());
    let q = query([
        ("stream", Some("1".to_owned())),
        ("logs", logs.then(|| "1".to_owned())),
        ("stdin", b(stdin)),
        ("stdout", b(stdout)),
        ("stderr", b(stderr)),
        ("detachKeys", detach_keys.map(str::to_owned)),
    ]);
    c.hijack("POST", &format!("/containers/{}/attach{q}", encode(id)), Body::Empty)
}

pub fn run(g: &Global, a: RunArgs) -> CmdResult {
    let o = &a.opts;
    let detach_keys = a.detach_keys.clone().unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_owned());
    let keys = crate::values::detach_keys(&detach_keys).map_err(|e| parse_error("run", &e))?;
    if o.tty && o.interactive && !is_tty(0) && !a.detach {
        return Err(fail("the input device is not a TTY"));
    }
    let c = client(g)?;
    let id = create_container(&c, "run", o, &a.image, &a.args, a.detach)?;
    let start_path = format!("/containers/{}/start", encode(&id));
    if a.detach {
        if let Err(e) = c.call("POST", &start_path, Body::Empty) {
            return Err(start_failure(e));
        }
        println!("{id}");
        return Ok(());
    }
    let req = o.to_request("run", &a.image, &a.args, false)?;
    let attach_stdin = req.body["AttachStdin"].as_bool().unwrap_or(false);
    let attach_stdout = req.body["AttachStdout"].as_bool().unwrap_or(false);
    let attach_stderr = req.body["AttachStderr"].as_bool().unwrap_or(false);
    let conn = attach_stream(&c, &id, attach_stdin, attach_stdout, attach_stderr, Some(&detach_keys), false).map_err(|e| engine_failure("run", e))?;
    let exit = wait_for_exit(&c, &id, if o.rm { "removed" } else { "next-exit" });
    let raw = if o.tty && attach_stdin && is_tty(0) { crate::tty::RawMode::enable(0) } else { None };
    if let Err(e) = c.call("POST", &start_path, Body::Empty) {
        conn.close();
        drop(raw);
        return Err(start_failure(e));
    }
    if o.tty && is_tty(1) {
        streams::follow_resize(&c, format!("/containers/{}/resize", encode(&id)));
    }
    if a.sig_proxy && !o.tty {
        streams::proxy_signals(&c, &id);
    }
    let ended = streams::pump(conn, attach_stdin, o.tty, Some(keys));
    drop(raw);
    match ended {
        Ok(Ended::Detached) => return Ok(()),
        Ok(Ended::Closed) => {}
        Err(e) => eprintln!("error from the attach stream: {e}"),
    }
    finish(exit)
}

/// Exits with the container's status from a wait channel.
fn finish(exit: mpsc::Receiver<Result<i64, String>>) -> CmdResult {
    match exit.recv() {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(code)) => Err(Failure { message: None, status: code as i32 }),
        Ok(Err(m)) => Err(Failure { message: Some(m), status: 125 }),
        Err(_) => Err(Failure { message: Some("lost the wait for the container's exit".into()), status: 125 }),
    }
}

fn start_failure(e: ClientError) -> Failure {
    match e {
        e @ ClientError::Connect { .. } => Failure::from(e),
        e => {
            let msg = e.to_string();
            Failure { message: Some(crate::create_opts::cli_error("run", &msg)), status: start_error_status(&msg) }
        }
    }
}

// ---------------------------------------------------------------- start

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn start(g: &Global, a: StartArgs) -> CmdResult {
    let c = client(g)?;
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(fail("you cannot start and attach multiple containers at once"));
        }
        let name = &a.containers[0];
        let info: Value = c.get_json(&format!("/containers/{}/json", encode(name)))?;
        let id = info["Id"].as_str().unwrap_or(name).to_owned();
        let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let stdin = a.interactive && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
        let detach_keys = a.detach_keys.clone().unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_owned());
        let keys = crate::values::detach_keys(&detach_keys).map_err(fail)?;
        let conn = attach_stream(&c, &id, stdin, true, true, Some(&detach_keys), false)?;
        let exit = wait_for_exit(&c, &id, "next-exit");
        let raw = if tty && stdin && is_tty(0) { crate::tty::RawMode::enable(0) } else { None };
        if let Err(e) = c.call("POST", &format!("/containers/{}/start", encode(&id)), Body::Empty) {
            conn.close();
            drop(raw);
            return Err(e.into());
        }
        if tty && is_tty(1) {
            streams::follow_resize(&c, format!("/containers/{}/resize", encode(&id)));
        }
        if !tty {
            streams::proxy_signals(&c, &id);
        }
        let ended = streams::pump(conn, stdin, tty, Some(keys));
        drop(raw);
        if let Ok(Ended::Detached) = ended {
            return Ok(());
        }
        return finish(exit);
    }
    super::containers::each(&c, &a.containers, |c, name| {
        c.call("POST", &format!("/containers/{}/start", encode(name)), Body::Empty)?;
        Ok(Some(name.to_owned()))
    })
}

// ---------------------------------------------------------------- attach

#[derive(Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    sig_proxy: bool,
    /// CONTAINER
    container: String,
}

pub fn attach(g: &Global, a: AttachArgs) -> CmdResult {
    let c = client(g)?;
    let info: Value = c.get_json(&format!("/containers/{}/json", encode(&a.container)))?;
    let id = info["Id"].as_str().unwrap_or(&a.container).to_owned();
    if !info["State"]["Running"].as_bool().unwrap_or(false) {
        return Err(fail("You cannot attach to a stopped container, start it first"));
    }
    if info["State"]["Paused"].as_bool().unwrap_or(false) {
        return Err(fail("You cannot attach to a paused container, unpause it first"));
    }
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !a.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    if tty && stdin && !is_tty(0) {
        return Err(fail("the input device is not a TTY"));
    }
    let detach_keys = a.detach_keys.clone().unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_owned());
    let keys = crate::values::detach_keys(&detach_keys).map_err(fail)?;
    let conn = attach_stream(&c, &id, stdin, true, true, Some(&detach_keys), false)?;
    let raw = if tty && stdin { crate::tty::RawMode::enable(0) } else { None };
    if tty && is_tty(1) {
        streams::follow_resize(&c, format!("/containers/{}/resize", encode(&id)));
    }
    if a.sig_proxy && !tty {
        streams::proxy_signals(&c, &id);
    }
    let ended = streams::pump(conn, stdin, tty, Some(keys));
    drop(raw);
    match ended {
        Ok(Ended::Detached) => Ok(()),
        Ok(Ended::Closed) | Err(_) => {
            // The container's status, once it has stopped, is ours.
            let v: Value = c.call("POST", &format!("/containers/{}/wait?condition=not-running", encode(&id)), Body::Empty)?.json()?;
            match v["StatusCode"].as_i64().unwrap_or(0) {
                0 => Ok(()),
                code => Err(Failure { message: None, status: code as i32 }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_docker_statuses() {
        assert_eq!(start_error_status("failed to create task: exec: \"nope\": executable file not found in $PATH"), 127);
        assert_eq!(start_error_status("exec /x: no such file or directory"), 127);
        assert_eq!(start_error_status("exec /etc: permission denied"), 126);
        assert_eq!(start_error_status("exec /etc: is a directory"), 126);
        assert_eq!(start_error_status("cannot start a paused container"), 125);
    }

    #[test]
    fn tags_images_for_messages() {
        assert_eq!(tagged("busybox"), "busybox:latest");
        assert_eq!(tagged("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(tagged("busybox:1"), "busybox:1");
    }
}
