//! `inspect` (containers first, then images, as docker's does) and `container inspect`.

use berth_api::client::{encode, Body};
use berth_api::ClientError;
use clap::Args;
use serde_json::Value;

use super::{client, fail};
use crate::template::Template;
use crate::{CmdResult, Failure, Global};

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type")]
    typ: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    size: bool,
    /// NAME|ID [NAME|ID...]
    #[arg(required = true)]
    names: Vec<String>,
}

/// Encodes an image name for a path: slashes stay.
fn image_path(name: &str) -> String {
    name.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// `container_only`: `berth container inspect`.
pub fn inspect(g: &Global, a: InspectArgs, container_only: bool) -> CmdResult {
    let typ = if container_only { Some("container") } else { a.typ.as_deref() };
    if let Some(t) = typ {
        if !matches!(t, "container" | "image" | "network" | "volume" | "secret") {
            return Err(fail(format!("\"{t}\" is not a valid value for --type")));
        }
    }
    let c = client(g)?;
    let mut raws: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    let size = if a.size { "?size=1" } else { "" };
    // docker's autodetect order: container, image, network, volume, then (docker only
    // in a swarm) secret.
    let kinds = ["container", "image", "network", "volume", "secret"];
    'names: for name in &a.names {
        let mut found = None;
        for kind in kinds.iter().filter(|k| typ.is_none_or(|t| t == **k)) {
            let path = match *kind {
                "container" => format!("/containers/{}/json{size}", encode(name)),
                "image" => format!("/images/{}/json", image_path(name)),
                "network" => format!("/networks/{}", encode(name)),
                "secret" => format!("/secrets/{}", encode(name)),
                _ => format!("/volumes/{}", encode(name)),
            };
            match c.call("GET", &path, Body::Empty).and_then(|r| r.text()) {
                Ok(t) => {
                    found = Some(t);
                    break;
                }
                Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
                Err(ClientError::Api { status: 404, .. }) => {}
                Err(e) => {
                    errors.push(e.to_string());
                    continue 'names;
                }
            }
        }
        match found {
            Some(t) => raws.push(t),
            None => errors.push(match typ {
                Some(t) => format!("Error: No such {t}: {name}"),
                None => format!("Error: No such object: {name}"),
            }),
        }
    }
    print_inspect(&raws, a.format.as_deref())?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure { message: Some(errors.join("\n")), status: 1 })
    }
}

/// `volume inspect` / `network inspect`: GET `path(name)` for each name, print what
/// was found, then fail with `Error: No such <kind>: <name>` for the rest.
pub fn inspect_each(g: &Global, names: &[String], kind: &str, path: impl Fn(&str) -> String, format: Option<&str>) -> CmdResult {
    let c = client(g)?;
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for n in names {
        match c.call("GET", &path(n), Body::Empty).and_then(|r| r.text()) {
            Ok(t) => raws.push(t),
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(ClientError::Api { status: 404, .. }) => errors.push(format!("Error: No such {kind}: {n}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    print_inspect(&raws, format)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Failure { message: Some(errors.join("\n")), status: 1 })
    }
}

/// Prints raw inspect bodies: indented JSON array (daemon's key order), or each
/// rendered through `-f`.
pub fn print_inspect(raws: &[String], format: Option<&str>) -> CmdResult {
    match format.filter(|f| !f.is_empty() && *f != "json") {
        Some(f) => {
            let t = Template::parse(&f.replace("\\t", "\t").replace("\\n", "\n")).map_err(|e| fail(e.to_string()))?;
            for r in raws {
                let v: Value = serde_json::from_str(r).map_err(|e| fail(format!("cannot decode the daemon's response: {e}")))?;
                println!("{}", t.render(&v).map_err(|e| fail(e.to_string()))?);
            }
        }
        None => {
            let joined = format!("[{}]", raws.iter().map(|r| r.trim()).collect::<Vec<_>>().join(","));
            println!("{}", crate::jsonfmt::indent(&joined));
        }
    }
    Ok(())
}
