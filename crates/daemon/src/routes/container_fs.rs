//! A container's files: `docker cp` (GET/HEAD/PUT /containers/{id}/archive), `export`,
//! `diff` (/changes), `commit` and `system df`.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_image::changes::{ChangeKind, FsChange};
use berth_image::tree_tar::{self, PathStat};
use serde_json::{json, Value};

use crate::containers::fs_access::{self, View};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;
use crate::stream::ChannelWriter;

const STAT_HEADER: &str = "x-docker-container-path-stat";

/// Standard base64 (with padding), for the path stat header.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn stat_header(s: &PathStat) -> ApiResult<HeaderValue> {
    let j = json!({ "name": s.name, "size": s.size, "mode": s.mode, "mtime": s.mtime, "linkTarget": s.link_target });
    HeaderValue::from_str(&base64(j.to_string().as_bytes())).map_err(|e| ApiError::internal(e.to_string()))
}

fn path_param(params: &Params) -> ApiResult<String> {
    params.non_empty("path").map(str::to_owned).ok_or_else(|| ApiError::bad_request("path parameter is required"))
}

/// Docker's answers for a path that cannot be resolved.
fn path_error(e: std::io::Error, path: &str, container: &str) -> ApiError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => ApiError::not_found(format!("Could not find the file {path} in container {container}")),
        Some(libc::ENOTDIR) => ApiError::bad_request(format!("{path}: not a directory")),
        Some(libc::EXDEV) | Some(libc::ELOOP) => ApiError::bad_request(format!("{path}: cannot be resolved inside the container")),
        _ => ApiError::internal(format!("{path}: {e}")),
    }
}

pub async fn archive_head(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let entry = state.containers.find(&id)?;
    let path = path_param(&params)?;
    let p = path.clone();
    let stat = fs_access::with_root(&state, &entry, View::Live, move |root| tree_tar::locate(&root, &p).and_then(|l| l.stat())).await?;
    let stat = stat.map_err(|e| path_error(e, &path, &id))?;
    let mut resp = StatusCode::OK.into_response();
    resp.headers_mut().insert(STAT_HEADER, stat_header(&stat)?);
    Ok(resp)
}

type StatSender = tokio::sync::oneshot::Sender<ApiResult<PathStat>>;

/// `GET /containers/{id}/archive`: the stat header, then the tar streamed as it is made.
pub async fn archive_get(State(state): State<AppState>, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    let entry = state.containers.find(&id)?;
    let path = path_param(&params)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    // Shared so that whoever learns the outcome first (the walk, or a failure to get the
    // root at all) answers.
    let tx: Arc<Mutex<Option<StatSender>>> = Arc::new(Mutex::new(Some(tx)));
    let send = |tx: &Arc<Mutex<Option<StatSender>>>, r: ApiResult<PathStat>| {
        if let Some(t) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.send(r);
        }
    };
    let (mut writer, body_rx) = ChannelWriter::new();
    let (p, name, tx2) = (path.clone(), id.clone(), tx.clone());
    let ids = ids_of(&state, &entry);
    tokio::spawn(async move {
        let r = fs_access::with_root(&state, &entry, View::Live, move |root| {
            let located = tree_tar::locate(&root, &p).and_then(|l| Ok((l.stat()?, l)));
            match located {
                Err(e) => send(&tx2, Err(path_error(e, &p, &name))),
                Ok((stat, l)) => {
                    send(&tx2, Ok(stat));
                    if let Err(e) = l.write_tar_mapped(&mut writer, ids.as_ref()) {
                        tracing::debug!("archive of {p}: {e}");
                        writer.fail(e);
                    }
                }
            }
        })
        .await;
        if let Err(e) = r {
            send(&tx, Err(e));
        }
    });
    let stat = rx.await.map_err(|_| ApiError::internal("the archive task ended early"))??;
    let mut resp = Response::new(Body::from_stream(super::containers::tokio_stream_from(body_rx)));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    resp.headers_mut().insert(STAT_HEADER, stat_header(&stat)?);
    Ok(resp)
}

