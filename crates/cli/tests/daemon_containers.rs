//! End to end, daemon side of containers: live restore after `kill -9 berthd`, restart
//! policies, health checks, the managed /etc files, limits reaching the cgroup, API
//! errors with Docker's codes and nothing half-created, events, and Python's docker SDK.

mod common;

use std::time::{Duration, Instant};

use common::Daemon;

fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
    d
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls `f` until it returns Some, for up to `secs` seconds.
fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    d.berth(&["inspect", "-f", fmt, name]).ok().trim().to_owned()
}

#[test]
fn live_restore_after_berthd_is_killed() {
    let mut d = daemon_with_busybox();
    d.berth(&["run", "-d", "--name", "ticker", "busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.1; done"]).ok();
    d.berth(&["run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1; exit 9"]).ok();
    let pid_before = inspect(&d, "ticker", "{{.State.Pid}}");
    d.crash_and_restart();
    // The container kept running under its shim and berthd found it again.
    assert_eq!(inspect(&d, "ticker", "{{.State.Status}} {{.State.Pid}}"), format!("running {pid_before}"));
    assert!(std::path::Path::new(&format!("/proc/{pid_before}")).exists());
    // The one that exited while berthd was down (or after) reports its real code.
    assert_eq!(d.berth(&["wait", "quitter"]).ok().trim(), "9");
    assert_eq!(inspect(&d, "quitter", "{{.State.Status}} {{.State.ExitCode}}"), "exited 9");
    // Its log kept flowing: the count grows after the restart.
    let count = |d: &Daemon| d.berth(&["logs", "ticker"]).ok().lines().count();
    let n = count(&d);
    assert!(eventually(10, || (count(&d) > n + 3).then_some(())).is_some(), "log did not grow after restart");
    let out = d.berth(&["logs", "-f", "--tail", "2", "ticker"]).output_with_timeout(Duration::from_millis(1500));
    assert!(text(&out).lines().filter(|l| l.starts_with("tick")).count() >= 3, "logs -f: {}", text(&out));
    assert_eq!(d.berth(&["exec", "ticker", "echo", "exec-after-restart"]).ok(), "exec-after-restart\n");
    d.berth(&["stop", "-t", "1", "ticker"]).ok();
    assert_eq!(inspect(&d, "ticker", "{{.State.Status}}"), "exited");
    assert!(!std::path::Path::new(&format!("/proc/{pid_before}")).exists());
}

