//! The container lifecycle: create, start (rootfs, managed files, spec, shim), the exit
//! monitor, stop/kill/restart/remove, restart policies, and re-adopting shims when
//! berthd starts again (live restore).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use berth_api::models::{ContainerConfig, ContainerCreateBody, HealthConfig, HostConfig, RestartPolicyNameEnum};
use berth_image::snapshot::{self, SnapshotDirs};
use berth_shim::protocol::{ExitStatus, Request};

use super::record::{Container, HealthState, RunState};
use super::secret_mounts::{self, SecretRef};
use super::{files, init, mounts, names, networking, seccomp, shim, spec, user, Entry};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError::internal(format!("{e:#}"))
}

/// The image's config (`config` of the image JSON) in Docker's shape; fields oci-spec
/// does not model (Healthcheck, OnBuild…) survive because the raw bytes are read.
fn image_config(raw: &[u8]) -> ContainerConfig {
    serde_json::from_slice::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| v.get("config").cloned())
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default()
}

/// Docker's merge of the user's config over the image's (daemon/commit.go `merge`).
pub fn merge_config(user: &mut ContainerConfig, image: &ContainerConfig) {
    if user.user.as_deref().unwrap_or("").is_empty() {
        user.user = image.user.clone();
    }
    if let Some(ports) = &image.exposed_ports {
        let mine = user.exposed_ports.get_or_insert_with(Default::default);
        for (k, v) in ports {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut env: Vec<String> = image.env.clone().unwrap_or_default();
    for e in user.env.iter().flatten() {
        spec::set_env(&mut env, e);
    }
    user.env = Some(env);
    if let Some(labels) = &image.labels {
        let mine = user.labels.get_or_insert_with(Default::default);
        for (k, v) in labels {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if user.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if user.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            user.cmd = image.cmd.clone();
        }
        if user.entrypoint.is_none() {
            user.entrypoint = image.entrypoint.clone();
        }
    }
    if user.working_dir.as_deref().unwrap_or("").is_empty() {
        user.working_dir = image.working_dir.clone();
    }
    if let Some(v) = &image.volumes {
        let mine = user.volumes.get_or_insert_with(Default::default);
        for (k, x) in v {
            mine.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    if user.stop_signal.as_deref().unwrap_or("").is_empty() {
        user.stop_signal = image.stop_signal.clone();
    }
    match (&mut user.healthcheck, &image.healthcheck) {
        (None, Some(h)) => user.healthcheck = Some(h.clone()),
        (Some(mine), Some(img)) => {
            if mine.test.as_ref().is_none_or(|t| t.is_empty()) {
                mine.test = img.test.clone();
            }
            let fill = |a: &mut Option<i64>, b: Option<i64>| {
                if a.unwrap_or(0) == 0 {
                    *a = b;
                }
            };
            fill(&mut mine.interval, img.interval);
            fill(&mut mine.timeout, img.timeout);
            fill(&mut mine.start_period, img.start_period);
            if mine.retries.unwrap_or(0) == 0 {
                mine.retries = img.retries;
            }
        }
        _ => {}
    }
}

/// Checks what dockerd checks before creating anything.
fn validate_host_config(hc: &HostConfig) -> ApiResult<()> {
    let bad = |m: String| Err(ApiError::bad_request(m));
    if let Some(m) = hc.memory {
        if m > 0 && m < 6 * 1024 * 1024 {
            return bad("Minimum memory limit allowed is 6MB".into());
        }
    }
    if let (Some(m), Some(s)) = (hc.memory, hc.memory_swap) {
        if m > 0 && s > 0 && s < m {
            return bad("Minimum memoryswap limit should be larger than memory limit, see usage".into());
        }
    }
    if hc.nano_cpus.unwrap_or(0) > 0 && hc.cpu_quota.unwrap_or(0) > 0 {
        return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
    }
    if let Some(n) = hc.nano_cpus {
        let ncpu = crate::sysinfo::ncpu();
        if n < 0 || n > ncpu * 1_000_000_000 {
            return bad(format!("Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"));
        }
    }
    if let Some(p) = &hc.restart_policy {
        let max = p.maximum_retry_count.unwrap_or(0);
        match p.name {
            Some(RestartPolicyNameEnum::ON_FAILURE) => {
                if max < 0 {
                    return bad("invalid restart policy: maximum retry count cannot be negative".into());
                }
            }
            Some(RestartPolicyNameEnum::ALWAYS) | Some(RestartPolicyNameEnum::UNLESS_STOPPED) | Some(RestartPolicyNameEnum::NO) => {
                if max != 0 {
                    return bad(format!("invalid restart policy: maximum retry count can only be used with 'on-failure'"));
                }
            }
            _ => {}
        }
        if hc.auto_remove == Some(true) && !matches!(p.name, None | Some(RestartPolicyNameEnum::EMPTY) | Some(RestartPolicyNameEnum::NO)) {
            return bad("conflicting options: cannot specify both --restart and --rm".into());
        }
    }
    if let Some(o) = hc.oom_score_adj {
        if !(-1000..=1000).contains(&o) {
            return bad(format!("Invalid value {o}, range for oom score adj is [-1000, 1000]"));
        }
    }
    spec::capabilities(hc).map_err(|e| ApiError::bad_request(e.to_string()))?;
    spec::check_security_opts(hc).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match hc.userns_mode.as_deref() {
        None | Some("") | Some("host") => {}
        Some(m) => return bad(format!("invalid USER mode: {m}")),
    }
    Ok(())
}

/// `POST /containers/create`.
/// `secrets` is berth's `HostConfig.BerthSecrets`: each must exist.
pub async fn create(state: &AppState, name: Option<&str>, body: ContainerCreateBody, secrets: Vec<SecretRef>) -> ApiResult<(String, Vec<String>)> {
    let name = match name.filter(|n| !n.is_empty()) {
        Some(n) => names::validate(n).map_err(ApiError::bad_request)?,
        None => names::generate(|n| state.containers.name_taken(n)),
    };
    if state.containers.name_taken(&name) {
        // insert() checks again under its lock; this early answer avoids any work.
        let other = state.containers.find(&name)?.id();
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name.")));
    }
    let image_name = body.image.clone().filter(|i| !i.is_empty()).ok_or_else(|| ApiError::bad_request("config cannot be empty in order to create a container"))?;
    let st = state.clone();
    let iname = image_name.clone();
    let record = tokio::task::spawn_blocking(move || -> Result<_, berth_image::Error> {
        let id = st.images.resolve(&iname)?;
        st.images.get(&id)
    })
    .await??;
    let mut hc = body.host_config.clone().unwrap_or_default();
    validate_host_config(&hc)?;
    if state.remap.is_some() && hc.privileged == Some(true) && hc.userns_mode.as_deref() != Some("host") {
        return Err(ApiError::bad_request(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
        ));
    }
    let st = state.clone();
    let secrets = tokio::task::spawn_blocking(move || secret_mounts::resolve(&st, &secrets)).await??;
    let extra_nets: Vec<String> = body.networking_config.as_ref().and_then(|n| n.endpoints_config.as_ref()).map(|m| m.keys().filter(|k| *k != "default").cloned().collect()).unwrap_or_default();
    networking::validate(state, hc.network_mode.as_deref().unwrap_or(""), &extra_nets)?;
    if hc.network_mode.as_deref().unwrap_or("").is_empty() {
        hc.network_mode = Some("bridge".into());
    }
    if let Some(links) = hc.links.clone().filter(|l| !l.is_empty()) {
        let mode = hc.network_mode.as_deref().unwrap_or("");
        if mode == "host" || mode.starts_with("container:") || mode == "none" {
            return Err(ApiError::bad_request("conflicting options: host type networking can't be used with links. This would result in undefined behavior"));
        }
        hc.links = Some(super::links::normalize(state, &name, &links)?);
    }
    if hc.log_config.as_ref().and_then(|l| l.typ.as_deref()).unwrap_or("").is_empty() {
        let d = state.defaults();
        hc.log_config = Some(berth_api::models::HostConfigLogConfig { typ: Some(d.log_driver), config: Some(d.log_opts) });
    }
    let driver = hc.log_config.as_ref().and_then(|l| l.typ.clone()).unwrap_or_default();
    if !matches!(driver.as_str(), "json-file" | "local" | "none") {
        return Err(ApiError::bad_request(format!("failed to create logger: logger: no log driver named '{driver}' is registered")));
    }
    let mut config = config_from_body(&body);
    merge_config(&mut config, &image_config(&record.config_bytes));
    config.image = Some(image_name.clone());
    let mut argv: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    argv.extend(config.cmd.clone().unwrap_or_default());
    if argv.is_empty() {
        return Err(ApiError::bad_request("No command specified"));
    }
    let st = state.clone();
    let (cfg2, hc2) = (config.clone(), hc.clone());
    let mounts = tokio::task::spawn_blocking(move || mounts::resolve(&st, &cfg2, &hc2)).await??;
    let id = super::new_id();
    let mut warnings = Vec::new();
    if hc.memory.unwrap_or(0) > 0 && berth_runtime::cgroups::host_version() == berth_runtime::cgroups::Version::V1 && !Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
    }
    let c = Container {
        id: id.clone(),
        name,
        created: now(),
        image: image_name,
        image_id: record.id.to_string(),
        path: argv[0].clone(),
        args: argv[1..].to_vec(),
        config,
        host_config: hc,
        networking_config: body.networking_config.clone(),
        state: RunState::default(),
        restart_count: 0,
        manually_stopped: false,
        exec_ids: vec![],
        mounts: mounts.clone(),
        secrets,
        primary_detached: false,
    };
    let dir = state.containers.container_dir(&id);
    let made = SnapshotDirs::create(&dir).map_err(|e| ApiError::internal(e.to_string()));
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&dir);
        mounts::remove_anonymous(state, &mounts);
        return Err(e);
    }
    if let Err(e) = state.containers.insert(c) {
        let _ = std::fs::remove_dir_all(&dir);
        mounts::remove_anonymous(state, &mounts);
        return Err(e);
    }
    state.events.container(&id, "create");
    Ok((id, warnings))
}

/// The Config part of a create body (Docker's API sends Config fields at the top level).
fn config_from_body(b: &ContainerCreateBody) -> ContainerConfig {
    ContainerConfig {
        hostname: b.hostname.clone(),
        domainname: b.domainname.clone(),
        user: b.user.clone(),
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        exposed_ports: b.exposed_ports.clone(),
        tty: b.tty,
        open_stdin: b.open_stdin,
        stdin_once: b.stdin_once,
        env: b.env.clone(),
        cmd: b.cmd.clone(),
        healthcheck: b.healthcheck.clone(),
        args_escaped: b.args_escaped,
        image: b.image.clone(),
        volumes: b.volumes.clone(),
        working_dir: b.working_dir.clone(),
        entrypoint: b.entrypoint.clone(),
        network_disabled: b.network_disabled,
        mac_address: b.mac_address.clone(),
        on_build: b.on_build.clone(),
        labels: b.labels.clone(),
        stop_signal: b.stop_signal.clone(),
        stop_timeout: b.stop_timeout,
        shell: b.shell.clone(),
    }
}

fn shim_dir(state: &AppState, id: &str) -> std::path::PathBuf {
    state.exec_root.join("c").join(id)
}

/// Docker's exit code for a start that failed (daemon/start.go): 127 for a missing
/// command, 126 for one that cannot be run, 128 otherwise.
fn start_error_code(msg: &str) -> i64 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else if msg.contains("permission denied") {
        126
    } else {
        128
    }
}

