//! berth-runtime: an OCI runtime with runc's command line, so it can stand in for runc
//! under containerd/docker (`--add-runtime`) and podman (`--runtime`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use berth_runtime::container::{parse_signal, CreateOptions, Runtime};
use berth_runtime::error::Error;
use berth_runtime::exec::ExecOptions;
use berth_runtime::state::DEFAULT_ROOT;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "berth-runtime", version, about = "berth's OCI runtime (runc-compatible command line)")]
struct Cli {
    /// Directory for container state (runc's --root).
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Write errors and warnings to this file instead of only stderr.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility: cgroupsPath may use the slice:prefix:name form.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility (checkpointing is not supported).
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ListFormat {
    Table,
    Json,
}

#[derive(clap::Args)]
struct CreateArgs {
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (its process waits for `start`).
    Create {
        #[command(flatten)]
        args: CreateArgs,
        id: String,
    },
    /// Start a created container.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal (default TERM) to a container's init, or with --all to every process.
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container and everything it holds.
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, waiting for it unless --detach.
    Run {
        #[command(flatten)]
        args: CreateArgs,
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
        id: String,
    },
    /// Run a new process inside a running container.
    Exec {
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        #[arg(long)]
        cwd: Option<PathBuf>,
        #[arg(short, long)]
        env: Vec<String>,
        #[arg(short, long)]
        tty: bool,
        #[arg(short, long)]
        user: Option<String>,
        #[arg(short = 'g', long = "additional-gids")]
        additional_gids: Vec<u32>,
        #[arg(short, long)]
        process: Option<PathBuf>,
        #[arg(short, long)]
        detach: bool,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long = "process-label")]
        process_label: Option<String>,
        #[arg(long)]
        apparmor: Option<String>,
        #[arg(long = "no-new-privs")]
        no_new_privs: bool,
        #[arg(short, long)]
        cap: Vec<String>,
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: u32,
        #[arg(long)]
        cgroup: Option<String>,
        #[arg(long = "ignore-paused")]
        ignore_paused: bool,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List containers.
    List {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        #[arg(short, long)]
        quiet: bool,
    },
    /// List the processes of a container.
    Ps {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Write a default config.json.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        #[arg(long)]
        rootless: bool,
    },
    /// Print resource usage (--stats: once).
    Events {
        #[arg(long)]
        stats: bool,
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Change a container's resource limits (--resources: a LinuxResources JSON, - for stdin).
    Update {
        #[arg(short, long)]
        resources: Option<PathBuf>,
        #[arg(long)]
        memory: Option<i64>,
        #[arg(long = "memory-reservation")]
        memory_reservation: Option<i64>,
        #[arg(long = "memory-swap")]
        memory_swap: Option<i64>,
        #[arg(long = "cpu-shares")]
        cpu_shares: Option<u64>,
        #[arg(long = "cpu-quota")]
        cpu_quota: Option<i64>,
        #[arg(long = "cpu-period")]
        cpu_period: Option<u64>,
        #[arg(long = "cpuset-cpus")]
        cpuset_cpus: Option<String>,
        #[arg(long = "cpuset-mems")]
        cpuset_mems: Option<String>,
        #[arg(long = "pids-limit")]
        pids_limit: Option<i64>,
        id: String,
    },
    /// Print what this runtime supports (runtime-spec features.json).
    Features,
}

struct Logger {
    file: Option<PathBuf>,
    json: bool,
}

impl Logger {
    fn log(&self, level: &str, msg: &str) {
        eprintln!("berth-runtime: {}{msg}", if level == "error" { "" } else { "warning: " });
        let Some(path) = &self.file else { return };
        let line = if self.json {
            serde_json::json!({"level": level, "msg": msg, "time": chrono::Utc::now().to_rfc3339()}).to_string()
        } else {
            format!("{} {level}: {msg}", chrono::Utc::now().to_rfc3339())
        };
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logger = std::rc::Rc::new(Logger { file: cli.log.clone(), json: matches!(cli.log_format, LogFormat::Json) });
    let mut rt = Runtime::new(cli.root.clone());
    let l2 = logger.clone();
    rt.warn = Box::new(move |m| l2.log("warning", m));
    match run(&rt, cli.cmd) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            logger.log("error", &e.to_string());
            ExitCode::from(1)
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let data = if path == Path::new("-") {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut s).map_err(|e| Error::io("reading stdin", e))?;
        s
    } else {
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?
    };
    serde_json::from_slice(&data).map_err(|e| Error::Config { path: path.to_path_buf(), msg: e.to_string() })
}

fn create_opts(a: &CreateArgs) -> CreateOptions {
    let _ = a.no_new_keyring; // session keyrings are not created: nothing to skip
    CreateOptions {
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        no_pivot: a.no_pivot,
    }
}

fn run(rt: &Runtime, cmd: Cmd) -> Result<i32, Error> {
    match cmd {
        Cmd::Create { args, id } => rt.create(&id, &create_opts(&args)).map(|_| 0),
        Cmd::Start { id } => rt.start(&id).map(|_| 0),
        Cmd::State { id } => {
            let st = rt.state(&id)?;
            println!("{}", serde_json::to_string_pretty(&st).unwrap_or_default());
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = parse_signal(signal.as_deref().unwrap_or("TERM"))?;
            rt.kill(&id, sig, all).map(|_| 0)
        }
        Cmd::Delete { force, id } => rt.delete(&id, force).map(|_| 0),
        Cmd::Run { args, detach, keep, id } => {
            let started = rt.run(&id, &create_opts(&args))?;
            if detach {
                return Ok(0);
            }
            let code = berth_runtime::supervise::wait_forwarding(started.pid)?;
            if !keep {
                rt.delete(&id, true)?;
            }
            Ok(code)
        }
        Cmd::Exec {
            console_socket,
            cwd,
            env,
            tty,
            user,
            additional_gids,
            process,
            detach,
            pid_file,
            process_label: _,
            apparmor: _,
            no_new_privs,
            cap,
            preserve_fds,
            cgroup: _,
            ignore_paused: _,
            id,
            command,
        } => {
            let proc_spec: oci_spec::runtime::Process = match &process {
                Some(p) => read_json(p)?,
                None => {
                    if command.is_empty() {
                        return Err(Error::other("exec needs a command or --process"));
                    }
                    build_exec_process(rt, &id, command, cwd, env, tty, user, additional_gids, no_new_privs, cap)?
                }
            };
            let opts = ExecOptions { console_socket, pid_file, detach, preserve_fds };
            rt.exec(&id, &proc_spec, &opts)
        }
        Cmd::List { format, quiet } => {
            let all = rt.list();
            if quiet {
                for s in &all {
                    println!("{}", s.id);
                }
            } else if format == ListFormat::Json {
                println!("{}", serde_json::to_string(&all).unwrap_or_default());
            } else {
                println!("{:<12} {:<10} {:<10} {:<40} {:<30} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
                for s in &all {
                    println!("{:<12} {:<10} {:<10} {:<40} {:<30} {}", s.id, s.pid, s.status, s.bundle.display(), s.created, if s.owner.is_empty() { "root" } else { &s.owner });
                }
            }
            Ok(0)
        }
        Cmd::Ps { format, id, ps_args } => {
            let pids = rt.pids(&id)?;
            if format == ListFormat::Json {
                println!("{}", serde_json::to_string(&pids).unwrap_or_default());
                return Ok(0);
            }
            let args = if ps_args.is_empty() { vec!["-ef".to_string()] } else { ps_args };
            let out = std::process::Command::new("ps").args(&args).output().map_err(|e| Error::io("running ps", e))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header.split_whitespace().position(|h| h == "PID").ok_or_else(|| Error::other("ps output has no PID column"))?;
            println!("{header}");
            for l in lines {
                if l.split_whitespace().nth(col).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)) {
                    println!("{l}");
                }
            }
            Ok(0)
        }
        Cmd::Pause { id } => rt.pause(&id).map(|_| 0),
        Cmd::Resume { id } => rt.resume(&id).map(|_| 0),
        Cmd::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(Error::other(format!("File {} exists. Remove it first", path.display())));
            }
            let text = if rootless {
                // SAFETY: getuid/getgid cannot fail.
                let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
                serde_json::to_string_pretty(&berth_runtime::spec::rootless_spec(uid, gid)).unwrap_or_default()
            } else {
                berth_runtime::spec::DEFAULT_SPEC.trim().to_string()
            };
            std::fs::write(&path, text + "\n").map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
            Ok(0)
        }
        Cmd::Events { stats, interval: _, id } => {
            let s = rt.stats(&id)?;
            let doc = serde_json::json!({
                "type": "stats",
                "id": id,
                "data": {
                    "cpu": {"usage": {"total": s.cpu_usage_ns}},
                    "memory": {"usage": {"usage": s.memory_usage, "max": s.memory_max_usage, "limit": s.memory_limit}, "oom_kill": s.oom_kills},
                    "pids": {"current": s.pids_current, "limit": s.pids_limit}
                }
            });
            println!("{doc}");
            let _ = stats;
            Ok(0)
        }
        Cmd::Update { resources, memory, memory_reservation, memory_swap, cpu_shares, cpu_quota, cpu_period, cpuset_cpus, cpuset_mems, pids_limit, id } => {
            let mut r: serde_json::Value = match &resources {
                Some(p) => read_json(p)?,
                None => serde_json::json!({}),
            };
            let set = |r: &mut serde_json::Value, section: &str, key: &str, v: serde_json::Value| {
                r[section][key] = v;
            };
            if let Some(v) = memory {
                set(&mut r, "memory", "limit", v.into());
            }
            if let Some(v) = memory_reservation {
                set(&mut r, "memory", "reservation", v.into());
            }
            if let Some(v) = memory_swap {
                set(&mut r, "memory", "swap", v.into());
            }
            if let Some(v) = cpu_shares {
                set(&mut r, "cpu", "shares", v.into());
            }
            if let Some(v) = cpu_quota {
                set(&mut r, "cpu", "quota", v.into());
            }
            if let Some(v) = cpu_period {
                set(&mut r, "cpu", "period", v.into());
            }
            if let Some(v) = cpuset_cpus {
                set(&mut r, "cpu", "cpus", v.into());
            }
            if let Some(v) = cpuset_mems {
                set(&mut r, "cpu", "mems", v.into());
            }
            if let Some(v) = pids_limit {
                set(&mut r, "pids", "limit", v.into());
            }
            let res: oci_spec::runtime::LinuxResources = serde_json::from_value(r).map_err(|e| Error::other(format!("invalid resources: {e}")))?;
            rt.update(&id, &res).map(|_| 0)
        }
        Cmd::Features => {
            let doc = serde_json::json!({
                "ociVersionMin": "1.0.0",
                "ociVersionMax": berth_runtime::state::OCI_VERSION,
                "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
                "mountOptions": ["ro","rw","nosuid","suid","nodev","dev","noexec","exec","sync","async","dirsync","remount","mand","nomand","atime","noatime","diratime","nodiratime","relatime","norelatime","strictatime","nostrictatime","lazytime","nolazytime","bind","rbind","private","rprivate","shared","rshared","slave","rslave","unbindable","runbindable"],
                "linux": {
                    "namespaces": ["cgroup","ipc","mount","network","pid","user","uts","time"],
                    "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                    "cgroup": {"v1": true, "v2": true, "systemd": false},
                    "seccomp": {"enabled": true, "actions": ["SCMP_ACT_ALLOW","SCMP_ACT_ERRNO","SCMP_ACT_KILL","SCMP_ACT_KILL_PROCESS","SCMP_ACT_KILL_THREAD","SCMP_ACT_LOG","SCMP_ACT_TRACE","SCMP_ACT_TRAP"]}
                }
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            Ok(0)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_exec_process(
    rt: &Runtime,
    id: &str,
    command: Vec<String>,
    cwd: Option<PathBuf>,
    env: Vec<String>,
    tty: bool,
    user: Option<String>,
    additional_gids: Vec<u32>,
    no_new_privs: bool,
    cap: Vec<String>,
) -> Result<oci_spec::runtime::Process, Error> {
    // runc builds an exec'd process from the container's own process spec.
    let state = rt.state(id)?;
    let spec = berth_runtime::container::load_spec(&state.bundle)
        .or_else(|_| berth_runtime::container::load_spec(&rt.root.join(id)))?;
    let mut v = serde_json::to_value(spec.process().clone().unwrap_or_default()).map_err(|e| Error::other(e.to_string()))?;
    v["args"] = serde_json::json!(command);
    v["terminal"] = tty.into();
    if let Some(c) = cwd {
        v["cwd"] = serde_json::json!(c);
    }
    if !env.is_empty() {
        let mut all: Vec<String> = v["env"].as_array().map(|a| a.iter().filter_map(|e| e.as_str().map(String::from)).collect()).unwrap_or_default();
        all.extend(env);
        v["env"] = serde_json::json!(all);
    }
    if let Some(u) = user {
        let (uid, gid) = u.split_once(':').map(|(a, b)| (a.to_string(), Some(b.to_string()))).unwrap_or((u.clone(), None));
        v["user"]["uid"] = uid.parse::<u32>().map_err(|_| Error::other(format!("invalid --user {u:?}: want uid[:gid]")))?.into();
        if let Some(g) = gid {
            v["user"]["gid"] = g.parse::<u32>().map_err(|_| Error::other(format!("invalid --user {u:?}: want uid[:gid]")))?.into();
        }
    }
    if !additional_gids.is_empty() {
        v["user"]["additionalGids"] = serde_json::json!(additional_gids);
    }
    if no_new_privs {
        v["noNewPrivileges"] = true.into();
    }
    for c in cap {
        for set in ["bounding", "effective", "permitted", "ambient"] {
            if let Some(a) = v["capabilities"][set].as_array_mut() {
                a.push(c.clone().into());
            }
        }
    }
    serde_json::from_value(v).map_err(|e| Error::other(format!("exec process: {e}")))
}
