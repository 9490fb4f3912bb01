//! Image commands: images/ls, import, tag, rmi, inspect, history, save, load, prune.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use berth_api::client::{encode, query, Body};
use berth_api::models::{HistoryResponseItem, ImageDeleteResponseItem, ImagePruneResponse, ImageSummary};
use berth_api::{ClientError, Filters, JsonMessage};
use clap::Args;
use serde_json::{json, Value};

use super::{client, fail, is_tty, render};
use crate::template::Template;
use crate::units::{go_time_string, human_size, since};
use crate::{CmdResult, Global};

/// Encodes an image name for a path: slashes stay (the daemon splits on the last one).
fn path_name(name: &str) -> String {
    name.split('/').map(encode).collect::<Vec<_>>().join("/")
}

fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

// ---------------------------------------------------------------- images / image ls

#[derive(Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Show digests
    #[arg(long = "digests")]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)
    #[arg(long = "format")]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

pub fn list(g: &Global, a: ImagesArgs) -> CmdResult {
    let c = client(g)?;
    let mut filters = Filters::new();
    for f in &a.filter {
        filters.add_cli(f).map_err(|e| fail(e.0))?;
    }
    if let Some(r) = &a.reference {
        filters.add("reference", r);
    }
    let q = query([
        ("all", a.all.then(|| "1".to_owned())),
        ("digests", a.digests.then(|| "1".to_owned())),
        ("filters", (!filters.is_empty()).then(|| filters.to_json())),
    ]);
    let images: Vec<ImageSummary> = c.get_json(&format!("/images/json{q}"))?;
    let mut rows = Vec::new();
    for img in &images {
        for (repo, tag, digest) in image_rows(img, a.digests) {
            rows.push(image_row(img, &repo, &tag, &digest, !a.no_trunc));
        }
    }
    let default = if a.quiet {
        "{{.ID}}"
    } else if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let format = if a.quiet { "" } else { a.format.as_deref().unwrap_or("") };
    let headers = json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
        "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
    });
    print!("{}", render(format, default, &rows, &headers)?);
    Ok(())
}

/// docker's rows for one image: one per repository tag (per digest too with
/// `--digests`), digest-only references after them, `<none>` for a dangling image.
fn image_rows(img: &ImageSummary, show_digests: bool) -> Vec<(String, String, String)> {
    if img.repo_tags.is_empty() && img.repo_digests.is_empty() {
        return vec![("<none>".into(), "<none>".into(), "<none>".into())];
    }
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &img.repo_tags {
        if let Some((repo, tag)) = t.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            tags.entry(repo.to_owned()).or_default().push(tag.to_owned());
        }
    }
    let mut digests: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &img.repo_digests {
        if let Some((repo, dg)) = d.split_once('@') {
            digests.entry(repo.to_owned()).or_default().push(dg.to_owned());
        }
    }
    let mut rows = Vec::new();
    for (repo, ts) in &tags {
        let ds = digests.remove(repo).filter(|_| show_digests).unwrap_or_default();
        for t in ts {
            if ds.is_empty() {
                rows.push((repo.clone(), t.clone(), "<none>".into()));
            }
            for d in &ds {
                rows.push((repo.clone(), t.clone(), d.clone()));
            }
        }
    }
    for (repo, ds) in digests {
        if show_digests {
            for d in ds {
                rows.push((repo.clone(), "<none>".into(), d));
            }
        } else {
            rows.push((repo, "<none>".into(), String::new()));
        }
    }
    rows
}

fn image_row(img: &ImageSummary, repo: &str, tag: &str, digest: &str, trunc: bool) -> Value {
    let size = human_size(img.size as f64);
    let na = |n: i64, s: String| if n < 0 { "N/A".to_owned() } else { s };
    json!({
        "ID": if trunc { short_id(&img.id) } else { img.id.clone() },
        "Repository": repo,
        "Tag": tag,
        "Digest": digest,
        "CreatedSince": since(img.created),
        "CreatedAt": go_time_string(img.created),
        "Size": size,
        "VirtualSize": size,
        "Containers": na(img.containers, img.containers.to_string()),
        "SharedSize": na(img.shared_size, human_size(img.shared_size as f64)),
        "UniqueSize": na(img.shared_size, human_size((img.size - img.shared_size) as f64)),
    })
}

// ---------------------------------------------------------------- import

#[derive(Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "CHANGE")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    platform: Option<String>,
    /// file|URL|- : the root filesystem tarball
    source: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

