//! berth: docker's command line for berthd. Every command is one or two Engine API calls
//! through `berth-api`'s client; output formats and exit codes follow docker's.

mod commands;
mod create_opts;
mod jsonfmt;
mod progress;
mod streams;
mod table;
mod template;
mod tty;
mod units;
mod values;

use clap::{Args, Parser, Subcommand};

use commands::containers::{CommitArgs, DiffArgs, ExportArgs, KillArgs, NamesArgs, PortArgs, PruneArgs as ContainerPruneArgs, RenameArgs, RmArgs, StopArgs, TopArgs, UpdateArgs};
use commands::cp::CpArgs;
use commands::exec::ExecArgs;
use commands::images::{HistoryArgs, ImagesArgs, ImportArgs, InspectArgs, LoadArgs, PruneArgs, RmiArgs, SaveArgs, TagArgs};
use commands::inspect::InspectArgs as AnyInspectArgs;
use commands::logs::LogsArgs;
use commands::ps::PsArgs;
use commands::run::{AttachArgs, CreateArgs, RunArgs, StartArgs};
use commands::stats::StatsArgs;
use commands::system::{InfoArgs, VersionArgs};

#[derive(Parser)]
#[command(name = "berth", about = "A self-sufficient runtime for containers", disable_version_flag = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Daemon socket to connect to (unix:///path or tcp://host:port)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub host: Option<String>,
    /// Use TLS; implied by --tlsverify
    #[arg(long = "tls")]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long = "tlsverify")]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA (default ~/.docker/ca.pem)
    #[arg(long = "tlscacert", value_name = "PATH")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// Path to TLS certificate file (default ~/.docker/cert.pem)
    #[arg(long = "tlscert", value_name = "PATH")]
    pub tlscert: Option<std::path::PathBuf>,
    /// Path to TLS key file (default ~/.docker/key.pem)
    #[arg(long = "tlskey", value_name = "PATH")]
    pub tlskey: Option<std::path::PathBuf>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
    /// Show the berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Manage berth
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        cmd: VolumeCmd,
    },
    /// Manage secrets
    Secret {
        #[command(subcommand)]
        cmd: SecretCmd,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: NetworkCmd,
    },
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Manage builds
    Builder {
        #[command(subcommand)]
        cmd: BuilderCmd,
    },
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// List images
    Images(ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Return low-level information on objects
    Inspect(AnyInspectArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Download an image from a registry
    Pull(commands::registry::PullArgs),
    /// Upload an image to a registry
    Push(commands::registry::PushArgs),
    /// Log in to a registry
    Login(commands::registry::LoginArgs),
    /// Log out from a registry
    Logout(commands::registry::LogoutArgs),
    /// Define and run multi-container applications
    Compose(commands::compose::ComposeArgs),
    /// List an image's packages (SBOM) and match them against an OSV vulnerability database
    Scan(commands::scan::ScanArgs),
}

#[derive(Subcommand)]
enum ContainerCmd {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Display detailed information on one or more containers
    Inspect(AnyInspectArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
}

#[derive(Subcommand)]
enum SystemCmd {
    /// Display system-wide information
    Info(InfoArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
    /// Show berth disk usage
    Df(commands::system::DfArgs),
    /// Remove unused data
    Prune(commands::system::PruneArgs),
}

#[derive(Subcommand)]
enum VolumeCmd {
    /// Create a volume
    Create(commands::volume::CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(commands::volume::LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(commands::volume::InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(commands::volume::RmArgs),
    /// Remove unused local volumes
    Prune(commands::volume::PruneArgs),
    /// Export a volume's content as a tar archive (streamed to STDOUT by default)
    Export(commands::volume::ExportArgs),
    /// Import a tar archive into a volume
    Import(commands::volume::ImportArgs),
}

#[derive(Subcommand)]
enum SecretCmd {
    /// Create a secret from a file or STDIN as content
    Create(commands::secret::CreateArgs),
    /// List secrets
    #[command(visible_alias = "list")]
    Ls(commands::secret::LsArgs),
    /// Display detailed information on one or more secrets
    Inspect(commands::secret::InspectArgs),
    /// Remove one or more secrets
    #[command(visible_alias = "remove")]
    Rm(commands::secret::RmArgs),
}

#[derive(Subcommand)]
enum NetworkCmd {
    /// Create a network
    Create(commands::network::CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(commands::network::LsArgs),
    /// Display detailed information on one or more networks
    Inspect(commands::network::InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(commands::network::RmArgs),
    /// Connect a container to a network
    Connect(commands::network::ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(commands::network::DisconnectArgs),
    /// Remove all unused networks
    Prune(commands::network::PruneArgs),
}

#[derive(Subcommand)]
enum BuilderCmd {
    /// Remove build cache
    Prune(commands::build::BuilderPruneArgs),
}

#[derive(Subcommand)]
enum ImageCmd {
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Download an image from a registry
    Pull(commands::registry::PullArgs),
    /// Upload an image to a registry
    Push(commands::registry::PushArgs),
    /// List an image's packages (SBOM) and match them against an OSV vulnerability database
    Scan(commands::scan::ScanArgs),
}

/// How a command failed: docker prints the message and exits with the status.
pub struct Failure {
    pub message: Option<String>,
    pub status: i32,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        let e: anyhow::Error = e.into();
        let message = match e.downcast_ref::<berth_api::ClientError>() {
            Some(berth_api::ClientError::Connect { .. }) => format!(
                "{e}\nStart one with: berthd --data-root /var/lib/berth &   (or: scripts/berthd-start.sh)\n\
                 and point berth at it with -H unix:///path/to.sock (or tcp://host:port) or BERTH_HOST if it is not the default socket."
            ),
            _ => format!("{e:#}"),
        };
        Failure { message: Some(message), status: 1 }
    }
}

pub type CmdResult = Result<(), Failure>;

/// Parses the command line. Building clap's whole command tree (every subcommand's
/// arguments) is most of the CLI's start-up time, so the commands that start or inspect
/// containers are parsed against a tree holding only themselves. Help, and anything
/// the lean tree refuses, goes through the whole tree, so output and errors are the same.
fn parse_args() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let wants_help = args.iter().skip(1).any(|a| a == "-h" || a == "--help");
    if let Some(sub) = subcommand_name(&args).and_then(lean_subcommand).filter(|_| !wants_help) {
        let top = Global::augment_args(clap::Command::new("berth").disable_version_flag(true)).subcommand(sub);
        if let Ok(m) = top.try_get_matches_from(&args) {
            return Cli::from_arg_matches(&m);
        }
    }
    Cli::command().try_get_matches_from(&args).and_then(|m| Cli::from_arg_matches(&m))
}

/// The first word after the global flags.
fn subcommand_name(args: &[std::ffi::OsString]) -> Option<&str> {
    let mut it = args.iter().skip(1).map(|a| a.to_str());
    while let Some(a) = it.next() {
        let a = a?;
        match a {
            "-H" | "--host" | "--tlscacert" | "--tlscert" | "--tlskey" => {
                it.next();
            }
            _ if a.starts_with('-') => {}
            _ => return Some(a),
        }
    }
    None
}

/// The hot commands' own clap trees (their `Cmd` variants take these argument types
/// as they are, so `Cmd::from_arg_matches` reads the matches unchanged).
fn lean_subcommand(name: &str) -> Option<clap::Command> {
    const LEAN: [&str; 12] = ["run", "create", "start", "exec", "ps", "inspect", "rm", "stop", "kill", "wait", "logs", "version"];
    let name = LEAN.into_iter().find(|n| *n == name)?;
    let c = clap::Command::new(name);
    Some(match name {
        "run" => RunArgs::augment_args(c),
        "create" => CreateArgs::augment_args(c),
        "start" => StartArgs::augment_args(c),
        "exec" => ExecArgs::augment_args(c),
        "ps" => PsArgs::augment_args(c),
        "inspect" => AnyInspectArgs::augment_args(c),
        "rm" => RmArgs::augment_args(c),
        "stop" => StopArgs::augment_args(c),
        "kill" => KillArgs::augment_args(c),
        "wait" => NamesArgs::augment_args(c),
        "logs" => LogsArgs::augment_args(c),
        "version" => VersionArgs::augment_args(c),
        _ => return None,
    })
}

fn main() {
    // `berth images | head -1`: output into a closed pipe ends berth quietly with
    // SIGPIPE's status, as SIGPIPE ends docker, instead of println!'s panic. (SIGPIPE
    // itself stays ignored, so a daemon hanging up on a socket is an error, not death.)
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied()).unwrap_or("");
        if msg.starts_with("failed printing to std") && msg.contains("Broken pipe") {
            std::process::exit(128 + libc::SIGPIPE);
        }
        default_hook(info)
    }));
    let cli = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                // docker exits 125 when its own flags or arguments are wrong.
                _ => 125,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if cli.global.version {
        println!("berth version {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let Some(cmd) = cli.cmd else {
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return;
    };
    let g = &cli.global;
    let result = match cmd {
        Cmd::Version(a) => commands::system::version(g, a),
        Cmd::Events(a) | Cmd::System { cmd: SystemCmd::Events(a) } => commands::events::events(g, a),
        Cmd::System { cmd: SystemCmd::Df(a) } => commands::system::df(g, a),
        Cmd::Info(a) | Cmd::System { cmd: SystemCmd::Info(a) } => commands::system::info(g, a),
        Cmd::System { cmd: SystemCmd::Prune(a) } => commands::system::prune(g, a),
        Cmd::Volume { cmd: VolumeCmd::Create(a) } => commands::volume::create(g, a),
        Cmd::Volume { cmd: VolumeCmd::Ls(a) } => commands::volume::ls(g, a),
        Cmd::Volume { cmd: VolumeCmd::Inspect(a) } => commands::volume::inspect(g, a),
        Cmd::Volume { cmd: VolumeCmd::Rm(a) } => commands::volume::rm(g, a),
        Cmd::Volume { cmd: VolumeCmd::Prune(a) } => commands::volume::prune(g, a),
        Cmd::Volume { cmd: VolumeCmd::Export(a) } => commands::volume::export(g, a),
        Cmd::Volume { cmd: VolumeCmd::Import(a) } => commands::volume::import(g, a),
        Cmd::Secret { cmd: SecretCmd::Create(a) } => commands::secret::create(g, a),
        Cmd::Secret { cmd: SecretCmd::Ls(a) } => commands::secret::ls(g, a),
        Cmd::Secret { cmd: SecretCmd::Inspect(a) } => commands::secret::inspect(g, a),
        Cmd::Secret { cmd: SecretCmd::Rm(a) } => commands::secret::rm(g, a),
        Cmd::Network { cmd: NetworkCmd::Create(a) } => commands::network::create(g, a),
        Cmd::Network { cmd: NetworkCmd::Ls(a) } => commands::network::ls(g, a),
        Cmd::Network { cmd: NetworkCmd::Inspect(a) } => commands::network::inspect(g, a),
        Cmd::Network { cmd: NetworkCmd::Rm(a) } => commands::network::rm(g, a),
        Cmd::Network { cmd: NetworkCmd::Connect(a) } => commands::network::connect(g, a),
        Cmd::Network { cmd: NetworkCmd::Disconnect(a) } => commands::network::disconnect(g, a),
        Cmd::Network { cmd: NetworkCmd::Prune(a) } => commands::network::prune(g, a),
        Cmd::Images(a) | Cmd::Image { cmd: ImageCmd::Ls(a) } => commands::images::list(g, a),
        Cmd::Import(a) | Cmd::Image { cmd: ImageCmd::Import(a) } => commands::images::import(g, a),
        Cmd::Tag(a) | Cmd::Image { cmd: ImageCmd::Tag(a) } => commands::images::tag(g, a),
        Cmd::Rmi(a) | Cmd::Image { cmd: ImageCmd::Rm(a) } => commands::images::remove(g, a),
        Cmd::Inspect(a) => commands::inspect::inspect(g, a, false),
        Cmd::Container { cmd: ContainerCmd::Inspect(a) } => commands::inspect::inspect(g, a, true),
        Cmd::Run(a) | Cmd::Container { cmd: ContainerCmd::Run(a) } => commands::run::run(g, a),
        Cmd::Create(a) | Cmd::Container { cmd: ContainerCmd::Create(a) } => commands::run::create(g, a),
        Cmd::Start(a) | Cmd::Container { cmd: ContainerCmd::Start(a) } => commands::run::start(g, a),
        Cmd::Attach(a) | Cmd::Container { cmd: ContainerCmd::Attach(a) } => commands::run::attach(g, a),
        Cmd::Stop(a) | Cmd::Container { cmd: ContainerCmd::Stop(a) } => commands::containers::stop(g, a, false),
        Cmd::Restart(a) | Cmd::Container { cmd: ContainerCmd::Restart(a) } => commands::containers::stop(g, a, true),
        Cmd::Kill(a) | Cmd::Container { cmd: ContainerCmd::Kill(a) } => commands::containers::kill(g, a),
        Cmd::Rm(a) | Cmd::Container { cmd: ContainerCmd::Rm(a) } => commands::containers::rm(g, a),
        Cmd::Ps(a) | Cmd::Container { cmd: ContainerCmd::Ls(a) } => commands::ps::ps(g, a),
        Cmd::Logs(a) | Cmd::Container { cmd: ContainerCmd::Logs(a) } => commands::logs::logs(g, a),
        Cmd::Exec(a) | Cmd::Container { cmd: ContainerCmd::Exec(a) } => commands::exec::exec(g, a),
        Cmd::Wait(a) | Cmd::Container { cmd: ContainerCmd::Wait(a) } => commands::containers::wait(g, a),
        Cmd::Top(a) | Cmd::Container { cmd: ContainerCmd::Top(a) } => commands::containers::top(g, a),
        Cmd::Port(a) | Cmd::Container { cmd: ContainerCmd::Port(a) } => commands::containers::port(g, a),
        Cmd::Rename(a) | Cmd::Container { cmd: ContainerCmd::Rename(a) } => commands::containers::rename(g, a),
        Cmd::Pause(a) | Cmd::Container { cmd: ContainerCmd::Pause(a) } => commands::containers::pause(g, a, false),
        Cmd::Unpause(a) | Cmd::Container { cmd: ContainerCmd::Unpause(a) } => commands::containers::pause(g, a, true),
        Cmd::Container { cmd: ContainerCmd::Prune(a) } => commands::containers::prune(g, a),
        Cmd::Stats(a) | Cmd::Container { cmd: ContainerCmd::Stats(a) } => commands::stats::stats(g, a),
        Cmd::Cp(a) | Cmd::Container { cmd: ContainerCmd::Cp(a) } => commands::cp::cp(g, a),
        Cmd::Diff(a) | Cmd::Container { cmd: ContainerCmd::Diff(a) } => commands::containers::diff(g, a),
        Cmd::Export(a) | Cmd::Container { cmd: ContainerCmd::Export(a) } => commands::containers::export(g, a),
        Cmd::Update(a) | Cmd::Container { cmd: ContainerCmd::Update(a) } => commands::containers::update(g, a),
        Cmd::Commit(a) | Cmd::Container { cmd: ContainerCmd::Commit(a) } => commands::containers::commit(g, a),
        Cmd::Image { cmd: ImageCmd::Inspect(a) } => commands::images::inspect(g, a, true),
        Cmd::History(a) | Cmd::Image { cmd: ImageCmd::History(a) } => commands::images::history(g, a),
        Cmd::Save(a) | Cmd::Image { cmd: ImageCmd::Save(a) } => commands::images::save(g, a),
        Cmd::Load(a) | Cmd::Image { cmd: ImageCmd::Load(a) } => commands::images::load(g, a),
        Cmd::Image { cmd: ImageCmd::Prune(a) } => commands::images::prune(g, a),
        Cmd::Pull(a) | Cmd::Image { cmd: ImageCmd::Pull(a) } => commands::registry::pull(g, a),
        Cmd::Push(a) | Cmd::Image { cmd: ImageCmd::Push(a) } => commands::registry::push(g, a),
        Cmd::Build(a) | Cmd::Image { cmd: ImageCmd::Build(a) } => commands::build::build(g, a),
        Cmd::Builder { cmd: BuilderCmd::Prune(a) } => commands::build::builder_prune(g, a),
        Cmd::Login(a) => commands::registry::login(g, a),
        Cmd::Logout(a) => commands::registry::logout(g, a),
        Cmd::Compose(a) => commands::compose::compose(g, a),
        Cmd::Scan(a) | Cmd::Image { cmd: ImageCmd::Scan(a) } => commands::scan::scan(g, a),
    };
    if let Err(f) = result {
        if let Some(m) = f.message {
            eprintln!("{m}");
        }
        std::process::exit(f.status);
    }
}
