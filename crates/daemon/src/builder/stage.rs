//! One stage of a build: its base, then each evaluated instruction applied to the
//! image config, with RUN/COPY/ADD making layers (or taken from the cache).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use berth_api::models::{ContainerConfig, HealthConfig};
use berth_build::cache_key::step_cache_key;
use berth_build::copy::{copy_into, source_checksum, CopyRequest, SourceKind};
use berth_build::evaluate::{EvaluatedStage, EvaluatedStep};
use berth_build::instructions::{CommandLine, Healthcheck, Instruction, MountType, NetworkMode, SecurityMode};
use berth_image::store::{DeriveOptions, HistoryItem};
use berth_image::Digest;
use sha2::Digest as _;

use super::inline_cache;
use super::rootfs::Mounted;
use super::run::{self, RunSpec};
use super::{short, Build, BuildError};
use crate::state::AppState;

/// A built stage: its image.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub image: Digest,
}

/// Where a stage stands between steps.
struct StageState {
    /// The last image made or taken from the cache (`None`: scratch, nothing yet).
    image: Option<Digest>,
    config: ContainerConfig,
    author: Option<String>,
    /// Config-only steps since `image`, folded into the next image made.
    pending: Vec<HistoryItem>,
    key: String,
    shell: Vec<String>,
    /// CMD set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// The stage's steps that made or took an image so far (the inline cache record).
    steps: Vec<inline_cache::Step>,
}

impl StageState {
    /// The working directory in force (the base image's WORKDIR counts).
    fn workdir(&self) -> String {
        self.config.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into())
    }
}

/// The Docker-shaped runtime config of an image config blob.
pub fn image_config_of(raw: &[u8]) -> ContainerConfig {
    serde_json::from_slice::<serde_json::Value>(raw).ok().and_then(|v| v.get("config").cloned()).and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default()
}

fn author_of(raw: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(raw).ok().and_then(|v| v.get("author").and_then(|a| a.as_str()).map(str::to_owned))
}

const COMMENT: &str = "buildkit.dockerfile.v0";

pub async fn run_stage(b: &Build, ev: &EvaluatedStage, done: &[Option<Outcome>], first_step: usize, is_target: bool) -> Result<Outcome, BuildError> {
    let mut n = first_step;
    let from_line = match &ev.name {
        Some(name) => format!("FROM {} AS {name}", ev.base),
        None => format!("FROM {}", ev.base),
    };
    b.progress.stream(format!("Step {n}/{} : {from_line}\n", b.total_steps)).await;
    let mut st = base_state(b, ev, done).await?;
    if let Some(id) = &st.image {
        b.progress.stream(format!(" ---> {}\n", short(id))).await;
    }
    // The base image's ONBUILD triggers run first, as if written after FROM; the child
    // image does not inherit them.
    let triggers = if ev.base_stage.is_none() { st.config.on_build.take().unwrap_or_default() } else { Vec::new() };
    if !triggers.is_empty() {
        b.progress.stream(format!("# Executing {} build trigger{}\n", triggers.len(), if triggers.len() == 1 { "" } else { "s" })).await;
    }
    for t in &triggers {
        let step = trigger_step(b, &st, t)?;
        apply(b, &mut st, &step, done).await.map_err(|e| BuildError { message: format!("ONBUILD trigger {t:?} of {}: {}", ev.base, e.message), code: e.code })?;
    }
    for step in &ev.steps {
        n += 1;
        b.progress.stream(format!("Step {n}/{} : {}\n", b.total_steps, step.original.trim())).await;
        apply(b, &mut st, step, done).await.map_err(|e| located(e, step))?;
    }
    let image = finish_stage(b, &mut st, is_target).await?;
    Ok(Outcome { image })
}

