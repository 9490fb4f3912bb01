//! A container record → its OCI runtime spec (the bundle's config.json), with Docker's
//! defaults (moby's oci/defaults.go): mounts, masked and read-only paths, the 14
//! default capabilities, the device allow list, and every HostConfig field the CLI can
//! reach.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use berth_api::models::HostConfig;
use serde_json::{json, Value};

use super::record::Container;
use super::seccomp;
use super::user::ExecUser;

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Where the pieces of one container live on the host.
pub struct Paths<'a> {
    pub rootfs: &'a Path,
    /// Holds hostname, hosts, resolv.conf.
    pub dir: &'a Path,
    /// The network namespace berthd prepared (bridge networks and `none`).
    pub netns: Option<&'a Path>,
    /// `--init`: the host's init binary, run as PID 1 in front of the command.
    pub init: Option<&'a Path>,
}

/// Namespaces other containers' processes are joined through (`--network container:x`,
/// `--ipc container:x`, `--pid container:x`): the pid of that container's init.
pub type PeerPid<'a> = dyn Fn(&str) -> Result<i64> + 'a;

/// Docker's process environment: PATH (unless the config sets it), HOSTNAME, TERM with
/// a tty, then the config's (image's merged with the user's) entries, later ones
/// replacing earlier ones of the same name; HOME from the user if still unset.
pub fn environment(c: &Container, hostname: &str, home: &str) -> Vec<String> {
    let mut env: Vec<String> = vec![DEFAULT_PATH.into(), format!("HOSTNAME={hostname}")];
    if c.tty() {
        env.push("TERM=xterm".into());
    }
    for e in c.config.env.iter().flatten() {
        set_env(&mut env, e);
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Replaces the entry with the same name or appends.
pub fn set_env(env: &mut Vec<String>, entry: &str) {
    let name = entry.split('=').next().unwrap_or(entry);
    match env.iter_mut().find(|e| e.split('=').next() == Some(name)) {
        Some(slot) => *slot = entry.to_owned(),
        None => env.push(entry.to_owned()),
    }
}

pub fn hostname(c: &Container) -> String {
    match c.config.hostname.as_deref() {
        Some(h) if !h.is_empty() => h.to_owned(),
        _ => c.id[..12].to_owned(),
    }
}

/// Canonical `CAP_X` names of every capability this kernel has.
fn kernel_caps() -> Vec<String> {
    let last = berth_runtime::capabilities::last_cap();
    let mut all: Vec<caps::Capability> = caps::all().into_iter().filter(|c| c.index() <= last).collect();
    all.sort_by_key(|c| c.index());
    all.into_iter().map(|c| c.to_string()).collect()
}

/// What `--privileged` and `--cap-add ALL` grant: every capability berthd itself may
/// hold. A daemon without some capability (in a container, or root without
/// CAP_SYS_RESOURCE as on these hosts) cannot give it, and asking the kernel to would
/// fail the start with a bare EPERM.
fn all_caps() -> Vec<String> {
    let own = caps::read(None, caps::CapSet::Bounding).unwrap_or_default();
    let own: Vec<String> = own.iter().map(|c| c.to_string()).collect();
    kernel_caps().into_iter().filter(|c| own.contains(c)).collect()
}

fn cap_name(s: &str) -> String {
    let up = s.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Docker's capability arithmetic: defaults (or all when privileged), `--cap-add`,
/// then `--cap-drop` (either may say ALL).
pub fn capabilities(hc: &HostConfig) -> Result<Vec<String>> {
    let kernel = kernel_caps();
    let known = all_caps();
    let check = |name: &str| -> Result<String> {
        let n = cap_name(name);
        if n == "CAP_ALL" || known.contains(&n) {
            Ok(n)
        } else if kernel.contains(&n) {
            bail!("capability {n} is not available: berthd itself does not hold it (it is missing from the daemon's bounding set)")
        } else {
            bail!("unknown capability: {name:?}")
        }
    };
    if hc.privileged.unwrap_or(false) {
        return Ok(known);
    }
    let adds = hc.cap_add.iter().flatten().map(|c| check(c)).collect::<Result<Vec<_>>>()?;
    // Dropping what berthd cannot give anyway is fine.
    let drops = hc
        .cap_drop
        .iter()
        .flatten()
        .map(|c| if kernel.contains(&cap_name(c)) { Ok(cap_name(c)) } else { check(c) })
        .collect::<Result<Vec<_>>>()?;
    let mut set: Vec<String> = if adds.iter().any(|c| c == "CAP_ALL") {
        known.clone()
    } else {
        let mut s: Vec<String> = berth_runtime::spec::DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
        for a in &adds {
            if !s.contains(a) {
                s.push(a.clone());
            }
        }
        s
    };
    if drops.iter().any(|c| c == "CAP_ALL") {
        // ALL dropped: only what was explicitly added survives.
        set.retain(|c| adds.contains(c));
    } else {
        set.retain(|c| !drops.contains(c));
    }
    Ok(set)
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Value {
    json!({ "destination": dest, "type": typ, "source": source, "options": options })
}

fn bind(dest: &str, source: &Path, readonly: bool) -> Value {
    let mut opts = vec!["rbind", "rprivate"];
    if readonly {
        opts.push("ro");
    }
    json!({ "destination": dest, "type": "bind", "source": source.to_string_lossy(), "options": opts })
}

/// `--tmpfs /run:rw,size=64m` options → mount options (Docker adds noexec,nosuid,nodev
/// by default).
fn tmpfs_mount(dest: &str, opts: &str) -> Value {
    let mut o: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
    for x in opts.split(',').filter(|x| !x.is_empty()) {
        let neg = match x {
            "exec" => Some("noexec"),
            "suid" => Some("nosuid"),
            "dev" => Some("nodev"),
            _ => None,
        };
        if let Some(n) = neg {
            o.retain(|y| y != n);
        }
        o.push(x.to_owned());
    }
    json!({ "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": o })
}

/// The container's resolved mount points (volumes, binds, `--mount` tmpfs, see
/// [`super::mounts`]) and `--tmpfs`, as OCI mounts.
fn user_mounts(c: &Container) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for m in &c.mounts {
        match m.kind.as_str() {
            "tmpfs" => out.push(tmpfs_mount(&m.destination, &m.tmpfs_options)),
            _ => {
                let mut b = bind(&m.destination, Path::new(&m.source), !m.rw);
                if !m.propagation.is_empty() && m.propagation != "rprivate" {
                    let opts = b["options"].as_array_mut().expect("bind() makes an options array");
                    opts.retain(|o| o != "rprivate");
                    opts.push(json!(m.propagation));
                }
                out.push(b);
            }
        }
    }
    for (dest, opts) in c.host_config.tmpfs.iter().flatten() {
        out.push(tmpfs_mount(dest, opts));
    }
    Ok(out)
}

/// `--security-opt` values: (no_new_privileges, the seccomp choice).
fn security_opts(hc: &HostConfig) -> Result<(bool, seccomp::Choice)> {
    let mut nnp = false;
    let mut seccomp = seccomp::Choice::Default;
    for o in hc.security_opt.iter().flatten() {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o.as_str(), ""));
        match k {
            "no-new-privileges" => nnp = v.is_empty() || v == "true",
            // The docker CLI sends the profile's contents, not its path.
            "seccomp" => seccomp = seccomp::Choice::from_value(v),
            "apparmor" | "label" if v == "unconfined" || v == "disable" => {}
            _ => bail!("invalid --security-opt: {o:?} (supported: no-new-privileges, seccomp=unconfined|<profile json>)"),
        }
    }
    Ok((nnp, seccomp))
}

/// `--security-opt` checked at create, so a bad option or an invalid seccomp profile
/// (bad JSON, an unknown syscall or action) leaves no container behind.
pub fn check_security_opts(hc: &HostConfig) -> Result<()> {
    if let (_, seccomp::Choice::Profile(text)) = security_opts(hc)? {
        let caps = capabilities(hc)?;
        let s = berth_runtime::seccomp::from_docker_profile(&text, &caps).map_err(|e| anyhow!("invalid seccomp profile: {e}"))?;
        berth_runtime::seccomp::compile(&s).map_err(|e| anyhow!("invalid seccomp profile: {e}"))?;
    }
    Ok(())
}

/// Docker's default device cgroup rules: deny everything, then mknod for all, and rwm
/// for the standard character devices.
fn default_device_rules() -> Vec<Value> {
    let r = |typ: &str, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut v = json!({ "allow": true, "type": typ, "access": access });
        if let Some(m) = major {
            v["major"] = json!(m);
        }
        if let Some(m) = minor {
            v["minor"] = json!(m);
        }
        v
    };
    vec![
        json!({ "allow": false, "access": "rwm" }),
        r("c", None, None, "m"),
        r("b", None, None, "m"),
        r("c", Some(1), Some(3), "rwm"),
        r("c", Some(1), Some(5), "rwm"),
        r("c", Some(1), Some(7), "rwm"),
        r("c", Some(1), Some(8), "rwm"),
        r("c", Some(1), Some(9), "rwm"),
        r("c", Some(5), Some(0), "rwm"),
        r("c", Some(5), Some(1), "rwm"),
        r("c", Some(5), Some(2), "rwm"),
        r("c", Some(136), None, "rwm"),
        r("c", Some(10), Some(200), "rwm"),
    ]
}

