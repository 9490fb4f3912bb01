//! `berth compose`: docker compose v2's command set. The project is loaded by
//! `berth-compose`'s loader and brought to life by its engine; what talks to a
//! terminal (attached `up`, `logs`, `exec`, `run`) lives here, and per-container
//! commands reuse berth's own (`exec`, `start -a`, `top`, `port`, `cp`, …).

mod attached;
mod delegate;
mod output;
mod project;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use berth_compose::engine::images::{BuildOptions, BuildRequest, ImagePolicy};
use berth_compose::engine::{DownOptions, Engine, OneOff, Recreate, RemoveImages, UpOptions};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::{fail, render};
use crate::{CmdResult, Failure, Global};

#[derive(Args)]
pub struct ComposeArgs {
    #[command(flatten)]
    project: ProjectFlags,
    #[command(subcommand)]
    cmd: ComposeCmd,
}

/// The project flags (before the subcommand, as docker compose has them).
#[derive(Args, Clone, Default)]
pub struct ProjectFlags {
    /// Compose configuration files
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Specify an alternate working directory (default: the path of the first Compose file)
    #[arg(long = "project-directory")]
    pub project_directory: Option<PathBuf>,
    /// Specify an alternate environment file
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Specify a profile to enable
    #[arg(long = "profile")]
    pub profile: Vec<String>,
    /// Control when to print ANSI control characters ("never"|"always"|"auto")
    #[arg(long = "ansi", default_value = "auto")]
    pub ansi: String,
    /// Set type of progress output (auto, tty, plain, quiet)
    #[arg(long = "progress")]
    pub progress: Option<String>,
}

#[derive(Subcommand)]
enum ComposeCmd {
    /// Create and start containers
    Up(UpArgs),
    /// Stop and remove containers, networks
    Down(DownArgs),
    /// Creates containers for a service
    Create(CreateArgs),
    /// List containers
    Ps(PsArgs),
    /// View output from containers
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(delegate::ExecArgs),
    /// Run a one-off command on a service
    Run(delegate::RunArgs),
    /// Start services
    Start(ServicesArgs),
    /// Stop services
    Stop(TimeoutArgs),
    /// Restart service containers
    Restart(TimeoutArgs),
    /// Force stop service containers
    Kill(KillArgs),
    /// Removes stopped service containers
    Rm(RmArgs),
    /// Pause services
    Pause(ServicesArgs),
    /// Unpause services
    Unpause(ServicesArgs),
    /// Display the running processes
    Top(ServicesArgs),
    /// Print the public port for a port binding
    Port(delegate::PortArgs),
    /// List images used by the created containers
    Images(ImagesArgs),
    /// Parse, resolve and render compose file in canonical format
    Config(ConfigArgs),
    /// List running compose projects
    Ls(LsArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(delegate::CpArgs),
    /// Receive real time events from containers
    Events(delegate::EventsArgs),
    /// Create a new image from a service container's changes
    Commit(delegate::CommitArgs),
    /// Export a service container's filesystem as a tar archive
    Export(delegate::ExportArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(delegate::StatsArgs),
    /// Attach local standard input, output, and error streams to a service's running container
    Attach(delegate::AttachArgs),
    /// Show the berth compose version information
    Version(VersionArgs),
    /// Block until containers of all (or specified) services stop
    Wait(WaitArgs),
    /// Scale services
    Scale(ScaleArgs),
    /// Pull service images
    Pull(PullArgs),
    /// Push service images
    Push(PushArgs),
    /// Build or rebuild services
    Build(BuildArgs),
}

#[derive(Args, Default)]
struct CreateFlags {
    /// Build images before starting containers
    #[arg(long = "build")]
    build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long = "no-build")]
    no_build: bool,
    /// Pull image before running ("always"|"missing"|"never"|"build")
    #[arg(long = "pull")]
    pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate", conflicts_with = "no_recreate")]
    force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long = "no-recreate")]
    no_recreate: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    remove_orphans: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present
    #[arg(long = "scale", value_name = "SERVICE=NUM")]
    scale: Vec<String>,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers
    #[arg(short = 'V', long = "renew-anon-volumes")]
    renew_anon_volumes: bool,
}

