//! `/_ping`, `/version`, `/info`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use berth_api::models::{LocalNodeState, PluginsInfo, SwarmInfo, SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion, SystemVersionComponents, SystemVersionPlatform};
use berth_api::version::{API_VERSION, MIN_API_VERSION};

use crate::error::ApiResult;
use crate::state::AppState;
use crate::sysinfo;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Headers of /_ping beyond the ones on every response. Builder-Version 1: berth has no
/// BuildKit session endpoint, so clients must use the classic build API.
fn ping_headers() -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
        (header::PRAGMA, "no-cache"),
        (header::HeaderName::from_static("builder-version"), "1"),
        (header::HeaderName::from_static("swarm"), "inactive"),
    ]
}

pub async fn ping() -> impl IntoResponse {
    (ping_headers(), [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "OK")
}

pub async fn ping_head() -> impl IntoResponse {
    (ping_headers(), [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CONTENT_LENGTH, "0")])
}

pub async fn version() -> Json<SystemVersion> {
    let kernel = sysinfo::kernel_version();
    let details: HashMap<String, String> = [
        ("ApiVersion", API_VERSION),
        ("MinAPIVersion", MIN_API_VERSION),
        ("GitCommit", ""),
        ("GoVersion", env!("BERTH_RUSTC_VERSION")),
        ("Os", "linux"),
        ("Arch", sysinfo::go_arch()),
        ("KernelVersion", kernel.as_str()),
        ("Experimental", "false"),
        ("BuildTime", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Json(SystemVersion {
        platform: Some(SystemVersionPlatform { name: "berth Engine".into() }),
        components: Some(vec![SystemVersionComponents { name: "Engine".into(), version: VERSION.into(), details: Some(details) }]),
        version: Some(VERSION.into()),
        api_version: Some(API_VERSION.into()),
        min_api_version: Some(MIN_API_VERSION.into()),
        git_commit: Some(String::new()),
        go_version: Some(env!("BERTH_RUSTC_VERSION").into()),
        os: Some("linux".into()),
        arch: Some(sysinfo::go_arch().into()),
        kernel_version: Some(kernel),
        experimental: Some(false),
        build_time: Some(String::new()),
    })
}

pub async fn info(State(state): State<AppState>) -> ApiResult<Json<SystemInfo>> {
    let st = state.clone();
    let images = tokio::task::spawn_blocking(move || st.images.list(&Default::default())).await??.len() as i64;
    let (os, os_version) = sysinfo::operating_system();
    let cgroup_v2 = sysinfo::cgroup_version() == "2";
    let all: Vec<String> = state.containers.all().iter().map(|e| e.get().state.status).collect();
    let count = |s: &str| all.iter().filter(|x| x.as_str() == s).count() as i64;
    let (running, paused) = (count("running") + count("restarting"), count("paused"));
    Ok(Json(SystemInfo {
        id: Some(state.engine_id.clone()),
        containers: Some(all.len() as i64),
        containers_running: Some(running),
        containers_paused: Some(paused),
        containers_stopped: Some(all.len() as i64 - running - paused),
        images: Some(images),
        // Layers are overlayfs lower dirs, as with Docker's overlay2 driver.
        driver: Some("overlay2".into()),
        driver_status: Some(vec![
            vec!["Backing Filesystem".into(), "extfs".into()],
            vec!["Supports d_type".into(), "true".into()],
        ]),
        docker_root_dir: Some(state.data_root.display().to_string()),
        memory_limit: Some(true),
        swap_limit: Some(true),
        cpu_cfs_period: Some(true),
        cpu_cfs_quota: Some(true),
        cpu_shares: Some(true),
        cpu_set: Some(true),
        pids_limit: Some(true),
        oom_kill_disable: Some(!cgroup_v2),
        ipv4_forwarding: Some(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").map(|s| s.trim() == "1").unwrap_or(false)),
        debug: Some(state.debug),
        nfd: Some(std::fs::read_dir("/proc/self/fd").map(|d| d.count() as i64).unwrap_or(0)),
        n_goroutines: Some(0),
        system_time: Some(berth_image::config::now_rfc3339()),
        logging_driver: Some(state.defaults().log_driver),
        cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if cgroup_v2 { SystemInfoCgroupVersionEnum::_2 } else { SystemInfoCgroupVersionEnum::_1 }),
        n_events_listener: Some(state.events.listeners() as i64),
        kernel_version: Some(sysinfo::kernel_version()),
        operating_system: Some(os),
        os_version: Some(os_version),
        os_type: Some("linux".into()),
        architecture: Some(sysinfo::uname_machine().into()),
        ncpu: Some(sysinfo::ncpu()),
        mem_total: Some(sysinfo::mem_total()),
        index_server_address: Some("https://index.docker.io/v1/".into()),
        name: Some(sysinfo::hostname()),
        labels: Some(vec![]),
        experimental_build: Some(false),
        server_version: Some(VERSION.into()),
        default_runtime: Some("berth-runtime".into()),
        live_restore_enabled: Some(true),
        security_options: Some({
            let mut o = vec![state.defaults().seccomp.info_name().to_owned()];
            if cgroup_v2 {
                o.push("name=cgroupns".into());
            }
            o
        }),
        warnings: Some(vec![]),
        plugins: Some(PluginsInfo {
            volume: Some(vec!["local".into()]),
            network: Some(vec!["bridge".into(), "host".into(), "none".into()]),
            authorization: None,
            log: Some(vec!["json-file".into(), "local".into(), "none".into()]),
        }),
        swarm: Some(SwarmInfo { local_node_state: Some(LocalNodeState::INACTIVE), ..Default::default() }),
        ..Default::default()
    }))
}
