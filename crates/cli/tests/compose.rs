//! End to end, compose (issue 9): `berth compose` against a real berthd. A sample
//! project (web published on loopback, a worker writing to a named volume, a
//! database-like service with a health check, a one-shot migration) brought up,
//! reached from the host, scaled, changed and re-upped, brought down with and
//! without -v; interpolation and .env; profiles; extends and include; secrets
//! and configs; the bad-input cases (nothing created); attached `up`; the
//! per-service commands; Debian's docker-compose 1.29 against berthd.
//!
//! Every project's default network gets its own /24 in 10.232.0.0/16 (tests run
//! in parallel, each with its own daemon, and must not race for a default pool).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{daemon_with_busybox, free_port, http_get, Daemon};

/// A /24 third octet nobody else in this process uses.
fn subnet_octet() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    (std::process::id() * 7 + N.fetch_add(1, Ordering::SeqCst) * 13) % 250 + 1
}

/// A project in a temporary directory: compose.yaml plus an override giving the
/// default network its own subnet.
struct Project {
    dir: tempfile::TempDir,
    name: String,
    host: String,
    env: Vec<(String, String)>,
}

impl Project {
    fn new(d: &Daemon, name: &str, yaml: &str) -> Project {
        let dir = tempfile::Builder::new().prefix("berth-compose-").tempdir().unwrap();
        let p = Project { dir, name: name.to_owned(), host: d.host(), env: Vec::new() };
        p.write("compose.yaml", yaml);
        p.write("net.yaml", &format!("networks:\n  default:\n    ipam:\n      config:\n        - subnet: 10.232.{}.0/24\n", subnet_octet()));
        p
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// `berth compose -f compose.yaml -f net.yaml -p NAME ARGS`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("compose").arg("-f").arg(self.path("compose.yaml")).arg("-f").arg(self.path("net.yaml")).args(["-p", &self.name]);
        c.args(args).env("BERTH_HOST", &self.host).env_remove("DOCKER_HOST").env_remove("COMPOSE_PROFILES").env_remove("COMPOSE_PROJECT_NAME");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Asserts success; returns (stdout, stderr).
    fn ok(&self, args: &[&str]) -> (String, String) {
        let o = self.run(args);
        let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
        assert!(o.status.success(), "compose {args:?} failed ({}):\nstdout: {out}\nstderr: {err}", o.status);
        (out, err)
    }

    fn out(&self, args: &[&str]) -> String {
        self.ok(args).0
    }

    /// Asserts failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(!o.status.success(), "compose {args:?} should have failed; stdout: {}", String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// name → id of the project's containers (all states).
    fn ids(&self) -> std::collections::BTreeMap<String, String> {
        self.out(&["ps", "-a", "--no-trunc", "--format", "{{.Name}} {{.ID}}"]).lines().filter_map(|l| l.split_once(' ')).map(|(n, i)| (n.to_owned(), i.to_owned())).collect()
    }
}

fn names(d: &Daemon, what: &[&str]) -> Vec<String> {
    d.berth(what).ok().lines().map(str::to_owned).collect()
}

/// A shell that ends on SIGTERM (busybox `sleep` as PID 1 would ignore it and make
/// every stop wait for its whole grace period).
const IDLE: &str = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

fn sample(port: u16, web_greeting: &str) -> String {
    format!(
        r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo {web_greeting} > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:{port}:80"]
    stop_grace_period: 1s
    depends_on:
      db: {{condition: service_healthy}}
      migrate: {{condition: service_completed_successfully}}
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; {IDLE}"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 300ms
      retries: 30
  migrate:
    image: busybox
    command: ["sh", "-c", "echo migrated"]
    depends_on:
      db: {{condition: service_healthy}}
  worker:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do hostname >> /data/seen; sleep 0.2; done"]
    volumes: [data:/data]
volumes:
  data: {{}}
"#
    )
}

#[test]
fn sample_project_up_scale_change_down() {
    let d = daemon_with_busybox();
    let port = free_port();
    let p = Project::new(&d, "shop", &sample(port, "hello-compose"));

    let (_, progress) = p.ok(&["up", "-d"]);
    // The order compose promises: db healthy before migrate starts, migrate done before web starts.
    let at = |s: &str| progress.find(s).unwrap_or_else(|| panic!("{s:?} missing from:\n{progress}"));
    assert!(at("Container shop-db-1  Healthy") < at("Container shop-migrate-1  Starting"), "{progress}");
    assert!(at("Container shop-migrate-1  Exited") < at("Container shop-web-1  Starting"), "{progress}");
    assert_eq!(http_get(port, Duration::from_secs(10)).unwrap().trim(), "hello-compose");

    let ps = p.out(&["ps", "-a", "--format", "{{.Name}}|{{.Service}}|{{.State}}"]);
    let rows: Vec<&str> = ps.lines().collect();
    assert_eq!(rows, ["shop-db-1|db|running", "shop-migrate-1|migrate|exited", "shop-web-1|web|running", "shop-worker-1|worker|running"], "{ps}");
    // Running only without -a; the one-shot is gone from the list.
    assert!(!p.out(&["ps"]).contains("shop-migrate-1"));
    assert_eq!(p.out(&["ps", "--services"]).lines().collect::<Vec<_>>(), ["db", "migrate", "web", "worker"]);
    assert!(p.out(&["logs", "migrate"]).contains("migrate-1  | migrated"));

    // Compose's labels and names, as docker compose reads them.
    let labels = d.berth(&["inspect", "-f", "{{json .Config.Labels}}", "shop-web-1"]).ok();
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["com.docker.compose.project"], "shop");
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(labels["com.docker.compose.project.working_dir"], p.dir.path().to_str().unwrap());
    assert_eq!(labels["com.docker.compose.config-hash"].as_str().map(str::len), Some(64));
    assert!(names(&d, &["network", "ls", "--format", "{{.Name}}"]).contains(&"shop_default".to_owned()));
    assert!(names(&d, &["volume", "ls", "--format", "{{.Name}}"]).contains(&"shop_data".to_owned()));

