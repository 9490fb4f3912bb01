//! berthd: the berth engine daemon. Serves the Docker Engine API on a UNIX socket (and
//! on TCP, with mutual TLS off loopback).

mod builder;
mod config;
mod containers;
mod error;
mod events;
mod host_ids;
mod idle;
mod params;
mod routes;
mod secrets;
mod server;
mod state;
mod stream;
mod sysinfo;
mod tcp;
mod timefmt;
mod userns;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

/// Command line of berthd; names follow dockerd's.
#[derive(Parser, Debug)]
#[command(name = "berthd", version, about = "berth engine daemon: serves the Docker Engine API")]
struct Args {
    /// Daemon socket(s) to listen on (unix:///path, tcp://addr:port). Default
    /// unix:///run/berth/berth.sock. tcp:// off loopback needs --tlsverify.
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// Root directory of persistent state (images, containers, berth.db).
    #[arg(long = "data-root", value_name = "DIR")]
    data_root: Option<PathBuf>,
    /// Path to write the daemon's process id to.
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pidfile: Option<PathBuf>,
    /// Root directory of runtime state (shim sockets, runtime state).
    #[arg(long = "exec-root", value_name = "DIR")]
    exec_root: Option<PathBuf>,
    /// Enable debug logging.
    #[arg(short = 'D', long = "debug")]
    debug: bool,
    /// Group for the API socket (default berth, if that group exists).
    #[arg(short = 'G', long = "group", value_name = "GROUP")]
    group: Option<String>,
    /// Run containers in a user namespace: default, USER[:GROUP] or UID[:GID].
    #[arg(long = "userns-remap", value_name = "USER")]
    userns_remap: Option<String>,
    /// Serve tcp:// hosts over TLS (implied by --tlsverify).
    #[arg(long = "tls")]
    tls: bool,
    /// Serve tcp:// hosts over TLS and accept only clients whose certificate the CA signed.
    #[arg(long = "tlsverify")]
    tlsverify: bool,
    /// The CA that signs client certificates (default ~/.docker/ca.pem).
    #[arg(long = "tlscacert", value_name = "FILE")]
    tlscacert: Option<PathBuf>,
    /// The daemon's TLS certificate (default ~/.docker/cert.pem).
    #[arg(long = "tlscert", value_name = "FILE")]
    tlscert: Option<PathBuf>,
    /// The daemon's TLS key (default ~/.docker/key.pem).
    #[arg(long = "tlskey", value_name = "FILE")]
    tlskey: Option<PathBuf>,
    /// Daemon configuration file (Docker's daemon.json keys).
    #[arg(long = "config-file", value_name = "FILE")]
    config_file: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let cfg = config::Config::resolve(
        config::Flags { hosts: args.hosts, data_root: args.data_root, pidfile: args.pidfile, exec_root: args.exec_root, debug: args.debug, group: args.group, userns_remap: args.userns_remap, tls: config::TlsFlags { tls: args.tls, verify: args.tlsverify, ca: args.tlscacert, cert: args.tlscert, key: args.tlskey } },
        args.config_file.as_deref(),
    )?;
    let filter = std::env::var("BERTHD_LOG").unwrap_or_else(|_| if cfg.debug { "debug".into() } else { "info".into() });
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    // Memory: glibc gives every thread that mallocs its own arena, which keeps RSS high
    // after bursts of blocking work; two arenas are plenty for a daemon this size. Idle
    // blocking threads go away after 2 s instead of tokio's 10.
    // SAFETY: mallopt only changes allocator tuning; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(server::run(cfg))
}
