mod common;

use berth_compose::model::{DependsOnCondition, Ulimit};
use berth_compose::{load_project, ComposeError};
use common::*;
use std::path::PathBuf;

#[test]
fn basic_fixture_resolves() {
    let dir = fixture("basic");
    let p = load(&dir, &[("FROM_SHELL", "shell-value"), ("DB_USER", "u")]).unwrap();
    assert_eq!(p.name, "demo");
    assert_eq!(p.meta.working_dir, dir);
    assert_eq!(p.meta.config_files, vec![dir.join("compose.yaml"), dir.join("compose.override.yaml")]);
    assert_eq!(p.meta.env_files, vec![dir.join(".env")]);

    let web = &p.services["web"];
    assert_eq!(web.name, "web");
    // .env provides NGINX_TAG.
    assert_eq!(web.image.as_deref(), Some("nginx:1.27"));
    // The override file replaces the command instead of appending.
    assert_eq!(web.command.as_ref().unwrap(), &["nginx", "-g", "daemon off; error_log stderr;"]);
    // Merge key from the x- fragment.
    assert_eq!(web.restart.as_deref(), Some("unless-stopped"));
    assert_eq!(web.labels["team"], "core");

    // Ports: 8080:80 merged by key, 8081 appended, long form kept.
    let ports: Vec<(Option<&str>, u16, Option<&str>, &str)> = web
        .ports
        .iter()
        .map(|p| (p.host_ip.as_deref(), p.target, p.published.as_deref(), p.protocol.as_str()))
        .collect();
    assert_eq!(
        ports,
        vec![
            (None, 80, Some("8080"), "tcp"),
            (Some("127.0.0.1"), 443, Some("8443"), "udp"),
            (None, 9000, Some("9001"), "tcp"),
            (None, 81, Some("8081"), "tcp"),
        ]
    );

    // Volumes: relative and ~ paths resolved, type decided.
    let v = &web.volumes;
    assert_eq!(v[0].kind, "bind");
    assert_eq!(v[0].source.as_deref(), Some(dir.join("html").to_str().unwrap()));
    assert!(v[0].read_only);
    assert!(v[0].bind.as_ref().unwrap().create_host_path);
    assert_eq!(v[1].kind, "volume");
    assert_eq!(v[1].source.as_deref(), Some("data"));
    assert_eq!(v[2].source.as_deref(), Some("/home/tester/cache"));

    // Environment: env_file first, environment over it, bare names from the env.
    let env = &web.environment;
    assert_eq!(env["APP_ENV"].as_deref(), Some("production"));
    assert_eq!(env["WEB_ONLY"].as_deref(), Some("1"));
    assert_eq!(env["FROM_SHELL"].as_deref(), Some("shell-value"));
    assert_eq!(env["LITERAL"].as_deref(), Some("$NOT_INTERPOLATED"));
    assert_eq!(env["OVERRIDDEN"].as_deref(), Some("yes"));
    assert_eq!(web.env_file.len(), 2);
    assert!(!web.env_file[1].required);

    assert_eq!(web.depends_on["db"].condition, DependsOnCondition::ServiceStarted);
    assert!(web.depends_on["db"].required);
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test.as_ref().unwrap(), &["CMD-SHELL", "curl -f http://localhost"]);
    assert_eq!(hc.interval.unwrap().0.as_secs(), 90);
    assert_eq!(hc.retries, Some(3));
    assert_eq!(web.replicas(), 2);
    let limits = web.deploy.as_ref().unwrap().resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!(limits.cpus, Some(0.5));
    assert_eq!(limits.memory.unwrap().0, 512 * 1024 * 1024);
    assert_eq!(web.ulimits["nofile"], Ulimit::Pair { soft: 1024, hard: 2048 });
    assert_eq!(web.ulimits["nproc"].limits(), (65535, 65535));
    assert_eq!(web.extra_hosts, vec!["somehost=162.242.195.82"]);
    assert_eq!(web.stop_grace_period.unwrap().0.as_secs(), 30);
    // Unmodelled keys are kept.
    assert_eq!(web.extra["x-extension"], "kept");
    assert_eq!(web.extra["cpu_shares"], 512);
    assert_eq!(web.networks.keys().collect::<Vec<_>>(), vec!["default"]);

    let db = &p.services["db"];
    let back = db.networks["back"].as_ref().unwrap();
    assert_eq!(back.aliases, vec!["database"]);
    assert_eq!(back.ipv4_address.as_deref(), Some("172.28.0.10"));
    assert_eq!(db.secrets[0].source, "db_password");
    assert_eq!(db.secrets[1].target.as_deref(), Some("/run/secrets/user"));

    // Profiles: debug is off by default.
    assert!(!p.services.contains_key("debug"));
    assert!(p.meta.disabled_services.contains_key("debug"));

    // Resource names.
    assert_eq!(p.networks["default"].name.as_deref(), Some("demo_default"));
    assert_eq!(p.networks["back"].name.as_deref(), Some("demo_back"));
    assert_eq!(p.volumes["data"].name.as_deref(), Some("demo_data"));
    assert_eq!(p.secrets["db_password"].file.as_deref(), Some(dir.join("secrets/pw.txt").to_str().unwrap()));
}