/// `--device /dev/x[:/dev/y[:rwm]]` → a device node in the container and its cgroup rule.
fn user_devices(hc: &HostConfig) -> Result<(Vec<Value>, Vec<Value>)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    for d in hc.devices.iter().flatten() {
        let host = d.path_on_host.as_deref().unwrap_or("");
        let inside = d.path_in_container.as_deref().filter(|p| !p.is_empty()).unwrap_or(host);
        let perms = d.cgroup_permissions.as_deref().filter(|p| !p.is_empty()).unwrap_or("rwm");
        let md = std::fs::metadata(host).map_err(|e| anyhow!("error gathering device information while adding custom device {host:?}: {e}"))?;
        let ft = md.file_type();
        let typ = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            bail!("error gathering device information while adding custom device {host:?}: not a device node");
        };
        let rdev = md.rdev();
        let (major, minor) = (libc::major(rdev) as i64, libc::minor(rdev) as i64);
        nodes.push(json!({ "path": inside, "type": typ, "major": major, "minor": minor, "fileMode": md.mode() & 0o7777, "uid": 0, "gid": 0 }));
        rules.push(json!({ "allow": true, "type": typ, "major": major, "minor": minor, "access": perms }));
    }
    Ok((nodes, rules))
}

/// `--privileged`: every device node of the host's /dev, as runc's HostDevices finds
/// them (pts, shm, mqueue, fd and the console are the container's own).
fn host_devices() -> Vec<Value> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    fn walk(dir: &Path, out: &mut Vec<Value>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name();
            let Ok(md) = std::fs::symlink_metadata(&path) else { continue };
            let ft = md.file_type();
            if ft.is_dir() {
                if !matches!(name.to_str(), Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")) {
                    walk(&path, out);
                }
                continue;
            }
            let typ = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            if name == "console" {
                continue;
            }
            let rdev = md.rdev();
            out.push(json!({
                "path": path.to_string_lossy(), "type": typ, "major": libc::major(rdev), "minor": libc::minor(rdev),
                "fileMode": md.mode() & 0o7777, "uid": md.uid(), "gid": md.gid(),
            }));
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out);
    out
}

