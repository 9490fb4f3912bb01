//! `RUN --mount=type=…,…` values.

use crate::error::{ErrorKind, MountError};

/// What kind of mount a RUN step gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheSharing {
    Shared,
    Private,
    Locked,
}

/// One `--mount` of a RUN instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The flag value as written; re-parsed with variables expanded at build time.
    pub spec: String,
    pub mount_type: MountType,
    /// A stage name or image the source is taken from (`from=`).
    pub from: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub read_only: bool,
    /// tmpfs `size=` in bytes.
    pub size_limit: Option<u64>,
    /// cache/secret `id=`.
    pub id: Option<String>,
    pub sharing: Option<CacheSharing>,
    /// secret/ssh `required=`.
    pub required: bool,
    /// secret `env=`: expose the secret as an environment variable.
    pub env: Option<String>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// False when the spec held variables and only `from` was read; the rest
    /// is filled in by [`parse_mount`] with an expander at build time.
    pub complete: bool,
}

/// Something that expands one word (variables) or fails.
pub type WordExpander<'a> = &'a dyn Fn(&str) -> Result<String, ErrorKind>;

fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// One CSV record, RFC 4180 quoting (`"a,b"`, `""` for a quote).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                }
            }
            match chars.get(i) {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => i += 1,
                Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
            }
        } else {
            while let Some(&c) = chars.get(i) {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err("bare \" in non-quoted-field".into());
                }
                field.push(c);
                i += 1;
            }
            let at_end = i >= chars.len();
            i += 1;
            fields.push(field);
            if at_end {
                return Ok(fields);
            }
        }
    }
}

/// Docker's RAMInBytes: `64m`, `1.5GiB`, `100` (binary multiples).
fn ram_in_bytes(s: &str) -> Option<u64> {
    let digits_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    Some((n * mult) as u64)
}

