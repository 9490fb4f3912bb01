//! End to end, `berth scan` against a real berthd: an image built FROM busybox with a
//! dpkg status file, an apk database, Python dist-info and npm packages (one of them
//! deleted again in a later layer), scanned to a table, JSON and SBOMs, matched
//! against the OSV fixture in crates/scan/tests/fixtures/osv, with severity filters,
//! `--fail-on` exit codes, a database given by URL, `--input` of a saved archive
//! without a daemon, and bad input giving clear errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Daemon;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scan/tests/fixtures/osv").canonicalize().unwrap()
}

fn fixture(name: &str) -> String {
    fixtures().join(name).to_str().unwrap().to_owned()
}

/// A daemon with `scanme:1`: busybox plus package databases, the Python package
/// `gone` removed by a RUN (a whiteout in the top layer).
fn daemon_with_scan_image() -> Daemon {
    let d = common::daemon_with_busybox();
    let ctx = d.dir.path().join("ctx");
    let files: &[(&str, &str)] = &[
        ("rootfs/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
        (
            "rootfs/var/lib/dpkg/status",
            "Package: berthfake-tools\nStatus: install ok installed\nArchitecture: amd64\nSource: berthfake\nVersion: 1.2.0-1\n\n\
             Package: berthfake-old\nStatus: deinstall ok config-files\nVersion: 0.9-1\n",
        ),
        ("rootfs/lib/apk/db/installed", "C:Q1x=\nP:berthfake-busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:berthfake-apk\n\n"),
        ("rootfs/usr/lib/python3.11/site-packages/Berth_Requests-2.28.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: Berth_Requests\nVersion: 2.28.1\n"),
        ("rootfs/usr/lib/python3.11/site-packages/gone-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: gone\nVersion: 1.0\n"),
        ("rootfs/srv/app/node_modules/berth-left-pad/package.json", r#"{"name": "berth-left-pad", "version": "1.2.0", "license": "MIT"}"#),
        (
            "Dockerfile",
            "FROM busybox\nCOPY rootfs/ /\nRUN rm -r /usr/lib/python3.11/site-packages/gone-1.0.dist-info\n",
        ),
    ];
    for (p, body) in files {
        let path = ctx.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    d.berth(&["build", "-q", "-t", "scanme:1", ctx.to_str().unwrap()]).ok();
    d
}

/// Runs berth, returning (exit code, stdout, stderr).
fn berth(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    let out = d.berth(args).output();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn severities(report: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> =
        report["findings"].as_array().unwrap().iter().map(|f| (f["id"].as_str().unwrap().to_owned(), f["severity"].as_str().unwrap().to_owned())).collect();
    v.sort();
    v
}

/// Serves `body` to one HTTP request on 127.0.0.1; returns the URL.
fn serve_once(body: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = s.write_all(&body);
        }
    });
    format!("http://127.0.0.1:{port}/osv/BERTH-TEST-0003.json")
}

#[test]
fn packages_sboms_and_findings() {
    let d = daemon_with_scan_image();

    // Packages only, as a table.
    let table = d.berth(&["scan", "scanme:1"]).ok();
    for want in ["Debian GNU/Linux 12", "berthfake-tools", "1.2.0-1", "berthfake-busybox", "Berth_Requests", "berth-left-pad", "/srv/app/node_modules/berth-left-pad/package.json"] {
        assert!(table.contains(want), "{want} missing from:\n{table}");
    }
    assert!(!table.contains("gone"), "deleted by a later layer:\n{table}");
    assert!(!table.contains("berthfake-old"), "a removed dpkg package:\n{table}");
    assert!(!table.contains("Vulnerabilities"), "no database, no findings section:\n{table}");
    // The image group's spelling gives the same.
    assert_eq!(d.berth(&["image", "scan", "scanme:1"]).ok(), table);

    // CycloneDX on stdout.
    let cdx: Value = serde_json::from_str(&d.berth(&["scan", "--format", "cyclonedx-json", "scanme:1"]).ok()).unwrap();
    assert_eq!((cdx["bomFormat"].as_str(), cdx["specVersion"].as_str()), (Some("CycloneDX"), Some("1.5")));
    assert_eq!(cdx["metadata"]["component"]["name"], "scanme:1");
    let purls: Vec<&str> = cdx["components"].as_array().unwrap().iter().filter_map(|c| c["purl"].as_str()).collect();
    for want in [
        "pkg:deb/debian/berthfake-tools@1.2.0-1?arch=amd64&distro=debian-12",
        "pkg:apk/alpine/berthfake-busybox@1.36.1-r15?arch=x86_64",
        "pkg:pypi/berth-requests@2.28.1",
        "pkg:npm/berth-left-pad@1.2.0",
    ] {
        assert!(purls.contains(&want), "{want} not in {purls:?}");
    }
    assert_eq!(purls.len(), 4, "{purls:?}");
    assert!(cdx.get("vulnerabilities").is_none());

    // SPDX to a file with -o; nothing on stdout.
    let spdx_path = d.dir.path().join("sbom.spdx.json");
    let out = d.berth(&["scan", "--format", "spdx-json", "-o", spdx_path.to_str().unwrap(), "scanme:1"]).ok();
    assert_eq!(out, "");
    let spdx: Value = serde_json::from_slice(&std::fs::read(&spdx_path).unwrap()).unwrap();
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(spdx["SPDXID"], "SPDXRef-DOCUMENT");
    assert!(spdx["documentNamespace"].as_str().unwrap().starts_with("https://"));
    let names: Vec<&str> = spdx["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["scanme:1", "berthfake-tools", "berthfake-busybox", "Berth_Requests", "berth-left-pad"]);
    assert_eq!(spdx["relationships"].as_array().unwrap().len(), 5, "DESCRIBES the image, which CONTAINS four packages");

    // Against the fixture database: JSON report with the right severities.
    let db = fixtures();
    let json: Value = serde_json::from_str(&d.berth(&["scan", "--db", db.to_str().unwrap(), "--format", "json", "scanme:1"]).ok()).unwrap();
    assert_eq!(
        severities(&json),
        [
            ("BERTH-TEST-0001".into(), "HIGH".into()),
            ("BERTH-TEST-0002".into(), "MEDIUM".into()),
            ("BERTH-TEST-0003".into(), "CRITICAL".into()),
            ("BERTH-TEST-0004".into(), "LOW".into()),
        ],
        "0005 (fixed before 1.2.0), 0006 (withdrawn) and 0009 (Debian 11) must not match"
    );
    let deb = json["findings"].as_array().unwrap().iter().find(|f| f["id"] == "BERTH-TEST-0001").unwrap();
    assert_eq!((deb["package"].as_str(), deb["installed"].as_str(), deb["score"].as_f64()), (Some("berthfake-tools"), Some("1.2.0-1"), Some(7.5)));
    assert_eq!(deb["fixed"], serde_json::json!(["1.2.0-3"]));

    // The table shows them; -o writes a CycloneDX SBOM with the vulnerabilities beside it.
    let cdx_path = d.dir.path().join("sbom.cdx.json");
    let table = d.berth(&["scan", "--db", db.to_str().unwrap(), "-o", cdx_path.to_str().unwrap(), "scanme:1"]).ok();
    assert!(table.contains("Vulnerabilities: 4 (CRITICAL: 1, HIGH: 1, MEDIUM: 1, LOW: 1)"), "{table}");
    let row = table.lines().find(|l| l.starts_with("BERTH-TEST-0001")).unwrap_or_else(|| panic!("no row for 0001:\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..5], ["BERTH-TEST-0001", "berthfake-tools", "1.2.0-1", "1.2.0-3", "HIGH"]);
    let cdx: Value = serde_json::from_slice(&std::fs::read(&cdx_path).unwrap()).unwrap();
    let vulns = cdx["vulnerabilities"].as_array().unwrap();
    assert_eq!(vulns.len(), 4);
    let v1 = vulns.iter().find(|v| v["id"] == "BERTH-TEST-0001").unwrap();
    assert_eq!(v1["ratings"][0]["severity"], "high");
    let target = v1["affects"][0]["ref"].as_str().unwrap();
    let comp = cdx["components"].as_array().unwrap().iter().find(|c| c["bom-ref"] == target).unwrap();
    assert_eq!(comp["name"], "berthfake-tools");

    // A saved archive scans the same without any daemon.
    let saved = d.dir.path().join("scanme.tar");
    d.berth(&["save", "-o", saved.to_str().unwrap(), "scanme:1"]).ok();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["scan", "--input", saved.to_str().unwrap(), "--db", db.to_str().unwrap(), "--format", "json"])
        .env("BERTH_HOST", "unix:///nonexistent/berth.sock")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let offline: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(severities(&offline), severities(&json));
    assert_eq!(offline["image"], "scanme:1");
}

#[test]
fn severity_filters_and_fail_on() {
    let d = daemon_with_scan_image();
    let db = fixtures();
    let db = db.to_str().unwrap();

    // Findings at HIGH and above exist: status 1, the table still printed.
    let (code, out, err) = berth(&d, &["scan", "--db", db, "--fail-on", "HIGH", "scanme:1"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("BERTH-TEST-0001"), "{out}");
    assert!(err.contains("2 findings at or above HIGH"), "{err}");

    // Only the HIGH advisory in the database: CRITICAL does not fail, HIGH does.
    let only_high = fixture("BERTH-TEST-0001.json");
    let (code, out, err) = berth(&d, &["scan", "--db", &only_high, "--fail-on", "critical", "scanme:1"]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("Vulnerabilities: 1 (HIGH: 1)"), "{out}");
    let (code, _, err) = berth(&d, &["scan", "--db", &only_high, "--fail-on", "HIGH", "scanme:1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 finding at or above HIGH"), "{err}");

    // A database served over HTTP (on loopback) works as a file does.
    let url = serve_once(std::fs::read(fixture("BERTH-TEST-0003.json")).unwrap());
    let (code, out, err) = berth(&d, &["scan", "--db", &url, "--fail-on", "CRITICAL", "scanme:1"]);
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("BERTH-TEST-0003") && out.contains("Vulnerabilities: 1 (CRITICAL: 1)"), "{out}");

    // --severity filters what is shown.
    let json: Value = serde_json::from_str(&d.berth(&["scan", "--db", db, "--severity", "LOW,MEDIUM", "--format", "json", "scanme:1"]).ok()).unwrap();
    assert_eq!(severities(&json), [("BERTH-TEST-0002".into(), "MEDIUM".into()), ("BERTH-TEST-0004".into(), "LOW".into())]);
    let (code, out, _) = berth(&d, &["scan", "--db", db, "--severity", "LOW", "scanme:1"]);
    assert_eq!(code, 0);
    assert!(out.contains("BERTH-TEST-0004") && !out.contains("BERTH-TEST-0003"), "{out}");
}

#[test]
fn bad_input_gives_clear_errors() {
    let d = daemon_with_scan_image();

    let (code, out, err) = berth(&d, &["scan", "--db", "/nonexistent/osv-db", "scanme:1"]);
    assert_ne!(code, 0);
    assert_eq!(out, "", "no partial report");
    assert!(err.contains("OSV database /nonexistent/osv-db: no such file or directory"), "{err}");

    let bad_dir = d.dir.path().join("bad-osv");
    std::fs::create_dir_all(&bad_dir).unwrap();
    std::fs::write(bad_dir.join("BROKEN-1.json"), r#"{"id": "BROKEN-1", "affected": [{"package": {"ecosystem": "npm", "name": "berth-left-pad"}, "ranges": "nope"}]}"#).unwrap();
    let (code, _, err) = berth(&d, &["scan", "--db", bad_dir.to_str().unwrap(), "scanme:1"]);
    assert_ne!(code, 0);
    assert!(err.contains("BROKEN-1.json") && err.contains("ranges"), "{err}");

    let (code, _, err) = berth(&d, &["scan", "no-such-image:1"]);
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("no such image"), "{err}");

    let (code, _, err) = berth(&d, &["scan", "--severity", "SEVERE", "scanme:1"]);
    assert_eq!(code, 125, "a bad flag value is docker's 125");
    assert!(err.contains("SEVERE"), "{err}");

    let (code, _, err) = berth(&d, &["scan", "--fail-on", "HIGH", "scanme:1"]);
    assert_eq!(code, 125);
    assert!(err.contains("--db"), "--fail-on needs a database: {err}");

    let not_tar = d.dir.path().join("not-an-image.tar");
    std::fs::write(&not_tar, b"hello, this is not an image archive").unwrap();
    let (code, _, err) = berth(&d, &["scan", "--input", not_tar.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("not-an-image.tar") && err.contains("invalid image archive"), "{err}");

    let (code, _, err) = berth(&d, &["scan", "--input", "/nonexistent/image.tar"]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/image.tar: no such file or directory"), "{err}");
}
