//! `GET /containers/{id}/stats` (Docker's stats JSON from the container's cgroup) and
//! `POST /containers/{id}/update` (resource limits changed live and recorded).

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::models::{HostConfig, RestartPolicy, RestartPolicyNameEnum};
use berth_runtime::cgroups::Stats;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::containers::record::{Container, ZERO_TIME};
use crate::containers::Entry;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;

/// One reading: the cgroup figures and the host's CPU time at the same moment.
#[derive(Clone, Default)]
struct Sample {
    read: String,
    stats: Stats,
    system_ns: u64,
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}

/// The host's total CPU time in ns, from the `cpu` line of /proc/stat (user, nice,
/// system, idle, iowait, irq, softirq — the fields Docker sums).
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text.lines().find(|l| l.starts_with("cpu ")).map(|l| l.split_whitespace().skip(1).take(7).filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0);
    ticks.saturating_mul(1_000_000_000 / clock_ticks())
}

fn online_cpus() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 { n as u64 } else { 1 }
}

async fn sample(state: &AppState, id: &str) -> ApiResult<Sample> {
    let root = state.runtime_root();
    let id = id.to_owned();
    tokio::task::spawn_blocking(move || {
        let stats = berth_runtime::Runtime::new(root).stats(&id).map_err(|e| ApiError::internal(format!("reading stats of {id}: {e}")))?;
        Ok(Sample { read: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), stats, system_ns: system_cpu_ns() })
    })
    .await?
}

fn cpu_json(s: &Sample, zero: bool) -> Value {
    if zero {
        return json!({ "cpu_usage": { "total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0 }, "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 } });
    }
    let st = &s.stats;
    json!({
        "cpu_usage": { "total_usage": st.cpu_usage_ns, "usage_in_kernelmode": st.cpu_system_ns, "usage_in_usermode": st.cpu_user_ns },
        "system_cpu_usage": s.system_ns,
        "online_cpus": online_cpus(),
        "throttling_data": { "periods": st.cpu_periods, "throttled_periods": st.cpu_throttled_periods, "throttled_time": st.cpu_throttled_ns },
    })
}