/// `POST /containers/{id}/start`. Ok(false): already running (304).
pub async fn start(state: &AppState, entry: &Arc<Entry>) -> ApiResult<bool> {
    let _op = entry.op.lock().await;
    start_locked(state, entry).await
}

async fn start_locked(state: &AppState, entry: &Arc<Entry>) -> ApiResult<bool> {
    let c = entry.get();
    if c.paused() {
        return Err(ApiError::new(StatusCode::CONFLICT, "cannot start a paused container, try unpause instead"));
    }
    if c.running() && c.state.status != "restarting" {
        return Ok(false);
    }
    if entry.removed.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ApiError::not_found(format!("No such container: {}", c.id)));
    }
    match launch(state, entry, &c).await {
        Ok(()) => Ok(true),
        Err(msg) => {
            {
                let mut r = entry.lock();
                r.state.error = msg.clone();
                r.state.exit_code = start_error_code(&msg);
                if r.state.status == "restarting" {
                    r.state.status = "exited".into();
                }
            }
            state.containers.save(entry);
            let status = if start_error_code(&msg) == 128 { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::BAD_REQUEST };
            Err(ApiError::new(status, msg))
        }
    }
}

/// Mounts, writes, spawns and starts; on failure undoes it all and says why.
async fn launch(state: &AppState, entry: &Arc<Entry>, c: &Container) -> Result<(), String> {
    let dir = state.containers.container_dir(&c.id);
    let sdir = shim_dir(state, &c.id);
    let st = state.clone();
    let c2 = c.clone();
    let dir2 = dir.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare_bundle(&st, &c2, &dir2)).await.map_err(|e| e.to_string())?;
    let staged = match prepared {
        Ok(s) => s,
        Err(e) => {
            unmount_all(state, c, &dir);
            return Err(format!("{e:#}"));
        }
    };
    let _ = std::fs::remove_dir_all(&sdir);
    let log = c.host_config.log_config.clone().unwrap_or_default();
    let driver = log.typ.unwrap_or_else(|| "json-file".into());
    let mut args: Vec<String> = vec![
        "run".into(),
        "--id".into(),
        c.id.clone(),
        "--bundle".into(),
        dir.display().to_string(),
        "--runtime-root".into(),
        state.runtime_root().display().to_string(),
        "--dir".into(),
        sdir.display().to_string(),
        "--log-driver".into(),
        driver.clone(),
    ];
    if driver != "none" {
        args.push("--log-path".into());
        args.push(log_path(state, c).display().to_string());
        for (k, v) in log.config.iter().flatten() {
            args.push("--log-opt".into());
            args.push(format!("{k}={v}"));
        }
    }
    if c.config.open_stdin.unwrap_or(false) {
        args.push("--stdin".into());
        if c.config.stdin_once.unwrap_or(false) {
            args.push("--stdin-once".into());
        }
    }
    if let Some(rt) = c.host_config.runtime.as_deref().filter(|r| !r.is_empty() && *r != "berth-runtime" && *r != "runc-compatible") {
        args.push("--runtime".into());
        args.push(rt.to_owned());
    }
    let ready = match shim::spawn(&sdir, args).await {
        Ok(r) => r,
        Err(e) => {
            unmount_all(state, c, &dir);
            return Err(format!("{e:#}"));
        }
    };
    // The runtime has made the container's mounts (or failed to): the staging is done.
    drop(staged);
    if let Some(err) = ready.error {
        unmount_all(state, c, &dir);
        let _ = std::fs::remove_dir_all(&sdir);
        return Err(format!("failed to create task for container: OCI runtime create failed: {err}: unknown"));
    }
    // The container's own mounts now hold its secrets; the host needs no path to them.
    secret_mounts::release(state, &c.id);
    // Attach requests that were waiting get their streams before the process runs.
    let pending: Vec<shim::PendingAttach> = std::mem::take(&mut *entry.pending_attach.lock().unwrap_or_else(|p| p.into_inner()));
    for p in pending {
        let r = shim::attach(&sdir, &p.request).await.map_err(|e| format!("{e:#}"));
        let _ = p.tx.send(r);
    }
    if let Err(e) = shim::call(&sdir, &Request::Start).await {
        let _ = shim::call(&sdir, &Request::Kill { signal: libc::SIGKILL, all: true }).await;
        let _ = shim::wait(&sdir).await;
        unmount_all(state, c, &dir);
        let _ = std::fs::remove_dir_all(&sdir);
        return Err(format!("{e:#}"));
    }
    {
        let mut r = entry.lock();
        r.state.status = "running".into();
        r.state.pid = ready.pid.unwrap_or(0) as i64;
        r.state.started_at = now();
        r.state.exit_code = 0;
        r.state.error = String::new();
        r.state.oom_killed = false;
        r.manually_stopped = false;
        r.state.health = healthcheck_of(&r.config).map(|_| HealthState { status: "starting".into(), ..Default::default() });
    }
    state.containers.save(entry);
    state.events.container(&c.id, "start");
    monitor(state.clone(), entry.clone(), sdir);
    super::health::spawn_checker(state.clone(), entry.clone());
    Ok(())
}

