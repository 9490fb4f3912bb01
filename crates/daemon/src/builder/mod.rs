//! The image builder behind `POST /build` (Docker's classic-builder API): the
//! Dockerfile front end of berth-build (parse, args, plan, evaluation, COPY rules,
//! cache keys) driven over the image store and real containers.
//!
//! Each RUN, COPY and ADD step that misses the cache becomes an intermediate image (a
//! hidden image-store image) recorded in the build cache under its step key; steps that
//! only change the config (ENV, CMD, LABEL …) are folded into the next image made. A
//! fully cached build therefore only computes keys and reads the cache: no container,
//! no mount, no write. Independent stages of one level run concurrently.

pub mod cache;
mod context;
mod inline_cache;
mod rootfs;
mod run;
mod stage;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use berth_api::message::JsonMessage;
use berth_build::evaluate::{evaluate, resolve_global_args, EvalOptions};
use berth_build::plan::{plan, Source};
use berth_image::Digest;
use tokio::sync::mpsc;

use crate::state::AppState;
pub use context::unpack as unpack_context;

/// What the client asked for (the `/build` query).
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub tags: Vec<String>,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    /// Only the image id is reported.
    pub quiet: bool,
    pub labels: BTreeMap<String, String>,
    /// Network of RUN steps without `--network` (`bridge` by default).
    pub network_mode: Option<String>,
    pub platform: Option<String>,
    /// `RUN --mount=type=secret` contents, by id.
    pub secrets: HashMap<String, Vec<u8>>,
    /// Keep the result as build cache only (no tag, hidden): the client exports it.
    pub no_image: bool,
    /// `--cache-from`: local images whose recorded steps may be reused.
    pub cache_from: Vec<String>,
}

/// The progress stream back to the client.
#[derive(Clone)]
pub struct Progress {
    tx: mpsc::Sender<JsonMessage>,
    quiet: bool,
}

impl Progress {
    pub fn new(tx: mpsc::Sender<JsonMessage>, quiet: bool) -> Progress {
        Progress { tx, quiet }
    }

    /// Step and output text (suppressed with `q`).
    pub async fn stream(&self, s: impl Into<String>) {
        if !self.quiet {
            let _ = self.tx.send(JsonMessage::stream(s)).await;
        }
    }

    pub async fn message(&self, m: JsonMessage) {
        let _ = self.tx.send(m).await;
    }
}

/// A failed build: the message and, for a failed RUN, its exit code.
#[derive(Debug)]
pub struct BuildError {
    pub message: String,
    pub code: Option<i64>,
}

impl<E: Into<anyhow::Error>> From<E> for BuildError {
    fn from(e: E) -> BuildError {
        BuildError { message: format!("{:#}", e.into()), code: None }
    }
}

/// Everything one build shares between its stages.
pub(crate) struct Build {
    pub state: AppState,
    pub opts: Options,
    pub context: PathBuf,
    /// The context's large files, hashed as they were unpacked.
    pub context_files: Arc<berth_build::copy::KnownFiles>,
    /// Scratch space (mount views, secrets), removed at the end.
    pub work: PathBuf,
    pub progress: Progress,
    /// Base and `--from` images by the name written, resolved once.
    pub images: HashMap<String, Digest>,
    /// Step numbers: `Step n/total`.
    pub total_steps: usize,
    /// Stage names by index (`COPY --from=name`).
    pub stage_names: Vec<Option<String>>,
    /// Where RUN secret files live for the build (under the exec root, a tmpfs).
    pub secrets: PathBuf,
    /// The `--cache-from` images that carry a cache record.
    pub cache_from: Vec<inline_cache::Source>,
}

impl Build {
    pub fn work_dir(&self, what: &str) -> PathBuf {
        self.work.join(format!("{what}-{}", &crate::containers::new_id()[..12]))
    }
}

