//! Short syntaxes → long forms, on the JSON tree of one file, as compose-go does.
//!
//! This runs per file, after interpolation and validation and before merging, so
//! that merge rules (ports by key, volumes by target, environment by name …)
//! only ever see one shape. Relative host paths are made absolute here, against
//! the directory the file's paths are relative to, because after merging we no
//! longer know which file a path came from.

use crate::error::{ComposeError, Result};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Where relative paths of a file are resolved, and how `~` expands.
#[derive(Debug, Clone)]
pub struct PathContext {
    /// Directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// Home directory for `~`; `None` leaves `~` paths alone.
    pub home: Option<PathBuf>,
    /// File name for error messages.
    pub file: String,
}

impl PathContext {
    /// Absolutises `p`: `~` and `~/x` expand to the home directory, relative paths
    /// are joined to `base_dir`, and `.`/`..` components are folded lexically
    /// (compose does not resolve symlinks either).
    pub fn resolve(&self, p: &str) -> String {
        let expanded: PathBuf = if p == "~" {
            match &self.home {
                Some(h) => h.clone(),
                None => return p.to_string(),
            }
        } else if let Some(rest) = p.strip_prefix("~/") {
            match &self.home {
                Some(h) => h.join(rest),
                None => return p.to_string(),
            }
        } else {
            let path = Path::new(p);
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                self.base_dir.join(path)
            }
        };
        clean_path(&expanded).display().to_string()
    }
}

/// Folds `.` and `..` without touching the filesystem.
pub fn clean_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Normalises a whole (single-file) document in place.
pub fn normalize_document(doc: &mut Value, ctx: &PathContext) -> Result<()> {
    let Some(root) = doc.as_object_mut() else { return Ok(()) };
    if let Some(Value::Object(services)) = root.get_mut("services") {
        for (name, svc) in services.iter_mut() {
            if svc.is_null() {
                *svc = Value::Object(Map::new());
            }
            normalize_service(name, svc, ctx)?;
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(items)) = root.get_mut(kind) {
            for (_, item) in items.iter_mut() {
                normalize_resource(kind, item, ctx);
            }
        }
    }
    Ok(())
}

fn normalize_resource(kind: &str, item: &mut Value, ctx: &PathContext) {
    if item.is_null() {
        *item = Value::Object(Map::new());
    }
    let Some(obj) = item.as_object_mut() else { return };
    for key in ["labels", "driver_opts"] {
        if let Some(v) = obj.get_mut(key) {
            list_or_dict_to_map(v, false);
        }
    }
    // Legacy `external: {name: x}` means external with that name.
    if let Some(Value::Object(ext)) = obj.get("external").cloned() {
        if let Some(n) = ext.get("name") {
            obj.insert("name".into(), n.clone());
        }
        obj.insert("external".into(), Value::Bool(true));
    }
    if let Some(Value::String(s)) = obj.get("external") {
        let b = s.eq_ignore_ascii_case("true");
        obj.insert("external".into(), Value::Bool(b));
    }
    if matches!(kind, "secrets" | "configs") {
        if let Some(Value::String(f)) = obj.get("file") {
            let abs = ctx.resolve(f);
            obj.insert("file".into(), Value::String(abs));
        }
    }
}

