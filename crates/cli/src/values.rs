//! Flag values parsed with the rules docker's CLI uses (go-units sizes, Go durations,
//! nat port specs, ulimits, devices, restart policies, mounts), so a bad value fails
//! here, with docker's wording, before anything reaches the daemon.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

/// go-units `RAMInBytes`: binary multiples, `512`, `64m`, `1.5GiB`, `2 g`; its
/// messages (`invalid size: 'x'`, `invalid suffix: 'q'`).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    // The number ends at the last digit, dot or space (go-units' parseSize).
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, sfx) = if s.as_bytes()[sep] != b' ' { (&s[..=sep], &s[sep + 1..]) } else { (&s[..sep], &s[sep + 1..]) };
    let size: f64 = num.parse().map_err(|_| format!("strconv.ParseFloat: parsing \"{num}\": invalid syntax"))?;
    if size < 0.0 || num.starts_with(['+', '-']) {
        return Err(format!("invalid size: '{s}'"));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = || format!("invalid suffix: '{}'", if sfx.len() > 3 { sfx.to_owned() } else { sfx.to_ascii_lowercase() });
    if sfx.len() > 3 {
        return Err(bad());
    }
    let l = sfx.to_ascii_lowercase();
    let b = l.as_bytes();
    if b[0] == b'b' {
        return if b.len() == 1 { Ok(size as i64) } else { Err(bad()) };
    }
    let mult: f64 = match b[0] {
        b'k' => 1024f64,
        b'm' => 1024f64.powi(2),
        b'g' => 1024f64.powi(3),
        b't' => 1024f64.powi(4),
        b'p' => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    if (b.len() == 2 && b[1] != b'b') || (b.len() == 3 && &l[1..] != "ib") {
        return Err(bad());
    }
    Ok((size * mult) as i64)
}

/// `--memory-swap`: `-1` for unlimited, otherwise a size.
pub fn mem_swap_bytes(s: &str) -> Result<i64, String> {
    if s == "-1" {
        Ok(-1)
    } else {
        ram_in_bytes(s)
    }
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let num = &rest[..end];
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        rest = &rest[end..];
        let uend = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..uend] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            u => return Err(format!("time: unknown unit \"{u}\" in duration \"{s}\"")),
        };
        total += n * unit;
        rest = &rest[uend..];
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(if neg { -(total as i64) } else { total as i64 })
}

/// `--cpus`: a decimal number of CPUs, as nano-CPUs (docker's `opts.NanoCPUs`).
pub fn nano_cpus(s: &str) -> Result<i64, String> {
    let bad = || format!("failed to parse {s} as a rational number");
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() || !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let frac_trimmed = frac.trim_end_matches('0');
    if frac_trimmed.len() > 9 {
        return Err("value is too precise".into());
    }
    let whole: i64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
    let fracn: i64 = if frac_trimmed.is_empty() { 0 } else { format!("{frac_trimmed:0<9}").parse().map_err(|_| bad())? };
    whole.checked_mul(1_000_000_000).and_then(|w| w.checked_add(fracn)).ok_or_else(bad)
}

/// nat's `ParsePortRange`: `80` or `8000-8010`, each a u16.
fn port_range(s: &str) -> Result<(u16, u16), String> {
    // Go's ParseUint: digits only (Rust's parse would take a leading '+').
    let parse = |p: &str| {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("strconv.ParseUint: parsing \"{p}\": invalid syntax"));
        }
        p.parse::<u16>().map_err(|_| format!("strconv.ParseUint: parsing \"{p}\": value out of range"))
    };
    match s.split_once('-') {
        None => {
            let p = parse(s)?;
            Ok((p, p))
        }
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if b < a {
                return Err(format!("invalid range specified for port: {s}"));
            }
            Ok((a, b))
        }
    }
}

