//! cgroup v1: one directory per mounted hierarchy.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceType, LinuxResources};

use super::{own_cgroup, read_keyed, read_u64, resolve, write_res, Cgroup, Stats, Version};
use crate::error::{Error, Result};

/// (controllers, mountpoint, mount root) of every v1 hierarchy that carries controllers.
fn hierarchies() -> Result<Vec<(String, PathBuf, PathBuf)>> {
    let text = fs::read_to_string("/proc/self/mountinfo").map_err(|e| Error::Cgroup(format!("reading mountinfo: {e}")))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let mut post_it = post.split_whitespace();
        if post_it.next() != Some("cgroup") {
            continue;
        }
        let _source = post_it.next();
        let opts = post_it.next().unwrap_or("");
        let fields: Vec<&str> = pre.split_whitespace().collect();
        if fields.len() < 5 {
            continue;
        }
        let ctrls: Vec<&str> = opts.split(',').filter(|o| is_controller(o)).collect();
        if ctrls.is_empty() {
            continue; // name=systemd and friends: no resources to manage
        }
        out.push((ctrls.join(","), PathBuf::from(fields[4]), PathBuf::from(fields[3])));
    }
    Ok(out)
}

fn is_controller(opt: &str) -> bool {
    matches!(
        opt,
        "cpu" | "cpuacct" | "cpuset" | "memory" | "devices" | "freezer" | "blkio" | "pids" | "hugetlb" | "net_cls"
            | "net_prio" | "perf_event" | "rdma" | "misc"
    )
}

pub fn create(path: &Path) -> Result<Cgroup> {
    let mut paths = Vec::new();
    for (ctrls, mountpoint, root) in hierarchies()? {
        let own = own_cgroup(&ctrls);
        let dir = resolve(&mountpoint, &root, own.as_deref(), path);
        if ctrls.split(',').any(|c| c == "cpuset") {
            mkdir_cpuset(&mountpoint, &dir)?;
        } else {
            fs::create_dir_all(&dir).map_err(|e| Error::Cgroup(format!("creating {}: {e}", dir.display())))?;
        }
        paths.push((ctrls, dir));
    }
    if paths.is_empty() {
        return Err(Error::Cgroup("no cgroup v1 hierarchies are mounted under /sys/fs/cgroup".into()));
    }
    Ok(Cgroup { version: Version::V1, paths })
}

/// A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks: copy the
/// parent's values into each level we create.
fn mkdir_cpuset(mountpoint: &Path, dir: &Path) -> Result<()> {
    let mut cur = mountpoint.to_path_buf();
    for comp in dir.strip_prefix(mountpoint).unwrap_or(Path::new("")).components() {
        let parent = cur.clone();
        cur.push(comp);
        if !cur.exists() {
            if let Err(e) = fs::create_dir(&cur) {
                if e.kind() != std::io::ErrorKind::AlreadyExists {
                    return Err(Error::Cgroup(format!("creating {}: {e}", cur.display())));
                }
            }
        }
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let mine = fs::read_to_string(cur.join(f)).unwrap_or_default();
            if mine.trim().is_empty() {
                let theirs = fs::read_to_string(parent.join(f)).unwrap_or_default();
                write_res(&cur, f, theirs.trim())?;
            }
        }
    }
    Ok(())
}

fn dir_for<'a>(cg: &'a Cgroup, ctrl: &str) -> Option<&'a Path> {
    cg.paths.iter().find(|(c, _)| c.split(',').any(|x| x == ctrl)).map(|(_, d)| d.as_path())
}

