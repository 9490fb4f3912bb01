//! A service as a `POST /containers/create` body, filled as docker compose fills
//! it (compose's `getCreateConfigs`): the service's settings, compose's labels,
//! its networks with the container and service names as DNS aliases, and its
//! mounts, secrets and configs.

use std::collections::{BTreeMap, HashMap};

use berth_api::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, NetworkingConfig, PortBinding, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};
use serde_json::Value;

use super::error::{EngineError, Result};
use super::mounts::service_mounts;
use crate::labels;
use crate::model::{ByteSize, Project, Service};

/// What a container needs besides its service.
pub struct Target<'a> {
    pub name: &'a str,
    pub number: u64,
    /// A `compose run` container.
    pub oneoff: bool,
    /// The image id, recorded in `com.docker.compose.image`.
    pub image_id: Option<&'a str>,
    /// The service and container name as DNS aliases (not for `run` without `--use-aliases`).
    pub aliases: bool,
    /// Anonymous volumes of the container this one replaces, by target.
    pub inherited: HashMap<String, String>,
}

/// The image a service runs: `image:`, else the `<project>-<service>` that
/// `build` tags.
pub fn image_name(project: &Project, service: &Service) -> String {
    service.image.clone().unwrap_or_else(|| format!("{}-{}", project.name, service.name))
}

/// The name of container `number` of a service.
pub fn container_name(project: &Project, service: &Service, number: u64) -> String {
    service.container_name.clone().unwrap_or_else(|| labels::container_name(&project.name, &service.name, number))
}