#[test]
fn process_env_beats_dotenv_and_project_name_from_env() {
    let dir = fixture("basic");
    let p = load(&dir, &[("NGINX_TAG", "shell"), ("PROJECT_NAME", "fromvar"), ("WEB_REPLICAS", "5")]).unwrap();
    assert_eq!(p.services["web"].image.as_deref(), Some("nginx:shell"));
    assert_eq!(p.name, "fromvar");
    assert_eq!(p.services["web"].replicas(), 5);
    let p = load(&dir, &[("COMPOSE_PROJECT_NAME", "envname")]).unwrap();
    assert_eq!(p.name, "envname");
    let mut o = opts(&dir, &[("COMPOSE_PROJECT_NAME", "envname")]);
    o.project_name = Some("flag".into());
    assert_eq!(load_project(&o).unwrap().name, "flag");
}

#[test]
fn unset_variable_warns_and_becomes_empty() {
    let p = load_text("services:\n  a:\n    image: \"busybox${NOPE}\"\n").unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("busybox"));
    assert!(p.meta.warnings.iter().any(|w| w == "The \"NOPE\" variable is not set. Defaulting to a blank string."));
}

#[test]
fn profiles_enable_services() {
    let dir = fixture("basic");
    let mut o = opts(&dir, &[]);
    o.profiles = vec!["debug".into()];
    let p = load_project(&o).unwrap();
    assert!(p.services.contains_key("debug"));
    let dep = &p.services["debug"].depends_on["web"];
    assert_eq!(dep.condition, DependsOnCondition::ServiceHealthy);
    assert!(dep.restart);

    let p = load(&dir, &[("COMPOSE_PROFILES", "debug,other")]).unwrap();
    assert!(p.services.contains_key("debug"));
    assert_eq!(p.meta.profiles, vec!["debug", "other"]);

    let mut o = opts(&dir, &[]);
    o.services = vec!["debug".into()];
    let p = load_project(&o).unwrap();
    assert!(p.services.contains_key("debug"), "naming a service enables it");
}

#[test]
fn profile_dependencies_follow_the_spec_example() {
    let yaml = "services:\n  foo: {image: foo}\n  bar: {image: bar, profiles: [test]}\n  baz: {image: baz, depends_on: [bar], profiles: [test]}\n  zot: {image: zot, depends_on: [bar], profiles: [debug]}\n";
    let t = temp_project(&[("compose.yaml", yaml)]);
    let with = |profiles: &[&str], services: &[&str]| {
        let mut o = opts(t.path(), &[]);
        o.profiles = profiles.iter().map(|s| s.to_string()).collect();
        o.services = services.iter().map(|s| s.to_string()).collect();
        load_project(&o)
    };
    assert_eq!(with(&[], &[]).unwrap().service_names(), vec!["foo"]);
    assert_eq!(with(&["test"], &[]).unwrap().service_names(), vec!["bar", "baz", "foo"]);
    assert_eq!(
        with(&["debug"], &[]).unwrap_err().to_string(),
        "service \"zot\" depends on undefined service \"bar\": invalid compose project"
    );
    assert_eq!(with(&["debug", "test"], &[]).unwrap().service_names().len(), 4);
    assert_eq!(with(&[], &["baz"]).unwrap().service_names(), vec!["bar", "baz", "foo"]);
    assert!(with(&[], &["zot"]).is_err());
    assert_eq!(with(&["test"], &["zot"]).unwrap().service_names().len(), 4);
    assert_eq!(with(&[], &["nope"]).unwrap_err().to_string(), "no such service: nope");
}

#[test]
fn project_name_from_directory_is_normalised() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("My_App.V2");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), "services:\n  a:\n    image: x\n").unwrap();
    let p = load(&dir, &[]).unwrap();
    assert_eq!(p.name, "my_appv2");
    assert_eq!(p.networks["default"].name.as_deref(), Some("my_appv2_default"));
}

#[test]
fn explicit_project_names_are_checked() {
    let t = temp_project(&[("compose.yaml", "name: Bad.Name\nservices: {}\n")]);
    assert!(matches!(load(t.path(), &[]), Err(ComposeError::InvalidProjectName(n)) if n == "Bad.Name"));
    let mut o = opts(t.path(), &[]);
    o.project_name = Some("UPPER".into());
    assert!(matches!(load_project(&o), Err(ComposeError::InvalidProjectName(_))));
}

