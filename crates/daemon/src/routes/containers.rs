//! `/containers/...`: create, list, inspect, the lifecycle verbs, wait, logs, top,
//! rename, prune.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::models::ContainerCreateBody;
use berth_api::Filters;
use serde_json::{json, Value};

use crate::containers::{lifecycle, logs, networking, record::Container, secret_mounts, status, Entry};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;

/// Decodes a JSON body, naming the field at fault when it does not fit.
pub fn parse_body<T: serde::de::DeserializeOwned + Default>(body: &Bytes, required: bool) -> ApiResult<T> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        if required {
            return Err(ApiError::bad_request("config cannot be empty in order to create a container"));
        }
        return Ok(T::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ApiError::bad_request(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid JSON body: field {path}: {inner}"))
        }
    })
}

pub async fn create(State(state): State<AppState>, params: Params, body: Bytes) -> ApiResult<Response> {
    let parsed: ContainerCreateBody = parse_body(&body, true)?;
    let ext: secret_mounts::CreateExtension = parse_body(&body, true)?;
    let body = parsed;
    let (id, warnings) = lifecycle::create(&state, params.get("name"), body, ext.secrets()).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id, "Warnings": warnings }))).into_response())
}

fn find(state: &AppState, id: &str) -> ApiResult<Arc<Entry>> {
    state.containers.find(id)
}

fn network_mode(c: &Container) -> String {
    c.host_config.network_mode.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| "bridge".into())
}

fn mounts_of(c: &Container) -> Vec<Value> {
    c.mounts.iter().map(|m| m.to_json()).collect()
}

fn created_unix(c: &Container) -> i64 {
    status::unix_time(&c.created).map(|t| t.timestamp()).unwrap_or(0)
}

/// The `docker ps` row.
fn summary(state: &AppState, c: &Container, size: Option<(i64, i64)>) -> Value {
    let mut v = json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": c.command_line(),
        "Created": created_unix(c),
        "Ports": networking::ports_json(state, c),
        "Labels": c.config.labels.clone().unwrap_or_default(),
        "State": c.state.status,
        "Status": status::status_line(c),
        "HostConfig": { "NetworkMode": network_mode(c) },
        "NetworkSettings": { "Networks": networking::settings_json(state, c)["Networks"].take() },
        "Mounts": mounts_of(c),
    });
    if let Some((rw, root)) = size {
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(root);
    }
    v
}

/// Bytes under a directory (not following symlinks, counting each inode once).
fn dir_size(path: &std::path::Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0i64;
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else { continue };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if seen.insert((md.dev(), md.ino())) {
                total += md.len() as i64;
            }
        }
    }
    total
}

fn sizes(state: &AppState, c: &Container) -> (i64, i64) {
    let rw = dir_size(&state.containers.container_dir(&c.id).join("upper"));
    let image = c.image_id.parse().ok().and_then(|d| state.images.get(&d).ok()).map(|r| r.size as i64).unwrap_or(0);
    (rw, rw + image)
}

fn matches_filters(state: &AppState, c: &Container, f: &Filters) -> bool {
    let any = |name: &str, pred: &dyn Fn(&str) -> bool| {
        let vals = f.get(name);
        vals.is_empty() || vals.iter().any(|v| pred(v))
    };
    any("id", &|v| c.id.starts_with(v))
        && any("name", &|v| {
            // Docker matches the name (with its slash) against a regular expression.
            let full = format!("/{}", c.name);
            match regex::Regex::new(v) {
                Ok(re) => re.is_match(&full),
                Err(_) => full.contains(v),
            }
        })
        && any("status", &|v| c.state.status == v)
        && any("exited", &|v| c.state.status == "exited" && v.parse::<i64>().ok() == Some(c.state.exit_code))
        // Label filters must all hold (docker ANDs them: compose lists a project's
        // containers with `project=P` and `oneoff=False` together).
        && {
            let labels = c.config.labels.clone().unwrap_or_default();
            f.labels_match(|k| labels.get(k).map(String::as_str))
        }
        && any("ancestor", &|v| {
            c.image == v || c.image_id == v || c.image_id.strip_prefix("sha256:").is_some_and(|h| h.starts_with(v)) || state.images.resolve(v).map(|d| d.to_string() == c.image_id).unwrap_or(false)
        })
        && any("health", &|v| {
            let h = c.state.health.as_ref().map(|h| h.status.as_str()).unwrap_or("none");
            h == v
        })
        && any("network", &|v| network_mode(c) == v)
        && any("is-task", &|v| v == "false")
}

pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Vec<Value>>> {
    let filters = Filters::parse(params.get("filters").unwrap_or(""))?;
    filters.validate(&["id", "name", "status", "exited", "label", "ancestor", "before", "since", "health", "network", "volume", "is-task", "publish", "expose"])?;
    for s in filters.get("status") {
        if !["created", "restarting", "running", "removing", "paused", "exited", "dead"].contains(&s.as_str()) {
            return Err(ApiError::bad_request(format!("invalid filter 'status={s}'")));
        }
    }
    let all = params.bool("all") || !filters.get("status").is_empty() || !filters.get("exited").is_empty();
    let limit: i64 = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(-1);
    let mut cs: Vec<Container> = state.containers.all().iter().map(|e| e.get()).collect();
    // Newest first, as Docker lists.
    cs.sort_by(|a, b| b.created.cmp(&a.created));
    let created_of = |w: &str| state.containers.find(w).map(|e| e.get().created);
    let before = filters.get("before").first().map(|w| created_of(w)).transpose()?;
    let since = filters.get("since").first().map(|w| created_of(w)).transpose()?;
    let want_size = params.bool("size");
    let mut out = Vec::new();
    for c in cs {
        if !all && limit <= 0 && !c.running() {
            continue;
        }
        if before.as_ref().is_some_and(|b| c.created >= *b) || since.as_ref().is_some_and(|s| c.created <= *s) {
            continue;
        }
        if !matches_filters(&state, &c, &filters) {
            continue;
        }
        let size = want_size.then(|| sizes(&state, &c));
        out.push(summary(&state, &c, size));
        if limit > 0 && out.len() as i64 >= limit {
            break;
        }
    }
    Ok(Json(out))
}

fn state_json(c: &Container) -> Value {
    let s = &c.state;
    let mut v = json!({
        "Status": s.status,
        "Running": c.running() && s.status != "restarting",
        "Paused": s.status == "paused",
        "Restarting": s.status == "restarting",
        "OOMKilled": s.oom_killed,
        "Dead": s.status == "dead",
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": s.started_at,
        "FinishedAt": s.finished_at,
    });
    if let Some(h) = &s.health {
        v["Health"] = json!({
            "Status": h.status,
            "FailingStreak": h.failing_streak,
            "Log": h.log.iter().map(|l| json!({ "Start": l.start, "End": l.end, "ExitCode": l.exit_code, "Output": l.output })).collect::<Vec<_>>(),
        });
    }
    v
}

pub fn inspect_json(state: &AppState, c: &Container, size: bool) -> Value {
    let dir = state.containers.container_dir(&c.id);
    let lower = c
        .image_id
        .parse()
        .ok()
        .and_then(|d| state.images.get(&d).ok())
        .map(|r| r.chain_ids.iter().rev().map(|ch| state.images.layers().diff_dir(ch).display().to_string()).collect::<Vec<_>>().join(":"))
        .unwrap_or_default();
    let log_path = if c.host_config.log_config.as_ref().and_then(|l| l.typ.as_deref()) == Some("none") { String::new() } else { lifecycle::log_path(state, c).display().to_string() };
    let mut hc = serde_json::to_value(&c.host_config).unwrap_or(json!({}));
    // Docker always prints these, even when unset.
    for (k, d) in [("Binds", Value::Null), ("NetworkMode", json!("bridge")), ("PortBindings", json!({})), ("AutoRemove", json!(false)), ("Privileged", json!(false)), ("ReadonlyRootfs", json!(false))] {
        if hc.get(k).is_none() {
            hc[k] = d;
        }
    }
    if hc.get("RestartPolicy").is_none() {
        hc["RestartPolicy"] = json!({ "Name": "no", "MaximumRetryCount": 0 });
    }
    // Which secrets, where and how: never their values.
    if !c.secrets.is_empty() {
        hc["BerthSecrets"] = json!(c.secrets);
    }
    let mut config = serde_json::to_value(&c.config).unwrap_or(json!({}));
    config["Hostname"] = json!(crate::containers::spec::hostname(c));
    for (k, d) in [("Domainname", json!("")), ("User", json!("")), ("AttachStdin", json!(false)), ("AttachStdout", json!(false)), ("AttachStderr", json!(false)), ("Tty", json!(false)), ("OpenStdin", json!(false)), ("StdinOnce", json!(false)), ("WorkingDir", json!("")), ("Entrypoint", Value::Null), ("Labels", json!({}))] {
        if config.get(k).is_none() {
            config[k] = d;
        }
    }
    let exec_ids = state.execs.of_container(&c.id);
    let mut v = json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": state_json(c),
        "Image": c.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": log_path,
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": if exec_ids.is_empty() { Value::Null } else { json!(exec_ids) },
        "HostConfig": hc,
        "GraphDriver": { "Name": "overlay2", "Data": {
            "LowerDir": lower,
            "MergedDir": dir.join("merged"),
            "UpperDir": dir.join("upper"),
            "WorkDir": dir.join("work"),
        }},
        "Mounts": mounts_of(c),
        "Config": config,
        "NetworkSettings": networking::settings_json(state, c),
    });
    if size {
        let (rw, root) = sizes(state, c);
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(root);
    }
    v
}

