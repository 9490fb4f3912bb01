//! cgroup v2: one directory in the unified hierarchy.

use std::fs;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::{own_cgroup, read_keyed, read_u64, resolve, write_file, write_res, Cgroup, Stats, Version, CGROUP_ROOT};
use crate::error::{Error, Result};

const WANTED: [&str; 6] = ["cpu", "cpuset", "io", "memory", "pids", "hugetlb"];

pub fn create(path: &Path) -> Result<Cgroup> {
    let root = Path::new(CGROUP_ROOT);
    // A relative cgroupsPath is resolved against the *parent* of our own cgroup, as
    // runc's fs2 driver does: our own cgroup holds processes (us, and e.g. a login
    // session's shell), and v2 forbids a cgroup with processes to hand controllers to
    // children ("no internal processes"), so a container below it would get EOPNOTSUPP
    // on joining and no memory/pids/cpu files.
    let own = own_cgroup("").map(|p| p.parent().map(Path::to_path_buf).unwrap_or(p));
    let dir = resolve(root, Path::new("/"), own.as_deref(), path);
    // Controllers must be enabled in every ancestor's subtree_control for the leaf to
    // get them; each is written alone so one unavailable controller does not block the rest.
    let rel = dir.strip_prefix(root).unwrap_or(Path::new("")).to_path_buf();
    let mut cur = root.to_path_buf();
    for comp in rel.components() {
        let available = fs::read_to_string(cur.join("cgroup.controllers")).unwrap_or_default();
        for c in WANTED.iter().filter(|c| available.split_whitespace().any(|a| a == **c)) {
            let _ = write_file(&cur, "cgroup.subtree_control", &format!("+{c}"));
        }
        cur.push(comp);
        if let Err(e) = fs::create_dir(&cur) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(Error::Cgroup(format!("creating {}: {e}", cur.display())));
            }
        }
    }
    Ok(Cgroup { version: Version::V2, paths: vec![(String::new(), dir)] })
}

fn dir(cg: &Cgroup) -> &Path {
    &cg.paths[0].1
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), the conversion runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// blkio.weight (10..1000) to io.weight (1..10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990
}

pub fn apply(cg: &Cgroup, res: &LinuxResources) -> Result<()> {
    let d = dir(cg);
    if let Some(mem) = res.memory() {
        let fmt = |v: i64| if v < 0 { "max".to_string() } else { v.to_string() };
        if let Some(l) = mem.limit() {
            write_res(d, "memory.max", &fmt(l))?;
        }
        if let Some(r) = mem.reservation() {
            write_res(d, "memory.low", &fmt(r))?;
        }
        // The spec's swap is memory+swap (a v1 notion); v2 limits swap alone.
        if let Some(s) = mem.swap() {
            let v = match (s, mem.limit()) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            if d.join("memory.swap.max").exists() {
                write_res(d, "memory.swap.max", &v)?;
            }
        }
        if mem.disable_oom_killer() == Some(true) {
            // v2 has no switch: the closest is to never reclaim by OOM group kill.
            let _ = write_file(d, "memory.oom.group", "0");
        }
    }
    if let Some(cpu) = res.cpu() {
        if let Some(s) = cpu.shares().filter(|s| *s > 0) {
            write_res(d, "cpu.weight", &shares_to_weight(s).to_string())?;
        }
        if cpu.quota().is_some() || cpu.period().is_some() {
            let period = cpu.period().filter(|p| *p > 0).unwrap_or(100_000);
            let quota = match cpu.quota() {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".into(),
            };
            write_res(d, "cpu.max", &format!("{quota} {period}"))?;
        }
        if let Some(c) = cpu.cpus().as_deref().filter(|c| !c.is_empty()) {
            write_res(d, "cpuset.cpus", c)?;
        }
        if let Some(m) = cpu.mems().as_deref().filter(|m| !m.is_empty()) {
            write_res(d, "cpuset.mems", m)?;
        }
    }
    if let Some(pids) = res.pids() {
        let v = if pids.limit() > 0 { pids.limit().to_string() } else { "max".into() };
        write_res(d, "pids.max", &v)?;
    }
    if let Some(bio) = res.block_io() {
        if let Some(w) = bio.weight().filter(|w| *w > 0) {
            if d.join("io.weight").exists() {
                write_res(d, "io.weight", &format!("default {}", blkio_to_io_weight(w)))?;
            }
        }
        let throttles = [
            ("rbps", bio.throttle_read_bps_device()),
            ("wbps", bio.throttle_write_bps_device()),
            ("riops", bio.throttle_read_iops_device()),
            ("wiops", bio.throttle_write_iops_device()),
        ];
        for (key, devs) in throttles {
            for t in devs.iter().flatten() {
                write_res(d, "io.max", &format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()))?;
            }
        }
    }
    if let Some(rules) = res.devices().as_deref().filter(|r| !r.is_empty()) {
        super::devices_bpf::apply(d, rules)?;
    }
    for h in res.hugepage_limits().iter().flatten() {
        write_res(d, &format!("hugetlb.{}.max", h.page_size()), &h.limit().to_string())?;
    }
    if let Some(unified) = res.unified() {
        for (k, v) in unified {
            if k.contains('/') || k.starts_with('.') {
                return Err(Error::Cgroup(format!("invalid unified key {k:?}")));
            }
            write_res(d, k, v)?;
        }
    }
    Ok(())
}

pub fn freeze(cg: &Cgroup, frozen: bool) -> Result<()> {
    let d = dir(cg);
    write_res(d, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    for _ in 0..1000 {
        if read_keyed(d, "cgroup.events", "frozen") == Some(u64::from(frozen)) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(Error::Cgroup(format!("cgroup {} did not {}", d.display(), if frozen { "freeze" } else { "thaw" })))
}

pub fn is_frozen(cg: &Cgroup) -> bool {
    read_keyed(dir(cg), "cgroup.events", "frozen") == Some(1)
}

pub fn stats(cg: &Cgroup) -> Stats {
    let d = dir(cg);
    Stats {
        memory_usage: read_u64(d, "memory.current"),
        memory_max_usage: read_u64(d, "memory.peak"),
        memory_limit: read_u64(d, "memory.max"),
        cpu_usage_ns: read_keyed(d, "cpu.stat", "usage_usec").unwrap_or(0) * 1000,
        pids_current: read_u64(d, "pids.current"),
        pids_limit: read_u64(d, "pids.max"),
        oom_kills: read_keyed(d, "memory.events", "oom_kill").unwrap_or(0),
        cpu_user_ns: read_keyed(d, "cpu.stat", "user_usec").unwrap_or(0) * 1000,
        cpu_system_ns: read_keyed(d, "cpu.stat", "system_usec").unwrap_or(0) * 1000,
        cpu_periods: read_keyed(d, "cpu.stat", "nr_periods").unwrap_or(0),
        cpu_throttled_periods: read_keyed(d, "cpu.stat", "nr_throttled").unwrap_or(0),
        cpu_throttled_ns: read_keyed(d, "cpu.stat", "throttled_usec").unwrap_or(0) * 1000,
        memory_stat: super::read_all_keyed(d, "memory.stat"),
        io_read_bytes: io_bytes(d, "rbytes="),
        io_write_bytes: io_bytes(d, "wbytes="),
    }
}

/// Sums one `key=value` field of io.stat over its devices.
fn io_bytes(d: &Path, key: &str) -> u64 {
    std::fs::read_to_string(d.join("io.stat"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.strip_prefix(key)?.parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversions_match_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }
}