/// `links: [service[:alias]]` as legacy links to each of the service's containers: the
/// alias resolves for this service's containers alone (the service's own name already
/// resolves for everyone on the network).
fn links(project: &Project, service: &Service) -> Vec<String> {
    let mut out = Vec::new();
    for l in &service.links {
        let (svc, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
        let Some(target) = project.services.get(svc) else { continue };
        for n in 1..=target.replicas() {
            out.push(format!("{}:{alias}", container_name(project, target, n)));
        }
    }
    out
}

/// The engine-side name of a project network key.
pub fn network_name(project: &Project, key: &str) -> String {
    project.networks.get(key).and_then(|n| n.name.clone()).unwrap_or_else(|| labels::resource_name(&project.name, key))
}

/// The engine-side name of a project volume key.
pub fn volume_name(project: &Project, key: &str) -> String {
    project.volumes.get(key).and_then(|v| v.name.clone()).unwrap_or_else(|| labels::resource_name(&project.name, key))
}

/// Builds the create body of one container of `service`.
pub fn container_body(project: &Project, service: &Service, t: &Target) -> Result<ContainerCreateBody> {
    let err = |m: String| EngineError::service(&service.name, m);
    let mut labels = labels::container_labels(project, service, t.number, t.oneoff);
    if let Some(id) = t.image_id {
        labels.insert(labels::IMAGE.into(), id.to_owned());
    }
    let env: Vec<String> = service.environment.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))).collect();

    let mut exposed: HashMap<String, HashMap<(), ()>> = HashMap::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &service.ports {
        let key = format!("{}/{}", p.target, p.protocol);
        exposed.insert(key.clone(), HashMap::new());
        let b = PortBinding { host_ip: Some(p.host_ip.clone().unwrap_or_default()), host_port: Some(p.published.clone().unwrap_or_default()) };
        bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(b);
    }
    for e in &service.expose {
        for key in expose_keys(e).map_err(|m| err(format!("expose: {m}")))? {
            exposed.insert(key, HashMap::new());
        }
    }

    let mounts = service_mounts(project, service, &t.inherited)?;
    let (network_mode, endpoints) = networks(project, service, t)?;
    let extra = Extras(&service.extra);
    let limits = service.deploy.as_ref().and_then(|d| d.resources.as_ref()).and_then(|r| r.limits.as_ref());
    let reservations = service.deploy.as_ref().and_then(|d| d.resources.as_ref()).and_then(|r| r.reservations.as_ref());
    let nano = |cpus: f64| (cpus * 1e9) as i64;

    let host = HostConfig {
        binds: non_empty(mounts.binds),
        mounts: non_empty(mounts.mounts),
        tmpfs: (!mounts.tmpfs.is_empty()).then_some(mounts.tmpfs),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        network_mode: Some(network_mode),
        restart_policy: Some(restart_policy(service).map_err(err)?),
        init: service.init,
        readonly_rootfs: service.read_only.then_some(true),
        privileged: service.privileged.then_some(true),
        cap_add: non_empty(service.cap_add.clone()),
        cap_drop: non_empty(service.cap_drop.clone()),
        security_opt: non_empty(service.security_opt.clone()),
        ulimits: non_empty(
            service
                .ulimits
                .iter()
                .map(|(name, u)| {
                    let (soft, hard) = u.limits();
                    ResourcesUlimits { name: Some(name.clone()), soft: Some(soft), hard: Some(hard) }
                })
                .collect(),
        ),
        sysctls: (!service.sysctls.is_empty()).then(|| service.sysctls.clone().into_iter().collect()),
        devices: non_empty(
            service
                .devices
                .iter()
                .map(|d| DeviceMapping { path_on_host: Some(d.source.clone()), path_in_container: Some(d.target.clone().unwrap_or_else(|| d.source.clone())), cgroup_permissions: Some(d.permissions.clone().unwrap_or_else(|| "rwm".into())) })
                .collect(),
        ),
        log_config: service.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: l.driver.clone(),
            config: Some(l.options.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect()),
        }),
        extra_hosts: non_empty(service.extra_hosts.iter().map(|h| h.replacen('=', ":", 1)).collect()),
        links: non_empty(links(project, service)),
        dns: non_empty(service.dns.clone()),
        dns_search: non_empty(service.dns_search.clone()),
        dns_options: non_empty(extra.strings("dns_opt")),
        group_add: non_empty(extra.strings("group_add")),
        ipc_mode: service.ipc.as_deref().map(|m| namespace_mode(project, m)),
        pid_mode: service.pid.as_deref().map(|m| namespace_mode(project, m)),
        volumes_from: non_empty(service.volumes_from.iter().map(|v| volumes_from(project, v)).collect()),
        nano_cpus: limits.and_then(|l| l.cpus).or(extra.float("cpus").map_err(err)?).filter(|c| *c > 0.0).map(nano),
        memory: limits.and_then(|l| l.memory).or(extra.size("mem_limit").map_err(err)?).map(|m| m.0 as i64),
        memory_reservation: reservations.and_then(|r| r.memory).or(extra.size("mem_reservation").map_err(err)?).map(|m| m.0 as i64),
        memory_swap: extra.swap("memswap_limit").map_err(err)?,
        pids_limit: limits.and_then(|l| l.pids).or(extra.int("pids_limit").map_err(err)?),
        cpu_shares: extra.int("cpu_shares").map_err(err)?,
        cpuset_cpus: extra.string("cpuset"),
        shm_size: extra.size("shm_size").map_err(err)?.map(|s| s.0 as i64),
        oom_score_adj: extra.int("oom_score_adj").map_err(err)?,
        runtime: extra.string("runtime"),
        cgroup_parent: extra.string("cgroup_parent"),
        userns_mode: extra.string("userns_mode"),
        uts_mode: extra.string("uts"),
        ..Default::default()
    };

    Ok(ContainerCreateBody {
        hostname: service.hostname.clone(),
        domainname: service.domainname.clone(),
        user: service.user.clone(),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: Some(service.tty),
        open_stdin: Some(service.stdin_open),
        stdin_once: Some(false),
        env: Some(env),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        healthcheck: healthcheck(service),
        image: Some(image_name(project, service)),
        working_dir: service.working_dir.clone(),
        labels: Some(labels.into_iter().collect()),
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service.stop_grace_period.map(|d| d.0.as_secs() as i64),
        mac_address: extra.string("mac_address"),
        host_config: Some(host),
        networking_config: Some(NetworkingConfig { endpoints_config: Some(endpoints) }),
        ..Default::default()
    })
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// `3000`, `3000-3002`, `53/udp` → the ExposedPorts keys.
fn expose_keys(e: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
    let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
    let parse = |s: &str| s.trim().parse::<u16>().map_err(|_| format!("invalid port {e:?}"));
    let (a, b) = (parse(a)?, parse(b)?);
    if a > b {
        return Err(format!("invalid port range {e:?}"));
    }
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

/// `restart:` as the engine's policy (`no`, `always`, `unless-stopped`, `on-failure[:N]`).
fn restart_policy(service: &Service) -> std::result::Result<RestartPolicy, String> {
    let r = service.restart.as_deref().unwrap_or("no");
    let (name, count) = r.split_once(':').unwrap_or((r, ""));
    let policy = match name {
        "" | "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => return Err(format!("restart: invalid restart policy {r:?}")),
    };
    let max = if count.is_empty() {
        None
    } else if policy == RestartPolicyNameEnum::ON_FAILURE {
        Some(count.parse::<i64>().map_err(|_| format!("restart: invalid maximum retry count in {r:?}"))?)
    } else {
        return Err(format!("restart: a maximum retry count is only valid with on-failure, not {r:?}"));
    };
    Ok(RestartPolicy { name: Some(policy), maximum_retry_count: max })
}

fn healthcheck(service: &Service) -> Option<HealthConfig> {
    let h = service.healthcheck.as_ref()?;
    if h.disable {
        return Some(HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() });
    }
    let ns = |d: Option<crate::model::Duration>| d.map(|d| d.0.as_nanos() as i64);
    Some(HealthConfig {
        test: h.test.clone(),
        interval: ns(h.interval),
        timeout: ns(h.timeout),
        start_period: ns(h.start_period),
        start_interval: ns(h.start_interval),
        retries: h.retries.map(|r| r as i64),
    })
}