/// An ONBUILD trigger of the base image as an evaluated step (its variables expanded with
/// the stage's environment and build args).
fn trigger_step(b: &Build, st: &StageState, trigger: &str) -> Result<EvaluatedStep> {
    let upper = trigger.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    if matches!(upper.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
        bail!("{upper} isn't allowed as an ONBUILD trigger");
    }
    let df = berth_build::parse_dockerfile(&format!("FROM scratch\n{trigger}\n")).map_err(|e| anyhow!("invalid ONBUILD trigger {trigger:?}: {e}"))?;
    let env: Vec<(String, String)> = st.config.env.iter().flatten().filter_map(|e| e.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let mut opts = berth_build::evaluate::EvalOptions { build_args: b.opts.build_args.clone(), ..Default::default() };
    opts.base_image_env.insert("scratch".into(), env);
    let ev = berth_build::evaluate::evaluate(&df, &opts, None).map_err(|e| anyhow!("invalid ONBUILD trigger {trigger:?}: {e}"))?;
    ev.stages.into_iter().flatten().next().and_then(|s| s.steps.into_iter().next()).ok_or_else(|| anyhow!("empty ONBUILD trigger"))
}

/// Names the Dockerfile line in a step's error (a RUN's exit report is left as Docker
/// words it).
fn located(mut e: BuildError, step: &EvaluatedStep) -> BuildError {
    if e.code.is_none() {
        e.message = format!("Dockerfile line {}: {}: {}", step.location.line, step.original.lines().next().unwrap_or("").trim(), e.message);
    }
    e
}

async fn base_state(b: &Build, ev: &EvaluatedStage, done: &[Option<Outcome>]) -> Result<StageState> {
    let (image, key) = match ev.base_stage {
        Some(i) => {
            let o = done.get(i).cloned().flatten().ok_or_else(|| anyhow!("stage {} is needed before it was built", ev.base))?;
            (Some(o.image.clone()), format!("stage:{}", o.image))
        }
        None if ev.base.eq_ignore_ascii_case("scratch") => (None, "scratch".to_owned()),
        None => {
            let id = b.images.get(&ev.base).cloned().ok_or_else(|| anyhow!("base image {} was not resolved", ev.base))?;
            (Some(id.clone()), id.to_string())
        }
    };
    let (config, author) = match &image {
        Some(id) => {
            let rec = b.state.images.get(id)?;
            (image_config_of(&rec.config_bytes), author_of(&rec.config_bytes))
        }
        None => (ContainerConfig { env: Some(vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()]), ..Default::default() }, None),
    };
    let shell = config.shell.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    let key = match &ev.platform {
        Some(p) => format!("{key}|{p}"),
        None => key,
    };
    Ok(StageState { image, config, author, pending: Vec::new(), key, shell, cmd_set: false, steps: Vec::new() })
}

fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let prefix = format!("{key}=");
    let entry = format!("{key}={value}");
    match env.iter_mut().find(|e| e.starts_with(&prefix)) {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

fn command(shell: &[String], c: &CommandLine) -> Vec<String> {
    if c.prepend_shell {
        let mut v = shell.to_vec();
        v.push(c.args.first().cloned().unwrap_or_default());
        v
    } else {
        c.args.clone()
    }
}

fn nanos(d: std::time::Duration) -> Option<i64> {
    if d.is_zero() {
        None
    } else {
        Some(d.as_nanos() as i64)
    }
}

/// Applies one step: config changes at once, layer steps through the cache.
async fn apply(b: &Build, st: &mut StageState, step: &EvaluatedStep, done: &[Option<Outcome>]) -> Result<(), BuildError> {
    let cfg = &mut st.config;
    let mut history = true;
    match &step.instruction {
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) => return layer_step(b, st, step, done).await,
        Instruction::Env(kvs) => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            for kv in kvs {
                set_env(env, &kv.key, &kv.value);
            }
        }
        Instruction::Cmd(c) => {
            cfg.cmd = Some(command(&st.shell, c));
            st.cmd_set = true;
        }
        Instruction::Entrypoint(c) => {
            cfg.entrypoint = Some(command(&st.shell, c));
            if !st.cmd_set {
                cfg.cmd = None;
            }
        }
        Instruction::Label(kvs) => {
            let labels = cfg.labels.get_or_insert_with(Default::default);
            for kv in kvs {
                labels.insert(kv.key.clone(), kv.value.clone());
            }
        }
        Instruction::Expose(ports) => {
            let map = cfg.exposed_ports.get_or_insert_with(Default::default);
            for p in ports {
                let p = if p.contains('/') { p.to_ascii_lowercase() } else { format!("{p}/tcp") };
                map.insert(p, Default::default());
            }
        }
        Instruction::User(u) => cfg.user = Some(u.clone()),
        Instruction::Workdir(w) => {
            let current = cfg.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
            cfg.working_dir = Some(berth_build::evaluate::join_workdir(&current, w));
        }
        Instruction::Volume(vols) => {
            let map = cfg.volumes.get_or_insert_with(Default::default);
            for v in vols {
                map.insert(v.clone(), Default::default());
            }
        }
        Instruction::Shell(s) => {
            st.shell = s.clone();
            cfg.shell = Some(s.clone());
        }
        Instruction::StopSignal(s) => cfg.stop_signal = Some(s.clone()),
        Instruction::Healthcheck(Healthcheck::None) => cfg.healthcheck = Some(HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() }),
        Instruction::Healthcheck(Healthcheck::Cmd(h)) => {
            cfg.healthcheck = Some(HealthConfig {
                test: Some(h.test.clone()),
                interval: nanos(h.interval),
                timeout: nanos(h.timeout),
                start_period: nanos(h.start_period),
                start_interval: nanos(h.start_interval),
                retries: if h.retries == 0 { None } else { Some(h.retries as i64) },
            })
        }
        Instruction::Onbuild(o) => cfg.on_build.get_or_insert_with(Vec::new).push(o.expression.clone()),
        Instruction::Maintainer(m) => st.author = Some(m.clone()),
        Instruction::Arg(_) => history = false,
        Instruction::From(_) => return Err(anyhow!("FROM inside a stage").into()),
    }
    st.key = step_cache_key(&st.key, step, None, None);
    if history {
        st.pending.push(HistoryItem { created_by: step.original.trim().to_owned(), comment: Some(COMMENT.into()), empty_layer: true });
    }
    Ok(())
}

