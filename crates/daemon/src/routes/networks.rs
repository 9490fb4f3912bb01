//! `/networks...`: create, list, inspect, remove, connect, disconnect, prune.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::models::EndpointSettings;
use berth_api::Filters;
use berth_network::{AttachOptions, CreateNetwork, Error as NetError, Network};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::containers::networking;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;

/// Docker's status codes for network errors.
pub fn api_error(e: NetError) -> ApiError {
    let status = match &e {
        NetError::NetworkNotFound(_) | NetError::EndpointNotFound { .. } => StatusCode::NOT_FOUND,
        NetError::NameInUse(_) | NetError::AlreadyConnected { .. } => StatusCode::CONFLICT,
        NetError::ActiveEndpoints(_) | NetError::Predefined(_) | NetError::HostNetworkConnect => StatusCode::FORBIDDEN,
        e if e.is_user_error() => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?
}

/// A network as inspect shows it, with its running containers.
fn network_json(state: &AppState, n: &Network) -> Value {
    let mut v = n.docker_json();
    let mut containers = serde_json::Map::new();
    for ep in state.network.endpoints_of_network(&n.id).unwrap_or_default() {
        let name = state.containers.find(&ep.container_id).map(|e| e.get().name).unwrap_or_default();
        containers.insert(
            ep.container_id.clone(),
            json!({ "Name": name, "EndpointID": ep.id, "MacAddress": ep.mac_string(), "IPv4Address": format!("{}/{}", ep.ip, ep.prefix_len), "IPv6Address": "" }),
        );
    }
    v["Containers"] = Value::Object(containers);
    v
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBody {
    name: String,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    internal: Option<bool>,
    #[serde(default)]
    attachable: Option<bool>,
    #[serde(default, rename = "EnableIPv6")]
    enable_ipv6: Option<bool>,
    #[serde(default, rename = "IPAM")]
    ipam: Option<IpamBody>,
    #[serde(default)]
    options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct IpamBody {
    #[serde(default)]
    driver: Option<String>,
    #[serde(default)]
    config: Option<Vec<IpamConfigBody>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct IpamConfigBody {
    #[serde(default)]
    subnet: Option<String>,
    #[serde(default, rename = "IPRange")]
    ip_range: Option<String>,
    #[serde(default)]
    gateway: Option<String>,
}

/// `POST /networks/create`.
pub async fn create(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let b: CreateBody = super::containers::parse_body(&body, false)?;
    if b.name.trim().is_empty() {
        return Err(ApiError::bad_request("network name is required"));
    }
    if b.enable_ipv6.unwrap_or(false) {
        return Err(ApiError::bad_request("IPv6 networks are not supported by berth yet"));
    }
    let ipam = b.ipam.unwrap_or_default();
    if let Some(d) = ipam.driver.as_deref().filter(|d| !d.is_empty() && *d != "default") {
        return Err(ApiError::bad_request(format!("IPAM driver {d:?} is not supported (only \"default\")")));
    }
    let configs = ipam.config.unwrap_or_default();
    if configs.len() > 1 {
        return Err(api_error(NetError::TooManySubnets(configs.len())));
    }
    let cfg = configs.into_iter().next().unwrap_or_default();
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let req = CreateNetwork {
        name: b.name.clone(),
        driver: b.driver.unwrap_or_default(),
        subnet: non_empty(cfg.subnet),
        gateway: non_empty(cfg.gateway),
        ip_range: non_empty(cfg.ip_range),
        internal: b.internal.unwrap_or(false),
        attachable: b.attachable.unwrap_or(false),
        labels: b.labels.unwrap_or_default(),
        options: b.options.unwrap_or_default(),
    };
    let st = state.clone();
    let n = blocking(move || st.network.create_network(req).map_err(api_error)).await?;
    state.events.network(&n.id, &n.name, "create");
    Ok((StatusCode::CREATED, Json(json!({ "Id": n.id, "Warning": "" }))).into_response())
}

/// `GET /networks`.
pub async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let f = Filters::parse(params.get("filters").unwrap_or(""))?;
    f.validate(&["dangling", "driver", "id", "label", "label!", "name", "scope", "type"])?;
    let dangling = f.bool("dangling")?;
    let st = state.clone();
    let out = blocking(move || {
        st.network.ensure_default_networks().map_err(api_error)?;
        let nets = st.network.networks().map_err(api_error)?;
        let mut out = Vec::new();
        for n in nets {
            let builtin = n.is_predefined();
            let used = !st.network.endpoints_of_network(&n.id).unwrap_or_default().is_empty();
            let keep = f.get("name").iter().all(|x| n.name.contains(x.as_str()))
                && f.get("id").iter().all(|x| n.id.starts_with(x.as_str()))
                && f.get("driver").iter().all(|x| *x == n.driver.as_str())
                && f.get("scope").iter().all(|x| x == "local")
                && f.get("type").iter().all(|x| (x == "builtin") == builtin)
                && dangling.is_none_or(|d| d == (!used && !builtin))
                && f.labels_match(|k| n.labels.get(k).map(String::as_str));
            if keep {
                out.push(network_json(&st, &n));
            }
        }
        Ok(out)
    })
    .await?;
    Ok(Json(json!(out)))
}

/// `GET /networks/{id}`.
pub async fn inspect(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let st = state.clone();
    blocking(move || {
        st.network.ensure_default_networks().map_err(api_error)?;
        let n = st.network.network(&id).map_err(api_error)?;
        Ok(Json(network_json(&st, &n)))
    })
    .await
}

/// `DELETE /networks/{id}`.
pub async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let st = state.clone();
    let n = blocking(move || {
        let n = st.network.network(&id).map_err(api_error)?;
        st.network.remove_network(&n.id).map_err(api_error)?;
        Ok(n)
    })
    .await?;
    state.events.network(&n.id, &n.name, "destroy");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectBody {
    container: String,
    #[serde(default)]
    endpoint_config: Option<EndpointSettings>,
    #[serde(default)]
    force: Option<bool>,
}

/// `POST /networks/{id}/connect`: recorded in the container's NetworkingConfig, and
/// attached at once when it runs.
pub async fn connect(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<StatusCode> {
    let b: ConnectBody = super::containers::parse_body(&body, false)?;
    let entry = state.containers.find(&b.container)?;
    let _op = entry.op.lock().await;
    let st = state.clone();
    let idc = id.clone();
    let net = blocking(move || st.network.network(&idc).map_err(api_error)).await?;
    let c = entry.get();
    match networking::mode(&c) {
        networking::Mode::Host | networking::Mode::None | networking::Mode::Container(_) => {
            return Err(ApiError::bad_request(format!("container sharing network namespace with another container or host cannot be connected to any other network")));
        }
        networking::Mode::Networks(nets) if nets.contains(&net.name) => {
            return Err(api_error(NetError::AlreadyConnected { container: c.name.clone(), network: net.name.clone() }));
        }
        _ => {}
    }
    let es = b.endpoint_config.unwrap_or_default();
    if c.running() {
        let st = state.clone();
        let (cid, name, netname) = (c.id.clone(), c.name.clone(), net.name.clone());
        let es2 = es.clone();
        blocking(move || {
            let ip = es2.ipam_config.as_ref().and_then(|i| i.ipv4_address.as_deref()).filter(|s| !s.is_empty());
            let ip = ip.map(|s| s.parse().map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {s}")))).transpose()?;
            let path = st.network.netns_path(&cid);
            let opts = AttachOptions { name: Some(name), aliases: es2.aliases.clone().unwrap_or_default(), ip };
            st.network.attach(&cid, &path, &netname, opts).map_err(api_error)?;
            Ok(())
        })
        .await?;
    }
    {
        let mut r = entry.lock();
        if networking::primary(&r) == net.name || networking::primary(&r) == net.id {
            r.primary_detached = false;
        }
        let nc = r.networking_config.get_or_insert_with(Default::default);
        nc.endpoints_config.get_or_insert_with(Default::default).insert(net.name.clone(), es);
    }
    state.containers.save(&entry);
    state.events.network_container(&net.id, &net.name, "connect", &c.id);
    Ok(StatusCode::OK)
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(State(state): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<StatusCode> {
    let b: ConnectBody = super::containers::parse_body(&body, false)?;
    let entry = state.containers.find(&b.container)?;
    let _op = entry.op.lock().await;
    let st = state.clone();
    let net = blocking(move || st.network.network(&id).map_err(api_error)).await?;
    let c = entry.get();
    let on_it = matches!(networking::mode(&c), networking::Mode::Networks(ref n) if n.contains(&net.name));
    if !on_it && !b.force.unwrap_or(false) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, format!("container {} is not connected to network {}", c.id, net.name)));
    }
    if c.running() {
        let st = state.clone();
        let (cid, netname) = (c.id.clone(), net.name.clone());
        let r = blocking(move || st.network.detach(&cid, &netname).map_err(api_error)).await;
        if let Err(e) = r {
            if !(b.force.unwrap_or(false) && e.status == StatusCode::NOT_FOUND) {
                return Err(e);
            }
        }
    }
    {
        let mut r = entry.lock();
        if let Some(eps) = r.networking_config.as_mut().and_then(|n| n.endpoints_config.as_mut()) {
            eps.remove(&net.name);
        }
        if networking::primary(&r) == net.name || networking::primary(&r) == net.id {
            // NetworkMode stays, as in Docker; the container is just no longer on it.
            r.primary_detached = true;
        }
    }
    state.containers.save(&entry);
    state.events.network_container(&net.id, &net.name, "disconnect", &c.id);
    Ok(StatusCode::OK)
}

/// `POST /networks/prune`: user networks no container uses (configured or attached).
pub async fn prune(State(state): State<AppState>, params: Params) -> ApiResult<Json<Value>> {
    let f = Filters::parse(params.get("filters").unwrap_or(""))?;
    f.validate(&["label", "label!", "until"])?;
    let configured: Vec<String> = state
        .containers
        .all()
        .iter()
        .map(|e| e.get())
        .flat_map(|c| match networking::mode(&c) {
            networking::Mode::Networks(n) => n,
            _ => vec![],
        })
        .collect();
    let st = state.clone();
    let deleted = blocking(move || {
        let mut deleted = Vec::new();
        for n in st.network.networks().map_err(api_error)? {
            if n.is_predefined() || configured.contains(&n.name) || configured.contains(&n.id) || !f.labels_match(|k| n.labels.get(k).map(String::as_str)) {
                continue;
            }
            if !st.network.endpoints_of_network(&n.id).unwrap_or_default().is_empty() {
                continue;
            }
            match st.network.remove_network(&n.id) {
                Ok(()) => {
                    st.events.network(&n.id, &n.name, "destroy");
                    deleted.push(n.name);
                }
                Err(e) => tracing::warn!(network = %n.name, "prune: {e}"),
            }
        }
        Ok(deleted)
    })
    .await?;
    Ok(Json(json!({ "NetworksDeleted": deleted })))
}
