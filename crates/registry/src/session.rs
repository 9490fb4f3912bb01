//! An authenticated conversation with one registry about some repositories: picks the
//! endpoint that answers (`GET /v2/`), answers its `WWW-Authenticate` challenge with
//! basic auth or a bearer token for the session's scopes, and retries a request once
//! when a 401 says the token no longer does.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ureq::http::{self, Method, Response};
use ureq::{Agent, Body as RespBody, SendBody};

use crate::challenge::{self, Challenge};
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::transport::{Endpoint, Transport};

/// Error bodies and token replies are small; a hostile server gets cut off here.
const MAX_SMALL_BODY: u64 = 1 << 20;

/// A request body that can be sent again after a 401.
pub(crate) enum ReqBody {
    None,
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Bearer tokens shared by all sessions of a [`crate::Registry`], reused until expiry.
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    fn get(&self, key: &str) -> Option<String> {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        match t.get(key) {
            Some((tok, exp)) if *exp > Instant::now() => Some(tok.clone()),
            Some(_) => {
                t.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: String, token: String, ttl: Duration) {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (token, Instant::now() + ttl));
    }
}

/// One registry, some scopes, one set of credentials.
pub(crate) struct Session<'r> {
    transport: &'r Transport,
    tokens: &'r TokenCache,
    /// The domain as references name it (`localhost:5000`, `docker.io`).
    pub domain: String,
    pub endpoint: Endpoint,
    creds: Credentials,
    scopes: Vec<String>,
    authorization: Mutex<Option<String>>,
    /// The refresh token a login with `offline_token` got back.
    pub identity_token: Mutex<Option<String>>,
}

