//! extends, include, dependency order, config output and labels, end to end.

mod common;

use berth_compose::{config_output, graph, labels, load_project, ComposeError};
use common::*;

#[test]
fn extends_other_file_chain_and_same_file() {
    let dir = fixture("extends");
    let p = load(&dir, &[]).unwrap();
    let cli = &p.services["cli"];
    assert_eq!(cli.image.as_deref(), Some("busybox"));
    assert_eq!(cli.user.as_deref(), Some("root"));
    // Mappings: local keys override, others kept.
    assert_eq!(cli.environment["PORT"].as_deref(), Some("8080"));
    assert_eq!(cli.environment["TZ"].as_deref(), Some("utc"));
    // Sequences: referenced first, then local.
    assert_eq!(cli.security_opt, vec!["label:role:ROLE", "label:user:USER"]);
    assert_eq!(cli.cap_add, vec!["NET_ADMIN"]);
    // Relative paths of the extended file resolve against its own directory.
    assert_eq!(
        cli.volumes[0].source.as_deref(),
        Some(dir.join("common/conf").to_str().unwrap())
    );
    assert!(!cli.extra.contains_key("extends"));
    // Same-file extends (string form) of a service that itself extends.
    let local = &p.services["local"];
    assert_eq!(local.user.as_deref(), Some("root"));
    assert_eq!(local.command.as_ref().unwrap(), &["echo", "hi"]);
    assert_eq!(local.environment["PORT"].as_deref(), Some("8080"));
}

#[test]
fn extends_replaces_volume_by_target() {
    let p = load_text(
        "services:\n  common:\n    image: busybox\n    volumes:\n      - common-volume:/var/lib/backup/data:rw\n  cli:\n    extends:\n      service: common\n    volumes:\n      - cli-volume:/var/lib/backup/data:ro\nvolumes:\n  common-volume: {}\n  cli-volume: {}\n",
    )
    .unwrap();
    let v = &p.services["cli"].volumes;
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].source.as_deref(), Some("cli-volume"));
    assert!(v[0].read_only);
}

#[test]
fn extends_cycle_is_detected() {
    let e = err_text("services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: a\n");
    assert!(e.starts_with("circular reference with extends: a ("), "{e}");
    assert!(e.contains(" -> b (") && e.ends_with("compose.yaml)"), "{e}");
    let e = err_text("services:\n  a:\n    extends: a\n");
    assert!(e.starts_with("circular reference with extends: a ("), "{e}");
}

#[test]
fn extends_missing_service_or_file() {
    let e = err_text("services:\n  a:\n    extends: nope\n");
    assert!(e.starts_with("cannot extend service \"nope\" in ") && e.ends_with("compose.yaml: service not found"), "{e}");
    let e = load_text("services:\n  a:\n    extends:\n      file: missing.yaml\n      service: x\n").unwrap_err();
    assert!(matches!(e, ComposeError::Io { ref path, .. } if path.ends_with("missing.yaml")), "{e}");
}

#[test]
fn include_loads_sub_projects() {
    let dir = fixture("include");
    let p = load(&dir, &[]).unwrap();
    assert_eq!(p.service_names(), vec!["app", "othersvc", "subsvc"]);
    // Sub project's own .env, and relative paths against its own directory.
    let sub = &p.services["subsvc"];
    assert_eq!(sub.image.as_deref(), Some("sub:fromsubenv"));
    assert_eq!(sub.volumes[0].source.as_deref(), Some(dir.join("sub/data").to_str().unwrap()));
    // env_file of the include entry.
    assert_eq!(p.services["othersvc"].image.as_deref(), Some("other:custom"));
    // The including project's environment wins.
    let p = load(&dir, &[("SUB_TAG", "parent")]).unwrap();
    assert_eq!(p.services["subsvc"].image.as_deref(), Some("sub:parent"));
    assert!(!p.extra.contains_key("include"));
}

#[test]
fn include_conflict_is_reported() {
    let t = temp_project(&[
        ("compose.yaml", "include: [sub/compose.yaml]\nservices:\n  s:\n    image: mine\n"),
        ("sub/compose.yaml", "services:\n  s:\n    image: theirs\n"),
    ]);
    let e = load(t.path(), &[]).unwrap_err().to_string();
    assert_eq!(e, format!("imported compose file {} defines conflicting service s", t.path().join("sub/compose.yaml").display()));
}

#[test]
fn include_cycle_is_reported() {
    let t = temp_project(&[
        ("compose.yaml", "include: [sub/compose.yaml]\nservices: {}\n"),
        ("sub/compose.yaml", "include: [../compose.yaml]\nservices: {}\n"),
    ]);
    let e = load(t.path(), &[]).unwrap_err();
    assert!(matches!(e, ComposeError::IncludeCycle(ref c) if c.len() == 3), "{e}");
}