/// Makes the stage's image: the last one, or a new one carrying pending config steps.
async fn finish_stage(b: &Build, st: &mut StageState, is_target: bool) -> Result<Digest, BuildError> {
    if st.pending.is_empty() && (!is_target || b.opts.labels.is_empty()) {
        if let Some(id) = &st.image {
            return Ok(id.clone());
        }
    }
    // `--label`s belong to the target's image only; they are part of its key so a
    // rebuild with other labels does not reuse it.
    let mut labels: Vec<(String, String)> = if is_target { b.opts.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect() } else { Vec::new() };
    labels.sort();
    if !labels.is_empty() {
        let l = st.config.labels.get_or_insert_with(Default::default);
        for (k, v) in &labels {
            l.insert(k.clone(), v.clone());
        }
        st.key = berth_build::cache_key::cache_key(&berth_build::cache_key::CacheKeyInput { parent: &st.key, instruction: &format!("labels {labels:?}"), ..Default::default() });
    }
    if let Some(id) = cached(b, st).await? {
        return Ok(id);
    }
    let id = derive(b, st, None, Vec::new(), None).await?;
    Ok(id)
}

/// The image the cache holds for the stage's current key, if it still exists, else the
/// step taken from a `--cache-from` image; the stage moves on to it.
async fn cached(b: &Build, st: &mut StageState) -> Result<Option<Digest>> {
    if b.opts.no_cache {
        return Ok(None);
    }
    let (state, key, sources) = (b.state.clone(), st.key.clone(), b.cache_from.clone());
    let (parent, config, steps) = (st.image.clone(), serde_json::to_value(&st.config)?, st.steps.clone());
    let hit = tokio::task::spawn_blocking(move || -> Result<Option<(Digest, inline_cache::Step)>> {
        let local = match state.build_cache.get(&key)?.and_then(|id| Digest::parse(&id).ok()) {
            Some(d) if state.images.exists(&d)? => Some(d),
            Some(_) => {
                state.build_cache.forget(&key)?;
                None
            }
            None => None,
        };
        let id = match local {
            Some(d) => d,
            None if sources.is_empty() => return Ok(None),
            None => {
                let below = match &parent {
                    Some(p) => state.images.get(p)?.diff_ids,
                    None => Vec::new(),
                };
                let id = match inline_cache::find(&sources, &key, &below) {
                    None => return Ok(None),
                    Some(inline_cache::Found::Whole(id)) => id,
                    Some(inline_cache::Found::Prefix { image, layers, history }) => state.images.derive_prefix(&image, layers, history, config, &inline_cache::fields(&steps, &key))?,
                };
                state.build_cache.put(&key, &id.to_string())?;
                id
            }
        };
        let step = step_entry(&state, &id, &key)?;
        Ok(Some((id, step)))
    })
    .await??;
    Ok(hit.map(|(id, step)| {
        st.image = Some(id.clone());
        st.pending.clear();
        st.steps.push(step);
        id
    }))
}

/// The inline cache entry for the image a step made or took.
fn step_entry(state: &AppState, id: &Digest, key: &str) -> Result<inline_cache::Step> {
    let (layers, history) = inline_cache::counts(&state.images.get(id)?.config_bytes);
    Ok(inline_cache::Step { key: key.to_owned(), layers: Some(layers), history: Some(history) })
}