impl<'r> Session<'r> {
    /// Opens a session: the first endpoint that answers `GET /v2/` (HTTP fallback and
    /// mirrors included) and, if it challenges, credentials for `scopes` up front.
    pub fn open(
        transport: &'r Transport,
        tokens: &'r TokenCache,
        domain: &str,
        creds: Credentials,
        scopes: Vec<String>,
        for_pull: bool,
    ) -> Result<Session<'r>> {
        let mut last_err = None;
        for endpoint in transport.endpoints(domain, for_pull)? {
            let s = Session {
                transport,
                tokens,
                domain: domain.to_owned(),
                endpoint,
                creds: creds.clone(),
                scopes: scopes.clone(),
                authorization: Mutex::new(None),
                identity_token: Mutex::new(None),
            };
            let url = format!("{}/v2/", s.endpoint.base);
            match s.raw(&Method::GET, &url, &[], &ReqBody::None) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 401 {
                        s.authenticate(&resp)?;
                    } else if !(200..300).contains(&status) && s.endpoint.try_next {
                        last_err = Some(status_error(resp, &format!("ping {url}")));
                        continue;
                    } else if let Credentials::RegistryToken(t) = &s.creds {
                        s.set_authorization(format!("Bearer {t}"));
                    }
                    tracing::debug!(endpoint = %s.endpoint.base, "registry endpoint chosen");
                    return Ok(s);
                }
                Err(e) => {
                    tracing::debug!(endpoint = %s.endpoint.base, error = %e, "registry endpoint failed");
                    last_err = Some(e);
                    if !s.endpoint.try_next {
                        // A secure registry that cannot be reached over HTTPS: no fallback.
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Transport { method: "GET".into(), url: domain.into(), reason: "no endpoint".into() }))
    }

    /// `https://host/v2/<repo>/<rest>`.
    pub fn url(&self, repo: &str, rest: &str) -> String {
        format!("{}/v2/{repo}/{rest}", self.endpoint.base)
    }

    /// Resolves a Location header against the endpoint (registries send relative ones).
    pub fn resolve(&self, location: &str) -> Result<url::Url> {
        let base = url::Url::parse(&format!("{}/", self.endpoint.base)).map_err(|e| Error::protocol(&self.domain, e))?;
        base.join(location).map_err(|e| Error::protocol(&self.domain, format!("bad Location {location:?}: {e}")))
    }

    fn set_authorization(&self, v: String) {
        *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
    }

    fn authorization(&self) -> Option<String> {
        self.authorization.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends a request, answering one 401 challenge. Statuses are the caller's to judge.
    pub fn send(&self, method: Method, url: &str, headers: &[(&str, String)], body: ReqBody) -> Result<Response<RespBody>> {
        let resp = self.raw(&method, url, headers, &body)?;
        if resp.status().as_u16() != 401 {
            return Ok(resp);
        }
        self.authenticate(&resp)?;
        let resp = self.raw(&method, url, headers, &body)?;
        if resp.status().as_u16() == 401 {
            return Err(unauthorized(&self.domain, resp));
        }
        Ok(resp)
    }

    fn raw(&self, method: &Method, url: &str, headers: &[(&str, String)], body: &ReqBody) -> Result<Response<RespBody>> {
        send_with(&self.endpoint.agent, method, url, headers, body, self.authorization())
    }

    /// Answers a 401: basic credentials, or a bearer token for the session's scopes.
    fn authenticate(&self, resp: &Response<RespBody>) -> Result<()> {
        let header = resp.headers().get_all(http::header::WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(", ");
        let challenges = challenge::parse(&header);
        if let Some(ch) = challenges.iter().find(|c| c.scheme == "bearer") {
            if let Credentials::RegistryToken(t) = &self.creds {
                self.set_authorization(format!("Bearer {t}"));
                return Ok(());
            }
            let token = self.bearer_token(ch)?;
            self.set_authorization(format!("Bearer {token}"));
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return match &self.creds {
                Credentials::Basic { username, password } => {
                    self.set_authorization(basic(username, password));
                    Ok(())
                }
                Credentials::IdentityToken { username, token } => {
                    self.set_authorization(basic(username, token));
                    Ok(())
                }
                _ => Err(Error::Unauthorized { registry: self.domain.clone(), message: "no basic auth credentials".into() }),
            };
        }
        Err(Error::protocol(&self.domain, format!("401 without a usable WWW-Authenticate challenge ({header:?})")))
    }

    /// A bearer token from the challenge's realm for our scopes (cached until expiry).
    fn bearer_token(&self, ch: &Challenge) -> Result<String> {
        let realm = ch.param("realm").ok_or_else(|| Error::protocol(&self.domain, "bearer challenge without realm"))?;
        let realm_url = url::Url::parse(realm).map_err(|e| Error::protocol(&self.domain, format!("bad token realm {realm:?}: {e}")))?;
        if !matches!(realm_url.scheme(), "http" | "https") {
            return Err(Error::protocol(&self.domain, format!("token realm {realm:?} is not http(s)")));
        }
        let service = ch.param("service").unwrap_or_default();
        let mut scopes = self.scopes.clone();
        if let Some(s) = ch.param("scope") {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_owned());
            }
        }
        // Tokens are per credential: another password must not reuse a token (a wrong
        // one must fail at the token server), so the key has a hash of the secret.
        let who = match &self.creds {
            Credentials::Basic { username, password: secret } | Credentials::IdentityToken { username, token: secret } => {
                format!("{username}:{}", &berth_image::Digest::sha256_of(secret.as_bytes()).hex()[..16])
            }
            _ => String::new(),
        };
        let key = format!("{realm}|{service}|{}|{who}", scopes.join(" "));
        if let Some(t) = self.tokens.get(&key) {
            return Ok(t);
        }
        let agent = self.transport.agent_for_url(realm)?;
        let login = scopes.is_empty();
        let resp = match &self.creds {
            Credentials::IdentityToken { token, .. } => {
                // OAuth2 refresh-token grant, as the docker CLI's identity tokens need.
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token").append_pair("service", service).append_pair("client_id", "berth");
                form.append_pair("refresh_token", token);
                if !scopes.is_empty() {
                    form.append_pair("scope", &scopes.join(" "));
                }
                let body = form.finish().into_bytes();
                send_with(&agent, &Method::POST, realm, &[("Content-Type", "application/x-www-form-urlencoded".into())], &ReqBody::Bytes(body), None)?
            }
            creds => {
                let mut u = realm_url.clone();
                {
                    let mut q = u.query_pairs_mut();
                    if !service.is_empty() {
                        q.append_pair("service", service);
                    }
                    for s in &scopes {
                        q.append_pair("scope", s);
                    }
                    if login {
                        q.append_pair("offline_token", "true").append_pair("client_id", "berth");
                    }
                    if let Credentials::Basic { username, .. } = creds {
                        q.append_pair("account", username);
                    }
                }
                let auth = match creds {
                    Credentials::Basic { username, password } => Some(basic(username, password)),
                    _ => None,
                };
                send_with(&agent, &Method::GET, u.as_str(), &[], &ReqBody::None, auth)?
            }
        };
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(unauthorized(&self.domain, resp));
        }
        if !(200..300).contains(&status) {
            return Err(status_error(resp, &format!("token from {realm}")));
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
            #[serde(default)]
            refresh_token: String,
        }
        let body = read_small(resp)?;
        let reply: TokenReply = serde_json::from_slice(&body).map_err(|e| Error::protocol(&self.domain, format!("token reply from {realm}: {e}")))?;
        let token = if reply.token.is_empty() { reply.access_token } else { reply.token };
        if token.is_empty() {
            return Err(Error::protocol(&self.domain, format!("token server {realm} returned no token")));
        }
        if !reply.refresh_token.is_empty() {
            *self.identity_token.lock().unwrap_or_else(|p| p.into_inner()) = Some(reply.refresh_token);
        }
        // The spec's default lifetime is 60 s; renew a little early.
        let ttl = Duration::from_secs(reply.expires_in.unwrap_or(60).max(10)).saturating_sub(Duration::from_secs(5));
        self.tokens.put(key, token.clone(), ttl);
        Ok(token)
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn send_with(
    agent: &Agent,
    method: &Method,
    url: &str,
    headers: &[(&str, String)],
    body: &ReqBody,
    authorization: Option<String>,
) -> Result<Response<RespBody>> {
    let terr = |reason: String| Error::Transport { method: title(method), url: url.to_owned(), reason };
    let mut b = http::Request::builder().method(method.clone()).uri(url);
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    if let Some(a) = authorization {
        b = b.header(http::header::AUTHORIZATION, a);
    }
    let result = match body {
        ReqBody::None => agent.run(b.body(SendBody::none()).map_err(|e| terr(e.to_string()))?),
        ReqBody::Bytes(v) => agent.run(b.body(v.as_slice()).map_err(|e| terr(e.to_string()))?),
        ReqBody::File(p) => {
            let f = std::fs::File::open(p).map_err(|e| Error::io("open", p, e))?;
            agent.run(b.body(f).map_err(|e| terr(e.to_string()))?)
        }
    };
    result.map_err(|e| terr(e.to_string()))
}

