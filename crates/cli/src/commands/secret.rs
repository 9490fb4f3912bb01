//! `secret create|ls|inspect|rm`, as docker's (which needs a swarm; berthd serves the
//! same /secrets API standalone).

use std::io::Read;

use base64::Engine as _;
use berth_api::client::{encode, query, Body};
use berth_api::{ClientError, Filters};
use clap::Args;
use serde_json::{json, Value};

use super::{client, fail, io_msg, render};
use crate::{CmdResult, Failure, Global};

#[derive(Args)]
pub struct CreateArgs {
    /// Secret labels
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// Secret driver (berth keeps values itself: only the default is accepted)
    #[arg(short = 'd', long = "driver")]
    driver: Option<String>,
    /// SECRET
    name: String,
    /// A file with the value, or - for STDIN
    file: Option<String>,
}

pub fn create(g: &Global, a: CreateArgs) -> CmdResult {
    let path = a.file.as_deref().ok_or_else(|| fail("please specify a file to read the secret from, or - for STDIN"))?;
    let mut data = Vec::new();
    let read = if path == "-" { std::io::stdin().read_to_end(&mut data) } else { std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut data)) };
    read.map_err(|e| fail(format!("Error reading content from \"{path}\": open {path}: {}", io_msg(&e))))?;
    let labels = super::volume::key_values("--label", &a.label, false)?;
    let mut body = json!({ "Name": a.name, "Labels": labels, "Data": base64::engine::general_purpose::STANDARD.encode(&data) });
    if let Some(d) = a.driver.filter(|d| !d.is_empty()) {
        body["Driver"] = json!({ "Name": d });
    }
    let v: Value = client(g)?.call("POST", "/secrets/create", Body::Json(body.to_string().into_bytes()))?.json()?;
    println!("{}", v["ID"].as_str().unwrap_or_default());
    Ok(())
}

#[derive(Args)]
pub struct LsArgs {
    /// Only display IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'json' or a Go template)
    #[arg(long = "format")]
    format: Option<String>,
}

/// `About a minute ago` from an RFC 3339 time.
fn ago(t: &Value) -> String {
    t.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| crate::units::since(t.timestamp())).unwrap_or_default()
}

/// The fields docker's secret formatter has.
fn row(s: &Value) -> Value {
    let mut labels: Vec<String> = s["Spec"]["Labels"].as_object().into_iter().flatten().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
    labels.sort();
    json!({
        "ID": s["ID"], "Name": s["Spec"]["Name"], "Driver": s["Spec"]["Driver"]["Name"].as_str().unwrap_or_default(),
        "CreatedAt": ago(&s["CreatedAt"]), "UpdatedAt": ago(&s["UpdatedAt"]), "Labels": labels.join(","),
    })
}

pub fn ls(g: &Global, a: LsArgs) -> CmdResult {
    let mut filters = Filters::new();
    for f in &a.filter {
        filters.add_cli(f).map_err(|e| fail(e.0))?;
    }
    let q = if filters.is_empty() { String::new() } else { query([("filters", Some(filters.to_json()))]) };
    let list: Value = client(g)?.get_json(&format!("/secrets{q}"))?;
    let mut secrets: Vec<Value> = list.as_array().cloned().unwrap_or_default();
    secrets.sort_by(|x, y| x["Spec"]["Name"].as_str().cmp(&y["Spec"]["Name"].as_str()));
    let rows: Vec<Value> = secrets.iter().map(row).collect();
    let format = if a.quiet { "{{.ID}}" } else { a.format.as_deref().unwrap_or("") };
    let headers = json!({"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED", "Labels": "LABELS"});
    print!("{}", render(format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}", &rows, &headers)?);
    Ok(())
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// Print the information in a human friendly format
    #[arg(long = "pretty")]
    pretty: bool,
    /// SECRET [SECRET...]
    #[arg(required = true)]
    names: Vec<String>,
}

/// docker's `secret inspect --pretty` block.
fn pretty(s: &Value) -> String {
    let mut out = format!("ID:              {}\nName:              {}\n", s["ID"].as_str().unwrap_or_default(), s["Spec"]["Name"].as_str().unwrap_or_default());
    if let Some(labels) = s["Spec"]["Labels"].as_object().filter(|m| !m.is_empty()) {
        out.push_str("Labels:\n");
        for (k, v) in labels {
            match v.as_str().filter(|v| !v.is_empty()) {
                Some(v) => out.push_str(&format!(" - {k}={v}\n")),
                None => out.push_str(&format!(" - {k}\n")),
            }
        }
    }
    out.push_str(&format!("Driver:            {}\n", s["Spec"]["Driver"]["Name"].as_str().unwrap_or_default()));
    out.push_str(&format!("Created at:        {}\n", s["CreatedAt"].as_str().unwrap_or_default()));
    out.push_str(&format!("Updated at:        {}", s["UpdatedAt"].as_str().unwrap_or_default()));
    out
}

pub fn inspect(g: &Global, a: InspectArgs) -> CmdResult {
    let path = |n: &str| format!("/secrets/{}", encode(n));
    if !a.pretty {
        return super::inspect::inspect_each(g, &a.names, "secret", path, a.format.as_deref());
    }
    if a.format.as_deref().is_some_and(|f| !f.is_empty()) {
        return Err(fail("--format is incompatible with human friendly format"));
    }
    let c = client(g)?;
    let mut blocks = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match c.get_json::<Value>(&path(n)) {
            Ok(v) => blocks.push(pretty(&v)),
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(ClientError::Api { status: 404, .. }) => errors.push(format!("Error: No such secret: {n}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !blocks.is_empty() {
        println!("{}", blocks.join("\n\n"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure { message: Some(errors.join("\n")), status: 1 })
    }
}

#[derive(Args)]
pub struct RmArgs {
    /// SECRET [SECRET...]
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn rm(g: &Global, a: RmArgs) -> CmdResult {
    let c = client(g)?;
    let mut errors = Vec::new();
    for n in &a.names {
        match c.call("DELETE", &format!("/secrets/{}", encode(n)), Body::Empty) {
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