/// nat's `SplitProtoPort`: `80/udp` → (`udp`, `80`); tcp by default.
fn split_proto(raw: &str) -> (String, String) {
    let mut parts = raw.splitn(2, '/');
    let port = parts.next().unwrap_or("").to_owned();
    match parts.next() {
        Some(p) if !p.is_empty() => (p.to_owned(), port),
        _ => ("tcp".to_owned(), port),
    }
}

/// Published and exposed ports, in the create body's shapes.
#[derive(Default, Debug)]
pub struct Ports {
    pub exposed: BTreeMap<String, Value>,
    pub bindings: BTreeMap<String, Vec<Value>>,
}

/// One `-p` value, as nat's `ParsePortSpec` reads it:
/// `[ip:][hostPort:]containerPort[/proto]`, ports or ranges, IPv6 in brackets.
pub fn add_publish(ports: &mut Ports, spec: &str) -> Result<(), String> {
    let (proto, raw) = split_proto(spec);
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1].to_owned();
    let (mut ip, host) = match n {
        1 => (String::new(), String::new()),
        2 => (String::new(), parts[0].to_owned()),
        3 => (parts[0].to_owned(), parts[1].to_owned()),
        _ => (parts[..n - 2].join(":"), parts[n - 2].to_owned()),
    };
    if let Some(inner) = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
        ip = inner.to_owned();
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let (start, end) = port_range(&container).map_err(|_| format!("invalid containerPort: {container}"))?;
    let (hstart, hend) = if host.is_empty() { (0, 0) } else { port_range(&host).map_err(|_| format!("invalid hostPort: {host}"))? };
    if !host.is_empty() && (end - start) != (hend - hstart) && end != start {
        return Err(format!("invalid ranges specified for container and host Ports: {container} and {host}"));
    }
    if !matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    for i in 0..=(end - start) {
        let port = format!("{}/{}", start + i, proto.to_ascii_lowercase());
        let host_port = if host.is_empty() {
            String::new()
        } else if end == start && hend != hstart {
            // One container port, a host range: the daemon picks a free one of them.
            format!("{hstart}-{hend}")
        } else {
            (hstart + i).to_string()
        };
        ports.exposed.insert(port.clone(), json!({}));
        ports.bindings.entry(port).or_default().push(json!({"HostIp": ip, "HostPort": host_port}));
    }
    Ok(())
}

/// docker's `convertToStandardNotation`: `-p target=80,published=8080,protocol=udp`
/// (the long syntax) into `8080:80/udp`; anything without `=` as it is.
pub fn publish_standard_notation(spec: &str) -> Result<String, String> {
    if !spec.contains('=') {
        return Ok(spec.to_owned());
    }
    let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
    for param in spec.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => return Err(format!("invalid publish opts format (should be name=value but got '{param}')")),
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or("");
    Ok(format!("{}:{}/{}", get("published"), get("target"), get("protocol")))
}

/// One `--network` value: a name, or docker's long syntax
/// `name=NET,alias=A,ip=IP,ip6=IP,mac-address=MAC,link-local-ip=IP,driver-opt=k=v,gw-priority=N`.
#[derive(Debug, Default, Clone)]
pub struct NetworkAttachment {
    pub target: String,
    pub aliases: Vec<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub mac: Option<String>,
    pub link_local: Vec<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub gw_priority: i64,
}

pub fn network_attachment(value: &str) -> Result<NetworkAttachment, String> {
    if !value.contains('=') {
        return Ok(NetworkAttachment { target: value.to_owned(), ..Default::default() });
    }
    let mut a = NetworkAttachment::default();
    for field in value.split(',') {
        let (key, val) = field.split_once('=').filter(|(k, _)| !k.trim().is_empty()).ok_or_else(|| format!("invalid field {field}"))?;
        let val = val.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "name" => a.target = val.to_owned(),
            "alias" => a.aliases.push(val.to_owned()),
            "ip" => a.ipv4 = Some(ip_flag(val)?),
            "ip6" => a.ipv6 = Some(ip_flag(val)?),
            "mac-address" => a.mac = Some(val.to_owned()),
            "link-local-ip" => a.link_local.push(ip_flag(val)?),
            "driver-opt" => {
                let (k, v) = val.split_once('=').ok_or_else(|| format!("invalid key value pair format in driver options: {val}"))?;
                a.driver_opts.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
            "gw-priority" => a.gw_priority = val.parse().map_err(|_| format!("invalid gw-priority: {val}"))?,
            other => return Err(format!("invalid field key {other}")),
        }
    }
    if a.target.is_empty() {
        return Err("network name/id is not specified".into());
    }
    Ok(a)
}

