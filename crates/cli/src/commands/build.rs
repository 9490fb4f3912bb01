//! `berth build` and `berth builder prune`: the context (a directory filtered by
//! `.dockerignore`, a tar or a Dockerfile on stdin, or a git repository) goes to
//! `POST /build` as a tar, as docker's classic builder sends it; the JSON progress comes
//! back as step lines (plain), or on a terminal as a live view with per-step timing and
//! CACHED marks (`build_view`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use berth_api::client::{encode, query, Body};
use berth_api::JsonMessage;
use berth_build::context::{walk_context, EntryKind};
use berth_build::dockerignore::DockerIgnore;
use clap::Args;
use serde_json::{json, Value};

use super::build_view::{terminal_width, TtyView};
use super::{client, confirm, fail, io_msg, is_tty};
use crate::{CmdResult, Failure, Global};

#[derive(Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long = "target")]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Set metadata for an image
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Write the image ID to the file
    #[arg(long = "iidfile")]
    iidfile: Option<PathBuf>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long = "network")]
    network: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    platform: Option<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or "id=VAR,env=VAR")
    #[arg(long = "secret")]
    secrets: Vec<String>,
    /// Output destination (format: "type=local,dest=path" or "type=tar,dest=file")
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// Set type of progress output ("auto", "plain", "tty", "quiet")
    #[arg(long = "progress", default_value = "auto")]
    progress: String,
    /// Images to consider as cache sources (accepted; berth's cache is its own store)
    #[arg(long = "cache-from")]
    cache_from: Vec<String>,
    /// Remove intermediate containers after a successful build (always on)
    #[arg(long = "rm", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    rm: bool,
    /// Always remove intermediate containers (always on)
    #[arg(long = "force-rm")]
    force_rm: bool,
    /// Build context: a directory, a git repository URL, or "-" (tar or Dockerfile on stdin)
    context: String,
}

#[derive(Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

/// Where the export of `--output` goes.
enum Output {
    Local(PathBuf),
    Tar(Option<PathBuf>),
}

fn parse_output(s: &str) -> Result<Output, Failure> {
    if !s.contains('=') {
        return Ok(if s == "-" { Output::Tar(None) } else { Output::Local(PathBuf::from(s)) });
    }
    let mut kind = "local".to_owned();
    let mut dest = None;
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("type", v)) => kind = v.to_owned(),
            Some(("dest", v)) => dest = Some(v.to_owned()),
            _ => return Err(fail(format!("invalid --output value {s:?}: expected type=local|tar,dest=PATH"))),
        }
    }
    match (kind.as_str(), dest) {
        ("local", Some(d)) => Ok(Output::Local(PathBuf::from(d))),
        ("local", None) => Err(fail("--output type=local needs dest=DIR")),
        ("tar", d) => Ok(Output::Tar(d.filter(|d| d != "-").map(PathBuf::from))),
        (k, _) => Err(fail(format!("--output type={k} is not supported: use local or tar"))),
    }
}

/// `--build-arg K=V`, or `K` taken from the environment (left out if unset, as docker).
fn build_args(args: &[String]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_owned(), v.to_owned());
            }
            None => {
                if let Ok(v) = std::env::var(a) {
                    m.insert(a.clone(), v);
                }
            }
        }
    }
    m
}

fn labels(args: &[String]) -> BTreeMap<String, String> {
    args.iter().map(|l| match l.split_once('=') {
        Some((k, v)) => (k.to_owned(), v.to_owned()),
        None => (l.clone(), String::new()),
    }).collect()
}