/// Records a new image from the stage's image, `upper`'s changes and the pending
/// history plus `more`; remembers it under the stage's current key.
/// `owners`: the id maps of a remapped RUN step, whose files carry host ids.
async fn derive(b: &Build, st: &mut StageState, upper: Option<PathBuf>, more: Vec<HistoryItem>, owners: Option<berth_image::changes::IdMapping>) -> Result<Digest> {
    let mut history = std::mem::take(&mut st.pending);
    history.extend(more);
    let opts = DeriveOptions {
        base: st.image.clone(),
        config: serde_json::to_value(&st.config)?,
        history,
        author: st.author.clone(),
        tag: None,
        intermediate: true,
        owners,
        fields: inline_cache::fields(&st.steps, &st.key),
    };
    let (state, key) = (b.state.clone(), st.key.clone());
    let (id, step) = tokio::task::spawn_blocking(move || -> Result<(Digest, inline_cache::Step)> {
        let id = state.images.derive(upper.as_deref(), &opts)?;
        state.build_cache.put(&key, &id.to_string())?;
        let step = step_entry(&state, &id, &key)?;
        Ok((id, step))
    })
    .await??;
    st.image = Some(id.clone());
    st.steps.push(step);
    Ok(id)
}

/// RUN, COPY, ADD: from the cache, or done and committed.
async fn layer_step(b: &Build, st: &mut StageState, step: &EvaluatedStep, done: &[Option<Outcome>]) -> Result<(), BuildError> {
    let sources = match &step.instruction {
        Instruction::Copy(_) | Instruction::Add(_) => Some(copy_sources(b, step, &st.workdir(), done).await?),
        _ => None,
    };
    st.key = step_cache_key(&st.key, step, sources.as_ref().map(|s| s.checksum.as_str()), None);
    if let Some(id) = cached(b, st).await? {
        b.progress.stream(format!(" ---> Using cache\n ---> {}\n", short(&id))).await;
        return Ok(());
    }
    let item = HistoryItem { created_by: step.original.trim().to_owned(), comment: Some(COMMENT.into()), empty_layer: false };
    let id = match &step.instruction {
        Instruction::Run(_) => run_step(b, st, step, done, item).await?,
        _ => copy_step(b, st, step, sources.expect("copy sources"), item).await?,
    };
    b.progress.stream(format!(" ---> {}\n", short(&id))).await;
    Ok(())
}

/// Where a COPY/ADD reads from, and the checksum its cache key uses.
struct CopySources {
    /// The stage or image a `--from` names (mounted when the copy runs).
    from_image: Option<Digest>,
    /// From an empty `scratch` stage: nothing to copy from.
    from_scratch: bool,
    checksum: String,
    /// ADD URLs fetched once, for the key and the copy.
    urls: HashMap<String, Vec<u8>>,
}

async fn copy_sources(b: &Build, step: &EvaluatedStep, workdir: &str, done: &[Option<Outcome>]) -> Result<CopySources> {
    let (from, srcs, is_add) = match &step.instruction {
        Instruction::Copy(c) => (c.from.clone(), c.sources.clone(), false),
        Instruction::Add(a) => (None, a.sources.clone(), true),
        _ => unreachable!("copy_sources of a non-copy step"),
    };
    let mut urls = HashMap::new();
    if is_add {
        for u in srcs.iter().filter(|s| s.starts_with("http://") || s.starts_with("https://")) {
            let url = u.clone();
            b.progress.stream(format!("Downloading {url}\n")).await;
            let body = tokio::task::spawn_blocking(move || fetch_url(&url)).await??;
            urls.insert(u.clone(), body);
        }
    }
    let mut h = sha2::Sha256::new();
    for (u, body) in &urls {
        h.update(format!("url\0{u}\0").as_bytes());
        h.update(sha2::Sha256::digest(body));
    }
    let url_sum: String = h.finalize().iter().map(|x| format!("{x:02x}")).collect();
    if let Some(from) = from {
        let id = resolve_from(b, &from, done).await?;
        let checksum = format!("from:{}|{url_sum}", id.as_ref().map(|d| d.to_string()).unwrap_or_else(|| "scratch".into()));
        return Ok(CopySources { from_scratch: id.is_none(), from_image: id, checksum, urls });
    }
    let (context, known, step2, wd) = (b.context.clone(), b.context_files.clone(), step.clone(), workdir.to_owned());
    let sum = tokio::task::spawn_blocking(move || -> Result<String> {
        with_copy_request(&step2, &wd, &context, SourceKind::Context, &context, None, |req| {
            // The context's large files were hashed while they arrived.
            let req = CopyRequest { known_files: Some(&known), ..*req };
            source_checksum(&req).map_err(|e| anyhow!("{e}"))
        })
    })
    .await??;
    Ok(CopySources { from_image: None, from_scratch: false, checksum: format!("{sum}|{url_sum}"), urls })
}

