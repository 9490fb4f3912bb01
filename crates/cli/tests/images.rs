//! End to end: a real berthd per test, driven by the `berth` binary and the real docker
//! CLI over the same UNIX socket.

mod common;

use common::Daemon;

fn import_busybox(d: &Daemon, name: &str) -> String {
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    let out = d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, name]).ok();
    let id = out.trim().to_owned();
    assert!(id.starts_with("sha256:") && id.len() == 71, "import printed {out:?}");
    id
}

#[test]
fn ping_version_info() {
    let d = Daemon::start();
    let head = d.raw_full("GET", "/_ping");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let lower = head.to_ascii_lowercase();
    for h in ["api-version: 1.50", "docker-experimental: false", "ostype: linux", "server: berth/"] {
        assert!(lower.contains(h), "missing {h} in {head}");
    }
    assert!(head.ends_with("OK"), "{head}");
    assert!(d.raw_full("HEAD", "/v1.44/_ping").starts_with("HTTP/1.1 200"));

    let v = d.berth(&["version"]).ok();
    assert!(v.contains("Server: berth Engine") && v.contains("API version:      1.50 (minimum version 1.41)"), "{v}");
    let info = d.berth(&["info"]).ok();
    assert!(info.contains("Storage Driver: overlay2") && info.contains(&format!("Berth Root Dir: {}", d.dir.path().join("root").display())), "{info}");
    assert_eq!(d.berth(&["system", "info", "--format", "{{.Images}} {{.Driver}}"]).ok().trim(), "0 overlay2");

    if let Some(r) = d.docker(&["version", "--format", "{{.Server.APIVersion}} {{.Server.Version}}"]) {
        assert_eq!(r.ok().trim(), format!("1.50 {}", env!("CARGO_PKG_VERSION")));
    }
    if let Some(r) = d.docker(&["info"]) {
        let out = r.ok();
        assert!(out.contains("Server Version: 0.1.0") && out.contains("Cgroup Driver: cgroupfs"), "{out}");
    }
}

#[test]
fn import_then_list_in_both_clis() {
    let d = Daemon::start();
    let id = import_busybox(&d, "busybox:latest");
    let short = &id[7..19];
    let out = d.berth(&["images"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"), "{out}");
    assert!(lines[1].starts_with("busybox      latest    ") && lines[1].contains(short), "{out}");
    assert_eq!(d.berth(&["images", "-q"]).ok().trim(), short);
    assert_eq!(d.berth(&["image", "ls", "--no-trunc", "--format", "{{.ID}}|{{.Repository}}|{{.Tag}}"]).ok().trim(), format!("{id}|busybox|latest"));
    let json_line = d.berth(&["images", "--format", "{{json .}}"]).ok();
    let v: serde_json::Value = serde_json::from_str(json_line.trim()).unwrap();
    assert_eq!(v["Repository"], "busybox");
    assert_eq!(d.berth(&["images", "--format", "table {{.Repository}}\\t{{.Tag}}"]).ok(), "REPOSITORY   TAG\nbusybox      latest\n");
    assert_eq!(d.berth(&["images", "-f", "reference=nomatch*", "-q"]).ok(), "");
    assert_eq!(d.berth(&["images", "busybox", "-q"]).ok().trim(), short);

    if let Some(r) = d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]) {
        assert_eq!(r.ok().trim(), format!("busybox:latest {short}"));
    }
    if let Some(r) = d.docker(&["images"]) {
        let out = r.ok();
        assert!(out.lines().nth(1).is_some_and(|l| l.starts_with("busybox") && l.contains(short)), "{out}");
    }
    // docker's own import path (repo:tag in `repo`, changes repeated).
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    if let Some(r) = d.docker(&["import", "-c", "ENV A=1", "-c", "CMD [\"sh\"]", &tar, "bb:docker"]) {
        let out = r.ok();
        assert!(out.trim().starts_with("sha256:"), "{out}");
        let env = d.berth(&["image", "inspect", "-f", "{{json .Config.Env}}", "bb:docker"]).ok();
        assert_eq!(env.trim(), "[\"A=1\"]");
    }
}

