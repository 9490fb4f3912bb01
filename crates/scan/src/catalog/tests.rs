use super::*;
use crate::testutil::*;

#[test]
fn dpkg_status() {
    let text = "Package: berthfake-tools\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nSource: berthfake (1.2.0-1)\nVersion: 1.2.0-1+b1\nDescription: tools\n multi-line\n .\n more\n\n\
                Package: removed\nStatus: deinstall ok config-files\nVersion: 0.1\n\n\
                Package: libc6\nStatus: install ok installed\nSource: glibc\nVersion: 2.36-9+deb12u4\n";
    let p = dpkg::parse(text.as_bytes(), "/var/lib/dpkg/status", "Debian:12").unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!((p[0].name.as_str(), p[0].version.as_str()), ("berthfake-tools", "1.2.0-1+b1"));
    assert_eq!((p[0].source.as_deref(), p[0].source_version.as_deref()), (Some("berthfake"), Some("1.2.0-1")));
    assert_eq!((p[1].source.as_deref(), p[1].source_version.as_deref()), (Some("glibc"), None));
    let e = dpkg::parse(b"Package: nover\nStatus: install ok installed\n", "/var/lib/dpkg/status", "Debian").unwrap_err();
    assert!(e.contains("stanza 1"), "{e}");
    assert!(dpkg::wants("var/lib/dpkg/status.d/base"));
    assert!(!dpkg::wants("var/lib/dpkg/status.d/base.md5sums"));
    assert!(!dpkg::wants("var/lib/dpkg/status-old"));
}

#[test]
fn apk_installed() {
    let db = "C:Q1abc=\nP:berthfake-busybox\nV:1.36.1-r15\nA:x86_64\nL:GPL-2.0-only\no:berthfake-apk\n\nC:Q1def=\nP:zlib\nV:1.3.1-r0\nA:x86_64\no:zlib\n";
    let p = apk::parse(db.as_bytes(), "/lib/apk/db/installed", "Alpine:v3.19").unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].source.as_deref(), Some("berthfake-apk"));
    assert_eq!(p[1].source, None, "origin equal to the name is not a separate source");
    assert!(apk::parse(b"P:x\nA:y\n", "/lib/apk/db/installed", "Alpine").unwrap_err().contains("entry 1"));
}

#[test]
fn python_metadata() {
    let meta = "Metadata-Version: 2.1\nName: Berth_Requests\nVersion: 2.28.1\nLicense: Apache 2.0\n\nLong description\nName: not-this\n";
    let p = python::parse(meta.as_bytes(), "/x/METADATA").unwrap();
    assert_eq!((p[0].name.as_str(), p[0].version.as_str(), p[0].purl.as_str()), ("Berth_Requests", "2.28.1", "pkg:pypi/berth-requests@2.28.1"));
    assert_eq!(p[0].license.as_deref(), Some("Apache 2.0"));
    assert!(python::parse(b"Metadata-Version: 2.1\n", "/x").is_err());
    assert!(python::wants("usr/lib/python3.11/site-packages/foo-1.0.dist-info/METADATA"));
    assert!(python::wants("usr/lib/python3/dist-packages/foo-1.0.egg-info"));
    assert!(python::wants("usr/lib/python3/dist-packages/foo-1.0.egg-info/PKG-INFO"));
    assert_eq!(python::normalize("Foo.Bar__baz-"), "foo-bar-baz");
}