/// `service:x` namespaces (ipc, pid) join x's first container.
fn namespace_mode(project: &Project, mode: &str) -> String {
    match mode.strip_prefix("service:") {
        Some(s) => format!("container:{}", first_container(project, s)),
        None => mode.to_owned(),
    }
}

fn first_container(project: &Project, service: &str) -> String {
    match project.services.get(service) {
        Some(s) => container_name(project, s, 1),
        None => labels::container_name(&project.name, service, 1),
    }
}

/// `svc[:ro]` → the service's first container; `container:name[:ro]` → name.
fn volumes_from(project: &Project, v: &str) -> String {
    if let Some(c) = v.strip_prefix("container:") {
        return c.to_owned();
    }
    let (svc, mode) = v.split_once(':').map(|(s, m)| (s, Some(m))).unwrap_or((v, None));
    let name = first_container(project, svc);
    match mode {
        Some(m) => format!("{name}:{m}"),
        None => name,
    }
}

/// NetworkMode and the endpoints: every network of the service, the one with the
/// highest `priority` (then the first by name) as the primary.
fn networks(project: &Project, service: &Service, t: &Target) -> Result<(String, HashMap<String, EndpointSettings>)> {
    if let Some(mode) = &service.network_mode {
        let mode = match mode.strip_prefix("service:") {
            Some(s) => format!("container:{}", first_container(project, s)),
            None => mode.clone(),
        };
        return Ok((mode, HashMap::new()));
    }
    let mut nets: Vec<(&String, Option<&crate::model::ServiceNetwork>)> = service.networks.iter().map(|(k, v)| (k, v.as_ref())).collect();
    nets.sort_by(|a, b| {
        let pa = a.1.and_then(|n| n.priority).unwrap_or(0);
        let pb = b.1.and_then(|n| n.priority).unwrap_or(0);
        pb.cmp(&pa).then_with(|| a.0.cmp(b.0))
    });
    let mut endpoints = HashMap::new();
    let mut primary = None;
    for (key, cfg) in nets {
        if !project.networks.contains_key(key) {
            return Err(EngineError::service(&service.name, format!("refers to undefined network {key}")));
        }
        let name = network_name(project, key);
        primary.get_or_insert_with(|| name.clone());
        let mut aliases = Vec::new();
        if t.aliases {
            aliases.push(t.name.to_owned());
            aliases.push(service.name.clone());
            aliases.extend(cfg.map(|c| c.aliases.clone()).unwrap_or_default());
        }
        let ipam = cfg.filter(|c| c.ipv4_address.is_some() || c.ipv6_address.is_some()).map(|c| EndpointIpamConfig { ipv4_address: c.ipv4_address.clone(), ipv6_address: c.ipv6_address.clone(), ..Default::default() });
        endpoints.insert(
            name,
            EndpointSettings {
                aliases: non_empty(aliases),
                ipam_config: ipam,
                mac_address: cfg.and_then(|c| c.mac_address.clone()),
                gw_priority: cfg.and_then(|c| c.priority),
                ..Default::default()
            },
        );
    }
    Ok((primary.unwrap_or_else(|| "default".into()), endpoints))
}