/// Whether a network mode names a user-defined network (not default, bridge, host,
/// none or container:…), as docker's `NetworkMode.IsUserDefined`.
pub fn is_user_defined_network(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

impl NetworkAttachment {
    /// The endpoint settings docker's `parseNetworkAttachmentOpt` builds (only the
    /// fields that are set).
    pub fn endpoint(&self) -> Result<Value, String> {
        if self.target.trim().is_empty() {
            return Err("no name set for network".into());
        }
        if !is_user_defined_network(&self.target) && !self.aliases.is_empty() {
            return Err("network-scoped aliases are only supported for user-defined networks".into());
        }
        let mut ep = Map::new();
        if !self.aliases.is_empty() {
            ep.insert("Aliases".into(), json!(self.aliases));
        }
        if !self.driver_opts.is_empty() {
            ep.insert("DriverOpts".into(), json!(self.driver_opts));
        }
        if self.ipv4.is_some() || self.ipv6.is_some() || !self.link_local.is_empty() {
            let mut ipam = Map::new();
            if let Some(ip) = &self.ipv4 {
                ipam.insert("IPv4Address".into(), json!(ip));
            }
            if let Some(ip) = &self.ipv6 {
                ipam.insert("IPv6Address".into(), json!(ip));
            }
            if !self.link_local.is_empty() {
                ipam.insert("LinkLocalIPs".into(), json!(self.link_local));
            }
            ep.insert("IPAMConfig".into(), ipam.into());
        }
        if let Some(mac) = &self.mac {
            let ok = mac.trim().split(':').count() == 6 && mac.trim().split(':').all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok());
            if !ok {
                return Err(format!("{mac} is not a valid mac address"));
            }
            ep.insert("MacAddress".into(), json!(mac.trim()));
        }
        if self.gw_priority != 0 {
            ep.insert("GwPriority".into(), json!(self.gw_priority));
        }
        Ok(Value::Object(ep))
    }
}

/// `--ip`/`--ip6`: pflag's IP flag (`invalid string being converted to IP address`).
pub fn ip_flag(s: &str) -> Result<String, String> {
    s.trim().parse::<IpAddr>().map(|ip| ip.to_string()).map_err(|_| format!("invalid string being converted to IP address: {s}"))
}

/// One `--expose` value: a port or range, optional protocol, no host part.
pub fn add_expose(ports: &mut Ports, spec: &str) -> Result<(), String> {
    if spec.contains(':') {
        return Err(format!("invalid port format for --expose: {spec}"));
    }
    let (proto, port) = split_proto(spec);
    let (start, end) = port_range(&port).map_err(|e| format!("invalid range format for --expose: {spec}, error: {e}"))?;
    for p in start..=end {
        ports.exposed.insert(format!("{p}/{proto}"), json!({}));
    }
    Ok(())
}

/// `--restart`: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn restart_policy(s: &str) -> Result<Value, String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    if name.is_empty() && count.is_some() {
        return Err("invalid restart policy format: no policy provided before colon".into());
    }
    let retries: i64 = match count {
        Some(c) => c.parse().map_err(|_| format!("invalid restart policy format: maximum retry count must be an integer: {c}"))?,
        None => 0,
    };
    match name {
        "" | "no" | "always" | "unless-stopped" if count.is_some() => Err(format!("invalid restart policy: maximum retry count can only be used with 'on-failure'")),
        "" | "no" | "always" | "unless-stopped" => Ok(json!({"Name": name, "MaximumRetryCount": 0})),
        "on-failure" if retries < 0 => Err("invalid restart policy: maximum retry count cannot be negative".into()),
        "on-failure" => Ok(json!({"Name": name, "MaximumRetryCount": retries})),
        other => Err(format!("invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")),
    }
}