/// A userns-remapped container's id mapping (its files' owners are host ids).
fn ids_of(state: &AppState, entry: &crate::containers::Entry) -> Option<berth_image::changes::IdMapping> {
    crate::containers::lifecycle::remap_of(state, &entry.get()).map(|r| r.id_mapping())
}

/// `PUT /containers/{id}/archive`: extracts the tar body into the directory `path`.
pub async fn archive_put(State(state): State<AppState>, Path(id): Path<String>, params: Params, body: Body) -> ApiResult<StatusCode> {
    let entry = state.containers.find(&id)?;
    let path = path_param(&params)?;
    let opts = berth_image::layer::unpack::ExtractOptions {
        // Without copyUIDGID everything belongs to the container's root, as in Docker.
        owner: if params.bool("copyUIDGID") { None } else { Some((0, 0)) },
        // Under userns-remap those are the container's ids: written as their host ids.
        ids: ids_of(&state, &entry),
        no_overwrite_dir_non_dir: params.bool("noOverwriteDirNonDir"),
    };
    let (p, name) = (path.clone(), id.clone());
    let reader = crate::stream::body_reader(body);
    fs_access::with_root(&state, &entry, View::Live, move |root| -> ApiResult<()> {
        // The destination must be a directory (symlinks to one followed, in the root).
        let dest = tree_tar::locate(&root, &format!("{}/", p.trim_end_matches('/'))).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTDIR) => ApiError::bad_request(format!("extraction point is not a directory: {p}")),
            _ => path_error(e, &p, &name),
        })?;
        drop(dest);
        berth_image::layer::unpack::extract_in_root(root, std::path::Path::new(&p), reader, &opts).map_err(ApiError::from)
    })
    .await??;
    Ok(StatusCode::OK)
}

/// `GET /containers/{id}/export`: a tar of the whole rootfs.
pub async fn export(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let entry = state.containers.find(&id)?;
    let (mut writer, body_rx) = ChannelWriter::new();
    let ids = ids_of(&state, &entry);
    tokio::spawn(async move {
        let r = fs_access::with_root(&state, &entry, View::Rootfs, move |root| {
            if let Err(e) = tree_tar::locate(&root, "/").and_then(|l| l.write_tar_mapped(&mut writer, ids.as_ref())) {
                tracing::debug!("export: {e}");
                writer.fail(e);
            }
        })
        .await;
        if let Err(e) = r {
            tracing::warn!("export: {}", e.message);
        }
    });
    let mut resp = Response::new(Body::from_stream(super::containers::tokio_stream_from(body_rx)));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(resp)
}

/// Paths Docker keeps in a container's init layer, so `diff` never reports them: the
/// runtime's mount points and the managed /etc files.
const INIT_LAYER: &[&str] = &["/dev", "/proc", "/sys", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab", "/.dockerenv"];

fn hidden(p: &str) -> bool {
    INIT_LAYER.iter().any(|h| p == *h || (matches!(*h, "/dev" | "/proc" | "/sys") && p.starts_with(&format!("{h}/"))))
}

/// Drops init-layer paths, and directories reported only as their parents.
pub fn filter_changes(list: Vec<FsChange>) -> Vec<FsChange> {
    let (hid, kept): (Vec<FsChange>, Vec<FsChange>) = list.into_iter().partition(|c| hidden(&c.path));
    let under = |dir: &str, p: &str| p.starts_with(&format!("{dir}/"));
    kept.iter()
        .filter(|c| {
            if c.kind != ChangeKind::Modified || !hid.iter().any(|h| under(&c.path, &h.path)) {
                return true;
            }
            kept.iter().any(|o| under(&c.path, &o.path))
        })
        .cloned()
        .collect()
}

/// `GET /containers/{id}/changes`.
pub async fn changes(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let entry = state.containers.find(&id)?;
    let c = entry.get();
    let lowers = fs_access::lowers(&state, &c)?;
    let upper = state.containers.container_dir(&c.id).join("upper");
    let list = tokio::task::spawn_blocking(move || berth_image::changes::changes(&lowers, &upper)).await??;
    let out: Vec<Value> = filter_changes(list).iter().map(|c| json!({ "Path": c.path, "Kind": c.kind as u8 })).collect();
    Ok(Json(json!(out)))
}

/// `POST /commit`.
pub async fn commit(State(state): State<AppState>, params: Params, body: axum::body::Bytes) -> ApiResult<Response> {
    let word = params.non_empty("container").ok_or_else(|| ApiError::bad_request("container parameter is required"))?;
    let entry = state.containers.find(word)?;
    // The Go client sends `null` when no config is given.
    let config: berth_api::models::ContainerConfig = if body.trim_ascii() == b"null" { Default::default() } else { super::containers::parse_body(&body, false)? };
    let req = crate::containers::commit::Request {
        repo: params.non_empty("repo").map(str::to_owned),
        tag: params.non_empty("tag").map(str::to_owned),
        comment: params.non_empty("comment").map(str::to_owned),
        author: params.non_empty("author").map(str::to_owned),
        // Docker pauses unless told not to.
        pause: params.get("pause").is_none() || params.bool("pause"),
        changes: params.all("changes").into_iter().filter(|c| !c.trim().is_empty()).map(str::to_owned).collect(),
        config,
    };
    let id = crate::containers::commit::commit(&state, &entry, req).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))).into_response())
}