#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    create: CreateFlags,
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    no_deps: bool,
    /// Wait for services to be running|healthy. Implies detached mode
    #[arg(long = "wait")]
    wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long = "wait-timeout")]
    wait_timeout: Option<u64>,
    /// Stops all containers if any container was stopped. Incompatible with -d
    #[arg(long = "abort-on-container-exit", conflicts_with = "detach")]
    abort_on_container_exit: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long = "exit-code-from", conflicts_with = "detach")]
    exit_code_from: Option<String>,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
    #[arg(short = 't', long = "timeout", allow_hyphen_values = true)]
    timeout: Option<i64>,
    /// Don't start the services after creating them
    #[arg(long = "no-start")]
    no_start: bool,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    no_log_prefix: bool,
    /// Restrict attaching to the specified services
    #[arg(long = "attach")]
    attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long = "no-attach")]
    no_attach: Vec<String>,
    /// Pull without printing progress information
    #[arg(long = "quiet-pull")]
    quiet_pull: bool,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    create: CreateFlags,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short = 'v', long = "volumes")]
    volumes: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long = "rmi")]
    rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", allow_hyphen_values = true)]
    timeout: Option<i64>,
}

#[derive(Args)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Format the output. Values: [table | json | TEMPLATE]
    #[arg(long = "format")]
    format: Option<String>,
    /// Display services
    #[arg(long = "services")]
    services_only: bool,
    /// Only display IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long = "status")]
    status: Vec<String>,
    /// Filter services by a property (supported filters: status)
    #[arg(long = "filter")]
    filter: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long = "tail", default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    timestamps: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long = "since")]
    since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long = "until")]
    until: Option<String>,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    no_log_prefix: bool,
    /// index of the container if service has multiple replicas
    #[arg(long = "index")]
    index: Option<u64>,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct ServicesArgs {
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct TimeoutArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", allow_hyphen_values = true)]
    timeout: Option<i64>,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short = 's', long = "signal")]
    signal: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    remove_orphans: bool,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short = 's', long = "stop")]
    stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short = 'v', long = "volumes")]
    volumes: bool,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Format the output. Values: [table | json]
    #[arg(long = "format")]
    format: Option<String>,
    /// Only display IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct ConfigArgs {
    /// Format the output. Values: [yaml | json]
    #[arg(long = "format", default_value = "yaml")]
    format: String,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Print the service names, one per line
    #[arg(long = "services")]
    services_only: bool,
    /// Print the volume names, one per line
    #[arg(long = "volumes")]
    volumes: bool,
    /// Print the network names, one per line
    #[arg(long = "networks")]
    networks: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles")]
    profiles: bool,
    /// Print the image names, one per line
    #[arg(long = "images")]
    images: bool,
    /// Print the service config hash, one per line ("*" for all)
    #[arg(long = "hash")]
    hash: Option<String>,
    /// Save to file (default to stdout)
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short = 'a', long = "all")]
    all: bool,
    /// Format the output. Values: [table | json]
    #[arg(long = "format", default_value = "table")]
    format: String,
    /// Only display IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Filter output based on conditions provided (name=...)
    #[arg(long = "filter")]
    filter: Vec<String>,
}

#[derive(Args)]
pub struct VersionArgs {
    /// Format the output. Values: [pretty | json]
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// Shows only Compose's version number
    #[arg(long = "short")]
    short: bool,
}

#[derive(Args)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long = "down-project")]
    down_project: bool,
    /// SERVICE...
    #[arg(required = true)]
    services: Vec<String>,
}

