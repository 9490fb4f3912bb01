//! `events` / `system events`: the daemon's event stream, printed as docker prints it
//! (`<time> <type> <action> <id> (k=v, …)`) or through `--format`.

use berth_api::client::Body;
use berth_api::Filters;
use clap::Args;
use serde_json::Value;

use super::logs::timestamp;
use super::{client, fail};
use crate::template::Template;
use crate::{CmdResult, Global};

#[derive(Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long = "since")]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long = "until")]
    until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('json' or a Go template)
    #[arg(long = "format")]
    format: Option<String>,
}

/// Docker's default line.
fn line(ev: &Value) -> String {
    let nanos = ev["timeNano"].as_i64().unwrap_or(0);
    let t = chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32).unwrap_or_default();
    let local: chrono::DateTime<chrono::Local> = t.into();
    let mut attrs: Vec<(String, String)> = ev["Actor"]["Attributes"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned())).collect())
        .unwrap_or_default();
    attrs.sort();
    let attrs: Vec<String> = attrs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    // Go's "Z07:00": Z for UTC, else the offset.
    let stamp = if local.offset().local_minus_utc() == 0 { local.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string() } else { local.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string() };
    let mut s = format!("{} {} {} {}", stamp, ev["Type"].as_str().unwrap_or(""), ev["Action"].as_str().unwrap_or(""), ev["Actor"]["ID"].as_str().unwrap_or(""));
    if !attrs.is_empty() {
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s
}

pub fn events(g: &Global, a: EventsArgs) -> CmdResult {
    let now = chrono::Utc::now();
    let mut q = Vec::new();
    if let Some(s) = &a.since {
        q.push(format!("since={}", timestamp(s, now).map_err(|e| fail(format!("invalid value for \"since\": {e}")))?));
    }
    if let Some(u) = &a.until {
        q.push(format!("until={}", timestamp(u, now).map_err(|e| fail(format!("invalid value for \"until\": {e}")))?));
    }
    let mut filters = Filters::new();
    for f in &a.filter {
        filters.add_cli(f).map_err(|e| fail(e.to_string()))?;
    }
    if !filters.is_empty() {
        q.push(format!("filters={}", form_escape(&filters.to_json())));
    }
    let path = if q.is_empty() { "/events".to_owned() } else { format!("/events?{}", q.join("&")) };
    let template = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}").map_err(|e| fail(e.to_string()))?),
        Some(f) => Some(Template::parse(f).map_err(|e| fail(e.to_string()))?),
    };
    let resp = client(g)?.call("GET", &path, Body::Empty)?;
    let reader = resp.into_reader();
    for ev in serde_json::Deserializer::from_reader(reader).into_iter::<Value>() {
        let Ok(ev) = ev else { break };
        let out = match &template {
            Some(t) => t.render(&ev).map_err(|e| fail(e.to_string()))?,
            None => line(&ev),
        };
        println!("{out}");
    }
    Ok(())
}

fn form_escape(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