/// `--secret id=x,src=path` / `id=x,env=VAR` / `id=x` (env var x, else file x).
fn secrets(specs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for s in specs {
        let (mut id, mut src, mut env) = (None, None, None);
        for part in s.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_owned()),
                Some(("src" | "source", v)) => src = Some(v.to_owned()),
                Some(("env", v)) => env = Some(v.to_owned()),
                Some(("type", "file" | "env")) => {}
                _ => return Err(fail(format!("invalid secret {s:?}: expected id=ID[,src=FILE|,env=VAR]"))),
            }
        }
        let id = id.ok_or_else(|| fail(format!("invalid secret {s:?}: id= is required")))?;
        let value = match (src, env) {
            (Some(path), _) => std::fs::read(&path).map_err(|e| fail(format!("secret {id}: reading {path}: {}", io_msg(&e))))?,
            (None, Some(var)) => std::env::var(&var).map_err(|_| fail(format!("secret {id}: environment variable {var} is not set")))?.into_bytes(),
            (None, None) => match std::env::var(&id) {
                Ok(v) => v.into_bytes(),
                Err(_) => std::fs::read(&id).map_err(|e| fail(format!("secret {id}: no environment variable {id} and reading file {id}: {}", io_msg(&e))))?,
            },
        };
        out.insert(id, base64::engine::general_purpose::STANDARD.encode(value));
    }
    Ok(out)
}

fn is_git_url(s: &str) -> bool {
    let base = s.split('#').next().unwrap_or(s);
    s.starts_with("git://") || s.starts_with("git@") || s.starts_with("github.com/") || base.ends_with(".git")
}