/// The image a `--from` (or `RUN --mount=from=`) names: a stage by name or index, or
/// an image. `None` for a scratch stage with nothing in it.
async fn resolve_from(b: &Build, from: &str, done: &[Option<Outcome>]) -> Result<Option<Digest>> {
    let lower = from.to_ascii_lowercase();
    let stage = if let Ok(i) = from.parse::<usize>() { Some(i) } else { stage_index(b, &lower) };
    if let Some(i) = stage {
        let o = done.get(i).cloned().flatten().ok_or_else(|| anyhow!("stage {from} is not built before it is used"))?;
        return Ok(Some(o.image));
    }
    if lower == "scratch" {
        return Ok(None);
    }
    match b.images.get(from) {
        Some(id) => Ok(Some(id.clone())),
        None => super::resolve_image(&b.state, from, b.opts.pull, b.opts.platform.as_deref(), &b.progress).await.map(Some),
    }
}

fn stage_index(b: &Build, name: &str) -> Option<usize> {
    b.stage_names.iter().position(|n| n.as_deref() == Some(name))
}

fn fetch_url(url: &str) -> Result<Vec<u8>> {
    let resp = ureq::get(url).call().map_err(|e| anyhow!("failed to fetch {url}: {e}"))?;
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_body().into_reader(), &mut body).with_context(|| format!("reading {url}"))?;
    Ok(body)
}

/// Builds the CopyRequest of a COPY/ADD step and calls `f` with it.
fn with_copy_request<T>(step: &EvaluatedStep, workdir: &str, source_root: &Path, kind: SourceKind, dest_root: &Path, urls: Option<&HashMap<String, Vec<u8>>>, f: impl FnOnce(&CopyRequest) -> Result<T>) -> Result<T> {
    let fetcher = |u: &str| -> Result<Vec<u8>, String> { urls.and_then(|m| m.get(u).cloned()).ok_or_else(|| format!("{u} was not fetched")) };
    let (sources, inline, dest, chown, chmod, excludes) = match &step.instruction {
        Instruction::Copy(c) => (&c.sources, &c.inline_sources, &c.dest, &c.chown, &c.chmod, &c.excludes),
        Instruction::Add(a) => (&a.sources, &a.inline_sources, &a.dest, &a.chown, &a.chmod, &a.excludes),
        _ => bail!("not a COPY or ADD step"),
    };
    let mut req = CopyRequest::new(source_root, sources, dest, dest_root);
    req.source_kind = kind;
    req.inline_sources = inline;
    req.workdir = workdir;
    req.chown = chown.as_deref();
    req.chmod = chmod.as_deref();
    req.excludes = excludes;
    match &step.instruction {
        Instruction::Copy(c) => req.parents = c.parents,
        Instruction::Add(a) => {
            req.is_add = true;
            req.unpack = a.unpack;
            req.url_fetcher = Some(&fetcher);
        }
        _ => {}
    }
    f(&req)
}

async fn copy_step(b: &Build, st: &mut StageState, step: &EvaluatedStep, sources: CopySources, item: HistoryItem) -> Result<Digest> {
    let state = b.state.clone();
    let base = st.image.clone();
    let dest_dir = b.work_dir("copy");
    let from_dir = b.work_dir("from");
    let context = b.context.clone();
    let step2 = step.clone();
    let workdir = st.workdir();
    let dest = tokio::task::spawn_blocking(move || -> Result<Mounted> {
        let dest = Mounted::image(&state, base.as_ref(), dest_dir)?;
        let from = match (&sources.from_image, sources.from_scratch) {
            (Some(id), _) => Some(Mounted::image(&state, Some(id), from_dir)?),
            (None, true) => Some(Mounted::image(&state, None, from_dir)?),
            (None, false) => None,
        };
        let (root, kind) = match &from {
            Some(m) => (m.root().to_owned(), SourceKind::Rootfs),
            None => (context, SourceKind::Context),
        };
        with_copy_request(&step2, &workdir, &root, kind, dest.root(), Some(&sources.urls), |req| copy_into(req).map_err(|e| anyhow!("{e}")))?;
        dest.unmount()?;
        Ok(dest)
    })
    .await??;
    let id = derive(b, st, Some(dest.upper().to_owned()), vec![item], None).await;
    let _ = tokio::task::spawn_blocking(move || drop(dest)).await;
    id
}