#[derive(Args)]
pub struct ScaleArgs {
    /// Don't start linked services
    #[arg(long = "no-deps")]
    no_deps: bool,
    /// SERVICE=REPLICAS...
    #[arg(required = true)]
    scales: Vec<String>,
}

#[derive(Args)]
pub struct PullArgs {
    /// Ignore images that can be built
    #[arg(long = "ignore-buildable")]
    ignore_buildable: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long = "ignore-pull-failures")]
    ignore_pull_failures: bool,
    /// Pull without printing progress information
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct PushArgs {
    /// Push what it can and ignores images with push failures
    #[arg(long = "ignore-push-failures")]
    ignore_push_failures: bool,
    /// Push without printing progress information
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// SERVICE...
    services: Vec<String>,
}

#[derive(Args)]
pub struct BuildArgs {
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pull: bool,
    /// Set build-time variables for services
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Don't print anything to STDOUT
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// SERVICE...
    services: Vec<String>,
}

pub fn compose(g: &Global, a: ComposeArgs) -> CmdResult {
    let p = &a.project;
    match a.cmd {
        ComposeCmd::Up(u) => up(g, p, u),
        ComposeCmd::Create(c) => {
            let e = project::engine(g, p, &c.services, false)?;
            e.create(&up_options(&c.create, c.services, false, None)?).map_err(project::failure)?;
            Ok(())
        }
        ComposeCmd::Down(d) => down(g, p, d),
        ComposeCmd::Ps(a) => ps(g, p, a),
        ComposeCmd::Logs(a) => attached::logs(g, p, a),
        ComposeCmd::Exec(a) => delegate::exec(g, p, a),
        ComposeCmd::Run(a) => delegate::run(g, p, a),
        ComposeCmd::Start(a) => {
            let e = project::engine(g, p, &a.services, true)?;
            let services = e.selection(&a.services, true).map_err(project::failure)?;
            e.start(&services, &Default::default()).map_err(project::failure)
        }
        ComposeCmd::Stop(a) => project::engine(g, p, &a.services, true)?.stop(&a.services, a.timeout).map_err(project::failure),
        ComposeCmd::Restart(a) => project::engine(g, p, &a.services, true)?.restart(&a.services, a.timeout).map_err(project::failure),
        ComposeCmd::Kill(a) => {
            let e = project::engine(g, p, &a.services, true)?;
            if a.remove_orphans {
                let orphans = e.orphans().map_err(project::failure)?;
                e.remove(&orphans, false).map_err(project::failure)?;
            }
            e.kill(&a.services, a.signal.as_deref()).map_err(project::failure)
        }
        ComposeCmd::Rm(a) => rm(g, p, a),
        ComposeCmd::Pause(a) => project::engine(g, p, &a.services, true)?.pause(&a.services, false).map_err(project::failure),
        ComposeCmd::Unpause(a) => project::engine(g, p, &a.services, true)?.pause(&a.services, true).map_err(project::failure),
        ComposeCmd::Top(a) => delegate::top(g, p, a.services),
        ComposeCmd::Port(a) => delegate::port(g, p, a),
        ComposeCmd::Images(a) => images(g, p, a),
        ComposeCmd::Config(a) => config(p, a),
        ComposeCmd::Ls(a) => ls(g, a),
        ComposeCmd::Cp(a) => delegate::cp(g, p, a),
        ComposeCmd::Events(a) => delegate::events(g, p, a),
        ComposeCmd::Commit(a) => delegate::commit(g, p, a),
        ComposeCmd::Export(a) => delegate::export(g, p, a),
        ComposeCmd::Stats(a) => delegate::stats(g, p, a),
        ComposeCmd::Attach(a) => delegate::attach(g, p, a),
        ComposeCmd::Version(a) => version(a),
        ComposeCmd::Wait(a) => delegate::wait(g, p, a),
        ComposeCmd::Scale(a) => scale(g, p, a),
        ComposeCmd::Pull(a) => {
            let e = project::engine(g, p, &a.services, false)?;
            e.pull(&a.services, a.ignore_buildable, a.ignore_pull_failures).map_err(project::failure)
        }
        ComposeCmd::Push(a) => delegate::push(g, p, a),
        ComposeCmd::Build(a) => {
            let e = project::engine(g, p, &a.services, false)?;
            let mut args = BTreeMap::new();
            for kv in &a.build_arg {
                let (k, v) = kv.split_once('=').ok_or_else(|| fail(format!("invalid build arg {kv:?}: expected KEY=VALUE")))?;
                args.insert(k.to_owned(), v.to_owned());
            }
            e.build(&a.services, &BuildOptions { no_cache: a.no_cache, pull: a.pull, args, quiet: a.quiet }).map_err(project::failure)
        }
    }
}

