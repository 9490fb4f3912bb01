//! The hijacked streams: `POST /containers/{id}/attach`, `/resize`, and the exec
//! routes. A client that asks to upgrade gets `101 UPGRADED` and the raw connection,
//! spliced to the shim's attach stream; one that does not gets the output as the
//! response body (no stdin), as old clients expect.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::models::{ExecConfig, ExecStartConfig};
use berth_shim::protocol::Request as ShimRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::UnixStream;

use super::containers::parse_body;
use crate::containers::{exec, shim};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;

/// Docker's `--detach-keys` syntax ("ctrl-p,ctrl-q", "a,ctrl-x") → bytes; the default
/// is ctrl-p ctrl-q.
pub fn detach_keys(spec: Option<&str>) -> ApiResult<Vec<u8>> {
    let spec = match spec {
        Some(s) if !s.is_empty() => s,
        _ => "ctrl-p,ctrl-q",
    };
    let bad = || ApiError::bad_request(format!("Invalid detach keys ({spec}) provided"));
    let mut out = Vec::new();
    for k in spec.split(',') {
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(bad()),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

fn wants_upgrade(req: &Request) -> bool {
    req.headers().get(header::UPGRADE).is_some()
}

fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// Answers 101 and splices the upgraded connection with `stream` once hyper hands it
/// over; without an upgrade request, streams the output as the body.
fn hijack(req: Request, tty: bool, stream: impl std::future::Future<Output = Result<UnixStream, String>> + Send + 'static) -> Response {
    hijack_then(req, tty, stream, async {})
}

/// As [`hijack`], awaiting `after` once the output has ended and before the client's
/// connection closes: an exec's client reads the exit code right after its stream
/// ends, so the exit must be recorded by then.
fn hijack_then(
    mut req: Request,
    tty: bool,
    stream: impl std::future::Future<Output = Result<UnixStream, String>> + Send + 'static,
    after: impl std::future::Future<Output = ()> + Send + 'static,
) -> Response {
    if !wants_upgrade(&req) {
        let body = async_stream_body(stream, after);
        return ([(header::CONTENT_TYPE, content_type(tty))], body).into_response();
    }
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let client = match upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!("attach upgrade failed: {e}");
                return;
            }
        };
        match stream.await {
            Ok(s) => shim::splice(client, s, after).await,
            Err(e) => tracing::debug!("attach: {e}"),
        }
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(tty)));
    resp
}

/// The shim's output as a response body (for clients that do not upgrade).
fn async_stream_body(stream: impl std::future::Future<Output = Result<UnixStream, String>> + Send + 'static, after: impl std::future::Future<Output = ()> + Send + 'static) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let Ok(mut s) = stream.await else { return };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    after.await;
                    return;
                }
                Ok(n) => {
                    if tx.send(Ok(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Body::from_stream(super::containers::tokio_stream_from(rx))
}

pub async fn attach(State(state): State<AppState>, Path(id): Path<String>, params: Params, req: Request) -> ApiResult<Response> {
    let e = state.containers.find(&id)?;
    let c = e.get();
    let keys = detach_keys(params.get("detachKeys"))?;
    let want_stdin = params.bool("stdin") && c.config.open_stdin.unwrap_or(false);
    let shim_req = ShimRequest::Attach { stdin: want_stdin, stdout: params.bool("stdout"), stderr: params.bool("stderr"), detach_keys: keys };
    if !params.bool("stream") && !params.bool("logs") {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let tty = c.tty();
    if c.running() && c.state.status != "restarting" {
        if c.paused() {
            return Err(ApiError::new(StatusCode::CONFLICT, format!("You cannot attach to a paused container, unpause it first")));
        }
        let dir = state.exec_root.join("c").join(&c.id);
        // Connect before answering, so a failure is still an HTTP error.
        let s = shim::attach(&dir, &shim_req).await.map_err(|e| ApiError::internal(format!("{e:#}")))?;
        return Ok(hijack(req, tty, async move { Ok(s) }));
    }
    if !params.bool("stream") && c.state.status != "created" && !c.state.started_at.starts_with("0001") {
        // A stopped container, logs only: docker returns at once (nothing to stream).
        return Ok(hijack(req, tty, async { Err("not running".into()) }));
    }
    // Not started yet, or stopped (`start -a` attaches, then starts again; refusing a
    // stopped container is the CLI's `attach` check, not the daemon's): the stream is
    // connected when the container next starts.
    let (tx, rx) = tokio::sync::oneshot::channel();
    e.pending_attach.lock().unwrap_or_else(|p| p.into_inner()).push(shim::PendingAttach { request: shim_req, tx });
    let entry = e.clone();
    Ok(hijack(req, tty, async move {
        let r = rx.await.map_err(|_| "the container was not started".to_string())?;
        drop(entry);
        r
    }))
}

fn size_params(params: &Params) -> ApiResult<(u16, u16)> {
    let get = |k: &str| -> ApiResult<u16> {
        let v = params.get(k).unwrap_or("");
        v.parse::<u16>().map_err(|_| ApiError::bad_request(format!("invalid resize value {k}={v:?}")))
    };
    Ok((get("h")?, get("w")?))
}

pub async fn resize(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let e = state.containers.find(&id)?;
    let c = e.get();
    let (height, width) = size_params(&params)?;
    if !c.running() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Container {} is not running", c.id)));
    }
    let dir = state.exec_root.join("c").join(&c.id);
    shim::call(&dir, &ShimRequest::Resize { height, width }).await.map_err(|e| ApiError::internal(format!("{e:#}")))?;
    Ok(StatusCode::OK)
}

pub async fn exec_create(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let e = state.containers.find(&id)?;
    let cfg: ExecConfig = parse_body(&body, false)?;
    let id = exec::create(&state, &e, cfg)?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))).into_response())
}

