//! `docker exec`: exec instances (kept in memory, as dockerd keeps them), each run by
//! its own `berth-shim exec` so the process is a child of a single-threaded
//! supervisor, never of berthd.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use berth_api::models::ExecConfig;
use berth_shim::protocol::Request;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;

use super::{shim, spec, user, Entry};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Clone, Debug, Default)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

pub struct ExecEntry {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
    pub changed: tokio::sync::watch::Sender<u64>,
}

impl ExecEntry {
    pub fn get(&self) -> ExecState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, f: impl FnOnce(&mut ExecState)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.send_modify(|g| *g += 1);
    }
}

#[derive(Default)]
pub struct Execs {
    map: Mutex<HashMap<String, Arc<ExecEntry>>>,
}

impl Execs {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ExecEntry>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, id: &str) -> ApiResult<Arc<ExecEntry>> {
        self.map().get(id).cloned().ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    pub fn forget_container(&self, container_id: &str) {
        self.map().retain(|_, e| e.container_id != container_id);
    }

    pub fn of_container(&self, container_id: &str) -> Vec<String> {
        self.map().values().filter(|e| e.container_id == container_id && e.get().running).map(|e| e.id.clone()).collect()
    }
}

fn exec_dir(state: &AppState, id: &str) -> PathBuf {
    state.exec_root.join("x").join(id)
}

/// `POST /containers/{id}/exec`.
pub fn create(state: &AppState, entry: &Entry, config: ExecConfig) -> ApiResult<String> {
    let c = entry.get();
    if c.paused() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Container {} is paused, unpause the container before exec", c.id)));
    }
    if !c.running() || c.state.status == "restarting" {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Container {} is not running", c.id)));
    }
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let id = super::new_id();
    let e = Arc::new(ExecEntry { id: id.clone(), container_id: c.id.clone(), config, state: Mutex::new(ExecState::default()), changed: tokio::sync::watch::channel(0).0 });
    state.execs.map().insert(id.clone(), e);
    state.events.container_exec(&c.id, "exec_create", &id);
    Ok(id)
}

/// Spawns the exec's shim, attaches (when `attach`), starts the process, and watches
/// for its exit. Returns the attached stream.
pub async fn start(state: &AppState, exec: &Arc<ExecEntry>, attach: bool, tty_override: Option<bool>) -> ApiResult<Option<UnixStream>> {
    {
        let mut s = exec.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.started {
            return Err(ApiError::new(StatusCode::CONFLICT, format!("Error: Exec command {} has already run", exec.id)));
        }
        s.started = true;
    }
    let entry = state.containers.find(&exec.container_id)?;
    let c = entry.get();
    if !c.running() || c.paused() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Container {} is not running", c.id)));
    }
    let mut cfg = exec.config.clone();
    if let Some(t) = tty_override {
        cfg.tty = Some(t);
    }
    let rootfs = state.containers.container_dir(&c.id).join("merged");
    let uspec = cfg.user.clone().filter(|u| !u.is_empty()).or(c.config.user.clone()).unwrap_or_default();
    let groups = c.host_config.group_add.clone().unwrap_or_default();
    let u = tokio::task::spawn_blocking(move || user::resolve(&rootfs, &uspec, &groups)).await?.map_err(|e| ApiError::internal(format!("unable to find user: {e}")))?;
    let process = spec::exec_process(&c, &cfg, &u).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let dir = exec_dir(state, &exec.id);
    std::fs::create_dir_all(&dir).map_err(|e| ApiError::internal(format!("creating {}: {e}", dir.display())))?;
    let pfile = dir.join("process.json");
    std::fs::write(&pfile, serde_json::to_vec(&process).unwrap_or_default()).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut args: Vec<String> = vec![
        "exec".into(),
        "--id".into(),
        c.id.clone(),
        "--exec-id".into(),
        exec.id.clone(),
        "--runtime-root".into(),
        state.runtime_root().display().to_string(),
        "--dir".into(),
        dir.display().to_string(),
        "--process".into(),
        pfile.display().to_string(),
    ];
    if cfg.attach_stdin.unwrap_or(false) && attach {
        args.push("--stdin".into());
        args.push("--stdin-once".into());
    }
    let fail = |dir: &PathBuf, msg: String, exec: &ExecEntry| {
        let _ = std::fs::remove_dir_all(dir);
        exec.set(|s| {
            s.exit_code = Some(126);
        });
        msg
    };
    let ready = shim::spawn(&dir, args).await.map_err(|e| ApiError::internal(fail(&dir, format!("{e:#}"), exec)))?;
    if let Some(err) = ready.error {
        let msg = fail(&dir, format!("OCI runtime exec failed: {err}: unknown"), exec);
        return Err(ApiError::new(if msg.contains("not found") || msg.contains("no such file") { StatusCode::BAD_REQUEST } else { StatusCode::INTERNAL_SERVER_ERROR }, msg));
    }
    let stream = if attach {
        let req = Request::Attach {
            stdin: cfg.attach_stdin.unwrap_or(false),
            stdout: cfg.attach_stdout.unwrap_or(true),
            stderr: cfg.attach_stderr.unwrap_or(true),
            detach_keys: crate::routes::streams::detach_keys(cfg.detach_keys.as_deref())?,
        };
        Some(shim::attach(&dir, &req).await.map_err(|e| ApiError::internal(format!("{e:#}")))?)
    } else {
        None
    };
    let reply = match shim::call(&dir, &Request::Start).await {
        Ok(r) => r,
        Err(e) => {
            let _ = shim::call(&dir, &Request::Kill { signal: libc::SIGKILL, all: false }).await;
            let msg = fail(&dir, format!("OCI runtime exec failed: {e:#}: unknown"), exec);
            let code = if msg.contains("executable file not found") || msg.contains("no such file") { StatusCode::BAD_REQUEST } else { StatusCode::INTERNAL_SERVER_ERROR };
            return Err(ApiError::new(code, msg));
        }
    };
    exec.set(|s| {
        s.running = true;
        s.pid = reply.pid.unwrap_or(0) as i64;
    });
    entry.lock().exec_ids.push(exec.id.clone());
    state.events.container_exec(&c.id, "exec_start", &exec.id);
    let (state2, exec2) = (state.clone(), exec.clone());
    tokio::spawn(async move {
        let exit = shim::wait(&dir).await;
        exec2.set(|s| {
            s.running = false;
            s.exit_code = Some(exit.exit_code as i64);
        });
        let _ = std::fs::remove_dir_all(&dir);
        if let Ok(e) = state2.containers.find(&exec2.container_id) {
            e.lock().exec_ids.retain(|x| x != &exec2.id);
        }
        state2.events.container_exec_die(&exec2.container_id, &exec2.id, exit.exit_code);
    });
    Ok(stream)
}