/// `--scale svc=N` values.
fn parse_scale(values: &[String]) -> Result<BTreeMap<String, u64>, Failure> {
    values
        .iter()
        .map(|s| {
            let (svc, n) = s.split_once('=').ok_or_else(|| fail(format!("invalid scale specifier: {s}")))?;
            let n: u64 = n.trim().parse().map_err(|_| fail(format!("invalid scale specifier: {s}")))?;
            Ok((svc.to_owned(), n))
        })
        .collect()
}

fn up_options(c: &CreateFlags, services: Vec<String>, no_deps: bool, timeout: Option<i64>) -> Result<UpOptions, Failure> {
    let recreate = if c.force_recreate {
        Recreate::Force
    } else if c.no_recreate {
        Recreate::Never
    } else {
        Recreate::Diverged
    };
    if let Some(p) = &c.pull {
        if !matches!(p.as_str(), "always" | "missing" | "never" | "build") {
            return Err(fail(format!("invalid --pull option {p:?}: must be one of always, missing, never or build")));
        }
    }
    Ok(UpOptions {
        services,
        no_deps,
        recreate,
        remove_orphans: c.remove_orphans,
        scale: parse_scale(&c.scale)?,
        timeout,
        images: ImagePolicy { build: c.build, no_build: c.no_build, pull: c.pull.clone() },
        renew_anon_volumes: c.renew_anon_volumes,
    })
}

fn up(g: &Global, p: &ProjectFlags, a: UpArgs) -> CmdResult {
    let e = project::engine(g, p, &a.services, false)?;
    let o = up_options(&a.create, a.services.clone(), a.no_deps, a.timeout)?;
    let converged = e.create(&o).map_err(project::failure)?;
    if a.no_start {
        return Ok(());
    }
    if a.detach || a.wait {
        e.start_converged(&converged, &Default::default(), a.timeout).map_err(project::failure)?;
        if a.wait {
            e.wait_ready(&converged.services, a.wait_timeout.map(std::time::Duration::from_secs)).map_err(project::failure)?;
        }
        return Ok(());
    }
    attached::up(&e, p, &a, &converged)
}

fn down(g: &Global, p: &ProjectFlags, a: DownArgs) -> CmdResult {
    let images = match a.rmi.as_deref() {
        None => None,
        Some("local") => Some(RemoveImages::Local),
        Some("all") => Some(RemoveImages::All),
        Some(o) => return Err(fail(format!("invalid --rmi option {o:?}: must be local or all"))),
    };
    let e = project::engine(g, p, &[], true)?;
    e.down(&DownOptions { volumes: a.volumes, remove_orphans: a.remove_orphans, images, timeout: a.timeout }).map_err(project::failure)
}