/// Paths the runtime creates as mount points (absent from the image, they must not
/// end up in the layer): Docker's managed files and the kernel filesystems.
const RUNTIME_MOUNT_POINTS: &[&str] = &["/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/proc", "/sys", "/dev", "/run/secrets"];

async fn run_step(b: &Build, st: &mut StageState, step: &EvaluatedStep, done: &[Option<Outcome>], item: HistoryItem) -> Result<Digest, BuildError> {
    let Instruction::Run(r) = &step.instruction else { unreachable!("run_step of a non-RUN step") };
    if r.security == SecurityMode::Insecure {
        return Err(anyhow!("RUN --security=insecure is not allowed: the builder has no security.insecure entitlement").into());
    }
    let argv = run_argv(&st.shell, r);
    let mut env = st.config.env.clone().unwrap_or_default();
    for (k, v) in &step.build_args {
        if !env.iter().any(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str())) {
            env.push(format!("{k}={v}"));
        }
    }
    let mut spec = RunSpec {
        image: String::new(),
        argv: argv.clone(),
        user: st.config.user.clone().unwrap_or_default(),
        workdir: st.workdir(),
        network_mode: match r.network {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Default => b.opts.network_mode.clone().filter(|n| !n.is_empty() && n != "default").unwrap_or_else(|| "bridge".into()),
        },
        ..Default::default()
    };
    let mut env_secrets: Vec<(String, String)> = Vec::new();
    // Views mounted for `--mount=type=bind` stay until the step is done.
    let mut views: Vec<Mounted> = Vec::new();
    let mut targets: Vec<String> = RUNTIME_MOUNT_POINTS.iter().map(|s| s.to_string()).collect();
    for m in &r.mounts {
        let target = m.target.clone().map(|t| berth_build::evaluate::join_workdir(&st.workdir(), &t));
        match m.mount_type {
            MountType::Cache => {
                let target = target.ok_or_else(|| anyhow!("cache mount needs a target"))?;
                let id = m.id.clone().unwrap_or_else(|| target.clone());
                let dir = cache_mount_dir(b, &id, m.mode, m.uid, m.gid)?;
                spec.binds.push(format!("{}:{target}", dir.display()));
                targets.push(target);
            }
            MountType::Tmpfs => {
                let target = target.ok_or_else(|| anyhow!("tmpfs mount needs a target"))?;
                let opts = m.size_limit.map(|s| format!("size={s}")).unwrap_or_default();
                spec.tmpfs.insert(target.clone(), opts);
                targets.push(target);
            }
            MountType::Bind => {
                let target = target.ok_or_else(|| anyhow!("bind mount needs a target"))?;
                let view_dir = b.work_dir("bind");
                let root = match &m.from {
                    Some(from) => {
                        let img = resolve_from(b, from, done).await?;
                        let state = b.state.clone();
                        let v = tokio::task::spawn_blocking(move || Mounted::image(&state, img.as_ref(), view_dir)).await??;
                        let root = v.root().to_owned();
                        views.push(v);
                        root
                    }
                    None if !m.read_only => {
                        let ctx = b.context.clone();
                        let v = tokio::task::spawn_blocking(move || Mounted::directory(&ctx, view_dir)).await??;
                        let root = v.root().to_owned();
                        views.push(v);
                        root
                    }
                    None => b.context.clone(),
                };
                let src = confined(&root, m.source.as_deref().unwrap_or("/"))?;
                let ro = if m.read_only { ":ro" } else { "" };
                spec.binds.push(format!("{}:{target}{ro}", src.display()));
                targets.push(target);
            }
            MountType::Secret => {
                let id = m.id.clone().or_else(|| target.as_ref().and_then(|t| t.rsplit('/').next().map(str::to_owned))).ok_or_else(|| anyhow!("secret mount needs an id or a target"))?;
                let Some(value) = b.opts.secrets.get(&id) else {
                    if m.required {
                        return Err(anyhow!("secret {id} not found: it is required (RUN --mount=type=secret,id={id},required) but the build has no such secret; pass it with --secret id={id},src=FILE").into());
                    }
                    continue;
                };
                let file = secret_file(b, &id, value, m.mode, m.uid, m.gid)?;
                if let Some(var) = &m.env {
                    // Never in the container's recorded config: the shell reads it from
                    // a mounted file just before the command runs.
                    let hidden = format!("/run/secrets/.env-{id}");
                    spec.binds.push(format!("{}:{hidden}:ro", file.display()));
                    env_secrets.push((var.clone(), hidden.clone()));
                    targets.push(hidden);
                    if m.target.is_none() {
                        continue;
                    }
                }
                let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
                spec.binds.push(format!("{}:{target}:ro", file.display()));
                targets.push(target);
            }
            MountType::Ssh => return Err(anyhow!("RUN --mount=type=ssh is not supported: berth's builder has no SSH agent forwarding").into()),
        }
    }
    spec.env = env;
    if !env_secrets.is_empty() {
        let exports: String = env_secrets.iter().map(|(var, path)| format!("export {var}=\"$(cat {path})\"; ")).collect();
        let mut wrapped = vec!["/bin/sh".to_owned(), "-c".to_owned(), format!("{exports}exec \"$@\""), "sh".to_owned()];
        wrapped.append(&mut spec.argv);
        spec.argv = wrapped;
    }
    // A RUN on nothing runs on an empty image (and fails without a shell, as in Docker).
    if st.image.is_none() {
        derive(b, st, None, Vec::new(), None).await?;
    }
    let base = st.image.clone().expect("an image to run on");
    spec.image = base.to_string();
    let c = run::create(&b.state, spec).await?;
    b.progress.stream(format!(" ---> Running in {}\n", c.short_id())).await;
    let code = run::run(&b.state, &c, &b.progress).await;
    drop(views);
    let code = match code {
        Ok(code) => code,
        Err(e) => {
            c.remove().await;
            return Err(e.into());
        }
    };
    if code != 0 {
        c.remove().await;
        let msg = format!("The command '{}' returned a non-zero code: {code}", argv.join(" "));
        return Err(BuildError { message: msg, code: Some(code) });
    }
    let upper = c.upper();
    let lowers: Vec<PathBuf> = b.state.images.get(&base)?.chain_ids.iter().map(|ch| b.state.images.layers().diff_dir(ch)).collect();
    let up2 = upper.clone();
    tokio::task::spawn_blocking(move || clear_mount_points(&up2, &lowers, &targets)).await?;
    let owners = b.state.remap.as_ref().map(|r| r.id_mapping());
    let id = derive(b, st, Some(upper), vec![item], owners).await;
    b.progress.stream(format!(" ---> Removed intermediate container {}\n", c.short_id())).await;
    c.remove().await;
    Ok(id?)
}

