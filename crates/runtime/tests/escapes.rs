//! The runc CVE classes: each attack from the container side, and the host unchanged.

mod common;
use common::*;
use serde_json::json;

/// CVE-2021-30465 class: an absolute symlink in the image is resolved inside the
/// rootfs, so the mount lands in the container, not on the host path.
#[test]
fn symlinked_mount_target_stays_in_the_rootfs() {
    let host_dir = tempfile::tempdir().unwrap();
    let mut b = Bundle::sh("ls /victim/mnt/ | wc -l");
    std::os::unix::fs::symlink(host_dir.path(), b.rootfs().join("victim")).unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/victim/mnt", "type": "tmpfs", "source": "tmpfs"}));
    b.config["root"]["readonly"] = json!(false);
    let o = b.run();
    assert!(o.status.success(), "{}", err(&o));
    assert!(std::fs::read_dir(host_dir.path()).unwrap().next().is_none(), "the host directory was written to");
    // The directory was made inside the rootfs, where the symlink points in-root.
    assert!(b.rootfs().join(host_dir.path().strip_prefix("/").unwrap()).join("mnt").is_dir());
}

/// CVE-2024-21626: no host descriptor reaches the container, and a working directory
/// naming a descriptor through /proc/self/fd is refused.
#[test]
fn no_leaked_descriptor_and_no_fd_cwd() {
    let b = Bundle::sh("ls /proc/self/fd | wc -l");
    // ls itself holds one descriptor for the directory: 0 1 2 + 1.
    assert_eq!(b.run_ok().trim(), "4");
    let mut b = Bundle::sh("pwd");
    b.config["process"]["cwd"] = json!("/proc/self/fd/7");
    let o = b.run();
    assert!(!o.status.success(), "a /proc/self/fd cwd was accepted: {}", out(&o));
    assert_nothing_left(&b);
}

/// CVE-2019-5736: while `exec` sets up inside the container, the process still runs the
/// runtime's binary; the container must not be able to open it through /proc/<pid>/exe.
#[test]
fn runtime_binary_is_not_reachable_through_proc_exe() {
    let before = std::fs::read(BIN).unwrap();
    let script = "i=0; while [ $i -lt 4000 ]; do for p in /proc/[0-9]*; do \
        if cat $p/exe > /tmp/grab 2>/dev/null && grep -q berth_runtime /tmp/grab 2>/dev/null; then echo GOT $p >> /tmp/found; fi; done; i=$((i+1)); done";
    let mut b = Bundle::sh(script);
    b.config["root"]["readonly"] = json!(false);
    assert!(b.run_detached().status.success());
    for _ in 0..30 {
        let _ = b.runtime(&["exec", &b.id, "true"]);
    }
    let found = std::fs::read_to_string(b.rootfs().join("tmp/found")).unwrap_or_default();
    assert!(found.is_empty(), "the container read the runtime binary: {found}");
    assert_eq!(std::fs::read(BIN).unwrap(), before, "runtime binary changed");
}

/// CVE-2025-31133 class: /dev/null replaced by a symlink to a /proc file must not turn
/// masking into a bind mount of that file.
#[test]
fn fake_dev_null_is_refused_for_masking() {
    let mut b = Bundle::sh("true");
    let devdir = b.path().join("fakedev");
    std::fs::create_dir(&devdir).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", devdir.join("null")).unwrap();
    // Replace the spec's tmpfs /dev with a bind of the attacker's directory.
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    mounts.push(json!({"destination": "/dev", "type": "bind", "source": devdir, "options": ["rbind"]}));
    b.config["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    let o = b.run();
    assert!(!o.status.success(), "masking with a fake /dev/null succeeded");
    assert!(err(&o).contains("not the null device"), "{}", err(&o));
    assert_nothing_left(&b);
}

/// CVE-2025-52881 class: a mount over /proc/sys must not redirect a sysctl write.
#[test]
fn sysctl_write_through_a_fake_proc_is_refused() {
    let mut b = Bundle::sh("true");
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/proc/sys/net", "type": "tmpfs", "source": "tmpfs"}));
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let o = b.run();
    assert!(!o.status.success(), "sysctl written through a tmpfs over /proc/sys");
    assert_nothing_left(&b);
}
