//! berth: docker's command line for berthd. Every command is one or two Engine API calls
//! through `berth-api`'s client; output formats and exit codes follow docker's.

mod commands;
mod jsonfmt;
mod table;
mod template;
mod units;

use clap::{Args, Parser, Subcommand};

use commands::images::{HistoryArgs, ImagesArgs, ImportArgs, InspectArgs, LoadArgs, PruneArgs, RmiArgs, SaveArgs, TagArgs};
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
    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Manage berth
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
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
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
}

#[derive(Subcommand)]
enum SystemCmd {
    /// Display system-wide information
    Info(InfoArgs),
}

#[derive(Subcommand)]
enum ImageCmd {
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
                 and point berth at it with -H unix:///path/to.sock or BERTH_HOST if it is not the default socket."
            ),
            _ => format!("{e:#}"),
        };
        Failure { message: Some(message), status: 1 }
    }
}

pub type CmdResult = Result<(), Failure>;

fn main() {
    let cli = match Cli::try_parse() {
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
        Cmd::Info(a) | Cmd::System { cmd: SystemCmd::Info(a) } => commands::system::info(g, a),
        Cmd::Images(a) | Cmd::Image { cmd: ImageCmd::Ls(a) } => commands::images::list(g, a),
        Cmd::Import(a) | Cmd::Image { cmd: ImageCmd::Import(a) } => commands::images::import(g, a),
        Cmd::Tag(a) | Cmd::Image { cmd: ImageCmd::Tag(a) } => commands::images::tag(g, a),
        Cmd::Rmi(a) | Cmd::Image { cmd: ImageCmd::Rm(a) } => commands::images::remove(g, a),
        Cmd::Inspect(a) => commands::images::inspect(g, a, false),
        Cmd::Image { cmd: ImageCmd::Inspect(a) } => commands::images::inspect(g, a, true),
        Cmd::History(a) | Cmd::Image { cmd: ImageCmd::History(a) } => commands::images::history(g, a),
        Cmd::Save(a) | Cmd::Image { cmd: ImageCmd::Save(a) } => commands::images::save(g, a),
        Cmd::Load(a) | Cmd::Image { cmd: ImageCmd::Load(a) } => commands::images::load(g, a),
        Cmd::Image { cmd: ImageCmd::Prune(a) } => commands::images::prune(g, a),
    };
    if let Err(f) = result {
        if let Some(m) = f.message {
            eprintln!("{m}");
        }
        std::process::exit(f.status);
    }
}
