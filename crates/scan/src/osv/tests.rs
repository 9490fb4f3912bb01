use super::*;
use crate::package::{Kind, Package};
use crate::severity::Severity;
use crate::version::Scheme;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/osv");

/// The packages the fixture advisories are written against.
fn sample() -> Vec<Package> {
    let mut deb = Package::new(Kind::Deb, "berthfake-tools", "1.2.0-1", "Debian:12", "/var/lib/dpkg/status");
    deb.source = Some("berthfake".into());
    let mut apk = Package::new(Kind::Apk, "berthfake-busybox", "1.36.1-r15", "Alpine:v3.19", "/lib/apk/db/installed");
    apk.source = Some("berthfake-apk".into());
    vec![
        deb,
        apk,
        Package::new(Kind::Npm, "berth-left-pad", "1.2.0", "npm", "/app/node_modules/berth-left-pad/package.json"),
        Package::new(Kind::PyPI, "Berth_Requests", "2.28.1", "PyPI", "/usr/lib/python3/site-packages/x/METADATA"),
        Package::new(Kind::Go, "github.com/berth-test/fakemod", "v1.4.0", "Go", "/usr/bin/gopher"),
        Package::new(Kind::Cargo, "berth-fake-crate", "0.3.1", "crates.io", "/usr/bin/rusty"),
        Package::new(Kind::Cargo, "berth-fake-crate", "0.3.2", "crates.io", "/usr/bin/newer"),
        Package::new(Kind::Cargo, "berth-fake-crate", "0.3.1", "", "/usr/bin/local-crate"),
    ]
}

#[test]
fn fixture_directory_matches() {
    let pkgs = sample();
    let db = Database::open(FIXTURES, Some(&Wanted::from_packages(&pkgs))).unwrap();
    assert_eq!(db.scanned, 9);
    let got: Vec<String> = find(&db, &pkgs).iter().map(|f| format!("{} {} {} {} [{}]", f.id, f.package, f.installed, f.severity, f.fixed.join(","))).collect();
    assert_eq!(
        got,
        [
            "BERTH-TEST-0003 Berth_Requests 2.28.1 CRITICAL [2.31.0]",
            "BERTH-TEST-0008 berth-fake-crate 0.3.1 HIGH []",
            "BERTH-TEST-0001 berthfake-tools 1.2.0-1 HIGH [1.2.0-3]",
            "BERTH-TEST-0002 berth-left-pad 1.2.0 MEDIUM [1.3.1]",
            "BERTH-TEST-0007 github.com/berth-test/fakemod v1.4.0 MEDIUM [1.4.2]",
            "BERTH-TEST-0004 berthfake-busybox 1.36.1-r15 LOW []",
        ]
    );
    let f = find(&db, &pkgs);
    let deb = f.iter().find(|f| f.id == "BERTH-TEST-0001").unwrap();
    assert_eq!(deb.score, Some(7.5));
    assert_eq!(deb.aliases, ["CVE-0000-00001"]);
}

#[test]
fn single_files_arrays_and_zips() {
    let one = Database::open(&format!("{FIXTURES}/BERTH-TEST-0001.json"), None).unwrap();
    assert_eq!(one.records.len(), 1);
    let arr = format!("[{}, {}]", std::fs::read_to_string(format!("{FIXTURES}/BERTH-TEST-0002.json")).unwrap(), std::fs::read_to_string(format!("{FIXTURES}/BERTH-TEST-0003.json")).unwrap());
    let db = Database::from_json(arr.as_bytes(), "array").unwrap();
    assert_eq!(db.records.len(), 2);
    assert_eq!(db.lookup("PyPI", "BERTH.requests").count(), 1, "PyPI names compare normalised");

    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("all.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for id in ["0001", "0002", "0005"] {
        w.start_file(format!("BERTH-TEST-{id}.json"), zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)).unwrap();
        std::io::Write::write_all(&mut w, &std::fs::read(format!("{FIXTURES}/BERTH-TEST-{id}.json")).unwrap()).unwrap();
    }
    w.finish().unwrap();
    let pkgs = sample();
    let db = Database::open(zip_path.to_str().unwrap(), Some(&Wanted::from_packages(&pkgs))).unwrap();
    assert_eq!((db.scanned, db.records.len()), (3, 3));
    assert_eq!(find(&db, &pkgs).len(), 2);
}

