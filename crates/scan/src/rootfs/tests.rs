use super::*;
use crate::testutil::*;
use crate::Error;

const DEBIAN_12: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";

fn status(pkgs: &[(&str, &str)]) -> Vec<u8> {
    pkgs.iter().map(|(n, v)| format!("Package: {n}\nStatus: install ok installed\nVersion: {v}\nArchitecture: amd64\n\n")).collect::<String>().into_bytes()
}

fn names(r: &crate::Report) -> Vec<String> {
    r.inventory.packages.iter().map(|p| format!("{} {} {}", p.name, p.version, p.location)).collect()
}

#[test]
fn layers_stack_in_manifest_order_with_whiteouts() {
    let base = TarBuilder::new()
        .dir("etc")
        .symlink("etc/os-release", "../usr/lib/os-release")
        .file("usr/lib/os-release", DEBIAN_12)
        .file("var/lib/dpkg/status", &status(&[("old", "1.0-1")]))
        .file("usr/lib/python3/dist-packages/gone-1.0.dist-info/METADATA", b"Name: gone\nVersion: 1.0\n")
        .file("usr/lib/python3/dist-packages/kept-2.0.dist-info/METADATA", b"Name: kept\nVersion: 2.0\n")
        .file("app/node_modules/hidden/package.json", br#"{"name":"hidden","version":"1.0.0"}"#)
        .file("srv/lib/node_modules/x/package.json", br#"{"name":"x","version":"1.0.0"}"#)
        .finish();
    let top = TarBuilder::new()
        .file("var/lib/dpkg/status", &status(&[("new", "2.0-1")]))
        .file("usr/lib/python3/dist-packages/.wh.gone-1.0.dist-info", b"")
        .file("app/node_modules/.wh..wh..opq", b"")
        .file("app/node_modules/shown/package.json", br#"{"name":"shown","version":"3.0.0"}"#)
        // A plain file where a directory of packages was hides all of them.
        .file("srv/lib", b"not a directory any more")
        .finish();
    let r = crate::scan_archive(&docker_archive(&[base, top], "demo:1")[..]).unwrap();
    assert_eq!(r.image.as_deref(), Some("demo:1"));
    assert!(r.image_id.as_deref().is_some_and(|i| i.starts_with("sha256:")));
    assert_eq!(r.inventory.distro.as_ref().map(|d| d.ecosystem()), Some(Some("Debian:12".into())));
    assert_eq!(
        names(&r),
        [
            "new 2.0-1 /var/lib/dpkg/status",
            "kept 2.0 /usr/lib/python3/dist-packages/kept-2.0.dist-info/METADATA",
            "shown 3.0.0 /app/node_modules/shown/package.json",
        ]
    );
    let deb = &r.inventory.packages[0];
    assert_eq!(deb.ecosystem, "Debian:12");
    assert_eq!(deb.purl, "pkg:deb/debian/new@2.0-1?arch=amd64&distro=debian-12");
}

#[test]
fn oci_layout_gzip_layers_and_hard_links() {
    let layer = TarBuilder::new()
        .file("etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n")
        .file("lib/apk/db/installed", b"P:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nL:MIT\n\n")
        .file("usr/lib/node_modules/a/package.json", br#"{"name":"a","version":"1.0.0"}"#)
        .hardlink("usr/lib/node_modules/b/package.json", "usr/lib/node_modules/a/package.json")
        .finish();
    let r = crate::scan_archive(&oci_archive(&[gzip(&layer)], "docker.io/library/alp:3")[..]).unwrap();
    assert_eq!(r.image.as_deref(), Some("docker.io/library/alp:3"));
    let got = names(&r);
    assert!(got.contains(&"musl 1.2.4_git20230717-r4 /lib/apk/db/installed".to_owned()), "{got:?}");
    assert!(got.contains(&"a 1.0.0 /usr/lib/node_modules/b/package.json".to_owned()), "hard link: {got:?}");
    let musl = r.inventory.packages.iter().find(|p| p.name == "musl").unwrap();
    assert_eq!(musl.ecosystem, "Alpine:v3.19");
    assert_eq!(musl.license.as_deref(), Some("MIT"));
}

#[test]
fn executables_are_reduced_to_their_modules() {
    let rust = rust_elf(&[("app", "0.1.0", "local"), ("berth-fake-crate", "0.3.1", "crates.io")]);
    let go = go_elf("go1.21.5", "path\tgithub.com/berth-test/cmd\nmod\tgithub.com/berth-test/cmd\t(devel)\t\ndep\tgithub.com/berth-test/fakemod\tv1.4.0\th1:x=\n");
    let layer = TarBuilder::new()
        .exe("usr/bin/rusty", &rust)
        .exe("usr/local/bin/gopher", &go)
        // Not executable: not scanned.
        .file("usr/share/doc/rusty.elf", &rust)
        // A script: not ELF.
        .exe("usr/bin/script", &[b'#'; 100])
        .finish();
    let r = crate::scan_archive(&docker_archive(&[layer], "bins:1")[..]).unwrap();
    let got = names(&r);
    assert!(got.contains(&"berth-fake-crate 0.3.1 /usr/bin/rusty".to_owned()), "{got:?}");
    assert!(got.contains(&"github.com/berth-test/fakemod v1.4.0 /usr/local/bin/gopher".to_owned()), "{got:?}");
    assert!(got.contains(&"stdlib v1.21.5 /usr/local/bin/gopher".to_owned()), "{got:?}");
    assert!(!got.iter().any(|g| g.contains("/usr/share/doc")), "{got:?}");
    let krate = r.inventory.packages.iter().find(|p| p.name == "berth-fake-crate").unwrap();
    assert_eq!((krate.ecosystem.as_str(), krate.purl.as_str()), ("crates.io", "pkg:cargo/berth-fake-crate@0.3.1"));
    let local = r.inventory.packages.iter().find(|p| p.name == "app").unwrap();
    assert_eq!(local.ecosystem, "", "a local crate is not matched against crates.io advisories");
}

#[test]
fn bad_archives_are_named_errors() {
    let e = crate::scan_archive(&b"definitely not a tar file, just some text that is long enough"[..]).unwrap_err();
    assert!(matches!(e, Error::Archive(_)), "{e}");
    let only_files = TarBuilder::new().file("hello.txt", b"hi").finish();
    let e = crate::scan_archive(&only_files[..]).unwrap_err().to_string();
    assert!(e.contains("no manifest.json or index.json"), "{e}");
    let garbage_layer = vec![0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let e = crate::scan_archive(&docker_archive(&[garbage_layer], "x:1")[..]).unwrap_err();
    assert!(matches!(&e, Error::Layer { layer, .. } if layer.starts_with("blobs/sha256/")), "{e}");
    let manifest_only = TarBuilder::new().file("manifest.json", br#"[{"Config":"c.json","RepoTags":null,"Layers":["missing.tar"]}]"#).finish();
    let e = crate::scan_archive(&manifest_only[..]).unwrap_err().to_string();
    assert!(e.contains("missing.tar") && e.contains("not in the archive"), "{e}");
    let bad_manifest = TarBuilder::new().file("manifest.json", b"[{\"Config\": 5}]").finish();
    let e = crate::scan_archive(&bad_manifest[..]).unwrap_err().to_string();
    assert!(e.contains("manifest.json"), "{e}");
    let escaping = TarBuilder::new().finish();
    assert!(crate::scan_archive(&escaping[..]).is_err());
}

#[test]
fn symlinks_resolve_inside_the_image() {
    let mut fs = RootFs::default();
    fs.insert("lib", Node::Symlink("usr/lib".into()));
    fs.insert("usr/lib/os-release", Node::File(b"ID=debian\n".to_vec()));
    fs.insert("etc/os-release", Node::Symlink("/lib/os-release".into()));
    fs.insert("loop", Node::Symlink("loop".into()));
    assert_eq!(fs.read("/etc/os-release"), Some(&b"ID=debian\n"[..]));
    assert_eq!(fs.resolve("etc/../lib/os-release").as_deref(), Some("usr/lib/os-release"));
    assert_eq!(fs.read("loop/x"), None);
}
