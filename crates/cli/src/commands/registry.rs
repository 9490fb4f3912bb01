//! `pull`, `push`, `login`, `logout`: the daemon talks to the registry; the CLI keeps
//! the credentials (`~/.docker/config.json`, or `$DOCKER_CONFIG`, with credential
//! helpers, as the docker CLI) and sends them as `X-Registry-Auth`.

use std::io::{BufRead, Write};

use berth_api::client::{query, Body};
use berth_api::{Client, ClientError, JsonMessage};
use berth_registry::credentials::server_key;
use berth_registry::{AuthConfig, DockerConfig};
use clap::Args;

use super::{client, fail, is_tty};
use crate::{CmdResult, Failure, Global};

/// The registry domain of an image name, as docker splits it: the first component if
/// it looks like a host (has `.` or `:`, or is `localhost`), else Docker Hub.
pub fn domain_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_owned(),
        _ => "docker.io".to_owned(),
    }
}

/// The `X-Registry-Auth` header for a registry, from the saved credentials (none if
/// there are none or config.json cannot be read: the pull may still be anonymous).
pub fn auth_header(domain: &str) -> Vec<(&'static str, String)> {
    match DockerConfig::load(DockerConfig::default_path()).and_then(|c| c.get(domain)) {
        Ok(a) if !a.is_empty() => vec![("X-Registry-Auth", a.to_header())],
        Ok(_) => vec![],
        Err(e) => {
            eprintln!("WARNING: {e}");
            vec![]
        }
    }
}

/// `name[:tag]` / `name@digest` → (repository, tag or digest) as `POST /images/create`
/// takes them.
fn split_tag(image: &str) -> (String, Option<String>) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_owned(), Some(digest.to_owned()));
    }
    match image.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_owned(), Some(t.to_owned())),
        _ => (image.to_owned(), None),
    }
}

/// The full name docker prints after a pull (`docker.io/library/busybox:latest`).
fn canonical(image: &str) -> String {
    let (repo, tag) = split_tag(image);
    let full = if domain_of(&repo) != "docker.io" {
        repo
    } else {
        let path = repo.strip_prefix("docker.io/").unwrap_or(&repo);
        if path.contains('/') {
            format!("docker.io/{path}")
        } else {
            format!("docker.io/library/{path}")
        }
    };
    match tag {
        Some(t) if t.contains(':') => format!("{full}@{t}"),
        Some(t) => format!("{full}:{t}"),
        None => format!("{full}:latest"),
    }
}

/// Draws progress messages as docker does (live per-layer lines on a terminal, status
/// changes elsewhere), nothing if `quiet`.
fn printer(quiet: bool) -> impl FnMut(&JsonMessage) {
    let terminal = is_tty(1);
    let width = crate::tty::size(1).map(|(_, cols)| cols).unwrap_or(200);
    let mut display = crate::progress::Display::new(std::io::stdout(), terminal, width);
    move |m: &JsonMessage| {
        if !quiet {
            display.show(m);
        }
    }
}

/// Pulls an image through the daemon, printing progress unless `quiet`.
pub fn pull_image(c: &Client, image: &str, platform: Option<&str>, quiet: bool) -> Result<(), ClientError> {
    let (repo, tag) = split_tag(image);
    let tag = tag.or_else(|| Some("latest".to_owned()));
    let q = query([("fromImage", Some(repo.clone())), ("tag", tag), ("platform", platform.map(str::to_owned))]);
    let headers = auth_header(&domain_of(&repo));
    c.call_with("POST", &format!("/images/create{q}"), &headers, Body::Empty)?.json_messages(printer(quiet))
}

#[derive(Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// NAME[:TAG|@DIGEST]
    name: String,
}

pub fn pull(g: &Global, a: PullArgs) -> CmdResult {
    let c = client(g)?;
    if a.all_tags {
        // No tag: the daemon pulls every tag of the repository.
        let (repo, tag) = split_tag(&a.name);
        if tag.is_some() {
            return Err(fail("tag can't be used with --all-tags/-a"));
        }
        let q = query([("fromImage", Some(repo.clone())), ("platform", a.platform.clone())]);
        let headers = auth_header(&domain_of(&repo));
        c.call_with("POST", &format!("/images/create{q}"), &headers, Body::Empty)?.json_messages(printer(a.quiet))?;
        println!("{}", canonical(&repo).rsplit_once(':').map(|(r, _)| r.to_owned()).unwrap_or_default());
        return Ok(());
    }
    if !a.name.contains(['/', ':', '@']) && !a.quiet {
        println!("Using default tag: latest");
    }
    pull_image(&c, &a.name, a.platform.as_deref(), a.quiet)?;
    println!("{}", canonical(&a.name));
    Ok(())
}

