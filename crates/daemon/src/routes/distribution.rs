//! Registry routes: `POST /images/create?fromImage=` (pull), `POST /images/{name}/push`,
//! `POST /auth`, `GET /distribution/{name}/json`. The registry client blocks, so each
//! call runs on a blocking thread; pull and push stream Docker's JSON progress lines.
//!
//! As in dockerd, an error before the first progress line (unknown manifest, refused
//! credentials, bad reference) is answered with a status code; after it, the stream
//! ends with a JSON error message.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::message::{JsonMessage, ProgressDetail};
use berth_image::platform::Platform;
use berth_image::Reference;
use berth_registry::{AuthConfig, Credentials, Progress, PullOptions, PushOptions};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;

/// A registry error as the API reports it.
fn api_error(e: berth_registry::Error) -> ApiError {
    let status = if e.is_unauthorized() {
        StatusCode::UNAUTHORIZED
    } else if e.is_not_found() {
        StatusCode::NOT_FOUND
    } else if e.is_bad_request() || matches!(e, berth_registry::Error::Credentials(_)) {
        StatusCode::BAD_REQUEST
    } else if let berth_registry::Error::Image(ie) = e {
        return ie.into();
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    ApiError::new(status, e.to_string())
}

/// The credentials of the `X-Registry-Auth` header (anonymous if absent).
fn credentials(headers: &HeaderMap) -> ApiResult<Credentials> {
    let value = headers.get("x-registry-auth").and_then(|v| v.to_str().ok()).unwrap_or("");
    AuthConfig::from_header(value).and_then(|a| a.credentials()).map_err(api_error)
}

fn to_message(p: Progress) -> JsonMessage {
    let progress = p.bar();
    JsonMessage {
        status: (!p.status.is_empty()).then_some(p.status),
        id: p.id,
        progress_detail: p.detail.map(|d| ProgressDetail { current: d.current.map(|c| c as i64), total: d.total.map(|t| t as i64) }),
        progress,
        aux: p.aux,
        ..Default::default()
    }
}

enum Event {
    Line(Bytes),
    Done(Result<(), berth_registry::Error>),
}

/// Runs a registry operation on a blocking thread and streams its progress.
async fn stream_progress(
    state: AppState,
    op: impl FnOnce(&AppState, &(dyn Fn(Progress) + Send + Sync)) -> Result<(), berth_registry::Error> + Send + 'static,
) -> Result<Response, ApiError> {
    let (tx, mut rx) = mpsc::channel::<Event>(64);
    tokio::task::spawn_blocking(move || {
        let line_tx = tx.clone();
        let report = move |p: Progress| {
            // A client that went away stops receiving; the operation still finishes so
            // the store ends consistent.
            let _ = line_tx.blocking_send(Event::Line(Bytes::from(to_message(p).to_line())));
        };
        let result = op(&state, &report);
        let _ = tx.blocking_send(Event::Done(result));
    });
    let first = match rx.recv().await {
        Some(Event::Line(b)) => b,
        Some(Event::Done(Err(e))) => return Err(api_error(e)),
        Some(Event::Done(Ok(()))) | None => Bytes::new(),
    };
    let rest = futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        let bytes = match rx.recv().await? {
            Event::Line(b) => b,
            Event::Done(Ok(())) => return None,
            Event::Done(Err(e)) => Bytes::from(JsonMessage::error(e.to_string()).to_line()),
        };
        Some((Ok::<Bytes, std::io::Error>(bytes), Some(rx)))
    });
    let head = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(first) });
    let body = Body::from_stream(futures_util::StreamExt::chain(head, rest));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `POST /images/create?fromImage=&tag=&platform=`: pull. A name with neither tag nor
/// digest pulls every tag of the repository, as dockerd (`docker pull --all-tags`).
pub async fn pull(state: AppState, params: Params, headers: &HeaderMap) -> Result<Response, ApiError> {
    let from = params.non_empty("fromImage").unwrap_or_default();
    let name = match params.non_empty("tag") {
        // The CLI splits `name@sha256:...` into fromImage and a digest "tag".
        Some(t) if t.contains(':') => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.to_owned(),
    };
    let reference = Reference::parse(&name)?;
    let platform = params.non_empty("platform").map(Platform::parse).transpose()?;
    let opts = PullOptions { platform, credentials: credentials(headers)? };
    if reference.tag().is_some() || reference.digest().is_some() {
        return stream_progress(state, move |st, report| {
            st.registry.pull(&st.images, &reference, &opts, report)?;
            st.events.image(&reference.familiar(), &reference.familiar_name(), "pull");
            Ok(())
        })
        .await;
    }
    stream_progress(state, move |st, report| {
        let tags = st.registry.tags(&reference, opts.credentials.clone())?;
        if tags.is_empty() {
            return Err(berth_registry::Error::NotFound(format!("no tags found for {}", reference.familiar_name())));
        }
        let mut newer = false;
        for t in tags {
            let tagged = reference.with_tag(&t)?;
            // Each tag's lines as they come ("<tag>: Pulling from …"), one final status.
            let per_tag = |p: Progress| {
                if !p.status.starts_with("Status: ") {
                    report(p);
                }
            };
            newer |= !st.registry.pull(&st.images, &tagged, &opts, &per_tag)?.up_to_date;
            st.events.image(&tagged.familiar(), &tagged.familiar_name(), "pull");
        }
        let what = reference.familiar_name();
        report(Progress::status(if newer { format!("Status: Downloaded newer image for {what}") } else { format!("Status: Image is up to date for {what}") }));
        Ok(())
    })
    .await
}

