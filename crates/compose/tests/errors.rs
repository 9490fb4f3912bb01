//! Bad input: every error names the file, the service and the key; none panics.

mod common;

use berth_compose::ComposeError;
use common::*;

#[test]
fn invalid_yaml_has_line_and_column() {
    let t = temp_project(&[("compose.yaml", "services:\n  web:\n    image: nginx\n     bad: indent\n")]);
    let e = load(t.path(), &[]).unwrap_err();
    match &e {
        ComposeError::Yaml { file, line, column, .. } => {
            assert_eq!(file, &t.path().join("compose.yaml").display().to_string());
            assert_eq!((*line, *column), (4, 9));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(e.to_string().contains("compose.yaml: line 4, column 9: mapping values are not allowed"), "{e}");
}

#[test]
fn unknown_key_names_file_service_and_key() {
    let t = temp_project(&[("compose.yaml", "services:\n  web:\n    image: nginx\n    foo: 1\n")]);
    let e = load(t.path(), &[]).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("validating {}: services.web Additional property foo is not allowed", t.path().join("compose.yaml").display())
    );
}

#[test]
fn unknown_nested_key_and_bad_type() {
    let e = err_text("services:\n  web:\n    image: x\n    healthcheck:\n      tset: [CMD]\n");
    assert!(e.ends_with("services.web.healthcheck Additional property tset is not allowed"), "{e}");
    let e = err_text("services:\n  web:\n    image: x\n    ports: 80\n");
    assert!(e.ends_with("services.web.ports must be a list"), "{e}");
    let e = err_text("services:\n  web:\n    image: x\nnetworks:\n  n:\n    driver: 3\n");
    assert!(e.ends_with("networks.n.driver must be a string"), "{e}");
}

#[test]
fn schema_runs_after_interpolation() {
    // An interpolated value that becomes valid passes; the unknown key is still caught.
    let t = temp_project(&[("compose.yaml", "services:\n  web:\n    image: ${IMG:?image please}\n")]);
    let e = load(t.path(), &[]).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "error while interpolating services.web.image in {}: required variable IMG is missing a value: image please",
            t.path().join("compose.yaml").display()
        )
    );
    assert!(load(t.path(), &[("IMG", "nginx")]).is_ok());
}

#[test]
fn required_variable_without_message() {
    let e = err_text("services:\n  web:\n    image: x\n    environment:\n      - A=${X?}\n");
    assert!(e.ends_with("required variable X is missing a value"), "{e}");
    assert!(e.contains("services.web.environment.0"), "{e}");
}

#[test]
fn invalid_template() {
    let e = err_text("services:\n  web:\n    image: \"${oops\"\n");
    assert!(e.contains("services.web.image") && e.contains("invalid template: \"${oops\""), "{e}");
}

#[test]
fn undefined_resources() {
    assert_eq!(
        err_text("services:\n  web:\n    image: x\n    networks: [front]\n"),
        "service \"web\" refers to undefined network front: invalid compose project"
    );
    assert_eq!(
        err_text("services:\n  web:\n    image: x\n    volumes: [\"data:/data\"]\n"),
        "service \"web\" refers to undefined volume data: invalid compose project"
    );
    assert_eq!(
        err_text("services:\n  web:\n    image: x\n    secrets: [pw]\n"),
        "service \"web\" refers to undefined secret pw: invalid compose project"
    );
    assert_eq!(
        err_text("services:\n  web:\n    image: x\n    configs: [{source: c}]\n"),
        "service \"web\" refers to undefined config c: invalid compose project"
    );
    assert_eq!(
        err_text("services:\n  web:\n    image: x\n    depends_on: [db]\n"),
        "service \"web\" depends on undefined service \"db\": invalid compose project"
    );
    assert_eq!(
        err_text("services:\n  web:\n    image: x\n    network_mode: service:vpn\n"),
        "service \"web\" refers to undefined service vpn: invalid compose project"
    );
    // Bind mounts and anonymous volumes need no declaration.
    assert!(load_text("services:\n  web:\n    image: x\n    volumes: [\"./d:/d\", \"/anon\"]\n").is_ok());
}

