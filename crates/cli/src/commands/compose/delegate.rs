//! Commands on one service container (exec, run, port, cp, top, wait, push):
//! the container is found by its compose labels, then berth's own command does
//! the work, given the argument list a user would have typed for it.

use berth_api::client::{query, Body};
use berth_api::Filters;
use berth_compose::engine::images::{BuildRequest, ImagePolicy};
use berth_compose::engine::{Container, Engine, OneOff, RunOptions};
use clap::{Args, FromArgMatches};
use serde_json::{json, Value};

use super::{project, ProjectFlags, PushArgs, WaitArgs};
use crate::commands::{self, fail, is_tty};
use crate::{CmdResult, Failure, Global};

/// Parses `argv` as berth's `A` command would.
pub fn parsed<A: Args + FromArgMatches>(name: &'static str, argv: Vec<String>) -> Result<A, Failure> {
    let cmd = A::augment_args(clap::Command::new(name).no_binary_name(true));
    let m = cmd.try_get_matches_from(argv).map_err(|e| fail(e.to_string()))?;
    A::from_arg_matches(&m).map_err(|e| fail(e.to_string()))
}

/// Container `index` (1-based) of a service; `running` limits to running ones.
fn service_container(e: &Engine, service: &str, index: u64, running: bool) -> Result<Container, Failure> {
    if !e.project.services.is_empty() && !e.project.services.contains_key(service) {
        return Err(fail(format!("no such service: {service}")));
    }
    let list = e.containers(&[service.to_owned()], OneOff::Exclude, !running).map_err(project::failure)?;
    list.into_iter().find(|c| c.number == index).ok_or_else(|| fail(format!("service \"{service}\" is not running")))
}

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// index of the container if service has multiple replicas
    #[arg(long = "index", default_value_t = 1)]
    index: u64,
    /// Disable pseudo-TTY allocation. By default `exec` allocates a TTY
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    interactive: bool,
    /// Give extended privileges to the process
    #[arg(long = "privileged")]
    privileged: bool,
    /// Run the command as this user
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// SERVICE
    service: String,
    /// COMMAND [ARGS...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

/// compose allocates a TTY unless `-T`, and only when there is a terminal.
fn want_tty(no_tty: bool) -> bool {
    !no_tty && is_tty(0) && is_tty(1)
}

pub fn exec(g: &Global, p: &ProjectFlags, a: ExecArgs) -> CmdResult {
    let e = project::engine(g, p, std::slice::from_ref(&a.service), true)?;
    let c = service_container(&e, &a.service, a.index, true)?;
    let mut argv: Vec<String> = Vec::new();
    let flag = |on: bool, f: &str, argv: &mut Vec<String>| {
        if on {
            argv.push(f.to_owned());
        }
    };
    flag(a.detach, "-d", &mut argv);
    flag(a.interactive && !a.detach, "-i", &mut argv);
    flag(want_tty(a.no_tty), "-t", &mut argv);
    flag(a.privileged, "--privileged", &mut argv);
    for v in &a.env {
        argv.extend(["-e".to_owned(), v.clone()]);
    }
    if let Some(u) = &a.user {
        argv.extend(["-u".to_owned(), u.clone()]);
    }
    if let Some(w) = &a.workdir {
        argv.extend(["-w".to_owned(), w.clone()]);
    }
    argv.push(c.name);
    argv.extend(a.command);
    commands::exec::exec(g, parsed("exec", argv)?)
}

#[derive(Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long = "rm")]
    rm: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Add or override a label
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    no_deps: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    interactive: bool,
    /// Assign a name to the container
    #[arg(long = "name")]
    name: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long = "entrypoint")]
    entrypoint: Option<String>,
    /// Run as specified username or uid
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    volume: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(long = "service-ports")]
    service_ports: bool,
    /// Use the service's network useAliases in the network(s) the container connects to
    #[arg(long = "use-aliases")]
    use_aliases: bool,
    /// Build image before starting container
    #[arg(long = "build")]
    build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long = "pull")]
    pull: Option<String>,
    /// SERVICE
    service: String,
    /// [COMMAND] [ARGS...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(g: &Global, p: &ProjectFlags, a: RunArgs) -> CmdResult {
    let e = project::engine(g, p, std::slice::from_ref(&a.service), false)?;
    let tty = want_tty(a.no_tty);
    let o = RunOptions {
        service: a.service.clone(),
        command: a.command,
        entrypoint: a.entrypoint,
        env: a.env,
        labels: a.label,
        name: a.name,
        user: a.user,
        workdir: a.workdir,
        volumes: a.volume,
        publish: a.publish,
        service_ports: a.service_ports,
        use_aliases: a.use_aliases,
        rm: a.rm,
        tty,
        interactive: a.interactive,
        detach: a.detach,
        no_deps: a.no_deps,
        images: ImagePolicy { build: a.build, no_build: false, pull: a.pull },
    };
    let (id, name) = e.run(&o).map_err(project::failure)?;
    if a.detach {
        e.client.call("POST", &format!("/containers/{}/start", berth_api::client::encode(&id)), Body::Empty)?;
        println!("{name}");
        return Ok(());
    }
    // `start -a` attaches before starting and exits with the container's status.
    let mut argv = vec!["-a".to_owned()];
    if a.interactive {
        argv.push("-i".to_owned());
    }
    argv.push(id.clone());
    let r = commands::run::start(g, parsed("start", argv)?);
    if a.rm {
        // AutoRemove is asynchronous; the one-off must be gone when run returns.
        let _ = e.client.call("DELETE", &format!("/containers/{}?force=1", berth_api::client::encode(&id)), Body::Empty);
    }
    r
}