/// `GET` / `HEAD` ... as Go's net/http names the method in errors (`Get "url": ...`).
fn title(m: &Method) -> String {
    let s = m.as_str();
    let mut out = s[..1].to_owned();
    out.push_str(&s[1..].to_ascii_lowercase());
    out
}

/// Reads a small body (errors, tokens, manifests are bounded by their own limits).
pub(crate) fn read_small(resp: Response<RespBody>) -> Result<Vec<u8>> {
    read_limited(resp, MAX_SMALL_BODY)
}

pub(crate) fn read_limited(resp: Response<RespBody>, limit: u64) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut r = resp.into_body().into_reader().take(limit + 1);
    r.read_to_end(&mut buf).map_err(|e| Error::Transport { method: "Read".into(), url: String::new(), reason: e.to_string() })?;
    if buf.len() as u64 > limit {
        return Err(Error::Protocol { registry: String::new(), reason: format!("response body larger than {limit} bytes") });
    }
    Ok(buf)
}

/// The registry's `{"errors":[{"code","message"}]}` as Docker prints it.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let e: Errors = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = e
        .errors
        .iter()
        .map(|x| match (x.code.is_empty(), x.message.is_empty()) {
            (false, false) => format!("{}: {}", x.code.to_ascii_lowercase().replace('_', " "), x.message),
            (false, true) => x.code.to_ascii_lowercase().replace('_', " "),
            _ => x.message.clone(),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn body_text(body: &[u8]) -> String {
    error_message(body).unwrap_or_else(|| {
        let s = String::from_utf8_lossy(&body[..body.len().min(512)]).trim().to_owned();
        if s.is_empty() {
            "no error details".into()
        } else {
            s
        }
    })
}

/// A 401/403 as Docker reports it (`unauthorized: authentication required`).
pub(crate) fn unauthorized(domain: &str, resp: Response<RespBody>) -> Error {
    let status = resp.status().as_u16();
    let body = read_small(resp).unwrap_or_default();
    let message = match error_message(&body) {
        Some(m) => m,
        None if status == 403 => "denied: requested access to the resource is denied".into(),
        None => "unauthorized: authentication required".into(),
    };
    Error::Unauthorized { registry: domain.to_owned(), message }
}

/// Any unexpected status, with the registry's message.
pub(crate) fn status_error(resp: Response<RespBody>, what: &str) -> Error {
    let status = resp.status().as_u16();
    let body = read_small(resp).unwrap_or_default();
    Error::Registry { what: what.to_owned(), status, message: format!("{} ({status})", body_text(&body)) }
}
