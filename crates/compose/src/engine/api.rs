//! The few request shapes the engine sends, with what it was doing attached to
//! every failure.

use berth_api::client::{encode, Body};
use berth_api::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::error::{Context, Result};

/// A JSON request body. Our bodies are plain structs and maps with string keys,
/// which always serialise.
pub fn json<T: Serialize>(v: &T) -> Body<'static> {
    Body::Json(serde_json::to_vec(v).unwrap_or_default())
}

pub fn get<T: DeserializeOwned>(c: &Client, path: &str, what: impl FnOnce() -> String) -> Result<T> {
    c.get_json(path).context(what)
}

/// POST without a body; the answer is dropped.
pub fn post(c: &Client, path: &str, what: impl FnOnce() -> String) -> Result<()> {
    c.call("POST", path, Body::Empty).map(drop).context(what)
}

/// POST a JSON body and decode the JSON answer.
pub fn post_json<B: Serialize, T: DeserializeOwned>(c: &Client, path: &str, body: &B, what: impl FnOnce() -> String) -> Result<T> {
    c.call("POST", path, json(body)).and_then(|r| r.json()).context(what)
}

/// POST a JSON body; the answer (often empty) is dropped.
pub fn post_body<B: Serialize>(c: &Client, path: &str, body: &B, what: impl FnOnce() -> String) -> Result<()> {
    c.call("POST", path, json(body)).map(drop).context(what)
}

pub fn delete(c: &Client, path: &str, what: impl FnOnce() -> String) -> Result<()> {
    c.call("DELETE", path, Body::Empty).map(drop).context(what)
}

/// `GET /containers/{id}/json`.
pub fn inspect_container(c: &Client, id: &str) -> Result<Value> {
    get(c, &format!("/containers/{}/json", encode(id)), || format!("inspecting container {id}"))
}