/// Normalises one service definition. `name` is used in error paths.
pub fn normalize_service(name: &str, svc: &mut Value, ctx: &PathContext) -> Result<()> {
    let Some(obj) = svc.as_object_mut() else { return Ok(()) };
    let path = |key: &str| format!("services.{name}.{key}");
    let invalid = |key: &str, message: String| ComposeError::InvalidValue {
        file: ctx.file.clone(),
        path: path(key),
        message,
    };

    if let Some(b) = obj.get_mut("build") {
        normalize_build(b, ctx);
    }
    for key in ["command", "entrypoint"] {
        if let Some(Value::String(s)) = obj.get(key) {
            let words = shell_words::split(s).map_err(|e| invalid(key, format!("{e}: {s:?}")))?;
            obj.insert(key.into(), json!(words));
        }
    }
    if let Some(v) = obj.get_mut("environment") {
        list_or_dict_to_map(v, true);
    }
    for key in ["labels", "annotations", "sysctls", "storage_opt"] {
        if let Some(v) = obj.get_mut(key) {
            list_or_dict_to_map(v, false);
        }
    }
    if let Some(Value::Object(logging)) = obj.get_mut("logging") {
        if let Some(v) = logging.get_mut("options") {
            list_or_dict_to_map(v, false);
        }
    }
    if let Some(Value::Object(deploy)) = obj.get_mut("deploy") {
        if let Some(v) = deploy.get_mut("labels") {
            list_or_dict_to_map(v, false);
        }
    }
    for key in ["dns", "dns_search", "tmpfs", "label_file"] {
        if let Some(Value::String(s)) = obj.get(key) {
            obj.insert(key.into(), json!([s]));
        }
    }
    if let Some(Value::Array(files)) = obj.get_mut("label_file") {
        for f in files.iter_mut() {
            if let Value::String(s) = f {
                *s = ctx.resolve(s);
            }
        }
    }
    if let Some(v) = obj.get_mut("env_file") {
        normalize_env_file(v, ctx);
    }
    if let Some(v) = obj.get_mut("depends_on") {
        normalize_depends_on(v);
    }
    if let Some(v) = obj.get_mut("networks") {
        if let Value::Array(list) = v {
            let map: Map<String, Value> = list
                .iter()
                .filter_map(Value::as_str)
                .map(|n| (n.to_string(), Value::Null))
                .collect();
            *v = Value::Object(map);
        }
    }
    if let Some(Value::Array(ports)) = obj.get("ports") {
        let mut out = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            out.extend(parse_port(p).map_err(|m| invalid(&format!("ports.{i}"), m))?);
        }
        obj.insert("ports".into(), Value::Array(out));
    }
    if let Some(Value::Array(expose)) = obj.get_mut("expose") {
        for e in expose.iter_mut() {
            if let Value::Number(n) = e {
                *e = Value::String(n.to_string());
            }
        }
    }
    if let Some(Value::Array(vols)) = obj.get("volumes") {
        let mut out = Vec::new();
        for (i, v) in vols.iter().enumerate() {
            out.push(normalize_volume(v, ctx).map_err(|m| invalid(&format!("volumes.{i}"), m))?);
        }
        obj.insert("volumes".into(), Value::Array(out));
    }
    for key in ["secrets", "configs"] {
        if let Some(Value::Array(items)) = obj.get_mut(key) {
            for it in items.iter_mut() {
                if let Value::String(s) = it {
                    *it = json!({ "source": s });
                }
            }
        }
    }
    if let Some(v) = obj.get_mut("extra_hosts") {
        *v = Value::Array(extra_hosts_list(v).map_err(|m| invalid("extra_hosts", m))?);
    }
    if let Some(Value::Object(hc)) = obj.get_mut("healthcheck") {
        if let Some(Value::String(s)) = hc.get("test") {
            let t = json!(["CMD-SHELL", s]);
            hc.insert("test".into(), t);
        }
    }
    if let Some(Value::Array(devs)) = obj.get_mut("devices") {
        for d in devs.iter_mut() {
            if let Value::String(s) = d {
                *d = parse_device(s).map_err(|m| invalid("devices", m))?;
            }
        }
    }
    Ok(())
}

fn normalize_build(b: &mut Value, ctx: &PathContext) {
    if let Value::String(s) = b {
        *b = json!({ "context": s });
    }
    let Some(obj) = b.as_object_mut() else { return };
    let context = obj
        .get("context")
        .and_then(Value::as_str)
        .unwrap_or(".")
        .to_string();
    let resolved = if is_remote_context(&context) { context } else { ctx.resolve(&context) };
    obj.insert("context".into(), Value::String(resolved));
    if !obj.contains_key("dockerfile") && !obj.contains_key("dockerfile_inline") {
        obj.insert("dockerfile".into(), json!("Dockerfile"));
    }
    for key in ["args", "labels", "additional_contexts"] {
        if let Some(v) = obj.get_mut(key) {
            list_or_dict_to_map(v, key == "args");
        }
    }
}

/// Build contexts that are URLs are handed to the builder as they are.
fn is_remote_context(c: &str) -> bool {
    c.contains("://") || c.starts_with("git@") || c.starts_with("github.com/")
}