/// The healthcheck in force, if any (`NONE` disables the image's).
pub fn healthcheck_of(cfg: &ContainerConfig) -> Option<HealthConfig> {
    let h = cfg.healthcheck.clone()?;
    match h.test.as_deref() {
        None | Some([]) => None,
        Some([first, ..]) if first == "NONE" => None,
        _ => Some(h),
    }
}

/// The container's log file where Docker keeps it: `<id>-json.log` for json-file,
/// `local-logs/container.log` for local.
pub fn log_path(state: &AppState, c: &Container) -> std::path::PathBuf {
    let dir = state.containers.container_dir(&c.id);
    match log_format(c) {
        Some(super::logs::Format::Local) => dir.join("local-logs").join("container.log"),
        _ => dir.join(format!("{}-json.log", c.id)),
    }
}

/// The format of the container's log file (None for the `none` driver).
pub fn log_format(c: &Container) -> Option<super::logs::Format> {
    super::logs::Format::of_driver(c.host_config.log_config.as_ref().and_then(|l| l.typ.as_deref()).unwrap_or("json-file"))
}

/// Mounts the rootfs, writes the managed files and config.json (blocking work). The
/// staged volume subpaths it returns must live until the runtime has made its mounts.
fn prepare_bundle(state: &AppState, c: &Container, dir: &Path) -> anyhow::Result<mounts::Staged> {
    use anyhow::Context;
    let image_id: berth_image::Digest = c.image_id.parse().map_err(|e| anyhow::anyhow!("image id {}: {e}", c.image_id))?;
    let img = state.images.get(&image_id).with_context(|| format!("the image of this container ({}) is gone", c.image))?;
    let dirs = SnapshotDirs::create(dir)?;
    let _ = snapshot::unmount(&dirs.merged);
    let remap = remap_of(state, c);
    if let Some(r) = &remap {
        // The overlay's root dir is the upper dir's: owned by the container's root.
        let (uid, gid) = r.root();
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata(&dirs.upper).map(|m| m.uid() == 0).unwrap_or(false) {
            std::os::unix::fs::chown(&dirs.upper, Some(uid), Some(gid))?;
        }
    }
    let throwaway = c.host_config.auto_remove.unwrap_or(false);
    snapshot::mount_overlay_mapped(state.images.layers(), &img.chain_ids, &dirs, remap.as_ref().map(|r| r.userns_fd()), throwaway)?;
    let staged = mounts::setup(state, &c.id, &c.mounts, &dirs.merged, &mounts::staging_dir(state, &c.id), remap.as_deref())?;
    let net = networking::setup(state, c)?;
    let addresses: Vec<String> = net.addresses.iter().map(|a| a.to_string()).collect();
    // Legacy links: on the default bridge /etc/hosts lines and variables, on a user
    // network a name for this container alone.
    let on_networks = match networking::mode(c) {
        networking::Mode::Networks(n) => n,
        _ => Vec::new(),
    };
    let (mut link_hosts, mut link_env) = (Vec::new(), Vec::new());
    for (r, target) in super::links::resolve(state, c, &on_networks)? {
        if r.network == "bridge" {
            for name in [r.link.alias.as_str(), &r.id[..12], target.name.as_str()] {
                link_hosts.push(format!("{name}:{}", r.ip));
            }
            link_env.extend(super::links::env(&r, &c.name, &target.config));
        } else if let (Some(dns), Ok(n)) = (state.network.dns(), state.network.network(&r.network)) {
            dns.add_link(&c.id, &n.id, &r.link.alias, r.ip);
        }
    }
    let u = user::resolve(&dirs.merged, c.config.user.as_deref().unwrap_or(""), c.host_config.group_add.as_deref().unwrap_or(&[])).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(wd) = c.config.working_dir.as_deref().filter(|w| !w.is_empty() && *w != "/") {
        // Docker creates a missing working directory (owned by the container's user).
        let root = std::fs::File::open(&dirs.merged)?;
        if let Ok(fd) = berth_runtime::safe_path::mkdir_all_in_root(std::os::fd::AsRawFd::as_raw_fd(&root), Path::new(wd), berth_runtime::safe_path::Kind::Dir) {
            // SAFETY: fchownat on an O_PATH descriptor we own, with an empty C string.
            let (uid, gid) = remap.as_ref().map_or((u.uid, u.gid), |r| (r.host_uid(u.uid), r.host_gid(u.gid)));
            unsafe { libc::fchownat(std::os::fd::AsRawFd::as_raw_fd(&fd), c"".as_ptr(), uid, gid, libc::AT_EMPTY_PATH) };
        }
    }
    let hostname = spec::hostname(c);
    let defaults = state.defaults();
    let mut hc = c.host_config.clone();
    let none: Vec<String> = Vec::new();
    if hc.dns.as_ref().is_none_or(|d| d.is_empty()) && !defaults.dns.is_empty() {
        hc.dns = Some(defaults.dns.clone());
    }
    if hc.dns_search.as_ref().is_none_or(|d| d.is_empty()) && !defaults.dns_search.is_empty() {
        hc.dns_search = Some(defaults.dns_search.clone());
    }
    if hc.dns_options.as_ref().is_none_or(|d| d.is_empty()) && !defaults.dns_opts.is_empty() {
        hc.dns_options = Some(defaults.dns_opts.clone());
    }
    // daemon.json default-ulimits apply where the container sets none of that name.
    let mut ulimits = hc.ulimits.clone().unwrap_or_default();
    for u in &defaults.ulimits {
        if !ulimits.iter().any(|x| x.name.as_deref() == Some(u.name.as_str())) {
            ulimits.push(berth_api::models::ResourcesUlimits { name: Some(u.name.clone()), soft: Some(u.soft), hard: Some(u.hard) });
        }
    }
    hc.ulimits = Some(ulimits);
    let hc = &hc;
    let extra_hosts: Vec<String> = link_hosts.into_iter().chain(hc.extra_hosts.iter().flatten().cloned()).collect();
    files::write(
        dir,
        &files::NetFiles {
            hostname: &hostname,
            domainname: c.config.domainname.as_deref().unwrap_or(""),
            extra_hosts: &extra_hosts,
            addresses: &addresses,
            dns: hc.dns.as_ref().unwrap_or(&none),
            dns_search: hc.dns_search.as_ref().unwrap_or(&none),
            dns_options: hc.dns_options.as_ref().unwrap_or(&none),
            embedded_dns: net.embedded_dns,
        },
    )?;
    let peer = |word: &str| -> anyhow::Result<i64> {
        let e = state.containers.find(word).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let p = e.get();
        if !p.running() {
            anyhow::bail!("cannot join namespaces of container {word}: it is not running");
        }
        Ok(p.state.pid)
    };
    let mut effective = c.clone();
    effective.host_config = hc.clone();
    if !link_env.is_empty() {
        // The container's own variables win over the links' (dockerd's order).
        let own = effective.config.env.take().unwrap_or_default();
        link_env.retain(|v| !own.iter().any(|o| o.split('=').next() == v.split('=').next()));
        link_env.extend(own);
        effective.config.env = Some(link_env);
    }
    for (i, at) in &staged.sources {
        effective.mounts[*i].source = at.display().to_string();
    }
    let init = match hc.init.unwrap_or(defaults.init) {
        true => Some(init::host_path(&state.exec_root, defaults.init_path.as_deref())?),
        false => None,
    };
    let mut s = spec::build(&effective, &u, &spec::Paths { rootfs: &dirs.merged, dir, netns: net.netns.as_deref(), init: init.as_deref() }, &peer, &seccomp::Policy { default: &defaults.seccomp, programs: Some(&state.exec_root.join("seccomp")) })?;
    if let Some(r) = &remap {
        let (uids, gids) = r.spec_maps();
        if let Some(ns) = s["linux"]["namespaces"].as_array_mut() {
            ns.push(serde_json::json!({ "type": "user" }));
        }
        s["linux"]["uidMappings"] = uids;
        s["linux"]["gidMappings"] = gids;
        // The files berthd writes are the container's root's to change, as in Docker.
        let (uid, gid) = r.root();
        for f in ["hostname", "hosts", "resolv.conf"] {
            let _ = std::os::unix::fs::chown(dir.join(f), Some(uid), Some(gid));
        }
    }
    // Under userns-remap the files are owned by the host ids of their owners inside.
    let secret_binds = match &remap {
        Some(r) => secret_mounts::setup(state, c, &|uid, gid| (r.host_uid(uid), r.host_gid(gid)))?,
        None => secret_mounts::setup(state, c, &|uid, gid| (uid, gid))?,
    };
    if let Some(m) = s["mounts"].as_array_mut() {
        m.extend(secret_binds);
    }
    let tmp = dir.join("config.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&s)?)?;
    std::fs::rename(&tmp, dir.join("config.json"))?;
    Ok(staged)
}

/// The remapping a container runs under: the daemon's, unless it said `--userns=host`.
pub fn remap_of(state: &AppState, c: &Container) -> Option<std::sync::Arc<crate::userns::Remap>> {
    state.remap.clone().filter(|_| c.host_config.userns_mode.as_deref() != Some("host"))
}

/// Undoes a start's mounts: the rootfs and the container's hold on its volumes.
fn unmount_all(state: &AppState, c: &Container, dir: &Path) {
    unmount_rootfs(dir);
    secret_mounts::release(state, &c.id);
    mounts::release(state, &c.id, &c.mounts);
    networking::release(state, &c.id);
}

fn unmount_rootfs(dir: &Path) {
    if let Err(e) = snapshot::unmount(&dir.join("merged")) {
        tracing::warn!("unmounting {}: {e}", dir.display());
    }
}

/// Waits for the container's exit through its shim and records it.
pub fn monitor(state: AppState, entry: Arc<Entry>, sdir: std::path::PathBuf) {
    tokio::spawn(async move {
        let exit = shim::wait(&sdir).await;
        on_exit(&state, &entry, exit, &sdir).await;
    });
}

async fn on_exit(state: &AppState, entry: &Arc<Entry>, exit: ExitStatus, sdir: &Path) {
    let id = entry.id();
    let dir = state.containers.container_dir(&id);
    unmount_all(state, &entry.get(), &dir);
    let _ = std::fs::remove_dir_all(sdir);
    let (policy, auto_remove, manually_stopped, started_at) = {
        let mut r = entry.lock();
        r.state.status = "exited".into();
        r.state.pid = 0;
        r.state.exit_code = exit.exit_code as i64;
        r.state.oom_killed = exit.oom_killed;
        r.state.finished_at = exit.finished_at.clone();
        r.state.error = exit.error.clone().unwrap_or_default();
        if let Some(h) = r.state.health.as_mut() {
            h.status = "unhealthy".into();
        }
        r.state.health = None;
        (r.host_config.restart_policy.clone().unwrap_or_default(), r.host_config.auto_remove.unwrap_or(false), r.manually_stopped, r.state.started_at.clone())
    };
    state.containers.save(entry);
    if exit.oom_killed {
        state.events.container(&id, "oom");
    }
    state.events.container_die(&id, exit.exit_code);
    let max = policy.maximum_retry_count.unwrap_or(0);
    let count = entry.lock().restart_count;
    let restart = !manually_stopped
        && match policy.name {
            Some(RestartPolicyNameEnum::ALWAYS) | Some(RestartPolicyNameEnum::UNLESS_STOPPED) => true,
            Some(RestartPolicyNameEnum::ON_FAILURE) => exit.exit_code != 0 && (max == 0 || count < max),
            _ => false,
        };
    if restart && !state.shutting_down() {
        let ran = super::status::unix_time(&started_at).map(|t| (chrono::Utc::now() - t).num_seconds()).unwrap_or(0);
        schedule_restart(state.clone(), entry.clone(), ran);
    } else if auto_remove {
        let state = state.clone();
        let entry = entry.clone();
        tokio::spawn(async move {
            if let Err(e) = remove(&state, &entry, true, true).await {
                tracing::warn!("auto-removing {}: {}", entry.id(), e.message);
            }
        });
    }
}

/// Docker's back-off: 100 ms doubling per restart, back to 100 ms after a run of 10 s
/// or more, at most a minute.
fn schedule_restart(state: AppState, entry: Arc<Entry>, ran_secs: i64) {
    let delay = {
        let mut r = entry.lock();
        if ran_secs >= 10 {
            r.restart_count = r.restart_count.max(1) - 1;
        }
        let d = 100u64.saturating_mul(1 << r.restart_count.min(10)).min(60_000);
        r.state.status = "restarting".into();
        d
    };
    state.containers.save(&entry);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let _op = entry.op.lock().await;
        let c = entry.get();
        if c.state.status != "restarting" || c.manually_stopped || entry.removed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        entry.lock().restart_count += 1;
        state.events.container(&c.id, "restart");
        if let Err(e) = start_locked(&state, &entry).await {
            tracing::warn!(container = %c.id, "restart failed: {}", e.message);
        }
    });
}

