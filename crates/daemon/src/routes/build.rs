//! `POST /build` (Docker's classic builder: the context tar in the body, options in the
//! query, JSON progress lines back) and `POST /build/prune`.
//!
//! As dockerd does, bad options are answered with a status code; once the context is
//! read, everything (build errors included) goes down the stream, ending in
//! `{"aux":{"ID":…}}` and "Successfully built" or in an error message.

use std::collections::{BTreeMap, HashMap};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use berth_api::message::{ErrorDetail, JsonMessage};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::builder::{self, Options, Progress};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;
use crate::stream::body_reader;

/// A JSON object of strings in a query value (`buildargs`, `labels`); null values (an
/// arg named without a value) are left out.
fn string_map(params: &Params, key: &str) -> ApiResult<BTreeMap<String, String>> {
    let Some(raw) = params.non_empty(key) else { return Ok(BTreeMap::new()) };
    let v: HashMap<String, Option<String>> = serde_json::from_str(raw).map_err(|e| ApiError::bad_request(format!("invalid {key} parameter: {e}")))?;
    Ok(v.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}

/// berth's secrets header: base64 of a JSON object id → base64 content.
fn secrets(req: &Request) -> ApiResult<HashMap<String, Vec<u8>>> {
    let Some(h) = req.headers().get("x-berth-build-secrets") else { return Ok(HashMap::new()) };
    let bad = |m: String| ApiError::bad_request(format!("invalid X-Berth-Build-Secrets header: {m}"));
    let raw = base64::engine::general_purpose::STANDARD.decode(h.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let map: HashMap<String, String> = serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?;
    map.into_iter().map(|(k, v)| Ok((k, base64::engine::general_purpose::STANDARD.decode(v).map_err(|e| bad(e.to_string()))?))).collect()
}

fn options(params: &Params, req: &Request) -> ApiResult<Options> {
    if params.non_empty("remote").is_some() {
        return Err(ApiError::bad_request("remote build contexts are not supported by berthd: clone or download the context and send it as a tar"));
    }
    if params.non_empty("version") == Some("2") {
        return Err(ApiError::bad_request("BuildKit (version=2) is not supported by berthd: use the classic builder (DOCKER_BUILDKIT=0)"));
    }
    let mut tags = Vec::new();
    for t in params.all("t").into_iter().filter(|t| !t.is_empty()) {
        let r = berth_image::Reference::parse(t).map_err(|_| ApiError::bad_request(format!("invalid reference format: {t}")))?;
        if r.digest().is_some() {
            return Err(ApiError::bad_request(format!("invalid tag {t}: a tag cannot contain a digest")));
        }
        tags.push(t.to_owned());
    }
    let no_image = match params.non_empty("outputs") {
        Some(o) => {
            let v: Value = serde_json::from_str(o).map_err(|e| ApiError::bad_request(format!("invalid outputs parameter: {e}")))?;
            v.as_array().is_some_and(|a| !a.is_empty())
        }
        None => false,
    };
    let cache_from = match params.non_empty("cachefrom") {
        Some(raw) => serde_json::from_str::<Vec<String>>(raw).map_err(|e| ApiError::bad_request(format!("invalid cachefrom parameter: {e}")))?,
        None => Vec::new(),
    };
    Ok(Options {
        tags,
        cache_from,
        dockerfile: params.non_empty("dockerfile").unwrap_or("Dockerfile").to_owned(),
        build_args: string_map(params, "buildargs")?,
        target: params.non_empty("target").map(str::to_owned),
        no_cache: params.bool("nocache"),
        pull: params.bool("pull"),
        quiet: params.bool("q"),
        labels: string_map(params, "labels")?,
        network_mode: params.non_empty("networkmode").map(str::to_owned),
        platform: params.non_empty("platform").map(str::to_owned),
        secrets: secrets(req)?,
        no_image,
    })
}

pub async fn build(State(state): State<AppState>, params: Params, req: Request) -> ApiResult<Response> {
    let opts = options(&params, &req)?;
    let id = crate::containers::new_id();
    let work = state.data_root.join("build/tmp").join(&id[..16]);
    let secrets_dir = state.exec_root.join("build").join(&id[..16]);
    let context = work.join("context");
    let reader = body_reader(req.into_body());
    let ctx = context.clone();
    let unpacked = match tokio::task::spawn_blocking(move || builder::unpack_context(reader, &ctx)).await? {
        Ok(u) => u,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            return Err(ApiError::bad_request(format!("{e:#}")));
        }
    };
    let (tx, mut rx) = mpsc::channel::<JsonMessage>(256);
    let progress = Progress::new(tx, opts.quiet);
    tokio::spawn(async move {
        let result = builder::build(&state, opts, unpacked, &work, &secrets_dir, &progress).await;
        match result {
            Ok(_) => {}
            Err(e) => {
                let m = JsonMessage { error_detail: Some(ErrorDetail { code: e.code, message: e.message.clone() }), error: Some(e.message), ..Default::default() };
                progress.message(m).await;
            }
        }
        // The client's answer ends here; the context is deleted after it.
        drop(progress);
        let (w, s) = (work, secrets_dir);
        let _ = tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_dir_all(&w);
            let _ = std::fs::remove_dir_all(&s);
        })
        .await;
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|m| m.map(|m| Ok::<_, std::io::Error>(Bytes::from(m.to_line())))));
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

/// `POST /build/prune`: removes the build cache (step images no name or container
/// uses, cache records, cache mounts); reports what went and the space freed.
pub async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let all = params.bool("all");
    let _ = all;
    let st = state.clone();
    let (deleted, reclaimed) = tokio::task::spawn_blocking(move || builder::prune(&st)).await?.map_err(|e| ApiError::internal(format!("{e:#}")))?;
    Ok(Json(json!({ "CachesDeleted": deleted, "SpaceReclaimed": reclaimed })))
}
