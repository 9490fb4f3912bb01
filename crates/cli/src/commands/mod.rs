//! The commands, grouped as docker groups them, and what they share: the client and
//! `--format` rendering.

pub mod compose;
pub mod build;
pub mod build_view;
pub mod containers;
pub mod cp;
pub mod events;
pub mod exec;
pub mod images;
pub mod inspect;
pub mod logs;
pub mod network;
pub mod ps;
pub mod registry;
pub mod run;
pub mod scan;
pub mod secret;
pub mod stats;
pub mod system;
pub mod volume;

use berth_api::{Client, Host, TlsOptions};
use serde_json::Value;

use crate::template::Template;
use crate::{Failure, Global};

/// The client for the daemon the user chose (`-H`, `BERTH_HOST`, `DOCKER_HOST`), with
/// docker's TLS flags and variables (`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`).
pub fn client(g: &Global) -> Result<Client, Failure> {
    let host = Host::select(g.host.as_deref())?;
    let tls = TlsOptions::select(g.tls, g.tlsverify, g.tlscacert.clone(), g.tlscert.clone(), g.tlskey.clone());
    Ok(Client::with_tls(&host, tls.as_ref())?)
}

/// Renders rows with a docker `--format` value: empty or `table` for `default_table`,
/// `json` for one JSON object per line, `table …` for an aligned table with a header
/// row (fields rendered through `headers`), anything else once per row.
pub fn render(format: &str, default_table: &str, rows: &[Value], headers: &Value) -> Result<String, Failure> {
    let format = match format.trim() {
        "" | "table" => default_table.to_owned(),
        "json" => "{{json .}}".to_owned(),
        f => f.to_owned(),
    };
    let (is_table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim().to_owned()),
        None => (false, format.clone()),
    };
    // docker turns the two-character escapes \t and \n into real ones.
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let t = Template::parse(&body).map_err(|e| Failure { message: Some(e.to_string()), status: 1 })?;
    let render_err = |e: crate::template::TemplateError| Failure { message: Some(e.to_string()), status: 1 };
    let mut out = String::new();
    if is_table {
        out.push_str(&t.render(headers).map_err(render_err)?);
        out.push('\n');
    }
    for r in rows {
        out.push_str(&t.render(r).map_err(render_err)?);
        out.push('\n');
    }
    Ok(if is_table { crate::table::align(&out) } else { out })
}

/// Asks docker's yes/no question on the terminal; anything but y/yes is no.
pub fn confirm(warning: &str) -> bool {
    use std::io::{BufRead, Write};
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Prints a prune response's list as docker does: `Deleted <What>:`, the names, a
/// blank line (nothing when the list is empty or absent).
pub fn print_deleted(what: &str, list: &Value) {
    let names: Vec<&str> = list.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !names.is_empty() {
        println!("Deleted {what}:");
        for n in names {
            println!("{n}");
        }
        println!();
    }
}

/// A failure with a message and exit status 1.
pub fn fail(msg: impl Into<String>) -> Failure {
    Failure { message: Some(msg.into()), status: 1 }
}

/// Whether a file descriptor is a terminal.
pub fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// An I/O error as Go words it in docker's messages.
pub fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