/// Waits until the container is not running (or `limit` passes). True if it stopped.
pub async fn wait_stopped(entry: &Entry, limit: Option<Duration>) -> bool {
    let mut rx = entry.changed.subscribe();
    let fut = async {
        loop {
            {
                let c = entry.lock();
                if !c.running() || c.state.status == "restarting" || entry.removed.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    };
    match limit {
        Some(l) => tokio::time::timeout(l, fut).await.is_ok(),
        None => {
            fut.await;
            true
        }
    }
}

pub fn parse_signal(s: &str) -> ApiResult<i32> {
    berth_runtime::container::parse_signal(s).map_err(|_| ApiError::bad_request(format!("Invalid signal: {s}")))
}

/// Sends a signal through the shim.
async fn signal(state: &AppState, id: &str, sig: i32, all: bool) -> anyhow::Result<()> {
    shim::call(&shim_dir(state, id), &Request::Kill { signal: sig, all }).await.map(|_| ())
}

/// `POST /containers/{id}/stop`. Ok(false): was not running (304).
pub async fn stop(state: &AppState, entry: &Arc<Entry>, timeout: Option<i64>, sig: Option<&str>) -> ApiResult<bool> {
    let _op = entry.op.lock().await;
    stop_locked(state, entry, timeout, sig).await
}

async fn stop_locked(state: &AppState, entry: &Arc<Entry>, timeout: Option<i64>, sig: Option<&str>) -> ApiResult<bool> {
    let c = entry.get();
    if c.state.status == "restarting" {
        entry.lock().manually_stopped = true;
        entry.lock().state.status = "exited".into();
        state.containers.save(entry);
        return Ok(true);
    }
    if !c.running() {
        return Ok(false);
    }
    entry.lock().manually_stopped = true;
    state.containers.save(entry);
    if c.paused() {
        let _ = unpause(state, entry).await;
    }
    let sig = match sig.filter(|s| !s.is_empty()).or(c.config.stop_signal.as_deref().filter(|s| !s.is_empty())) {
        Some(s) => parse_signal(s)?,
        None => libc::SIGTERM,
    };
    let t = timeout.or(c.config.stop_timeout).unwrap_or(10);
    if sig != libc::SIGKILL {
        if let Err(e) = signal(state, &c.id, sig, false).await {
            tracing::debug!("stop signal to {}: {e:#}", c.id);
        }
        let limit = if t < 0 { None } else { Some(Duration::from_secs(t as u64)) };
        if wait_stopped(entry, limit).await {
            state.events.container(&c.id, "stop");
            return Ok(true);
        }
    }
    let _ = signal(state, &c.id, libc::SIGKILL, true).await;
    if !wait_stopped(entry, Some(Duration::from_secs(30))).await {
        return Err(ApiError::internal(format!("cannot stop container: {}: tried to kill container, but did not receive an exit event", c.id)));
    }
    state.events.container(&c.id, "stop");
    Ok(true)
}

/// `POST /containers/{id}/kill`.
pub async fn kill(state: &AppState, entry: &Arc<Entry>, sig: Option<&str>) -> ApiResult<()> {
    let sig = match sig.filter(|s| !s.is_empty()) {
        Some(s) => parse_signal(s)?,
        None => libc::SIGKILL,
    };
    let c = entry.get();
    if !c.running() || c.state.status == "restarting" {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Cannot kill container: {}: container {} is not running", c.name, c.id)));
    }
    if sig == libc::SIGKILL || sig == libc::SIGTERM || sig == libc::SIGINT {
        entry.lock().manually_stopped = true;
    }
    if c.paused() && sig == libc::SIGKILL {
        let _ = unpause(state, entry).await;
    }
    signal(state, &c.id, sig, false).await.map_err(internal)?;
    state.events.container_signal(&c.id, "kill", sig);
    // As dockerd: a SIGKILL returns once the container is recorded as exited, so
    // `kill` followed by `inspect`/`rm` sees it stopped.
    if sig == libc::SIGKILL && !wait_stopped(entry, Some(Duration::from_secs(10))).await {
        tracing::warn!(id = %c.id, "container still running 10s after SIGKILL");
    }
    Ok(())
}

/// `POST /containers/{id}/restart`.
pub async fn restart(state: &AppState, entry: &Arc<Entry>, timeout: Option<i64>, sig: Option<&str>) -> ApiResult<()> {
    let _op = entry.op.lock().await;
    stop_locked(state, entry, timeout, sig).await?;
    start_locked(state, entry).await?;
    state.events.container(&entry.id(), "restart");
    Ok(())
}

/// `DELETE /containers/{id}`.
/// `DELETE /containers/{id}`; `volumes` (`rm -v`, `run --rm`) removes its anonymous
/// volumes too.
pub async fn remove(state: &AppState, entry: &Arc<Entry>, force: bool, volumes: bool) -> ApiResult<()> {
    let _op = entry.op.lock().await;
    let c = entry.get();
    if c.running() && c.state.status != "restarting" {
        if !force {
            let what = if c.paused() { "paused" } else { "running" };
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("cannot remove container \"/{}\": container is {what}: stop the container before removing or force remove", c.name),
            ));
        }
        entry.lock().manually_stopped = true;
        if c.paused() {
            let _ = unpause(state, entry).await;
        }
        let _ = signal(state, &c.id, libc::SIGKILL, true).await;
        if !wait_stopped(entry, Some(Duration::from_secs(30))).await {
            return Err(ApiError::internal(format!("could not kill running container {}, cannot remove", c.id)));
        }
    }
    entry.lock().state.status = "removing".into();
    let dir = state.containers.container_dir(&c.id);
    unmount_rootfs(&dir);
    secret_mounts::release(state, &c.id);
    let _ = std::fs::remove_dir_all(shim_dir(state, &c.id));
    if let Err(e) = state.containers.trash.discard(&dir) {
        entry.lock().state.status = "dead".into();
        state.containers.save(entry);
        return Err(ApiError::internal(format!("unable to remove filesystem for {}: {e}", c.id)));
    }
    state.containers.remove(entry).map_err(internal)?;
    mounts::release(state, &c.id, &c.mounts);
    if volumes {
        mounts::remove_anonymous(state, &c.mounts);
    }
    state.execs.forget_container(&c.id);
    state.events.container(&c.id, "destroy");
    Ok(())
}

