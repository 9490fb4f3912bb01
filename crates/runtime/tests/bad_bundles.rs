//! Broken bundles fail with a clear message, a non-zero exit, and leave nothing behind.

mod common;
use common::*;
use serde_json::json;

fn fails_cleanly(b: &Bundle, expect: &str) {
    let o = b.run();
    assert!(!o.status.success(), "a bad bundle ran");
    assert!(err(&o).contains(expect), "error {:?} does not mention {expect:?}", err(&o));
    assert_nothing_left(b);
}

#[test]
fn missing_rootfs() {
    let b = Bundle::sh("true");
    std::fs::remove_dir_all(b.rootfs()).unwrap();
    fails_cleanly(&b, "rootfs");
}

#[test]
fn invalid_json() {
    let b = Bundle::sh("true");
    b.write();
    std::fs::write(b.path().join("config.json"), "{\"ociVersion\": \"1.0\", \"process\": ").unwrap();
    let o = b.runtime(&["run", "--bundle", b.path().to_str().unwrap(), &b.id]);
    assert!(!o.status.success());
    assert!(err(&o).contains("invalid config.json"), "{}", err(&o));
    assert!(err(&o).contains("line 1"), "no position: {}", err(&o));
    assert_nothing_left(&b);
}

#[test]
fn unknown_namespace_type() {
    let mut b = Bundle::sh("true");
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "bogus"}));
    fails_cleanly(&b, "bogus");
}

#[test]
fn unknown_seccomp_syscall() {
    let mut b = Bundle::sh("true");
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["frobnicate"], "action": "SCMP_ACT_ERRNO"}]});
    fails_cleanly(&b, "unknown syscall \"frobnicate\"");
}

#[test]
fn missing_program() {
    let mut b = Bundle::sh("true");
    b.config["process"]["args"] = json!(["/no/such/binary"]);
    fails_cleanly(&b, "no such file or directory");
}

#[test]
fn mount_target_escaping_through_a_relative_symlink() {
    let mut b = Bundle::sh("true");
    std::os::unix::fs::symlink("../../../../../../../../tmp", b.rootfs().join("escape")).unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"}));
    fails_cleanly(&b, "escapes the container rootfs");
}

#[test]
fn non_namespaced_sysctl() {
    let mut b = Bundle::sh("true");
    b.config["linux"]["sysctl"] = json!({"vm.swappiness": "10"});
    fails_cleanly(&b, "not in a separate kernel namespace");
}

#[test]
fn invalid_container_id() {
    let b = Bundle::sh("true");
    b.write();
    let o = b.runtime(&["run", "--bundle", b.path().to_str().unwrap(), "../evil"]);
    assert!(!o.status.success());
    assert!(err(&o).contains("invalid container id"), "{}", err(&o));
}

#[test]
fn lsm_labels_are_refused_not_ignored() {
    let mut b = Bundle::sh("true");
    b.config["process"]["apparmorProfile"] = json!("docker-default");
    fails_cleanly(&b, "AppArmor");
    let mut b = Bundle::sh("true");
    b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    fails_cleanly(&b, "SELinux");
}
