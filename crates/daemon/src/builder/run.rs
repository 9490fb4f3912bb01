//! A RUN step as a real container: created from the stage's current image through the
//! same lifecycle as `docker run` (mounts, network, capabilities, seccomp), attached
//! before it starts so no output is lost, its output forwarded as build progress, its
//! upper dir committed by the caller, then removed whatever happened.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use berth_api::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use berth_shim::protocol::Request as ShimRequest;
use tokio::io::AsyncReadExt;

use super::Progress;
use crate::containers::{lifecycle, shim, Entry};
use crate::state::AppState;

/// What the step's container runs with.
#[derive(Default)]
pub struct RunSpec {
    pub image: String,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub workdir: String,
    pub network_mode: String,
    /// `src:dst[:ro]` binds (cache mounts, bind mounts, secrets).
    pub binds: Vec<String>,
    /// tmpfs mounts: target → options.
    pub tmpfs: HashMap<String, String>,
    pub privileged: bool,
}

/// A step container, removed when dropped (on a task, as removal is async).
pub struct StepContainer {
    state: AppState,
    pub entry: Arc<Entry>,
}

impl StepContainer {
    pub fn upper(&self) -> std::path::PathBuf {
        self.state.containers.container_dir(&self.entry.id()).join("upper")
    }

    pub fn short_id(&self) -> String {
        self.entry.id()[..12].to_owned()
    }

    /// Removes the container now (and its anonymous volumes).
    pub async fn remove(self) {
        let entry = self.entry.clone();
        let state = self.state.clone();
        std::mem::forget(self);
        if let Err(e) = lifecycle::remove(&state, &entry, true, true).await {
            tracing::warn!("removing build container {}: {}", entry.id(), e.message);
        }
    }
}

impl Drop for StepContainer {
    fn drop(&mut self) {
        let (state, entry) = (self.state.clone(), self.entry.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = lifecycle::remove(&state, &entry, true, true).await;
            });
        }
    }
}

/// Creates the step's container (not started yet).
pub async fn create(state: &AppState, spec: RunSpec) -> Result<StepContainer> {
    let body = ContainerCreateBody {
        image: Some(spec.image),
        cmd: Some(spec.argv),
        entrypoint: Some(Vec::new()),
        env: Some(spec.env),
        user: Some(spec.user),
        working_dir: Some(spec.workdir),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some(spec.network_mode),
            binds: if spec.binds.is_empty() { None } else { Some(spec.binds) },
            tmpfs: if spec.tmpfs.is_empty() { None } else { Some(spec.tmpfs) },
            privileged: Some(spec.privileged),
            // Output is streamed to the client; no log file is kept.
            log_config: Some(HostConfigLogConfig { typ: Some("none".into()), config: None }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (id, _) = lifecycle::create(state, None, body, Vec::new()).await.map_err(|e| anyhow!("{}", e.message))?;
    let entry = state.containers.find(&id).map_err(|e| anyhow!("{}", e.message))?;
    Ok(StepContainer { state: state.clone(), entry })
}

/// Starts the container, forwards its output, and returns its exit code.
pub async fn run(state: &AppState, c: &StepContainer, progress: &Progress) -> Result<i64> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let request = ShimRequest::Attach { stdin: false, stdout: true, stderr: true, detach_keys: Vec::new() };
    c.entry.pending_attach.lock().unwrap_or_else(|p| p.into_inner()).push(shim::PendingAttach { request, tx });
    lifecycle::start(state, &c.entry).await.map_err(|e| anyhow!("{}", e.message))?;
    let stream = rx.await.map_err(|_| anyhow!("the build container did not start"))?.map_err(|e| anyhow!("attaching to the build container: {e}"))?;
    forward(stream, progress).await;
    lifecycle::wait_stopped(&c.entry, None).await;
    let s = c.entry.get().state;
    if !s.error.is_empty() && s.exit_code == 0 {
        return Err(anyhow!("{}", s.error));
    }
    Ok(s.exit_code)
}

/// Demultiplexes the attach stream (8-byte frame headers) into progress lines.
async fn forward(mut s: tokio::net::UnixStream, progress: &Progress) {
    let mut header = [0u8; 8];
    loop {
        if s.read_exact(&mut header).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut payload = vec![0u8; len];
        if s.read_exact(&mut payload).await.is_err() {
            return;
        }
        progress.stream(String::from_utf8_lossy(&payload).into_owned()).await;
    }
}