fn resources(hc: &HostConfig, device_rules: Vec<Value>) -> Value {
    let mut res = json!({ "devices": device_rules });
    let mut mem = serde_json::Map::new();
    if let Some(m) = hc.memory.filter(|m| *m > 0) {
        mem.insert("limit".into(), json!(m));
        match hc.memory_swap {
            Some(-1) => {
                mem.insert("swap".into(), json!(-1));
            }
            Some(s) if s > 0 => {
                mem.insert("swap".into(), json!(s));
            }
            // Docker's default: as much swap as memory.
            _ => {
                mem.insert("swap".into(), json!(m * 2));
            }
        }
    }
    if let Some(r) = hc.memory_reservation.filter(|r| *r > 0) {
        mem.insert("reservation".into(), json!(r));
    }
    if hc.oom_kill_disable == Some(true) {
        mem.insert("disableOOMKiller".into(), json!(true));
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s >= 0) {
        mem.insert("swappiness".into(), json!(s));
    }
    if !mem.is_empty() {
        res["memory"] = Value::Object(mem);
    }
    let mut cpu = serde_json::Map::new();
    if let Some(s) = hc.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(n) = hc.nano_cpus.filter(|n| *n > 0) {
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(n * period / 1_000_000_000));
    } else {
        if let Some(q) = hc.cpu_quota.filter(|q| *q > 0) {
            cpu.insert("quota".into(), json!(q));
        }
        if let Some(p) = hc.cpu_period.filter(|p| *p > 0) {
            cpu.insert("period".into(), json!(p));
        }
    }
    if let Some(c) = hc.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = hc.cpuset_mems.as_deref().filter(|c| !c.is_empty()) {
        cpu.insert("mems".into(), json!(m));
    }
    if !cpu.is_empty() {
        res["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        res["pids"] = json!({ "limit": p });
    }
    if let Some(w) = hc.blkio_weight.filter(|w| *w > 0) {
        res["blockIO"] = json!({ "weight": w });
    }
    res
}

