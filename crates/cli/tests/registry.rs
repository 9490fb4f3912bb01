//! Registries end to end: a loopback docker-registry (Debian's), berthd, the berth CLI
//! and the real docker CLI.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Daemon;

/// docker-registry on a random loopback port, killed on drop.
struct Registry {
    addr: String,
    _dir: tempfile::TempDir,
    child: Child,
}

impl Registry {
    fn start(htpasswd: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let mut auth = String::new();
        if let Some((u, p)) = htpasswd {
            let out = Command::new("htpasswd").args(["-Bbn", u, p]).output().expect("htpasswd (apache2-utils)");
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
            auth = format!("auth:\n  htpasswd:\n    realm: e2e\n    path: {}\n", dir.path().join("htpasswd").display());
        }
        let cfg = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: e2e\n{auth}",
            dir.path().join("storage").display()
        );
        std::fs::write(dir.path().join("config.yml"), cfg).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { addr, _dir: dir, child }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `berth ARGS` with its own docker config dir (never the host's ~/.docker).
fn berth(d: &Daemon, cfg: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.args(args).env("BERTH_HOST", d.host()).env("DOCKER_CONFIG", cfg).env_remove("DOCKER_HOST");
    c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(s) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn import_busybox(d: &Daemon, cfg: &Path, name: &str) {
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    ok(berth(d, cfg, &["import", "--change", "CMD [\"sh\"]", &tar, name], None));
}

#[test]
fn push_remove_then_run_pulls_it_back() {
    let reg = Registry::start(None);
    let d = Daemon::start();
    let cfg = d.dir.path().join("docker-config");
    let name = format!("{}/e2e/busybox:1", reg.addr);
    import_busybox(&d, &cfg, &name);
    let out = ok(berth(&d, &cfg, &["push", &name], None));
    assert!(out.contains("Pushed") && out.contains("1: digest: sha256:"), "{out}");
    ok(berth(&d, &cfg, &["rmi", &name], None));
    let o = berth(&d, &cfg, &["run", "--rm", &name, "echo", "pulled and ran"], None);
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("pulled and ran"), "{stdout}");
    assert!(stderr.contains("Unable to find image"), "{stderr}");
    // An explicit pull of what is here is up to date; a missing tag is a clear 404.
    let out = ok(berth(&d, &cfg, &["pull", &name], None));
    assert!(out.contains("Image is up to date"), "{out}");
    let o = berth(&d, &cfg, &["pull", &format!("{}/e2e/busybox:nope", reg.addr)], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("manifest unknown"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = berth(&d, &cfg, &["run", "--rm", "--pull=never", &format!("{}/e2e/other:1", reg.addr), "true"], None);
    assert!(!o.status.success());
}

#[test]
fn all_tags_push_and_pull_with_events() {
    let reg = Registry::start(None);
    let d = Daemon::start();
    let cfg = d.dir.path().join("docker-config");
    let repo = format!("{}/e2e/many", reg.addr);
    import_busybox(&d, &cfg, &format!("{repo}:one"));
    ok(berth(&d, &cfg, &["tag", &format!("{repo}:one"), &format!("{repo}:two")], None));
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();

    // A tag with -a is refused, as docker does; -a pushes both tags.
    assert!(!berth(&d, &cfg, &["push", "-a", &format!("{repo}:one")], None).status.success());
    let out = ok(berth(&d, &cfg, &["push", "--all-tags", &repo], None));
    assert!(out.contains("one: digest: sha256:") && out.contains("two: digest: sha256:"), "{out}");

    ok(berth(&d, &cfg, &["rmi", &format!("{repo}:one"), &format!("{repo}:two")], None));
    let out = ok(berth(&d, &cfg, &["pull", "-a", &repo], None));
    assert!(out.contains("one: Pulling from e2e/many") && out.contains("two: Pulling from e2e/many"), "{out}");
    assert!(out.contains("Status: Downloaded newer image for"), "{out}");
    let images = ok(berth(&d, &cfg, &["images", "--format", "{{.Tag}}", &repo], None));
    let mut tags: Vec<&str> = images.lines().collect();
    tags.sort();
    assert_eq!(tags, ["one", "two"]);

    // dockerd's image events for each pushed and pulled tag.
    // A second ahead: events ends then, having replayed what happened.
    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string();
    let events = ok(berth(&d, &cfg, &["events", "--since", &start, "--until", &until, "--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}}"], None));
    for want in ["push", "pull"] {
        for tag in ["one", "two"] {
            let line = format!("{want} {repo}:{tag}");
            assert!(events.lines().any(|l| l == line), "{line} missing in:\n{events}");
        }
    }
    // A repository with no tags at the registry is a clear error.
    let o = berth(&d, &cfg, &["pull", "-a", &format!("{}/e2e/none", reg.addr)], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("e2e/none"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn login_logout_with_htpasswd() {
    let reg = Registry::start(Some(("alice", "s3cret")));
    let d = Daemon::start();
    let cfg = d.dir.path().join("docker-config");
    let name = format!("{}/private/busybox:1", reg.addr);
    import_busybox(&d, &cfg, &name);
    let o = berth(&d, &cfg, &["push", &name], None);
    assert!(!o.status.success(), "anonymous push must fail");
    let o = berth(&d, &cfg, &["login", "-u", "alice", "--password-stdin", &reg.addr], Some("wrong\n"));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unauthorized"), "{}", String::from_utf8_lossy(&o.stderr));
    let out = ok(berth(&d, &cfg, &["login", "-u", "alice", "--password-stdin", &reg.addr], Some("s3cret\n")));
    assert!(out.contains("Login Succeeded"), "{out}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(cfg.join("config.json")).unwrap()).unwrap();
    assert!(saved["auths"][&reg.addr]["auth"].is_string(), "{saved}");
    ok(berth(&d, &cfg, &["push", &name], None));
    ok(berth(&d, &cfg, &["rmi", &name], None));
    ok(berth(&d, &cfg, &["pull", &name], None));
    let out = ok(berth(&d, &cfg, &["logout", &reg.addr], None));
    assert!(out.contains("Removing login credentials"), "{out}");
    ok(berth(&d, &cfg, &["rmi", &name], None));
    assert!(!berth(&d, &cfg, &["pull", &name], None).status.success(), "pull after logout must fail");
}

#[test]
fn docker_cli_pushes_and_pulls_through_berthd() {
    let reg = Registry::start(None);
    let d = Daemon::start();
    let cfg = d.dir.path().join("docker-config");
    let name = format!("{}/dockercli/busybox:2", reg.addr);
    import_busybox(&d, &cfg, &name);
    let Some(run) = d.docker(&["push", &name]) else { return };
    let out = run.ok();
    assert!(out.contains("digest: sha256:"), "{out}");
    d.docker(&["rmi", &name]).unwrap().ok();
    let out = d.docker(&["pull", &name]).unwrap().ok();
    assert!(out.contains("Downloaded newer image") || out.contains("Pull complete"), "{out}");
    let out = d.docker(&["run", "--rm", &name, "echo", "docker pulled"]).unwrap().ok();
    assert!(out.contains("docker pulled"), "{out}");
}
