//! The image routes, over the `berth-image` store. Store calls block (SQLite, file
//! I/O, layer unpacking), so each runs on a `spawn_blocking` thread.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::models::{DriverData, HistoryResponseItem, ImageConfig, ImageDeleteResponseItem, ImageInspect, ImageInspectMetadata, ImageInspectRootFs, ImagePruneResponse, ImageSummary};
use berth_api::{Filters, JsonMessage};
use berth_image::store::{DeleteRecord, ImageRecord, ImportOptions, ListFilter};
use berth_image::{Digest, ImageStore};
use tokio_stream_shim::ReceiverStream;

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;
use crate::stream::{body_reader, ChannelWriter};
use crate::timefmt::parse_rfc3339;

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(state: &AppState, f: impl FnOnce(&ImageStore) -> Result<T, ApiError> + Send + 'static) -> ApiResult<T> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || f(&st.images)).await?
}

/// A response of newline-separated JSON progress messages.
fn json_messages(msgs: &[JsonMessage]) -> Response {
    let body: Vec<u8> = msgs.iter().flat_map(JsonMessage::to_line).collect();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /images/json`
pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Vec<ImageSummary>>> {
    let filters = Filters::parse(params.get("filters").unwrap_or(""))?;
    filters.validate(&["before", "dangling", "label", "reference", "since"])?;
    let dangling = filters.bool("dangling")?;
    let all = params.get("all").is_some_and(|v| v == "1" || v == "true");
    blocking(&state, move |store| {
        let mut out = Vec::new();
        let before = filters.get("before").first().map(|n| created_of(store, n)).transpose()?;
        let since = filters.get("since").first().map(|n| created_of(store, n)).transpose()?;
        for img in store.list(&ListFilter { dangling, all })? {
            let created = img.created.as_deref().and_then(parse_rfc3339).unwrap_or(0);
            if before.is_some_and(|b| created >= b) || since.is_some_and(|s| created <= s) {
                continue;
            }
            let refs = filters.get("reference");
            if !refs.is_empty() && !img.repo_tags.iter().any(|t| refs.iter().any(|p| reference_matches(p, t))) {
                continue;
            }
            let rec = store.get(&img.id)?;
            let labels = labels_of(&rec);
            if !filters.get("label").iter().all(|want| label_matches(want, &labels)) {
                continue;
            }
            out.push(ImageSummary {
                id: img.id.to_string(),
                parent_id: String::new(),
                repo_tags: img.repo_tags,
                repo_digests: img.repo_digests,
                created,
                size: img.size as i64,
                shared_size: -1,
                virtual_size: None,
                labels,
                containers: -1,
                manifests: None,
                descriptor: None,
            });
        }
        Ok(out)
    })
    .await
    .map(Json)
}

fn created_of(store: &ImageStore, name: &str) -> ApiResult<i64> {
    let id = store.resolve(name)?;
    Ok(store.get(&id)?.created.as_deref().and_then(parse_rfc3339).unwrap_or(0))
}

/// Docker's `reference` filter: a glob over the familiar `name:tag`, or over the name
/// alone when the pattern has no tag.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    if glob(pattern, tag) {
        return true;
    }
    let name = tag.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map(|(n, _)| n).unwrap_or(tag);
    glob(pattern, name)
}

/// Go's path.Match: `*` and `?` do not cross `/`, `[...]` classes, `\` escapes.
fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    fn m(p: &[char], s: &[char]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some('*') => (0..=s.len()).take_while(|&i| i == 0 || s[i - 1] != '/').any(|i| m(&p[1..], &s[i..])),
            Some('?') => !s.is_empty() && s[0] != '/' && m(&p[1..], &s[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else { return false };
                let Some(&c) = s.first() else { return false };
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &s[1..])
            }
            Some('\\') if p.len() > 1 => !s.is_empty() && s[0] == p[1] && m(&p[2..], &s[1..]),
            Some(&c) => !s.is_empty() && s[0] == c && m(&p[1..], &s[1..]),
        }
    }
    m(&p, &s)
}

/// `label=key` or `label=key=value`.
fn label_matches(want: &str, labels: &HashMap<String, String>) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(want),
    }
}

fn labels_of(rec: &ImageRecord) -> HashMap<String, String> {
    rec.config.config().as_ref().and_then(|c| c.labels().clone()).unwrap_or_default().into_iter().collect()
}

/// Everything under `/images/{name}/...`: names may contain slashes, so the operation is
/// the method plus the last path segment.
pub async fn by_name(State(state): State<AppState>, Path(rest): Path<String>, params: Params, req: Request) -> Result<Response, ApiError> {
    let method = req.method().clone();
    let split = rest.rsplit_once('/');
    match (&method, split) {
        (&Method::GET, Some((name, "json"))) => inspect(state, name.to_owned()).await.map(IntoResponse::into_response),
        (&Method::GET, Some((name, "history"))) => history(state, name.to_owned()).await.map(IntoResponse::into_response),
        (&Method::GET, Some((name, "get"))) => save(state, vec![name.to_owned()]).await,
        (&Method::POST, Some((name, "tag"))) => tag(state, name.to_owned(), params).await.map(IntoResponse::into_response),
        (&Method::POST, Some((name, "push"))) => super::distribution::push(state, name.to_owned(), params, req.headers()).await,
        (&Method::DELETE, _) => remove(state, rest, params).await.map(IntoResponse::into_response),
        _ => Err(ApiError::page_not_found()),
    }
}

/// `GET /images/{name}/json`
async fn inspect(state: AppState, name: String) -> ApiResult<Json<ImageInspect>> {
    blocking(&state, move |store| {
        let id = store.resolve(&name)?;
        let rec = store.get(&id)?;
        Ok(Json(inspect_body(store, &rec)))
    })
    .await
}

fn inspect_body(store: &ImageStore, rec: &ImageRecord) -> ImageInspect {
    // The Docker-format config section, read from the stored bytes so fields oci-spec
    // does not model (Healthcheck, OnBuild, Shell, ...) survive.
    let raw: serde_json::Value = serde_json::from_slice(&rec.config_bytes).unwrap_or_default();
    let config: Option<ImageConfig> = raw.get("config").and_then(|c| serde_json::from_value(c.clone()).ok());
    let history = rec.config.history().clone().unwrap_or_default();
    let comment = raw.get("comment").and_then(|c| c.as_str()).map(str::to_owned).or_else(|| history.last().and_then(|h| h.comment().clone()));
    let layers = store.layers();
    let dirs: Vec<String> = rec.chain_ids.iter().rev().map(|c| layers.diff_dir(c).display().to_string()).collect();
    let mut data = HashMap::new();
    if let Some((upper, lower)) = dirs.split_first() {
        data.insert("UpperDir".to_owned(), upper.clone());
        if !lower.is_empty() {
            data.insert("LowerDir".to_owned(), lower.join(":"));
        }
    }
    ImageInspect {
        id: Some(rec.id.to_string()),
        repo_tags: Some(rec.repo_tags.clone()),
        repo_digests: Some(rec.repo_digests.clone()),
        parent: Some(String::new()),
        comment: Some(comment.unwrap_or_default()),
        created: rec.created.clone(),
        docker_version: Some(raw.get("docker_version").and_then(|v| v.as_str()).unwrap_or("").to_owned()),
        author: Some(rec.config.author().clone().unwrap_or_default()),
        config,
        architecture: Some(rec.config.architecture().to_string()),
        variant: rec.config.variant().clone(),
        os: Some(rec.config.os().to_string()),
        os_version: rec.config.os_version().clone(),
        size: Some(rec.size as i64),
        graph_driver: Some(DriverData { name: "overlay2".into(), data }),
        root_fs: Some(ImageInspectRootFs { typ: "layers".into(), layers: Some(rec.diff_ids.iter().map(Digest::to_string).collect()) }),
        metadata: Some(ImageInspectMetadata { last_tag_time: Some("0001-01-01T00:00:00Z".into()) }),
        ..Default::default()
    }
}

/// `GET /images/{name}/history`
async fn history(state: AppState, name: String) -> ApiResult<Json<Vec<HistoryResponseItem>>> {
    blocking(&state, move |store| {
        Ok(store
            .history(&name)?
            .into_iter()
            .map(|h| HistoryResponseItem {
                id: h.id,
                created: h.created.as_deref().and_then(parse_rfc3339).unwrap_or(0),
                created_by: h.created_by,
                tags: h.tags,
                size: h.size as i64,
                comment: h.comment,
            })
            .collect())
    })
    .await
    .map(Json)
}

/// `POST /images/{name}/tag?repo=&tag=` → 201.
async fn tag(state: AppState, name: String, params: Params) -> ApiResult<StatusCode> {
    let repo = params.non_empty("repo").ok_or_else(|| ApiError::bad_request("repo is required: the repository to tag in"))?.to_owned();
    let target = match params.non_empty("tag") {
        Some(t) => {
            if t.contains(':') || t.contains('@') {
                return Err(ApiError::bad_request(format!("invalid tag format {t:?}")));
            }
            format!("{repo}:{t}")
        }
        None => repo,
    };
    blocking(&state, move |store| {
        store.tag(&name, &target)?;
        Ok(StatusCode::CREATED)
    })
    .await
}

/// `DELETE /images/{name}?force=&noprune=`
async fn remove(state: AppState, name: String, params: Params) -> ApiResult<Json<Vec<ImageDeleteResponseItem>>> {
    let force = params.bool("force");
    let st = state.clone();
    blocking(&state, move |store| {
        let records = store.remove(&name, force, &crate::builder::image_user(&st))?;
        Ok(records.into_iter().map(delete_item).collect())
    })
    .await
    .map(Json)
}

fn delete_item(r: DeleteRecord) -> ImageDeleteResponseItem {
    match r {
        DeleteRecord::Untagged(s) => ImageDeleteResponseItem { untagged: Some(s), deleted: None },
        DeleteRecord::Deleted(s) => ImageDeleteResponseItem { untagged: None, deleted: Some(s) },
    }
}

/// `POST /images/create`: pull (`fromImage=`, see [`super::distribution::pull`]) or
/// import from the request body (`fromSrc=-`).
pub async fn create(State(state): State<AppState>, params: Params, req: Request) -> Result<Response, ApiError> {
    if params.non_empty("fromImage").is_some() {
        return super::distribution::pull(state, params, req.headers()).await;
    }
    match params.non_empty("fromSrc") {
        Some("-") => {}
        Some(src) => return Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, format!("importing from {src:?} is not supported yet: only fromSrc=- (the request body)"))),
        None => return Err(ApiError::bad_request("fromImage or fromSrc is required")),
    }
    let tag = match (params.non_empty("repo"), params.non_empty("tag")) {
        (Some(repo), Some(tag)) => Some(format!("{repo}:{tag}")),
        (Some(repo), None) => Some(repo.to_owned()),
        (None, Some(_)) => return Err(ApiError::bad_request("tag given without repo")),
        (None, None) => None,
    };
    let platform = match params.non_empty("platform") {
        Some(p) => {
            let parts: Vec<&str> = p.split('/').collect();
            if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|s| s.is_empty()) {
                return Err(ApiError::bad_request(format!("invalid platform {p:?}: expected os/arch[/variant]")));
            }
            Some(berth_image::platform::Platform::new(parts[0], parts[1], parts.get(2).copied()))
        }
        None => None,
    };
    let opts = ImportOptions {
        changes: params.all("changes").into_iter().filter(|c| !c.is_empty()).map(str::to_owned).collect(),
        message: params.non_empty("message").map(str::to_owned),
        platform,
        tag,
    };
    let reader = body_reader(req.into_body());
    let id = blocking(&state, move |store| Ok(store.import(reader, &opts)?)).await?;
    Ok(json_messages(&[JsonMessage::status(id.to_string())]))
}

/// `POST /images/load?quiet=`: a `docker save` or OCI layout tar in the body.
pub async fn load(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let reader = body_reader(req.into_body());
    let report = blocking(&state, move |store| Ok(store.load(reader)?)).await?;
    let msgs: Vec<JsonMessage> = report.lines.iter().map(|l| JsonMessage::stream(format!("{l}\n"))).collect();
    Ok(json_messages(&msgs))
}

/// `GET /images/get?names=a&names=b`
pub async fn save_many(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let names: Vec<String> = params.all("names").into_iter().filter(|n| !n.is_empty()).map(str::to_owned).collect();
    if names.is_empty() {
        return Err(ApiError::bad_request("names is required: the images to save"));
    }
    save(state, names).await
}

/// Streams `docker save`'s tar. The store checks every name before it writes a byte, so
/// the first piece tells whether to answer 200 with a stream or an error status.
async fn save(state: AppState, names: Vec<String>) -> Result<Response, ApiError> {
    let (mut writer, mut rx) = ChannelWriter::new();
    let (err_tx, err_rx) = tokio::sync::oneshot::channel::<ApiError>();
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = st.images.save(&names, &mut writer) {
            let msg = e.to_string();
            let _ = err_tx.send(e.into());
            // Cuts the body short, so a client never takes a partial tar for a whole one.
            writer.fail(std::io::Error::other(msg));
        }
    });
    let first = match rx.recv().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => return Err(err_rx.await.unwrap_or_else(|_| ApiError::internal(e.to_string()))),
        None => return Ok(tar_response(Body::empty())),
    };
    let head = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(first) });
    Ok(tar_response(Body::from_stream(futures_util::StreamExt::chain(head, ReceiverStream::new(rx)))))
}

fn tar_response(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-tar")], body).into_response()
}

/// `POST /images/prune`: dangling images by default; `dangling=false` every image no
/// container uses (all of them, until containers exist).
pub async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<ImagePruneResponse>> {
    let filters = Filters::parse(params.get("filters").unwrap_or(""))?;
    filters.validate(&["dangling", "label"])?;
    let only_dangling = filters.bool("dangling")?.unwrap_or(true);
    blocking(&state, move |store| {
        let filter = ListFilter { dangling: if only_dangling { Some(true) } else { None }, all: false };
        let mut deleted = Vec::new();
        let mut reclaimed = 0i64;
        for img in store.list(&filter)? {
            if !filters.get("label").is_empty() {
                let labels = labels_of(&store.get(&img.id)?);
                if !filters.get("label").iter().all(|w| label_matches(w, &labels)) {
                    continue;
                }
            }
            match store.remove(&img.id.to_string(), true, &|_| None) {
                Ok(records) => {
                    reclaimed += img.size as i64;
                    deleted.extend(records.into_iter().map(delete_item));
                }
                Err(berth_image::Error::ImageNotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(ImagePruneResponse { images_deleted: if deleted.is_empty() { None } else { Some(deleted) }, space_reclaimed: Some(reclaimed) })
    })
    .await
    .map(Json)
}

/// Minimal `ReceiverStream` (tokio-stream's) so one small adapter does not pull in a crate.
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc::Receiver;

    pub struct ReceiverStream<T>(Receiver<T>);

    impl<T> ReceiverStream<T> {
        pub fn new(rx: Receiver<T>) -> Self {
            ReceiverStream(rx)
        }
    }

    impl<T> futures_util::Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_go() {
        assert!(glob("busy*", "busybox"));
        assert!(!glob("*", "a/b"));
        assert!(glob("*/*", "a/b"));
        assert!(glob("b?sybox", "busybox"));
        assert!(glob("[a-c]usybox", "busybox"));
        assert!(!glob("[^a-c]usybox", "busybox"));
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(!reference_matches("alpine", "busybox:latest"));
        assert!(reference_matches("localhost:5000/app", "localhost:5000/app:1"));
    }
}