/// `["A=1", "B"]` or `{A: 1, B: null}` → `{A: "1", B: null}`. A bare list entry
/// `B` becomes `null` for environments/args (resolved later from the
/// environment) and `""` elsewhere (labels), as compose does.
pub fn list_or_dict_to_map(v: &mut Value, bare_is_null: bool) {
    match v {
        Value::Array(items) => {
            let mut map = Map::new();
            for it in items.iter() {
                let s = scalar_string(it);
                match s.split_once('=') {
                    Some((k, val)) => map.insert(k.to_string(), Value::String(val.to_string())),
                    None => map.insert(
                        s,
                        if bare_is_null { Value::Null } else { Value::String(String::new()) },
                    ),
                };
            }
            *v = Value::Object(map);
        }
        Value::Object(map) => {
            for (_, val) in map.iter_mut() {
                if !val.is_null() {
                    *val = Value::String(scalar_string(val));
                }
            }
        }
        _ => {}
    }
}

/// A scalar as compose prints it in a string context (`1`, `true`, `1.5`).
pub fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn normalize_env_file(v: &mut Value, ctx: &PathContext) {
    let items: Vec<Value> = match v {
        Value::String(s) => vec![Value::String(s.clone())],
        Value::Array(a) => a.clone(),
        _ => return,
    };
    let out: Vec<Value> = items
        .into_iter()
        .map(|it| match it {
            Value::String(s) => json!({ "path": ctx.resolve(&s), "required": true }),
            Value::Object(mut o) => {
                if let Some(Value::String(p)) = o.get("path") {
                    let abs = ctx.resolve(p);
                    o.insert("path".into(), Value::String(abs));
                }
                let req = match o.get("required") {
                    Some(Value::Bool(b)) => *b,
                    Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
                    _ => true,
                };
                o.insert("required".into(), Value::Bool(req));
                Value::Object(o)
            }
            other => other,
        })
        .collect();
    *v = Value::Array(out);
}

fn normalize_depends_on(v: &mut Value) {
    let mut map = match v {
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(|n| (n.to_string(), Value::Object(Map::new())))
            .collect(),
        Value::Object(m) => m.clone(),
        _ => return,
    };
    for (_, dep) in map.iter_mut() {
        if dep.is_null() {
            *dep = Value::Object(Map::new());
        }
        if let Value::Object(d) = dep {
            d.entry("condition").or_insert(json!("service_started"));
            d.entry("required").or_insert(json!(true));
            if let Some(Value::String(s)) = d.get("restart") {
                let b = s.eq_ignore_ascii_case("true");
                d.insert("restart".into(), Value::Bool(b));
            }
        }
    }
    *v = Value::Object(map);
}

/// Parses one `ports` entry (number, short string or long mapping) into long forms.
/// A container port range gives one entry per port, as compose does.
pub fn parse_port(p: &Value) -> Result<Vec<Value>, String> {
    match p {
        Value::Number(n) => {
            let target = n.as_u64().filter(|t| *t <= 65535).ok_or_else(|| format!("invalid port {n}"))?;
            Ok(vec![json!({"mode": "ingress", "target": target, "protocol": "tcp"})])
        }
        Value::String(s) => parse_port_spec(s),
        Value::Object(o) => {
            let mut o = o.clone();
            let target = match o.get("target") {
                Some(Value::String(s)) => Some(s.parse::<u64>().map_err(|_| format!("invalid target port {s:?}"))?),
                Some(Value::Number(n)) => n.as_u64(),
                _ => None,
            };
            if let Some(t) = target {
                o.insert("target".into(), json!(t));
            }
            if let Some(Value::Number(n)) = o.get("published") {
                let s = n.to_string();
                o.insert("published".into(), Value::String(s));
            }
            o.entry("protocol").or_insert(json!("tcp"));
            o.entry("mode").or_insert(json!("ingress"));
            Ok(vec![Value::Object(o)])
        }
        other => Err(format!("invalid port {other}")),
    }
}

fn parse_range(s: &str, what: &str, whole: &str) -> Result<(u64, u64), String> {
    let bad = || format!("invalid {what}port {s:?} in {whole:?}");
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u64 = a.parse().map_err(|_| bad())?;
    let b: u64 = b.parse().map_err(|_| bad())?;
    if a > b || b > 65535 {
        return Err(bad());
    }
    Ok((a, b))
}