pub fn apply(cg: &Cgroup, res: &LinuxResources) -> Result<()> {
    if let (Some(mem), Some(dir)) = (res.memory(), dir_for(cg, "memory")) {
        let limit = mem.limit();
        let swap = mem.swap().filter(|_| dir.join("memory.memsw.limit_in_bytes").exists());
        let cur = read_u64(dir, "memory.limit_in_bytes") as i64;
        let fmt = |v: i64| if v < 0 { "-1".to_string() } else { v.to_string() };
        // memsw must stay >= limit at every step, so raise memsw first when growing.
        let growing = limit.map_or(false, |l| l < 0 || l > cur);
        if growing {
            if let Some(s) = swap {
                write_res(dir, "memory.memsw.limit_in_bytes", &fmt(s))?;
            }
        }
        if let Some(l) = limit {
            write_res(dir, "memory.limit_in_bytes", &fmt(l))?;
        }
        if !growing {
            if let Some(s) = swap {
                write_res(dir, "memory.memsw.limit_in_bytes", &fmt(s))?;
            }
        }
        if let Some(r) = mem.reservation() {
            write_res(dir, "memory.soft_limit_in_bytes", &fmt(r))?;
        }
        if let Some(s) = mem.swappiness() {
            if s <= 100 {
                write_res(dir, "memory.swappiness", &s.to_string())?;
            }
        }
        if mem.disable_oom_killer() == Some(true) {
            write_res(dir, "memory.oom_control", "1")?;
        }
    }
    if let Some(cpu) = res.cpu() {
        if let Some(dir) = dir_for(cg, "cpu") {
            if let Some(s) = cpu.shares().filter(|s| *s > 0) {
                write_res(dir, "cpu.shares", &s.to_string())?;
            }
            if let Some(p) = cpu.period().filter(|p| *p > 0) {
                write_res(dir, "cpu.cfs_period_us", &p.to_string())?;
            }
            if let Some(q) = cpu.quota().filter(|q| *q != 0) {
                write_res(dir, "cpu.cfs_quota_us", &q.to_string())?;
            }
            if let Some(p) = cpu.realtime_period().filter(|p| *p > 0) {
                write_res(dir, "cpu.rt_period_us", &p.to_string())?;
            }
            if let Some(r) = cpu.realtime_runtime().filter(|r| *r != 0) {
                write_res(dir, "cpu.rt_runtime_us", &r.to_string())?;
            }
        }
        if let Some(dir) = dir_for(cg, "cpuset") {
            if let Some(c) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
                write_res(dir, "cpuset.cpus", c)?;
            }
            if let Some(m) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
                write_res(dir, "cpuset.mems", m)?;
            }
        }
    }
    if let (Some(pids), Some(dir)) = (res.pids(), dir_for(cg, "pids")) {
        let v = if pids.limit() > 0 { pids.limit().to_string() } else { "max".into() };
        write_res(dir, "pids.max", &v)?;
    }
    if let (Some(bio), Some(dir)) = (res.block_io(), dir_for(cg, "blkio")) {
        if let Some(w) = bio.weight().filter(|w| *w > 0) {
            let file = if dir.join("blkio.weight").exists() { "blkio.weight" } else { "blkio.bfq.weight" };
            if dir.join(file).exists() {
                write_res(dir, file, &w.to_string())?;
            }
        }
        if let Some(devs) = bio.weight_device() {
            for d in devs {
                if let Some(w) = d.weight() {
                    let file = if dir.join("blkio.weight_device").exists() { "blkio.weight_device" } else { "blkio.bfq.weight_device" };
                    write_res(dir, file, &format!("{}:{} {}", d.major(), d.minor(), w))?;
                }
            }
        }
        let throttles = [
            ("blkio.throttle.read_bps_device", bio.throttle_read_bps_device()),
            ("blkio.throttle.write_bps_device", bio.throttle_write_bps_device()),
            ("blkio.throttle.read_iops_device", bio.throttle_read_iops_device()),
            ("blkio.throttle.write_iops_device", bio.throttle_write_iops_device()),
        ];
        for (file, devs) in throttles {
            for d in devs.iter().flatten() {
                write_res(dir, file, &format!("{}:{} {}", d.major(), d.minor(), d.rate()))?;
            }
        }
    }
    if let Some(dir) = dir_for(cg, "hugetlb") {
        for h in res.hugepage_limits().iter().flatten() {
            write_res(dir, &format!("hugetlb.{}.limit_in_bytes", h.page_size()), &h.limit().to_string())?;
        }
    }
    if let (Some(rules), Some(dir)) = (res.devices(), dir_for(cg, "devices")) {
        apply_devices(dir, rules)?;
    }
    // Unlike the controllers above, net_cls and net_prio are often not mounted (as on
    // these hosts): a limit that cannot be set is an error, as in runc and the runtime
    // spec ("values which cannot be mapped to a kernel interface MUST cause an error").
    if let Some(net) = res.network() {
        if let Some(id) = net.class_id() {
            let dir = dir_for(cg, "net_cls").ok_or_else(|| Error::Cgroup("cannot set net_cls.classid: the net_cls controller is not mounted".into()))?;
            write_res(dir, "net_cls.classid", &id.to_string())?;
        }
        let prios = net.priorities().as_deref().unwrap_or(&[]);
        if !prios.is_empty() {
            let dir = dir_for(cg, "net_prio").ok_or_else(|| Error::Cgroup("cannot set net_prio.ifpriomap: the net_prio controller is not mounted".into()))?;
            for p in prios {
                write_res(dir, "net_prio.ifpriomap", &format!("{} {}", p.name(), p.priority()))?;
            }
        }
    }
    Ok(())
}

