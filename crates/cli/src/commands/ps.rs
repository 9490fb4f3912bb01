//! `ps` / `container ls`: docker's table and `--format` fields over GET /containers/json.

use berth_api::client::query;
use berth_api::Filters;
use clap::Args;
use serde_json::{json, Map, Value};

use super::{client, fail, render};
use crate::units::{go_time_string, human_duration, human_size, since};
use crate::{CmdResult, Global};

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)
    #[arg(long = "format")]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    size: bool,
}

pub fn ps(g: &Global, a: PsArgs) -> CmdResult {
    let mut filters = Filters::new();
    for f in &a.filter {
        filters.add_cli(f).map_err(|e| fail(e.0))?;
    }
    let limit = if a.latest { 1 } else { a.last };
    let format = if a.quiet { "" } else { a.format.as_deref().unwrap_or("") };
    // docker asks for sizes when they are shown, also through a template.
    let want_size = a.size || format.contains(".Size");
    let q = query([
        ("all", (a.all || limit > 0).then(|| "1".to_owned())),
        ("limit", (limit > 0).then(|| limit.to_string())),
        ("size", want_size.then(|| "1".to_owned())),
        ("filters", (!filters.is_empty()).then(|| filters.to_json())),
    ]);
    let c = client(g)?;
    let list: Vec<Value> = c.get_json(&format!("/containers/json{q}"))?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = list.iter().map(|s| row(s, !a.no_trunc, now)).collect();
    let default = if a.quiet {
        "{{.ID}}"
    } else if a.size {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
    } else {
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    };
    let headers = json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT", "RunningFor": "CREATED",
        "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS",
        "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
        "__Label": {},
    });
    print!("{}", render(format, default, &rows, &headers)?);
    Ok(())
}

/// Go's `strconv.Quote` for the command column.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// docker's formatter.Ellipsis: at most `max` characters, the last one `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    format!("{}…", s.chars().take(max.saturating_sub(1)).collect::<String>())
}