/// The ulimit names the kernel has (docker's go-units list).
const ULIMITS: &[&str] = &["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as"];

/// `--ulimit name=soft[:hard]`.
pub fn ulimit(s: &str) -> Result<Value, String> {
    let (name, limits) = s.split_once('=').ok_or_else(|| format!("invalid ulimit argument: {s}"))?;
    if !ULIMITS.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let (soft, hard) = match limits.split_once(':') {
        Some((a, b)) => (a, b),
        None => (limits, limits),
    };
    let num = |v: &str| v.parse::<i64>().map_err(|_| format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"));
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
    }
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

/// `--device /dev/x[:/dev/y][:rwm]`.
pub fn device(s: &str) -> Result<Value, String> {
    let valid_mode = |m: &str| !m.is_empty() && m.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, perms) = match parts.as_slice() {
        [src] => (*src, *src, "rwm"),
        [src, x] if valid_mode(x) => (*src, *src, *x),
        [src, dst] => (*src, *dst, "rwm"),
        [src, dst, m] if valid_mode(m) => (*src, *dst, *m),
        _ => return Err(format!("invalid device specification: {s}")),
    };
    if !dst.starts_with('/') {
        return Err(format!("bad format for path: {dst}"));
    }
    Ok(json!({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms}))
}

/// `--add-host host:ip` (or `host=ip`); `host-gateway` passes through.
pub fn extra_host(s: &str) -> Result<String, String> {
    let (host, ip) = s.split_once('=').or_else(|| s.split_once(':')).ok_or_else(|| format!("bad format for add-host: \"{s}\""))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("bad format for add-host: \"{s}\""));
    }
    if ip != "host-gateway" && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address in add-host: \"{ip}\""));
    }
    Ok(format!("{host}:{ip}"))
}

/// `--dns`: an IP address.
pub fn ip_address(s: &str) -> Result<String, String> {
    s.trim().parse::<IpAddr>().map(|ip| ip.to_string()).map_err(|_| format!("IP address is not correctly formatted: {s}"))
}

/// `--sysctl k=v`.
pub fn sysctl(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("sysctl '{s}' is not allowed")),
    }
}

/// `-e K=V` or `-e K` (taken from our environment when set there, as docker does).
pub fn env_var(s: &str) -> Result<String, String> {
    let (k, has_value) = match s.split_once('=') {
        Some((k, _)) => (k, true),
        None => (s, false),
    };
    if k.is_empty() {
        return Err(format!("invalid environment variable: {s}"));
    }
    if has_value {
        return Ok(s.to_owned());
    }
    Ok(match std::env::var(k) {
        Ok(v) => format!("{k}={v}"),
        Err(_) => s.to_owned(),
    })
}

/// An env or label file: `K=V` lines, `#` comments and blank lines skipped; a bare
/// name takes its value from our environment when `lookup` (env files) is set.
pub fn kv_file(path: &str, lookup: bool) -> Result<Vec<String>, String> {
    let text = std::fs::read(path).map_err(|e| format!("open {path}: {}", crate::commands::io_msg(&e)))?;
    let text = String::from_utf8(text).map_err(|_| format!("{path}: invalid utf8 bytes"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}').trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if k.contains(char::is_whitespace) {
            return Err(format!("variable '{}' contains whitespaces", k.trim_end()));
        }
        if k.is_empty() {
            return Err(format!("no variable name on line '{line}' ({path}:{})", i + 1));
        }
        match v {
            Some(v) => out.push(format!("{k}={v}")),
            None if lookup => match std::env::var(k) {
                Ok(v) => out.push(format!("{k}={v}")),
                Err(_) => out.push(k.to_owned()),
            },
            None => out.push(k.to_owned()),
        }
    }
    Ok(out)
}

