//! `/volumes...`: create, list, inspect, remove, prune — and, beyond Docker, export
//! and import of a volume's content as a tar.

use std::collections::{BTreeMap, HashMap};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::Filters;
use berth_volume::store::CreateOptions;
use berth_volume::Volume;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::containers::mounts;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;
use crate::stream::ChannelWriter;

/// A volume as the API shows it; `usage` adds UsageData (system df).
pub fn volume_json(state: &AppState, v: &Volume, usage: Option<(u64, usize)>) -> Value {
    let map = |m: &BTreeMap<String, String>| if m.is_empty() { Value::Null } else { json!(m) };
    let mut out = json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": map(&v.labels),
        "Mountpoint": state.volumes.mountpoint(&v.name),
        "Name": v.name,
        "Options": map(&v.options),
        "Scope": "local",
    });
    if let Some((size, refs)) = usage {
        out["UsageData"] = json!({ "Size": size, "RefCount": refs });
    }
    out
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    driver_opts: Option<HashMap<String, String>>,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
}

/// `POST /volumes/create`.
pub async fn create(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let b: CreateBody = super::containers::parse_body(&body, false)?;
    let req = CreateOptions {
        name: b.name.filter(|n| !n.is_empty()),
        driver: b.driver.unwrap_or_default(),
        labels: b.labels.unwrap_or_default().into_iter().collect(),
        options: b.driver_opts.unwrap_or_default().into_iter().collect(),
    };
    let st = state.clone();
    let (v, made) = blocking(move || st.volumes.create(req).map_err(mounts::api_error)).await?;
    if made {
        state.events.volume(&v.name, "create");
    }
    Ok((StatusCode::CREATED, Json(volume_json(&state, &v, None))).into_response())
}

fn matches(state: &AppState, f: &Filters, v: &Volume, dangling: Option<bool>) -> bool {
    if let Some(d) = dangling {
        if mounts::users_of(state, &v.name).is_empty() != d {
            return false;
        }
    }
    f.get("name").iter().all(|n| v.name.contains(n.as_str()))
        && f.get("driver").iter().all(|d| *d == v.driver)
        && f.labels_match(|k| v.labels.get(k).map(String::as_str))
}

/// `GET /volumes`.
pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let f = Filters::parse(params.get("filters").unwrap_or(""))?;
    f.validate(&["dangling", "driver", "label", "label!", "name"])?;
    let dangling = f.bool("dangling")?;
    let st = state.clone();
    let all = blocking(move || st.volumes.list().map_err(mounts::api_error)).await?;
    let out: Vec<Value> = all.iter().filter(|v| matches(&state, &f, v, dangling)).map(|v| volume_json(&state, v, None)).collect();
    Ok(Json(json!({ "Volumes": out, "Warnings": [] })))
}

/// `GET /volumes/{name}`.
pub async fn inspect(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let st = state.clone();
    let v = blocking(move || st.volumes.get(&name).map_err(mounts::api_error)).await?;
    Ok(Json(volume_json(&state, &v, None)))
}

/// `DELETE /volumes/{name}`: refused while any container (running or not) uses it;
/// `force` only makes a missing volume no error, as in Docker.
pub async fn remove(State(state): State<AppState>, Path(name): Path<String>, params: Params) -> ApiResult<StatusCode> {
    let users = mounts::users_of(&state, &name);
    let st = state.clone();
    let n = name.clone();
    match blocking(move || st.volumes.remove(&n, &users).map_err(mounts::api_error)).await {
        Ok(()) => {
            state.events.volume(&name, "destroy");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(e) if e.status == StatusCode::NOT_FOUND && params.bool("force") => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e),
    }
}

/// `POST /volumes/prune`: unused volumes; only anonymous ones unless `all=true` (as
/// Docker 23+ and API 1.42+).
pub async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let f = Filters::parse(params.get("filters").unwrap_or(""))?;
    f.validate(&["label", "label!", "all"])?;
    let all = f.bool("all")?.unwrap_or(false);
    let st = state.clone();
    let (deleted, reclaimed) = blocking(move || {
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for v in st.volumes.list().map_err(mounts::api_error)? {
            if (!all && !v.anonymous()) || !f.labels_match(|k| v.labels.get(k).map(String::as_str)) {
                continue;
            }
            let users = mounts::users_of(&st, &v.name);
            if !users.is_empty() {
                continue;
            }
            let size = berth_volume::tree::disk_usage(&st.volumes.mountpoint(&v.name));
            match st.volumes.remove(&v.name, &users) {
                Ok(()) => {
                    st.events.volume(&v.name, "destroy");
                    reclaimed += size;
                    deleted.push(v.name);
                }
                Err(e) => tracing::warn!(volume = %v.name, "prune: {e}"),
            }
        }
        Ok((deleted, reclaimed))
    })
    .await?;
    state.events.volume("", "prune");
    Ok(Json(json!({ "VolumesDeleted": deleted, "SpaceReclaimed": reclaimed })))
}

/// `GET /volumes/{name}/export` (berth's own): a tar of the volume's content.
pub async fn export(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Response> {
    let st = state.clone();
    let n = name.clone();
    blocking(move || st.volumes.get(&n).map_err(mounts::api_error)).await?;
    let data = state.volumes.mountpoint(&name);
    let (mut writer, body_rx) = ChannelWriter::new();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = berth_volume::tree::export(&data, &mut writer) {
            tracing::debug!("volume export: {e}");
            writer.fail(std::io::Error::other(e.to_string()));
        }
    });
    let mut resp = Response::new(Body::from_stream(super::containers::tokio_stream_from(body_rx)));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(resp)
}

/// `PUT /volumes/{name}/import` (berth's own): extracts a tar (plain or compressed)
/// into the volume, which must exist.
pub async fn import(State(state): State<AppState>, Path(name): Path<String>, body: Body) -> ApiResult<StatusCode> {
    let st = state.clone();
    let n = name.clone();
    blocking(move || st.volumes.get(&n).map_err(mounts::api_error)).await?;
    let data = state.volumes.mountpoint(&name);
    let reader = crate::stream::body_reader(body);
    blocking(move || berth_volume::tree::import(&data, reader).map_err(|e| ApiError::bad_request(e.to_string()))).await?;
    Ok(StatusCode::OK)
}

/// The `Volumes` part of `GET /system/df`: every volume with its size and how many
/// containers use it.
pub async fn usage(state: &AppState) -> ApiResult<Vec<Value>> {
    let st = state.clone();
    blocking(move || {
        let vols = st.volumes.list().map_err(mounts::api_error)?;
        Ok(vols
            .iter()
            .map(|v| {
                let size = berth_volume::tree::disk_usage(&st.volumes.mountpoint(&v.name));
                volume_json(&st, v, Some((size, mounts::users_of(&st, &v.name).len())))
            })
            .collect())
    })
    .await
}