#[test]
fn discovery_from_subdirectory_uses_parent_file() {
    let t = temp_project(&[("compose.yml", "services:\n  a:\n    image: x\n"), ("sub/deeper/.keep", "")]);
    let p = load(&t.path().join("sub/deeper"), &[]).unwrap();
    assert_eq!(p.meta.config_files, vec![t.path().join("compose.yml")]);
    assert_eq!(p.meta.working_dir, t.path());
}

#[test]
fn several_files_merge_in_order_and_stdin() {
    let t = temp_project(&[
        ("a.yaml", "services:\n  s:\n    image: one\n    environment: [A=1, B=2]\n"),
        ("b.yaml", "services:\n  s:\n    image: two\n    environment:\n      B: three\n"),
    ]);
    let mut o = opts(t.path(), &[]);
    o.config_files = vec!["a.yaml".into(), "b.yaml".into(), "-".into()];
    o.stdin = Some("services:\n  s:\n    labels: [from=stdin]\n".into());
    let p = load_project(&o).unwrap();
    let s = &p.services["s"];
    assert_eq!(s.image.as_deref(), Some("two"));
    assert_eq!(s.environment["A"].as_deref(), Some("1"));
    assert_eq!(s.environment["B"].as_deref(), Some("three"));
    assert_eq!(s.labels["from"], "stdin");
    assert_eq!(p.meta.config_files[2], PathBuf::from("-"));
}

#[test]
fn compose_file_env_and_env_files() {
    let t = temp_project(&[
        ("one.yaml", "services:\n  s:\n    image: \"${IMG}:${TAG}\"\n"),
        ("two.yaml", "services:\n  s:\n    command: run\n"),
        ("a.env", "IMG=from-a\nTAG=a\n"),
        ("b.env", "TAG=b-${IMG}\n"),
    ]);
    let mut o = opts(t.path(), &[("COMPOSE_FILE", "one.yaml:two.yaml")]);
    o.env_files = vec!["a.env".into(), "b.env".into()];
    let p = load_project(&o).unwrap();
    assert_eq!(p.services["s"].image.as_deref(), Some("from-a:b-from-a"));
    assert_eq!(p.services["s"].command.as_ref().unwrap(), &["run"]);
}

#[test]
fn reset_and_override_across_files() {
    let t = temp_project(&[
        ("compose.yaml", "services:\n  app:\n    image: myapp\n    ports: [\"8080:80\"]\n    environment:\n      FOO: BAR\n      KEEP: k\n    volumes: [\"a:/a\"]\n"),
        ("compose.override.yaml", "services:\n  app:\n    ports: !reset []\n    environment:\n      FOO: !reset null\n    volumes: !override\n      - b:/b\n"),
    ]);
    let t2 = t.path();
    std::fs::write(t2.join("compose.yaml"), std::fs::read_to_string(t2.join("compose.yaml")).unwrap() + "volumes:\n  a: {}\n  b: {}\n").unwrap();
    let p = load(t2, &[]).unwrap();
    let app = &p.services["app"];
    assert!(app.ports.is_empty());
    assert!(!app.environment.contains_key("FOO"));
    assert_eq!(app.environment["KEEP"].as_deref(), Some("k"));
    assert_eq!(app.volumes.len(), 1);
    assert_eq!(app.volumes[0].target, "/b");
}

#[test]
fn scale_and_replicas_must_agree() {
    assert_eq!(
        err_text("services:\n  a:\n    image: x\n    scale: 2\n    deploy:\n      replicas: 3\n"),
        "services.a: can't set distinct values on 'scale' and 'deploy.replicas'"
    );
    assert_eq!(load_text("services:\n  a:\n    image: x\n    scale: 4\n").unwrap().services["a"].replicas(), 4);
}

#[test]
fn version_is_obsolete_but_accepted() {
    let p = load_text("version: \"3.8\"\nservices:\n  a:\n    image: x\n").unwrap();
    assert!(p.meta.warnings.iter().any(|w| w.contains("`version` is obsolete")));
    assert!(!p.extra.contains_key("version"));
}

#[test]
fn multiple_yaml_documents_are_merged() {
    let p = load_text("services:\n  a:\n    image: x\n---\nservices:\n  a:\n    user: root\n").unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("x"));
    assert_eq!(p.services["a"].user.as_deref(), Some("root"));
}

#[test]
fn interpolated_values_are_typed() {
    let t = temp_project(&[("compose.yaml", "services:\n  a:\n    image: x\n    read_only: ${RO}\n    init: \"true\"\n    scale: ${N}\n    ports:\n      - target: ${T}\n        published: ${P}\n")]);
    let p = load(t.path(), &[("RO", "true"), ("N", "3"), ("T", "80"), ("P", "8080")]).unwrap();
    let a = &p.services["a"];
    assert!(a.read_only);
    assert_eq!(a.init, Some(true));
    assert_eq!(a.scale, Some(3));
    assert_eq!(a.ports[0].target, 80);
    assert_eq!(a.ports[0].published.as_deref(), Some("8080"));
}