#[test]
fn npm_manifests_and_locks() {
    assert!(npm::wants("app/node_modules/left/package.json"));
    assert!(npm::wants("app/node_modules/@scope/pkg/package.json"));
    assert!(npm::wants("app/node_modules/a/node_modules/b/package.json"));
    assert!(!npm::wants("app/node_modules/a/lib/package.json"), "a file inside a package is not a package");
    assert!(!npm::wants("app/package.json"), "the application itself");
    assert!(npm::wants("app/package-lock.json"));
    assert!(npm::wants("app/node_modules/.package-lock.json"));
    assert!(!npm::wants("app/node_modules/a/package-lock.json"));

    let p = npm::parse("app/node_modules/@scope/pkg/package.json", br#"{"name":"@scope/pkg","version":"1.0.0","license":"MIT"}"#, "/x").unwrap();
    assert_eq!(p[0].purl, "pkg:npm/%40scope/pkg@1.0.0");
    let e = npm::parse("app/node_modules/a/package.json", b"{not json", "/x").unwrap_err();
    assert!(e.contains("invalid JSON"), "{e}");

    let v3 = br#"{"lockfileVersion":3,"packages":{"":{"name":"app"},"node_modules/a":{"version":"1.0.0"},"node_modules/a/node_modules/@s/b":{"version":"2.0.0"},"node_modules/linked":{"link":true}}}"#;
    let got: Vec<String> = npm::parse("app/package-lock.json", v3, "/x").unwrap().iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
    assert_eq!(got, ["a@1.0.0", "@s/b@2.0.0"]);
    let v1 = br#"{"lockfileVersion":1,"dependencies":{"a":{"version":"1.0.0","dependencies":{"b":{"version":"0.1.0"}}},"local":{"version":"file:../local"}}}"#;
    let got: Vec<String> = npm::parse("app/package-lock.json", v1, "/x").unwrap().iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
    assert_eq!(got, ["a@1.0.0", "b@0.1.0"]);
}

#[test]
fn os_release_and_ecosystems() {
    let d = os_release::parse("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n# comment\n").unwrap();
    assert_eq!(d.ecosystem().as_deref(), Some("Alpine:v3.19"));
    let d = os_release::parse("ID='ubuntu'\nVERSION_ID=\"22.04\"\n").unwrap();
    assert_eq!(d.ecosystem().as_deref(), Some("Ubuntu:22.04"));
    assert_eq!(os_release::parse("NAME=x\n"), None);
    let d = crate::package::Distro { id: "plan9".into(), ..Default::default() };
    assert_eq!(d.ecosystem(), None);
}

#[test]
fn go_and_rust_binaries() {
    let pkgs = binary::packages(&go_elf(
        "go1.22.1 X:nocoverageredesign",
        "path\tex/cmd\nmod\tex/cmd\tv1.0.0\th1:a=\ndep\tgolang.org/x/net\tv0.17.0\th1:b=\n=>\tgithub.com/fork/net\tv0.18.0\th1:c=\n\
         dep\tex/local\tv0.0.0-00010101000000-000000000000\t\n=>\t./local\t\t\nbuild\tCGO_ENABLED=0\n",
    ));
    let got: Vec<String> = pkgs.iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
    assert_eq!(got, ["stdlib@v1.22.1", "ex/cmd@v1.0.0", "github.com/fork/net@v0.18.0", "ex/local@(devel)"]);
    // Truncated or pre-1.18 build info: nothing, no panic.
    let mut old = go_elf("go1.16", "");
    old[64 + 15] = 0;
    assert!(binary::packages(&old).is_empty());
    let full = go_elf("go1.21.0", "mod\tx\tv1.0.0\t\n");
    for cut in [70, 64 + 20, 64 + 33, full.len() - 80] {
        let _ = binary::packages(&full[..cut]);
    }
    let rust = binary::packages(&rust_elf(&[("tool", "1.0.0", "local"), ("serde", "1.0.200", "crates.io")]));
    assert_eq!(rust.iter().map(|p| (p.name.as_str(), p.ecosystem.as_str())).collect::<Vec<_>>(), [("tool", ""), ("serde", "crates.io")]);
    assert!(binary::rust_audit_data(b"not zlib").is_empty());
}

#[test]
fn rpm_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rpmdb.sqlite");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)", []).unwrap();
    let h1 = rpm::build_header(&[(1000, "openssl-libs"), (1001, "3.0.7"), (1002, "27.el9"), (1022, "x86_64"), (1044, "openssl-3.0.7-27.el9.src.rpm")], Some(1));
    let h2 = rpm::build_header(&[(1000, "gpg-pubkey"), (1001, "1"), (1002, "2")], None);
    for h in [h1, h2] {
        db.execute("INSERT INTO Packages (blob) VALUES (?1)", [h]).unwrap();
    }
    drop(db);
    let bytes = std::fs::read(&path).unwrap();
    let p = rpm::parse(&bytes, "/var/lib/rpm/rpmdb.sqlite", "Rocky Linux:9").unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].name.as_str(), p[0].version.as_str(), p[0].source.as_deref()), ("openssl-libs", "1:3.0.7-27.el9", Some("openssl")));
    assert!(rpm::parse(b"garbage", "/var/lib/rpm/rpmdb.sqlite", "x").unwrap_err().contains("rpmdb"));
    assert!(rpm::Header::parse(&[0, 0, 0, 9, 0, 0, 0, 1]).is_none());
}

#[test]
fn unparsable_files_are_warnings_not_failures() {
    let layer = TarBuilder::new()
        .file("var/lib/dpkg/status", b"Package: ok\nStatus: install ok installed\nVersion: 1.0\n")
        .file("app/node_modules/broken/package.json", b"{")
        .finish();
    let r = crate::scan_archive(&docker_archive(&[layer], "w:1")[..]).unwrap();
    assert_eq!(r.inventory.packages.len(), 1);
    assert!(r.inventory.warnings.iter().any(|w| w.starts_with("/app/node_modules/broken/package.json: invalid JSON")), "{:?}", r.inventory.warnings);
}
