//! `GET /events`: the backlog since `since`, then live events until `until` (or until
//! the client leaves), one JSON object per line, filtered as Docker filters.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_api::Filters;
use serde_json::Value;

use crate::containers::logs::parse_time;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;

fn matches(ev: &Value, f: &Filters) -> bool {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let typ = s(&ev["Type"]);
    let action = s(&ev["Action"]);
    let id = s(&ev["Actor"]["ID"]);
    let attrs = &ev["Actor"]["Attributes"];
    let any = |name: &str, pred: &dyn Fn(&str) -> bool| {
        let vals = f.get(name);
        vals.is_empty() || vals.iter().any(|v| pred(v))
    };
    any("type", &|v| v == typ)
        && any("event", &|v| v == action || action.split(':').next() == Some(v))
        && any("container", &|v| typ == "container" && (id.starts_with(v) || attrs["name"].as_str() == Some(v)))
        && any("image", &|v| attrs["image"].as_str() == Some(v) || (typ == "image" && id == v))
        && any("network", &|v| typ == "network" && (id.starts_with(v) || attrs["name"].as_str() == Some(v)))
        && any("volume", &|v| typ == "volume" && id == v)
        // Every label filter must match (Docker's MatchKVList), unlike the other keys.
        && f.get("label").iter().all(|v| match v.split_once('=') {
            Some((k, val)) => attrs[k].as_str() == Some(val),
            None => attrs.get(v.as_str()).is_some(),
        })
}

fn time_ns(ev: &Value) -> i128 {
    ev["timeNano"].as_i64().unwrap_or(0) as i128
}

pub async fn events(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let filters = Filters::parse(params.get("filters").unwrap_or(""))?;
    filters.validate(&["type", "event", "container", "image", "label", "network", "volume", "daemon", "scope", "plugin", "node", "service", "secret", "config"])?;
    let time = |k: &str| -> ApiResult<Option<i128>> {
        match params.non_empty(k) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| ApiError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    };
    let since = time("since")?;
    let until = time("until")?;
    let (backlog, mut rx) = state.events.subscribe();
    let (tx, out) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let line = |ev: &Value| Bytes::from(format!("{ev}\n"));
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as i128;
        if let Some(s) = since {
            for ev in backlog.iter().filter(|e| time_ns(e) >= s && until.is_none_or(|u| time_ns(e) <= u) && matches(e, &filters)) {
                if tx.send(Ok(line(ev))).await.is_err() {
                    return;
                }
            }
        }
        if until.is_some_and(|u| u <= now) {
            return;
        }
        let deadline = until.map(|u| tokio::time::Instant::now() + std::time::Duration::from_nanos((u - now).max(0) as u64));
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            tokio::select! {
                r = next => match r {
                    None => return,
                    Some(Ok(ev)) => {
                        if matches(&ev, &filters) && tx.send(Ok(line(&ev))).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                    Some(Err(_)) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from_stream(super::containers::tokio_stream_from(out))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_filters_must_all_match_and_other_keys_any() {
        let ev = serde_json::json!({"Type": "container", "Action": "start", "Actor": {"ID": "abc123", "Attributes": {"name": "web", "a": "1", "b": "2"}}});
        let f = |q: &str| Filters::parse(q).unwrap();
        assert!(matches(&ev, &f(r#"{"label":["a=1","b=2"]}"#)));
        assert!(!matches(&ev, &f(r#"{"label":["a=1","b=3"]}"#)), "labels are ANDed");
        assert!(matches(&ev, &f(r#"{"label":["a"]}"#)));
        assert!(matches(&ev, &f(r#"{"container":["nope","web"]}"#)), "names are ORed");
        assert!(!matches(&ev, &f(r#"{"network":["web"]}"#)), "a container event is no network's");
        let net = serde_json::json!({"Type": "network", "Action": "create", "Actor": {"ID": "n1d", "Attributes": {"name": "front"}}});
        assert!(matches(&net, &f(r#"{"network":["front"]}"#)) && matches(&net, &f(r#"{"network":["n1"]}"#)));
    }
}