#[test]
fn dependency_order_and_cycle() {
    let p = load_text(
        "services:\n  web:\n    image: x\n    depends_on: [api]\n    links: [cache]\n  api:\n    image: x\n    network_mode: service:net\n  net:\n    image: x\n  cache:\n    image: x\n    volumes_from: [net]\n",
    )
    .unwrap();
    assert_eq!(graph::start_order(&p).unwrap(), vec!["net", "api", "cache", "web"]);
    assert_eq!(graph::stop_order(&p).unwrap(), vec!["web", "cache", "api", "net"]);
    let p = load(&fixture("cycle"), &[]).unwrap();
    assert_eq!(
        graph::start_order(&p).unwrap_err().to_string(),
        "dependency cycle detected: a -> b -> c -> a"
    );
}

#[test]
fn config_yaml_round_trips() {
    let dir = fixture("basic");
    let env = [("FROM_SHELL", "s"), ("DB_USER", "u")];
    let p = load(&dir, &env).unwrap();
    let yaml = config_output::to_yaml(&p);
    assert!(yaml.starts_with("name: demo\nservices:\n"), "{yaml}");
    assert!(yaml.contains("      - mode: ingress\n        protocol: tcp\n        published: \"8080\"\n        target: 80\n"), "{yaml}");
    assert!(yaml.contains("interval: 1m30s"));
    assert!(yaml.contains("LITERAL: $$NOT_INTERPOLATED"), "{yaml}");
    assert!(yaml.contains("x-extension: kept"));
    // Load the output again: same model.
    let mut o = opts(&dir, &env);
    o.config_files = vec!["-".into()];
    o.stdin = Some(yaml.clone());
    o.project_directory = Some(dir.clone());
    let again = load_project(&o).unwrap();
    assert_eq!(again.services, p.services);
    assert_eq!(again.networks, p.networks);
    assert_eq!(again.volumes, p.volumes);
    assert_eq!(again.secrets, p.secrets);
    assert_eq!(config_output::to_yaml(&again), yaml);
}

#[test]
fn config_json_is_sorted_and_complete() {
    let p = load_text("services:\n  b:\n    image: x\n    environment: {Z: '1', A: '2'}\n  a:\n    image: y\nx-top: {k: v}\n").unwrap();
    let json = config_output::to_json(&p);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["services"]["b"]["environment"]["A"], "2");
    assert_eq!(v["x-top"]["k"], "v");
    let name_pos = json.find("\"name\"").unwrap();
    let services_pos = json.find("\"services\"").unwrap();
    assert!(name_pos < services_pos);
    assert!(json.find("\"a\": {").unwrap() < json.find("\"b\": {").unwrap());
    assert!(json.find("\"A\"").unwrap() < json.find("\"Z\"").unwrap());
}

#[test]
fn config_hash_ignores_scale_and_tracks_changes() {
    let base = "services:\n  a:\n    image: x\n    environment: [A=1]\n";
    let h = |yaml: &str| labels::service_hash(&load_text(yaml).unwrap().services["a"]);
    let h0 = h(base);
    assert_eq!(h0.len(), 64);
    assert_eq!(h0, h(base), "stable across loads");
    assert_eq!(h0, h(&format!("{base}    scale: 3\n    pull_policy: always\n    depends_on: [b]\n  b:\n    image: b\n")));
    assert_ne!(h0, h("services:\n  a:\n    image: x\n    environment: [A=2]\n"));
    // Short and long syntax of the same thing hash the same.
    assert_eq!(
        h("services:\n  a:\n    image: x\n    ports: ['80:80']\n"),
        h("services:\n  a:\n    image: x\n    ports:\n      - {target: 80, published: '80'}\n")
    );
}

#[test]
fn names_and_labels() {
    let dir = fixture("basic");
    let p = load(&dir, &[("DB_USER", "u")]).unwrap();
    assert_eq!(labels::container_name(&p.name, "web", 1), "demo-web-1");
    assert_eq!(labels::default_network_name(&p.name), "demo_default");
    assert_eq!(labels::resource_name(&p.name, "data"), "demo_data");
    let web = &p.services["web"];
    let l = labels::container_labels(&p, web, 2, false);
    assert_eq!(l[labels::PROJECT], "demo");
    assert_eq!(l[labels::SERVICE], "web");
    assert_eq!(l[labels::CONTAINER_NUMBER], "2");
    assert_eq!(l[labels::ONEOFF], "False");
    assert_eq!(l[labels::CONFIG_HASH], labels::service_hash(web));
    assert_eq!(l[labels::WORKING_DIR], dir.display().to_string());
    assert_eq!(
        l[labels::CONFIG_FILES],
        format!("{},{}", dir.join("compose.yaml").display(), dir.join("compose.override.yaml").display())
    );
    assert_eq!(l[labels::DEPENDS_ON], "db:service_started:false");
    assert_eq!(l["team"], "core", "the service's own labels are kept");
    let n = labels::network_labels(&p, "back");
    assert_eq!(n[labels::NETWORK], "back");
    let v = labels::volume_labels(&p, "data");
    assert_eq!(v[labels::VOLUME], "data");
}
