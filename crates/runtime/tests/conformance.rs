//! Cases from the OCI runtime-tools validation suite (opencontainers/runtime-tools
//! `validation/`) that berth-runtime once failed, kept here so they stay fixed without
//! needing the Go suite.

mod common;
use common::*;
use serde_json::json;

/// runtime-tools' default config carries a seccomp allow-list written before openat2
/// existed; without noNewPrivileges the filter is loaded before the cwd is entered, so
/// that must not need openat2 (every RuntimeInsideValidate test depends on it).
#[test]
fn seccomp_profile_denying_openat2_still_enters_cwd() {
    let mut b = Bundle::sh("pwd");
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["process"]["cwd"] = json!("/etc");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["openat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    assert_eq!(b.run_ok().trim(), "/etc");
}

/// linux_ns_path: a hostname may be set in a UTS namespace joined by path.
#[test]
fn hostname_in_a_joined_uts_namespace() {
    let a = Bundle::sh("sleep 1000");
    assert!(a.run_detached().status.success());
    let pid = a.state()["pid"].as_i64().unwrap();
    let mut b = Bundle::sh("hostname; readlink /proc/self/ns/uts");
    b.config["hostname"] = json!("joined");
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "uts" {
            ns["path"] = json!(format!("/proc/{pid}/ns/uts"));
        }
    }
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
    let o = b.run_ok();
    let mut lines = o.lines();
    assert_eq!(lines.next(), Some("joined"));
    assert_eq!(lines.next(), Some(theirs.to_str().unwrap()));
}

/// linux_ns_itype: with no mount namespace nothing is mounted in the rootfs (no
/// /proc), yet `create` + `start` must work: the init reopens the exec fifo without it.
#[test]
fn create_and_start_without_a_mount_namespace() {
    let mut b = Bundle::sh("echo started > /out");
    b.config["root"]["readonly"] = json!(false);
    b.config["hostname"] = json!(null);
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}]);
    let o = b.create();
    assert!(o.status.success(), "create: {}", err(&o));
    assert_eq!(b.state()["status"], "created");
    let o = b.runtime(&["start", &b.id]);
    assert!(o.status.success(), "start: {}", err(&o));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.state()["status"] != "stopped" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(std::fs::read_to_string(b.rootfs().join("out")).unwrap(), "started\n");
    let o = b.runtime(&["delete", &b.id]);
    assert!(o.status.success(), "delete: {}", err(&o));
    assert_nothing_left(&b);
}

/// linux_rootfs_propagation: "unbindable" must not stop the rootfs being bind-mounted,
/// and ends up on the container's root.
#[test]
fn unbindable_rootfs_propagation() {
    let mut b = Bundle::sh("grep '^[0-9]* [0-9]* [^ ]* [^ ]* / ' /proc/self/mountinfo");
    b.config["linux"]["rootfsPropagation"] = json!("unbindable");
    let o = b.run_ok();
    assert!(o.contains("unbindable"), "{o}");
}

/// linux_cgroups_network: a net_cls class id is written, or refused when the
/// controller is not mounted (runc does the same), never silently dropped.
#[test]
fn network_cgroup_limits_are_set_or_refused() {
    if berth_runtime::cgroups::host_version() != berth_runtime::cgroups::Version::V1 {
        return; // v1 controllers only
    }
    let mut b = Bundle::sh("true");
    b.config["linux"]["resources"]["network"] = json!({"classID": 255});
    let mounted = std::path::Path::new("/sys/fs/cgroup/net_cls/net_cls.classid").exists();
    let o = b.create();
    if mounted {
        assert!(o.status.success(), "create: {}", err(&o));
        let v = std::fs::read_to_string(b.cgroup_dir("net_cls").join("net_cls.classid")).unwrap();
        assert_eq!(v.trim(), "255");
    } else {
        assert!(!o.status.success());
        assert!(err(&o).contains("net_cls"), "{}", err(&o));
        assert_nothing_left(&b);
    }
}
