//! `exec`: POST /containers/{id}/exec, then /exec/{id}/start (upgraded unless -d), then
//! the process's exit code from /exec/{id}/json.

use berth_api::client::{encode, Body};
use clap::Args;
use serde_json::{json, Value};

use super::{client, fail, is_tty};
use crate::streams::{self, Ended, DEFAULT_DETACH_KEYS};
use crate::{CmdResult, Failure, Global};

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// CONTAINER
    container: String,
    /// COMMAND [ARG...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

/// The exec create body, as docker's CLI fills it.
pub fn exec_body(a: &ExecArgs) -> Result<Value, Failure> {
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(crate::values::kv_file(f, true).map_err(fail)?);
    }
    for e in &a.env {
        env.push(crate::values::env_var(e).map_err(|m| crate::create_opts::flag_error("exec", "-e, --env", e, &m))?);
    }
    let attach = !a.detach;
    let mut body = json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": a.tty,
        "AttachStdin": attach && a.interactive,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Env": env,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": a.command,
    });
    if let Some(k) = &a.detach_keys {
        body["DetachKeys"] = json!(k);
    }
    if a.tty {
        if let Some((h, w)) = crate::tty::size(1) {
            body["ConsoleSize"] = json!([h, w]);
        }
    }
    Ok(body)
}

pub fn exec(g: &Global, a: ExecArgs) -> CmdResult {
    let body = exec_body(&a)?;
    let detach_keys = a.detach_keys.clone().unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_owned());
    let keys = crate::values::detach_keys(&detach_keys).map_err(fail)?;
    if a.tty && a.interactive && !a.detach && !is_tty(0) {
        return Err(fail("the input device is not a TTY"));
    }
    let c = client(g)?;
    let created: Value = c.call("POST", &format!("/containers/{}/exec", encode(&a.container)), Body::Json(body.to_string().into_bytes()))?.json()?;
    let id = created["Id"].as_str().ok_or_else(|| fail("the daemon's exec create answer has no Id"))?.to_owned();
    let start = json!({"Detach": a.detach, "Tty": a.tty}).to_string().into_bytes();
    let start_path = format!("/exec/{}/start", encode(&id));
    if a.detach {
        c.call("POST", &start_path, Body::Json(start)).map_err(exec_failure)?;
        return Ok(());
    }
    let conn = c.hijack("POST", &start_path, Body::Json(start)).map_err(exec_failure)?;
    let stdin = a.interactive;
    let raw = if a.tty && stdin { crate::tty::RawMode::enable(0) } else { None };
    if a.tty && is_tty(1) {
        streams::follow_resize(&c, format!("/exec/{}/resize", encode(&id)));
    }
    let ended = streams::pump(conn, stdin, a.tty, Some(keys));
    drop(raw);
    if let Ok(Ended::Detached) = ended {
        return Ok(());
    }
    if let Err(e) = ended {
        eprintln!("{e}");
    }
    let info: Value = c.get_json(&format!("/exec/{}/json", encode(&id)))?;
    match info["ExitCode"].as_i64() {
        Some(0) => Ok(()),
        Some(code) => Err(Failure { message: None, status: code as i32 }),
        // Still running (the stream ended early) or never started: no status to give.
        None if info["Running"].as_bool() == Some(true) => Ok(()),
        None => Err(Failure { message: None, status: 126 }),
    }
}

/// A failed exec start: the command's own not-found / cannot-run statuses (127 / 126)
/// as for run, else 1.
fn exec_failure(e: berth_api::ClientError) -> Failure {
    match e {
        e @ berth_api::ClientError::Connect { .. } => Failure::from(e),
        e => {
            let msg = e.to_string();
            let status = match super::run::start_error_status(&msg) {
                125 => 1,
                s => s,
            };
            Failure { message: Some(msg), status }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ExecArgs,
    }

    #[test]
    fn body_like_docker() {
        let t = T::try_parse_from(["exec", "-i", "-e", "A=1", "-w", "/tmp", "-u", "nobody", "--privileged", "c1", "sh", "-c", "echo hi"]).unwrap();
        let b = exec_body(&t.a).ok().unwrap();
        assert_eq!(b["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["AttachStdout"], true);
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!((b["WorkingDir"].as_str(), b["User"].as_str(), b["Privileged"].as_bool()), (Some("/tmp"), Some("nobody"), Some(true)));
        let t = T::try_parse_from(["exec", "-d", "c1", "sleep", "1"]).unwrap();
        let b = exec_body(&t.a).ok().unwrap();
        assert_eq!((b["AttachStdout"].as_bool(), b["AttachStdin"].as_bool()), (Some(false), Some(false)));
        assert!(T::try_parse_from(["exec", "c1"]).is_err());
    }
}
