//! Image references with Docker's grammar and normalisation (distribution/reference):
//! `busybox` is `docker.io/library/busybox`, shown to users in the familiar short form.
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [domain "/"] path-component ["/" path-component]*
//! domain    := domain-component ["." domain-component]* [":" port] | "[" ipv6 "]" [":" port]
//! path-component := [a-z0-9]+ (separator [a-z0-9]+)*      separator := [_.] | "__" | "-"+
//! tag       := [\w][\w.-]{0,127}
//! ```

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The registry Docker assumes when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The namespace of official images on Docker Hub.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag used when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOMAIN: &str = "index.docker.io";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalised image reference: always has a domain; the path of an official Docker Hub
/// image has its `library/` prefix.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

fn invalid_format() -> Error {
    Error::InvalidReference("invalid reference format".into())
}

impl Reference {
    /// Parses a reference as the docker CLI does (`ParseNormalizedNamed`): `busybox`,
    /// `team/app:1`, `localhost:5000/app@sha256:...`, `name:tag@digest`. The result keeps
    /// a tag only if one was given; see [`Reference::with_default_tag`].
    pub fn parse(s: &str) -> Result<Reference> {
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Error::InvalidReference(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.to_lowercase() != remote {
            return Err(Error::InvalidReference(format!(
                "invalid reference format: repository name ({remote}) must be lowercase"
            )));
        }
        Self::parse_with_domain(&domain, &remainder)
    }

    fn parse_with_domain(domain: &str, remainder: &str) -> Result<Reference> {
        let (name_tag, digest) = match remainder.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (remainder, None),
        };
        let (path, tag) = match name_tag.rsplit_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (name_tag, None),
        };
        if !is_domain(domain) || !is_path(path) {
            if is_path(&path.to_lowercase()) && is_domain(domain) {
                return Err(Error::InvalidReference("repository name must be lowercase".into()));
            }
            return Err(invalid_format());
        }
        if let Some(t) = tag {
            if !is_tag(t) {
                return Err(invalid_format());
            }
        }
        let digest = match digest {
            Some(d) => {
                let (alg, hex) = d.split_once(':').ok_or_else(invalid_format)?;
                if !is_digest_algorithm(alg) || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid_format());
                }
                Some(Digest::parse(d).map_err(|e| match e {
                    Error::InvalidDigest { reason, .. } => Error::InvalidReference(reason.to_string()),
                    other => other,
                })?)
            }
            None => None,
        };
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(Error::InvalidReference(format!(
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            )));
        }
        Ok(Reference { domain: domain.to_owned(), path: path.to_owned(), tag: tag.map(str::to_owned), digest })
    }

    /// This reference with the `latest` tag added if it has neither tag nor digest
    /// (`TagNameOnly`): what `pull`, `run`, `tag` and `rmi` operate on.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// This reference with the given tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        if !is_tag(tag) {
            return Err(invalid_format());
        }
        Ok(Reference { tag: Some(tag.to_owned()), digest: None, ..self.clone() })
    }

    /// This reference's repository with the given digest and no tag (a "repo digest").
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { tag: None, digest: Some(digest), ..self.clone() }
    }

    /// The repository alone, without tag or digest.
    pub fn repository(&self) -> Reference {
        Reference { tag: None, digest: None, ..self.clone() }
    }

    /// The registry domain, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full repository name, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short repository name Docker shows, e.g. `busybox`, `team/app`,
    /// `localhost:5000/team/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_owned(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The short form of the whole reference, e.g. `busybox:latest`.
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }

    fn render(&self, mut s: String) -> String {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

/// `splitDockerDomain`: the first component is a domain only if it looks like one
/// (has a `.` or `:`, is `localhost`, or has uppercase letters).
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), name.to_owned()),
    };
    if domain == LEGACY_DOMAIN {
        domain = DEFAULT_DOMAIN.to_owned();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else { return false };
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => return !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        })
}

fn is_path(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(is_path_component)
}

fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty() && b.len() <= 128 && word(b[0]) && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

fn is_digest_algorithm(a: &str) -> bool {
    !a.is_empty()
        && a.split(['+', '.', '-', '_']).all(|c| {
            let b = c.as_bytes();
            !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|x| x.is_ascii_alphanumeric())
        })
}

impl fmt::Display for Reference {
    /// The full normalised form, e.g. `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().with_default_tag().to_string()
    }

    fn err(s: &str) -> String {
        Reference::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("team/app"), "docker.io/team/app:latest");
        assert_eq!(full("index.docker.io/library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("localhost:5000/team/app:1.2"), "localhost:5000/team/app:1.2");
        assert_eq!(full("localhost/app"), "localhost/app:latest");
        assert_eq!(full("registry.example.com/a/b/c"), "registry.example.com/a/b/c:latest");
        assert_eq!(full("[::1]:5000/app:v1"), "[::1]:5000/app:v1");
        assert_eq!(full("Registry.Example.com/app"), "Registry.Example.com/app:latest");
        assert_eq!(full("a__b/c-d--e.f_g:T_a.g-1"), "docker.io/a__b/c-d--e.f_g:T_a.g-1");
    }

    #[test]
    fn digests_and_tags_together() {
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().unwrap().to_string(), D);
        // A digest reference gets no default tag.
        assert_eq!(r.clone().with_default_tag().to_string(), format!("docker.io/library/busybox@{D}"));
        let r = Reference::parse(&format!("localhost:5000/app:1.0@{D}")).unwrap();
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.familiar(), format!("localhost:5000/app:1.0@{D}"));
    }

    #[test]
    fn familiar_form_is_what_docker_prints() {
        let f = |s: &str| Reference::parse(s).unwrap().with_default_tag().familiar();
        assert_eq!(f("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(f("docker.io/team/app:2"), "team/app:2");
        assert_eq!(f("localhost:5000/team/app:1.2"), "localhost:5000/team/app:1.2");
        assert_eq!(f("docker.io/library/a/b"), "library/a/b:latest");
        assert_eq!(Reference::parse("busybox").unwrap().familiar_name(), "busybox");
    }

    #[test]
    fn rejects_what_docker_rejects() {
        assert_eq!(err("Busybox"), "invalid reference format: repository name (library/Busybox) must be lowercase");
        assert_eq!(err("team/App:1"), "invalid reference format: repository name (team/App) must be lowercase");
        for bad in [
            "", ":latest", "busybox:", "busybox:-tag", "a..b", "a___b", "-abc", "abc-", "a/", "/a",
            "busy box", "busybox:tag:tag", "localhost:abc/app", "busybox@sha256:abc", "a.-b",
            "busybox@", "host:/app", "[::1/app",
        ] {
            assert!(
                err(bad).starts_with("invalid reference format"),
                "{bad:?} should be an invalid reference format, got {}",
                err(bad)
            );
        }
        let long_tag = format!("busybox:{}", "a".repeat(129));
        assert_eq!(err(&long_tag), "invalid reference format");
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(err(hex).contains("cannot specify 64-byte hexadecimal strings"));
        let long = format!("{}/{}", "a".repeat(200), "b".repeat(60));
        assert_eq!(err(&long), "repository name must not be more than 255 characters");
        assert_eq!(err(&format!("busybox@md5:{}", "a".repeat(32))), "unsupported digest algorithm");
        assert_eq!(err(&format!("busybox@sha256:{}", "a".repeat(40))), "invalid checksum digest length");
    }

    #[test]
    fn accepts_max_tag_and_port_forms() {
        let tag = "a".repeat(128);
        assert_eq!(Reference::parse(&format!("busybox:{tag}")).unwrap().tag(), Some(tag.as_str()));
        assert!(Reference::parse("registry:5000/app").is_ok());
        assert_eq!(Reference::parse("registry:5000/app").unwrap().domain(), "registry:5000");
    }
}