/// `--secret NAME` or `--secret source=NAME,target=FILE,uid=U,gid=G,mode=0400` (docker
/// service create's syntax) as a SecretReference item: owner 0:0 and mode 0444 unless
/// given, the mode parsed as Go's ParseUint(v, 0, 32) (`0400` octal, `256` decimal).
pub fn secret(s: &str) -> Result<Value, String> {
    let (mut name, mut target, mut uid, mut gid, mut mode) = (String::new(), String::new(), "0".to_owned(), "0".to_owned(), 0o444u64);
    if !s.contains('=') && !s.contains(',') {
        name = s.to_owned();
    } else {
        for field in s.split(',') {
            let (k, v) = field.split_once('=').filter(|(k, _)| !k.is_empty()).ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
            match k.to_ascii_lowercase().as_str() {
                "source" | "src" => name = v.to_owned(),
                "target" => target = v.to_owned(),
                "uid" => uid = v.to_owned(),
                "gid" => gid = v.to_owned(),
                "mode" => {
                    let (digits, radix) = if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                        (h, 16)
                    } else if let Some(o) = v.strip_prefix("0o").or_else(|| v.strip_prefix("0O")) {
                        (o, 8)
                    } else if v.len() > 1 && v.starts_with('0') {
                        (&v[1..], 8)
                    } else {
                        (v, 10)
                    };
                    mode = u64::from_str_radix(digits, radix).ok().filter(|m| *m <= u32::MAX as u64).ok_or_else(|| format!("invalid mode specified: strconv.ParseUint: parsing \"{v}\": invalid syntax"))?;
                }
                _ => return Err(format!("invalid field in secret request: {k}")),
            }
        }
    }
    if name.is_empty() {
        return Err("source is required".into());
    }
    if target.is_empty() {
        target = name.clone();
    }
    Ok(json!({ "File": { "Name": target, "UID": uid, "GID": gid, "Mode": mode }, "SecretName": name }))
}