#[test]
fn tag_inspect_history() {
    let d = Daemon::start();
    let id = import_busybox(&d, "busybox");
    d.berth(&["tag", "busybox", "localhost:5000/team/bb:v1"]).ok();
    let out = d.berth(&["image", "inspect", "localhost:5000/team/bb:v1"]).ok();
    assert!(out.starts_with("[\n    {\n        \"Id\": "), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["RepoTags"], serde_json::json!(["busybox:latest", "localhost:5000/team/bb:v1"]));
    assert_eq!(v[0]["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(v[0]["RootFS"]["Type"], "layers");
    assert_eq!(d.berth(&["inspect", "--format", "{{.Os}}/{{.Architecture}}", "busybox"]).ok().trim(), format!("linux/{}", if cfg!(target_arch = "x86_64") { "amd64" } else { "arm64" }));

    let h = d.berth(&["history", "busybox"]).ok();
    let lines: Vec<&str> = h.lines().collect();
    assert!(lines[0].starts_with("IMAGE          CREATED") && lines[0].contains("CREATED BY") && lines[0].ends_with("COMMENT"), "{h}");
    assert!(lines[1].starts_with(&id[7..19]) && lines[1].ends_with("Imported from -"), "{h}");
    assert_eq!(d.berth(&["history", "-q", "--no-trunc", "busybox"]).ok().trim(), id);

    if let Some(r) = d.docker(&["tag", "busybox", "other:1"]) {
        r.ok();
        let tags = d.docker(&["image", "inspect", "--format", "{{join .RepoTags \",\"}}", "other:1"]).unwrap().ok();
        assert_eq!(tags.trim(), "busybox:latest,localhost:5000/team/bb:v1,other:1");
        let h = d.docker(&["history", "--format", "{{.ID}} {{.Comment}}", "--no-trunc", "other:1"]).unwrap().ok();
        assert_eq!(h.trim(), format!("{id} Imported from -"));
        let all = d.docker(&["image", "inspect", "busybox"]).unwrap().ok();
        let v: serde_json::Value = serde_json::from_str(&all).unwrap();
        assert_eq!(v[0]["Id"], id.as_str());
    }
}

#[test]
fn save_rmi_load_roundtrip() {
    let d = Daemon::start();
    let id = import_busybox(&d, "busybox:latest");
    d.berth(&["tag", "busybox", "bb:2"]).ok();
    let archive = d.dir.path().join("images.tar");
    d.berth(&["save", "-o", archive.to_str().unwrap(), "busybox:latest", "bb:2"]).ok();
    assert!(std::fs::metadata(&archive).unwrap().len() > 1_000_000);

    let rm = d.berth(&["rmi", "busybox:latest", "bb:2"]).ok();
    assert!(rm.contains("Untagged: busybox:latest") && rm.contains("Untagged: bb:2") && rm.contains(&format!("Deleted: {id}")), "{rm}");
    assert_eq!(d.berth(&["images", "-q"]).ok(), "");

    let loaded = d.berth(&["load", "-i", archive.to_str().unwrap()]).ok();
    assert!(loaded.contains("Loaded image: busybox:latest") && loaded.contains("Loaded image: bb:2"), "{loaded}");
    assert_eq!(d.berth(&["image", "inspect", "-f", "{{.Id}}", "bb:2"]).ok().trim(), id);

    // The docker CLI: save to stdout, rmi -f by id, load from stdin.
    if let Some(r) = d.docker(&["save", "busybox"]) {
        let out = r.output();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let tar = out.stdout;
        assert!(tar.len() > 1_000_000);
        d.docker(&["rmi", "-f", &id[7..19]]).unwrap().ok();
        assert_eq!(d.docker(&["images", "-q"]).unwrap().ok(), "");
        let loaded = d.docker(&["load"]).unwrap().stdin(tar).ok();
        assert!(loaded.contains("Loaded image: busybox:latest"), "{loaded}");
        assert_eq!(d.docker(&["image", "inspect", "-f", "{{.Id}}", "busybox"]).unwrap().ok().trim(), id);
    }
    // berth load from stdin, quiet.
    let bytes = std::fs::read(&archive).unwrap();
    let out = d.berth(&["load", "-q"]).stdin(bytes).ok();
    assert!(out.contains("Loaded image"), "{out}");
}

#[test]
fn unknown_image_errors() {
    let d = Daemon::start();
    let out = d.berth(&["rmi", "nosuch"]).output();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "Error response from daemon: No such image: nosuch:latest");
    let out = d.berth(&["image", "inspect", "nosuch"]).output();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let out = d.berth(&["history", "nosuch:1"]).output();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such image: nosuch:1"));
    let out = d.berth(&["images", "--bogus"]).output();
    assert_eq!(out.status.code(), Some(125), "usage errors exit 125 as docker's");

    if let Some(r) = d.docker(&["rmi", "nosuch"]) {
        let out = r.output();
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "Error response from daemon: No such image: nosuch:latest");
    }
    if let Some(r) = d.docker(&["image", "inspect", "nosuch"]) {
        let out = r.output();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("No such image: nosuch"), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn api_errors_and_versions() {
    let d = Daemon::start();
    let (st, body) = d.raw("GET", "/v1.50/images/json?filters=%7Bnot-json");
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("\"message\"") && body.contains("filters"), "{body}");
    let (st, body) = d.raw("GET", "/images/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D");
    assert_eq!(st, 400);
    assert!(body.contains("invalid filter 'colour'"), "{body}");
    let (st, body) = d.raw("GET", "/v1.99/info");
    assert_eq!(st, 400);
    assert_eq!(body, r#"{"message":"client version 1.99 is too new. Maximum supported API version is 1.50"}"#);
    let (st, body) = d.raw("GET", "/v1.12/version");
    assert_eq!(st, 400);
    assert!(body.contains("client version 1.12 is too old. Minimum supported API version is 1.41"), "{body}");
    assert_eq!(d.raw("GET", "/v1.41/version").0, 200);
    assert_eq!(d.raw("GET", "/nope"), (404, r#"{"message":"page not found"}"#.to_owned()));
    assert_eq!(d.raw("PUT", "/images/json").0, 404);
    let (st, body) = d.raw("POST", "/images/whatever/tag");
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("repo"), "{body}");
    let (st, _) = d.raw("DELETE", "/v1.50/images/nosuch");
    assert_eq!(st, 404);
}

#[test]
fn prune_dangling() {
    let d = Daemon::start();
    let kept = import_busybox(&d, "busybox:latest");
    // An untagged import is dangling; the same content imports to a new id (new created time).
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    let dangling = d.berth(&["import", "-m", "second", &tar]).ok().trim().to_owned();
    assert_ne!(kept, dangling);
    let rows = d.berth(&["images", "--filter", "dangling=true", "--format", "{{.Repository}} {{.Tag}}"]).ok();
    assert_eq!(rows.trim(), "<none> <none>");
    let out = d.berth(&["image", "prune", "-f"]).ok();
    assert!(out.starts_with("Deleted Images:\n") && out.contains(&format!("deleted: {dangling}")) && out.contains("Total reclaimed space: 2.14MB"), "{out}");
    assert_eq!(d.berth(&["images", "-q", "--no-trunc"]).ok().trim(), kept);
    if let Some(r) = d.docker(&["image", "prune", "-f"]) {
        assert_eq!(r.ok().trim(), "Total reclaimed space: 0B");
    }
}

#[test]
fn no_daemon_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let sock = format!("unix://{}/none.sock", dir.path().display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth")).args(["-H", &sock, "images"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Cannot connect to the berth daemon") && err.contains("berthd --data-root") && err.contains("scripts/berthd-start.sh"), "{err}");
}