pub fn import(g: &Global, a: ImportArgs) -> CmdResult {
    let c = client(g)?;
    let is_url = a.source.starts_with("http://") || a.source.starts_with("https://");
    let from_src = if a.source == "-" || !is_url { "-".to_owned() } else { a.source.clone() };
    let mut q = query([
        ("fromSrc", Some(from_src.clone())),
        ("repo", a.reference.clone()),
        ("message", a.message.clone()),
        ("platform", a.platform.clone()),
    ]);
    for ch in &a.change {
        q.push_str(&format!("{}changes={}", if q.is_empty() { "?" } else { "&" }, encode(ch)));
    }
    let body = if from_src != "-" {
        Body::Empty
    } else if a.source == "-" {
        Body::Stream { content_type: "application/x-tar", reader: Box::new(io::stdin().lock()) }
    } else {
        let f = File::open(&a.source).map_err(|e| fail(format!("open {}: {}", a.source, io_msg(&e))))?;
        Body::Stream { content_type: "application/x-tar", reader: Box::new(f) }
    };
    let resp = c.call("POST", &format!("/images/create{q}"), body)?;
    print_messages(resp)
}

/// Prints a JSON message stream as docker's CLI does (live layer lines on a terminal).
fn print_messages(resp: berth_api::client::Response) -> CmdResult {
    let terminal = super::is_tty(1);
    let width = crate::tty::size(1).map(|(_, cols)| cols).unwrap_or(200);
    let mut display = crate::progress::Display::new(io::stdout().lock(), terminal, width);
    resp.json_messages(|m: &JsonMessage| display.show(m))?;
    Ok(())
}

fn io_msg(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

// ---------------------------------------------------------------- tag

#[derive(Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

pub fn tag(g: &Global, a: TagArgs) -> CmdResult {
    let c = client(g)?;
    if a.target.contains('@') {
        return Err(fail("refusing to create a tag with a digest reference"));
    }
    let (repo, tag) = match a.target.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_owned(), t.to_owned()),
        _ => (a.target.clone(), "latest".to_owned()),
    };
    let q = query([("repo", Some(repo)), ("tag", Some(tag))]);
    c.call("POST", &format!("/images/{}/tag{q}", path_name(&a.source)), Body::Empty)?;
    Ok(())
}