/// The service keys the model keeps raw (`mem_limit`, `cpus`, …), read leniently
/// as compose does: numbers may be strings after interpolation.
struct Extras<'a>(&'a BTreeMap<String, Value>);

impl Extras<'_> {
    fn string(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            v => Some(v.to_string()),
        }
    }

    fn strings(&self, key: &str) -> Vec<String> {
        match self.0.get(key) {
            Some(Value::Array(a)) => a.iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    fn int(&self, key: &str) -> std::result::Result<Option<i64>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| format!("{key}: invalid integer {n}")),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| format!("{key}: invalid integer {s:?}")),
            Some(v) => Err(format!("{key}: invalid integer {v}")),
        }
    }

    fn float(&self, key: &str) -> std::result::Result<Option<f64>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| format!("{key}: invalid number {s:?}")),
            Some(v) => Err(format!("{key}: invalid number {v}")),
        }
    }

    fn size(&self, key: &str) -> std::result::Result<Option<ByteSize>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| format!("{key}: {e}")),
        }
    }

    /// `memswap_limit`: a size, or -1 for unlimited swap.
    fn swap(&self, key: &str) -> std::result::Result<Option<i64>, String> {
        match self.0.get(key) {
            Some(Value::Number(n)) if n.as_i64() == Some(-1) => Ok(Some(-1)),
            Some(Value::String(s)) if s.trim() == "-1" => Ok(Some(-1)),
            _ => Ok(self.size(key)?.map(|s| s.0 as i64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_project, ProjectOptions};

    fn load(yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
        let opts = ProjectOptions { working_dir: Some(dir.path().to_path_buf()), project_name: Some("demo".into()), environment: Some(BTreeMap::new()), ..Default::default() };
        load_project(&opts).unwrap()
    }

    fn body(p: &Project, svc: &str) -> Value {
        let s = &p.services[svc];
        let name = container_name(p, s, 1);
        let t = Target { name: &name, number: 1, oneoff: false, image_id: Some("sha256:abc"), aliases: true, inherited: HashMap::new() };
        serde_json::to_value(container_body(p, s, &t).unwrap()).unwrap()
    }

    #[test]
    fn service_settings_map_to_the_create_body() {
        let p = load(
            r#"
services:
  web:
    image: busybox
    command: httpd -f -p 80
    environment: [A=1, B=two]
    ports: ["127.0.0.1:8080:80", "9000/udp"]
    expose: ["3000-3001"]
    restart: on-failure:3
    user: "1000"
    working_dir: /srv
    init: true
    read_only: true
    cap_add: [NET_ADMIN]
    ulimits: {nofile: {soft: 10, hard: 20}}
    extra_hosts: ["db=10.0.0.2"]
    stop_grace_period: 3s
    stop_signal: SIGUSR1
    healthcheck: {test: "true", interval: 1s, retries: 2}
    deploy: {resources: {limits: {cpus: "0.5", memory: 64m, pids: 50}}}
    mem_reservation: 32m
    labels: {tier: front}
    tmpfs: /run:size=1m
"#,
        );
        let b = body(&p, "web");
        let h = &b["HostConfig"];
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], serde_json::json!(["httpd", "-f", "-p", "80"]));
        assert_eq!(b["Env"], serde_json::json!(["A=1", "B=two"]));
        assert_eq!(h["PortBindings"]["80/tcp"], serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}]));
        assert_eq!(h["PortBindings"]["9000/udp"], serde_json::json!([{"HostIp": "", "HostPort": ""}]));
        for k in ["80/tcp", "9000/udp", "3000/tcp", "3001/tcp"] {
            assert!(b["ExposedPorts"].get(k).is_some(), "{k}");
        }
        assert_eq!(h["RestartPolicy"], serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3}));
        assert_eq!((b["User"].as_str(), b["WorkingDir"].as_str()), (Some("1000"), Some("/srv")));
        assert_eq!((h["Init"].as_bool(), h["ReadonlyRootfs"].as_bool()), (Some(true), Some(true)));
        assert_eq!(h["Ulimits"], serde_json::json!([{"Name": "nofile", "Soft": 10, "Hard": 20}]));
        assert_eq!(h["ExtraHosts"], serde_json::json!(["db:10.0.0.2"]));
        assert_eq!((b["StopTimeout"].as_i64(), b["StopSignal"].as_str()), (Some(3), Some("SIGUSR1")));
        assert_eq!(b["Healthcheck"], serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000i64, "Retries": 2}));
        assert_eq!((h["NanoCpus"].as_i64(), h["Memory"].as_i64(), h["PidsLimit"].as_i64()), (Some(500_000_000), Some(64 << 20), Some(50)));
        assert_eq!(h["MemoryReservation"].as_i64(), Some(32 << 20));
        assert_eq!(h["Tmpfs"], serde_json::json!({"/run": "size=1m"}));
        let l = &b["Labels"];
        assert_eq!((l["tier"].as_str(), l[labels::PROJECT].as_str(), l[labels::SERVICE].as_str()), (Some("front"), Some("demo"), Some("web")));
        assert_eq!((l[labels::CONTAINER_NUMBER].as_str(), l[labels::ONEOFF].as_str(), l[labels::IMAGE].as_str()), (Some("1"), Some("False"), Some("sha256:abc")));
        assert_eq!(l[labels::CONFIG_HASH].as_str().map(str::len), Some(64));
        // The default network, with the container and service names as aliases.
        assert_eq!(h["NetworkMode"], "demo_default");
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"]["demo_default"]["Aliases"], serde_json::json!(["demo-web-1", "web"]));
    }

    #[test]
    fn networks_volumes_and_namespaces() {
        let p = load(
            r#"
services:
  app:
    image: busybox
    networks:
      front: {aliases: [www], ipv4_address: 10.231.9.5}
      back: {priority: 10}
    volumes: [data:/data, /srv, ./conf:/conf:ro, {type: tmpfs, target: /t, tmpfs: {size: 1m, mode: 1777}}]
  side:
    image: busybox
    network_mode: service:app
    volumes_from: [app:ro]
    container_name: sidecar
networks:
  front: {}
  back: {name: shared-back}
volumes:
  data: {}
"#,
        );
        let b = body(&p, "app");
        let eps = &b["NetworkingConfig"]["EndpointsConfig"];
        assert_eq!(b["HostConfig"]["NetworkMode"], "shared-back", "the highest priority network is the primary");
        assert_eq!(eps["demo_front"]["Aliases"], serde_json::json!(["demo-app-1", "app", "www"]));
        assert_eq!(eps["demo_front"]["IPAMConfig"]["IPv4Address"], "10.231.9.5");
        let mounts = b["HostConfig"]["Mounts"].as_array().unwrap();
        assert_eq!(mounts[0], serde_json::json!({"Target": "/data", "Source": "demo_data", "Type": "volume"}));
        assert_eq!(mounts[1], serde_json::json!({"Target": "/srv", "Type": "volume"}));
        assert_eq!(mounts[2]["TmpfsOptions"], serde_json::json!({"SizeBytes": 1 << 20, "Mode": 0o1777}));
        let binds = b["HostConfig"]["Binds"].as_array().unwrap();
        assert!(binds[0].as_str().unwrap().ends_with("/conf:/conf:ro"), "{binds:?}");
        let s = body(&p, "side");
        assert_eq!(s["HostConfig"]["NetworkMode"], "container:demo-app-1");
        assert_eq!(s["HostConfig"]["VolumesFrom"], serde_json::json!(["demo-app-1:ro"]));
        assert_eq!(s["NetworkingConfig"]["EndpointsConfig"], serde_json::json!({}));
    }

    #[test]
    fn bad_values_name_the_service() {
        let p = load("services:\n  web:\n    image: busybox\n    restart: sometimes\n");
        let s = &p.services["web"];
        let t = Target { name: "x", number: 1, oneoff: false, image_id: None, aliases: true, inherited: HashMap::new() };
        let e = container_body(&p, s, &t).unwrap_err().to_string();
        assert_eq!(e, "service \"web\": restart: invalid restart policy \"sometimes\"");
        let p = load("services:\n  web:\n    image: busybox\n    mem_limit: lots\n");
        let e = container_body(&p, &p.services["web"], &t).unwrap_err().to_string();
        assert!(e.starts_with("service \"web\": mem_limit: invalid size"), "{e}");
    }
}