#[test]
fn bad_databases_name_the_place() {
    let e = Database::open("/nonexistent/osv", None).unwrap_err().to_string();
    assert_eq!(e, "OSV database /nonexistent/osv: no such file or directory");
    let dir = tempfile::tempdir().unwrap();
    let e = Database::open(dir.path().to_str().unwrap(), None).unwrap_err().to_string();
    assert!(e.contains("no .json files"), "{e}");
    std::fs::write(dir.path().join("bad.json"), b"{\"id\": \"X\", \"affected\": [{\"package\": {\"ecosystem\": \"npm\"}}]}").unwrap();
    let e = Database::open(dir.path().to_str().unwrap(), None).unwrap_err().to_string();
    assert!(e.contains("bad.json") && e.contains("affected[0].package") && e.contains("missing field `name`"), "{e}");
    std::fs::write(dir.path().join("bad.json"), b"{\"id\": ").unwrap();
    let e = Database::open(dir.path().to_str().unwrap(), Some(&Wanted::default())).unwrap_err().to_string();
    assert!(e.contains("bad.json") && e.contains("EOF"), "{e}");
    assert!(Database::from_json(b"42", "x").unwrap_err().to_string().contains("neither an OSV record"));
    let e = Database::from_json(b"[{\"id\":\"A\"},{\"summary\":\"no id\"}]", "list.json").unwrap_err().to_string();
    assert!(e.contains("list.json [1]") && e.contains("id"), "{e}");
    std::fs::write(dir.path().join("fake.zip"), b"PK\x03\x04 but not really").unwrap();
    let e = Database::open(dir.path().join("fake.zip").to_str().unwrap(), None).unwrap_err().to_string();
    assert!(e.contains("fake.zip") && e.contains("zip"), "{e}");
}

fn ev(kind: &str, v: &str) -> Event {
    let mut e = Event::default();
    match kind {
        "i" => e.introduced = Some(v.into()),
        "f" => e.fixed = Some(v.into()),
        _ => e.last_affected = Some(v.into()),
    }
    e
}

#[test]
fn range_evaluation() {
    let events = [ev("i", "1.0.0"), ev("f", "1.5.0"), ev("i", "2.0.0"), ev("f", "2.5.0")];
    for (v, want) in [("0.9.0", false), ("1.0.0", true), ("1.4.9", true), ("1.5.0", false), ("1.7.0", false), ("2.0.0", true), ("2.5.0", false), ("3.0.0", false)] {
        assert_eq!(matcher::in_range(Scheme::Semver, v, &events), Some(want), "{v}");
    }
    let last = [ev("i", "0"), ev("l", "1.0-2")];
    assert_eq!(matcher::in_range(Scheme::Dpkg, "1.0-2", &last), Some(true));
    assert_eq!(matcher::in_range(Scheme::Dpkg, "1.0-2+b1", &last), Some(false));
    assert_eq!(matcher::in_range(Scheme::Dpkg, "1.0~rc1-1", &last), Some(true));
    // dpkg order, not string order: 1.0-10 > 1.0-9.
    assert_eq!(matcher::in_range(Scheme::Dpkg, "1.0-10", &[ev("i", "0"), ev("f", "1.0-9")]), Some(false));
    // Uncomparable versions match nothing rather than everything.
    assert_eq!(matcher::in_range(Scheme::Semver, "(devel)", &[ev("i", "0"), ev("f", "1.0.0")]), None);
}

#[test]
fn ecosystems_and_severities() {
    assert!(matcher::ecosystem_matches("Debian:12", "Debian:12"));
    assert!(matcher::ecosystem_matches("Debian", "Debian:12"));
    assert!(!matcher::ecosystem_matches("Debian:11", "Debian:12"));
    assert!(!matcher::ecosystem_matches("Debian:12", "Debian"));
    assert!(matcher::ecosystem_matches("Ubuntu:22.04:LTS", "Ubuntu:22.04"));
    assert!(!matcher::ecosystem_matches("Ubuntu:22.040", "Ubuntu:22.04"));

    let rec = |json: &str| -> Record { serde_json::from_str(json).unwrap() };
    let r = rec(r#"{"id":"A","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"}],
                   "affected":[{"package":{"ecosystem":"npm","name":"x"},"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}]}"#);
    assert_eq!(r.severity_for(&r.affected[0]), (Severity::Critical, Some(9.8)), "the highest vector wins");
    let r = rec(r#"{"id":"B","severity":[{"type":"CVSS_V4","score":"CVSS:4.0/AV:N"}],"affected":[{"package":{"ecosystem":"Ubuntu:22.04","name":"x"}}],"database_specific":{"severity":"Important"}}"#);
    assert_eq!(r.severity_for(&r.affected[0]).0, Severity::High);
    let r = rec(r#"{"id":"C","severity":[{"type":"Ubuntu","score":"medium"}],"affected":[{}]}"#);
    assert_eq!(r.severity_for(&r.affected[0]).0, Severity::Medium);
    let r = rec(r#"{"id":"D","affected":[{}]}"#);
    assert_eq!(r.severity_for(&r.affected[0]), (Severity::Unknown, None));
}