// ---------------------------------------------------------------- rmi / image rm

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    no_prune: bool,
    /// IMAGE [IMAGE...]
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn remove(g: &Global, a: RmiArgs) -> CmdResult {
    let c = client(g)?;
    let mut errors = Vec::new();
    for name in &a.images {
        let q = query([("force", a.force.then(|| "1".to_owned())), ("noprune", a.no_prune.then(|| "1".to_owned()))]);
        match c.call("DELETE", &format!("/images/{}{q}", path_name(name)), Body::Empty).and_then(|r| r.json::<Vec<ImageDeleteResponseItem>>()) {
            Ok(items) => {
                for it in items {
                    if let Some(u) = it.untagged {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = it.deleted {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(fail(errors.join("\n")))
    }
}

// ---------------------------------------------------------------- inspect

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// Return JSON for specified type (only "image" for now)
    #[arg(long = "type")]
    typ: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    size: bool,
    /// NAME|ID [NAME|ID...]
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn inspect(g: &Global, a: InspectArgs, image_only: bool) -> CmdResult {
    if let Some(t) = a.typ.as_deref() {
        if t != "image" {
            return Err(fail(format!("\"{t}\" is not a valid value for --type (berth can only inspect images so far)")));
        }
    }
    let _ = a.size;
    let c = client(g)?;
    let mut raws: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for name in &a.names {
        match c.call("GET", &format!("/images/{}/json", path_name(name)), Body::Empty).and_then(|r| r.text()) {
            Ok(t) => raws.push(t),
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(ClientError::Api { status: 404, message }) => {
                errors.push(if image_only { format!("Error response from daemon: {message}") } else { format!("Error: No such object: {name}") })
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    match a.format.as_deref().filter(|f| !f.is_empty() && *f != "json") {
        Some(f) => {
            let t = Template::parse(&f.replace("\\t", "\t").replace("\\n", "\n")).map_err(|e| fail(e.to_string()))?;
            for r in &raws {
                let v: Value = serde_json::from_str(r).map_err(|e| fail(format!("cannot decode the daemon's response: {e}")))?;
                println!("{}", t.render(&v).map_err(|e| fail(e.to_string()))?);
            }
        }
        None => {
            let joined = format!("[{}]", raws.iter().map(|r| r.trim()).collect::<Vec<_>>().join(","));
            println!("{}", crate::jsonfmt::indent(&joined));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(fail(errors.join("\n")))
    }
}

// ---------------------------------------------------------------- history

#[derive(Args)]
pub struct HistoryArgs {
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)
    #[arg(long = "format")]
    format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long = "human", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// IMAGE
    image: String,
}

pub fn history(g: &Global, a: HistoryArgs) -> CmdResult {
    let c = client(g)?;
    let items: Vec<HistoryResponseItem> = c.get_json(&format!("/images/{}/history", path_name(&a.image)))?;
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let created_by = h.created_by.replace('\t', " ");
            let created_by = if trunc && created_by.chars().count() > 45 { format!("{}…", created_by.chars().take(44).collect::<String>()) } else { created_by };
            let id = if trunc && h.id.starts_with("sha256:") { short_id(&h.id) } else { h.id.clone() };
            json!({
                "ID": id,
                "CreatedSince": if a.human { since(h.created) } else { crate::units::go_time_string(h.created) },
                "CreatedAt": go_time_string(h.created),
                "CreatedBy": created_by,
                "Size": if a.human { human_size(h.size as f64) } else { h.size.to_string() },
                "Comment": h.comment,
                "Tags": h.tags,
            })
        })
        .collect();
    let default = if a.quiet { "{{.ID}}" } else { "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}" };
    let format = if a.quiet { "" } else { a.format.as_deref().unwrap_or("") };
    let headers = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT", "Tags": "TAGS"});
    print!("{}", render(format, default, &rows, &headers)?);
    Ok(())
}

// ---------------------------------------------------------------- save

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// IMAGE [IMAGE...]
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn save(g: &Global, a: SaveArgs) -> CmdResult {
    if a.output.is_none() && is_tty(1) {
        return Err(fail("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
    }
    let c = client(g)?;
    let q: Vec<String> = a.images.iter().map(|n| format!("names={}", encode(n))).collect();
    let resp = c.call("GET", &format!("/images/get?{}", q.join("&")), Body::Empty)?;
    let mut reader = resp.into_reader();
    match &a.output {
        Some(path) => copy_to_file(&mut reader, path),
        None => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            io::copy(&mut reader, &mut out).map_err(|e| fail(format!("writing the archive: {e}")))?;
            out.flush().map_err(|e| fail(format!("writing the archive: {e}")))?;
            Ok(())
        }
    }
}

/// Writes to a temporary file beside `path` and renames it into place, so a failed
/// save never leaves a truncated archive under the requested name.
fn copy_to_file(reader: &mut impl Read, path: &Path) -> CmdResult {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| fail(format!("invalid output path {}", path.display())))?;
    let tmp = dir.join(format!(".{}.berth-tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        io::copy(reader, &mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(format!("failed to save image: {}: {e}", path.display()))
    })
}

// ---------------------------------------------------------------- load

#[derive(Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input")]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
}

pub fn load(g: &Global, a: LoadArgs) -> CmdResult {
    let reader: Box<dyn Read> = match &a.input {
        Some(p) => Box::new(File::open(p).map_err(|e| fail(format!("open {}: {}", p.display(), io_msg(&e))))?),
        None => {
            if is_tty(0) {
                return Err(fail("requested load from stdin, but stdin is empty"));
            }
            Box::new(io::stdin().lock())
        }
    };
    let c = client(g)?;
    let q = query([("quiet", a.quiet.then(|| "1".to_owned()))]);
    let resp = c.call("POST", &format!("/images/load{q}"), Body::Stream { content_type: "application/x-tar", reader })?;
    print_messages(resp)
}

// ---------------------------------------------------------------- image prune

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

pub fn prune(g: &Global, a: PruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !super::confirm(warning) {
        return Ok(());
    }
    let reclaimed = prune_images(g, a.all, &a.filter)?;
    println!("Total reclaimed space: {}", human_size(reclaimed as f64));
    Ok(())
}

/// Removes dangling (or, with `all`, unused) images, prints what went as docker
/// does, returns the bytes reclaimed.
pub fn prune_images(g: &Global, all: bool, filter: &[String]) -> Result<i64, crate::Failure> {
    let mut filters = Filters::new();
    for f in filter {
        filters.add_cli(f).map_err(|e| fail(e.0))?;
    }
    filters.add("dangling", if all { "false" } else { "true" });
    let c = client(g)?;
    let r: ImagePruneResponse = c.call("POST", &format!("/images/prune{}", query([("filters", Some(filters.to_json()))])), Body::Empty)?.json()?;
    let deleted = r.images_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in &deleted {
            if let Some(u) = &d.untagged {
                println!("untagged: {u}");
            }
            if let Some(x) = &d.deleted {
                println!("deleted: {x}");
            }
        }
        println!();
    }
    Ok(r.space_reclaimed.unwrap_or(0))
}