    // The same project again: nothing changes (--wait: running, db healthy, migrate done).
    let before = p.ids();
    p.ok(&["up", "--wait"]);
    let again = p.ids();
    for n in ["shop-db-1", "shop-web-1", "shop-worker-1"] {
        assert_eq!(before[n], again[n], "{n} was recreated although nothing changed");
    }

    // Scale the worker to 3: two new numbers, the first one kept.
    p.ok(&["up", "-d", "--scale", "worker=3"]);
    let scaled = p.ids();
    assert!(scaled.contains_key("shop-worker-2") && scaled.contains_key("shop-worker-3"), "{scaled:?}");
    assert_eq!(scaled["shop-worker-1"], before["shop-worker-1"]);

    // Change web only: web is recreated, the others keep running as they were.
    p.write("compose.yaml", &sample(port, "changed-web"));
    p.ok(&["up", "-d", "--scale", "worker=3"]);
    let changed = p.ids();
    assert_ne!(changed["shop-web-1"], scaled["shop-web-1"], "web must be recreated");
    for n in ["shop-db-1", "shop-worker-1", "shop-worker-2", "shop-worker-3"] {
        assert_eq!(changed[n], scaled[n], "{n} must be kept");
    }
    assert_eq!(http_get(port, Duration::from_secs(10)).unwrap().trim(), "changed-web");

    // Scale back down: the highest numbers go.
    p.ok(&["up", "-d"]);
    let down1 = p.ids();
    assert!(!down1.contains_key("shop-worker-2") && !down1.contains_key("shop-worker-3"), "{down1:?}");
    assert_eq!(down1["shop-worker-1"], scaled["shop-worker-1"]);

    // down keeps the named volume; the data is there on the next up.
    p.ok(&["down", "-t", "1"]);
    assert!(p.ids().is_empty());
    assert!(!names(&d, &["network", "ls", "--format", "{{.Name}}"]).contains(&"shop_default".to_owned()));
    assert!(names(&d, &["volume", "ls", "--format", "{{.Name}}"]).contains(&"shop_data".to_owned()));
    p.ok(&["up", "-d", "worker"]);
    let seen = p.out(&["exec", "-T", "worker", "cat", "/data/seen"]);
    assert!(seen.lines().count() > 1, "the volume kept what the first worker wrote: {seen}");
    // up of one service brings only it (and its dependencies: none here).
    assert_eq!(p.ids().keys().cloned().collect::<Vec<_>>(), ["shop-worker-1"]);

    // down -v removes the volume too.
    p.ok(&["down", "-v", "-t", "1"]);
    assert!(!names(&d, &["volume", "ls", "--format", "{{.Name}}"]).contains(&"shop_data".to_owned()));
    assert!(names(&d, &["ps", "-aq"]).is_empty());
}

