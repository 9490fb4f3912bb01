//! Credentials as Docker clients hand them over: the Engine API's `AuthConfig` (the
//! base64url JSON of the `X-Registry-Auth` header and the `POST /auth` body) and the
//! docker CLI's `config.json` (`auths` with base64 `user:password`, `identitytoken`,
//! `credsStore` / `credHelpers` run as `docker-credential-<name> get|store|erase`).
//!
//! This module needs no HTTP stack, so the CLI can use it on its own (feature `client`
//! off) for `login`, `logout` and the header it sends with `pull` and `push`.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Where Docker Hub's credentials are filed in `config.json` (the docker CLI's key).
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The Engine API's `AuthConfig`. Empty strings and missing fields mean the same.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// base64 of `username:password` (config.json's form).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    /// An OAuth2 refresh token the token server issued at login.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    /// A bearer token to send to the registry as is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets never reach logs.
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("serveraddress", &self.serveraddress)
            .field("password", &redacted(&self.password))
            .field("auth", &redacted(&self.auth))
            .field("identitytoken", &redacted(&self.identitytoken))
            .field("registrytoken", &redacted(&self.registrytoken))
            .finish()
    }
}

fn redacted(s: &str) -> &'static str {
    if s.is_empty() {
        ""
    } else {
        "<redacted>"
    }
}

/// What to present to a registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials: anonymous access (bearer tokens are still fetched without them).
    #[default]
    Anonymous,
    /// Username and password: HTTP basic, or basic auth at the token server.
    Basic { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token server.
    IdentityToken { username: String, token: String },
    /// A bearer token used as is (`registrytoken`).
    RegistryToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::IdentityToken { username, .. } => write!(f, "IdentityToken({username}, <redacted>)"),
            Credentials::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

impl AuthConfig {
    /// Decodes an `X-Registry-Auth` header: base64url (padded or not; plain base64 is
    /// accepted too, as dockerd does) of the JSON object. An empty header is anonymous.
    pub fn from_header(value: &str) -> Result<AuthConfig> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(AuthConfig::default());
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|e| e.decode(value).ok())
            .ok_or_else(|| Error::Credentials("invalid X-Registry-Auth header: not base64".into()))?;
        // Clients send `{}` or even `null` for anonymous access.
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes == b"null" {
            return Ok(AuthConfig::default());
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::Credentials(format!("invalid X-Registry-Auth header: {e}")))
    }

    /// Encodes this as an `X-Registry-Auth` header value (base64url, as the docker CLI).
    pub fn to_header(&self) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Whether no credential is set.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.auth.is_empty()
            && self.identitytoken.is_empty()
            && self.registrytoken.is_empty()
    }

    /// The credentials this config carries: a registry token wins, then an identity
    /// token, then username/password (from the fields or the `auth` string).
    pub fn credentials(&self) -> Result<Credentials> {
        if !self.registrytoken.is_empty() {
            return Ok(Credentials::RegistryToken(self.registrytoken.clone()));
        }
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if !self.auth.is_empty() && username.is_empty() && password.is_empty() {
            (username, password) = decode_auth(&self.auth)?;
        }
        if !self.identitytoken.is_empty() {
            return Ok(Credentials::IdentityToken { username, token: self.identitytoken.clone() });
        }
        if username.is_empty() && password.is_empty() {
            return Ok(Credentials::Anonymous);
        }
        Ok(Credentials::Basic { username, password })
    }
}

/// Decodes config.json's `auth` (base64 of `user:password`).
fn decode_auth(auth: &str) -> Result<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| Error::Credentials("invalid auth configuration file: auth is not base64".into()))?;
    let s = String::from_utf8(bytes).map_err(|_| Error::Credentials("invalid auth configuration file: auth is not UTF-8".into()))?;
    let (u, p) = s.split_once(':').ok_or_else(|| Error::Credentials("invalid auth configuration file: auth has no ':'".into()))?;
    Ok((u.to_owned(), p.trim_end_matches('\0').to_owned()))
}

/// The key a registry domain is filed under in `config.json`: Docker Hub's legacy URL
/// for `docker.io`, the bare `host[:port]` otherwise.
pub fn server_key(domain: &str) -> String {
    let host = normalise_key(domain);
    if matches!(host.as_str(), "docker.io" | "index.docker.io" | "registry-1.docker.io") {
        DOCKER_HUB_AUTH_KEY.to_owned()
    } else {
        host
    }
}

/// `https://host:port/v1/` → `host:port`, as the docker CLI matches `auths` keys.
fn normalise_key(key: &str) -> String {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    k.split('/').next().unwrap_or(k).to_owned()
}