pub async fn pause(state: &AppState, entry: &Arc<Entry>) -> ApiResult<()> {
    let c = entry.get();
    if !c.running() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Container {} is not running", c.id)));
    }
    if c.paused() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Container {} is already paused", c.id)));
    }
    let root = state.runtime_root();
    let id = c.id.clone();
    tokio::task::spawn_blocking(move || berth_runtime::Runtime::new(root).pause(&id)).await?.map_err(|e| ApiError::internal(e.to_string()))?;
    entry.lock().state.status = "paused".into();
    state.containers.save(entry);
    state.events.container(&c.id, "pause");
    Ok(())
}

pub async fn unpause(state: &AppState, entry: &Arc<Entry>) -> ApiResult<()> {
    let c = entry.get();
    if !c.paused() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("Container {} is not paused", c.id)));
    }
    let root = state.runtime_root();
    let id = c.id.clone();
    tokio::task::spawn_blocking(move || berth_runtime::Runtime::new(root).resume(&id)).await?.map_err(|e| ApiError::internal(e.to_string()))?;
    {
        let mut r = entry.lock();
        if r.state.status == "paused" {
            r.state.status = "running".into();
        }
    }
    state.containers.save(entry);
    state.events.container(&c.id, "unpause");
    Ok(())
}

/// At daemon start: re-adopt the shims of containers that were running, record the
/// exits that happened meanwhile, and start `always` / `unless-stopped` containers.
pub async fn restore(state: &AppState) {
    secret_mounts::release_all(state);
    mounts::clean_staging(state);
    for entry in state.containers.all() {
        let c = entry.get();
        let sdir = shim_dir(state, &c.id);
        if c.running() && c.state.status != "restarting" {
            if shim::alive(&sdir) {
                tracing::info!(container = %c.id, "re-adopting running container");
                super::networking::set_dns_upstreams(state, &c);
                for m in c.mounts.iter().filter(|m| m.is_volume()) {
                    if let Err(e) = state.volumes.acquire(&m.name, &c.id) {
                        tracing::warn!(container = %c.id, volume = %m.name, "re-taking volume: {e}");
                    }
                }
                monitor(state.clone(), entry.clone(), sdir);
                super::health::spawn_checker(state.clone(), entry.clone());
                continue;
            }
            let exit = shim::read_exit(&sdir).unwrap_or(ExitStatus {
                exit_code: 255,
                oom_killed: false,
                finished_at: now(),
                error: Some("container lost: its shim is gone and left no exit status".into()),
            });
            on_exit(state, &entry, exit, &sdir).await;
            continue;
        }
        let policy = c.host_config.restart_policy.as_ref().and_then(|p| p.name);
        let again = match policy {
            Some(RestartPolicyNameEnum::ALWAYS) => true,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED) => !c.manually_stopped,
            _ => false,
        } || c.state.status == "restarting";
        if again && !c.state.started_at.starts_with("0001") {
            if let Err(e) = start(state, &entry).await {
                tracing::warn!(container = %c.id, "restarting at daemon start: {}", e.message);
            }
        }
    }
}