/// `POST /images/{name}/push?tag=`. Without a tag (in the name or the query) every local
/// tag of the repository is pushed, as dockerd (`docker push --all-tags`).
pub async fn push(state: AppState, name: String, params: Params, headers: &HeaderMap) -> Result<Response, ApiError> {
    let mut reference = Reference::parse(&name)?;
    if let Some(tag) = params.non_empty("tag") {
        reference = reference.with_tag(tag)?;
    }
    let opts = PushOptions { credentials: credentials(headers)? };
    // The image(s) must exist before anything is streamed (404 as dockerd).
    let st = state.clone();
    let probe = reference.clone();
    let targets: Vec<Reference> = tokio::task::spawn_blocking(move || -> ApiResult<Vec<Reference>> {
        if probe.tag().is_some() {
            st.images.resolve(&probe.to_string())?;
            return Ok(vec![probe]);
        }
        let repo = probe.name();
        let mut tagged: Vec<Reference> = st
            .images
            .list(&Default::default())?
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter_map(|t| Reference::parse(&t).ok())
            .filter(|r| r.name() == repo && r.tag().is_some())
            .collect();
        tagged.sort_by_key(|r| r.to_string());
        tagged.dedup_by_key(|r| r.to_string());
        if tagged.is_empty() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, format!("An image does not exist locally with the tag: {}", probe.familiar_name())));
        }
        Ok(tagged)
    })
    .await??;
    stream_progress(state, move |st, report| {
        for target in &targets {
            st.registry.push(&st.images, target, &opts, report)?;
            st.events.image(&target.familiar(), &target.familiar_name(), "push");
        }
        Ok(())
    })
    .await
}

/// The registry domain of a login's `serveraddress` (`https://index.docker.io/v1/`,
/// `http://localhost:5000`, `localhost:5000`; empty is Docker Hub).
fn login_domain(server: &str) -> String {
    let s = server.trim();
    let s = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")).unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        h => h.to_owned(),
    }
}

/// `POST /auth`: checks credentials against the registry.
pub async fn auth(State(state): State<AppState>, Json(auth): Json<AuthConfig>) -> ApiResult<Json<serde_json::Value>> {
    let domain = login_domain(&auth.serveraddress);
    let creds = auth.credentials().map_err(api_error)?;
    let token = tokio::task::spawn_blocking(move || state.registry.login(&domain, creds)).await?.map_err(api_error)?;
    Ok(Json(serde_json::json!({"Status": "Login Succeeded", "IdentityToken": token.unwrap_or_default()})))
}

/// `GET /distribution/{name}/json`: the remote descriptor and platforms.
pub async fn inspect(State(state): State<AppState>, Path(rest): Path<String>, headers: HeaderMap) -> ApiResult<Json<serde_json::Value>> {
    let Some(name) = rest.strip_suffix("/json") else { return Err(ApiError::page_not_found()) };
    let reference = Reference::parse(name)?;
    let creds = credentials(&headers)?;
    let info = tokio::task::spawn_blocking(move || state.registry.distribution(&reference, creds)).await?.map_err(api_error)?;
    let platforms: Vec<serde_json::Value> = info
        .platforms
        .iter()
        .map(|p| {
            let mut v = serde_json::json!({"architecture": p.architecture, "os": p.os});
            if let Some(var) = &p.variant {
                v["variant"] = var.clone().into();
            }
            v
        })
        .collect();
    Ok(Json(serde_json::json!({
        "Descriptor": {"mediaType": info.media_type, "digest": info.digest.to_string(), "size": info.size},
        "Platforms": platforms,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_domains() {
        assert_eq!(login_domain(""), "docker.io");
        assert_eq!(login_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(login_domain("http://localhost:5000"), "localhost:5000");
        assert_eq!(login_domain("127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }
}