fn rlimits(hc: &HostConfig) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for u in hc.ulimits.iter().flatten() {
        let name = u.name.as_deref().unwrap_or("");
        let typ = format!("RLIMIT_{}", name.to_ascii_uppercase());
        const KNOWN: [&str; 16] =
            ["CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"];
        if !KNOWN.contains(&name.to_ascii_uppercase().as_str()) {
            bail!("invalid ulimit type: {name}");
        }
        let soft = u.soft.unwrap_or(0);
        let hard = u.hard.unwrap_or(soft);
        out.push(json!({ "type": typ, "soft": soft as u64, "hard": hard as u64 }));
    }
    Ok(out)
}

/// The namespaces: new ones, except where HostConfig shares the host's or another
/// container's.
fn namespaces(hc: &HostConfig, peer: &PeerPid<'_>, netns: Option<&Path>) -> Result<Vec<Value>> {
    let mut ns = vec![json!({ "type": "mount" })];
    let mut add = |typ: &str, mode: Option<&str>, host_ok: bool| -> Result<()> {
        match mode.unwrap_or("") {
            "host" if host_ok => {}
            m if m.starts_with("container:") => {
                let pid = peer(&m["container:".len()..])?;
                let file = match typ {
                    "network" => "net",
                    other => other,
                };
                ns.push(json!({ "type": typ, "path": format!("/proc/{pid}/ns/{file}") }));
            }
            _ => ns.push(json!({ "type": typ })),
        }
        Ok(())
    };
    add("pid", hc.pid_mode.as_deref(), true)?;
    add("ipc", hc.ipc_mode.as_deref(), true)?;
    add("uts", hc.uts_mode.as_deref(), true)?;
    match netns {
        Some(p) => ns.push(json!({ "type": "network", "path": p.to_string_lossy() })),
        None => add("network", hc.network_mode.as_deref(), true)?,
    }
    // Docker's default on cgroup v1 is the host's cgroup namespace, private on v2.
    let cgroupns = hc.cgroupns_mode.as_ref().map(|m| m.to_string());
    let private = match cgroupns.as_deref() {
        Some("private") => true,
        Some("host") => false,
        _ => berth_runtime::cgroups::host_version() == berth_runtime::cgroups::Version::V2,
    };
    if private {
        ns.push(json!({ "type": "cgroup" }));
    }
    Ok(ns)
}

