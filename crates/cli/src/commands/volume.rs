//! `volume create|ls|inspect|rm|prune`, as docker's, and berth's own `volume export`
//! and `volume import`.

use std::collections::BTreeMap;
use std::io::{self, Read};

use berth_api::client::{encode, query, Body};
use berth_api::{ClientError, Filters};
use clap::Args;
use serde_json::{json, Value};

use super::{client, fail, is_tty, render};
use crate::units::human_size;
use crate::{CmdResult, Failure, Global};

#[derive(Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long = "driver", default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name")]
    name_flag: Option<String>,
    /// VOLUME
    name: Option<String>,
}

/// `key=value` list flags into a map (`--label k` alone is `k=""`, as docker's).
pub(crate) fn key_values(flag: &str, items: &[String], value_required: bool) -> Result<BTreeMap<String, String>, Failure> {
    let mut m = BTreeMap::new();
    for it in items {
        match it.split_once('=') {
            Some((k, v)) => m.insert(k.to_owned(), v.to_owned()),
            None if !value_required => m.insert(it.clone(), String::new()),
            None => return Err(Failure { message: Some(format!("invalid argument \"{it}\" for \"{flag}\" flag: invalid key value pair format: {it}")), status: 125 }),
        };
    }
    Ok(m)
}

pub fn create(g: &Global, a: CreateArgs) -> CmdResult {
    if let (Some(f), Some(n)) = (&a.name_flag, &a.name) {
        if f != n {
            return Err(fail(format!("conflicting options: either specify --name or provide positional arg, not both")));
        }
    }
    let name = a.name.or(a.name_flag).unwrap_or_default();
    let body = json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": key_values("--opt", &a.opt, true)?,
        "Labels": key_values("--label", &a.label, false)?,
    });
    let v: Value = client(g)?.call("POST", "/volumes/create", Body::Json(body.to_string().into_bytes()))?.json()?;
    println!("{}", v["Name"].as_str().unwrap_or_default());
    Ok(())
}

#[derive(Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'json' or a Go template)
    #[arg(long = "format")]
    format: Option<String>,
}

/// What `--format` fields a volume row has (docker's formatter names).
fn row(v: &Value) -> Value {
    let labels = v["Labels"].as_object().map(|m| {
        let mut kv: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
        kv.sort();
        kv.join(",")
    });
    json!({
        "Name": v["Name"], "Driver": v["Driver"], "Scope": v["Scope"], "Mountpoint": v["Mountpoint"],
        "Labels": labels.unwrap_or_default(), "CreatedAt": v["CreatedAt"],
        "Size": v["UsageData"]["Size"].as_i64().map(|s| human_size(s as f64)).unwrap_or_else(|| "N/A".into()),
        "Links": v["UsageData"]["RefCount"].as_i64().map(|n| n.to_string()).unwrap_or_else(|| "N/A".into()),
    })
}

pub fn ls(g: &Global, a: LsArgs) -> CmdResult {
    let mut filters = Filters::new();
    for f in &a.filter {
        filters.add_cli(f).map_err(|e| fail(e.0))?;
    }
    let q = if filters.is_empty() { String::new() } else { query([("filters", Some(filters.to_json()))]) };
    let r: Value = client(g)?.get_json(&format!("/volumes{q}"))?;
    let mut vols: Vec<Value> = r["Volumes"].as_array().cloned().unwrap_or_default();
    vols.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let rows: Vec<Value> = vols.iter().map(row).collect();
    let format = if a.quiet { "{{.Name}}" } else { a.format.as_deref().unwrap_or("") };
    let headers = json!({"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "CreatedAt": "CREATED", "Size": "SIZE", "Links": "LINKS"});
    print!("{}", render(format, "table {{.Driver}}\t{{.Name}}", &rows, &headers)?);
    Ok(())
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// VOLUME [VOLUME...]
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn inspect(g: &Global, a: InspectArgs) -> CmdResult {
    super::inspect::inspect_each(g, &a.names, "volume", |n| format!("/volumes/{}", encode(n)), a.format.as_deref())
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// VOLUME [VOLUME...]
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn rm(g: &Global, a: RmArgs) -> CmdResult {
    let c = client(g)?;
    let mut errors = Vec::new();
    for n in &a.names {
        let q = if a.force { "?force=1" } else { "" };
        match c.call("DELETE", &format!("/volumes/{}{q}", encode(n)), Body::Empty) {
            Ok(_) => println!("{n}"),
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure { message: Some(errors.join("\n")), status: 1 })
    }
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

/// Prunes volumes and returns the space reclaimed (after printing what went).
pub fn prune_volumes(g: &Global, all: bool, filter: &[String]) -> Result<i64, Failure> {
    let mut filters = Filters::new();
    for f in filter {
        filters.add_cli(f).map_err(|e| fail(e.0))?;
    }
    if all {
        filters.add("all", "true");
    }
    let r: Value = client(g)?.call("POST", &format!("/volumes/prune{}", query([("filters", Some(filters.to_json()))])), Body::Empty)?.json()?;
    super::print_deleted("Volumes", &r["VolumesDeleted"]);
    Ok(r["SpaceReclaimed"].as_i64().unwrap_or(0))
}

pub fn prune(g: &Global, a: PruneArgs) -> CmdResult {
    let warning = if a.all { "WARNING! This will remove all local volumes not used by at least one container." } else { "WARNING! This will remove anonymous local volumes not used by at least one container." };
    if !a.force && !super::confirm(warning) {
        return Ok(());
    }
    let reclaimed = prune_volumes(g, a.all, &a.filter)?;
    println!("Total reclaimed space: {}", human_size(reclaimed as f64));
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// VOLUME
    name: String,
}

/// `volume export NAME > file.tar` (berth's own, as podman's).
pub fn export(g: &Global, a: ExportArgs) -> CmdResult {
    if a.output.is_none() && is_tty(1) {
        return Err(fail("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
    }
    let r = client(g)?.call("GET", &format!("/volumes/{}/export", encode(&a.name)), Body::Empty)?;
    let mut reader = r.into_reader();
    match &a.output {
        Some(path) => {
            let tmp = format!("{path}.tmp-berth");
            let mut f = std::fs::File::create(&tmp).map_err(|e| fail(format!("failed to create {path}: {}", super::io_msg(&e))))?;
            let copied = io::copy(&mut reader, &mut f).and_then(|_| f.sync_all());
            if let Err(e) = copied.and_then(|()| std::fs::rename(&tmp, path)) {
                let _ = std::fs::remove_file(&tmp);
                return Err(fail(format!("exporting volume {}: {e}", a.name)));
            }
        }
        None => {
            io::copy(&mut reader, &mut io::stdout().lock()).map_err(|e| fail(format!("exporting volume {}: {e}", a.name)))?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct ImportArgs {
    /// VOLUME
    name: String,
    /// A tar archive (plain or compressed), or - for STDIN
    source: String,
}

/// `volume import NAME file.tar` (berth's own, as podman's): the tar's content goes
/// into the existing volume.
pub fn import(g: &Global, a: ImportArgs) -> CmdResult {
    let reader: Box<dyn Read> = if a.source == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(std::fs::File::open(&a.source).map_err(|e| fail(format!("open {}: {}", a.source, super::io_msg(&e))))?)
    };
    client(g)?.call("PUT", &format!("/volumes/{}/import", encode(&a.name)), Body::Stream { content_type: "application/x-tar", reader })?;
    Ok(())
}