/// `[[ip:]published:]target[/proto]` with ranges, as docker's port spec parser reads it.
pub fn parse_port_spec(spec: &str) -> Result<Vec<Value>, String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto {proto:?} in {spec:?}"));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let n = parts.len();
    let (ip, published, target) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address {ip:?} in {spec:?}"));
    }
    let (t0, t1) = parse_range(target, "", spec)?;
    let host = if published.is_empty() { None } else { Some(parse_range(published, "published ", spec)?) };
    if let Some((h0, h1)) = host {
        if t1 > t0 && h1 - h0 != t1 - t0 {
            return Err(format!("invalid ranges specified for container and host ports in {spec:?}"));
        }
    }
    let mut out = Vec::new();
    for (i, t) in (t0..=t1).enumerate() {
        let mut o = Map::new();
        o.insert("mode".into(), json!("ingress"));
        if !ip.is_empty() {
            o.insert("host_ip".into(), json!(ip));
        }
        o.insert("target".into(), json!(t));
        if let Some((h0, h1)) = host {
            let published = if t1 > t0 {
                (h0 + i as u64).to_string()
            } else if h1 > h0 {
                format!("{h0}-{h1}")
            } else {
                h0.to_string()
            };
            o.insert("published".into(), json!(published));
        }
        o.insert("protocol".into(), json!(proto));
        out.push(Value::Object(o));
    }
    Ok(out)
}

/// Does a volume source denote a host path (bind) rather than a volume name?
fn is_host_path(s: &str) -> bool {
    s.starts_with('.') || s.starts_with('/') || s.starts_with('~') || s.starts_with("\\\\")
}

const PROPAGATIONS: &[&str] = &["shared", "rshared", "slave", "rslave", "private", "rprivate"];

/// Parses one `volumes` entry into the long form, resolving bind sources.
pub fn normalize_volume(v: &Value, ctx: &PathContext) -> Result<Value, String> {
    let mut o = match v {
        Value::String(s) => parse_volume_spec(s)?,
        Value::Object(o) => o.clone(),
        other => return Err(format!("invalid volume {other}")),
    };
    if o.get("type").and_then(Value::as_str) == Some("bind") {
        if let Some(Value::String(src)) = o.get("source") {
            let abs = ctx.resolve(src);
            o.insert("source".into(), Value::String(abs));
        }
    }
    Ok(Value::Object(o))
}

/// `src:dst[:opts]`, `dst` (anonymous volume), as compose-go's volume parser reads it.
pub fn parse_volume_spec(spec: &str) -> Result<Map<String, Value>, String> {
    if spec.is_empty() {
        return Err("invalid empty volume spec".into());
    }
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("invalid volume spec {spec:?}: empty section between colons"));
    }
    let (source, target, opts) = match parts.len() {
        1 => ("", parts[0], ""),
        2 => (parts[0], parts[1], ""),
        3 => (parts[0], parts[1], parts[2]),
        _ => return Err(format!("invalid volume spec {spec:?}: too many colons")),
    };
    let bind = is_host_path(source);
    let mut o = Map::new();
    o.insert("type".into(), json!(if bind { "bind" } else { "volume" }));
    if !source.is_empty() {
        o.insert("source".into(), json!(source));
    }
    o.insert("target".into(), json!(target));
    let mut bind_opts = Map::new();
    let mut vol_opts = Map::new();
    if bind {
        // Short syntax keeps docker-compose v1's habit of creating missing host dirs.
        bind_opts.insert("create_host_path".into(), json!(true));
    }
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => {
                o.insert("read_only".into(), json!(true));
            }
            "rw" => {
                o.remove("read_only");
            }
            "nocopy" => {
                vol_opts.insert("nocopy".into(), json!(true));
            }
            "z" | "Z" => {
                bind_opts.insert("selinux".into(), json!(opt));
            }
            p if PROPAGATIONS.contains(&p) => {
                bind_opts.insert("propagation".into(), json!(p));
            }
            // compose ignores options it does not know; so do we.
            _ => {}
        }
    }
    if bind {
        o.insert("bind".into(), Value::Object(bind_opts));
    } else {
        o.insert("volume".into(), Value::Object(vol_opts));
    }
    Ok(o)
}