/// The whole spec.
pub fn build(c: &Container, user: &ExecUser, paths: &Paths, peer: &PeerPid<'_>, seccomp_policy: &seccomp::Policy<'_>) -> Result<Value> {
    let hc = &c.host_config;
    let privileged = hc.privileged.unwrap_or(false);
    let host_name = hostname(c);
    if c.path.is_empty() {
        bail!("no command specified");
    }
    let mut args = match paths.init {
        Some(_) => vec![super::init::CONTAINER_PATH.to_owned(), "--".to_owned(), c.path.clone()],
        None => vec![c.path.clone()],
    };
    args.extend(c.args.iter().cloned());
    let caps = capabilities(hc)?;
    let (nnp, seccomp_choice) = security_opts(hc)?;
    let mut process = json!({
        "terminal": c.tty(),
        "user": { "uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids },
        "args": args,
        "env": environment(c, &host_name, &user.home),
        "cwd": c.config.working_dir.as_deref().filter(|w| !w.is_empty()).unwrap_or("/"),
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
        "noNewPrivileges": nnp,
        "rlimits": rlimits(hc)?,
    });
    if let Some(adj) = hc.oom_score_adj {
        process["oomScoreAdj"] = json!(adj);
    }
    let shm_size = hc.shm_size.filter(|s| *s > 0).unwrap_or(64 << 20);
    let sys_opts: &[&str] = if privileged { &["nosuid", "noexec", "nodev"] } else { &["nosuid", "noexec", "nodev", "ro"] };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        mount("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
        mount("/sys", "sysfs", "sysfs", sys_opts),
        mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro", "nosuid", "noexec", "nodev"]),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
        mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", &format!("size={shm_size}")]),
    ];
    let user = user_mounts(c)?;
    let user_dests: Vec<String> = user.iter().filter_map(|m| m["destination"].as_str().map(str::to_owned)).collect();
    for f in ["hostname", "hosts", "resolv.conf"] {
        let dest = format!("/etc/{f}");
        if !user_dests.contains(&dest) {
            mounts.push(bind(&dest, &paths.dir.join(f), false));
        }
    }
    if let Some(init) = paths.init {
        mounts.push(bind(super::init::CONTAINER_PATH, init, true));
    }
    // A user mount over a default one (e.g. --tmpfs /dev/shm) replaces it.
    mounts.retain(|m| !user_dests.iter().any(|d| m["destination"] == json!(d)));
    mounts.extend(user);

    let (mut dev_nodes, dev_rules) = user_devices(hc)?;
    if privileged {
        let mine: Vec<Value> = dev_nodes.iter().map(|d| d["path"].clone()).collect();
        dev_nodes.extend(host_devices().into_iter().filter(|d| !mine.contains(&d["path"])));
    }
    let mut rules = if privileged { vec![json!({ "allow": true, "access": "rwm" })] } else { default_device_rules() };
    rules.extend(dev_rules);
    let sysctl: serde_json::Map<String, Value> = hc.sysctls.iter().flatten().map(|(k, v)| (k.clone(), json!(v))).collect();
    let cgroups_path = match hc.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => format!("{}/{}", p.trim_end_matches('/'), c.id),
        None => format!("/berth/{}", c.id),
    };
    let mut linux = json!({
        "namespaces": namespaces(hc, peer, paths.netns)?,
        "resources": resources(hc, rules),
        "cgroupsPath": cgroups_path,
        "devices": dev_nodes,
        "sysctl": sysctl,
    });
    if !privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    let filter = seccomp::filter(&seccomp_choice, privileged, seccomp_policy, &caps)?;
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": paths.rootfs.to_string_lossy(), "readonly": hc.readonly_rootfs.unwrap_or(false) },
        "mounts": mounts,
        "linux": linux,
    });
    if let Some(f) = filter {
        spec["linux"]["seccomp"] = f.section;
        if let Some(p) = f.program {
            spec["annotations"] = json!({ (berth_runtime::seccomp::PROGRAM_ANNOTATION): p.to_string_lossy() });
        }
    }
    if hc.uts_mode.as_deref() != Some("host") {
        spec["hostname"] = json!(host_name);
        if let Some(d) = c.config.domainname.as_deref().filter(|d| !d.is_empty()) {
            spec["domainname"] = json!(d);
        }
    }
    Ok(spec)
}