/// Docker's stats body. `pre` is the previous reading (None: zeroed precpu).
fn stats_json(c: &Container, cur: &Sample, pre: Option<&Sample>) -> Value {
    let st = &cur.stats;
    // An unlimited cgroup reports a huge number: Docker shows the host's memory instead.
    let host_mem = crate::sysinfo::mem_total().max(0) as u64;
    let limit = if st.memory_limit == 0 || (host_mem > 0 && st.memory_limit > host_mem) { host_mem } else { st.memory_limit };
    let mut pids = json!({ "current": st.pids_current });
    if st.pids_limit > 0 {
        pids["limit"] = json!(st.pids_limit);
    }
    let io = json!([
        { "major": 0, "minor": 0, "op": "read", "value": st.io_read_bytes },
        { "major": 0, "minor": 0, "op": "write", "value": st.io_write_bytes },
    ]);
    let zero = Sample::default();
    json!({
        "name": format!("/{}", c.name),
        "id": c.id,
        "read": cur.read,
        "preread": pre.map(|p| p.read.clone()).unwrap_or_else(|| ZERO_TIME.to_owned()),
        "pids_stats": pids,
        "blkio_stats": { "io_service_bytes_recursive": io, "io_serviced_recursive": null, "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null, "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(cur, false),
        "precpu_stats": cpu_json(pre.unwrap_or(&zero), pre.is_none()),
        "memory_stats": { "usage": st.memory_usage, "max_usage": st.memory_max_usage, "limit": limit, "stats": st.memory_stat, "failcnt": 0 },
    })
}

/// What Docker answers for a container that is not running: names, zero time, zeros.
fn stopped_json(c: &Container) -> Value {
    json!({
        "name": format!("/{}", c.name), "id": c.id, "read": ZERO_TIME, "preread": ZERO_TIME,
        "pids_stats": {}, "blkio_stats": { "io_service_bytes_recursive": null, "io_serviced_recursive": null, "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null, "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null },
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cpu_json(&Sample::default(), true), "precpu_stats": cpu_json(&Sample::default(), true),
        "memory_stats": {},
    })
}

fn running(c: &Container) -> bool {
    matches!(c.state.status.as_str(), "running" | "paused")
}

fn json_line(v: &Value) -> Bytes {
    Bytes::from(format!("{v}\n"))
}

pub async fn stats(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let entry = state.containers.find(&id)?;
    let stream = params.get("stream").is_none() || params.bool("stream");
    let one_shot = params.bool("one-shot");
    if one_shot && stream {
        return Err(ApiError::bad_request("cannot have stream=true and one-shot=true"));
    }
    let c = entry.get();
    let ctype = [(header::CONTENT_TYPE, "application/json")];
    if !running(&c) {
        return Ok((ctype, json_line(&stopped_json(&c))).into_response());
    }
    if !stream {
        let first = sample(&state, &c.id).await?;
        if one_shot {
            return Ok((ctype, json_line(&stats_json(&c, &first, None))).into_response());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let c = entry.get();
        if !running(&c) {
            return Ok((ctype, json_line(&stopped_json(&c))).into_response());
        }
        let second = sample(&state, &c.id).await?;
        return Ok((ctype, json_line(&stats_json(&c, &second, Some(&first)))).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(stream_stats(state, entry, tx));
    Ok((ctype, Body::from_stream(super::containers::tokio_stream_from(rx))).into_response())
}

/// One object a second until the container stops or the client goes away.
async fn stream_stats(state: AppState, entry: Arc<Entry>, tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let mut pre: Option<Sample> = None;
    loop {
        let c = entry.get();
        if !running(&c) || entry.removed.load(std::sync::atomic::Ordering::SeqCst) {
            if pre.is_none() {
                let _ = tx.send(Ok(json_line(&stopped_json(&c)))).await;
            }
            return;
        }
        let cur = match sample(&state, &c.id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("stats of {}: {}", c.id, e.message);
                return;
            }
        };
        if tx.send(Ok(json_line(&stats_json(&c, &cur, pre.as_ref())))).await.is_err() {
            return;
        }
        pre = Some(cur);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = tx.closed() => return,
        }
    }
}

/// The fields of ContainerUpdateBody berth applies.
#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "PascalCase")]
struct UpdateBody {
    memory: Option<i64>,
    memory_swap: Option<i64>,
    memory_reservation: Option<i64>,
    cpu_shares: Option<i64>,
    nano_cpus: Option<i64>,
    cpu_period: Option<i64>,
    cpu_quota: Option<i64>,
    cpuset_cpus: Option<String>,
    cpuset_mems: Option<String>,
    pids_limit: Option<i64>,
    blkio_weight: Option<u16>,
    restart_policy: Option<RestartPolicy>,
}

/// Docker's checks on an update, against the container's current settings.
fn validate(u: &UpdateBody, hc: &HostConfig) -> ApiResult<()> {
    let bad = |m: &str| Err(ApiError::bad_request(m));
    if u.memory.is_some_and(|m| m > 0 && m < 6 * 1024 * 1024) {
        return bad("Minimum memory limit allowed is 6MB");
    }
    let mem = u.memory.or(hc.memory).unwrap_or(0);
    let swap = u.memory_swap.or(hc.memory_swap).unwrap_or(0);
    if u.memory.is_some() && u.memory_swap.is_none() && mem > 0 && swap > 0 && mem > swap {
        return bad("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
    }
    if mem > 0 && swap > 0 && swap < mem {
        return bad("Minimum memoryswap limit should be larger than memory limit, see usage");
    }
    if u.nano_cpus.unwrap_or(0) > 0 && u.cpu_quota.unwrap_or(0) > 0 {
        return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }
    if let Some(n) = u.nano_cpus {
        let ncpu = crate::sysinfo::ncpu();
        if n < 0 || n > ncpu * 1_000_000_000 {
            return Err(ApiError::bad_request(format!("Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")));
        }
    }
    if u.blkio_weight.is_some_and(|w| w != 0 && !(10..=1000).contains(&w)) {
        return bad("Range of blkio weight is from 10 to 1000");
    }
    if let Some(p) = &u.restart_policy {
        if hc.auto_remove == Some(true) && !matches!(p.name, None | Some(RestartPolicyNameEnum::EMPTY) | Some(RestartPolicyNameEnum::NO)) {
            return bad("Restart policy cannot be updated because AutoRemove is enabled for the container");
        }
        if p.maximum_retry_count.unwrap_or(0) != 0 && p.name != Some(RestartPolicyNameEnum::ON_FAILURE) {
            return bad("invalid restart policy: maximum retry count can only be used with 'on-failure'");
        }
    }
    Ok(())
}

/// The OCI `linux.resources` for just the fields being changed.
fn resources(u: &UpdateBody, hc: &HostConfig) -> Value {
    let mut res = json!({});
    let mut mem = serde_json::Map::new();
    if let Some(m) = u.memory.filter(|m| *m > 0) {
        mem.insert("limit".into(), json!(m));
        // Docker's default when only the memory changes: keep a set swap limit, else
        // as much swap as memory.
        let swap = u.memory_swap.or(hc.memory_swap.filter(|s| *s != 0)).unwrap_or(m * 2);
        mem.insert("swap".into(), json!(swap));
    } else if let Some(s) = u.memory_swap.filter(|s| *s != 0) {
        mem.insert("swap".into(), json!(s));
    }
    if let Some(r) = u.memory_reservation.filter(|r| *r > 0) {
        mem.insert("reservation".into(), json!(r));
    }
    if !mem.is_empty() {
        res["memory"] = Value::Object(mem);
    }
    let mut cpu = serde_json::Map::new();
    if let Some(s) = u.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(n) = u.nano_cpus {
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        // 0 lifts the limit (-1 in cfs_quota_us).
        cpu.insert("quota".into(), json!(if n > 0 { n * period / 1_000_000_000 } else { -1 }));
    } else {
        if let Some(q) = u.cpu_quota.filter(|q| *q != 0) {
            cpu.insert("quota".into(), json!(q));
        }
        if let Some(p) = u.cpu_period.filter(|p| *p > 0) {
            cpu.insert("period".into(), json!(p));
        }
    }
    if let Some(c) = u.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = u.cpuset_mems.as_deref().filter(|c| !c.is_empty()) {
        cpu.insert("mems".into(), json!(m));
    }
    if !cpu.is_empty() {
        res["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = u.pids_limit.filter(|p| *p != 0) {
        res["pids"] = json!({ "limit": p });
    }
    if let Some(w) = u.blkio_weight.filter(|w| *w > 0) {
        res["blockIO"] = json!({ "weight": w });
    }
    res
}

fn record(u: &UpdateBody, hc: &mut HostConfig) {
    let set = |dst: &mut Option<i64>, v: Option<i64>| {
        if v.is_some() {
            *dst = v;
        }
    };
    set(&mut hc.memory, u.memory);
    if u.memory.is_some_and(|m| m > 0) && u.memory_swap.is_none() && hc.memory_swap.unwrap_or(0) == 0 {
        hc.memory_swap = u.memory.map(|m| m * 2);
    }
    set(&mut hc.memory_swap, u.memory_swap);
    set(&mut hc.memory_reservation, u.memory_reservation);
    set(&mut hc.cpu_shares, u.cpu_shares);
    set(&mut hc.nano_cpus, u.nano_cpus);
    set(&mut hc.cpu_period, u.cpu_period);
    set(&mut hc.cpu_quota, u.cpu_quota);
    set(&mut hc.pids_limit, u.pids_limit);
    if let Some(c) = &u.cpuset_cpus {
        hc.cpuset_cpus = Some(c.clone());
    }
    if let Some(m) = &u.cpuset_mems {
        hc.cpuset_mems = Some(m.clone());
    }
    if u.blkio_weight.is_some() {
        hc.blkio_weight = u.blkio_weight;
    }
    if let Some(p) = &u.restart_policy {
        hc.restart_policy = Some(p.clone());
    }
}

pub async fn update(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let entry = state.containers.find(&id)?;
    let u: UpdateBody = super::containers::parse_body(&body, false)?;
    let _op = entry.op.lock().await;
    let c = entry.get();
    validate(&u, &c.host_config)?;
    if running(&c) {
        let res = resources(&u, &c.host_config);
        if res.as_object().is_some_and(|o| !o.is_empty()) {
            let root = state.runtime_root();
            let cid = c.id.clone();
            tokio::task::spawn_blocking(move || -> Result<(), String> {
                let res = serde_json::from_value(res).map_err(|e| e.to_string())?;
                berth_runtime::Runtime::new(root).update(&cid, &res).map_err(|e| e.to_string())
            })
            .await?
            .map_err(|e| ApiError::internal(format!("Cannot update container {}: {e}", c.id)))?;
        }
    }
    record(&u, &mut entry.lock().host_config);
    state.containers.save(&entry);
    state.events.container(&c.id, "update");
    Ok(Json(json!({ "Warnings": [] })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_checks_and_resources() {
        let hc = HostConfig::default();
        let u: UpdateBody = serde_json::from_str(r#"{"Memory": 67108864, "NanoCpus": 500000000, "PidsLimit": 50}"#).unwrap();
        validate(&u, &hc).unwrap();
        let r = resources(&u, &hc);
        assert_eq!(r["memory"], json!({ "limit": 67108864, "swap": 134217728 }));
        assert_eq!(r["cpu"], json!({ "period": 100000, "quota": 50000 }));
        assert_eq!(r["pids"], json!({ "limit": 50 }));
        let small: UpdateBody = serde_json::from_str(r#"{"Memory": 1024}"#).unwrap();
        assert!(validate(&small, &hc).unwrap_err().message.contains("6MB"));
        let mut hc2 = HostConfig::default();
        record(&u, &mut hc2);
        assert_eq!(hc2.memory, Some(67108864));
        assert_eq!(hc2.pids_limit, Some(50));
    }
}