#[derive(Args)]
pub struct PortArgs {
    /// index of the container if service has multiple replicas
    #[arg(long = "index", default_value_t = 1)]
    index: u64,
    /// tcp or udp
    #[arg(long = "protocol", default_value = "tcp")]
    protocol: String,
    /// SERVICE
    service: String,
    /// PRIVATE_PORT
    private_port: u16,
}

pub fn port(g: &Global, p: &ProjectFlags, a: PortArgs) -> CmdResult {
    let e = project::engine(g, p, std::slice::from_ref(&a.service), true)?;
    let c = service_container(&e, &a.service, a.index, true)?;
    commands::containers::port(g, parsed("port", vec![c.name, format!("{}/{}", a.private_port, a.protocol)])?)
}

#[derive(Args)]
pub struct CpArgs {
    /// index of the container if service has multiple replicas
    #[arg(long = "index", default_value_t = 1)]
    index: u64,
    /// [-a] [-L] SRC_PATH DEST_PATH, as for `berth cp`, with SERVICE:PATH for a container's side
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    args: Vec<String>,
}

pub fn cp(g: &Global, p: &ProjectFlags, a: CpArgs) -> CmdResult {
    let e = project::engine(g, p, &[], true)?;
    let mut argv = Vec::new();
    for arg in a.args {
        argv.push(match commands::cp::split_container_path(&arg) {
            (Some(svc), path) if !arg.starts_with('-') => format!("{}:{path}", service_container(&e, svc, a.index, false)?.name),
            _ => arg,
        });
    }
    commands::cp::cp(g, parsed("cp", argv)?)
}

#[derive(Args)]
pub struct CommitArgs {
    #[command(flatten)]
    opts: commands::containers::CommitOptions,
    /// index of the container if service has multiple replicas
    #[arg(long = "index", default_value_t = 1)]
    index: u64,
    /// SERVICE
    service: String,
    /// [REPOSITORY[:TAG]]
    reference: Option<String>,
}

/// `commit`: an image from a service container's changes.
pub fn commit(g: &Global, p: &ProjectFlags, a: CommitArgs) -> CmdResult {
    let e = project::engine(g, p, std::slice::from_ref(&a.service), true)?;
    let c = service_container(&e, &a.service, a.index, false)?;
    commands::containers::commit_container(g, &a.opts, &c.name, a.reference.as_deref())
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    output: Option<String>,
    /// index of the container if service has multiple replicas
    #[arg(long = "index", default_value_t = 1)]
    index: u64,
    /// SERVICE
    service: String,
}

/// `export`: a service container's filesystem as a tar.
pub fn export(g: &Global, p: &ProjectFlags, a: ExportArgs) -> CmdResult {
    let e = project::engine(g, p, std::slice::from_ref(&a.service), true)?;
    let c = service_container(&e, &a.service, a.index, false)?;
    let mut argv: Vec<String> = a.output.map(|o| vec!["-o".to_owned(), o]).unwrap_or_default();
    argv.push(c.name);
    commands::containers::export(g, parsed("export", argv)?)
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    opts: commands::stats::StatsOptions,
    /// [SERVICE]
    service: Option<String>,
}

/// `stats`: resource use of the project's containers (of one service).
pub fn stats(g: &Global, p: &ProjectFlags, a: StatsArgs) -> CmdResult {
    let services: Vec<String> = a.service.into_iter().collect();
    let e = project::engine(g, p, &services, true)?;
    let list = e.containers(&services, OneOff::Exclude, a.opts.all).map_err(project::failure)?;
    if list.is_empty() {
        // Nothing to show (no names would mean every container of the host).
        return Ok(());
    }
    commands::stats::stats_of(g, &a.opts, list.into_iter().map(|c| c.name).collect())
}

#[derive(Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching from a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// index of the container if service has multiple replicas
    #[arg(long = "index", default_value_t = 1)]
    index: u64,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    sig_proxy: bool,
    /// SERVICE
    service: String,
}

/// `attach`: a running service container's stdio on this terminal.
pub fn attach(g: &Global, p: &ProjectFlags, a: AttachArgs) -> CmdResult {
    let e = project::engine(g, p, std::slice::from_ref(&a.service), true)?;
    let c = service_container(&e, &a.service, a.index, true)?;
    let mut argv = vec![format!("--sig-proxy={}", a.sig_proxy)];
    if a.no_stdin {
        argv.push("--no-stdin".into());
    }
    if let Some(k) = a.detach_keys {
        argv.extend(["--detach-keys".to_owned(), k]);
    }
    argv.push(c.name);
    commands::run::attach(g, parsed("attach", argv)?)
}

