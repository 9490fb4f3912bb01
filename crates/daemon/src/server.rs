//! The HTTP side: API-version prefixes, Docker's response headers, the routes, and the
//! UNIX socket(s) with the pid file around them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::UnixListener;
use tower::Layer;

use crate::config::Config;
use crate::error::ApiError;
use crate::routes;
use crate::state::{AppState, State};

pub async fn run(cfg: Config) -> Result<()> {
    // Bad certificate files stop berthd before it touches any state.
    let tls = match &cfg.tls {
        Some(t) => Some(crate::tcp::server_config(t)?),
        None => None,
    };
    let pidfile = PidFile::create(&cfg.pidfile)?;
    let cfg2 = cfg.clone();
    let state: AppState = Arc::new(tokio::task::spawn_blocking(move || State::open(&cfg2)).await??);
    // Networks first: leftovers of containers that are gone (berthd killed -9 mid-way)
    // are removed, bridges, rules, port reservations and DNS servers rebuilt.
    let st = state.clone();
    tokio::task::spawn_blocking(move || {
        let running: std::collections::HashSet<String> = st.containers.all().iter().map(|e| e.get()).filter(|c| c.running()).map(|c| c.id).collect();
        match st.network.cleanup_orphans(&running) {
            Ok(r) => tracing::debug!("network cleanup: {r:?}"),
            Err(e) => tracing::warn!("cleaning up networks of gone containers: {e}"),
        }
        // A host without nftables still runs containers with --network none/host.
        if let Err(e) = st.network.reconcile() {
            tracing::error!("restoring networks: {e}");
        }
    })
    .await?;
    // Other software changing the host's firewall later (dockerd starting and setting
    // FORWARD's policy to DROP, an nftables reload flushing berth's table) is repaired
    // as soon as its burst of changes is over.
    let st = state.clone();
    let _firewall_watch = berth_network::firewall_watch::watch(move || match st.network.check_firewall() {
        Ok(false) => false,
        Ok(true) => {
            tracing::info!("berth's firewall was changed by someone else (table flushed, or FORWARD policy DROP): restored");
            true
        }
        Err(e) => {
            tracing::warn!("re-checking the firewall after a host change: {e}");
            true
        }
    })
    .map_err(|e| tracing::warn!("not watching the host firewall for changes: {e}"))
    .ok();
    // Containers that ran under the previous berthd: re-adopt their shims (live restore).
    crate::containers::lifecycle::restore(&state).await;
    let app = app(state.clone());

    let mut sockets = Vec::new();
    let mut servers = tokio::task::JoinSet::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut listeners: Vec<(UnixListener, Option<PathBuf>)> = Vec::new();
    if cfg.socket_activated {
        listeners.push((systemd_listener()?, None));
    }
    let gid = socket_gid(&cfg.socket_group)?;
    for path in &cfg.sockets {
        listeners.push((bind(path, gid)?, Some(path.clone())));
    }
    for (listener, path) in listeners {
        let Some(path) = path else {
            tracing::info!("API listening on the socket systemd passed (fd://)");
            let app = app.clone();
            let mut stop = stop_rx.clone();
            servers.spawn(async move {
                let service = axum::ServiceExt::<Request>::into_make_service(app);
                axum::serve(listener, service).with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                }).await
            });
            continue;
        };
        let path = &path;
        tracing::info!(socket = %path.display(), data_root = %cfg.data_root.display(), "API listening on unix://{}", path.display());
        sockets.push(path.clone());
        let app = app.clone();
        let mut stop = stop_rx.clone();
        servers.spawn(async move {
            let service = axum::ServiceExt::<Request>::into_make_service(app);
            axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        });
    }

    for addr in &cfg.tcp {
        let listener = crate::tcp::bind(addr).await?;
        let how = match &cfg.tls {
            Some(t) if t.verify => "TLS, client certificates required",
            Some(_) => "TLS",
            None => "plain HTTP, loopback",
        };
        tracing::info!("API listening on tcp://{addr} ({how})");
        servers.spawn(crate::tcp::serve(listener, tls.clone(), app.clone(), stop_rx.clone()));
    }

    crate::idle::spawn_trimmer();

    // SIGHUP: reload daemon.json's container defaults, as dockerd reloads its
    // reloadable keys.
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        let st = state.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                // iptables-legacy changes are not announced over netlink: SIGHUP checks too.
                let net = st.network.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || net.check_firewall()).await {
                    tracing::warn!("SIGHUP: re-checking the firewall: {e}");
                }
                let Some(path) = st.config_file.clone() else {
                    tracing::info!("SIGHUP: no config file to reload");
                    continue;
                };
                match crate::config::reload_defaults(&path) {
                    Ok(d) => {
                        tracing::info!(file = %path.display(), "SIGHUP: reloaded configuration: {d:?}");
                        *st.defaults.write().unwrap_or_else(|p| p.into_inner()) = d;
                    }
                    Err(e) => tracing::error!("SIGHUP: keeping the old configuration: {e:#}"),
                }
            }
        });
    }
    shutdown_signal().await;
    tracing::info!("shutting down (containers keep running under their shims)");
    state.begin_shutdown();
    let _ = stop_tx.send(true);
    // In-flight requests get a moment to finish; long streams are cut.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async { while servers.join_next().await.is_some() {} }).await;
    for s in sockets {
        let _ = std::fs::remove_file(s);
    }
    drop(pidfile);
    Ok(())
}