/// The OCI `Process` of an exec in container `c`.
pub fn exec_process(c: &Container, cfg: &berth_api::models::ExecConfig, user: &ExecUser) -> Result<Value> {
    let cmd = cfg.cmd.clone().unwrap_or_default();
    if cmd.is_empty() {
        bail!("No exec command specified");
    }
    let host_name = hostname(c);
    let mut env = environment(c, &host_name, &user.home);
    for e in cfg.env.iter().flatten() {
        set_env(&mut env, e);
    }
    let privileged = cfg.privileged.unwrap_or(false) || c.host_config.privileged.unwrap_or(false);
    let caps = if privileged { all_caps() } else { capabilities(&c.host_config)? };
    let (nnp, _) = security_opts(&c.host_config)?;
    Ok(json!({
        "terminal": cfg.tty.unwrap_or(false),
        "user": { "uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids },
        "args": cmd,
        "env": env,
        "cwd": cfg.working_dir.as_deref().filter(|w| !w.is_empty()).or(c.config.working_dir.as_deref().filter(|w| !w.is_empty())).unwrap_or("/"),
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
        "noNewPrivileges": nnp,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::models::ContainerConfig;

    fn container() -> Container {
        Container {
            id: "0123456789ab".repeat(5) + "cdef",
            path: "sh".into(),
            args: vec!["-c".into(), "true".into()],
            config: ContainerConfig { env: Some(vec!["PATH=/bin".into(), "A=1".into(), "A=2".into()]), ..Default::default() },
            ..Default::default()
        }
    }

    #[test]
    fn env_order_and_overrides() {
        let mut c = container();
        c.config.tty = Some(true);
        let env = environment(&c, "h", "/root");
        assert_eq!(env, vec!["PATH=/bin", "HOSTNAME=h", "TERM=xterm", "A=2", "HOME=/root"]);
    }

    #[test]
    fn caps() {
        let mut hc = HostConfig::default();
        assert_eq!(capabilities(&hc).unwrap().len(), 14);
        hc.cap_add = Some(vec!["net_admin".into()]);
        hc.cap_drop = Some(vec!["CAP_CHOWN".into(), "kill".into()]);
        let c = capabilities(&hc).unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()) && !c.contains(&"CAP_CHOWN".to_string()) && c.len() == 13);
        hc.cap_drop = Some(vec!["ALL".into()]);
        assert_eq!(capabilities(&hc).unwrap(), vec!["CAP_NET_ADMIN"]);
        hc.cap_add = Some(vec!["CAP_BOGUS".into()]);
        assert!(capabilities(&hc).unwrap_err().to_string().contains("CAP_BOGUS"));
    }

    #[test]
    fn whole_spec() {
        let mut c = container();
        c.host_config.memory = Some(64 << 20);
        c.host_config.nano_cpus = Some(1_500_000_000);
        c.host_config.pids_limit = Some(20);
        c.host_config.readonly_rootfs = Some(true);
        c.host_config.tmpfs = Some([("/run".to_string(), "size=1m,exec".to_string())].into());
        c.host_config.network_mode = Some("host".into());
        let u = ExecUser { uid: 1, gid: 2, additional_gids: vec![], home: "/".into() };
        let dir = Path::new("/c");
        let s = build(&c, &u, &Paths { rootfs: Path::new("/c/merged"), dir, netns: None, init: None }, &|_| bail!("no peers"), &seccomp::Policy { default: &seccomp::DaemonDefault::Builtin, programs: None }).unwrap();
        assert_eq!(s["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(s["process"]["args"][0], c.path);
        assert_eq!(s["linux"]["resources"]["memory"], json!({"limit": 64 << 20, "swap": 128 << 20}));
        assert_eq!(s["linux"]["resources"]["cpu"], json!({"period": 100000, "quota": 150000}));
        assert_eq!(s["linux"]["resources"]["pids"]["limit"], 20);
        assert_eq!(s["root"]["readonly"], true);
        assert_eq!(s["hostname"], json!(&c.id[..12]));
        let nstypes: Vec<&str> = s["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert!(!nstypes.contains(&"network"), "{nstypes:?}");
        let run = s["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/run").unwrap();
        assert_eq!(run["options"], json!(["nosuid", "nodev", "size=1m", "exec"]));
        assert!(s["mounts"].as_array().unwrap().iter().any(|m| m["destination"] == "/etc/hosts" && m["source"] == "/c/hosts"));
        let parsed: Result<oci_spec::runtime::Spec, _> = serde_json::from_value(s);
        assert!(parsed.is_ok(), "{parsed:?}");
    }

    #[test]
    fn init_runs_in_front_of_the_command() {
        let mut c = container();
        c.path = "sleep".into();
        c.args = vec!["5".into()];
        let u = ExecUser { uid: 0, gid: 0, additional_gids: vec![], home: "/".into() };
        let paths = Paths { rootfs: Path::new("/c/merged"), dir: Path::new("/c"), netns: None, init: Some(Path::new("/run/berth/berth-init")) };
        let s = build(&c, &u, &paths, &|_| bail!("no peers"), &seccomp::Policy { default: &seccomp::DaemonDefault::Unconfined, programs: None }).unwrap();
        assert_eq!(s["process"]["args"], json!(["/sbin/docker-init", "--", "sleep", "5"]));
        let m = s["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sbin/docker-init").expect("init mount");
        assert_eq!(m["source"], "/run/berth/berth-init");
        assert!(m["options"].as_array().unwrap().contains(&json!("ro")), "{m}");
    }
}