#[test]
fn optional_dependency_on_missing_service_is_dropped() {
    let p = load_text("services:\n  web:\n    image: x\n    depends_on:\n      db:\n        condition: service_started\n        required: false\n").unwrap();
    assert!(p.services["web"].depends_on.is_empty());
    assert!(p.meta.warnings.iter().any(|w| w.contains("\"db\"")));
}

#[test]
fn bad_short_syntax_names_the_key() {
    let e = err_text("services:\n  web:\n    image: x\n    ports: [\"80:80:80:80/xyz\"]\n");
    assert!(e.ends_with("services.web.ports.0: invalid proto \"xyz\" in \"80:80:80:80/xyz\""), "{e}");
    let e = err_text("services:\n  web:\n    image: x\n    volumes: [\"a:b:c:d\"]\n");
    assert!(e.contains("services.web.volumes.0: invalid volume spec"), "{e}");
}

#[test]
fn bad_duration_is_an_error_not_a_panic() {
    let e = load_text("services:\n  web:\n    image: x\n    stop_grace_period: soon\n").unwrap_err();
    let e = e.to_string();
    assert!(e.ends_with("compose.yaml: services.web: invalid duration \"soon\""), "{e}");
}

#[test]
fn missing_required_env_file() {
    let e = load_text("services:\n  web:\n    image: x\n    env_file: nope.env\n").unwrap_err();
    assert!(matches!(e, ComposeError::EnvFileNotFound { ref path, .. } if path.ends_with("nope.env")), "{e}");
}

#[test]
fn bad_dotenv_names_file_and_line() {
    let t = temp_project(&[("compose.yaml", "services: {}\n"), (".env", "OK=1\nNOT OK=2\n")]);
    let e = load(t.path(), &[]).unwrap_err().to_string();
    assert_eq!(e, format!("{}: line 2: unexpected character ' ' in variable name \"NOT OK\"", t.path().join(".env").display()));
}

#[test]
fn top_level_must_be_a_mapping() {
    let e = err_text("- a\n- b\n");
    assert!(e.ends_with("compose.yaml: Top-level object must be a mapping"), "{e}");
}

#[test]
fn missing_file_is_io_error() {
    let t = temp_project(&[]);
    let mut o = opts(t.path(), &[]);
    o.config_files = vec!["nope.yaml".into()];
    let e = berth_compose::load_project(&o).unwrap_err();
    assert!(matches!(e, ComposeError::Io { ref path, .. } if path.ends_with("nope.yaml")), "{e}");
}

#[test]
fn network_mode_and_networks_conflict() {
    let e = err_text("services:\n  web:\n    image: x\n    network_mode: host\n    networks: [default]\n");
    assert_eq!(e, "services.web: network_mode and networks cannot be combined");
}

/// Many malformed inputs: every one is an error, none panics.
#[test]
fn garbage_never_panics() {
    let inputs = [
        "services:\n  a: 3\n",
        "services: [1, 2]\n",
        "services:\n  a:\n    ports: [\"99999:80\"]\n",
        "services:\n  a:\n    ports: [\"-1\"]\n",
        "services:\n  a:\n    ulimits:\n      nofile: {soft: x, hard: 1}\n",
        "services:\n  a:\n    deploy: {replicas: many}\n",
        "services:\n  a:\n    <<: 5\n",
        "services:\n  a:\n    extends: {service: a, file: /dev/null}\n",
        "include: [/nonexistent/compose.yaml]\nservices: {}\n",
        "services:\n  a:\n    image: x\n    command: \"unterminated 'quote\"\n",
        "services:\n  a: &x\n    image: *x\n",
        "\t\tservices: {}\n",
        "services:\n  a:\n    healthcheck: {interval: 5}\n    image: x\n",
        "services:\n  a:\n    image: x\n    env_file: [{path: /dev/null/x, required: true}]\n",
    ];
    for i in inputs {
        let r = std::panic::catch_unwind(|| load_text(i));
        match r {
            Ok(Err(_)) => {}
            Ok(Ok(_)) if i.contains("interval: 5") => {}
            Ok(Ok(p)) => panic!("accepted {i:?}: {:?}", p.services),
            Err(_) => panic!("panicked on {i:?}"),
        }
    }
}
