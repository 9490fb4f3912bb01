//! What a container observes from inside: each spec feature checked where it shows.

mod common;
use common::*;
use serde_json::json;

#[test]
fn pid_one_is_the_process() {
    let b = Bundle::sh("echo $$; cat /proc/1/cmdline | tr '\\0' ' '");
    let o = b.run_ok();
    let mut lines = o.lines();
    assert_eq!(lines.next(), Some("1"));
    assert!(lines.next().unwrap().starts_with("sh -c"));
}

#[test]
fn hostname_and_domainname() {
    let mut b = Bundle::sh("hostname; cat /proc/sys/kernel/domainname");
    b.config["hostname"] = json!("box1");
    b.config["domainname"] = json!("example.test");
    assert_eq!(b.run_ok(), "box1\nexample.test\n");
}

/// A new user namespace mapping the container's 0-65535 to the host's 100000 on.
fn in_new_userns(b: &mut Bundle) {
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

#[test]
fn user_namespace_maps_ids() {
    let mut b = Bundle::sh("cat /proc/self/uid_map /proc/self/gid_map; id -u");
    in_new_userns(&mut b);
    let o = b.run_ok();
    let nums: Vec<Vec<&str>> = o.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(nums[0], vec!["0", "100000", "65536"]);
    assert_eq!(nums[1], vec!["0", "100000", "65536"]);
    assert_eq!(nums[2], vec!["0"]);
}

#[test]
fn capability_sets_are_applied() {
    let mut b = Bundle::sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status");
    let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
    b.config["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []});
    let o = b.run_ok();
    // CAP_CHOWN is bit 0, CAP_KILL bit 5: 0x21.
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(o.contains(&format!("{set}:\t0000000000000021")), "{set} wrong in {o}");
    }
    assert!(o.contains("CapInh:\t0000000000000000"), "{o}");
}

#[test]
fn seccomp_denied_syscall_fails_with_eperm() {
    let mut b = Bundle::sh("mkdir /tmp/x; echo rc=$?");
    b.config["root"]["readonly"] = json!(false);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    });
    let o = b.run();
    let text = out(&o) + &err(&o);
    assert!(text.contains("Operation not permitted"), "{text}");
    assert!(text.contains("rc=1"), "{text}");
}

#[test]
fn docker_default_seccomp_profile_blocks_unshare() {
    let profile = std::fs::read_to_string(workspace().join("../shared/reference/seccomp-default.json")).unwrap();
    let caps: Vec<String> = berth_runtime::spec::DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    let sec = berth_runtime::seccomp::from_docker_profile(&profile, &caps).unwrap();
    let mut b = Bundle::sh("unshare -U true; echo rc=$?; grep Seccomp: /proc/self/status; echo fine");
    b.config["linux"]["seccomp"] = serde_json::to_value(&sec).unwrap();
    b.config["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.config["process"]["noNewPrivileges"] = json!(false);
    let o = b.run();
    let text = out(&o) + &err(&o);
    assert!(text.contains("Operation not permitted"), "{text}");
    assert!(text.contains("rc=1"), "{text}");
    assert!(text.contains("Seccomp:\t2"), "filter mode not reported: {text}");
    assert!(text.contains("fine"), "ordinary syscalls must still work: {text}");
}

#[test]
fn masked_paths_are_unreadable() {
    let b = Bundle::sh("wc -c < /proc/timer_list; ls /proc/acpi | wc -l; cat /proc/keys | wc -c");
    let o = b.run_ok();
    assert_eq!(o.split_whitespace().collect::<Vec<_>>(), vec!["0", "0", "0"], "{o}");
}

#[test]
fn readonly_paths_and_root() {
    let b = Bundle::sh("touch /newfile 2>&1; echo 1 > /proc/sys/kernel/panic 2>&1; touch /dev/shm/ok && echo shm-writable");
    let o = b.run_ok();
    assert!(o.contains("touch: /newfile: Read-only file system"), "{o}");
    assert!(o.contains("Read-only file system"), "{o}");
    assert!(o.contains("shm-writable"), "{o}");
}

#[test]
fn mount_flags_show_in_mountinfo() {
    let mut b = Bundle::sh("grep -E ' /dev/shm | /data ' /proc/self/mountinfo");
    let data = b.path().join("data");
    std::fs::create_dir(&data).unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "bind", "source": data, "options": ["rbind", "ro", "nosuid"]}));
    let o = b.run_ok();
    let shm = o.lines().find(|l| l.contains(" /dev/shm ")).unwrap();
    for f in ["nosuid", "nodev", "noexec"] {
        assert!(shm.contains(f), "/dev/shm lacks {f}: {shm}");
    }
    let d = o.lines().find(|l| l.contains(" /data ")).unwrap();
    assert!(d.split_whitespace().nth(5).unwrap().starts_with("ro"), "/data not ro: {d}");
    assert!(d.contains("nosuid"), "{d}");
}

#[test]
fn bind_mount_of_a_file_and_a_directory() {
    let mut b = Bundle::sh("cat /etc/greeting; cat /srv/inner.txt; echo w > /srv/written");
    std::fs::write(b.path().join("greeting"), "hi\n").unwrap();
    let dir = b.path().join("srvdir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("inner.txt"), "inner\n").unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/etc/greeting", "type": "bind", "source": "greeting", "options": ["bind", "ro"]}));
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/srv", "type": "bind", "source": dir, "options": ["rbind", "rw"]}));
    assert_eq!(b.run_ok(), "hi\ninner\n");
    assert_eq!(std::fs::read_to_string(dir.join("written")).unwrap(), "w\n");
}