#[test]
fn interpolation_dotenv_and_env_files() {
    let d = daemon_with_busybox();
    let p = Project::new(
        &d,
        "interp",
        r#"
services:
  app:
    image: "${IMAGE:-busybox}"
    environment:
      GREETING: "${GREETING}"
      FROM_SHELL: "${FROM_SHELL-unset}"
      DEFAULTED: "${MISSING:-fallback}"
      ALT: "${GREETING:+set}"
      LITERAL: "$$HOME"
    env_file: [app.env]
    command: ["sh", "-c", "echo $$GREETING/$$FROM_SHELL/$$DEFAULTED/$$ALT/$$LITERAL/$$FILE_VAR"]
"#,
    );
    p.write(".env", "GREETING=hi-from-dotenv\nFROM_SHELL=dotenv-loses\n");
    p.write("app.env", "FILE_VAR=from-env-file\n");
    let mut p = p;
    p.env.push(("FROM_SHELL".into(), "shell-wins".into()));
    let out = p.out(&["run", "--rm", "-T", "app"]);
    assert_eq!(out.trim(), "hi-from-dotenv/shell-wins/fallback/set/$HOME/from-env-file");
    // config shows the resolved model, `$` escaped back.
    let cfg = p.out(&["config"]);
    assert!(cfg.contains("GREETING: hi-from-dotenv"), "{cfg}");
    assert!(cfg.contains("image: busybox"), "{cfg}");
    let json: serde_json::Value = serde_json::from_str(&p.out(&["config", "--format", "json"])).unwrap();
    assert_eq!(json["services"]["app"]["environment"]["FILE_VAR"], "from-env-file");
    // --env-file replaces .env; -e on run overrides the file.
    p.write("other.env", "GREETING=from-other\n");
    let other = p.path("other.env");
    let out = p.out(&["--env-file", other.to_str().unwrap(), "run", "--rm", "-T", "-e", "FILE_VAR=cli", "app"]);
    assert_eq!(out.trim(), "from-other/shell-wins/fallback/set/$HOME/cli");
    // A missing required variable: its message, nothing made.
    p.write("compose.yaml", "services:\n  app:\n    image: \"busybox:${TAG:?set TAG first}\"\n");
    let err = p.fails(&["up", "-d"]);
    assert!(err.contains("required variable TAG is missing a value: set TAG first"), "{err}");
    assert!(names(&d, &["ps", "-aq"]).is_empty());
}

#[test]
fn profiles_enable_services() {
    let d = daemon_with_busybox();
    let p = Project::new(
        &d,
        "prof",
        &format!(
            r#"
services:
  app: {{image: busybox, command: ["sh", "-c", "{IDLE}"]}}
  debug: {{image: busybox, command: ["sh", "-c", "{IDLE}"], profiles: [debug]}}
  tools: {{image: busybox, command: ["sh", "-c", "echo tool-ran"], profiles: [tools]}}
"#
        ),
    );
    p.ok(&["up", "-d"]);
    assert_eq!(p.ids().keys().cloned().collect::<Vec<_>>(), ["prof-app-1"]);
    p.ok(&["--profile", "debug", "up", "-d"]);
    assert_eq!(p.ids().keys().cloned().collect::<Vec<_>>(), ["prof-app-1", "prof-debug-1"]);
    assert_eq!(p.out(&["--profile", "debug", "config", "--services"]).lines().collect::<Vec<_>>(), ["app", "debug"]);
    assert_eq!(p.out(&["config", "--profiles"]).lines().collect::<Vec<_>>(), ["debug", "tools"]);
    // Naming a service enables its profile; COMPOSE_PROFILES works like --profile.
    assert_eq!(p.out(&["run", "--rm", "-T", "tools"]).trim(), "tool-ran");
    let mut p = p;
    p.env.push(("COMPOSE_PROFILES".into(), "debug,tools".into()));
    assert_eq!(p.out(&["config", "--services"]).lines().collect::<Vec<_>>(), ["app", "debug", "tools"]);
    // Without the profile, `down` still sees debug's container as the project's (no orphan).
    p.env.clear();
    let (_, err) = p.ok(&["down", "-t", "1"]);
    assert!(!err.contains("orphan"), "{err}");
    assert!(names(&d, &["ps", "-aq"]).is_empty());
}