fn ps(g: &Global, p: &ProjectFlags, mut a: PsArgs) -> CmdResult {
    // docker compose's one filter: `status=…`, the same as --status.
    if let Some(f) = &a.filter {
        match f.split_once('=') {
            Some(("status", v)) => a.status.push(v.to_owned()),
            Some((k, _)) => return Err(fail(format!("unknown filter {k}"))),
            None => return Err(fail(format!("invalid filter {f}"))),
        }
    }
    let e = project::engine(g, p, &a.services, true)?;
    if a.services_only {
        let mut names: Vec<String> = if e.project.services.is_empty() {
            e.containers(&a.services, OneOff::Exclude, a.all).map_err(project::failure)?.into_iter().map(|c| c.service).collect()
        } else {
            e.project.services.keys().filter(|s| a.services.is_empty() || a.services.contains(s)).cloned().collect()
        };
        names.dedup();
        for n in names {
            println!("{n}");
        }
        return Ok(());
    }
    let oneoff = if a.all { OneOff::Include } else { OneOff::Exclude };
    let mut list = e.containers(&a.services, oneoff, a.all || !a.status.is_empty()).map_err(project::failure)?;
    if !a.status.is_empty() {
        list.retain(|c| a.status.contains(&c.state));
    }
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = list
        .iter()
        .map(|c| {
            let mut r = super::ps::row(&c.summary, !a.no_trunc, now);
            r["Name"] = json!(c.name);
            r["Service"] = json!(c.service);
            r["Project"] = json!(c.project);
            r["Health"] = json!(health_of(&r["Status"]));
            r
        })
        .collect();
    let format = if a.quiet { "{{.ID}}" } else { a.format.as_deref().unwrap_or("") };
    let headers = json!({
        "Name": "NAME", "Image": "IMAGE", "Command": "COMMAND", "Service": "SERVICE", "RunningFor": "CREATED", "CreatedAt": "CREATED AT",
        "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "ID": "CONTAINER ID", "Project": "PROJECT", "Health": "HEALTH", "Names": "NAMES",
        "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "__Label": {},
    });
    let default = "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}";
    print!("{}", render(format, default, &rows, &headers)?);
    Ok(())
}

/// `healthy`, `unhealthy`, `starting` or empty, from the status text.
fn health_of(status: &Value) -> &'static str {
    let s = status.as_str().unwrap_or("");
    if s.contains("(healthy)") {
        "healthy"
    } else if s.contains("(unhealthy)") {
        "unhealthy"
    } else if s.contains("(health: starting)") {
        "starting"
    } else {
        ""
    }
}

fn rm(g: &Global, p: &ProjectFlags, a: RmArgs) -> CmdResult {
    let e = project::engine(g, p, &a.services, true)?;
    let list = e.removable(&a.services, a.stop, false).map_err(project::failure)?;
    if list.is_empty() {
        eprintln!("No stopped containers");
        return Ok(());
    }
    if !a.force {
        let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
        if !super::confirm(&format!("Going to remove {}", names.join(", "))) {
            return Ok(());
        }
    }
    e.remove(&list, a.volumes).map_err(project::failure)
}

fn images(g: &Global, p: &ProjectFlags, a: ImagesArgs) -> CmdResult {
    let e = project::engine(g, p, &a.services, true)?;
    let rows = e.images(&a.services).map_err(project::failure)?;
    if a.quiet {
        let mut ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        ids.dedup();
        for id in ids {
            println!("{id}");
        }
        return Ok(());
    }
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let short: String = r.id.trim_start_matches("sha256:").chars().take(12).collect();
            json!({"ContainerName": r.container, "Repository": r.repository, "Tag": r.tag, "ID": short, "Size": crate::units::human_size(r.size as f64)})
        })
        .collect();
    let headers = json!({"ContainerName": "CONTAINER", "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Size": "SIZE"});
    let default = "table {{.ContainerName}}\t{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}";
    print!("{}", render(a.format.as_deref().unwrap_or(""), default, &rows, &headers)?);
    Ok(())
}

