//! `/secrets...`: Docker's swarm secret endpoints, served by a standalone berthd —
//! create, list, inspect, update (labels), remove. A value goes in with create and
//! never comes out of the API.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use berth_api::Filters;
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::containers::secret_mounts::{api_error, users_of};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::secrets::{Secret, Update};
use crate::state::AppState;

/// The `Secret` object of the API: no `Data`, ever.
pub fn secret_json(s: &Secret) -> Value {
    json!({
        "ID": s.id,
        "Version": { "Index": s.version },
        "CreatedAt": s.created,
        "UpdatedAt": s.updated,
        "Spec": { "Name": s.name, "Labels": s.labels },
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?
}

/// A `Driver` object (secret and templating drivers), which berth does not have.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Driver {
    #[serde(default)]
    name: Option<String>,
}

/// `SecretSpec`. Data is kept as text so that a bad encoding gets its own message.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Spec {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
    #[serde(default)]
    data: Option<Zeroizing<String>>,
    #[serde(default)]
    driver: Option<Driver>,
    #[serde(default)]
    templating: Option<Driver>,
}

impl Spec {
    /// The value, decoded as Go's encoding/json decodes a []byte (standard base64).
    fn data(&self) -> ApiResult<Option<Zeroizing<Vec<u8>>>> {
        let Some(text) = &self.data else { return Ok(None) };
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(|v| Some(Zeroizing::new(v)))
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: field Data: not valid standard base64: {e}")))
    }

    fn check_drivers(&self) -> ApiResult<()> {
        for (what, d) in [("secret driver", &self.driver), ("templating driver", &self.templating)] {
            if let Some(n) = d.as_ref().and_then(|d| d.name.as_deref()).filter(|n| !n.is_empty()) {
                return Err(ApiError::bad_request(format!("{what} {n:?} is not supported: berth keeps secret values itself")));
            }
        }
        Ok(())
    }

    fn labels(&self) -> BTreeMap<String, String> {
        self.labels.clone().unwrap_or_default().into_iter().collect()
    }
}

/// `POST /secrets/create`.
pub async fn create(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let spec: Spec = super::containers::parse_body(&body, false)?;
    spec.check_drivers()?;
    let name = spec.name.clone().unwrap_or_default();
    let data = spec.data()?.unwrap_or_default();
    let labels = spec.labels();
    let st = state.clone();
    let s = blocking(move || st.secrets.create(&name, labels, &data).map_err(api_error)).await?;
    state.events.secret(&s.id, &s.name, "create");
    Ok((StatusCode::CREATED, Json(json!({ "ID": s.id }))).into_response())
}

fn matches(f: &Filters, s: &Secret) -> bool {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let vals = f.get(key);
        vals.is_empty() || vals.iter().any(|v| pred(v))
    };
    // As swarmkit: `id` and `name` match prefixes, `names` whole names.
    any("id", &|v| s.id.starts_with(v))
        && any("name", &|v| s.name.starts_with(v))
        && any("names", &|v| s.name == v)
        && f.labels_match(|k| s.labels.get(k).map(String::as_str))
}

/// `GET /secrets`.
pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let f = Filters::parse(params.get("filters").unwrap_or(""))?;
    f.validate(&["id", "label", "name", "names"])?;
    let st = state.clone();
    let mut all = blocking(move || st.secrets.list().map_err(api_error)).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(json!(all.iter().filter(|s| matches(&f, s)).map(secret_json).collect::<Vec<_>>())))
}

async fn find(state: &AppState, word: String) -> ApiResult<Secret> {
    let st = state.clone();
    blocking(move || st.secrets.find(&word).map_err(api_error)).await
}

/// `GET /secrets/{id}`: by id, name or unique id prefix.
pub async fn inspect(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(secret_json(&find(&state, id).await?)))
}

/// `DELETE /secrets/{id}`: refused while any container (running or not) has it.
pub async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let s = find(&state, id).await?;
    let users = users_of(&state, &s.id);
    if !users.is_empty() {
        let what = if users.len() == 1 { "container" } else { "containers" };
        return Err(ApiError::new(StatusCode::CONFLICT, format!("secret '{}' is in use by the following {what}: {}", s.name, users.join(", "))));
    }
    let st = state.clone();
    let sid = s.id.clone();
    blocking(move || st.secrets.remove(&sid).map_err(api_error)).await?;
    state.events.secret(&s.id, &s.name, "remove");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /secrets/{id}/update?version=N`: labels only, as Docker, unless berth's
/// `replaceData=1` asks for the value to be replaced too.
pub async fn update(State(state): State<AppState>, Path(id): Path<String>, params: Params, body: Bytes) -> ApiResult<StatusCode> {
    let version: i64 = params.non_empty("version").and_then(|v| v.parse().ok()).ok_or_else(|| ApiError::bad_request("invalid secret version"))?;
    let spec: Spec = super::containers::parse_body(&body, false)?;
    spec.check_drivers()?;
    let s = find(&state, id).await?;
    let replace_data = params.bool("replaceData");
    let data = spec.data()?;
    if replace_data && data.is_none() {
        return Err(ApiError::bad_request("replaceData needs the new value in Data"));
    }
    let u = Update { version, name: spec.name.clone().unwrap_or_default(), labels: spec.labels(), data: data.map(|d| d.to_vec()), replace_data };
    let st = state.clone();
    let sid = s.id.clone();
    let s = blocking(move || st.secrets.update(&sid, u).map_err(api_error)).await?;
    state.events.secret(&s.id, &s.name, "update");
    Ok(StatusCode::OK)
}