/// Runs a build whose context is unpacked in `context.dir`; returns the image id.
pub async fn build(state: &AppState, opts: Options, context: context::Unpacked, work: &Path, secrets: &Path, progress: &Progress) -> Result<Digest, BuildError> {
    let context_files = Arc::new(context.known_files);
    let context = context.dir.as_path();
    let ctx = context.to_owned();
    let dockerfile = opts.dockerfile.clone();
    let (text, rel) = tokio::task::spawn_blocking(move || -> Result<(String, String)> {
        let (path, rel) = context::dockerfile_path(&ctx, &dockerfile)?;
        let bytes = std::fs::read(&path).with_context(|| format!("reading {rel}"))?;
        let text = String::from_utf8(bytes).map_err(|_| anyhow!("the Dockerfile ({rel}) is not UTF-8 text"))?;
        context::apply_dockerignore(&ctx, &rel)?;
        Ok((text, rel))
    })
    .await??;
    let df = berth_build::parse_dockerfile(&text).map_err(|e| anyhow!("{e}"))?;
    let mut eval_opts = EvalOptions { build_args: opts.build_args.clone(), platform_args: platform_args(opts.platform.as_deref()), ..Default::default() };
    let globals = resolve_global_args(&df, &eval_opts).map_err(|e| anyhow!("{e}"))?;
    let plan = plan(&df, &globals, opts.target.as_deref()).map_err(|e| anyhow!("{e}"))?;

    // Every image the needed stages use, resolved (and pulled when missing) up front.
    let mut images = HashMap::new();
    for name in &plan.images {
        if name.eq_ignore_ascii_case("scratch") {
            continue;
        }
        let id = resolve_image(state, name, opts.pull, opts.platform.as_deref(), progress).await?;
        images.insert(name.clone(), id);
    }
    for stage in &plan.stages {
        if let Source::Image(name) = &stage.base {
            if let Some(id) = images.get(name) {
                let rec = state.images.get(id)?;
                let cfg = stage::image_config_of(&rec.config_bytes);
                let env = cfg.env.unwrap_or_default().iter().filter_map(|e| e.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                eval_opts.base_image_env.insert(name.clone(), env);
            }
        }
    }
    let evaluation = evaluate(&df, &eval_opts, Some(&plan.needed)).map_err(|e| anyhow!("{e}"))?;
    for arg in &evaluation.unused_build_args {
        progress.stream(format!("[Warning] One or more build-args [{arg}] were not consumed\n")).await;
    }
    let total_steps = plan.needed.iter().filter_map(|i| evaluation.stages[*i].as_ref()).map(|s| s.steps.len() + 1).sum();
    let (st, names) = (state.clone(), opts.cache_from.clone());
    let cache_from = tokio::task::spawn_blocking(move || inline_cache::sources(&st, &names)).await?;
    let b = Arc::new(Build { state: state.clone(), opts, context: context.to_owned(), context_files, work: work.to_owned(), progress: progress.clone(), images, total_steps, stage_names: df.stages.iter().map(|s| s.name.clone()).collect(), secrets: secrets.to_owned(), cache_from });
    let _ = rel;

    // Step numbers in Dockerfile order across the needed stages.
    let mut first_step = HashMap::new();
    let mut n = 1;
    for i in &plan.needed {
        if let Some(s) = &evaluation.stages[*i] {
            first_step.insert(*i, n);
            n += s.steps.len() + 1;
        }
    }
    let mut results: Vec<Option<stage::Outcome>> = vec![None; df.stages.len()];
    for level in &plan.levels {
        let runs = level.iter().map(|i| {
            let ev = evaluation.stages[*i].clone().ok_or_else(|| anyhow!("stage {i} was not evaluated"));
            let b = b.clone();
            let done = results.clone();
            let first = first_step.get(i).copied().unwrap_or(1);
            let is_target = *i == plan.target;
            async move { stage::run_stage(&b, &ev?, &done, first, is_target).await }
        });
        let outcomes = futures_util::future::join_all(runs).await;
        for (i, o) in level.iter().zip(outcomes) {
            results[*i] = Some(o?);
        }
    }
    let last = results[plan.target].clone().ok_or_else(|| anyhow!("the target stage was not built"))?;
    finish(&b, &last.image).await?;
    Ok(last.image)
}

/// Tags and reports the result, as the classic builder's last lines.
async fn finish(b: &Build, id: &Digest) -> Result<()> {
    let aux = JsonMessage { aux: Some(serde_json::json!({ "ID": id.to_string() })), ..Default::default() };
    if b.opts.no_image {
        // Only the client's export follows: the result stays build cache.
        b.progress.message(aux).await;
        return Ok(());
    }
    let (state, id2, tags) = (b.state.clone(), id.clone(), b.opts.tags.clone());
    let tagged = tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
        state.images.set_intermediate(&id2, false)?;
        let mut out = Vec::new();
        for t in &tags {
            let r = state.images.tag(&id2.to_string(), t)?;
            out.push(r.familiar());
        }
        Ok(out)
    })
    .await??;
    b.progress.message(aux).await;
    if b.opts.quiet {
        // docker build -q prints what the stream carries: the id alone.
        b.progress.message(JsonMessage::stream(format!("{id}\n"))).await;
    }
    b.progress.stream(format!("Successfully built {}\n", short(id))).await;
    for t in tagged {
        b.progress.stream(format!("Successfully tagged {t}\n")).await;
        b.state.events.image(&id.to_string(), &t, "tag");
    }
    Ok(())
}