/// The whole service: versioned and unversioned routes, Docker's headers.
pub fn app(state: AppState) -> impl tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future = impl Send> + Clone + Send + 'static {
    let router = routes::router(state).layer(middleware::from_fn(docker_headers));
    // Rewriting the path must happen before routing, so this layer wraps the router.
    middleware::from_fn(strip_version).layer(router)
}

/// `/v1.45/images/json` → `/images/json`; versions outside 1.41–1.50 get Docker's 400.
async fn strip_version(mut req: Request, next: Next) -> Response {
    crate::idle::touch();
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/v") {
        let (ver, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if !ver.is_empty() && ver.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            if let Err(msg) = berth_api::version::check(ver) {
                return with_headers(ApiError::bad_request(msg).into_response());
            }
            let new_path = if tail.is_empty() { "/".to_owned() } else { tail.to_owned() };
            let pq = match req.uri().query() {
                Some(q) => format!("{new_path}?{q}"),
                None => new_path,
            };
            let mut parts = req.uri().clone().into_parts();
            match pq.parse() {
                Ok(p) => parts.path_and_query = Some(p),
                Err(_) => return with_headers(ApiError::bad_request("malformed request path").into_response()),
            }
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    next.run(req).await
}

/// Adds Docker's headers and logs each request at debug level (`berthd --debug`).
async fn docker_headers(req: Request, next: Next) -> Response {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let resp = next.run(req).await;
    tracing::debug!(%method, %uri, status = resp.status().as_u16(), "request");
    with_headers(resp)
}

/// The headers dockerd puts on every response; clients read `Api-Version` from /_ping to
/// negotiate, and `Ostype` to choose Linux defaults.
fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(HeaderName::from_static(k), v);
        }
    };
    set(h, "api-version", berth_api::version::API_VERSION);
    set(h, "docker-experimental", "false");
    set(h, "ostype", "linux");
    set(h, "server", &format!("berth/{} (linux)", env!("CARGO_PKG_VERSION")));
    resp
}

/// The listening socket systemd hands over as fd 3 (LISTEN_FDS=1, LISTEN_PID=us).
fn systemd_listener() -> Result<UnixListener> {
    use std::os::fd::FromRawFd;
    let pid_ok = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let n = std::env::var("LISTEN_FDS").ok().and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
    if !pid_ok || n < 1 {
        bail!("-H fd:// needs a socket from systemd (LISTEN_FDS/LISTEN_PID are not set for this process)");
    }
    // SAFETY: systemd passed fd 3 to this process as a listening socket.
    let std_listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(3) };
    std_listener.set_nonblocking(true)?;
    Ok(UnixListener::from_std(std_listener)?)
}

/// The socket's group: the one named, or the default `berth` group when it exists.
fn socket_gid((name, explicit): &(String, bool)) -> Result<Option<u32>> {
    match crate::host_ids::group_gid(name) {
        Some(gid) => Ok(Some(gid)),
        None if *explicit => bail!("group {name:?} for the API socket does not exist"),
        None => {
            tracing::debug!("no {name:?} group: the API socket is root-only");
            Ok(None)
        }
    }
}

/// Binds a socket, replacing a stale one (nobody answering) but never a live daemon's.
fn bind(path: &Path, gid: Option<u32>) -> Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("{} is in use: another daemon is listening on it", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
    // Owner and group only, as dockerd's socket (root:docker 0660).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).with_context(|| format!("chmod {}", path.display()))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid)).with_context(|| format!("chown {}", path.display()))?;
    }
    Ok(listener)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    let mut int = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// The pid file: refused if it names a live process (another daemon), removed on exit.
struct PidFile(PathBuf);

impl PidFile {
    fn create(path: &Path) -> Result<PidFile> {
        if let Ok(old) = std::fs::read_to_string(path) {
            if let Ok(pid) = old.trim().parse::<i32>() {
                if pid > 0 && Path::new(&format!("/proc/{pid}")).exists() && pid != std::process::id() as i32 {
                    bail!("pid file found, ensure berthd is not running or delete {}", path.display());
                }
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, format!("{}\n", std::process::id())).with_context(|| format!("writing pid file {}", path.display()))?;
        Ok(PidFile(path.to_owned()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
