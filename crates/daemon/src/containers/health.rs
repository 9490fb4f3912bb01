//! Health checks: HEALTHCHECK from the image or `--health-*`, run as an exec every
//! interval; starting → healthy / unhealthy after `retries` failures in a row, failures
//! during the start period not counted (Docker's rules), the last five results kept.

use std::sync::Arc;
use std::time::Duration;

use super::record::HealthLogEntry;
use super::{exec, lifecycle, Entry};
use crate::state::AppState;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;
const MAX_LOG: usize = 5;
const MAX_OUTPUT: usize = 4096;

fn dur(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Starts the checker of a running container that has a healthcheck; it ends when the
/// container stops.
pub fn spawn_checker(state: AppState, entry: Arc<Entry>) {
    let c = entry.get();
    let Some(h) = lifecycle::healthcheck_of(&c.config) else { return };
    let started_at = c.state.started_at.clone();
    let test = h.test.clone().unwrap_or_default();
    let cmd: Vec<String> = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => {
            let mut sh = c.config.shell.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            sh.push(test[1..].join(" "));
            sh
        }
        _ => return,
    };
    let interval = dur(h.interval, DEFAULT_INTERVAL);
    let timeout = dur(h.timeout, DEFAULT_TIMEOUT);
    let start_period = dur(h.start_period, Duration::ZERO);
    let start_interval = dur(h.start_interval, Duration::from_secs(5));
    let retries = h.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES);
    tokio::spawn(async move {
        let began = tokio::time::Instant::now();
        loop {
            let in_start_period = began.elapsed() < start_period;
            let wait = if in_start_period && h.start_interval.unwrap_or(0) > 0 { start_interval } else { interval };
            tokio::time::sleep(wait).await;
            {
                let c = entry.lock();
                if c.state.status != "running" && c.state.status != "paused" || c.state.started_at != started_at || entry.removed.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                if c.paused() {
                    continue;
                }
            }
            let start = now();
            let (code, output) = match exec::run_captured(&state, &entry, cmd.clone(), timeout, MAX_OUTPUT).await {
                Ok(r) => r,
                Err(e) => (-1, e.message),
            };
            let in_start_period = began.elapsed() < start_period;
            let changed_to = {
                let mut c = entry.lock();
                if c.state.started_at != started_at {
                    return;
                }
                let Some(hs) = c.state.health.as_mut() else { return };
                hs.log.push(HealthLogEntry { start, end: now(), exit_code: code, output });
                if hs.log.len() > MAX_LOG {
                    hs.log.remove(0);
                }
                let before = hs.status.clone();
                if code == 0 {
                    hs.failing_streak = 0;
                    hs.status = "healthy".into();
                } else if !(in_start_period && hs.status == "starting") {
                    hs.failing_streak += 1;
                    if hs.failing_streak >= retries {
                        hs.status = "unhealthy".into();
                    }
                }
                (hs.status != before).then(|| hs.status.clone())
            };
            state.containers.save(&entry);
            if let Some(s) = changed_to {
                state.events.container(&entry.id(), &format!("health_status: {s}"));
            }
        }
    });
}
