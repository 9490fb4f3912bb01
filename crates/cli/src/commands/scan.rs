//! `berth scan IMAGE` / `berth image scan`: the image's packages as a table, JSON or an
//! SBOM, and, with `--db`, the advisories of an offline OSV database that apply to
//! them. The image comes from berthd as a `docker save` stream (`GET
//! /images/{name}/get`), or from a saved archive with `--input` (no daemon needed).
//! All the work is berth-scan's; this is flags, output and the exit status.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use berth_api::client::{encode, Body};
use berth_scan::osv::Wanted;
use berth_scan::{Database, Report, Severity};
use clap::Args;

use super::{client, fail, io_msg};
use crate::{CmdResult, Failure, Global};

#[derive(Args)]
pub struct ScanArgs {
    /// OSV vulnerability database: a directory of OSV JSON files, one JSON file, a .zip
    /// of them (osv.dev's all.zip), or an http(s) URL to a file or zip. Without it,
    /// only the packages are listed
    #[arg(long = "db", value_name = "PATH|URL")]
    db: Option<String>,
    /// Output format: table, json, cyclonedx-json (CycloneDX 1.5), spdx-json (SPDX 2.3)
    #[arg(long = "format", default_value = "table", value_parser = ["table", "json", "cyclonedx-json", "spdx-json"])]
    format: String,
    /// Only show findings of these severities (comma-separated: UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL)
    #[arg(long = "severity", value_name = "LIST", value_delimiter = ',', value_parser = parse_severity)]
    severity: Vec<Severity>,
    /// Exit with status 1 when any finding is at or above this severity (LOW, MEDIUM, HIGH, CRITICAL)
    #[arg(long = "fail-on", value_name = "SEVERITY", value_parser = parse_severity, requires = "db")]
    fail_on: Option<Severity>,
    /// Write the SBOM to this file (CycloneDX, or SPDX with --format spdx-json);
    /// with --format table or json the report still goes to standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Scan a saved image archive (berth save / docker save) instead of asking berthd
    #[arg(long = "input", value_name = "FILE", conflicts_with = "image")]
    input: Option<PathBuf>,
    /// The image to scan (name, name:tag or id)
    #[arg(required_unless_present = "input")]
    image: Option<String>,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

pub fn scan(g: &Global, a: ScanArgs) -> CmdResult {
    let mut report = match (&a.input, &a.image) {
        (Some(path), _) => {
            let f = File::open(path).map_err(|e| fail(format!("open {}: {}", path.display(), io_msg(&e))))?;
            berth_scan::scan_archive(io::BufReader::new(f)).map_err(|e| fail(format!("scanning {}: {e}", path.display())))?
        }
        (None, Some(name)) => {
            let c = client(g)?;
            let path: Vec<String> = name.split('/').map(encode).collect();
            let resp = c.call("GET", &format!("/images/{}/get", path.join("/")), Body::Empty)?;
            let mut r = berth_scan::scan_archive(io::BufReader::with_capacity(256 << 10, resp.into_reader())).map_err(|e| fail(format!("scanning {name}: {e}")))?;
            // An image saved by id carries no tag: name it as the user did.
            r.image.get_or_insert_with(|| name.clone());
            r
        }
        (None, None) => return Err(fail("an image or --input FILE is required")),
    };
    for w in &report.inventory.warnings {
        eprintln!("WARNING: {w}");
    }
    if let Some(spec) = &a.db {
        let wanted = Wanted::from_packages(&report.inventory.packages);
        let db = Database::open(spec, Some(&wanted)).map_err(|e| fail(e.to_string()))?;
        report.match_database(&db);
    }
    let all = report.findings.clone().unwrap_or_default();
    if let Some(list) = &mut report.findings {
        if !a.severity.is_empty() {
            list.retain(|f| a.severity.contains(&f.severity));
        }
    }

    let sbom_format = if a.format == "spdx-json" { "spdx-json" } else { "cyclonedx-json" };
    let sbom = |r: &Report| {
        let doc = if sbom_format == "spdx-json" { berth_scan::sbom::spdx(r) } else { berth_scan::sbom::cyclonedx(r) };
        serde_json::to_string_pretty(&doc).expect("json") + "\n"
    };
    let stdout = match a.format.as_str() {
        "table" => Some(table(&report)),
        "json" => Some(serde_json::to_string_pretty(&report).expect("json") + "\n"),
        // An SBOM format with -o goes to the file only.
        _ if a.output.is_some() => None,
        _ => Some(sbom(&report)),
    };
    if let Some(path) = &a.output {
        write_file(path, sbom(&report).as_bytes())?;
    }
    if let Some(text) = stdout {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| fail(format!("writing the report: {e}")))?;
    }

    if let Some(threshold) = a.fail_on {
        let n = all.iter().filter(|f| f.severity >= threshold).count();
        if n > 0 {
            return Err(Failure { message: Some(format!("{n} finding{} at or above {threshold}", if n == 1 { "" } else { "s" })), status: 1 });
        }
    }
    Ok(())
}

fn table(r: &Report) -> String {
    let mut out = String::new();
    let distro = r.inventory.distro.as_ref().map(|d| if d.pretty_name.is_empty() { format!("{} {}", d.id, d.version_id) } else { d.pretty_name.clone() });
    out.push_str(&format!("Image: {}{}\n", r.image_name(), distro.map(|d| format!(" ({d})")).unwrap_or_default()));
    out.push_str(&format!("Packages: {}\n\n", r.inventory.packages.len()));
    let mut rows = String::from("NAME\tVERSION\tTYPE\tLOCATION\n");
    for p in &r.inventory.packages {
        rows.push_str(&format!("{}\t{}\t{}\t{}\n", p.name, p.version, p.kind.as_str(), p.location));
    }
    out.push_str(&crate::table::align(&rows));
    if let Some(findings) = &r.findings {
        out.push('\n');
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        let summary: Vec<String> = Severity::ALL.iter().rev().filter(|s| count(**s) > 0).map(|s| format!("{s}: {}", count(*s))).collect();
        out.push_str(&format!(
            "Vulnerabilities: {}{}\n\n",
            findings.len(),
            if summary.is_empty() { String::new() } else { format!(" ({})", summary.join(", ")) }
        ));
        if !findings.is_empty() {
            let mut rows = String::from("ID\tPACKAGE\tINSTALLED\tFIXED\tSEVERITY\tSUMMARY\n");
            for f in findings {
                let fixed = if f.fixed.is_empty() { "-".to_owned() } else { f.fixed.join(", ") };
                rows.push_str(&format!("{}\t{}\t{}\t{}\t{}\t{}\n", f.id, f.package, f.installed, fixed, f.severity, f.summary.as_deref().unwrap_or("")));
            }
            out.push_str(&crate::table::align(&rows));
        }
    }
    out
}

/// Writes beside the target and renames, so a failed scan leaves no half-written SBOM.
fn write_file(path: &Path, data: &[u8]) -> CmdResult {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| fail(format!("invalid output path {}", path.display())))?;
    let tmp = dir.join(format!(".{}.berth-tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(format!("writing {}: {}", path.display(), io_msg(&e)))
    })
}
