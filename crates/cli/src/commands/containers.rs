//! Container commands that are one call per container: stop, restart, kill, rm, wait,
//! pause, unpause, rename, top, port, diff, export, update, commit, container prune.

use std::io;

use berth_api::client::{encode, query, Body};
use berth_api::{Client, ClientError, Filters};
use clap::Args;
use serde_json::{json, Map, Value};

use super::{client, fail, is_tty};
use crate::units::human_size;
use crate::{CmdResult, Failure, Global};

/// Runs `f` for each container, printing what it returns on stdout and errors on
/// stderr as docker does; any error makes the exit status 1.
pub fn each(c: &Client, names: &[String], mut f: impl FnMut(&Client, &str) -> Result<Option<String>, ClientError>) -> CmdResult {
    let mut failed = false;
    for n in names {
        match f(c, n) {
            Ok(Some(out)) => println!("{out}"),
            Ok(None) => {}
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Failure { message: None, status: 1 })
    } else {
        Ok(())
    }
}

fn path(name: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", encode(name))
}

// ---------------------------------------------------------------- stop / restart / kill

#[derive(Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout", allow_hyphen_values = true)]
    time: Option<i64>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn stop(g: &Global, a: StopArgs, restart: bool) -> CmdResult {
    let c = client(g)?;
    let q = query([("signal", a.signal.clone()), ("t", a.time.map(|t| t.to_string()))]);
    let verb = if restart { "restart" } else { "stop" };
    each(&c, &a.containers, |c, n| {
        c.call("POST", &path(n, &format!("/{verb}{q}")), Body::Empty)?;
        Ok(Some(n.to_owned()))
    })
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    signal: Option<String>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn kill(g: &Global, a: KillArgs) -> CmdResult {
    let c = client(g)?;
    let q = query([("signal", a.signal.clone())]);
    each(&c, &a.containers, |c, n| {
        c.call("POST", &path(n, &format!("/kill{q}")), Body::Empty)?;
        Ok(Some(n.to_owned()))
    })
}

// ---------------------------------------------------------------- rm

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    volumes: bool,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn rm(g: &Global, a: RmArgs) -> CmdResult {
    let c = client(g)?;
    let q = query([("force", a.force.then(|| "1".into())), ("v", a.volumes.then(|| "1".into())), ("link", a.link.then(|| "1".into()))]);
    each(&c, &a.containers, |c, n| {
        // docker accepts a leading slash on names.
        let name = n.trim_start_matches('/');
        match c.call("DELETE", &path(name, &q), Body::Empty) {
            Ok(_) => Ok(Some(n.to_owned())),
            // `rm -f` of something already gone is not an error for docker.
            Err(ClientError::Api { status: 404, .. }) if a.force => Ok(None),
            Err(e) => Err(e),
        }
    })
}

// ---------------------------------------------------------------- wait / pause / unpause / rename

#[derive(Args)]
pub struct NamesArgs {
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn wait(g: &Global, a: NamesArgs) -> CmdResult {
    let c = client(g)?;
    each(&c, &a.containers, |c, n| {
        let v: Value = c.call("POST", &path(n, "/wait"), Body::Empty)?.json()?;
        if let Some(m) = v["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
            return Err(ClientError::Stream(m.to_owned()));
        }
        Ok(Some(v["StatusCode"].as_i64().unwrap_or(0).to_string()))
    })
}

pub fn pause(g: &Global, a: NamesArgs, unpause: bool) -> CmdResult {
    let c = client(g)?;
    let verb = if unpause { "/unpause" } else { "/pause" };
    each(&c, &a.containers, |c, n| {
        c.call("POST", &path(n, verb), Body::Empty)?;
        Ok(Some(n.to_owned()))
    })
}

#[derive(Args)]
pub struct RenameArgs {
    /// CONTAINER
    container: String,
    /// NEW_NAME
    new_name: String,
}

pub fn rename(g: &Global, a: RenameArgs) -> CmdResult {
    let new = a.new_name.trim();
    if new.is_empty() || new.trim_start_matches('/').is_empty() {
        return Err(fail("Error: Neither old nor new names may be empty"));
    }
    let c = client(g)?;
    c.call("POST", &path(&a.container, &format!("/rename{}", query([("name", Some(new.to_owned()))]))), Body::Empty)?;
    Ok(())
}

// ---------------------------------------------------------------- top

#[derive(Args)]
pub struct TopArgs {
    /// CONTAINER
    container: String,
    /// [ps OPTIONS]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub fn top(g: &Global, a: TopArgs) -> CmdResult {
    let c = client(g)?;
    let q = query([("ps_args", (!a.ps_args.is_empty()).then(|| a.ps_args.join(" ")))]);
    let v: Value = c.get_json(&path(&a.container, &format!("/top{q}")))?;
    let mut text = String::new();
    let titles: Vec<&str> = v["Titles"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    text.push_str(&titles.join("\t"));
    text.push('\n');
    for p in v["Processes"].as_array().into_iter().flatten() {
        let cells: Vec<&str> = p.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    // docker's top pads with tabwriter(minwidth 20, padding 3); the last column is a
    // cell too there (every line ends with a tab-joined row), so align all but it.
    print!("{}", crate::table::align_with(&text, 20, 3));
    Ok(())
}

// ---------------------------------------------------------------- port

#[derive(Args)]
pub struct PortArgs {
    /// CONTAINER
    container: String,
    /// [PRIVATE_PORT[/PROTO]]
    port: Option<String>,
}

pub fn port(g: &Global, a: PortArgs) -> CmdResult {
    let c = client(g)?;
    let v: Value = c.get_json(&path(&a.container, "/json"))?;
    let ports = v["NetworkSettings"]["Ports"].as_object().cloned().unwrap_or_default();
    let fmt_binding = |b: &Value| {
        let ip = b["HostIp"].as_str().unwrap_or("");
        let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
        let hp = b["HostPort"].as_str().unwrap_or("");
        if ip.contains(':') {
            format!("[{ip}]:{hp}")
        } else {
            format!("{ip}:{hp}")
        }
    };
    // docker's runPort: one line per binding, `net.JoinHostPort(HostIp, HostPort)`,
    // all lines in natural order.
    let mut out: Vec<String> = Vec::new();
    if let Some(p) = &a.port {
        let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), ""));
        let proto = if proto.is_empty() { "tcp" } else { proto };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
            return Err(fail(format!("Error: invalid port ({port}): strconv.ParseUint: parsing \"{port}\": invalid syntax")));
        }
        let key = format!("{port}/{proto}");
        match ports.get(&key).and_then(Value::as_array).filter(|b| !b.is_empty()) {
            Some(bs) => out.extend(bs.iter().map(fmt_binding)),
            None => return Err(fail(format!("Error: No public port '{p}' published for {}", a.container))),
        }
    } else {
        for (k, bs) in &ports {
            for b in bs.as_array().into_iter().flatten() {
                out.push(format!("{k} -> {}", fmt_binding(b)));
            }
        }
    }
    out.sort_by(|x, y| natural_cmp(x, y));
    for l in out {
        println!("{l}");
    }
    Ok(())
}