/// `--mount type=bind,source=/a,target=/b,readonly,...` as HostConfig.Mounts entry.
pub fn mount(s: &str) -> Result<Value, String> {
    let mut m = Map::new();
    let mut typ = "volume".to_owned();
    let mut bind = Map::new();
    let mut volume = Map::new();
    let mut tmpfs = Map::new();
    let mut labels = Map::new();
    let mut driver = Map::new();
    let mut driver_opts = Map::new();
    let truthy = |k: &str, v: Option<&str>| -> Result<bool, String> {
        match v.map(|v| v.to_ascii_lowercase()) {
            None => Ok(true),
            Some(v) if matches!(v.as_str(), "1" | "true") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false") => Ok(false),
            Some(v) => Err(format!("invalid value for {k}: {v}")),
        }
    };
    for field in s.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = || v.map(str::to_owned).ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"));
        match k.as_str() {
            "type" => typ = need()?,
            "source" | "src" => {
                m.insert("Source".into(), need()?.into());
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), need()?.into());
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), truthy(&k, v)?.into());
            }
            "consistency" => {
                m.insert("Consistency".into(), need()?.into());
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), need()?.into());
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), truthy(&k, v)?.into());
            }
            "bind-recursive" => {
                let v = need()?;
                match v.as_str() {
                    "enabled" => {}
                    "disabled" => {
                        bind.insert("NonRecursive".into(), true.into());
                    }
                    "writable" => {
                        bind.insert("ReadOnlyNonRecursive".into(), true.into());
                    }
                    "readonly" => {
                        bind.insert("ReadOnlyForceRecursive".into(), true.into());
                    }
                    _ => return Err(format!("invalid value for {k}: {v} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")")),
                }
            }
            "volume-nocopy" | "volume-no-copy" => {
                volume.insert("NoCopy".into(), truthy(&k, v)?.into());
            }
            "volume-subpath" => {
                volume.insert("Subpath".into(), need()?.into());
            }
            "volume-label" => {
                let v = need()?;
                let (lk, lv) = v.split_once('=').unwrap_or((v.as_str(), ""));
                labels.insert(lk.into(), lv.into());
            }
            "volume-driver" => {
                driver.insert("Name".into(), need()?.into());
            }
            "volume-opt" => {
                let v = need()?;
                let (ok, ov) = v.split_once('=').ok_or_else(|| format!("invalid value for {k}: {v} (want key=value)"))?;
                driver_opts.insert(ok.into(), ov.into());
            }
            "tmpfs-size" => {
                let v = need()?;
                tmpfs.insert("SizeBytes".into(), ram_in_bytes(&v).map_err(|e| format!("invalid value for {k}: {v}: {e}"))?.into());
            }
            "tmpfs-mode" => {
                let v = need()?;
                tmpfs.insert("Mode".into(), u32::from_str_radix(&v, 8).map_err(|_| format!("invalid value for {k}: {v}"))?.into());
            }
            _ => return Err(format!("unexpected key '{k}' in '{field}'")),
        }
    }
    if !matches!(typ.as_str(), "bind" | "volume" | "tmpfs" | "image" | "npipe" | "cluster") {
        return Err(format!("invalid mount type: {typ}"));
    }
    if !m.contains_key("Target") {
        return Err("target is required".into());
    }
    if !labels.is_empty() {
        volume.insert("Labels".into(), labels.into());
    }
    if !driver_opts.is_empty() {
        driver.insert("Options".into(), driver_opts.into());
    }
    if !driver.is_empty() {
        volume.insert("DriverConfig".into(), driver.into());
    }
    m.insert("Type".into(), typ.clone().into());
    if !bind.is_empty() {
        if typ != "bind" {
            return Err(format!("cannot mix 'bind-*' options with mount type '{typ}'"));
        }
        m.insert("BindOptions".into(), bind.into());
    }
    if !volume.is_empty() {
        if typ != "volume" {
            return Err(format!("cannot mix 'volume-*' options with mount type '{typ}'"));
        }
        m.insert("VolumeOptions".into(), volume.into());
    }
    if !tmpfs.is_empty() {
        if typ != "tmpfs" {
            return Err(format!("cannot mix 'tmpfs-*' options with mount type '{typ}'"));
        }
        m.insert("TmpfsOptions".into(), tmpfs.into());
    }
    Ok(Value::Object(m))
}

/// A `-v` value: `Some` source means a bind or named volume (goes to Binds), `None`
/// an anonymous volume at the target (goes to Config.Volumes).
pub fn volume(s: &str) -> Result<Option<String>, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || format!("invalid spec: {s}: too many colons");
    match parts.as_slice() {
        [""] => Err(format!("invalid empty volume spec")),
        [target] => {
            if !target.starts_with('/') {
                return Err(format!("invalid volume specification: '{s}': invalid mount config for type \"volume\": invalid mount path: '{target}' mount path must be absolute"));
            }
            Ok(None)
        }
        [src, dst] | [src, dst, _] => {
            if src.is_empty() || dst.is_empty() {
                return Err(format!("invalid volume specification: '{s}'"));
            }
            if !dst.starts_with('/') {
                return Err(format!("invalid volume specification: '{s}': invalid mount config for type \"{}\": invalid mount path: '{dst}' mount path must be absolute", if src.starts_with('/') { "bind" } else { "volume" }));
            }
            Ok(Some(s.to_owned()))
        }
        _ => Err(bad()),
    }
}