/// The docker CLI's `config.json`. Unknown keys are kept as they are when it is saved.
#[derive(Clone, Debug)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn default_path() -> PathBuf {
        if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("config.json");
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
        home.join(".docker").join("config.json")
    }

    /// Loads the file; a missing file is an empty config.
    pub fn load(path: impl Into<PathBuf>) -> Result<DockerConfig> {
        let path = path.into();
        let doc = match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::Credentials(format!("loading config file {}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        Ok(DockerConfig { path, doc })
    }

    /// The file this config is read from and saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper for a server: `credHelpers[server]`, else `credsStore`.
    fn helper_for(&self, key: &str) -> Option<String> {
        let host = normalise_key(key);
        let helpers = self.doc.get("credHelpers").and_then(Value::as_object);
        helpers
            .and_then(|h| h.get(key).or_else(|| h.get(&host)))
            .or_else(|| self.doc.get("credsStore"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    /// The credentials saved for a registry domain (`docker.io`, `localhost:5000`);
    /// empty if there are none.
    pub fn get(&self, domain: &str) -> Result<AuthConfig> {
        let key = server_key(domain);
        if let Some(helper) = self.helper_for(&key) {
            return helper_get(&helper, &key);
        }
        let Some(auths) = self.auths() else { return Ok(AuthConfig::default()) };
        let entry = auths.get(&key).or_else(|| {
            let host = normalise_key(&key);
            auths.iter().find(|(k, _)| server_key(k) == key || normalise_key(k) == host).map(|(_, v)| v)
        });
        let Some(entry) = entry else { return Ok(AuthConfig::default()) };
        let mut a: AuthConfig = serde_json::from_value(entry.clone())
            .map_err(|e| Error::Credentials(format!("{}: auths[{key}]: {e}", self.path.display())))?;
        if !a.auth.is_empty() {
            (a.username, a.password) = decode_auth(&a.auth)?;
            a.auth.clear();
        }
        a.serveraddress = key;
        Ok(a)
    }

    /// Saves credentials for `auth.serveraddress` (a domain or URL), through the
    /// credential helper when one is configured, then writes the file.
    pub fn store(&mut self, auth: &AuthConfig) -> Result<()> {
        let key = server_key(&auth.serveraddress);
        if let Some(helper) = self.helper_for(&key) {
            let (user, secret) = if auth.identitytoken.is_empty() {
                (auth.username.clone(), auth.password.clone())
            } else {
                ("<token>".to_owned(), auth.identitytoken.clone())
            };
            let body = serde_json::json!({"ServerURL": key, "Username": user, "Secret": secret});
            run_helper(&helper, "store", body.to_string().as_bytes())?;
            // The helper holds the secret; the file only remembers the server.
            self.auths_mut().insert(key, Value::Object(Map::new()));
        } else {
            let mut entry = Map::new();
            if !auth.username.is_empty() || !auth.password.is_empty() {
                let raw = format!("{}:{}", auth.username, auth.password);
                entry.insert("auth".into(), base64::engine::general_purpose::STANDARD.encode(raw).into());
            }
            if !auth.identitytoken.is_empty() {
                entry.insert("identitytoken".into(), auth.identitytoken.clone().into());
            }
            self.auths_mut().insert(key, Value::Object(entry));
        }
        self.save()
    }

    /// Forgets the credentials for a registry domain; returns whether there were any.
    pub fn erase(&mut self, domain: &str) -> Result<bool> {
        let key = server_key(domain);
        let mut had = false;
        if let Some(helper) = self.helper_for(&key) {
            // A helper that has nothing for the server fails; that is "not logged in".
            had |= run_helper(&helper, "erase", key.as_bytes()).is_ok();
        }
        let host = normalise_key(&key);
        let auths = self.auths_mut();
        let keys: Vec<String> = auths.keys().filter(|k| **k == key || normalise_key(k) == host).cloned().collect();
        for k in keys {
            had |= auths.remove(&k).is_some();
        }
        self.save()?;
        Ok(had)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let v = self.doc.entry("auths").or_insert_with(|| Value::Object(Map::new()));
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        v.as_object_mut().expect("just made an object")
    }

    /// Writes the file atomically, mode 0600 (it holds secrets).
    pub fn save(&self) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let tmp = self.path.with_extension(format!("json.tmp{}", std::process::id()));
        let mut data = serde_json::to_vec_pretty(&self.doc).unwrap_or_default();
        data.push(b'\n');
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io("write", &self.path, e)
        })
    }
}

/// `docker-credential-<helper> get`: the server URL on stdin, `{ServerURL, Username,
/// Secret}` on stdout. "Not found" is anonymous, not an error.
fn helper_get(helper: &str, key: &str) -> Result<AuthConfig> {
    let out = match run_helper(helper, "get", key.as_bytes()) {
        Ok(out) => out,
        Err(Error::Credentials(msg)) if msg.contains("credentials not found") => return Ok(AuthConfig::default()),
        Err(e) => return Err(e),
    };
    #[derive(Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let r: Reply = serde_json::from_slice(&out)
        .map_err(|e| Error::Credentials(format!("docker-credential-{helper} get: invalid reply: {e}")))?;
    let mut a = AuthConfig { serveraddress: key.to_owned(), ..Default::default() };
    if r.username == "<token>" {
        a.identitytoken = r.secret;
    } else {
        a.username = r.username;
        a.password = r.secret;
    }
    Ok(a)
}

fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Credentials(format!("error getting credentials - err: exec: \"{program}\": {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is reported by its status, not EPIPE.
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output().map_err(|e| Error::Credentials(format!("{program} {action}: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout }).trim().to_owned();
        return Err(Error::Credentials(format!("{program} {action}: {msg}")));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_lenient_decoding() {
        let a = AuthConfig { username: "u".into(), password: "p?>".into(), serveraddress: "localhost:5000".into(), ..Default::default() };
        let h = a.to_header();
        assert_eq!(AuthConfig::from_header(&h).unwrap(), a);
        let std = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&a).unwrap());
        assert_eq!(AuthConfig::from_header(&std).unwrap(), a);
        assert!(AuthConfig::from_header("").unwrap().is_empty());
        assert!(AuthConfig::from_header(&base64::engine::general_purpose::URL_SAFE.encode("{}")).unwrap().is_empty());
        assert!(AuthConfig::from_header("!!!").unwrap_err().to_string().contains("X-Registry-Auth"));
        assert!(AuthConfig::from_header(&base64::engine::general_purpose::URL_SAFE.encode("[1]")).is_err());
        assert_eq!(a.credentials().unwrap(), Credentials::Basic { username: "u".into(), password: "p?>".into() });
        let t = AuthConfig { registrytoken: "tok".into(), ..Default::default() };
        assert_eq!(t.credentials().unwrap(), Credentials::RegistryToken("tok".into()));
        assert!(!format!("{a:?}").contains("p?>"), "no secrets in Debug");
    }

    #[test]
    fn config_file_store_get_erase_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"https://other:5000/v1/":{"auth":"YTpi"}},"psFormat":"x"}"#).unwrap();
        let mut c = DockerConfig::load(&path).unwrap();
        let got = c.get("other:5000").unwrap();
        assert_eq!((got.username.as_str(), got.password.as_str()), ("a", "b"));
        c.store(&AuthConfig { username: "me".into(), password: "pw:x".into(), serveraddress: "localhost:5000".into(), ..Default::default() })
            .unwrap();
        c.store(&AuthConfig { username: "hub".into(), password: "h".into(), serveraddress: "docker.io".into(), ..Default::default() }).unwrap();
        let c = DockerConfig::load(&path).unwrap();
        let got = c.get("localhost:5000").unwrap();
        assert_eq!((got.username.as_str(), got.password.as_str()), ("me", "pw:x"));
        let raw: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(raw["psFormat"], "x");
        assert!(raw["auths"][DOCKER_HUB_AUTH_KEY]["auth"].is_string());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let mut c = DockerConfig::load(&path).unwrap();
        assert!(c.erase("localhost:5000").unwrap());
        assert!(!c.erase("localhost:5000").unwrap());
        assert!(DockerConfig::load(&path).unwrap().get("localhost:5000").unwrap().is_empty());
        assert!(DockerConfig::load(dir.path().join("missing.json")).unwrap().get("x").unwrap().is_empty());
        std::fs::write(&path, "{not json").unwrap();
        assert!(DockerConfig::load(&path).is_err());
    }

    #[test]
    fn credential_helper_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-berthtest");
        // A helper that keeps one secret in a file, as the real ones do in a keychain.
        let store = dir.path().join("secret");
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\ncase $1 in\n get) [ -f {s} ] && cat {s} || {{ echo 'credentials not found in native keychain'; exit 1; }};;\n store) cat > {s};;\n erase) rm {s};;\nesac\n",
                s = store.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"credHelpers":{"reg.test:5000":"berthtest"}}"#).unwrap();
        // PATH is process-wide; this is the only test that changes it.
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(&old));
        std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
        let mut c = DockerConfig::load(&path).unwrap();
        assert!(c.get("reg.test:5000").unwrap().is_empty(), "not found is anonymous");
        c.store(&AuthConfig { username: "u".into(), password: "s3".into(), serveraddress: "reg.test:5000".into(), ..Default::default() }).unwrap();
        let got = DockerConfig::load(&path).unwrap().get("reg.test:5000").unwrap();
        assert_eq!((got.username.as_str(), got.password.as_str()), ("u", "s3"));
        assert!(!std::fs::read_to_string(&path).unwrap().contains("s3"), "the secret stays in the helper");
        assert!(c.erase("reg.test:5000").unwrap());
        assert!(c.get("reg.test:5000").unwrap().is_empty());
        std::env::set_var("PATH", old);
    }
}
