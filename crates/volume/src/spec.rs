//! `-v`/`--volume` strings (HostConfig.Binds) as dockerd's Linux parser reads them:
//! `name:/dst[:mode]` is a volume, `/src:/dst[:mode]` a bind mount, `/dst` alone an
//! anonymous volume; the mode is a comma list of at most one of each of `ro|rw`,
//! `z|Z`, a propagation, and `nocopy`.

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Volume,
    Bind,
    Tmpfs,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Volume => "volume",
            Kind::Bind => "bind",
            Kind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount a container asked for, whichever way it was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountSpec {
    pub kind: Kind,
    /// Volume name (empty: anonymous), host path for binds, empty for tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    /// Bind propagation (`rprivate` when not given, as Docker).
    pub propagation: String,
    /// Do not copy the image's content into a new volume.
    pub nocopy: bool,
    /// The mode string as given (`ro,z`), which inspect shows as Mode.
    pub mode: String,
}

const PROPAGATIONS: [&str; 6] = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];

fn invalid(spec: &str, reason: impl Into<String>) -> Error {
    Error::InvalidSpec { spec: spec.to_owned(), reason: reason.into() }
}

/// Checks a container path as dockerd does.
pub fn check_target(spec: &str, kind: Kind, target: &str) -> Result<()> {
    if target.is_empty() {
        return Err(invalid(spec, format!("invalid mount config for type \"{}\": field Target must not be empty", kind.as_str())));
    }
    if !target.starts_with('/') {
        return Err(invalid(spec, format!("invalid mount config for type \"{}\": invalid mount path: '{target}' mount path must be absolute", kind.as_str())));
    }
    if target.trim_end_matches('/').is_empty() {
        return Err(invalid(spec, "invalid mount config: destination can't be '/'"));
    }
    Ok(())
}

/// Parses one `-v` string.
pub fn parse_bind(spec: &str) -> Result<MountSpec> {
    if spec.is_empty() {
        return Err(invalid(spec, "invalid empty volume spec"));
    }
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(invalid(spec, "too many colons")),
    };
    if parts.len() > 1 && source.is_empty() {
        return Err(invalid(spec, "empty section between colons"));
    }
    let kind = if source.starts_with('/') { Kind::Bind } else { Kind::Volume };
    check_target(spec, kind, target)?;
    let mut m = MountSpec { kind, source: source.to_owned(), target: target.to_owned(), read_only: false, propagation: String::new(), nocopy: false, mode: mode.to_owned() };
    let (mut rw, mut label, mut prop, mut copy) = (0, 0, 0, 0);
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => {
                rw += 1;
                m.read_only = o == "ro";
            }
            "z" | "Z" => label += 1,
            "nocopy" if kind == Kind::Volume => {
                copy += 1;
                m.nocopy = true;
            }
            p if PROPAGATIONS.contains(&p) && kind == Kind::Bind => {
                prop += 1;
                m.propagation = p.to_owned();
            }
            _ => return Err(invalid(spec, format!("invalid mode: {mode}"))),
        }
    }
    if rw > 1 || label > 1 || prop > 1 || copy > 1 {
        return Err(invalid(spec, format!("invalid mode: {mode}")));
    }
    if kind == Kind::Bind && m.propagation.is_empty() {
        m.propagation = "rprivate".into();
    }
    Ok(m)
}

/// `--volumes-from name[:ro|rw]`: the container and whether its mounts are forced
/// read-only (None: keep each mount's own mode).
pub fn parse_volumes_from(s: &str) -> Result<(String, Option<bool>)> {
    match s.split_once(':') {
        None => Ok((s.to_owned(), None)),
        Some((c, "ro")) => Ok((c.to_owned(), Some(true))),
        Some((c, "rw")) => Ok((c.to_owned(), Some(false))),
        Some((_, m)) => Err(Error::InvalidSpec { spec: s.to_owned(), reason: format!("invalid mode for --volumes-from: {m}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_bind_and_anonymous_forms() {
        let v = parse_bind("data:/srv:ro,z").unwrap();
        assert_eq!((v.kind, v.source.as_str(), v.target.as_str(), v.read_only), (Kind::Volume, "data", "/srv", true));
        let b = parse_bind("/host/dir:/ctr").unwrap();
        assert_eq!((b.kind, b.read_only, b.propagation.as_str()), (Kind::Bind, false, "rprivate"));
        let a = parse_bind("/anon").unwrap();
        assert_eq!((a.kind, a.source.as_str()), (Kind::Volume, ""));
        assert!(parse_bind("data:/d:nocopy").unwrap().nocopy);
        assert_eq!(parse_bind("/h:/c:rshared").unwrap().propagation, "rshared");
    }

    #[test]
    fn bad_specs_name_the_problem() {
        let e = |s: &str| parse_bind(s).unwrap_err().to_string();
        assert_eq!(e("a:b:c:d"), "invalid volume specification: 'a:b:c:d': too many colons");
        assert!(e("data:rel").contains("mount path must be absolute"), "{}", e("data:rel"));
        assert!(e("rel").contains("mount path must be absolute"));
        assert!(e("/h:/c:rx").contains("invalid mode: rx"));
        assert!(e("/h:/c:ro,rw").contains("invalid mode: ro,rw"));
        assert!(e("/h:/c:nocopy").contains("invalid mode"), "nocopy is for volumes");
        assert!(e("data:/").contains("destination can't be '/'"));
        assert!(e(":/c").contains("empty section"));
        assert!(e("").contains("empty"));
    }

    #[test]
    fn volumes_from_modes() {
        assert_eq!(parse_volumes_from("db").unwrap(), ("db".into(), None));
        assert_eq!(parse_volumes_from("db:ro").unwrap(), ("db".into(), Some(true)));
        assert!(parse_volumes_from("db:xx").is_err());
    }
}
