//! Resource limits through cgroups, observed from inside the container and on the host.

mod common;
use common::*;
use serde_json::json;

fn v1() -> bool {
    cgroup_v1()
}

/// A cgroup file as the container sees it. On v2 without a cgroup namespace (runc's
/// default spec) /sys/fs/cgroup is the whole hierarchy, as with runc, so the container's
/// own directory is found through /proc/self/cgroup ("0::/path"; "0::/" in a cgroupns).
fn cg(controller: &str, file: &str) -> String {
    if v1() {
        format!("/sys/fs/cgroup/{controller}/{file}")
    } else {
        format!("/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/{file}")
    }
}

#[test]
fn memory_limit_is_in_the_cgroup() {
    let file = if v1() { cg("memory", "memory.limit_in_bytes") } else { cg("", "memory.max") };
    let mut b = Bundle::sh(&format!("cat {file}"));
    b.config["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    assert_eq!(b.run_ok().trim(), "67108864");
}

#[test]
fn cpu_and_pids_limits_are_in_the_cgroup() {
    let (quota, pids) = if v1() { (cg("cpu", "cpu.cfs_quota_us"), cg("pids", "pids.max")) } else { (cg("", "cpu.max"), cg("", "pids.max")) };
    let mut b = Bundle::sh(&format!("cat {quota} {pids}"));
    b.config["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000, "shares": 512});
    b.config["linux"]["resources"]["pids"] = json!({"limit": 42});
    let o = b.run_ok();
    assert!(o.starts_with("50000"), "{o}");
    assert!(o.trim_end().ends_with("42"), "{o}");
}

/// Device rules hold on both hierarchies: the devices controller on v1, an eBPF
/// program attached to the cgroup on v2. With "deny all" the standard devices stay
/// usable (the runtime's default allows) and a node made for /dev/mem (c 1:1) cannot be
/// opened, although making it (mknod) is allowed.
#[test]
fn device_rules_are_enforced() {
    let mut b = Bundle::sh("echo x >/dev/null && head -c 3 /dev/zero | wc -c && mknod /dev/memx c 1 1 2>&1 && echo made; head -c 1 /dev/memx 2>&1 >/dev/null; echo rc=$?");
    b.config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    for set in ["bounding", "effective", "permitted"] {
        if let Some(caps) = b.config["process"]["capabilities"][set].as_array_mut() {
            caps.push(json!("CAP_MKNOD"));
        }
    }
    let o = b.run_ok();
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines.first().map(|l| l.trim()), Some("3"), "/dev/null and /dev/zero usable: {o}");
    assert!(lines.contains(&"made"), "mknod of a char device is allowed: {o}");
    assert!(o.contains("Operation not permitted") && o.trim_end().ends_with("rc=1"), "/dev/mem refused: {o}");
}

#[test]
fn oom_kill_ends_with_sigkill_and_is_reported() {
    let mut b = Bundle::sh("head -c 300000000 /dev/zero | sort > /dev/null");
    b.config["linux"]["resources"]["memory"] = json!({"limit": 33554432, "swap": 33554432});
    b.write();
    let o = b.runtime(&["run", "--keep", "--bundle", b.path().to_str().unwrap(), &b.id]);
    assert_eq!(o.status.code(), Some(137), "stdout={} stderr={}", out(&o), err(&o));
    let ev = b.runtime(&["events", "--stats", &b.id]);
    let v: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert!(v["data"]["memory"]["oom_kill"].as_u64().unwrap() >= 1, "OOM not reported: {v}");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let pids_cur = if v1() { cg("pids", "pids.current") } else { cg("", "pids.current") };
    // The bomb runs in a subshell (busybox sh exits when a fork fails); the count is
    // read with builtins, as no fork is possible until the sleeps are killed.
    // The file's path is expanded before the bomb: on v2 that takes a fork.
    let script = format!("f={pids_cur}; (for i in $(seq 60); do sleep 30 & done) 2>/tmp/err; read cur < $f; echo $cur; kill -9 -1; sleep 0.2; grep -c -i fork /tmp/err");
    let mut b = Bundle::sh(&script);
    b.config["root"]["readonly"] = json!(false);
    b.config["linux"]["resources"]["pids"] = json!({"limit": 16});
    let o = b.run();
    let text = out(&o);
    let mut it = text.split_whitespace();
    let current: u32 = it.next().unwrap().parse().unwrap();
    let failures: u32 = it.next().unwrap_or("0").parse().unwrap();
    assert!(current <= 16, "pids.current {current} above the limit");
    assert!(failures > 0, "no fork failed: {text} {}", err(&o));
}

#[test]
fn update_changes_limits_of_a_running_container() {
    let b = Bundle::sh("sleep 1000");
    assert!(b.run_detached().status.success());
    let o = b.runtime(&["update", "--pids-limit", "33", &b.id]);
    assert!(o.status.success(), "{}", err(&o));
    let file = b.cgroup_dir("pids").join("pids.max");
    assert_eq!(std::fs::read_to_string(file).unwrap().trim(), "33");
}

#[test]
fn cgroup_namespace_makes_the_container_cgroup_the_root() {
    let file = if v1() { "/sys/fs/cgroup/memory/memory.limit_in_bytes" } else { "/sys/fs/cgroup/memory.max" };
    let own = if v1() { "grep memory /proc/self/cgroup" } else { "cat /proc/self/cgroup" };
    let mut b = Bundle::sh(&format!("{own}; cat {file}"));
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "cgroup"}));
    b.config["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    let o = b.run_ok();
    let mut lines = o.lines();
    assert!(lines.next().unwrap_or("").ends_with(":/"), "the cgroup is not the namespace's root: {o}");
    assert_eq!(lines.next(), Some("67108864"), "{o}");
}

/// Every controller's line of /proc/<pid>/cgroup but systemd's and the empty v2 one.
fn controller_cgroups(text: &str) -> Vec<String> {
    text.lines().filter(|l| !l.contains("name=systemd") && !l.starts_with("0::")).map(str::to_owned).collect()
}

#[test]
fn init_and_exec_are_in_the_container_cgroup_of_every_hierarchy() {
    if !v1() {
        return; // v2 has one hierarchy, covered by the limit tests above
    }
    let b = Bundle::sh("sleep 1000");
    let o = b.run_detached();
    assert!(o.status.success(), "{}", err(&o));
    let pid = b.state()["pid"].as_i64().unwrap();
    let init = controller_cgroups(&std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap());
    assert!(init.len() >= 5, "{init:?}");
    // The init moves itself in (v1 `tasks`): each hierarchy shows the container's own
    // directory (below wherever that hierarchy puts this test's cgroups).
    assert!(init.iter().all(|l| l.ends_with(&format!("/{}", b.id))), "{init:?}");
    let r = b.runtime(&["exec", &b.id, "cat", "/proc/self/cgroup"]);
    assert!(r.status.success(), "{}", err(&r));
    assert_eq!(controller_cgroups(&out(&r)), init);
}