/// `top`: each running container's processes under its name.
pub fn top(g: &Global, p: &ProjectFlags, services: Vec<String>) -> CmdResult {
    let e = project::engine(g, p, &services, true)?;
    for c in e.containers(&services, OneOff::Exclude, false).map_err(project::failure)? {
        println!("{}", c.name);
        commands::containers::top(g, parsed("top", vec![c.name])?)?;
        println!();
    }
    Ok(())
}

/// `wait`: each container's exit status once it stopped (`--down-project`: then `down`).
pub fn wait(g: &Global, p: &ProjectFlags, a: WaitArgs) -> CmdResult {
    let e = project::engine(g, p, &a.services, true)?;
    let names: Vec<String> = e.containers(&a.services, OneOff::Exclude, true).map_err(project::failure)?.into_iter().map(|c| c.name).collect();
    if names.is_empty() {
        return Err(fail(format!("no containers for services {}", a.services.join(", "))));
    }
    let r = commands::containers::wait(g, parsed("wait", names)?);
    if a.down_project {
        e.down(&Default::default()).map_err(project::failure)?;
    }
    r
}

/// `push`: the images of services that are built and name an image.
pub fn push(g: &Global, p: &ProjectFlags, a: PushArgs) -> CmdResult {
    let e = project::engine(g, p, &a.services, false)?;
    for image in e.push_list(&a.services) {
        let mut argv = Vec::new();
        if a.quiet {
            argv.push("-q".to_owned());
        }
        argv.push(image);
        match commands::registry::push(g, parsed("push", argv)?) {
            Err(f) if a.ignore_push_failures => {
                if let Some(m) = f.message {
                    super::output::warn(&m);
                }
            }
            r => r?,
        }
    }
    Ok(())
}

/// Builds a service's image with `berth build`.
pub fn build_image(g: &Global, r: &BuildRequest) -> Result<(), String> {
    let mut argv: Vec<String> = vec!["-t".into(), r.image.clone()];
    // An inline Dockerfile is written outside the context, where `build -f` takes it.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    if let Some(text) = &r.dockerfile_inline {
        let path = dir.path().join("Dockerfile");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        argv.extend(["-f".into(), path.display().to_string()]);
    } else if let Some(f) = &r.dockerfile {
        argv.extend(["-f".into(), f.display().to_string()]);
    }
    for (flag, map) in [("--build-arg", &r.args), ("--label", &r.labels)] {
        for (k, v) in map {
            argv.extend([flag.into(), format!("{k}={v}")]);
        }
    }
    if let Some(t) = &r.target {
        argv.extend(["--target".into(), t.clone()]);
    }
    for c in &r.cache_from {
        argv.extend(["--cache-from".into(), c.clone()]);
    }
    for (on, flag) in [(r.no_cache, "--no-cache"), (r.pull, "--pull"), (r.quiet, "-q")] {
        if on {
            argv.push(flag.into());
        }
    }
    argv.push(r.context.display().to_string());
    let args = parsed("build", argv).map_err(|f| f.message.unwrap_or_default())?;
    commands::build::build(g, args).map_err(|f| f.message.unwrap_or_else(|| "the build failed".into()))
}

#[derive(Args)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long = "json")]
    json: bool,
    /// SERVICE...
    services: Vec<String>,
}

/// `events`: the project's container events, as compose prints them.
pub fn events(g: &Global, p: &ProjectFlags, a: EventsArgs) -> CmdResult {
    let e = project::engine(g, p, &a.services, true)?;
    let mut f = Filters::new();
    f.add("type", "container");
    f.add("label", &format!("{}={}", berth_compose::labels::PROJECT, e.project.name));
    let resp = e.client.call("GET", &format!("/events{}", query([("filters", Some(f.to_json()))])), Body::Empty)?;
    for ev in serde_json::Deserializer::from_reader(resp.into_reader()).into_iter::<Value>() {
        let Ok(ev) = ev else { break };
        let attrs = ev["Actor"]["Attributes"].as_object().cloned().unwrap_or_default();
        let service = attrs.get(berth_compose::labels::SERVICE).and_then(Value::as_str).unwrap_or("").to_owned();
        if !a.services.is_empty() && !a.services.contains(&service) {
            continue;
        }
        let nanos = ev["timeNano"].as_i64().unwrap_or(0);
        let time = chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32).unwrap_or_default();
        let (action, id) = (ev["Action"].as_str().unwrap_or(""), ev["Actor"]["ID"].as_str().unwrap_or(""));
        if a.json {
            println!("{}", json!({"time": time.to_rfc3339(), "type": "container", "action": action, "id": id, "service": service, "attributes": attrs}));
        } else {
            let mut pairs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
            pairs.sort();
            println!("{} container {action} {id} ({})", time.format("%Y-%m-%d %H:%M:%S%.6f"), pairs.join(", "));
        }
    }
    Ok(())
}
