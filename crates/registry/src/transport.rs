//! HTTP agents per registry host: TLS with the system's roots plus the host's certs.d
//! CAs and client certificate, or no verification for insecure registries; and the
//! order of base URLs to try (HTTPS, then plain HTTP for insecure registries, as Docker).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
use ureq::Agent;

use crate::error::{Error, Result};
use crate::options::{RegistryOptions, DOCKER_HUB_DOMAIN, DOCKER_HUB_HOST};

/// A base URL to reach a registry at, with the agent configured for its host.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// `https://host:port` (no trailing slash).
    pub base: String,
    pub agent: Agent,
    /// Whether the next candidate (HTTP after HTTPS, the next mirror, Docker Hub after a
    /// mirror) may be tried when this one cannot be reached.
    pub try_next: bool,
}

/// Builds and caches agents per `host:port` and TLS mode.
pub(crate) struct Transport {
    options: RegistryOptions,
    agents: Mutex<HashMap<(String, bool), Agent>>,
}

/// The system's trust roots, loaded once per process (reading them is not free).
fn system_roots() -> &'static [Certificate<'static>] {
    static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        found.certs.iter().map(|c| Certificate::from_der(c.as_ref()).to_owned()).collect()
    })
}

impl Transport {
    pub fn new(options: RegistryOptions) -> Transport {
        Transport { options, agents: Mutex::new(HashMap::new()) }
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// The base URLs to try for a reference's domain, best first: mirrors (docker.io
    /// only, for pulls), then the registry over HTTPS, then over HTTP if insecure.
    pub fn endpoints(&self, domain: &str, for_pull: bool) -> Result<Vec<Endpoint>> {
        let mut out = Vec::new();
        if domain == DOCKER_HUB_DOMAIN && for_pull {
            for m in &self.options.mirrors {
                let Ok(u) = url::Url::parse(m) else { continue };
                let Some(host) = u.host_str() else { continue };
                let hostport = match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.to_owned(),
                };
                let insecure = self.options.is_insecure(&hostport);
                let base = format!("{}://{hostport}", u.scheme());
                out.push(Endpoint { base, agent: self.agent(&hostport, insecure)?, try_next: true });
            }
        }
        let host = if domain == DOCKER_HUB_DOMAIN { DOCKER_HUB_HOST } else { domain };
        let insecure = self.options.is_insecure(host);
        out.push(Endpoint { base: format!("https://{host}"), agent: self.agent(host, insecure)?, try_next: insecure });
        if insecure {
            out.push(Endpoint { base: format!("http://{host}"), agent: self.agent(host, true)?, try_next: false });
        }
        Ok(out)
    }

    fn agent(&self, host: &str, insecure: bool) -> Result<Agent> {
        let key = (host.to_owned(), insecure);
        if let Some(a) = self.agents.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(a.clone());
        }
        let mut roots: Vec<Certificate<'static>> = system_roots().to_vec();
        let mut client = None;
        if let Some(dir) = &self.options.certs_dir {
            let dir = dir.join(host);
            if dir.is_dir() {
                let (cas, c) = load_certs_d(host, &dir)?;
                roots.extend(cas);
                client = c;
            }
        }
        let roots = if roots.is_empty() { RootCerts::WebPki } else { RootCerts::Specific(Arc::new(roots)) };
        let tls = TlsConfig::builder().root_certs(roots).client_cert(client).disable_verification(insecure).build();
        let agent: Agent = Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .user_agent(self.options.user_agent.as_str())
            .timeout_connect(Some(Duration::from_secs(30)))
            // Blob GETs redirect to storage backends; Authorization is dropped on the way.
            .max_redirects(10)
            .build()
            .into();
        self.agents.lock().unwrap_or_else(|p| p.into_inner()).insert(key, agent.clone());
        Ok(agent)
    }
}

/// Reads `<certs.d>/<host>/`: every `*.crt` is a CA; `*.cert` with a matching `*.key`
/// is the client certificate (Docker's layout).
fn load_certs_d(host: &str, dir: &Path) -> Result<(Vec<Certificate<'static>>, Option<ClientCert>)> {
    let bad = |reason: String| Error::Tls { host: host.to_owned(), dir: dir.display().to_string(), reason };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io("read dir", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut cas = Vec::new();
    let mut client = None;
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name.ends_with(".crt") {
            let pem = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
            for item in ureq::tls::parse_pem(&pem) {
                match item.map_err(|e| bad(format!("{name}: {e}")))? {
                    PemItem::Certificate(c) => cas.push(c.to_owned()),
                    _ => continue,
                }
            }
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key_path = dir.join(format!("{stem}.key"));
            if !key_path.is_file() {
                return Err(bad(format!("missing key {stem}.key for client certificate {name}")));
            }
            let pem = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
            let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
                    _ => None,
                })
                .collect();
            let key_pem = std::fs::read(&key_path).map_err(|e| Error::io("read", &key_path, e))?;
            let key = PrivateKey::from_pem(&key_pem).map_err(|e| bad(format!("{stem}.key: {e}")))?;
            if chain.is_empty() {
                return Err(bad(format!("{name} holds no certificate")));
            }
            client = Some(ClientCert::new_with_certs(&chain, key.to_owned()));
        } else if let Some(stem) = name.strip_suffix(".key") {
            if !dir.join(format!("{stem}.cert")).is_file() {
                return Err(bad(format!("missing client certificate {stem}.cert for key {name}")));
            }
        }
    }
    Ok((cas, client))
}

impl Transport {
    /// The agent for any URL (a token realm on another host), with that host's TLS
    /// policy.
    pub fn agent_for_url(&self, url: &str) -> Result<Agent> {
        let u = url::Url::parse(url).map_err(|e| Error::Protocol { registry: url.to_owned(), reason: format!("bad URL: {e}") })?;
        let host = u.host_str().unwrap_or_default();
        let hostport = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let insecure = self.options.is_insecure(&hostport);
        self.agent(&hostport, insecure)
    }
}