/// Everything below /containers/{id}/: dispatched by method and verb.
pub async fn inspect(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Json<Value>> {
    let e = find(&state, &id)?;
    let c = e.get();
    let st = state.clone();
    let size = params.bool("size");
    Ok(Json(tokio::task::spawn_blocking(move || inspect_json(&st, &c, size)).await?))
}

fn opt_i64(params: &Params, key: &str) -> ApiResult<Option<i64>> {
    match params.non_empty(key) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}"))),
    }
}

pub async fn start(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let e = find(&state, &id)?;
    Ok(if lifecycle::start(&state, &e).await? { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED })
}

pub async fn stop(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let e = find(&state, &id)?;
    let t = opt_i64(&params, "t")?;
    Ok(if lifecycle::stop(&state, &e, t, params.get("signal")).await? { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED })
}

pub async fn restart(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let e = find(&state, &id)?;
    let t = opt_i64(&params, "t")?;
    lifecycle::restart(&state, &e, t, params.get("signal")).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn kill(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let e = find(&state, &id)?;
    lifecycle::kill(&state, &e, params.get("signal")).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn pause(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let e = find(&state, &id)?;
    lifecycle::pause(&state, &e).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unpause(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let e = find(&state, &id)?;
    lifecycle::unpause(&state, &e).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let e = find(&state, &id)?;
    if params.bool("link") {
        return Err(ApiError::bad_request("legacy links are not supported"));
    }
    lifecycle::remove(&state, &e, params.bool("force"), params.bool("v")).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rename(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let e = find(&state, &id)?;
    let new = params.non_empty("name").ok_or_else(|| ApiError::bad_request("Neither old nor new names may be empty"))?;
    let new = crate::containers::names::validate(new).map_err(ApiError::bad_request)?;
    let old = e.get().name;
    if old == new {
        return Err(ApiError::bad_request("Renaming a container with the same name as its current name"));
    }
    state.containers.rename(&e, &new)?;
    e.notify();
    state.events.container(&e.id(), "rename");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/wait`: the status line goes out at once (clients wait on the
/// body), the body when the condition is met.
pub async fn wait(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let e = find(&state, &id)?;
    let condition = params.non_empty("condition").unwrap_or("not-running").to_owned();
    if !["not-running", "next-exit", "removed"].contains(&condition.as_str()) {
        return Err(ApiError::bad_request(format!("invalid condition: \"{condition}\"")));
    }
    let mut rx = e.changed.subscribe();
    let start = e.get();
    let first_finish = start.state.finished_at.clone();
    let fut = async move {
        loop {
            let c = e.get();
            let removed = e.removed.load(std::sync::atomic::Ordering::SeqCst);
            let stopped = !c.running() || c.state.status == "restarting";
            let done = match condition.as_str() {
                "removed" => removed,
                "next-exit" => removed || (stopped && c.state.finished_at != first_finish),
                _ => removed || stopped,
            };
            if done {
                let err = if c.state.error.is_empty() { Value::Null } else { json!({ "Message": c.state.error }) };
                let body = json!({ "StatusCode": c.state.exit_code, "Error": err });
                return Ok::<Bytes, std::io::Error>(Bytes::from(format!("{body}\n")));
            }
            if rx.changed().await.is_err() {
                let body = json!({ "StatusCode": c.state.exit_code, "Error": null });
                return Ok(Bytes::from(format!("{body}\n")));
            }
        }
    };
    let body = Body::from_stream(futures_util::stream::once(fut));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

pub async fn logs(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let e = find(&state, &id)?;
    let c = e.get();
    let driver = c.host_config.log_config.as_ref().and_then(|l| l.typ.clone()).unwrap_or_default();
    if driver == "none" {
        return Err(ApiError::bad_request("configured logging driver does not support reading"));
    }
    let stdout = params.bool("stdout");
    let stderr = params.bool("stderr");
    if !stdout && !stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let tail = match params.non_empty("tail") {
        None | Some("all") => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| ApiError::bad_request(format!("invalid value for tail: {n:?}")))?),
    };
    let time = |k: &str| -> ApiResult<Option<i128>> {
        match params.non_empty(k) {
            None | Some("0") => Ok(None),
            Some(v) => logs::parse_time(v).map(Some).ok_or_else(|| ApiError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    };
    let o = logs::Options { stdout, stderr, follow: params.bool("follow"), timestamps: params.bool("timestamps"), since: time("since")?, until: time("until")?, tail, tty: c.tty() };
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let format = lifecycle::log_format(&c).unwrap_or(logs::Format::JsonFile);
    tokio::spawn(logs::stream(lifecycle::log_path(&state, &c), format, e.clone(), o, tx));
    let ctype = if c.tty() { "application/vnd.docker.raw-stream" } else { "application/vnd.docker.multiplexed-stream" };
    let body = Body::from_stream(tokio_stream_from(rx));
    Ok(([(header::CONTENT_TYPE, ctype)], body).into_response())
}

/// A receiver as a body stream.
pub fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

pub async fn top(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Json<Value>> {
    let e = find(&state, &id)?;
    let c = e.get();
    if !c.running() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("container {} is not running", c.id)));
    }
    let root = state.runtime_root();
    let cid = c.id.clone();
    let pids: Vec<i32> = tokio::task::spawn_blocking(move || berth_runtime::Runtime::new(root).pids(&cid)).await?.map_err(|e| ApiError::internal(e.to_string()))?;
    let args = params.non_empty("ps_args").unwrap_or("-ef").to_owned();
    let out = tokio::process::Command::new("ps").args(args.split_whitespace()).output().await.map_err(|e| ApiError::internal(format!("running ps: {e}")))?;
    if !out.status.success() {
        return Err(ApiError::internal(format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<&str> = header.split_whitespace().collect();
    let pid_col = titles.iter().position(|t| *t == "PID").ok_or_else(|| ApiError::internal("Couldn't find PID field in ps output"))?;
    let mut procs = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < titles.len() {
            continue;
        }
        let Ok(pid) = f[pid_col].parse::<i32>() else { continue };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let mut row: Vec<String> = f[..titles.len() - 1].iter().map(|s| s.to_string()).collect();
        row.push(f[titles.len() - 1..].join(" "));
        procs.push(row);
    }
    Ok(Json(json!({ "Titles": titles, "Processes": procs })))
}

pub async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let filters = Filters::parse(params.get("filters").unwrap_or(""))?;
    filters.validate(&["label", "label!", "until"])?;
    let until = filters.get("until").first().map(|u| logs::parse_time(u).ok_or_else(|| ApiError::bad_request(format!("invalid until filter: {u}")))).transpose()?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0i64;
    for e in state.containers.all() {
        let c = e.get();
        if c.running() {
            continue;
        }
        let labels = c.config.labels.clone().unwrap_or_default();
        let label_ok = filters.labels_match(|k| labels.get(k).map(String::as_str));
        let created_ns = status::unix_time(&c.created).and_then(|t| t.timestamp_nanos_opt()).unwrap_or(0) as i128;
        if !label_ok || until.is_some_and(|u| created_ns >= u) {
            continue;
        }
        let size = dir_size(&state.containers.container_dir(&c.id).join("upper"));
        if lifecycle::remove(&state, &e, false, false).await.is_ok() {
            reclaimed += size;
            deleted.push(c.id.clone());
        }
    }
    state.events.container("", "prune");
    Ok(Json(json!({ "ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed })))
}