fn apply_devices(dir: &Path, rules: &[oci_spec::runtime::LinuxDeviceCgroup]) -> Result<()> {
    for r in rules {
        let typ = match r.typ() {
            None | Some(LinuxDeviceType::A) => "a",
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
            Some(LinuxDeviceType::B) => "b",
            Some(LinuxDeviceType::P) => continue, // fifos are not device-controlled
        };
        let num = |n: Option<i64>| n.filter(|n| *n >= 0).map_or("*".to_string(), |n| n.to_string());
        let access = r.access().clone().unwrap_or_else(|| "rwm".into());
        let rule = if typ == "a" && r.major().is_none() && r.minor().is_none() {
            "a".to_string()
        } else {
            format!("{typ} {}:{} {access}", num(r.major()), num(r.minor()))
        };
        let file = if r.allow() { "devices.allow" } else { "devices.deny" };
        write_res(dir, file, &rule)?;
    }
    Ok(())
}

pub fn freeze(cg: &Cgroup, frozen: bool) -> Result<()> {
    let dir = dir_for(cg, "freezer").ok_or_else(|| Error::Cgroup("the freezer controller is not mounted".into()))?;
    let want = if frozen { "FROZEN" } else { "THAWED" };
    for _ in 0..1000 {
        write_res(dir, "freezer.state", want)?;
        let now = fs::read_to_string(dir.join("freezer.state")).unwrap_or_default();
        if now.trim() == want {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(Error::Cgroup(format!("cgroup {} did not become {want}", dir.display())))
}

pub fn is_frozen(cg: &Cgroup) -> bool {
    dir_for(cg, "freezer")
        .and_then(|d| fs::read_to_string(d.join("freezer.state")).ok())
        .map_or(false, |s| s.trim() == "FROZEN")
}

pub fn stats(cg: &Cgroup) -> Stats {
    let mut s = Stats::default();
    if let Some(d) = dir_for(cg, "memory") {
        s.memory_usage = read_u64(d, "memory.usage_in_bytes");
        s.memory_max_usage = read_u64(d, "memory.max_usage_in_bytes");
        s.memory_limit = read_u64(d, "memory.limit_in_bytes");
        s.oom_kills = read_keyed(d, "memory.oom_control", "oom_kill").unwrap_or(0);
    }
    if let Some(d) = dir_for(cg, "memory") {
        s.memory_stat = super::read_all_keyed(d, "memory.stat");
    }
    if let Some(d) = dir_for(cg, "cpuacct") {
        s.cpu_usage_ns = read_u64(d, "cpuacct.usage");
        let tick_ns = 1_000_000_000 / super::clock_ticks();
        s.cpu_user_ns = read_keyed(d, "cpuacct.stat", "user").unwrap_or(0) * tick_ns;
        s.cpu_system_ns = read_keyed(d, "cpuacct.stat", "system").unwrap_or(0) * tick_ns;
    }
    if let Some(d) = dir_for(cg, "cpu") {
        s.cpu_periods = read_keyed(d, "cpu.stat", "nr_periods").unwrap_or(0);
        s.cpu_throttled_periods = read_keyed(d, "cpu.stat", "nr_throttled").unwrap_or(0);
        s.cpu_throttled_ns = read_keyed(d, "cpu.stat", "throttled_time").unwrap_or(0);
    }
    if let Some(d) = dir_for(cg, "blkio") {
        // Lines are `MAJ:MIN Op bytes`; the per-device Read and Write lines are summed.
        let text = fs::read_to_string(d.join("blkio.throttle.io_service_bytes_recursive")).unwrap_or_default();
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let [_, op, v] = f[..] {
                let v: u64 = v.parse().unwrap_or(0);
                match op {
                    "Read" => s.io_read_bytes += v,
                    "Write" => s.io_write_bytes += v,
                    _ => {}
                }
            }
        }
    }
    if let Some(d) = dir_for(cg, "pids") {
        s.pids_current = read_u64(d, "pids.current");
        s.pids_limit = read_u64(d, "pids.max");
    }
    s
}
