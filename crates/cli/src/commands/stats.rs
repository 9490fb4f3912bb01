//! `stats`: one sample per container from GET /containers/{id}/stats?stream=false,
//! redrawn every second unless --no-stream, in docker's columns.

use std::io::Write;

use berth_api::client::{encode, query, Body};
use berth_api::Client;
use clap::Args;
use serde_json::{json, Value};

use super::{client, render};
use crate::units::{bytes_size, human_size};
use crate::{CmdResult, Global};

/// `stats`'s flags (shared with `compose stats`).
#[derive(Args)]
pub struct StatsOptions {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    opts: StatsOptions,
    /// CONTAINER [CONTAINER...]
    containers: Vec<String>,
}

/// docker's stats row from one stats body (cgroup v1 or v2 memory figures).
pub fn stats_row(name: &str, id: &str, s: &Value, trunc: bool) -> Value {
    let cpu_total = s["cpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
    let pre_total = s["precpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
    let sys = s["cpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0);
    let pre_sys = s["precpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0);
    let online = s["cpu_stats"]["online_cpus"].as_f64().filter(|n| *n > 0.0).unwrap_or_else(|| s["cpu_stats"]["cpu_usage"]["percpu_usage"].as_array().map(|a| a.len() as f64).unwrap_or(1.0));
    let (cpu_delta, sys_delta) = (cpu_total - pre_total, sys - pre_sys);
    let cpu = if cpu_delta > 0.0 && sys_delta > 0.0 { cpu_delta / sys_delta * online * 100.0 } else { 0.0 };
    // Page cache is not the container's own use: docker subtracts it
    // (total_inactive_file on v1, inactive_file on v2).
    let usage = s["memory_stats"]["usage"].as_f64().unwrap_or(0.0);
    let st = &s["memory_stats"]["stats"];
    let cache = st["total_inactive_file"].as_f64().or_else(|| st["inactive_file"].as_f64()).unwrap_or(0.0);
    let mem = if cache < usage { usage - cache } else { usage };
    let limit = s["memory_stats"]["limit"].as_f64().unwrap_or(0.0);
    let mem_pct = if limit > 0.0 { mem / limit * 100.0 } else { 0.0 };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s["networks"].as_object().into_iter().flat_map(|m| m.values()) {
        rx += n["rx_bytes"].as_f64().unwrap_or(0.0);
        tx += n["tx_bytes"].as_f64().unwrap_or(0.0);
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"].as_array().into_iter().flatten() {
        match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read += e["value"].as_f64().unwrap_or(0.0),
            Some("write") => write += e["value"].as_f64().unwrap_or(0.0),
            _ => {}
        }
    }
    let pids = s["pids_stats"]["current"].as_u64().unwrap_or(0);
    json!({
        "Container": name,
        "ID": if trunc { id.chars().take(12).collect::<String>() } else { id.to_owned() },
        "Name": name.trim_start_matches('/'),
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)),
        "BlockIO": format!("{} / {}", human_size(read), human_size(write)),
        "PIDs": pids.to_string(),
    })
}

fn sample(c: &Client, names: &[String], trunc: bool) -> Vec<Value> {
    let mut rows = Vec::new();
    for n in names {
        match c.call("GET", &format!("/containers/{}/stats{}", encode(n), query([("stream", Some("false".to_owned()))])), Body::Empty).and_then(|r| r.json::<Value>()) {
            Ok(s) => {
                let id = s["id"].as_str().unwrap_or(n).to_owned();
                let name = s["name"].as_str().unwrap_or(n).to_owned();
                rows.push(stats_row(&name, &id, &s, trunc));
            }
            Err(_) => rows.push(json!({"Container": n, "ID": n, "Name": n, "CPUPerc": "--", "MemUsage": "-- / --", "MemPerc": "--", "NetIO": "--", "BlockIO": "--", "PIDs": "--"})),
        }
    }
    rows
}

pub fn stats(g: &Global, a: StatsArgs) -> CmdResult {
    stats_of(g, &a.opts, a.containers)
}

/// `stats` of `containers` (all running ones, or all with `--all`, when empty).
pub fn stats_of(g: &Global, o: &StatsOptions, containers: Vec<String>) -> CmdResult {
    let c = client(g)?;
    let names: Vec<String> = if containers.is_empty() {
        let list: Vec<Value> = c.get_json(&format!("/containers/json{}", query([("all", o.all.then(|| "1".to_owned()))])))?;
        list.iter().filter_map(|s| s["Id"].as_str().map(str::to_owned)).collect()
    } else {
        // Named containers that do not exist are an error up front, as in docker.
        for n in &containers {
            c.call("GET", &format!("/containers/{}/json", encode(n)), Body::Empty)?;
        }
        containers
    };
    let default = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
    let headers = json!({"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"});
    let format = o.format.as_deref().unwrap_or("");
    loop {
        let rows = sample(&c, &names, !o.no_trunc);
        let out = render(format, default, &rows, &headers)?;
        if o.no_stream {
            print!("{out}");
            return Ok(());
        }
        // Clear and redraw, as docker's streaming view does.
        let mut w = std::io::stdout().lock();
        let _ = write!(w, "\x1b[2J\x1b[H{out}");
        let _ = w.flush();
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_from_stats_body() {
        let s = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 2_097_152, "limit": 1_073_741_824u64, "stats": {"inactive_file": 1_048_576}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": 4096}, {"op": "write", "value": 0}]},
            "pids_stats": {"current": 3},
        });
        let r = stats_row("/web", "0123456789abcdef", &s, true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "1MiB / 1GiB");
        assert_eq!(r["MemPerc"], "0.10%");
        assert_eq!(r["NetIO"], "1.5kB / 0B");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["PIDs"], "3");
    }
}