/// docker's `DisplayablePorts`: published ports as `ip:host->container/proto`, runs of
/// consecutive ports folded into ranges, sorted.
pub fn display_ports(ports: &[Value]) -> String {
    use std::collections::BTreeMap;
    // (host ip, proto, public present) → [(private, public)]
    let mut groups: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for p in ports {
        let private = p["PrivatePort"].as_i64().unwrap_or(0);
        let public = p["PublicPort"].as_i64().unwrap_or(0);
        let proto = p["Type"].as_str().unwrap_or("tcp");
        let ip = p["IP"].as_str().unwrap_or("");
        let key = if public != 0 { format!("{ip}|{proto}|1") } else { format!("|{proto}|0") };
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push((private, public));
    }
    let mut out = Vec::new();
    for key in order {
        let mut parts = key.splitn(3, '|');
        let (ip, proto, published) = (parts.next().unwrap_or(""), parts.next().unwrap_or("tcp"), parts.next() == Some("1"));
        let mut list = groups.remove(&key).unwrap_or_default();
        list.sort();
        list.dedup();
        let mut i = 0;
        while i < list.len() {
            let mut j = i;
            while j + 1 < list.len() && list[j + 1].0 == list[j].0 + 1 && (!published || list[j + 1].1 == list[j].1 + 1) {
                j += 1;
            }
            let range = |a: i64, b: i64| if a == b { a.to_string() } else { format!("{a}-{b}") };
            let private = range(list[i].0, list[j].0);
            if published {
                let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_owned() };
                out.push((list[i].0, format!("{host}:{}->{private}/{proto}", range(list[i].1, list[j].1))));
            } else {
                out.push((list[i].0, format!("{private}/{proto}")));
            }
            i = j + 1;
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join(", ")
}

/// The status text as docker's daemon writes it (`container.State.String()`), for
/// a daemon that leaves `Status` empty. Times are UNIX seconds; 0 means never.
pub fn status_text(state: &str, started: i64, finished: i64, exit_code: i64, health: Option<&str>, now: i64) -> String {
    let health = match health {
        Some("starting") => " (health: starting)".to_owned(),
        Some(h @ ("healthy" | "unhealthy")) => format!(" ({h})"),
        _ => String::new(),
    };
    match state {
        "paused" => format!("Up {} (Paused)", human_duration(now - started)),
        "restarting" => format!("Restarting ({exit_code}) {} ago", human_duration(now - finished)),
        "running" => format!("Up {}{health}", human_duration(now - started)),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        _ if started == 0 => "Created".into(),
        _ if finished == 0 => String::new(),
        _ => format!("Exited ({exit_code}) {} ago", human_duration(now - finished)),
    }
}

/// One row with docker's ps formatter fields.
pub fn row(s: &Value, trunc: bool, now: i64) -> Value {
    let id = s["Id"].as_str().unwrap_or("");
    let image = s["Image"].as_str().unwrap_or("");
    let image = if trunc && image.starts_with("sha256:") { image[7..].chars().take(12).collect() } else { image.to_owned() };
    let command = s["Command"].as_str().unwrap_or("");
    let created = s["Created"].as_i64().unwrap_or(0);
    let names: Vec<String> = s["Names"].as_array().into_iter().flatten().filter_map(Value::as_str).map(|n| n.trim_start_matches('/').to_owned()).collect();
    let names = if trunc { names.iter().find(|n| !n.contains('/')).cloned().map(|n| vec![n]).unwrap_or(names) } else { names };
    let labels: Map<String, Value> = s["Labels"].as_object().cloned().unwrap_or_default();
    let mut label_pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
    label_pairs.sort();
    let mounts: Vec<Value> = s["Mounts"].as_array().cloned().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let n = m["Name"].as_str().filter(|n| !n.is_empty()).or(m["Source"].as_str()).unwrap_or("");
            if trunc {
                ellipsis(n, 15)
            } else {
                n.to_owned()
            }
        })
        .collect();
    let local_volumes = mounts.iter().filter(|m| m["Driver"].as_str() == Some("local")).count();
    let mut networks: Vec<String> = s["NetworkSettings"]["Networks"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    networks.sort();
    let size_rw = s["SizeRw"].as_f64().unwrap_or(0.0);
    let size_root = s["SizeRootFs"].as_f64().unwrap_or(0.0);
    let size = if size_root > 0.0 { format!("{} (virtual {})", human_size(size_rw), human_size(size_root)) } else { human_size(size_rw) };
    let state = s["State"].as_str().unwrap_or("");
    let status = match s["Status"].as_str() {
        Some(st) if !st.is_empty() => st.to_owned(),
        _ => status_text(state, 0, 0, 0, None, now),
    };
    json!({
        "ID": if trunc { id.chars().take(12).collect::<String>() } else { id.to_owned() },
        "Image": image,
        "Command": go_quote(&if trunc { ellipsis(command, 20) } else { command.to_owned() }),
        "CreatedAt": go_time_string(created),
        "RunningFor": if created == 0 { String::new() } else { since(created) },
        "Ports": display_ports(s["Ports"].as_array().map(Vec::as_slice).unwrap_or(&[])),
        "State": state,
        "Status": status,
        "Size": size,
        "Names": names.join(","),
        "Labels": label_pairs.join(","),
        "Mounts": mount_names.join(","),
        "Networks": networks.join(","),
        "LocalVolumes": local_volumes.to_string(),
        // `{{.Label "key"}}`: the template engine calls `__Label` with the argument.
        "__Label": labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_strings_like_dockers_daemon() {
        let now = 1_000_000;
        assert_eq!(status_text("created", 0, 0, 0, None, now), "Created");
        assert_eq!(status_text("running", now - 3, 0, 0, None, now), "Up 3 seconds");
        assert_eq!(status_text("running", now - 3, 0, 0, Some("healthy"), now), "Up 3 seconds (healthy)");
        assert_eq!(status_text("running", now - 120, 0, 0, Some("starting"), now), "Up 2 minutes (health: starting)");
        assert_eq!(status_text("paused", now - 2, 0, 0, None, now), "Up 2 seconds (Paused)");
        assert_eq!(status_text("exited", now - 10, now - 5, 0, None, now), "Exited (0) 5 seconds ago");
        assert_eq!(status_text("exited", now - 10, now - 5, 137, None, now), "Exited (137) 5 seconds ago");
        assert_eq!(status_text("restarting", now - 10, now - 1, 1, None, now), "Restarting (1) 1 second ago");
        assert_eq!(status_text("dead", 1, 1, 0, None, now), "Dead");
    }

    #[test]
    fn command_column() {
        assert_eq!(go_quote(&ellipsis("sleep 1000", 20)), "\"sleep 1000\"");
        assert_eq!(go_quote(&ellipsis("sh -c 'while true; do echo hi; done'", 20)), "\"sh -c 'while true; …\"");
        assert_eq!(go_quote("echo \"a\"\n"), "\"echo \\\"a\\\"\\n\"");
    }

    #[test]
    fn ports_column() {
        let p = vec![
            json!({"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}),
            json!({"IP": "0.0.0.0", "PrivatePort": 81, "PublicPort": 8081, "Type": "tcp"}),
            json!({"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}),
            json!({"PrivatePort": 9000, "Type": "udp"}),
        ];
        assert_eq!(display_ports(&p), "0.0.0.0:8080-8081->80-81/tcp, 9000/udp, [::]:8080->80/tcp");
        assert_eq!(display_ports(&[]), "");
    }

    #[test]
    fn row_fields() {
        let s = json!({
            "Id": "0123456789abcdef0123", "Names": ["/web"], "Image": "busybox", "Command": "sh", "Created": 0,
            "State": "exited", "Status": "Exited (0) 2 seconds ago", "Labels": {"b": "2", "a": "1"},
            "Mounts": [{"Name": "averyveryverylongvolumename", "Driver": "local"}], "NetworkSettings": {"Networks": {"bridge": {}}},
            "SizeRw": 0, "SizeRootFs": 4_260_000,
        });
        let r = row(&s, true, 0);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sh\"");
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["Mounts"], "averyveryveryl…");
        assert_eq!(r["Networks"], "bridge");
        assert_eq!(r["Size"], "0B (virtual 4.26MB)");
        assert_eq!(r["LocalVolumes"], "1");
        let t = crate::template::Template::parse("{{.Label \"a\"}}|{{.Names}}").unwrap();
        assert_eq!(t.render(&r).unwrap(), "1|web");
    }
}