/// `GET /system/df`: images (with shared sizes), containers and volumes with their
/// sizes; the build cache is not tracked here yet.
pub async fn system_df(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let Json(images) = super::images::list(State(state.clone()), Params::parse(None)).await?;
    let Json(containers) = super::containers::list(State(state.clone()), Params::parse(Some("all=1&size=1"))).await?;
    let st = state.clone();
    let ids: Vec<String> = images.iter().map(|i| i.id.clone()).collect();
    // Layer sizes and which images use each layer, for LayersSize and SharedSize.
    let (layers_size, shared) = tokio::task::spawn_blocking(move || {
        let mut users: std::collections::HashMap<berth_image::Digest, (u64, usize)> = Default::default();
        let mut chains: Vec<Vec<berth_image::Digest>> = Vec::new();
        for id in &ids {
            let chain = id.parse().ok().and_then(|d| st.images.get(&d).ok()).map(|r| r.chain_ids).unwrap_or_default();
            for c in &chain {
                let size = st.images.layers().get(c).map(|l| l.size).unwrap_or(0);
                users.entry(c.clone()).or_insert((size, 0)).1 += 1;
            }
            chains.push(chain);
        }
        let total: u64 = users.values().map(|(s, _)| s).sum();
        let shared: Vec<u64> = chains.iter().map(|ch| ch.iter().filter_map(|c| users.get(c)).filter(|(_, n)| *n > 1).map(|(s, _)| s).sum()).collect();
        (total, shared)
    })
    .await?;
    let images: Vec<Value> = images
        .iter()
        .zip(shared)
        .map(|(i, shared)| {
            let mut v = serde_json::to_value(i).unwrap_or(json!({}));
            let n = containers.iter().filter(|c| c["ImageID"].as_str() == Some(i.id.as_str())).count();
            v["Containers"] = json!(n);
            v["SharedSize"] = json!(shared);
            v
        })
        .collect();
    let volumes = super::volumes::usage(&state).await?;
    let st = state.clone();
    let cache = tokio::task::spawn_blocking(move || crate::builder::usage(&st)).await?.map_err(|e| ApiError::internal(format!("{e:#}")))?;
    Ok(Json(json!({ "LayersSize": layers_size, "Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": cache })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"{\"name\":\"a\"}"), "eyJuYW1lIjoiYSJ9");
    }

    #[test]
    fn init_layer_paths_are_not_changes() {
        let c = |p: &str, k| FsChange { path: p.into(), kind: k };
        let list = vec![c("/etc", ChangeKind::Modified), c("/etc/hosts", ChangeKind::Added), c("/proc", ChangeKind::Added), c("/tmp", ChangeKind::Modified), c("/tmp/x", ChangeKind::Added)];
        let got: Vec<String> = filter_changes(list).iter().map(|c| c.to_string()).collect();
        assert_eq!(got, vec!["C /tmp", "A /tmp/x"]);
    }
}