#[test]
fn restart_policies_and_wait_conditions() {
    let d = daemon_with_busybox();
    d.berth(&["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3"]).ok();
    let done = eventually(20, || {
        let s = inspect(&d, "flaky", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}");
        (s == "exited 2 3").then_some(s)
    });
    assert!(done.is_some(), "on-failure:2 should run 3 times then stop: {}", inspect(&d, "flaky", "{{.State.Status}} {{.RestartCount}}"));

    d.berth(&["run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 0"]).ok();
    assert!(eventually(20, || (inspect(&d, "always", "{{.RestartCount}}").parse::<i64>().unwrap_or(0) >= 2).then_some(())).is_some());
    d.berth(&["stop", "-t", "1", "always"]).ok();
    let count = inspect(&d, "always", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(inspect(&d, "always", "{{.State.Status}} {{.RestartCount}}"), format!("exited {count}"), "a stopped container stays stopped");

    // --rm: the container is gone after it exits; wait condition=removed returns then.
    let out = d.berth(&["run", "--rm", "--name", "gone", "busybox", "sh", "-c", "exit 6"]).output();
    assert_eq!(out.status.code(), Some(6));
    assert!(eventually(5, || d.berth(&["ps", "-a", "--format", "{{.Names}}"]).ok().lines().all(|n| n != "gone").then_some(())).is_some());
}

#[test]
fn health_checks_change_state() {
    let d = daemon_with_busybox();
    d.berth(&[
        "run", "-d", "--name", "doc", "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms", "--health-retries", "2", "busybox", "sleep", "60",
    ])
    .ok();
    assert_eq!(inspect(&d, "doc", "{{.State.Health.Status}}"), "starting");
    assert!(eventually(15, || (inspect(&d, "doc", "{{.State.Health.Status}}") == "unhealthy").then_some(())).is_some());
    assert_eq!(d.berth(&["ps", "--filter", "health=unhealthy", "--format", "{{.Names}}"]).ok(), "doc\n");
    assert_eq!(d.berth(&["ps", "--filter", "name=^/d.c$", "--format", "{{.Names}}"]).ok(), "doc\n");
    assert_eq!(d.berth(&["ps", "--filter", "name=^/oc", "--format", "{{.Names}}"]).ok(), "");
    d.berth(&["exec", "doc", "touch", "/tmp/ok"]).ok();
    assert!(eventually(15, || (inspect(&d, "doc", "{{.State.Health.Status}}") == "healthy").then_some(())).is_some());
    assert!(d.berth(&["ps", "--format", "{{.Status}}"]).ok().contains("(healthy)"));
    let log: serde_json::Value = serde_json::from_str(&inspect(&d, "doc", "{{json .State.Health.Log}}")).unwrap();
    assert_eq!(log[0]["ExitCode"], 1, "{log}");
}

#[test]
fn managed_files_user_workdir_env_and_limits() {
    let d = daemon_with_busybox();
    let out = d
        .berth(&[
            "run", "--rm", "--hostname", "box1", "--add-host", "db:10.1.2.3", "--dns", "9.9.9.9", "-u", "nobody", "-w", "/srv/app", "-e", "A=1",
            "busybox", "sh", "-c", "cat /etc/hostname; grep db /etc/hosts; cat /etc/resolv.conf; id -u; pwd; echo $A $HOSTNAME",
        ])
        .ok();
    assert_eq!(out, "box1\n10.1.2.3\tdb\nnameserver 9.9.9.9\n65534\n/srv/app\n1 box1\n");

    let id = d.berth(&["run", "-d", "--memory", "32m", "--pids-limit", "20", "--cpus", "0.5", "--read-only", "--cap-drop", "ALL", "busybox", "sleep", "60"]).ok();
    let id = id.trim();
    let cg = |ctrl: &str, file: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{ctrl}/berth/{id}/{file}")).map(|s| s.trim().to_owned());
    if std::path::Path::new("/sys/fs/cgroup/memory").exists() {
        assert_eq!(cg("memory", "memory.limit_in_bytes").unwrap(), (32 << 20).to_string());
        assert_eq!(cg("pids", "pids.max").unwrap(), "20");
        assert_eq!(cg("cpu", "cpu.cfs_quota_us").unwrap(), "50000");
    }
    let out = d.berth(&["exec", id, "sh", "-c", "touch /x 2>&1; grep CapEff /proc/self/status"]).output();
    let s = text(&out.stdout);
    assert!(s.contains("Read-only file system") && s.contains("CapEff:\t0000000000000000"), "{s}");
    d.berth(&["rm", "-f", id]).ok();
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/memory/berth/{id}")).exists(), "cgroup left behind");
}

#[test]
fn api_errors_leave_nothing_behind() {
    let d = daemon_with_busybox();
    let (code, body) = d.raw("GET", "/containers/nope/json");
    assert_eq!((code, body.contains("No such container: nope")), (404, true), "{body}");
    let (code, body) = d.post_json("/containers/create", r#"{"Image":"nosuchimage"}"#);
    assert_eq!((code, body.contains("No such image: nosuchimage:latest")), (404, true), "{body}");
    let (code, body) = d.post_json("/containers/create", r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#);
    assert!(code == 400 && body.contains("HostConfig.Memory"), "{code} {body}");
    let (code, body) = d.post_json("/containers/create", r#"{"Image":"busybox","HostConfig":{"Memory":1024}}"#);
    assert!(code == 400 && body.contains("Minimum memory limit allowed is 6MB"), "{code} {body}");
    let (code, body) = d.post_json("/containers/create", r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}"#);
    assert!(code == 400 && body.contains("maximum retry count"), "{code} {body}");
    let (code, _) = d.post_json("/containers/create?name=twin", r#"{"Image":"busybox"}"#);
    assert_eq!(code, 201);
    let (code, body) = d.post_json("/containers/create?name=twin", r#"{"Image":"busybox"}"#);
    assert!(code == 409 && body.contains("/twin") && body.contains("is already in use by container"), "{code} {body}");
    let (code, body) = d.post_json("/containers/create?name=bad%20name", r#"{"Image":"busybox"}"#);
    assert!(code == 400 && body.contains("Invalid container name"), "{code} {body}");
    // A start that fails (no such executable) leaves a created container, no mount, no shim.
    let (_, body) = d.post_json("/containers/create?name=broken", r#"{"Image":"busybox","Cmd":["/no/such/thing"]}"#);
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"].as_str().unwrap().to_owned();
    let (code, body) = d.raw("POST", &format!("/containers/{id}/start"));
    assert!(code == 400 && body.contains("no such file or directory"), "{code} {body}");
    assert_eq!(inspect(&d, "broken", "{{.State.Status}} {{.State.ExitCode}}"), "created 127");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "rootfs still mounted after a failed start");
    assert!(!d.dir.path().join("run/c").join(&id).exists(), "shim dir left behind");
    // Only the two named containers exist.
    assert_eq!(d.berth(&["ps", "-aq"]).ok().lines().count(), 2);
    let (code, body) = d.raw("POST", "/containers/twin/kill");
    assert!(code == 409 && body.contains("is not running"), "{code} {body}");
    d.berth(&["rm", "twin", "broken"]).ok();
    let left: Vec<_> = std::fs::read_dir(d.dir.path().join("root/containers")).unwrap().collect();
    assert!(left.is_empty(), "container dirs left: {left:?}");
}

#[test]
fn events_report_the_lifecycle() {
    let d = daemon_with_busybox();
    let since = chrono_now();
    d.berth(&["run", "--rm", "--name", "ev", "busybox", "true"]).ok();
    let until = chrono_now() + 1;
    let (code, body) = d.raw("GET", &format!("/events?since={since}&until={until}&filters=%7B%22container%22%3A%5B%22ev%22%5D%7D"));
    assert_eq!(code, 200);
    let actions: Vec<String> = body
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["Type"] == "container")
        .map(|v| v["Action"].as_str().unwrap_or("").to_owned())
        .collect();
    for a in ["create", "start", "die", "destroy"] {
        assert!(actions.iter().any(|x| x == a), "no {a} event in {actions:?}");
    }
    // The CLI: same stream through `berth events`, and docker's default line format.
    let cli = d.berth(&["events", "--since", &since.to_string(), "--until", &until.to_string(), "--filter", "container=ev", "--format", "{{.Action}}"]).ok();
    assert_eq!(cli.lines().filter(|l| ["create", "start", "die", "destroy"].contains(l)).count(), 4, "{cli}");
    let line = d.berth(&["system", "events", "--since", &since.to_string(), "--until", &until.to_string(), "--filter", "event=destroy"]).ok();
    assert!(line.contains(" container destroy ") && line.contains("name=ev"), "{line}");
    // system df: the same table through both CLIs.
    let ours = d.berth(&["system", "df"]).ok();
    assert!(ours.starts_with("TYPE ") && ours.contains("Images "), "{ours}");
    if let Some(r) = d.docker(&["system", "df"]) {
        assert_eq!(r.ok(), ours);
    }
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn docker_cli_everyday_commands() {
    let d = daemon_with_busybox();
    let Some(r) = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4"]) else { return };
    let out = r.output();
    assert_eq!((out.status.code(), text(&out.stdout), text(&out.stderr)), (Some(4), "out\n".into(), "err\n".into()));
    let out = d.docker(&["run", "-i", "--rm", "busybox", "cat"]).unwrap().stdin(b"piped\n".to_vec()).output();
    assert_eq!(text(&out.stdout), "piped\n");
    let id = d.docker(&["run", "-d", "--name", "web", "busybox", "sh", "-c", "echo ready; sleep 60"]).unwrap().ok();
    assert_eq!(id.trim().len(), 64);
    assert!(d.docker(&["ps"]).unwrap().ok().contains("web"));
    assert_eq!(d.docker(&["exec", "web", "cat", "/etc/hostname"]).unwrap().ok(), format!("{}\n", &id[..12]));
    assert_eq!(d.docker(&["inspect", "-f", "{{.State.Running}} {{.Config.Image}}", "web"]).unwrap().ok(), "true busybox\n");
    assert!(eventually(5, || (d.docker(&["logs", "web"]).unwrap().ok() == "ready\n").then_some(())).is_some());
    // A terminal session through `script`, as a user would type it.
    let script = "printf 'echo $((6*7))\\nexit 3\\n' | script -qec '/usr/local/bin/docker run -it --rm busybox sh' /dev/null";
    let out = std::process::Command::new("sh").arg("-c").arg(script).env("DOCKER_HOST", d.host()).output().unwrap();
    assert!(text(&out.stdout).contains("42"), "{}", text(&out.stdout));
    assert_eq!(out.status.code(), Some(3));
    d.docker(&["stop", "-t", "1", "web"]).unwrap().ok();
    d.docker(&["rm", "web"]).unwrap().ok();
    assert_eq!(d.docker(&["ps", "-aq"]).unwrap().ok(), "");
}

#[test]
fn python_docker_sdk_drives_the_lifecycle() {
    let d = daemon_with_busybox();
    let probe = std::process::Command::new("python3").args(["-c", "import docker"]).output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        panic!("python3-docker missing: scripts/install-deps.sh installs it");
    }
    let script = r#"
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
ctr = c.containers.create("busybox", ["sh", "-c", "echo from-sdk; exit 5"], name="sdk")
ctr.start()
r = ctr.wait()
print(r["StatusCode"])
print(ctr.logs().decode().strip())
ctr.reload()
print(ctr.status)
ctr.remove()
print(len(c.containers.list(all=True)))
"#;
    let out = std::process::Command::new("python3").args(["-c", script, &d.host()]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "5\nfrom-sdk\nexited\n0\n");
}

#[test]
fn daemon_json_defaults_reload_on_sighup() {
    let d = daemon_with_busybox();
    let cfg = r#"{"dns":["9.9.9.9"],"default-ulimits":{"nofile":{"Name":"nofile","Hard":1000,"Soft":500}},"log-opts":{"max-size":"1k","max-file":"2"}}"#;
    std::fs::write(d.dir.path().join("daemon.json"), cfg).unwrap();
    // SAFETY: signalling the test's own berthd.
    unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) };
    let reloaded = eventually(10, || {
        let out = d.berth(&["run", "--rm", "busybox", "sh", "-c", "grep nameserver /etc/resolv.conf; ulimit -n"]).ok();
        (out == "nameserver 9.9.9.9\n500\n").then_some(())
    });
    assert!(reloaded.is_some(), "daemon.json defaults not applied after SIGHUP: {}", d.log());
    let id = d.berth(&["run", "-d", "busybox", "sh", "-c", "for i in $(seq 200); do echo line-$i-xxxxxxxxxxxxxxxxxxxx; done"]).ok();
    let id = id.trim();
    d.berth(&["wait", id]).ok();
    assert_eq!(inspect(&d, id, "{{index .HostConfig.LogConfig.Config \"max-size\"}}"), "1k");
    let log = d.dir.path().join("root/containers").join(id).join(format!("{id}-json.log"));
    assert!(std::path::Path::new(&format!("{}.1", log.display())).exists(), "no rotated log");
    assert!(!std::path::Path::new(&format!("{}.2", log.display())).exists(), "max-file=2 keeps one old file");
    assert!(std::fs::metadata(&log).unwrap().len() <= 1024 + 200);
    // A bad file on reload keeps the old configuration.
    std::fs::write(d.dir.path().join("daemon.json"), r#"{"log-driver":"syslog"}"#).unwrap();
    unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.berth(&["run", "--rm", "busybox", "sh", "-c", "ulimit -n"]).ok(), "500\n");
}

#[test]
fn local_log_driver_writes_dockers_records_and_logs_reads_them() {
    let d = daemon_with_busybox();
    let script = "for i in $(seq 1 300); do echo line-$i; done; echo oops >&2; printf no-newline";
    let id = d.berth(&["run", "-d", "--log-driver", "local", "--log-opt", "max-size=1k", "busybox", "sh", "-c", script]).ok();
    let id = id.trim();
    d.berth(&["wait", id]).ok();
    // Docker's place and framing: local-logs/container.log, [u32 size][LogEntry][u32 size],
    // the entry starting with field 1 (source) = "stdout".
    let dir = d.dir.path().join("root/containers").join(id).join("local-logs");
    let bytes = std::fs::read(dir.join("container.log")).unwrap();
    let size = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(&bytes[4 + size..8 + size], &bytes[..4], "the size again after the record");
    assert!(bytes[4..].starts_with(b"\x0a\x06stdout") || bytes[4..].starts_with(b"\x0a\x06stderr"), "{:?}", &bytes[..16]);
    // Rotation by size with local's default max-file 5: four older files, no fifth.
    assert!(dir.join("container.log.4").exists() && !dir.join("container.log.5").exists());
    let logs = d.berth(&["logs", id]).output();
    let out = text(&logs.stdout);
    assert!(out.ends_with("line-299\nline-300\nno-newline"), "{}", &out[out.len().saturating_sub(80)..]);
    assert!(!out.contains("line-1\n"), "the oldest lines were rotated away");
    assert_eq!(text(&logs.stderr), "oops\n");
    // --tail counts the records of both streams.
    let tail = d.berth(&["logs", "--tail", "3", id]).output();
    assert_eq!((text(&tail.stdout).as_str(), text(&tail.stderr).as_str()), ("line-300\nno-newline", "oops\n"));
    let stamped = d.berth(&["logs", "-t", "--tail", "1", id]).ok();
    let (stamp, rest) = stamped.split_once(' ').unwrap();
    assert_eq!(rest, "no-newline");
    assert!(stamp.len() == 30 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "{stamp}");
    // logs -f on a running container follows new records.
    let id = d.berth(&["run", "-d", "--log-driver", "local", "busybox", "sh", "-c", "echo first; sleep 1; echo second; sleep 30"]).ok();
    let followed = d.berth(&["logs", "-f", id.trim()]).output_with_timeout(Duration::from_secs(3));
    assert_eq!(String::from_utf8_lossy(&followed), "first\nsecond\n");
    d.berth(&["rm", "-f", id.trim()]).ok();
}

#[test]
fn init_is_pid_1_reaps_and_forwards_signals() {
    let d = daemon_with_busybox();
    let ps = d.berth(&["run", "--rm", "--init", "busybox", "ps", "-o", "pid,args"]).ok();
    assert!(ps.lines().any(|l| l.trim() == "1 /sbin/docker-init -- ps -o pid,args"), "{ps}");
    // The exit code is the command's, and a missing command is 127 as without --init.
    let out = d.berth(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 5"]).output();
    assert_eq!(out.status.code(), Some(5));
    let out = d.berth(&["run", "--rm", "--init", "busybox", "nosuchcmd"]).output();
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    // An orphan is re-parented to PID 1 and reaped there: no zombie is left.
    let ps = d.berth(&["run", "--rm", "--init", "busybox", "sh", "-c", "(sleep 0.1 &); sleep 0.8; ps -o stat,comm"]).ok();
    assert!(!ps.lines().any(|l| l.trim_start().starts_with('Z')), "{ps}");
    // sleep as PID 1 ignores SIGTERM; under the init it gets it forwarded and dies of it.
    let id = d.berth(&["run", "-d", "--init", "busybox", "sleep", "100"]).ok();
    let id = id.trim();
    d.berth(&["stop", "-t", "30", id]).ok();
    assert_eq!(inspect(&d, id, "{{.State.ExitCode}} {{.HostConfig.Init}} {{.Path}}"), "143 true sleep");
    d.berth(&["rm", id]).ok();
    // daemon.json `init: true` is the default, `--init=false` opts out.
    std::fs::write(d.dir.path().join("daemon.json"), r#"{"init":true}"#).unwrap();
    // SAFETY: signalling the test's own berthd.
    unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) };
    let pid1 = eventually(10, || {
        let out = d.berth(&["run", "--rm", "busybox", "cat", "/proc/1/cmdline"]).ok();
        out.starts_with("/sbin/docker-init").then_some(out)
    });
    assert!(pid1.is_some(), "daemon.json init not applied: {}", d.log());
    assert_eq!(d.berth(&["run", "--rm", "--init=false", "busybox", "cat", "/proc/1/cmdline"]).ok(), "cat\0/proc/1/cmdline\0");
}

#[test]
fn kill_returns_after_exit_and_a_closed_pipe_is_quiet() {
    let d = daemon_with_busybox();
    // A SIGKILL kill returns once the exit is recorded (as dockerd's does).
    for _ in 0..3 {
        let id = d.berth(&["run", "-d", "busybox", "sleep", "100"]).ok();
        let id = id.trim();
        d.berth(&["kill", id]).ok();
        assert_eq!(inspect(&d, id, "{{.State.Running}} {{.State.ExitCode}}"), "false 137");
        d.berth(&["rm", id]).ok();
    }
    // `berth version | head -0`: output into a closed pipe ends berth with SIGPIPE's
    // status and no panic message.
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    c.args(["version"]).env("BERTH_HOST", d.host()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}