/// Looked at from the host: listing from inside races with the shell's own pipe fds.
#[test]
fn only_stdio_descriptors_reach_the_process() {
    let b = Bundle::sh("exec sleep 1000");
    let o = b.run_detached();
    assert!(o.status.success(), "{}", err(&o));
    let pid = b.state()["pid"].as_i64().unwrap();
    let mut fds: Vec<u32> = Vec::new();
    for _ in 0..200 {
        // Wait for the exec: until then the init still holds the runtime's descriptors.
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() == "sleep" {
            fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap()).collect();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    fds.sort();
    assert_eq!(fds, vec![0, 1, 2]);
}

#[test]
fn preserved_descriptors_are_passed() {
    let b = Bundle::sh("cat <&3");
    b.write();
    std::fs::write(b.path().join("passed.txt"), "through fd 3\n").unwrap();
    let script = format!(
        "exec 3<{}/passed.txt; exec {} --root {} run --preserve-fds 1 --bundle {} {}",
        b.path().display(),
        BIN,
        b.root.path().display(),
        b.path().display(),
        b.id
    );
    let o = std::process::Command::new("bash").arg("-c").arg(script).output().unwrap();
    assert_eq!(out(&o), "through fd 3\n", "{}", err(&o));
}

#[test]
fn rlimits_are_set() {
    let mut b = Bundle::sh("ulimit -n; ulimit -Hn; ulimit -c");
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 900}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]);
    assert_eq!(b.run_ok(), "512\n900\n0\n");
}

#[test]
fn rlimit_above_hard_limit_is_clamped_with_a_warning() {
    let mut hard = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) };
    let caps = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = caps.lines().find_map(|l| l.strip_prefix("CapEff:")).map(|h| u64::from_str_radix(h.trim(), 16).unwrap()).unwrap();
    let have_sys_resource = eff & (1 << 24) != 0;
    let want = hard.rlim_max + 1000;
    let mut b = Bundle::sh("ulimit -Hn");
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": want, "hard": want}]);
    let o = b.run();
    assert!(o.status.success(), "{}", err(&o));
    let got: u64 = out(&o).trim().parse().unwrap();
    if have_sys_resource {
        assert_eq!(got, want);
    } else {
        assert_eq!(got, hard.rlim_max);
        assert!(err(&o).contains("clamped"), "no warning: {}", err(&o));
    }
}

#[test]
fn environment_cwd_and_user() {
    let mut b = Bundle::sh("echo $FOO; pwd; id -u; id -g; id -G; echo $HOME");
    b.config["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FOO=bar"]);
    b.config["process"]["cwd"] = json!("/tmp");
    b.config["process"]["user"] = json!({"uid": 65534, "gid": 65534, "additionalGids": [65534, 10]});
    let o = b.run_ok();
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(&lines[..4], &["bar", "/tmp", "65534", "65534"]);
    assert!(lines[4].split_whitespace().any(|g| g == "10"), "{o}");
    assert_eq!(lines[5], "/nonexistent");
}

#[test]
fn network_namespace_has_only_loopback_and_it_is_up() {
    let mut b = Bundle::sh("ls /sys/class/net | tr '\\n' ' '; echo; cat /sys/class/net/lo/flags; ping -c1 -W2 127.0.0.1 >/dev/null && echo pong");
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_NET_RAW"));
    }
    // IFF_UP | IFF_LOOPBACK, as crun leaves it; with lo down the ping has no route.
    assert_eq!(b.run_ok(), "lo \n0x9\npong\n");
}

#[test]
fn loopback_comes_up_in_a_new_user_namespace_too() {
    let mut b = Bundle::sh("cat /sys/class/net/lo/flags");
    in_new_userns(&mut b);
    assert_eq!(b.run_ok(), "0x9\n");
}

#[test]
fn joining_another_containers_network_namespace() {
    let a = Bundle::sh("sleep 1000");
    assert!(a.run_detached().status.success());
    let pid = a.state()["pid"].as_i64().unwrap();
    let mut b = Bundle::sh("readlink /proc/self/ns/net");
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!(format!("/proc/{pid}/ns/net"));
        }
    }
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(b.run_ok().trim(), theirs.to_str().unwrap());
}

#[test]
fn sysctl_is_written() {
    let mut b = Bundle::sh("cat /proc/sys/net/ipv4/ip_forward");
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    assert_eq!(b.run_ok(), "1\n");
}

#[test]
fn devices_from_the_spec_are_created() {
    let mut b = Bundle::sh("ls -l /dev/fuse-like | cut -c1");
    b.config["linux"]["devices"] = json!([{"path": "/dev/fuse-like", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}]);
    assert_eq!(b.run_ok(), "c\n");
}

#[test]
fn time_namespace_offsets_boottime() {
    let host: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let mut b = Bundle::sh("cut -d' ' -f1 /proc/uptime");
    b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400}});
    let inside: f64 = b.run_ok().trim().parse().unwrap();
    assert!(inside >= host + 86400.0 && inside < host + 86400.0 + 600.0, "uptime {inside} vs host {host}");
}