/// Parses a `--mount` value. With `expander`, every value is expanded and
/// fully validated; without, only `from` is read (it may not hold variables),
/// as Docker does at parse time for specs that hold variables.
pub fn parse_mount(spec: &str, expander: Option<WordExpander<'_>>) -> Result<Mount, ErrorKind> {
    let fields = csv_fields(spec).map_err(MountError::Csv)?;
    let mut m = Mount {
        spec: spec.to_string(),
        mount_type: MountType::Bind,
        from: None,
        source: None,
        target: None,
        read_only: false,
        size_limit: None,
        id: None,
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
        complete: expander.is_some(),
    };
    let mut ro_auto = true;
    let type_str = |m: &Mount| m.mount_type.as_str().to_string();
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let Some(value) = value else {
            if expander.is_none() {
                continue;
            }
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                }
                "required" if matches!(m.mount_type, MountType::Secret | MountType::Ssh) => m.required = true,
                "required" => {
                    return Err(MountError::KeyNotForType {
                        key,
                        mount_type: type_str(&m),
                    }
                    .into())
                }
                _ => return Err(MountError::NotKeyValue(field.clone()).into()),
            }
            continue;
        };
        let value = match expander {
            Some(expand) => expand(value)?,
            None if key == "from" => {
                if let Some(idx) = value.find('$') {
                    if idx != value.len() - 1 {
                        return Err(ErrorKind::MountFromExpansion(key));
                    }
                }
                value.to_string()
            }
            None => continue,
        };
        let bad_value = |key: &str, value: &str| -> ErrorKind {
            MountError::InvalidValue {
                key: key.to_string(),
                value: value.to_string(),
            }
            .into()
        };
        match key.as_str() {
            "type" => {
                m.mount_type = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => return Err(MountError::UnsupportedType(value).into()),
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => {
                m.read_only = go_parse_bool(&value).ok_or_else(|| bad_value(&key, &value))?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !go_parse_bool(&value).ok_or_else(|| bad_value(&key, &value))?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.mount_type, MountType::Secret | MountType::Ssh) {
                    return Err(MountError::KeyNotForType {
                        key,
                        mount_type: type_str(&m),
                    }
                    .into());
                }
                m.required = go_parse_bool(&value).ok_or_else(|| bad_value(&key, &value))?;
            }
            "size" => {
                if m.mount_type != MountType::Tmpfs {
                    return Err(MountError::KeyNotForType {
                        key,
                        mount_type: type_str(&m),
                    }
                    .into());
                }
                m.size_limit = Some(ram_in_bytes(&value).ok_or_else(|| bad_value(&key, &value))?);
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => return Err(MountError::UnsupportedSharing(value).into()),
                })
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| MountError::InvalidNumber { key: "mode", value: value.clone() })?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| MountError::InvalidNumber { key: "uid", value: value.clone() })?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| MountError::InvalidNumber { key: "gid", value: value.clone() })?,
                )
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(MountError::UnknownKey {
                    key,
                    field: field.clone(),
                }
                .into())
            }
        }
    }
    let file_info_allowed = matches!(m.mount_type, MountType::Secret | MountType::Ssh | MountType::Cache);
    if !file_info_allowed {
        for (name, set) in [("mode", m.mode.is_some()), ("uid", m.uid.is_some()), ("gid", m.gid.is_some())] {
            if set {
                return Err(MountError::FileInfoNotAllowed(name, type_str(&m)).into());
            }
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.mount_type, MountType::Cache | MountType::Tmpfs);
    }
    if m.mount_type == MountType::Secret {
        if m.from.is_some() {
            return Err(MountError::SecretWithFrom.into());
        }
        if m.sharing.is_some() {
            return Err(MountError::SecretWithSharing.into());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() {
            return Err(MountError::SecretWithoutTarget.into());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err(MountError::SecretSourceAndId.into());
        }
    }
    if m.sharing.is_some() && m.mount_type != MountType::Cache {
        return Err(MountError::SharingNotCache(type_str(&m)).into());
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(spec: &str) -> Result<Mount, ErrorKind> {
        let id = |s: &str| Ok(s.to_string());
        parse_mount(spec, Some(&id))
    }

    fn err(spec: &str) -> String {
        full(spec).unwrap_err().to_string()
    }

    #[test]
    fn cache_mount() {
        let m = full("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1000").unwrap();
        assert_eq!(m.mount_type, MountType::Cache);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.id.as_deref(), Some("pip"));
        assert_eq!(m.sharing, Some(CacheSharing::Locked));
        assert_eq!(m.mode, Some(0o755));
        assert_eq!(m.uid, Some(1000));
        assert!(!m.read_only);
    }

    #[test]
    fn bind_mount_defaults_read_only() {
        let m = full("target=/src,from=builder,source=/out").unwrap();
        assert_eq!(m.mount_type, MountType::Bind);
        assert!(m.read_only);
        assert_eq!(m.from.as_deref(), Some("builder"));
        let m = full("type=bind,target=/src,rw").unwrap();
        assert!(!m.read_only);
        let m = full("type=bind,target=/src,readwrite=true").unwrap();
        assert!(!m.read_only);
    }

    #[test]
    fn tmpfs_secret_ssh() {
        assert_eq!(full("type=tmpfs,target=/t,size=64m").unwrap().size_limit, Some(64 << 20));
        let s = full("type=secret,id=tok,env=TOKEN,required").unwrap();
        assert!(s.required && s.read_only);
        assert_eq!(s.env.as_deref(), Some("TOKEN"));
        let s = full("type=ssh,required=true").unwrap();
        assert!(s.required);
        let q = full("type=bind,\"target=/a,b\"").unwrap();
        assert_eq!(q.target.as_deref(), Some("/a,b"));
    }

    #[test]
    fn mount_errors() {
        assert_eq!(err("type=nfs"), "unsupported mount type \"nfs\"");
        assert_eq!(err("type=cache,sharing=maybe"), "unsupported sharing value \"maybe\"");
        assert_eq!(err("type=bind,required"), "unexpected key 'required' for mount type 'bind'");
        assert_eq!(err("type=bind,size=1"), "unexpected key 'size' for mount type 'bind'");
        assert_eq!(err("type=bind,mode=0700"), "mode not allowed for \"bind\" type mounts");
        assert_eq!(err("type=cache,bogus=1"), "unexpected key 'bogus' in 'bogus=1'");
        assert_eq!(err("type=cache,nokey"), "invalid field 'nokey' must be a key=value pair");
        assert_eq!(err("type=secret"), "invalid secret mount. one of source, target required");
        assert_eq!(err("type=secret,id=a,from=b"), "secret mount should not have a from");
        assert_eq!(err("type=tmpfs,sharing=shared"), "invalid cache sharing set for tmpfs mount");
        assert_eq!(err("type=cache,uid=x"), "invalid value x for uid");
        assert_eq!(err("type=bind,ro=maybe"), "invalid value for ro: maybe");
        assert_eq!(err("type=bind,a\"b"), "failed to parse csv mounts: bare \" in non-quoted-field");
    }

    #[test]
    fn deferred_parse_checks_only_from() {
        let m = parse_mount("type=$T,target=/x,from=stage", None).unwrap();
        assert!(!m.complete);
        assert_eq!(m.from.as_deref(), Some("stage"));
        assert_eq!(
            parse_mount("type=bind,from=$STAGE", None).unwrap_err().to_string(),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
    }
}