/// The argv of a RUN: exec form as is; shell form through the stage's SHELL; a RUN
/// whose command is just a heredoc runs the heredoc as the script; other heredocs are
/// given to the shell with their bodies, as a shell script would have them.
fn run_argv(shell: &[String], r: &berth_build::instructions::Run) -> Vec<String> {
    if !r.command.prepend_shell {
        return r.command.args.clone();
    }
    let cmd = r.command.args.first().cloned().unwrap_or_default();
    let mut script = cmd.clone();
    if let [only] = r.heredocs.as_slice() {
        let word = cmd.trim();
        if word.starts_with("<<") && !word.contains(char::is_whitespace) {
            let mut v = shell.to_vec();
            v.push(only.effective_content());
            return v;
        }
    }
    for h in &r.heredocs {
        script.push('\n');
        script.push_str(&h.content);
        script.push_str(&h.name);
    }
    let mut v = shell.to_vec();
    v.push(script);
    v
}

/// `path` under `root`, refusing anything that resolves outside it.
fn confined(root: &Path, path: &str) -> Result<PathBuf> {
    use std::os::fd::AsRawFd;
    // Symlinks resolve as if `root` were `/` (an absolute link in the context or an
    // image points into it, never at the host), by the kernel in one openat2.
    let dir = std::fs::File::open(root).with_context(|| format!("opening {}", root.display()))?;
    let fd = berth_runtime::safe_path::open_in_root(dir.as_raw_fd(), Path::new(path), libc::O_PATH).with_context(|| format!("mount source {path} not found"))?;
    let real = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    let base = std::fs::canonicalize(root)?;
    if !real.starts_with(&base) {
        bail!("mount source {path} is outside its root");
    }
    Ok(real)
}

/// A cache mount's persistent directory under the data root, made on first use.
fn cache_mount_dir(b: &Build, id: &str, mode: Option<u32>, uid: Option<u32>, gid: Option<u32>) -> Result<PathBuf> {
    let hex: String = sha2::Sha256::digest(id.as_bytes()).iter().map(|x| format!("{x:02x}")).collect();
    let dir = b.state.data_root.join("build/cache-mounts").join(&hex[..32]);
    if !dir.exists() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating cache mount {}", dir.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode.unwrap_or(0o755)))?;
        std::os::unix::fs::chown(&dir, uid, gid)?;
    }
    Ok(dir)
}

