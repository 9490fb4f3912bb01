//! runc and berth-runtime run the same bundles; what the container observes must match.
//! Each row of the table changes one part of runc's default spec.

mod common;
use common::*;
use serde_json::{json, Value};
use std::process::Command;

/// What a container reports about itself; nothing in it varies between runs. /dev is
/// listed without groups: in a user namespace runc creates /dev/mqueue before setting
/// its gid (group shows as nogroup), berth after (root), which is the better answer.
const OBSERVE: &str = r#"id; hostname; grep -E "^(Cap|NoNewPrivs|Seccomp:)" /proc/self/status; ulimit -n; ulimit -Hn; umask; pwd; env | sort;
awk '{print $5, $6}' /proc/self/mountinfo | sort; ls -l /dev | awk '{print $1, $3, $NF}' | sort; cat /proc/self/uid_map /proc/self/gid_map;
for f in memory/memory.limit_in_bytes pids/pids.max cpu/cpu.shares; do cat /sys/fs/cgroup/$f 2>/dev/null; done;
ls /proc/acpi 2>&1 | wc -l; touch /probe 2>&1; mkdir /tmp/probe 2>&1; echo done"#;

fn runc_run(b: &Bundle) -> std::process::Output {
    b.write();
    Command::new("runc")
        .arg("--root")
        .arg(b.root.path().join("runc"))
        .args(["run", "--bundle", b.path().to_str().unwrap(), &format!("{}-runc", b.id)])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("runc is installed by scripts/install-deps.sh")
}

fn compare(name: &str, edit: impl Fn(&mut Value)) {
    // Each runtime gets its own copy of the bundle: the probes write to the rootfs.
    let mut theirs_b = Bundle::sh(OBSERVE);
    edit(&mut theirs_b.config);
    let theirs = runc_run(&theirs_b);
    let mut b = Bundle::sh(OBSERVE);
    edit(&mut b.config);
    let ours = b.run();
    assert_eq!(theirs.status.code(), ours.status.code(), "{name}: exit codes differ; runc stderr {} / ours {}", err(&theirs), err(&ours));
    let (t, o) = (out(&theirs), out(&ours));
    assert!(o.contains("done"), "{name}: observation incomplete: {o}\n{}", err(&ours));
    if t != o {
        let diff: Vec<String> = t.lines().zip(o.lines()).filter(|(a, b)| a != b).map(|(a, b)| format!("runc: {a}\nours: {b}")).collect();
        panic!("{name}: runc and berth-runtime observe different things:\n{}\n(line counts {} vs {})", diff.join("\n"), t.lines().count(), o.lines().count());
    }
}

#[test]
fn default_spec() {
    compare("default", |_| {});
}

#[test]
fn writable_root_user_cwd_env() {
    compare("user", |c| {
        c["root"]["readonly"] = json!(false);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 63});
        c["process"]["cwd"] = json!("/tmp");
        c["process"]["env"] = json!(["PATH=/bin:/usr/bin", "A=1", "HOME=/home/x"]);
    });
}

#[test]
fn docker_capabilities_without_no_new_privs() {
    let caps: Vec<&str> = berth_runtime::spec::DEFAULT_CAPS.to_vec();
    compare("caps", |c| {
        c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps});
        c["process"]["noNewPrivileges"] = json!(false);
    });
}

#[test]
fn rlimits_and_hostname() {
    compare("rlimits", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 333, "hard": 444}]);
        c["hostname"] = json!("differential");
    });
}

#[test]
fn docker_seccomp_profile() {
    let profile = std::fs::read_to_string(workspace().join("../shared/reference/seccomp-default.json")).unwrap();
    let caps: Vec<String> = berth_runtime::spec::DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    let sec = serde_json::to_value(berth_runtime::seccomp::from_docker_profile(&profile, &caps).unwrap()).unwrap();
    compare("seccomp", |c| c["linux"]["seccomp"] = sec.clone());
}

#[test]
fn cgroup_limits() {
    compare("cgroups", |c| {
        c["linux"]["resources"]["memory"] = json!({"limit": 100663296});
        c["linux"]["resources"]["pids"] = json!({"limit": 77});
        c["linux"]["resources"]["cpu"] = json!({"shares": 256});
    });
}

#[test]
fn user_namespace() {
    compare("userns", |c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
}

#[test]
fn no_masked_or_readonly_paths() {
    compare("unmasked", |c| {
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
}
