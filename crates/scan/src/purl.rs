//! Package URLs (github.com/package-url/purl-spec): how SBOM consumers and other
//! scanners identify a package.

use crate::package::{Distro, Kind, Package};

/// The purl of a package; `distro` adds the `distro=` qualifier for OS packages.
pub fn of(p: &Package, distro: Option<&Distro>) -> String {
    // An apk database in a Debian image is not Debian's: only the image's own family
    // names the namespace and the distro qualifier.
    let distro = distro.filter(|d| family(&d.id) == Some(p.kind));
    let version = enc(&p.version);
    let mut qualifiers: Vec<(&str, String)> = Vec::new();
    if let Some(a) = &p.arch {
        qualifiers.push(("arch", enc(a)));
    }
    let distro_q = distro.filter(|d| !d.id.is_empty()).map(|d| {
        if d.version_id.is_empty() {
            enc(&d.id)
        } else {
            format!("{}-{}", enc(&d.id), enc(&d.version_id))
        }
    });
    let base = match p.kind {
        Kind::Deb => format!("pkg:deb/{}/{}@{version}", namespace(distro, "debian"), enc(&p.name)),
        Kind::Apk => format!("pkg:apk/{}/{}@{version}", namespace(distro, "alpine"), enc(&p.name)),
        Kind::Rpm => format!("pkg:rpm/{}/{}@{version}", namespace(distro, "redhat"), enc(&p.name)),
        Kind::Go => {
            // Module paths keep their slashes: each segment is encoded on its own.
            let path: Vec<String> = p.name.split('/').map(enc).collect();
            format!("pkg:golang/{}@{version}", path.join("/"))
        }
        Kind::Cargo => format!("pkg:cargo/{}@{version}", enc(&p.name)),
        Kind::PyPI => format!("pkg:pypi/{}@{version}", enc(&crate::catalog::python::normalize(&p.name))),
        Kind::Npm => match p.name.strip_prefix('@').and_then(|s| s.split_once('/')) {
            Some((scope, name)) => format!("pkg:npm/%40{}/{}@{version}", enc(scope), enc(name)),
            None => format!("pkg:npm/{}@{version}", enc(&p.name)),
        },
    };
    if matches!(p.kind, Kind::Deb | Kind::Apk | Kind::Rpm) {
        if let Some(d) = distro_q {
            qualifiers.push(("distro", d));
        }
    }
    if qualifiers.is_empty() {
        return base;
    }
    qualifiers.sort();
    let q: Vec<String> = qualifiers.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{base}?{}", q.join("&"))
}

/// Which package manager a distribution (os-release `ID`) uses.
fn family(id: &str) -> Option<Kind> {
    Some(match id {
        "debian" | "ubuntu" | "raspbian" | "linuxmint" | "pop" | "kali" | "devuan" => Kind::Deb,
        "alpine" | "wolfi" | "chainguard" | "postmarketos" => Kind::Apk,
        "fedora" | "rhel" | "centos" | "rocky" | "almalinux" | "ol" | "amzn" | "opensuse-leap" | "opensuse-tumbleweed" | "sles" | "mariner" | "azurelinux" | "photon" => Kind::Rpm,
        _ => return None,
    })
}

fn namespace(distro: Option<&Distro>, default: &str) -> String {
    distro.filter(|d| !d.id.is_empty()).map(|d| enc(&d.id)).unwrap_or_else(|| default.to_owned())
}

/// Percent-encodes everything but RFC 3986's unreserved characters (and `:`, which
/// purl leaves alone in versions such as dpkg's `1:2.3-4`).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls() {
        let mut p = Package::new(Kind::Deb, "libssl3", "3.0.11-1~deb12u2", "Debian:12", "/var/lib/dpkg/status");
        p.arch = Some("amd64".into());
        let d = Distro { id: "debian".into(), version_id: "12".into(), pretty_name: String::new() };
        assert_eq!(of(&p, Some(&d)), "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12");
        let a = Package::new(Kind::Apk, "musl", "1.2.4-r2", "Alpine", "/lib/apk/db/installed");
        assert_eq!(of(&a, Some(&d)), "pkg:apk/alpine/musl@1.2.4-r2", "not Debian's");
        let n = Package::new(Kind::Npm, "@babel/core", "7.0.0", "npm", "/x");
        assert_eq!(n.purl, "pkg:npm/%40babel/core@7.0.0");
        let g = Package::new(Kind::Go, "github.com/a/b", "v1.2.3+incompatible", "Go", "/x");
        assert_eq!(g.purl, "pkg:golang/github.com/a/b@v1.2.3%2Bincompatible");
        let py = Package::new(Kind::PyPI, "Foo_Bar", "1.0", "PyPI", "/x");
        assert_eq!(py.purl, "pkg:pypi/foo-bar@1.0");
    }
}