/// A secret as a file in the build's scratch dir (under the exec root, a tmpfs), mode
/// 0400 unless asked.
fn secret_file(b: &Build, id: &str, value: &[u8], mode: Option<u32>, uid: Option<u32>, gid: Option<u32>) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = b.secrets.clone();
    std::fs::create_dir_all(&dir)?;
    let hex: String = sha2::Sha256::digest(id.as_bytes()).iter().map(|x| format!("{x:02x}")).collect();
    let path = dir.join(&hex[..24]);
    if !path.exists() {
        let mut f = std::fs::OpenOptions::new().create_new(true).write(true).mode(mode.unwrap_or(0o400)).open(&path)?;
        f.write_all(value)?;
        std::os::unix::fs::chown(&path, Some(uid.unwrap_or(0)), Some(gid.unwrap_or(0)))?;
    }
    Ok(path)
}

/// Removes from the upper dir the mount points the runtime or a `--mount` created
/// (empty files and directories absent from every lower layer), so they are not in the
/// layer: Docker's layers do not show them either.
fn clear_mount_points(upper: &Path, lowers: &[PathBuf], targets: &[String]) {
    use berth_runtime::safe_path::{remove_beneath, Removed};
    use std::os::fd::AsRawFd;
    // The step's process may have replaced a parent of a mount point with a symlink to
    // anywhere: the in_lowers probe and the removal both stay beneath their roots.
    let no_follow = |root: &Path, rel: &str| -> bool {
        let Ok(r) = std::fs::File::open(root) else { return false };
        berth_runtime::sys::openat2(r.as_raw_fd(), Path::new(rel), libc::O_PATH | libc::O_NOFOLLOW, 0, berth_runtime::sys::RESOLVE_BENEATH | berth_runtime::sys::RESOLVE_NO_SYMLINKS).is_ok()
    };
    let in_lowers = |rel: &str| lowers.iter().any(|l| no_follow(l, rel));
    let Ok(root) = std::fs::File::open(upper) else { return };
    for t in targets {
        let mut rel = t.trim_start_matches('/').to_owned();
        while !rel.is_empty() {
            if in_lowers(&rel) {
                break;
            }
            // Only empty files are mount points; anything with data was written.
            match remove_beneath(root.as_raw_fd(), Path::new(&rel), |st| st.st_size != 0) {
                Ok(Removed::Yes) => {}
                _ => break,
            }
            rel = match rel.rsplit_once('/') {
                Some((parent, _)) => parent.to_owned(),
                None => String::new(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_build::instructions::{CommandLine, Run};
    use berth_build::parser::Heredoc;

    fn run_of(cmd: &str, heredocs: Vec<Heredoc>) -> Run {
        Run { command: CommandLine { args: vec![cmd.into()], prepend_shell: true }, heredocs, mounts: vec![], network: NetworkMode::Default, security: SecurityMode::Sandbox }
    }

    fn heredoc(name: &str, content: &str) -> Heredoc {
        Heredoc { name: name.into(), file_descriptor: 0, expand: true, chomp: false, content: content.into() }
    }

    #[test]
    fn run_argv_forms() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(run_argv(&sh, &run_of("echo hi", vec![])), vec!["/bin/sh", "-c", "echo hi"]);
        let exec = Run { command: CommandLine { args: vec!["/bin/true".into()], prepend_shell: false }, ..run_of("", vec![]) };
        assert_eq!(run_argv(&sh, &exec), vec!["/bin/true"]);
        assert_eq!(run_argv(&sh, &run_of("<<EOF", vec![heredoc("EOF", "echo a\necho b\n")])), vec!["/bin/sh", "-c", "echo a\necho b\n"]);
        assert_eq!(run_argv(&sh, &run_of("cat <<EOF > /f", vec![heredoc("EOF", "x\n")])), vec!["/bin/sh", "-c", "cat <<EOF > /f\nx\nEOF"]);
    }

    #[test]
    fn mount_points_are_cleared_unless_in_the_image() {
        let d = std::env::temp_dir().join(format!("berth-mp-{}", std::process::id()));
        let (upper, lower) = (d.join("upper"), d.join("lower"));
        std::fs::create_dir_all(upper.join("run/secrets")).unwrap();
        std::fs::write(upper.join("run/secrets/tok"), "").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/hosts"), "").unwrap();
        std::fs::write(upper.join("etc/made"), "data").unwrap();
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        clear_mount_points(&upper, &[lower], &["/run/secrets/tok".into(), "/etc/hosts".into()]);
        assert!(!upper.join("run").exists());
        assert!(!upper.join("etc/hosts").exists());
        assert!(upper.join("etc/made").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