#[derive(Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// NAME[:TAG]
    name: String,
}

pub fn push(g: &Global, a: PushArgs) -> CmdResult {
    let c = client(g)?;
    let (repo, tag) = split_tag(&a.name);
    if tag.as_deref().is_some_and(|t| t.contains(':')) {
        return Err(fail(format!("cannot push a digest reference: {}", a.name)));
    }
    if a.all_tags && tag.is_some() {
        return Err(fail("tag can't be used with --all-tags/-a"));
    }
    if tag.is_none() && !a.quiet && !a.all_tags {
        println!("Using default tag: latest");
    }
    // No tag (with -a): the daemon pushes every local tag of the repository.
    let tag = if a.all_tags { None } else { Some(tag.unwrap_or_else(|| "latest".to_owned())) };
    let q = query([("tag", tag.clone())]);
    let headers = auth_header(&domain_of(&repo));
    let path = format!("/images/{}/push{q}", berth_api::client::encode(&repo).replace("%2F", "/"));
    c.call_with("POST", &path, &headers, Body::Empty)?.json_messages(printer(a.quiet))?;
    if a.quiet {
        match &tag {
            Some(t) => println!("{repo}:{t}"),
            None => println!("{repo}"),
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long = "username")]
    username: Option<String>,
    /// Password
    #[arg(short = 'p', long = "password")]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    /// The registry (Docker Hub if omitted)
    server: Option<String>,
}

fn read_line(prompt: &str) -> Result<String, Failure> {
    if !prompt.is_empty() {
        print!("{prompt}");
        let _ = std::io::stdout().flush();
    }
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s).map_err(|e| fail(e.to_string()))?;
    Ok(s.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn login(g: &Global, a: LoginArgs) -> CmdResult {
    let c = client(g)?;
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let domain = domain_of(&format!("{}/x", server.trim_start_matches("https://").trim_start_matches("http://")));
    let domain = if a.server.is_none() { "docker.io".to_owned() } else if domain == "docker.io" { server.clone() } else { domain };
    if a.password.is_some() && a.password_stdin {
        return Err(fail("--password and --password-stdin are mutually exclusive"));
    }
    if a.password_stdin && a.username.is_none() {
        return Err(fail("Must provide --username with --password-stdin"));
    }
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let username = match a.username {
        Some(u) => u,
        None if is_tty(0) => read_line("Username: ")?,
        None => return Err(fail("Error: Cannot perform an interactive login from a non TTY device")),
    };
    let password = match (a.password, a.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| fail(e.to_string()))?;
            s.trim_end_matches(['\r', '\n']).to_owned()
        }
        (None, false) => read_line("Password: ")?,
    };
    if username.is_empty() || password.is_empty() {
        return Err(fail("Error: Username and password are required"));
    }
    let key = server_key(&domain);
    let auth = AuthConfig { username: username.clone(), password: password.clone(), serveraddress: key.clone(), ..Default::default() };
    let body = serde_json::to_vec(&auth).map_err(|e| fail(e.to_string()))?;
    let reply: serde_json::Value = c.call("POST", "/auth", Body::Json(body))?.json()?;
    let token = reply["IdentityToken"].as_str().unwrap_or_default().to_owned();
    let mut saved = AuthConfig { serveraddress: key, ..Default::default() };
    if token.is_empty() {
        saved.username = username;
        saved.password = password;
    } else {
        saved.username = username;
        saved.identitytoken = token;
    }
    let mut config = DockerConfig::load(DockerConfig::default_path()).map_err(|e| fail(e.to_string()))?;
    config.store(&saved).map_err(|e| fail(e.to_string()))?;
    println!("Login Succeeded");
    Ok(())
}

#[derive(Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub if omitted)
    server: Option<String>,
}

pub fn logout(_g: &Global, a: LogoutArgs) -> CmdResult {
    let server = a.server.unwrap_or_else(|| "docker.io".into());
    let host = server.trim_start_matches("https://").trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
    let mut config = DockerConfig::load(DockerConfig::default_path()).map_err(|e| fail(e.to_string()))?;
    let key = server_key(&host);
    if config.erase(&host).map_err(|e| fail(e.to_string()))? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(domain_of("busybox"), "docker.io");
        assert_eq!(domain_of("localhost:5000/app"), "localhost:5000");
        assert_eq!(domain_of("team/app"), "docker.io");
        assert_eq!(split_tag("localhost:5000/app:1"), ("localhost:5000/app".into(), Some("1".into())));
        assert_eq!(split_tag("localhost:5000/app"), ("localhost:5000/app".into(), None));
        assert_eq!(canonical("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(canonical("127.0.0.1:5000/a/b:2"), "127.0.0.1:5000/a/b:2");
    }
}