fn parse_device(s: &str) -> Result<Value, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, perm) = match parts.as_slice() {
        [a] => (*a, *a, "rwm"),
        [a, b] if b.chars().all(|c| "rwm".contains(c)) && !b.starts_with('/') => (*a, *a, *b),
        [a, b] => (*a, *b, "rwm"),
        [a, b, c] => (*a, *b, *c),
        _ => return Err(format!("invalid device {s:?}")),
    };
    Ok(json!({"source": src, "target": dst, "permissions": perm}))
}

/// extra_hosts in any form → `["host=ip", …]` (compose v2's canonical list form).
fn extra_hosts_list(v: &Value) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    match v {
        Value::Array(items) => {
            for it in items {
                let s = scalar_string(it);
                // `=` is the unambiguous separator; `:` is the legacy one (first colon,
                // so IPv6 addresses survive: `host:::1`).
                let (h, ip) = s
                    .split_once('=')
                    .or_else(|| s.split_once(':'))
                    .ok_or_else(|| format!("invalid extra host {s:?}: expected host=ip"))?;
                out.push(Value::String(format!("{}={}", h.trim(), ip.trim())));
            }
        }
        Value::Object(map) => {
            for (h, ips) in map {
                match ips {
                    Value::Array(list) => {
                        for ip in list {
                            out.push(Value::String(format!("{h}={}", scalar_string(ip))));
                        }
                    }
                    ip => out.push(Value::String(format!("{h}={}", scalar_string(ip)))),
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PathContext {
        PathContext {
            base_dir: PathBuf::from("/proj"),
            home: Some(PathBuf::from("/home/u")),
            file: "compose.yaml".into(),
        }
    }

    #[test]
    fn path_resolution() {
        let c = ctx();
        assert_eq!(c.resolve("./data"), "/proj/data");
        assert_eq!(c.resolve("../x/./y"), "/x/y");
        assert_eq!(c.resolve("~/cfg"), "/home/u/cfg");
        assert_eq!(c.resolve("~"), "/home/u");
        assert_eq!(c.resolve("/abs"), "/abs");
        assert_eq!(c.resolve("."), "/proj");
    }

    #[test]
    fn ports_short_forms() {
        assert_eq!(
            parse_port_spec("8080:80").unwrap(),
            vec![json!({"mode":"ingress","target":80,"published":"8080","protocol":"tcp"})]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1:8080:80/udp").unwrap(),
            vec![json!({"mode":"ingress","host_ip":"127.0.0.1","target":80,"published":"8080","protocol":"udp"})]
        );
        assert_eq!(
            parse_port_spec("[::1]:53:53").unwrap()[0]["host_ip"],
            json!("::1")
        );
        assert_eq!(parse_port_spec("3000").unwrap(), vec![json!({"mode":"ingress","target":3000,"protocol":"tcp"})]);
        let r = parse_port_spec("8000-8001:80-81").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1]["published"], "8001");
        assert_eq!(r[1]["target"], 81);
        let r = parse_port_spec("9000-9010:80").unwrap();
        assert_eq!(r, vec![json!({"mode":"ingress","target":80,"published":"9000-9010","protocol":"tcp"})]);
        assert_eq!(parse_port_spec("3000-3002").unwrap().len(), 3);
        assert!(parse_port_spec("8000-8002:80-81").unwrap_err().contains("invalid ranges"));
        assert!(parse_port_spec("abc:80").is_err());
        assert!(parse_port_spec("80/xyz").is_err());
        assert!(parse_port_spec("1.2.3:80:80").unwrap_err().contains("invalid IP"));
        assert_eq!(parse_port(&json!(80)).unwrap()[0]["target"], 80);
        let long = parse_port(&json!({"target": "80", "published": 8080})).unwrap();
        assert_eq!(long[0], json!({"target":80,"published":"8080","protocol":"tcp","mode":"ingress"}));
    }

    #[test]
    fn volumes_short_forms() {
        let c = ctx();
        assert_eq!(
            normalize_volume(&json!("./data:/srv:ro"), &c).unwrap(),
            json!({"type":"bind","source":"/proj/data","target":"/srv","read_only":true,"bind":{"create_host_path":true}})
        );
        assert_eq!(
            normalize_volume(&json!("data:/srv"), &c).unwrap(),
            json!({"type":"volume","source":"data","target":"/srv","volume":{}})
        );
        assert_eq!(
            normalize_volume(&json!("/anon"), &c).unwrap(),
            json!({"type":"volume","target":"/anon","volume":{}})
        );
        assert_eq!(
            normalize_volume(&json!("~/x:/x:z,rshared"), &c).unwrap(),
            json!({"type":"bind","source":"/home/u/x","target":"/x","bind":{"create_host_path":true,"selinux":"z","propagation":"rshared"}})
        );
        assert_eq!(
            normalize_volume(&json!("v:/x:nocopy"), &c).unwrap()["volume"],
            json!({"nocopy": true})
        );
        assert_eq!(
            normalize_volume(&json!({"type":"bind","source":"rel","target":"/t"}), &c).unwrap()["source"],
            "/proj/rel"
        );
        assert!(normalize_volume(&json!("a:b:c:d"), &c).unwrap_err().contains("too many colons"));
        assert!(normalize_volume(&json!("a::b"), &c).unwrap_err().contains("empty section"));
    }

    #[test]
    fn service_short_syntaxes() {
        let mut svc = json!({
            "build": "./app",
            "command": "sh -c 'echo hi'",
            "environment": ["A=1", "B", "C=x=y"],
            "labels": ["l1=v", "l2"],
            "env_file": ["a.env", {"path": "b.env", "required": "false"}],
            "depends_on": ["db"],
            "networks": ["front"],
            "secrets": ["s1"],
            "extra_hosts": ["h1:1.2.3.4", "h6:::1", "h2=5.6.7.8"],
            "healthcheck": {"test": "curl -f localhost"},
            "tmpfs": "/run",
            "devices": ["/dev/a:/dev/b:r"],
            "expose": [3000],
            "sysctls": {"net.core.somaxconn": 1024}
        });
        normalize_service("web", &mut svc, &ctx()).unwrap();
        assert_eq!(svc["build"], json!({"context": "/proj/app", "dockerfile": "Dockerfile"}));
        assert_eq!(svc["command"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(svc["environment"], json!({"A": "1", "B": null, "C": "x=y"}));
        assert_eq!(svc["labels"], json!({"l1": "v", "l2": ""}));
        assert_eq!(
            svc["env_file"],
            json!([{"path": "/proj/a.env", "required": true}, {"path": "/proj/b.env", "required": false}])
        );
        assert_eq!(svc["depends_on"], json!({"db": {"condition": "service_started", "required": true}}));
        assert_eq!(svc["networks"], json!({"front": null}));
        assert_eq!(svc["secrets"], json!([{"source": "s1"}]));
        assert_eq!(svc["extra_hosts"], json!(["h1=1.2.3.4", "h6=::1", "h2=5.6.7.8"]));
        assert_eq!(svc["healthcheck"]["test"], json!(["CMD-SHELL", "curl -f localhost"]));
        assert_eq!(svc["tmpfs"], json!(["/run"]));
        assert_eq!(svc["devices"], json!([{"source": "/dev/a", "target": "/dev/b", "permissions": "r"}]));
        assert_eq!(svc["expose"], json!(["3000"]));
        assert_eq!(svc["sysctls"], json!({"net.core.somaxconn": "1024"}));
    }

    #[test]
    fn extra_hosts_map_form() {
        let mut svc = json!({"extra_hosts": {"a": "1.1.1.1", "b": ["2.2.2.2", "::2"]}});
        normalize_service("w", &mut svc, &ctx()).unwrap();
        assert_eq!(svc["extra_hosts"], json!(["a=1.1.1.1", "b=2.2.2.2", "b=::2"]));
    }

    #[test]
    fn bad_command_quotes_name_the_key() {
        let mut svc = json!({"command": "echo 'unterminated"});
        let e = normalize_service("web", &mut svc, &ctx()).unwrap_err();
        assert!(e.to_string().starts_with("compose.yaml: services.web.command: "), "{e}");
    }

    #[test]
    fn remote_build_context_untouched() {
        let mut svc = json!({"build": "https://github.com/x/y.git#main"});
        normalize_service("w", &mut svc, &ctx()).unwrap();
        assert_eq!(svc["build"]["context"], "https://github.com/x/y.git#main");
    }
}