/// Natural order (digit runs compared as numbers), as docker's `sortorder.NaturalLess`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut v = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                v.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        v
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for ((da, xa), (db, xb)) in ca.iter().zip(cb.iter()) {
        let o = if *da && *db {
            let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb)).then_with(|| xa.len().cmp(&xb.len()))
        } else {
            xa.cmp(xb)
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

#[cfg(test)]
mod port_tests {
    use super::natural_cmp;

    #[test]
    fn port_lines_in_natural_order() {
        let mut v = vec!["8080/tcp -> 0.0.0.0:1", "80/udp -> 0.0.0.0:5", "443/tcp -> [::]:2", "80/tcp -> [::]:8080", "80/tcp -> 0.0.0.0:8080"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080", "80/udp -> 0.0.0.0:5", "443/tcp -> [::]:2", "8080/tcp -> 0.0.0.0:1"]);
    }
}

// ---------------------------------------------------------------- diff / export

#[derive(Args)]
pub struct DiffArgs {
    /// CONTAINER
    container: String,
}

pub fn diff(g: &Global, a: DiffArgs) -> CmdResult {
    let c = client(g)?;
    let v: Value = c.get_json(&path(&a.container, "/changes"))?;
    for ch in v.as_array().into_iter().flatten() {
        let kind = match ch["Kind"].as_i64() {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        println!("{kind} {}", ch["Path"].as_str().unwrap_or(""));
    }
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// CONTAINER
    container: String,
}

pub fn export(g: &Global, a: ExportArgs) -> CmdResult {
    if a.output.is_none() && is_tty(1) {
        return Err(fail("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
    }
    let c = client(g)?;
    let resp = c.call("GET", &path(&a.container, "/export"), Body::Empty)?;
    let mut r = resp.into_reader();
    match &a.output {
        Some(f) => {
            // Written beside the target and renamed, so a failed export leaves no half file.
            let target = std::path::Path::new(f);
            let tmp = target.with_file_name(format!(".{}.berth-tmp", target.file_name().and_then(|n| n.to_str()).unwrap_or("export")));
            let mut out = std::fs::File::create(&tmp).map_err(|e| fail(format!("failed to export container: {e}")))?;
            if let Err(e) = io::copy(&mut r, &mut out) {
                let _ = std::fs::remove_file(&tmp);
                return Err(fail(format!("failed to export container: {e}")));
            }
            std::fs::rename(&tmp, target).map_err(|e| fail(format!("failed to export container: {e}")))?;
        }
        None => {
            match io::copy(&mut r, &mut io::stdout().lock()) {
                Ok(_) => {}
                // Our reader (head, a pager) went away: not an error worth a message.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => return Err(fail(e.to_string())),
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- update

#[derive(Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus")]
    cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory")]
    memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart")]
    restart: Option<String>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn update(g: &Global, a: UpdateArgs) -> CmdResult {
    use crate::create_opts::{flag_error, parse_error};
    let size = |flag: &str, v: &Option<String>, swap: bool| -> Result<Option<i64>, Failure> {
        v.as_deref()
            .map(|s| if swap { crate::values::mem_swap_bytes(s) } else { crate::values::ram_in_bytes(s) }.map_err(|e| flag_error("update", flag, s, &e)))
            .transpose()
    };
    let mut body = Map::new();
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            body.insert(k.to_owned(), v);
        }
    };
    set("BlkioWeight", a.blkio_weight.map(|v| json!(v)));
    set("CpuPeriod", a.cpu_period.map(|v| json!(v)));
    set("CpuQuota", a.cpu_quota.map(|v| json!(v)));
    set("CpuShares", a.cpu_shares.map(|v| json!(v)));
    set("NanoCpus", a.cpus.as_deref().map(|s| crate::values::nano_cpus(s).map_err(|e| flag_error("update", "--cpus", s, &e))).transpose()?.map(|v| json!(v)));
    set("CpusetCpus", a.cpuset_cpus.clone().map(Value::from));
    set("CpusetMems", a.cpuset_mems.clone().map(Value::from));
    set("Memory", size("-m, --memory", &a.memory, false)?.map(|v| json!(v)));
    set("MemoryReservation", size("--memory-reservation", &a.memory_reservation, false)?.map(|v| json!(v)));
    set("MemorySwap", size("--memory-swap", &a.memory_swap, true)?.map(|v| json!(v)));
    set("PidsLimit", a.pids_limit.map(|v| json!(v)));
    set("RestartPolicy", a.restart.as_deref().map(|r| crate::values::restart_policy(r).map_err(|e| parse_error("update", &e))).transpose()?);
    if body.is_empty() {
        return Err(fail("you must provide one or more flags when using this command"));
    }
    let c = client(g)?;
    let raw = serde_json::to_vec(&body).map_err(|e| fail(e.to_string()))?;
    each(&c, &a.containers, |c, n| {
        let v: Value = c.call("POST", &path(n, "/update"), Body::Json(raw.clone()))?.json()?;
        for w in v["Warnings"].as_array().into_iter().flatten() {
            if let Some(w) = w.as_str() {
                eprintln!("WARNING: {w}");
            }
        }
        Ok(Some(n.to_owned()))
    })
}

// ---------------------------------------------------------------- commit

/// `commit`'s flags (shared with `compose commit`).
#[derive(Args)]
pub struct CommitOptions {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author")]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message")]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pause: bool,
}

#[derive(Args)]
pub struct CommitArgs {
    #[command(flatten)]
    opts: CommitOptions,
    /// CONTAINER
    container: String,
    /// [REPOSITORY[:TAG]]
    reference: Option<String>,
}

pub fn commit(g: &Global, a: CommitArgs) -> CmdResult {
    commit_container(g, &a.opts, &a.container, a.reference.as_deref())
}

/// An image of `container`'s changes, tagged `reference` if given.
pub fn commit_container(g: &Global, a: &CommitOptions, container: &str, reference: Option<&str>) -> CmdResult {
    let c = client(g)?;
    let (repo, tag) = match reference {
        None => (None, None),
        Some(r) => match r.rsplit_once(':') {
            Some((repo, t)) if !t.contains('/') => (Some(repo.to_owned()), Some(t.to_owned())),
            _ => (Some(r.to_owned()), None),
        },
    };
    let mut q = query([
        ("container", Some(container.to_owned())),
        ("repo", repo),
        ("tag", tag),
        ("comment", a.message.clone()),
        ("author", a.author.clone()),
        ("pause", Some(if a.pause { "1" } else { "0" }.to_owned())),
    ]);
    for ch in &a.change {
        q.push_str(&format!("&changes={}", encode(ch)));
    }
    let v: Value = c.call("POST", &format!("/commit{q}"), Body::Json(b"{}".to_vec()))?.json()?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(())
}

// ---------------------------------------------------------------- container prune

#[derive(Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

pub fn prune(g: &Global, a: PruneArgs) -> CmdResult {
    if !a.force && !super::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(());
    }
    let reclaimed = prune_containers(g, &a.filter)?;
    println!("Total reclaimed space: {}", human_size(reclaimed as f64));
    Ok(())
}

/// Removes stopped containers, prints their ids as docker does, returns the bytes
/// reclaimed.
pub fn prune_containers(g: &Global, filter: &[String]) -> Result<i64, crate::Failure> {
    let mut filters = Filters::new();
    for f in filter {
        filters.add_cli(f).map_err(|e| fail(e.0))?;
    }
    let c = client(g)?;
    let q = query([("filters", (!filters.is_empty()).then(|| filters.to_json()))]);
    let v: Value = c.call("POST", &format!("/containers/prune{q}"), Body::Empty)?.json()?;
    super::print_deleted("Containers", &v["ContainersDeleted"]);
    Ok(v["SpaceReclaimed"].as_i64().unwrap_or(0))
}