pub async fn exec_start(State(state): State<AppState>, Path(id): Path<String>, req: Request) -> ApiResult<Response> {
    let ex = state.execs.get(&id)?;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.map_err(|e| ApiError::bad_request(format!("reading body: {e}")))?;
    let cfg: ExecStartConfig = parse_body(&bytes, false)?;
    let req = Request::from_parts(parts, Body::empty());
    let detach = cfg.detach.unwrap_or(false);
    let tty = cfg.tty.or(ex.config.tty).unwrap_or(false);
    let stream = exec::start(&state, &ex, !detach, Some(tty)).await?;
    match stream {
        None => Ok(StatusCode::OK.into_response()),
        // Bounded: after a detach the process goes on running.
        Some(s) => Ok(hijack_then(req, tty, async move { Ok(s) }, async move {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), exec::wait(&ex)).await;
        })),
    }
}

pub async fn exec_resize(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let ex = state.execs.get(&id)?;
    let (height, width) = size_params(&params)?;
    let dir = state.exec_root.join("x").join(&ex.id);
    shim::call(&dir, &ShimRequest::Resize { height, width }).await.map_err(|e| ApiError::internal(format!("{e:#}")))?;
    Ok(StatusCode::OK)
}

pub async fn exec_inspect(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let ex: Arc<exec::ExecEntry> = state.execs.get(&id)?;
    let s = ex.get();
    let cfg = &ex.config;
    let cmd = cfg.cmd.clone().unwrap_or_default();
    Ok(Json(json!({
        "ID": ex.id,
        "Running": s.running,
        "ExitCode": s.exit_code,
        "ProcessConfig": {
            "tty": cfg.tty.unwrap_or(false),
            "entrypoint": cmd.first().cloned().unwrap_or_default(),
            "arguments": cmd.get(1..).unwrap_or(&[]),
            "privileged": cfg.privileged.unwrap_or(false),
            "user": cfg.user.clone().unwrap_or_default(),
        },
        "OpenStdin": cfg.attach_stdin.unwrap_or(false),
        "OpenStderr": cfg.attach_stderr.unwrap_or(false),
        "OpenStdout": cfg.attach_stdout.unwrap_or(false),
        "CanRemove": false,
        "ContainerID": ex.container_id,
        "DetachKeys": cfg.detach_keys.clone().unwrap_or_default(),
        "Pid": s.pid,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(detach_keys(None).unwrap(), vec![16, 17]);
        assert_eq!(detach_keys(Some("ctrl-a,x,ctrl-@")).unwrap(), vec![1, b'x', 0]);
        assert!(detach_keys(Some("ctrl-1")).unwrap_err().message.contains("Invalid detach keys (ctrl-1)"));
        assert!(detach_keys(Some("abc")).is_err());
    }
}