/// Waits for an exec to finish; its exit code.
pub async fn wait(exec: &ExecEntry) -> i64 {
    let mut rx = exec.changed.subscribe();
    loop {
        let s = exec.get();
        if let Some(code) = s.exit_code.filter(|_| !s.running) {
            return code;
        }
        if rx.changed().await.is_err() {
            return exec.get().exit_code.unwrap_or(-1);
        }
    }
}

/// Runs `cmd` in a running container and collects up to `limit` bytes of its output
/// (stdout and stderr), for health checks. A timeout kills it and reports -1.
pub async fn run_captured(state: &AppState, entry: &Entry, cmd: Vec<String>, timeout: Duration, limit: usize) -> ApiResult<(i64, String)> {
    let cfg = ExecConfig { cmd: Some(cmd), attach_stdout: Some(true), attach_stderr: Some(true), ..Default::default() };
    let id = create(state, entry, cfg)?;
    let exec = state.execs.get(&id)?;
    let stream = start(state, &exec, true, Some(false)).await?;
    let mut out = Vec::new();
    let read = async {
        if let Some(mut s) = stream {
            let mut buf = vec![0u8; 8192];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if out.len() < limit * 2 + 64 {
                            out.extend_from_slice(&buf[..n]);
                        }
                    }
                }
            }
        }
        wait(&exec).await
    };
    let code = match tokio::time::timeout(timeout, read).await {
        Ok(c) => c,
        Err(_) => {
            let _ = shim::call(&exec_dir(state, &id), &Request::Kill { signal: libc::SIGKILL, all: false }).await;
            state.execs.map().remove(&id);
            return Ok((-1, format!("Health check exceeded timeout ({}s)", timeout.as_secs())));
        }
    };
    state.execs.map().remove(&id);
    let mut text = String::from_utf8_lossy(&demux(&out)).into_owned();
    if text.len() > limit {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok((code, text))
}

/// Payloads of Docker's multiplexed frames, stdout then stderr (health-check output).
pub fn demux(data: &[u8]) -> Vec<u8> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let _ = berth_api::stdcopy::demux(&mut &data[..], &mut out, &mut err);
    out.extend_from_slice(&err);
    out
}
