//! End to end, secrets (issue 10): `berth secret create|ls|inspect|rm` and the
//! /secrets API on a real berthd, `run --secret` (content, owner, mode, a read-only
//! tmpfs, restart), the value absent from every file of the data and exec roots,
//! the daemon's log, inspect, export, commit/save and diff, in-use and missing
//! secrets refused with nothing left behind, the real docker CLI's `docker secret`,
//! and compose secrets going the same way.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::{daemon_with_busybox, Daemon};
use serde_json::Value;

/// A shell that ends on SIGTERM, so stops are quick.
const IDLE: &str = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

fn fails(d: &Daemon, args: &[&str]) -> String {
    let out = d.berth(args).output();
    assert!(!out.status.success(), "berth {args:?} should have failed; stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn create_from_stdin(d: &Daemon, name: &str, value: &[u8]) -> String {
    d.berth(&["secret", "create", name, "-"]).stdin(value.to_vec()).ok().trim().to_owned()
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir` (symlinks not followed).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else { continue };
        for e in rd.flatten() {
            let Ok(md) = std::fs::symlink_metadata(e.path()) else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Asserts that no file of the daemon's data root, exec root or log holds `value`
/// or its base64 form; returns how many files were read (so a walk of nothing
/// cannot pass).
fn assert_nowhere_on_disk(d: &Daemon, value: &[u8]) -> usize {
    let b64 = base64::engine::general_purpose::STANDARD.encode(value);
    let mut n = 0;
    for dir in ["root", "run"] {
        for f in files_under(&d.dir.path().join(dir)) {
            let Ok(bytes) = std::fs::read(&f) else { continue };
            n += 1;
            assert!(!contains(&bytes, value), "the secret's value is in plain text in {}", f.display());
            assert!(!contains(&bytes, b64.as_bytes()), "the secret's value is in base64 in {}", f.display());
        }
    }
    let log = d.log();
    assert!(!log.contains(std::str::from_utf8(value).unwrap()) && !log.contains(&b64), "the secret's value is in berthd's log");
    n
}

fn api_json(d: &Daemon, path: &str) -> Value {
    let (status, body) = d.raw("GET", path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn secret_commands_and_api_shapes() {
    let d = Daemon::start();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("pw.txt");
    std::fs::write(&file, "from-a-file-value").unwrap();
    let id1 = d.berth(&["secret", "create", "--label", "team=db", "--label", "tier", "fromfile", file.to_str().unwrap()]).ok().trim().to_owned();
    let id2 = create_from_stdin(&d, "fromstdin", b"from-stdin-value\n");
    for id in [&id1, &id2] {
        assert!(id.len() == 25 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "swarm-like id: {id:?}");
    }

    // ls: docker's columns, sorted by name; -q, filters, --format.
    let table = d.berth(&["secret", "ls"]).ok();
    let rows = lines(&table);
    assert_eq!(rows[0].split_whitespace().collect::<Vec<_>>(), ["ID", "NAME", "DRIVER", "CREATED", "UPDATED"]);
    assert!(rows[1].starts_with(&id1) && rows[1].contains("fromfile") && rows[1].contains("ago"), "{table}");
    assert!(rows[2].starts_with(&id2) && rows[2].contains("fromstdin"), "{table}");
    assert_eq!(lines(&d.berth(&["secret", "ls", "-q"]).ok()), vec![id1.clone(), id2.clone()]);
    assert_eq!(d.berth(&["secret", "ls", "--filter", "name=fromf", "--format", "{{.Name}}"]).ok(), "fromfile\n");
    assert_eq!(d.berth(&["secret", "ls", "-f", "label=team=db", "--format", "{{.Name}} {{.Labels}}"]).ok(), "fromfile team=db,tier=\n");
    assert_eq!(d.berth(&["secret", "ls", "-f", &format!("id={}", &id2[..8]), "-q"]).ok().trim(), id2);
    let json_row: Value = serde_json::from_str(d.berth(&["secret", "ls", "--format", "json"]).ok().lines().next().unwrap()).unwrap();
    assert_eq!(json_row["Name"], "fromfile");

    // inspect: docker's shape, by name, id or id prefix — and never the value.
    let out = d.berth(&["secret", "inspect", "fromfile", &id2[..10]]).ok();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["ID"], id1.as_str());
    assert_eq!(v[0]["Spec"]["Name"], "fromfile");
    assert_eq!(v[0]["Spec"]["Labels"]["team"], "db");
    assert_eq!(v[0]["Version"]["Index"], 1);
    assert!(v[0]["CreatedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v[1]["Spec"]["Name"], "fromstdin");
    assert!(v[0]["Spec"].get("Data").is_none() && v[1]["Spec"].get("Data").is_none());
    for raw in [out.clone(), api_json(&d, "/v1.45/secrets").to_string(), api_json(&d, &format!("/secrets/{id1}")).to_string()] {
        assert!(!raw.contains("from-a-file-value") && !raw.contains("from-stdin-value"), "a value in: {raw}");
        assert!(!raw.contains(&base64::engine::general_purpose::STANDARD.encode("from-a-file-value")), "a base64 value in: {raw}");
    }
    assert_eq!(d.berth(&["secret", "inspect", "-f", "{{.Spec.Name}}", &id1]).ok(), "fromfile\n");
    assert_eq!(d.berth(&["inspect", "-f", "{{.ID}}", "fromfile"]).ok().trim(), id1, "the generic inspect finds secrets too");
    assert_eq!(d.berth(&["inspect", "--type", "secret", "-f", "{{.Spec.Name}}", "fromstdin"]).ok(), "fromstdin\n");
    let pretty = d.berth(&["secret", "inspect", "--pretty", "fromfile"]).ok();
    assert!(pretty.contains(&format!("ID:              {id1}")) && pretty.contains("Name:              fromfile") && pretty.contains(" - team=db") && pretty.contains(" - tier\n"), "{pretty}");
    assert!(fails(&d, &["secret", "inspect", "ghost"]).contains("No such secret: ghost"));

    // Bad input, each answered with what is wrong and nothing stored.
    let e = fails(&d, &["secret", "create", "fromfile", file.to_str().unwrap()]);
    assert!(e.contains("secret fromfile already exists"), "{e}");
    let (status, body) = d.post_json("/secrets/create", r#"{"Name":"fromfile","Data":"eA=="}"#);
    assert_eq!(status, 409, "{body}");
    let big = vec![b'x'; 600 * 1024];
    let out = d.berth(&["secret", "create", "big", "-"]).stdin(big).output();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("secret data must be larger than 0 and less than 512000 bytes (this one is 614400 bytes)"), "{e}");
    assert!(fails(&d, &["secret", "create", "empty", "-"]).contains("larger than 0"));
    assert!(fails(&d, &["secret", "create", "bad name", file.to_str().unwrap()]).contains("invalid name \"bad name\""));
    assert!(fails(&d, &["secret", "create", "nofile", "/nonexistent/x"]).contains("no such file or directory"));
    let (status, body) = d.post_json("/secrets/create", r#"{"Name":"b64","Data":"not base64!"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Data") && body.contains("base64"), "{body}");
    let (status, body) = d.post_json("/secrets/create", r#"{"Name":"drv","Data":"eA==","Driver":{"Name":"vault"}}"#);
    assert_eq!((status, body.contains("not supported")), (400, true), "{body}");
    let (status, body) = d.post_json("/secrets/create", r#"{"Name":"typed","Data":5}"#);
    assert_eq!(status, 400, "{body}");
    assert_eq!(lines(&d.berth(&["secret", "ls", "--format", "{{.Name}}"]).ok()), ["fromfile", "fromstdin"], "nothing stored by the bad requests");

    // Update: labels only, against the version read.
    let (status, body) = d.post_json(&format!("/secrets/{id1}/update?version=1"), r#"{"Name":"fromfile","Labels":{"team":"ops"}}"#);
    assert_eq!(status, 200, "{body}");
    let v = api_json(&d, "/secrets/fromfile");
    assert_eq!((v["Spec"]["Labels"].clone(), v["Version"]["Index"].clone()), (serde_json::json!({"team": "ops"}), serde_json::json!(2)));
    let (status, body) = d.post_json(&format!("/secrets/{id1}/update?version=1"), r#"{"Name":"fromfile","Labels":{}}"#);
    assert_eq!(status, 409, "a stale version: {body}");
    let (status, body) = d.post_json(&format!("/secrets/{id1}/update?version=2"), r#"{"Name":"fromfile","Labels":{},"Data":"eA=="}"#);
    assert_eq!((status, body.contains("only updates to Labels are allowed")), (400, true), "{body}");
    let same = base64::engine::general_purpose::STANDARD.encode("from-a-file-value");
    let (status, body) = d.post_json(&format!("/secrets/{id1}/update?version=2"), &format!(r#"{{"Name":"fromfile","Labels":{{"k":"v"}},"Data":"{same}"}}"#));
    assert_eq!(status, 200, "the same value may come back: {body}");
    let (status, _) = d.post_json(&format!("/secrets/{id1}/update"), r#"{"Name":"fromfile"}"#);
    assert_eq!(status, 400, "no version");

    // rm: each name printed; a missing one fails.
    assert_eq!(d.berth(&["secret", "rm", "fromfile", &id2]).ok(), format!("fromfile\n{id2}\n"));
    assert_eq!(d.berth(&["secret", "ls", "-q"]).ok(), "");
    assert!(fails(&d, &["secret", "rm", "fromfile"]).contains("secret fromfile not found"));
    let (status, _) = d.raw("DELETE", "/secrets/fromfile");
    assert_eq!(status, 404);
}

#[test]
fn run_gives_secrets_with_owner_and_mode_on_a_read_only_tmpfs() {
    let d = daemon_with_busybox();
    create_from_stdin(&d, "tok", b"tok-value-42");
    let script = "stat -c '%a %u %g %n' /run/secrets/tok /run/secrets/tok2 /etc/app/key; cat /run/secrets/tok; echo; cat /etc/app/key; echo; \
                  grep -E ' /run/secrets/tok | /etc/app/key ' /proc/mounts | cut -d' ' -f2-4; echo x > /run/secrets/tok || echo write-refused";
    let out = d
        .berth(&["run", "--rm", "--secret", "tok", "--secret", "source=tok,target=tok2,uid=1000,gid=50,mode=0400", "--secret", "src=tok,target=/etc/app/key,mode=0440", "busybox", "sh", "-c", script])
        .output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = "444 0 0 /run/secrets/tok\n400 1000 50 /run/secrets/tok2\n440 0 0 /etc/app/key\ntok-value-42\ntok-value-42\n";
    assert!(stdout.starts_with(want), "{stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    for target in ["/run/secrets/tok", "/etc/app/key"] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{target} tmpfs ro,"))), "{target} must be a read-only tmpfs file: {stdout}");
    }
    assert!(stdout.trim_end().ends_with("write-refused"), "{stdout}");
    // A read-only root and a non-root user: the owner the secret names can read it.
    let out = d.berth(&["run", "--rm", "--read-only", "-u", "1000:1000", "--secret", "source=tok,uid=1000,mode=0400", "busybox", "cat", "/run/secrets/tok"]).ok();
    assert_eq!(out, "tok-value-42");
    let e = fails(&d, &["run", "--rm", "-u", "1000:1000", "--secret", "source=tok,mode=0400", "busybox", "cat", "/run/secrets/tok"]);
    assert!(e.contains("Permission denied"), "mode 0400 owned by root keeps user 1000 out: {e}");

    // While a container runs, the host has no path to the values: the tmpfs is
    // detached once the container's own mounts hold it.
    d.berth(&["run", "-d", "--name", "holder", "--secret", "source=tok,mode=0400", "busybox", "sh", "-c", IDLE]).ok();
    assert_eq!(d.berth(&["exec", "holder", "cat", "/run/secrets/tok"]).ok(), "tok-value-42");
    let exec_secrets = d.dir.path().join("run/secrets");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(exec_secrets.to_str().unwrap()), "a secrets tmpfs is still mounted on the host");
    assert!(files_under(&exec_secrets).is_empty(), "secret files left under {}", exec_secrets.display());

    // inspect names the secret and where it goes, never the value.
    let hc: Value = serde_json::from_str(&d.berth(&["inspect", "-f", "{{json .HostConfig.BerthSecrets}}", "holder"]).ok()).unwrap();
    assert_eq!(hc[0]["SecretName"], "tok");
    assert_eq!(hc[0]["File"]["Name"], "tok");
    assert_eq!(hc[0]["File"]["Mode"], 0o400);
    assert_eq!((hc[0]["File"]["UID"].as_str(), hc[0]["File"]["GID"].as_str()), (Some("0"), Some("0")));
    assert!(!d.berth(&["inspect", "holder"]).ok().contains("tok-value-42"));
    // The API takes swarm's item shape directly, by id too.
    let id = api_json(&d, "/secrets/tok")["ID"].as_str().unwrap().to_owned();
    let (status, body) = d.post_json("/containers/create?name=byid", &format!(r#"{{"Image":"busybox","Cmd":["cat","/run/secrets/x"],"HostConfig":{{"BerthSecrets":[{{"SecretID":"{id}","File":{{"Name":"x"}}}}]}}}}"#));
    assert_eq!(status, 201, "{body}");
    d.berth(&["start", "byid"]).ok();
    d.berth(&["wait", "byid"]).ok();
    assert_eq!(d.berth(&["logs", "byid"]).ok(), "tok-value-42");
}

#[test]
fn values_never_reach_disk_images_or_outputs() {
    let d = daemon_with_busybox();
    let canary = b"canary-9f3e71c2-never-on-disk";
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("v"), canary).unwrap();
    d.berth(&["secret", "create", "canary", src.path().join("v").to_str().unwrap()]).ok();
    drop(src);
    d.berth(&["run", "-d", "--name", "keeper", "--secret", "canary", "busybox", "sh", "-c", &format!("wc -c < /run/secrets/canary; {IDLE}")]).ok();
    // The container has it (its length, so its log holds no value)…
    let mut log = String::new();
    for _ in 0..50 {
        log = d.berth(&["logs", "keeper"]).ok();
        if !log.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(log.trim(), canary.len().to_string());
    d.berth(&["exec", "keeper", "sh", "-c", "cat /run/secrets/canary > /dev/null"]).ok();

    // …but no file the daemon keeps does, nor any of its answers.
    assert!(assert_nowhere_on_disk(&d, canary) > 5, "the walk must read the daemon's files");
    let diff = d.berth(&["diff", "keeper"]).ok();
    assert!(!diff.contains("canary-9f3e"), "{diff}");
    let inspect = d.berth(&["inspect", "keeper"]).ok();
    assert!(!contains(inspect.as_bytes(), canary));
    let export = d.berth(&["export", "keeper"]).output();
    assert!(export.status.success() && export.stdout.len() > 10_000, "export made a tar");
    assert!(!contains(&export.stdout, canary), "the value is in the export");
    d.berth(&["commit", "keeper", "snap:1"]).ok();
    let save = d.berth(&["save", "snap:1"]).output();
    assert!(save.status.success() && save.stdout.len() > 10_000);
    assert!(!contains(&save.stdout, canary), "the value is in the committed image");
    // The committed image has at most the empty mount point.
    let baked = d.berth(&["run", "--rm", "snap:1", "sh", "-c", "cat /run/secrets/canary 2>/dev/null | wc -c"]).ok();
    assert_eq!(baked.trim(), "0");
    d.berth(&["stop", "-t", "1", "keeper"]).ok();
    assert_nowhere_on_disk(&d, canary);
    // Encrypted under a private key.
    use std::os::unix::fs::MetadataExt;
    let key = d.dir.path().join("root/secrets/key");
    assert_eq!(std::fs::metadata(&key).unwrap().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(key.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(&key).unwrap().len(), 32);
}

#[test]
fn in_use_restart_and_missing_secrets() {
    let d = daemon_with_busybox();
    create_from_stdin(&d, "s1", b"first-value");
    d.berth(&["run", "-d", "--name", "holder", "--secret", "s1", "busybox", "sh", "-c", IDLE]).ok();
    let e = fails(&d, &["secret", "rm", "s1"]);
    assert!(e.contains("secret 's1' is in use by the following container: holder"), "{e}");
    let (status, _) = d.raw("DELETE", "/secrets/s1");
    assert_eq!(status, 409);

    // Restarts (and stop + start) mount it again; a stopped container has no tmpfs.
    d.berth(&["restart", "-t", "1", "holder"]).ok();
    assert_eq!(d.berth(&["exec", "holder", "cat", "/run/secrets/s1"]).ok(), "first-value");
    d.berth(&["stop", "-t", "1", "holder"]).ok();
    assert!(!d.dir.path().join("run/secrets").join(d.berth(&["inspect", "-f", "{{.Id}}", "holder"]).ok().trim()).exists());
    let e = fails(&d, &["secret", "rm", "s1"]);
    assert!(e.contains("in use"), "a stopped container still has it: {e}");
    d.berth(&["start", "holder"]).ok();
    assert_eq!(d.berth(&["exec", "holder", "cat", "/run/secrets/s1"]).ok(), "first-value");
    // A berthd restart keeps running containers' secrets and mounts them again at the next start.
    let mut d = d;
    d.crash_and_restart();
    assert_eq!(d.berth(&["exec", "holder", "cat", "/run/secrets/s1"]).ok(), "first-value");
    d.berth(&["restart", "-t", "1", "holder"]).ok();
    assert_eq!(d.berth(&["exec", "holder", "cat", "/run/secrets/s1"]).ok(), "first-value");
    d.berth(&["rm", "-f", "holder"]).ok();
    assert_eq!(d.berth(&["secret", "rm", "s1"]).ok(), "s1\n");

    // A missing secret: a clear error, and no container (nor anonymous volume) left.
    let e = fails(&d, &["run", "--rm", "-v", "/data", "--secret", "nope", "busybox", "true"]);
    assert!(e.contains("secret not found: nope"), "{e}");
    let e = fails(&d, &["create", "--name", "never", "--secret", "source=nope,target=x", "busybox"]);
    assert!(e.contains("secret not found: nope"), "{e}");
    assert_eq!(d.berth(&["ps", "-aq"]).ok(), "");
    assert_eq!(d.berth(&["volume", "ls", "-q"]).ok(), "");
    // Bad items through the API: 400 naming the problem, nothing created.
    create_from_stdin(&d, "s2", b"x");
    for (item, want) in [
        (r#"{"SecretName":"s2","File":{"Name":"x","Mode":2541}}"#, "only permission bits"),
        (r#"{"SecretName":"s2","File":{"Name":"../../etc/passwd"}}"#, "invalid secret target"),
        (r#"{"SecretName":"s2","File":{"Name":"x","UID":"root"}}"#, "invalid secret UID"),
        (r#"{"File":{"Name":"x"}}"#, "SecretID or SecretName is required"),
        (r#"{"SecretName":"s2"},{"SecretName":"s2"}"#, "duplicate secret target /run/secrets/s2"),
        (r#"{"SecretName":"s2","File":{"Mode":"0400"}}"#, "HostConfig.BerthSecrets[0].File.Mode"),
    ] {
        let (status, body) = d.post_json("/containers/create", &format!(r#"{{"Image":"busybox","HostConfig":{{"BerthSecrets":[{item}]}}}}"#));
        assert_eq!(status, 400, "{item}: {body}");
        assert!(body.contains(want), "{item}: wanted {want:?} in {body}");
    }
    assert_eq!(d.berth(&["ps", "-aq"]).ok(), "");
}

#[test]
fn docker_cli_secret_commands() {
    let d = Daemon::start();
    let Some(run) = d.docker(&["secret", "create", "-l", "from=docker", "dk", "-"]) else { return };
    let id = run.stdin(b"docker-value".to_vec()).ok().trim().to_owned();
    assert_eq!(id.len(), 25);
    let ls = d.docker(&["secret", "ls"]).unwrap().ok();
    assert!(lines(&ls)[0].split_whitespace().eq(["ID", "NAME", "DRIVER", "CREATED", "UPDATED"]), "{ls}");
    assert!(ls.contains(&id) && ls.contains("dk"), "{ls}");
    assert_eq!(d.docker(&["secret", "inspect", "-f", "{{.Spec.Name}} {{.Spec.Labels.from}}", "dk"]).unwrap().ok(), "dk docker\n");
    assert_eq!(d.berth(&["secret", "ls", "-q"]).ok().trim(), id, "one store for both CLIs");
    assert_eq!(d.docker(&["secret", "rm", "dk"]).unwrap().ok(), "dk\n");
    assert_eq!(d.berth(&["secret", "ls", "-q"]).ok(), "");
}

/// A compose project in a temporary directory with its own default subnet.
fn compose(d: &Daemon, dir: &Path, project: &str, args: &[&str]) -> std::process::Output {
    let octet = (std::process::id() * 11) % 250 + 1;
    std::fs::write(dir.join("net.yaml"), format!("networks:\n  default:\n    ipam:\n      config:\n        - subnet: 10.233.{octet}.0/24\n")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("compose")
        .arg("-f")
        .arg(dir.join("compose.yaml"))
        .arg("-f")
        .arg(dir.join("net.yaml"))
        .args(["-p", project])
        .args(args)
        .env("BERTH_HOST", d.host())
        .env("API_TOKEN", "token-from-env")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn compose_ok(d: &Daemon, dir: &Path, project: &str, args: &[&str]) -> String {
    let o = compose(d, dir, project, args);
    assert!(o.status.success(), "compose {args:?}: {}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn compose_secrets_go_the_same_way() {
    let d = daemon_with_busybox();
    create_from_stdin(&d, "shared", b"made-outside");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("pw.txt"), "pw-one").unwrap();
    std::fs::write(
        p.join("compose.yaml"),
        format!(
            r#"
services:
  app:
    image: busybox
    command: ["sh", "-c", "{IDLE}"]
    stop_grace_period: 1s
    secrets:
      - source: db_pw
        target: db_password
        uid: "1000"
        gid: "50"
        mode: 0o400
      - source: token
        target: /etc/app/token
        mode: "0440"
      - ext
secrets:
  db_pw: {{file: ./pw.txt}}
  token: {{environment: API_TOKEN}}
  ext: {{external: true, name: shared}}
"#
        ),
    )
    .unwrap();
    compose_ok(&d, p, "sp", &["up", "-d"]);
    let out = compose_ok(&d, p, "sp", &["exec", "-T", "app", "sh", "-c", "stat -c '%a %u %g %n' /run/secrets/db_password /etc/app/token /run/secrets/ext; cat /run/secrets/db_password /etc/app/token /run/secrets/ext"]);
    assert_eq!(out, "400 1000 50 /run/secrets/db_password\n440 0 0 /etc/app/token\n444 0 0 /run/secrets/ext\npw-onetoken-from-envmade-outside");
    // Berth secrets, labelled with the project; values nowhere on disk.
    assert_eq!(lines(&d.berth(&["secret", "ls", "--format", "{{.Name}}"]).ok()), ["shared", "sp_db_pw", "sp_token"]);
    assert_eq!(d.berth(&["secret", "inspect", "-f", "{{index .Spec.Labels \"com.docker.compose.project\"}}", "sp_db_pw"]).ok(), "sp\n");
    assert_nowhere_on_disk(&d, b"pw-one");
    assert_nowhere_on_disk(&d, b"token-from-env");

    // Unchanged: the container stays. Changed file: the secret gets the new value and
    // the container is recreated with it.
    let id = d.berth(&["inspect", "-f", "{{.Id}}", "sp-app-1"]).ok();
    compose_ok(&d, p, "sp", &["up", "-d"]);
    assert_eq!(d.berth(&["inspect", "-f", "{{.Id}}", "sp-app-1"]).ok(), id, "nothing changed, nothing recreated");
    std::fs::write(p.join("pw.txt"), "pw-two").unwrap();
    compose_ok(&d, p, "sp", &["up", "-d"]);
    assert_ne!(d.berth(&["inspect", "-f", "{{.Id}}", "sp-app-1"]).ok(), id, "a changed secret recreates its users");
    assert_eq!(compose_ok(&d, p, "sp", &["exec", "-T", "app", "cat", "/run/secrets/db_password"]), "pw-two");

    // down removes the project's secrets, not the external one.
    compose_ok(&d, p, "sp", &["down", "-t", "1"]);
    assert_eq!(d.berth(&["secret", "ls", "--format", "{{.Name}}"]).ok(), "shared\n");

    // Too large, or an external one missing: a clear error before anything is made.
    std::fs::write(p.join("pw.txt"), vec![b'x'; 512_000]).unwrap();
    let o = compose(&d, p, "sp", &["up", "-d"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("secret \"db_pw\" is 512000 bytes: a secret must be larger than 0 and less than 512000 bytes"), "{e}");
    std::fs::write(p.join("pw.txt"), "ok").unwrap();
    d.berth(&["secret", "rm", "shared"]).ok();
    let o = compose(&d, p, "sp", &["up", "-d"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && e.contains("external secret \"shared\" not found"), "{e}");
    assert_eq!(d.berth(&["ps", "-aq"]).ok(), "");
    assert_eq!(d.berth(&["secret", "ls", "-q"]).ok(), "");
    assert_eq!(d.berth(&["network", "ls", "--format", "{{.Name}}"]).ok().lines().count(), 3, "only the predefined networks");
}