/// Clones a git context (`URL[#ref[:subdir]]`) shallowly into `dir`; returns the
/// context directory.
fn clone_git(url: &str, dir: &Path) -> Result<PathBuf, Failure> {
    let (repo, fragment) = url.split_once('#').unwrap_or((url, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let mut cmd = std::process::Command::new("git");
    cmd.args(["clone", "--quiet", "--depth", "1", "--recurse-submodules"]);
    if !reference.is_empty() {
        cmd.args(["--branch", reference]);
    }
    let repo = repo.strip_prefix("file://").unwrap_or(repo);
    cmd.arg(repo).arg(dir);
    let out = cmd.output().map_err(|e| fail(format!("running git: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!("unable to prepare context: unable to 'git clone' to temporary context directory: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let ctx = dir.join(subdir);
    if !ctx.is_dir() {
        return Err(fail(format!("unable to prepare context: subdirectory {subdir:?} not found in {repo}")));
    }
    Ok(ctx)
}

fn tar_header(meta: &std::fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    // docker sends the context owned by root.
    h.set_uid(0);
    h.set_gid(0);
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h
}

/// Writes the context directory (what `.dockerignore` lets through) as a tar, plus an
/// extra Dockerfile under `extra_name` when it lives outside the context or on stdin.
fn context_tar(dir: &Path, dockerfile_rel: &str, extra: Option<(&str, &[u8])>, out: impl Write) -> Result<(), Failure> {
    let ignore = DockerIgnore::load(dir, Some(&dir.join(dockerfile_rel))).map_err(|e| fail(format!("{e}")))?;
    let ignore = ignore.for_context_upload(dockerfile_rel);
    let entries = walk_context(dir, &ignore).map_err(|e| fail(format!("{e}")))?;
    let mut b = tar::Builder::new(out);
    let werr = |e: io::Error| fail(format!("writing the build context: {e}"));
    for e in entries {
        let meta = std::fs::symlink_metadata(&e.path).map_err(|err| fail(format!("{}: {}", e.rel_path, io_msg(&err))))?;
        let mut h = tar_header(&meta);
        match e.kind {
            EntryKind::File => {
                let f = File::open(&e.path).map_err(|err| fail(format!("{}: {}", e.rel_path, io_msg(&err))))?;
                b.append_data(&mut h, &e.rel_path, f).map_err(werr)?;
            }
            EntryKind::Dir => b.append_data(&mut h, format!("{}/", e.rel_path), io::empty()).map_err(werr)?,
            EntryKind::Symlink => {
                let target = std::fs::read_link(&e.path).map_err(|err| fail(format!("{}: {}", e.rel_path, io_msg(&err))))?;
                b.append_link(&mut h, &e.rel_path, target).map_err(werr)?;
            }
            EntryKind::Other => {}
        }
    }
    if let Some((name, data)) = extra {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
        b.append_data(&mut h, name, data).map_err(werr)?;
    }
    b.into_inner().map_err(werr)?.flush().map_err(werr)?;
    Ok(())
}

/// A writer that remembers whether a write to it failed.
struct Watched<'a> {
    out: &'a mut dyn Write,
    broke: bool,
}

impl Write for Watched<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.out.write(data).inspect_err(|_| self.broke = true)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush().inspect_err(|_| self.broke = true)
    }
}

fn is_archive(head: &[u8]) -> bool {
    head.len() > 262 && &head[257..262] == b"ustar"
        || head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(b"BZh")
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// What is sent: a tar already made (stdin), or a directory tarred while it is sent.
enum Context {
    Tar(File),
    Dir { dir: PathBuf, extra: Option<Vec<u8>> },
}

/// The context and the Dockerfile name inside it.
fn prepare_context(a: &BuildArgs, tmp: &Path) -> Result<(Context, String), Failure> {
    let random_name = || format!(".dockerfile.{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    if a.context == "-" {
        if a.file.as_deref() == Some("-") {
            return Err(fail("invalid argument: can't use stdin for both build context and dockerfile"));
        }
        let mut data = Vec::new();
        io::stdin().read_to_end(&mut data).map_err(|e| fail(format!("reading stdin: {e}")))?;
        let mut body = tempfile::tempfile_in(tmp).map_err(|e| fail(format!("creating a temporary file: {e}")))?;
        if is_archive(&data) {
            body.write_all(&data).map_err(|e| fail(format!("{e}")))?;
            let name = a.file.clone().unwrap_or_else(|| "Dockerfile".into());
            body.rewind().map_err(|e| fail(format!("{e}")))?;
            return Ok((Context::Tar(body), name));
        }
        let empty = tmp.join("empty-context");
        std::fs::create_dir_all(&empty).map_err(|e| fail(format!("{e}")))?;
        let name = random_name();
        context_tar(&empty, &name, Some((&name, &data)), &mut body)?;
        body.rewind().map_err(|e| fail(format!("{e}")))?;
        return Ok((Context::Tar(body), name));
    }
    let dir = if is_git_url(&a.context) {
        clone_git(&a.context, &tmp.join("git"))?
    } else {
        let d = PathBuf::from(&a.context);
        if !d.is_dir() {
            return Err(fail(format!("unable to prepare context: path {:?} not found", a.context)));
        }
        d
    };
    let (rel, extra): (String, Option<Vec<u8>>) = match a.file.as_deref() {
        Some("-") => {
            let mut data = Vec::new();
            io::stdin().read_to_end(&mut data).map_err(|e| fail(format!("reading the Dockerfile from stdin: {e}")))?;
            (random_name(), Some(data))
        }
        Some(f) => {
            let p = if is_git_url(&a.context) { dir.join(f) } else { PathBuf::from(f) };
            let p = std::fs::canonicalize(&p).map_err(|_| fail(format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {f}: no such file or directory")))?;
            let base = std::fs::canonicalize(&dir).map_err(|e| fail(format!("{e}")))?;
            match p.strip_prefix(&base) {
                Ok(r) => (r.to_string_lossy().into_owned(), None),
                Err(_) => {
                    let data = std::fs::read(&p).map_err(|e| fail(format!("reading {f}: {}", io_msg(&e))))?;
                    (random_name(), Some(data))
                }
            }
        }
        None => {
            if !dir.join("Dockerfile").exists() {
                return Err(fail(format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory", dir.join("Dockerfile").display())));
            }
            ("Dockerfile".into(), None)
        }
    };
    Ok((Context::Dir { dir, extra }, rel))
}

pub fn build(g: &Global, a: BuildArgs) -> CmdResult {
    let c = client(g)?;
    let output = a.output.as_deref().map(parse_output).transpose()?;
    let tmp = tempfile::tempdir().map_err(|e| fail(format!("creating a temporary directory: {e}")))?;
    let (body, dockerfile) = prepare_context(&a, tmp.path())?;
    let mut pairs: Vec<(&str, Option<String>)> = vec![
        ("dockerfile", Some(dockerfile.clone())),
        ("buildargs", Some(json!(build_args(&a.build_args)).to_string())),
        ("labels", Some(json!(labels(&a.labels)).to_string())),
        ("target", a.target.clone()),
        ("nocache", a.no_cache.then(|| "1".into())),
        ("pull", a.pull.then(|| "1".into())),
        ("q", (a.quiet || a.progress == "quiet").then(|| "1".into())),
        ("networkmode", a.network.clone()),
        ("platform", a.platform.clone()),
        ("rm", Some(if a.rm { "1" } else { "0" }.into())),
        ("forcerm", a.force_rm.then(|| "1".into())),
    ];
    if !a.cache_from.is_empty() {
        pairs.push(("cachefrom", Some(json!(a.cache_from).to_string())));
    }
    if output.is_some() {
        pairs.push(("outputs", Some(json!([{ "Type": "local" }]).to_string())));
    }
    let mut q = query(pairs);
    for t in &a.tags {
        q.push_str(&format!("&t={}", encode(t)));
    }
    let secrets = secrets(&a.secrets)?;
    let mut headers = Vec::new();
    if !secrets.is_empty() {
        headers.push(("X-Berth-Build-Secrets", base64::engine::general_purpose::STANDARD.encode(json!(secrets).to_string())));
    }
    // A directory is tarred while it is sent, straight into the request (no temporary
    // copy of a large context, no pipe).
    let tar_failure = std::cell::RefCell::new(None);
    let body = match body {
        Context::Tar(f) => Body::Stream { content_type: "application/x-tar", reader: Box::new(f) },
        Context::Dir { dir, extra } => {
            let (name, failure) = (dockerfile.clone(), &tar_failure);
            Body::Writer {
                content_type: "application/x-tar",
                write: Box::new(move |out: &mut dyn Write| {
                    let mut out = Watched { out, broke: false };
                    context_tar(&dir, &name, extra.as_deref().map(|d| (name.as_str(), d)), &mut out).map_err(|f| {
                        let e = io::Error::other(f.message.clone().unwrap_or_default());
                        // A daemon that stopped reading (it answered, e.g. with a
                        // Dockerfile error) is not a context problem: its answer says why.
                        if !out.broke {
                            *failure.borrow_mut() = Some(f);
                        }
                        e
                    })
                }),
            }
        }
    };
    let sent = c.call_with("POST", &format!("/build{q}"), &headers, body);
    // The daemon's answer explains a refused request best; a context that could not be
    // read (an unreadable file) explains a truncated one.
    let resp = sent?;
    if let Some(f) = tar_failure.into_inner() {
        return Err(f);
    }
    let quiet = a.quiet || a.progress == "quiet";
    let timed = match a.progress.as_str() {
        "plain" => false,
        "tty" => true,
        _ => is_tty(1),
    };
    let mut id = None;
    let mut error: Option<String> = None;
    // On a terminal: the live view, redrawn by a ticker so running steps' times move.
    let view = (timed && !quiet).then(|| Mutex::new(TtyView::new(io::stdout(), terminal_width(1), Instant::now())));
    let stop = AtomicBool::new(false);
    let streamed = std::thread::scope(|scope| {
        if let Some(v) = &view {
            let stop = &stop;
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    if !stop.load(Ordering::Relaxed) {
                        v.lock().unwrap_or_else(|p| p.into_inner()).draw(Instant::now());
                    }
                }
            });
        }
        // However the reading ends (a panic included), the ticker stops, or the scope
        // would wait for it forever.
        struct StopTicker<'a>(&'a AtomicBool);
        impl Drop for StopTicker<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop_ticker = StopTicker(&stop);
        let r = resp.json_messages(|m: &JsonMessage| {
            if let Some(msg) = m.error_message() {
                error = Some(msg.to_owned());
            } else if let Some(aux) = &m.aux {
                if let Some(i) = aux.get("ID").and_then(Value::as_str) {
                    id = Some(i.to_owned());
                }
            } else if let Some(s) = &m.stream {
                match &view {
                    Some(v) => v.lock().unwrap_or_else(|p| p.into_inner()).text(s, Instant::now()),
                    None if !quiet => {
                        let mut out = io::stdout().lock();
                        let _ = out.write_all(s.as_bytes());
                        let _ = out.flush();
                    }
                    None => {}
                }
            }
        });
        stop.store(true, Ordering::Relaxed);
        r
    });
    if let Some(v) = view {
        v.into_inner().unwrap_or_else(|p| p.into_inner()).finish(Instant::now(), streamed.is_ok() && error.is_none());
    }
    streamed?;
    if let Some(e) = error {
        return Err(fail(e));
    }
    let id = id.ok_or_else(|| fail("the build ended without an image id"))?;
    if let Some(o) = output {
        return export(&c, &id, o);
    }
    if quiet {
        println!("{id}");
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id).map_err(|e| fail(format!("writing the image ID to {}: {}", f.display(), io_msg(&e))))?;
    }
    Ok(())
}

/// `--output`: the built stage's files, through a container that is never started.
fn export(c: &berth_api::client::Client, image: &str, o: Output) -> CmdResult {
    let created: Value = c.call("POST", "/containers/create", Body::Json(serde_json::to_vec(&json!({ "Image": image, "Cmd": ["/"], "Entrypoint": [] })).unwrap_or_default()))?.json()?;
    let cid = created.get("Id").and_then(Value::as_str).ok_or_else(|| fail("creating the export container returned no id"))?.to_owned();
    let result = (|| -> CmdResult {
        let resp = c.call("GET", &format!("/containers/{cid}/export"), Body::Empty)?;
        match o {
            Output::Tar(None) => {
                io::copy(&mut resp.into_reader(), &mut io::stdout().lock()).map_err(|e| fail(format!("writing the export: {e}")))?;
            }
            Output::Tar(Some(path)) => {
                let mut f = File::create(&path).map_err(|e| fail(format!("creating {}: {}", path.display(), io_msg(&e))))?;
                io::copy(&mut resp.into_reader(), &mut f).map_err(|e| fail(format!("writing {}: {e}", path.display())))?;
            }
            Output::Local(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| fail(format!("creating {}: {}", dir.display(), io_msg(&e))))?;
                let root: std::os::fd::OwnedFd = File::open(&dir).map_err(|e| fail(format!("opening {}: {}", dir.display(), io_msg(&e))))?.into();
                berth_image::layer::unpack::extract_in_root(root, Path::new("/"), resp.into_reader(), &Default::default()).map_err(|e| fail(format!("extracting into {}: {e}", dir.display())))?;
            }
        }
        Ok(())
    })();
    let _ = c.call("DELETE", &format!("/containers/{cid}?force=1"), Body::Empty);
    result
}

pub fn builder_prune(g: &Global, a: BuilderPruneArgs) -> CmdResult {
    let c = client(g)?;
    if !a.force && !confirm("WARNING! This will remove all dangling build cache.") {
        return Ok(());
    }
    let q = query([("all", a.all.then(|| "1".to_owned()))]);
    let v: Value = c.call("POST", &format!("/build/prune{q}"), Body::Empty)?.json()?;
    if let Some(ids) = v.get("CachesDeleted").and_then(Value::as_array).filter(|a| !a.is_empty()) {
        println!("Deleted build cache objects:");
        for i in ids.iter().filter_map(Value::as_str) {
            println!("{}", i.strip_prefix("sha256:").unwrap_or(i));
        }
        println!();
    }
    let freed = v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    println!("Total reclaimed space: {}", crate::units::human_size(freed as f64));
    Ok(())
}
