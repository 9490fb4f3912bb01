//! Test fixtures: Debian's docker-registry on a random loopback port (one per test,
//! killed on drop), a small bearer-token server, a proxy that breaks the first blob
//! download, and images built in the test with berth-image. Loopback traffic only.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_image::{Digest, ImageStore, Reference};
use berth_registry::{Progress, Registry, RegistryOptions};
use serde_json::json;

/// How a test registry authenticates.
pub enum Auth {
    None,
    Htpasswd { user: String, password: String },
    Token { realm: String, service: String, issuer: String, cert: PathBuf },
}

/// A docker-registry process with its own storage.
pub struct TestRegistry {
    pub addr: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl TestRegistry {
    pub fn start(auth: Auth) -> TestRegistry {
        Self::start_on("127.0.0.1", auth, "")
    }

    /// A registry on `ip` (a random port), with extra `http:` settings (indented by 2).
    pub fn start_on(ip: &str, auth: Auth, http_extra: &str) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let l = TcpListener::bind((ip, 0)).unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("{ip}:{port}");
        let auth_yaml = match &auth {
            Auth::None => String::new(),
            Auth::Htpasswd { user, password } => {
                let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd (apache2-utils)");
                assert!(out.status.success());
                std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
                format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", dir.path().join("htpasswd").display())
            }
            Auth::Token { realm, service, issuer, cert } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                cert.display()
            ),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: berth-test-secret\n{http_extra}{auth_yaml}",
            dir.path().join("storage").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let r = TestRegistry { addr, dir, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&r.addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not start: {}", r.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The on-disk data file of a blob (to corrupt it).
    pub fn blob_data(&self, d: &Digest) -> PathBuf {
        self.dir.path().join("storage/docker/registry/v2/blobs").join(d.algorithm().as_str()).join(&d.hex()[..2]).join(d.hex()).join("data")
    }

    pub fn reference(&self, name: &str) -> Reference {
        Reference::parse(&format!("{}/{name}", self.addr)).unwrap()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh image store in `dir`.
pub fn open_store(dir: &Path) -> ImageStore {
    ImageStore::open(dir, &dir.join("berth.db")).unwrap()
}

/// A tar with the given regular files.
pub fn layer_tar(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// Bytes that do not compress (a simple xorshift stream), `n` long.
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Builds an image from layer tars in `store`, tags it, and returns (image id, manifest
/// bytes).
pub fn make_image(store: &ImageStore, tag: &str, layers: &[Vec<u8>], arch: &str) -> (Digest, Vec<u8>) {
    let mut descs = Vec::new();
    let mut diffs = Vec::new();
    for l in layers {
        let d = store.content().write_bytes(l).unwrap();
        diffs.push(d.to_string());
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": l.len()}));
    }
    let config = json!({
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diffs},
        "history": layers.iter().map(|_| json!({"created_by": "test"})).collect::<Vec<_>>(),
    });
    let config = serde_json::to_vec(&config).unwrap();
    let cd = store.content().write_bytes(&config).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let id = store.register_manifest(&manifest, &[Reference::parse(tag).unwrap()]).unwrap();
    (id, manifest)
}

/// A registry client with default options (loopback is insecure by default).
pub fn client() -> Registry {
    Registry::new(RegistryOptions::default())
}

/// Collects progress messages.
#[derive(Clone, Default)]
pub struct Collected(pub Arc<Mutex<Vec<Progress>>>);

impl Collected {
    pub fn sink(&self) -> impl Fn(Progress) + Send + Sync + '_ {
        move |p| self.0.lock().unwrap().push(p)
    }
    pub fn statuses(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|p| p.status.clone()).collect()
    }
    pub fn has(&self, status: &str) -> bool {
        self.statuses().iter().any(|s| s == status)
    }
}

/// Reads one HTTP request head (up to the blank line).
fn read_head(r: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Some(lines);
        }
        lines.push(line);
    }
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A bearer-token server: checks basic credentials, records requested scopes, grants
/// them in an RS256 JWT the registry verifies against `cert`.
pub struct TokenServer {
    pub realm: String,
    pub cert: PathBuf,
    pub scopes: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

fn b64url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

impl TokenServer {
    pub const SERVICE: &'static str = "berth-test-registry";
    pub const ISSUER: &'static str = "berth-test-issuer";

    pub fn start(user: &'static str, password: &'static str) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let st = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=berth-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let der = Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&cert).output().unwrap().stdout;
        use base64::Engine as _;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let scopes = Arc::new(Mutex::new(Vec::new()));
        let seen = scopes.clone();
        let key2 = key.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let Some(head) = read_head(&mut r) else { continue };
                let target = head[0].split(' ').nth(1).unwrap_or_default().to_owned();
                let query = target.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
                let mut req_scopes = Vec::new();
                let mut service = String::new();
                for pair in query.split('&') {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let v = percent_decode(v);
                    match k {
                        "scope" => req_scopes.push(v),
                        "service" => service = v,
                        _ => {}
                    }
                }
                use base64::Engine as _;
                let want = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
                let mut w = conn;
                if header(&head, "authorization") != Some(want.as_str()) || service != TokenServer::SERVICE {
                    let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad test credentials"}]}"#;
                    let _ = write!(w, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                    continue;
                }
                seen.lock().unwrap().extend(req_scopes.iter().cloned());
                let access: Vec<serde_json::Value> = req_scopes
                    .iter()
                    .filter_map(|s| {
                        let mut p = s.split(':');
                        let (t, n, a) = (p.next()?, p.next()?, p.next()?);
                        Some(json!({"type": t, "name": n, "actions": a.split(',').collect::<Vec<_>>()}))
                    })
                    .collect();
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                let header_json = json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
                let claims = json!({"iss": TokenServer::ISSUER, "sub": user, "aud": TokenServer::SERVICE, "exp": now + 300,
                    "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", req_scopes.len()), "access": access});
                let signing_input = format!("{}.{}", b64url(header_json.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
                let mut child = Command::new("openssl").args(["dgst", "-sha256", "-sign"]).arg(&key2).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
                child.stdin.take().unwrap().write_all(signing_input.as_bytes()).unwrap();
                let sig = child.wait_with_output().unwrap().stdout;
                let token = format!("{signing_input}.{}", b64url(&sig));
                let body = json!({"token": token, "expires_in": 300}).to_string();
                let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        TokenServer { realm, cert, scopes, _dir: dir }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A proxy in front of a registry that cuts the first blob GET after `cut_after` body
/// bytes, and records the Range headers it sees.
pub struct BreakingProxy {
    pub addr: String,
    pub ranges: Arc<Mutex<Vec<String>>>,
}

impl BreakingProxy {
    pub fn start(upstream: String, cut_after: usize) -> BreakingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        let cut_done = Arc::new(Mutex::new(false));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { return };
                let upstream = upstream.clone();
                let seen = seen.clone();
                let cut_done = cut_done.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(client.try_clone().unwrap());
                    // One request per connection: simpler than following keep-alive.
                    let Some(head) = read_head(&mut r) else { return };
                    let is_blob_get = head[0].starts_with("GET ") && head[0].contains("/blobs/sha256:");
                    if let Some(range) = header(&head, "range") {
                        seen.lock().unwrap().push(range.to_owned());
                    }
                    let mut up = TcpStream::connect(&upstream).unwrap();
                    let mut req = String::new();
                    for l in &head {
                        if !l.to_ascii_lowercase().starts_with("connection:") {
                            req.push_str(l);
                            req.push_str("\r\n");
                        }
                    }
                    req.push_str("Connection: close\r\n\r\n");
                    up.write_all(req.as_bytes()).unwrap();
                    let len: usize = header(&head, "content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; len];
                    let _ = r.read_exact(&mut body);
                    let _ = up.write_all(&body);
                    let mut client = client;
                    let mut resp = Vec::new();
                    let _ = up.read_to_end(&mut resp);
                    // Only a blob bigger than the cut is broken (not the small config).
                    let cut = is_blob_get && resp.len() > cut_after * 2 && {
                        let mut d = cut_done.lock().unwrap();
                        !std::mem::replace(&mut *d, true)
                    };
                    if cut {
                        let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(resp.len());
                        let end = (head_end + cut_after).min(resp.len());
                        let _ = client.write_all(&resp[..end]);
                    } else {
                        let _ = client.write_all(&resp);
                    }
                    let _ = client.shutdown(Shutdown::Both);
                });
            }
        });
        BreakingProxy { addr, ranges }
    }
}