pub fn short(id: &Digest) -> String {
    let s = id.to_string();
    let hex = s.strip_prefix("sha256:").unwrap_or(&s);
    hex[..hex.len().min(12)].to_owned()
}

/// `BUILDPLATFORM`, `TARGETPLATFORM` and their parts, from the host (or `--platform`).
fn platform_args(platform: Option<&str>) -> BTreeMap<String, String> {
    let host = berth_image::platform::Platform::host();
    let host_s = format!("{}/{}", host.os, host.architecture);
    let target = platform.map(str::to_owned).unwrap_or_else(|| host_s.clone());
    let mut parts = target.split('/');
    let (os, arch, variant) = (parts.next().unwrap_or("linux").to_owned(), parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
    let mut m = BTreeMap::new();
    m.insert("BUILDPLATFORM".into(), host_s.clone());
    m.insert("BUILDOS".into(), host.os.to_string());
    m.insert("BUILDARCH".into(), host.architecture.to_string());
    m.insert("BUILDVARIANT".into(), String::new());
    m.insert("TARGETPLATFORM".into(), target);
    m.insert("TARGETOS".into(), os);
    m.insert("TARGETARCH".into(), arch);
    m.insert("TARGETVARIANT".into(), variant);
    m
}

/// The local image a FROM or `--from` names, pulled when missing (or always with
/// `--pull`).
pub(crate) async fn resolve_image(state: &AppState, name: &str, pull: bool, platform: Option<&str>, progress: &Progress) -> Result<Digest> {
    let reference = berth_image::Reference::parse(name).map_err(|e| anyhow!("invalid reference {name:?}: {e}"))?.with_default_tag();
    let st = state.clone();
    let r = reference.to_string();
    let local = tokio::task::spawn_blocking(move || st.images.resolve(&r)).await?;
    match local {
        Ok(id) if !pull => return Ok(id),
        Ok(_) | Err(berth_image::Error::ImageNotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    progress.stream(format!("Pulling {}\n", reference.familiar())).await;
    let st = state.clone();
    let platform = platform.map(berth_image::platform::Platform::parse).transpose()?;
    let reference2 = reference.clone();
    let pulled = tokio::task::spawn_blocking(move || {
        let opts = berth_registry::PullOptions { platform, credentials: Default::default() };
        st.registry.pull(&st.images, &reference2, &opts, &|_| {})
    })
    .await?;
    match pulled {
        Ok(p) => Ok(p.image_id),
        Err(e) => bail!("failed to resolve source image {}: {e}", reference.familiar()),
    }
}

/// Which container (if any) uses an image: the image store's view for `rmi` and prune.
pub fn image_user(state: &AppState) -> impl Fn(&Digest) -> Option<berth_image::store::ContainerUse> + '_ {
    move |id: &Digest| {
        let id = id.to_string();
        let all = state.containers.all();
        let users: Vec<_> = all.iter().map(|e| e.get()).filter(|c| c.image_id == id).collect();
        let pick = users.iter().find(|c| c.running()).or(users.first())?;
        Some(berth_image::store::ContainerUse { container_id: pick.id.clone(), running: pick.running() })
    }
}

/// `builder prune`: every step image no tag or container holds, the cache records and
/// the cache mounts. Returns the ids removed and the bytes freed.
pub fn prune(state: &AppState) -> Result<(Vec<String>, i64)> {
    let in_use = image_user(state);
    let mut deleted = Vec::new();
    let mut freed: i64 = 0;
    for img in state.images.intermediates()? {
        if in_use(&img.id).is_some() {
            continue;
        }
        let rec = state.images.get(&img.id)?;
        let sizes: HashMap<String, u64> = rec.chain_ids.iter().filter_map(|c| state.images.layers().get(c).ok().map(|l| (c.to_string(), l.size))).collect();
        let records = state.images.remove(&img.id.to_string(), false, &in_use)?;
        for r in records {
            if let berth_image::store::DeleteRecord::Deleted(d) = r {
                freed += sizes.get(&d).copied().unwrap_or(0) as i64;
            }
        }
        state.build_cache.forget_image(&img.id.to_string())?;
        deleted.push(img.id.to_string());
    }
    // Tagged results stay as images, but nothing is reused from them any more.
    state.build_cache.clear()?;
    let mounts = state.data_root.join("build/cache-mounts");
    if let Ok(rd) = std::fs::read_dir(&mounts) {
        for e in rd.flatten() {
            freed += berth_volume::tree::disk_usage(&e.path()) as i64;
            std::fs::remove_dir_all(e.path()).with_context(|| format!("removing cache mount {}", e.path().display()))?;
            deleted.push(format!("cache-mount:{}", e.file_name().to_string_lossy()));
        }
    }
    Ok((deleted, freed))
}

/// `system df`'s BuildCache: the step images (one entry per distinct top layer carries
/// its size) and the cache mounts.
pub fn usage(state: &AppState) -> Result<Vec<serde_json::Value>> {
    let in_use = image_user(state);
    let records = state.build_cache.all()?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let time = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default();
    for img in state.images.intermediates()? {
        let rec = state.images.get(&img.id)?;
        let top = rec.chain_ids.last().cloned();
        let size = match &top {
            Some(c) if seen.insert(c.clone()) => state.images.layers().get(c).map(|l| l.size).unwrap_or(0),
            _ => 0,
        };
        let id = img.id.to_string();
        let uses: Vec<&cache::Record> = records.iter().filter(|r| r.image_id == id).collect();
        let description = rec.config.history().as_ref().and_then(|h| h.last()).and_then(|h| h.created_by().clone()).unwrap_or_default();
        out.push(serde_json::json!({
            "ID": short(&img.id),
            "Type": "regular",
            "Description": description,
            "InUse": in_use(&img.id).is_some(),
            "Shared": false,
            "Size": size,
            "CreatedAt": uses.iter().map(|r| r.created_at).min().map(time).unwrap_or_else(|| img.created.clone().unwrap_or_default()),
            "LastUsedAt": uses.iter().map(|r| r.last_used).max().map(time),
            "UsageCount": uses.iter().map(|r| r.uses).sum::<i64>(),
        }));
    }
    if let Ok(rd) = std::fs::read_dir(state.data_root.join("build/cache-mounts")) {
        for e in rd.flatten() {
            out.push(serde_json::json!({
                "ID": e.file_name().to_string_lossy(),
                "Type": "exec.cachemount",
                "Description": "cache mount",
                "InUse": false,
                "Shared": false,
                "Size": berth_volume::tree::disk_usage(&e.path()),
            }));
        }
    }
    Ok(out)
}