/// `--detach-keys`: comma-separated `a`..`z`, `ctrl-@`, `ctrl-a`..`ctrl-z`,
/// `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`, `ctrl-_` (docker's term.ToBytes).
pub fn detach_keys(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(c) = k.to_ascii_lowercase().strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("invalid detach keys ({s}) provided")),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("invalid detach keys ({s}) provided"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units_ram_in_bytes() {
        assert_eq!(ram_in_bytes("512").unwrap(), 512);
        assert_eq!(ram_in_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(ram_in_bytes("2 GiB").unwrap(), 2 << 30);
        assert_eq!(ram_in_bytes("10kb").unwrap(), 10240);
        assert_eq!(ram_in_bytes("12q").unwrap_err(), "invalid suffix: 'q'");
        assert_eq!(ram_in_bytes("m").unwrap_err(), "invalid size: 'm'");
        assert_eq!(ram_in_bytes("1mx").unwrap_err(), "invalid suffix: 'mx'");
        assert!(ram_in_bytes("").is_err());
        assert!(ram_in_bytes("1.2.3m").is_err());
        assert!(ram_in_bytes("-1").is_err());
        assert_eq!(mem_swap_bytes("-1").unwrap(), -1);
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration("1h2m3.5s").unwrap(), 3_723_500_000_000);
        assert_eq!(go_duration("300ms").unwrap(), 300_000_000);
        assert_eq!(go_duration("0").unwrap(), 0);
        assert_eq!(go_duration("-1s").unwrap(), -1_000_000_000);
        assert_eq!(go_duration("10").unwrap_err(), "time: missing unit in duration \"10\"");
        assert_eq!(go_duration("abc").unwrap_err(), "time: invalid duration \"abc\"");
        assert_eq!(go_duration("5x").unwrap_err(), "time: unknown unit \"x\" in duration \"5x\"");
    }

    #[test]
    fn cpus() {
        assert_eq!(nano_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(nano_cpus("2").unwrap(), 2_000_000_000);
        assert_eq!(nano_cpus(".25").unwrap(), 250_000_000);
        assert_eq!(nano_cpus("x").unwrap_err(), "failed to parse x as a rational number");
        assert_eq!(nano_cpus("0.0000000001").unwrap_err(), "value is too precise");
    }

    #[test]
    fn publish_specs_like_nat() {
        let mut p = Ports::default();
        add_publish(&mut p, "8080:80").unwrap();
        add_publish(&mut p, "127.0.0.1:53:53/udp").unwrap();
        add_publish(&mut p, "9000").unwrap();
        add_publish(&mut p, "[::1]:7000-7001:7000-7001").unwrap();
        assert_eq!(p.bindings["80/tcp"], vec![json!({"HostIp": "", "HostPort": "8080"})]);
        assert_eq!(p.bindings["53/udp"], vec![json!({"HostIp": "127.0.0.1", "HostPort": "53"})]);
        assert_eq!(p.bindings["9000/tcp"], vec![json!({"HostIp": "", "HostPort": ""})]);
        assert_eq!(p.bindings["7001/tcp"], vec![json!({"HostIp": "::1", "HostPort": "7001"})]);
        assert!(p.exposed.contains_key("7000/tcp"));
        assert_eq!(add_publish(&mut p, "99999:80").unwrap_err(), "invalid hostPort: 99999");
        assert_eq!(add_publish(&mut p, "80:99999").unwrap_err(), "invalid containerPort: 99999");
        assert_eq!(add_publish(&mut p, "1.2.3:80:80").unwrap_err(), "invalid IP address: 1.2.3");
        assert_eq!(add_publish(&mut p, "80/xyz").unwrap_err(), "invalid proto: xyz");
        assert!(add_publish(&mut p, "1-3:1-2").is_err());
        add_expose(&mut p, "5000-5001/udp").unwrap();
        assert!(p.exposed.contains_key("5001/udp"));
        assert_eq!(add_expose(&mut p, "1:2").unwrap_err(), "invalid port format for --expose: 1:2");
    }

    #[test]
    fn restart_policies() {
        assert_eq!(restart_policy("always").unwrap(), json!({"Name": "always", "MaximumRetryCount": 0}));
        assert_eq!(restart_policy("on-failure:3").unwrap(), json!({"Name": "on-failure", "MaximumRetryCount": 3}));
        assert!(restart_policy("sometimes").unwrap_err().contains("unknown policy 'sometimes'"));
        assert!(restart_policy("on-failure:x").is_err());
        assert!(restart_policy(":3").is_err());
        assert!(restart_policy("always:3").is_err());
    }

    #[test]
    fn ulimits_devices_hosts() {
        assert_eq!(ulimit("nofile=1024:2048").unwrap(), json!({"Name": "nofile", "Soft": 1024, "Hard": 2048}));
        assert_eq!(ulimit("nproc=10").unwrap(), json!({"Name": "nproc", "Soft": 10, "Hard": 10}));
        assert_eq!(ulimit("bogus=1").unwrap_err(), "invalid ulimit type: bogus");
        assert_eq!(ulimit("nofile").unwrap_err(), "invalid ulimit argument: nofile");
        assert_eq!(ulimit("nofile=x").unwrap_err(), "strconv.ParseInt: parsing \"x\": invalid syntax");
        assert!(ulimit("nofile=10:5").is_err());
        assert_eq!(device("/dev/fuse").unwrap(), json!({"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}));
        assert_eq!(device("/dev/a:/dev/b:r").unwrap()["PathInContainer"], "/dev/b");
        assert_eq!(device("/dev/a:r").unwrap()["CgroupPermissions"], "r");
        assert!(device("/dev/a:b").is_err());
        assert_eq!(extra_host("db:10.0.0.2").unwrap(), "db:10.0.0.2");
        assert_eq!(extra_host("db=::1").unwrap(), "db:::1");
        assert_eq!(extra_host("gw:host-gateway").unwrap(), "gw:host-gateway");
        assert!(extra_host("db:nope").is_err());
        assert!(ip_address("8.8.8").is_err());
    }

    #[test]
    fn mounts_and_volumes() {
        let m = mount("type=bind,source=/a,target=/b,readonly,bind-propagation=rslave").unwrap();
        assert_eq!(m, json!({"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true, "BindOptions": {"Propagation": "rslave"}}));
        let t = mount("type=tmpfs,dst=/t,tmpfs-size=1m").unwrap();
        assert_eq!(t["TmpfsOptions"]["SizeBytes"], 1 << 20);
        assert_eq!(mount("type=volume,src=v").unwrap_err(), "target is required");
        assert!(mount("type=bogus,target=/x").is_err());
        assert!(mount("type=volume,target=/x,bind-propagation=shared").is_err());
        assert_eq!(volume("/data").unwrap(), None);
        assert_eq!(volume("v:/data:ro").unwrap().as_deref(), Some("v:/data:ro"));
        assert!(volume("data").is_err());
        assert!(volume("a:b:c:d").is_err());
    }

    #[test]
    fn detach_key_sequences() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(detach_keys("a,ctrl-@,ctrl-_").unwrap(), vec![b'a', 0, 31]);
        assert!(detach_keys("ctrl-").is_err());
        assert!(detach_keys("abc").is_err());
    }

    #[test]
    fn env_values() {
        assert_eq!(env_var("A=1").unwrap(), "A=1");
        assert_eq!(env_var("BERTH_SURELY_UNSET_VAR").unwrap(), "BERTH_SURELY_UNSET_VAR");
        assert!(env_var("=x").is_err());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(&f, "# c\n\nA=1\nB = 2\n").unwrap();
        assert!(kv_file(f.to_str().unwrap(), true).is_err());
        std::fs::write(&f, "# c\n\nA=1\nC=x=y\n").unwrap();
        assert_eq!(kv_file(f.to_str().unwrap(), true).unwrap(), vec!["A=1", "C=x=y"]);
    }
}