#[test]
fn extends_and_include() {
    let d = daemon_with_busybox();
    let p = Project::new(
        &d,
        "ext",
        r#"
include:
  - sub/extra.yaml
services:
  api:
    extends: {file: base.yaml, service: base}
    environment: {ROLE: api}
"#,
    );
    p.write("base.yaml", &format!("services:\n  base:\n    image: busybox\n    environment: {{FROM_BASE: yes-base}}\n    command: [\"sh\", \"-c\", \"echo $$FROM_BASE $$ROLE; {IDLE}\"]\n"));
    p.write("sub/extra.yaml", &format!("services:\n  sidecar:\n    image: busybox\n    command: [\"sh\", \"-c\", \"cat /etc/sub.txt; {IDLE}\"]\n    volumes: [./sub.txt:/etc/sub.txt:ro]\n"));
    p.write("sub/sub.txt", "relative-to-the-included-file\n");
    p.ok(&["up", "-d"]);
    assert_eq!(p.ids().keys().cloned().collect::<Vec<_>>(), ["ext-api-1", "ext-sidecar-1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut api, mut side) = (String::new(), String::new());
    while Instant::now() < deadline && (api.is_empty() || side.is_empty()) {
        api = p.out(&["logs", "--no-log-prefix", "api"]);
        side = p.out(&["logs", "--no-log-prefix", "sidecar"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(api.trim(), "yes-base api");
    assert_eq!(side.trim(), "relative-to-the-included-file");
    p.ok(&["down", "-t", "1"]);
}

#[test]
fn secrets_and_configs_only_inside_their_containers() {
    let d = daemon_with_busybox();
    let p = Project::new(
        &d,
        "sec",
        &format!(
            r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "{IDLE}"]
    secrets: [db_password, {{source: api_key, target: key.txt}}]
    configs: [{{source: app_conf, target: /etc/app.conf}}]
  other:
    image: busybox
    command: ["sh", "-c", "{IDLE}"]
secrets:
  db_password: {{file: ./password.txt}}
  api_key: {{environment: API_KEY}}
configs:
  app_conf: {{content: "level=debug"}}
"#
        ),
    );
    p.write("password.txt", "s3cret-pw\n");
    let mut p = p;
    p.env.push(("API_KEY".into(), "key-from-env".into()));
    p.ok(&["up", "-d"]);
    assert_eq!(p.out(&["exec", "-T", "app", "cat", "/run/secrets/db_password"]), "s3cret-pw\n");
    assert_eq!(p.out(&["exec", "-T", "app", "cat", "/run/secrets/key.txt"]), "key-from-env");
    assert_eq!(p.out(&["exec", "-T", "app", "cat", "/etc/app.conf"]), "level=debug");
    // Read-only, not in the environment, not in the other service, not in the image.
    let w = p.run(&["exec", "-T", "app", "sh", "-c", "echo x > /run/secrets/db_password"]);
    assert!(!w.status.success(), "a secret must be read-only");
    let env = d.berth(&["inspect", "-f", "{{json .Config.Env}}", "sec-app-1"]).ok();
    assert!(!env.contains("s3cret") && !env.contains("key-from-env"), "{env}");
    assert!(!p.run(&["exec", "-T", "other", "test", "-e", "/run/secrets/db_password"]).status.success());
    d.berth(&["commit", "sec-app-1", "sec-snapshot"]).ok();
    let baked = d.berth(&["run", "--rm", "sec-snapshot", "sh", "-c", "cat /run/secrets/db_password /etc/app.conf 2>/dev/null; true"]).ok();
    assert!(!baked.contains("s3cret") && !baked.contains("level=debug"), "secrets leaked into the image: {baked}");
    p.ok(&["down", "-t", "1"]);
}

/// `logs -f` follows containers that start after it began (here a scale-up), as docker
/// compose does, and returns once none it follows is running.
#[test]
fn logs_follow_picks_up_containers_started_later() {
    use std::io::BufRead;
    let d = daemon_with_busybox();
    let p = Project::new(&d, "lf", r#"
services:
  talk:
    image: busybox
    command: ["sh", "-c", "echo hello-from-$$(hostname); sleep 60"]
"#);
    p.ok(&["up", "-d"]);
    let mut child = p.cmd(&["logs", "-f", "--no-color"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |prefix: &str| -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) && l.contains("hello-from-") => return l,
                Ok(_) => {}
                Err(_) => panic!("no log line from {prefix} within 20 s"),
            }
        }
    };
    wait_for("talk-1 ");
    p.ok(&["up", "-d", "--scale", "talk=2"]);
    wait_for("talk-2 ");
    // commit, export and stats of service containers (the docker commands underneath).
    let stats = p.out(&["stats", "--no-stream", "--format", "{{.Name}}"]);
    assert_eq!(stats.lines().collect::<Vec<_>>(), ["lf-talk-1", "lf-talk-2"], "{stats}");
    p.ok(&["commit", "-m", "snap", "--index", "2", "talk", "lf-snap:1"]);
    assert!(d.berth(&["image", "inspect", "-f", "{{.Comment}}", "lf-snap:1"]).ok().contains("snap"));
    let tar = p.path("talk.tar");
    p.ok(&["export", "-o", tar.to_str().unwrap(), "talk"]);
    let listing = Command::new("tar").arg("tf").arg(&tar).output().unwrap();
    assert!(String::from_utf8_lossy(&listing.stdout).lines().any(|l| l.trim_start_matches("./") == "bin/busybox"), "export holds the rootfs");
    p.ok(&["stop", "-t", "1"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("logs -f still running after every container stopped");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    // ps --filter status=… (compose's one filter).
    assert_eq!(p.out(&["ps", "-q", "--filter", "status=exited"]).lines().count(), 2);
    assert_eq!(p.out(&["ps", "-q", "--filter", "status=running"]), "");
    assert!(p.fails(&["ps", "--filter", "colour=red"]).contains("unknown filter colour"));
    p.ok(&["down"]);
}

/// `links: [service:alias]`: the alias resolves in the linking service's containers only.
#[test]
fn links_give_the_linking_service_an_alias() {
    let d = daemon_with_busybox();
    let p = Project::new(&d, "lnk", r#"
services:
  db:
    image: busybox
    command: ["sleep", "300"]
  app:
    image: busybox
    command: ["sleep", "300"]
    links: ["db:database"]
  other:
    image: busybox
    command: ["sleep", "300"]
"#);
    p.ok(&["up", "-d"]);
    let ip = d.berth(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "lnk-db-1"]).ok().trim().to_owned();
    assert!(!ip.is_empty());
    let out = p.out(&["exec", "-T", "app", "nslookup", "database"]);
    assert!(out.contains(&ip), "{out}");
    let o = p.run(&["exec", "-T", "other", "nslookup", "database"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains(&ip), "only the linking service resolves the alias");
    p.ok(&["down", "-t", "0"]);
}

/// Long-syntax `volume.subpath`: the service sees one directory of the named volume.
#[test]
fn volume_subpath_mounts_part_of_a_named_volume() {
    let d = daemon_with_busybox();
    let p = Project::new(&d, "subp", r#"
services:
  seed:
    image: busybox
    command: ["sh", "-c", "mkdir -p /v/conf && echo from-subpath >/v/conf/app.txt && echo top >/v/top.txt"]
    volumes: [data:/v]
  app:
    image: busybox
    command: ["ls", "/etc/app"]
    volumes:
      - type: volume
        source: data
        target: /etc/app
        volume:
          subpath: conf
volumes:
  data: {}
"#);
    p.out(&["run", "--rm", "-T", "seed"]);
    assert_eq!(p.out(&["run", "--rm", "-T", "--no-deps", "app"]).trim(), "app.txt", "only the subpath, not top.txt");
    assert_eq!(p.out(&["run", "--rm", "-T", "--no-deps", "app", "cat", "/etc/app/app.txt"]).trim(), "from-subpath");
    p.ok(&["down", "-v"]);
}

#[test]
fn bad_input_creates_nothing() {
    let d = daemon_with_busybox();
    let p = Project::new(&d, "bad", "services: {}\n");
    let cases: &[(&str, &str)] = &[
        ("services:\n  web:\n    image: busybox\n     command: x\n", "line 4, column 13"),
        ("services:\n  web:\n    image: busybox\n    colour: red\n", "services.web Additional property colour is not allowed"),
        ("services:\n  a: {image: busybox, depends_on: [b]}\n  b: {image: busybox, depends_on: [c]}\n  c: {image: busybox, depends_on: [a]}\n", "dependency cycle detected: a -> b -> c -> a"),
        ("services:\n  a: {image: \"busybox:${NOPE:?NOPE is needed}\"}\n", "required variable NOPE is missing a value: NOPE is needed"),
        ("services:\n  a: {image: busybox, networks: [ghost]}\n", "service \"a\" refers to undefined network ghost"),
        ("services:\n  a: {image: busybox, volumes: [\"ghost:/x\"]}\n", "service \"a\" refers to undefined volume ghost"),
        ("services:\n  a: {image: busybox, secrets: [ghost]}\n", "service \"a\" refers to undefined secret ghost"),
        ("services:\n  a: {image: busybox, networks: [ext]}\nnetworks:\n  ext: {external: true}\n", "network ext declared as external, but could not be found"),
        ("services:\n  a: {image: busybox, volumes: [\"ext:/x\"]}\nvolumes:\n  ext: {external: true}\n", "external volume \"ext\" not found"),
        ("services:\n  a: {image: busybox, secrets: [s]}\nsecrets:\n  s: {file: ./missing.txt}\n", "missing.txt not found"),
        ("services:\n  a: {image: busybox, restart: sometimes}\n", "service \"a\": restart: invalid restart policy \"sometimes\""),
        ("services:\n  a: {image: busybox, container_name: one, scale: 2}\n", "container_name \"one\" is set"),
        ("services:\n  a: {image: not-here-locally, pull_policy: never}\n", "not found and pull_policy is never"),
    ];
    for (yaml, want) in cases {
        p.write("compose.yaml", yaml);
        let err = p.fails(&["up", "-d"]);
        assert!(err.contains(want), "for\n{yaml}\nwanted {want:?} in: {err}");
    }
    assert!(names(&d, &["ps", "-aq"]).is_empty(), "no container may be made");
    assert_eq!(names(&d, &["network", "ls", "--format", "{{.Name}}"]).len(), 3, "only the predefined networks");
    assert!(names(&d, &["volume", "ls", "-q"]).is_empty(), "no volume may be made");
}

#[test]
fn attached_up_prefixes_output_and_exit_codes() {
    let d = daemon_with_busybox();
    let p = Project::new(
        &d,
        "att",
        r#"
services:
  first:
    image: busybox
    command: ["sh", "-c", "echo one; echo two >&2"]
  second-service:
    image: busybox
    command: ["sh", "-c", "sleep 0.5; echo three; exit 3"]
"#,
    );
    let (out, _) = p.ok(&["up", "--no-color"]);
    // Names padded to the longest (second-service-1) plus one, then `| `.
    assert!(out.contains("first-1           | one\n"), "{out}");
    assert!(out.contains("first-1           | two\n"), "{out}");
    assert!(out.contains("second-service-1  | three\n"), "{out}");
    assert!(out.contains("first-1 exited with code 0"), "{out}");
    assert!(out.contains("second-service-1 exited with code 3"), "{out}");
    // --exit-code-from: up ends with that service's status.
    let o = p.run(&["up", "--exit-code-from", "second-service", "second-service"]);
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    // --abort-on-container-exit stops the rest when one ends.
    p.write(
        "compose.yaml",
        &format!("services:\n  quick: {{image: busybox, command: [\"true\"]}}\n  long: {{image: busybox, command: [\"sh\", \"-c\", \"{IDLE}\"]}}\n"),
    );
    let t0 = Instant::now();
    let o = p.run(&["up", "--abort-on-container-exit", "--remove-orphans"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Aborting on container exit"));
    assert!(t0.elapsed() < Duration::from_secs(20));
    assert_eq!(p.out(&["ps", "-q"]), "", "nothing left running");
    p.ok(&["down"]);
}

#[test]
fn per_service_commands() {
    let d = daemon_with_busybox();
    let port = free_port();
    let p = Project::new(
        &d,
        "cmds",
        &format!(
            r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo cmds > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:{port}:80"]
    stop_grace_period: 1s
  app:
    image: busybox
    command: ["sh", "-c", "echo started; {IDLE}"]
    environment: {{MODE: prod}}
    depends_on:
      web: {{condition: service_started, restart: true}}
"#
        ),
    );
    p.ok(&["up", "-d"]);
    // exec: env and status.
    assert_eq!(p.out(&["exec", "-T", "app", "sh", "-c", "echo $MODE"]).trim(), "prod");
    assert_eq!(p.run(&["exec", "-T", "app", "sh", "-c", "exit 7"]).status.code(), Some(7));
    // run: a one-off with its own name and label, -e, status, removed with --rm.
    assert_eq!(p.out(&["run", "--rm", "-T", "-e", "MODE=test", "app", "sh", "-c", "echo $MODE"]).trim(), "test");
    assert_eq!(p.run(&["run", "--rm", "-T", "--no-deps", "app", "sh", "-c", "exit 4"]).status.code(), Some(4));
    assert!(!p.out(&["ps", "-a"]).contains("-run-"), "--rm removed the one-offs");
    // port, top, images.
    assert_eq!(p.out(&["port", "web", "80"]).trim(), format!("127.0.0.1:{port}"));
    let top = p.out(&["top", "web"]);
    assert!(top.starts_with("cmds-web-1\n") && top.contains("httpd"), "{top}");
    let images = p.out(&["images"]);
    assert!(images.contains("cmds-app-1") && images.contains("busybox"), "{images}");
    // cp both ways.
    p.write("in.txt", "copied-in\n");
    p.ok(&["cp", p.path("in.txt").to_str().unwrap(), "app:/tmp/in.txt"]);
    assert_eq!(p.out(&["exec", "-T", "app", "cat", "/tmp/in.txt"]), "copied-in\n");
    p.ok(&["cp", "app:/tmp/in.txt", p.path("out.txt").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(p.path("out.txt")).unwrap(), "copied-in\n");
    // pause / unpause / stop / start / restart (with dependents that asked for it) / kill / rm.
    p.ok(&["pause", "app"]);
    assert_eq!(p.out(&["ps", "--format", "{{.Service}} {{.State}}", "app"]).trim(), "app paused");
    p.ok(&["unpause", "app"]);
    let before = p.ids();
    p.ok(&["stop", "app"]);
    assert_eq!(p.out(&["ps", "-a", "--format", "{{.State}}", "app"]).trim(), "exited");
    p.ok(&["start", "app"]);
    assert_eq!(p.out(&["ps", "--format", "{{.State}}", "app"]).trim(), "running");
    let (_, err) = p.ok(&["restart", "-t", "1", "web"]);
    assert!(err.contains("Container cmds-app-1  Restarting"), "app has depends_on.restart on web: {err}");
    assert_eq!(http_get(port, Duration::from_secs(10)).unwrap().trim(), "cmds");
    assert_eq!(p.ids(), before, "restart keeps the containers");
    // Recreating web restarts app too (restart: true), without recreating it.
    let (_, err) = p.ok(&["up", "-d", "--force-recreate", "web"]);
    assert!(err.contains("Container cmds-web-1  Recreated") && err.contains("Container cmds-app-1  Restarting"), "{err}");
    assert_eq!(p.ids()["cmds-app-1"], before["cmds-app-1"]);
    p.ok(&["kill", "app"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.out(&["ps", "-a", "--format", "{{.State}}", "app"]).trim() != "exited" {
        assert!(Instant::now() < deadline, "kill did not end app");
        std::thread::sleep(Duration::from_millis(50));
    }
    p.ok(&["rm", "-f", "app"]);
    assert!(!p.ids().contains_key("cmds-app-1"));
    // ls lists the project; version answers.
    let ls = d.berth(&["compose", "ls"]).ok();
    assert!(ls.lines().any(|l| l.starts_with("cmds ") && l.contains("running(1)")), "{ls}");
    assert!(d.berth(&["compose", "version"]).ok().starts_with("berth compose version"));
    // A second project on the same daemon is not this one's.
    let q = Project::new(&d, "other", &format!("services:\n  x: {{image: busybox, command: [\"sh\", \"-c\", \"{IDLE}\"]}}\n"));
    q.ok(&["up", "-d"]);
    assert_eq!(p.ids().keys().cloned().collect::<Vec<_>>(), ["cmds-web-1"]);
    assert_eq!(q.ids().keys().cloned().collect::<Vec<_>>(), ["other-x-1"]);
    // down without files, by name.
    let by_name = Command::new(env!("CARGO_BIN_EXE_berth")).args(["compose", "-p", "other", "down", "-t", "1"]).env("BERTH_HOST", d.host()).current_dir("/").output().unwrap();
    assert!(by_name.status.success(), "{}", String::from_utf8_lossy(&by_name.stderr));
    assert!(q.ids().is_empty());
    // wait: the exit status of a service's container.
    p.write("compose.yaml", "services:\n  job: {image: busybox, command: [\"sh\", \"-c\", \"sleep 0.3; exit 5\"]}\n");
    p.ok(&["up", "-d", "--remove-orphans"]);
    assert_eq!(p.out(&["wait", "job"]).trim(), "5");
    p.ok(&["down"]);
    assert!(names(&d, &["ps", "-aq"]).is_empty());
}

#[test]
fn networks_aliases_and_addresses() {
    let d = daemon_with_busybox();
    let x = subnet_octet();
    let p = Project::new(
        &d,
        "nets",
        &format!(
            r#"
services:
  server:
    image: busybox
    command: ["sh", "-c", "{IDLE}"]
    networks:
      back:
        aliases: [database]
        ipv4_address: 10.233.{x}.50
  client:
    image: busybox
    command: ["sh", "-c", "{IDLE}"]
    networks: [back, front]
  loner:
    image: busybox
    command: ["sh", "-c", "{IDLE}"]
    networks: [front]
networks:
  back:
    internal: true
    ipam:
      config: [{{subnet: 10.233.{x}.0/24}}]
    labels: {{tier: back}}
  front:
    ipam:
      config: [{{subnet: 10.234.{x}.0/24}}]
"#
        ),
    );
    p.ok(&["up", "-d"]);
    let info = d.berth(&["network", "inspect", "-f", "{{.Internal}} {{index .Labels \"tier\"}} {{index .Labels \"com.docker.compose.network\"}}", "nets_back"]).ok();
    assert_eq!(info.trim(), "true back back");
    let addr = p.out(&["exec", "-T", "server", "ip", "-4", "-o", "addr"]);
    assert!(addr.contains(&format!("10.233.{x}.50/24")), "{addr}");
    // Service name, alias and container name resolve on the shared network only.
    for name in ["server", "database", "nets-server-1"] {
        let ns = p.out(&["exec", "-T", "client", "nslookup", name]);
        assert!(ns.contains(&format!("10.233.{x}.50")), "{name}: {ns}");
    }
    let lone = p.run(&["exec", "-T", "loner", "nslookup", "server"]);
    assert!(!String::from_utf8_lossy(&lone.stdout).contains(&format!("10.233.{x}.50")), "loner is not on back");
    p.ok(&["down", "-t", "1"]);
    let left = names(&d, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(!left.iter().any(|n| n.starts_with("nets_")), "{left:?}");
}

/// Debian's docker-compose 1.29 (Python, docker-py) against berthd.
#[test]
fn docker_compose_v1_runs_a_project_on_berthd() {
    let Some(bin) = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"].into_iter().find(|p| Path::new(p).exists()) else {
        eprintln!("note: docker-compose absent (apt-get install docker-compose), skipping the v1 compatibility test");
        return;
    };
    let d = daemon_with_busybox();
    let port = free_port();
    let p = Project::new(
        &d,
        "v1",
        // Project networks: docker-compose 1.29 creates each container on the project's
        // default network, disconnects it and connects it again with its aliases.
        &format!(
            r#"
version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo via-v1 > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:{port}:80"]
    stop_grace_period: 1s
    depends_on: [db]
  db:
    image: busybox
    command: ["sh", "-c", "echo db-ready; {IDLE}"]
    volumes: [data:/data]
volumes:
  data: {{}}
"#
        ),
    );
    let dc = |args: &[&str]| -> Output {
        Command::new(bin).arg("-f").arg(p.path("compose.yaml")).args(["-p", "v1"]).args(args).env("DOCKER_HOST", d.host()).env_remove("DOCKER_CONTEXT").stdin(Stdio::null()).output().unwrap()
    };
    let ok = |args: &[&str]| {
        let o = dc(args);
        assert!(o.status.success(), "docker-compose {args:?}: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ok(&["up", "-d"]);
    assert_eq!(http_get(port, Duration::from_secs(10)).unwrap().trim(), "via-v1");
    let ps = ok(&["ps"]);
    assert_eq!(ps.lines().filter(|l| l.starts_with("v1_")).count(), 2, "{ps}");
    assert!(ps.contains("v1_db_1") && ps.contains("v1_web_1"), "{ps}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut logs = String::new();
    while Instant::now() < deadline && !logs.contains("db-ready") {
        logs = ok(&["logs", "--no-color", "db"]);
    }
    assert!(logs.contains("db_1") && logs.contains("db-ready"), "{logs}");
    // The aliases it connected with: web finds db by its service name.
    let db_ip = d.berth(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "v1_db_1"]).ok();
    assert!(db_ip.trim().starts_with("10.") || db_ip.trim().starts_with("172."), "{db_ip:?}");
    let ns = d.berth(&["exec", "v1_web_1", "nslookup", "db"]).ok();
    assert!(ns.contains(&format!("Address: {}", db_ip.trim())), "{ns}");
    // berth compose sees docker-compose's project through the same labels.
    let seen = Command::new(env!("CARGO_BIN_EXE_berth")).args(["compose", "-p", "v1", "ps", "--format", "{{.Service}}"]).env("BERTH_HOST", d.host()).current_dir("/").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&seen.stdout).lines().collect::<Vec<_>>(), ["db", "web"]);
    ok(&["down", "-v"]);
    assert!(names(&d, &["ps", "-aq"]).is_empty());
    assert!(!names(&d, &["volume", "ls", "-q"]).contains(&"v1_data".to_owned()));
}

#[test]
fn build_rebuild_and_rmi() {
    let d = daemon_with_busybox();
    let p = Project::new(
        &d,
        "bld",
        &format!(
            r#"
services:
  app:
    build:
      context: ./app
      args: {{GREETING: hi-build}}
    command: ["sh", "-c", "cat /msg.txt /greeting; {IDLE}"]
  inline:
    image: local/inline:1
    build:
      context: ./app
      dockerfile_inline: |
        FROM busybox
        RUN echo inline-built > /built
    command: ["sh", "-c", "cat /built; {IDLE}"]
"#
        ),
    );
    p.write("app/Dockerfile", "FROM busybox\nARG GREETING=none\nCOPY msg.txt /msg.txt\nRUN echo \"$GREETING\" > /greeting\n");
    p.write("app/msg.txt", "from-context\n");
    p.write("app/secret.txt", "keep-out\n");
    p.write("app/.dockerignore", "secret.txt\n");
    p.ok(&["build"]);
    let images = names(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains(&"bld-app:latest".to_owned()) && images.contains(&"local/inline:1".to_owned()), "{images:?}");
    p.ok(&["up", "-d"]);
    let logs = |svc: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let l = p.out(&["logs", "--no-log-prefix", svc]);
            if !l.is_empty() || Instant::now() > deadline {
                return l;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(logs("app"), "from-context\nhi-build\n");
    assert_eq!(logs("inline"), "inline-built\n");
    assert!(!p.run(&["exec", "-T", "app", "test", "-e", "/secret.txt"]).status.success(), ".dockerignore keeps secret.txt out");
    // A changed context and --build: a new image, so app is recreated; inline is not.
    let before = p.ids();
    p.write("app/msg.txt", "changed\n");
    p.ok(&["up", "-d", "--build"]);
    let after = p.ids();
    assert_ne!(after["bld-app-1"], before["bld-app-1"]);
    assert_eq!(after["bld-inline-1"], before["bld-inline-1"], "inline's image did not change");
    assert_eq!(logs("app"), "changed\nhi-build\n");
    // --rmi local removes the images compose named itself, not local/inline:1.
    p.ok(&["down", "-t", "1", "--rmi", "local"]);
    let images = names(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!images.contains(&"bld-app:latest".to_owned()) && images.contains(&"local/inline:1".to_owned()), "{images:?}");
}