fn config(p: &ProjectFlags, a: ConfigArgs) -> CmdResult {
    let project = project::load(p, &a.services)?;
    let lines = |v: Vec<String>| v.into_iter().map(|s| s + "\n").collect::<String>();
    let out = if a.services_only {
        lines(project.service_names())
    } else if a.volumes {
        lines(project.volumes.keys().cloned().collect())
    } else if a.networks {
        lines(project.networks.keys().cloned().collect())
    } else if a.profiles {
        let mut all: Vec<String> = project.services.values().chain(project.meta.disabled_services.values()).flat_map(|s| s.profiles.clone()).collect();
        all.sort();
        all.dedup();
        lines(all)
    } else if a.images {
        lines(project.services.values().map(|s| berth_compose::engine::body::image_name(&project, s)).collect())
    } else if let Some(h) = &a.hash {
        let wanted: Vec<&str> = h.split(',').map(str::trim).collect();
        lines(project.services.values().filter(|s| wanted.contains(&"*") || wanted.contains(&s.name.as_str())).map(|s| format!("{} {}", s.name, berth_compose::labels::service_hash(s))).collect())
    } else {
        match a.format.as_str() {
            "yaml" => berth_compose::config_output::to_yaml(&project),
            "json" => berth_compose::config_output::to_json(&project),
            f => return Err(fail(format!("unsupported format {f:?}: use yaml or json"))),
        }
    };
    for w in &project.meta.warnings {
        output::warn(w);
    }
    if a.quiet {
        return Ok(());
    }
    match &a.output {
        Some(path) => std::fs::write(path, out).map_err(|e| fail(format!("{}: {}", path.display(), super::io_msg(&e)))),
        None => {
            print!("{out}");
            Ok(())
        }
    }
}

fn ls(g: &Global, a: LsArgs) -> CmdResult {
    let c = super::client(g)?;
    let mut list = berth_compose::engine::containers::projects(&c, a.all).map_err(project::failure)?;
    for f in &a.filter {
        match f.split_once('=') {
            Some(("name", n)) => list.retain(|p| p.name.contains(n)),
            _ => return Err(fail(format!("invalid filter {f:?}: only name=... is supported"))),
        }
    }
    if a.quiet {
        for p in list {
            println!("{}", p.name);
        }
        return Ok(());
    }
    let rows: Vec<Value> = list.iter().map(|p| json!({"Name": p.name, "Status": p.status, "ConfigFiles": p.config_files})).collect();
    if a.format == "json" {
        println!("{}", Value::Array(rows));
        return Ok(());
    }
    let headers = json!({"Name": "NAME", "Status": "STATUS", "ConfigFiles": "CONFIG FILES"});
    print!("{}", render(&a.format, "table {{.Name}}\t{{.Status}}\t{{.ConfigFiles}}", &rows, &headers)?);
    Ok(())
}

fn version(a: VersionArgs) -> CmdResult {
    let v = env!("CARGO_PKG_VERSION");
    if a.short {
        println!("{v}");
    } else if a.format.as_deref() == Some("json") {
        println!("{}", json!({ "version": v }));
    } else {
        println!("berth compose version {v}");
    }
    Ok(())
}

fn scale(g: &Global, p: &ProjectFlags, a: ScaleArgs) -> CmdResult {
    let scale = parse_scale(&a.scales)?;
    let services: Vec<String> = scale.keys().cloned().collect();
    let e = project::engine(g, p, &services, false)?;
    let o = UpOptions { services, no_deps: a.no_deps, recreate: Recreate::Never, scale, ..Default::default() };
    let converged = e.create(&o).map_err(project::failure)?;
    e.start(&converged.services, &Default::default()).map_err(project::failure)
}

/// The engine with berth's puller (saved registry credentials) and builder.
fn with_hooks(g: &Global, e: Engine) -> Engine {
    let g = g.clone();
    e.with_puller(Arc::new(|c: &berth_api::Client, image: &str| super::registry::pull_image(c, image, None, true).map_err(|e| e.to_string())))
        .with_builder(Arc::new(move |_: &berth_api::Client, r: &BuildRequest| delegate::build_image(&g, r)))
}
