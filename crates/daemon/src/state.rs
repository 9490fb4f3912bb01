//! What every handler shares: the image store, the containers, exec instances, events,
//! and the daemon's identity and directories.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use berth_image::ImageStore;

use crate::config::Config;
use crate::containers::exec::Execs;
use crate::containers::Registry;
use crate::events::Events;

pub struct State {
    pub images: ImageStore,
    /// Networks, endpoints, published ports and the embedded DNS (blocking API: call
    /// from spawn_blocking).
    pub network: Arc<berth_network::NetworkManager>,
    pub volumes: berth_volume::VolumeStore,
    /// Secrets, encrypted at rest (blocking API: call from spawn_blocking).
    pub secrets: crate::secrets::SecretStore,
    pub containers: Arc<Registry>,
    pub execs: Execs,
    pub events: Events,
    pub data_root: PathBuf,
    /// Runtime state: shim directories and sockets, the runtime's state (`--exec-root`).
    pub exec_root: PathBuf,
    /// A stable engine id (Docker's `ID` in /info), kept in `<data-root>/engine-id`.
    pub engine_id: String,
    pub debug: bool,
    /// Container defaults from daemon.json (log driver and options, ulimits, DNS);
    /// replaced on SIGHUP.
    pub defaults: std::sync::RwLock<crate::config::Defaults>,
    pub config_file: Option<PathBuf>,
    /// The registry client (pull, push, login), shared for its token cache and agents.
    pub registry: berth_registry::Registry,
    /// Step cache keys → intermediate images (`docker build`'s cache).
    pub build_cache: crate::builder::cache::BuildCache,
    /// userns-remap, when on: the id maps and a user namespace for id-mapped mounts.
    pub remap: Option<Arc<crate::userns::Remap>>,
    shutting_down: AtomicBool,
}

pub type AppState = Arc<State>;

/// No way in for other users (CVE-2021-41091: a world-traversable data root let them
/// reach containers' rootfs and run their setuid binaries; berth.db holds every
/// container's environment). 0710 rather than 0700 so a remapped root's group can
/// still reach the rootfs under userns-remap (`group`: the remapped root's gid).
fn restrict(data_root: &Path, exec_root: &Path, group: Option<u32>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for dir in [data_root, exec_root] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710)).with_context(|| format!("chmod {}", dir.display()))?;
        std::os::unix::fs::chown(dir, None, Some(group.unwrap_or(0))).with_context(|| format!("chown {}", dir.display()))?;
    }
    let db = data_root.join("berth.db");
    if !db.exists() {
        std::fs::File::create(&db).with_context(|| format!("creating {}", db.display()))?;
    }
    // SQLite gives the -wal and -shm files the database file's mode.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).with_context(|| format!("chmod {}", db.display()))?;
    Ok(())
}

impl State {
    pub fn open(cfg: &Config) -> Result<State> {
        let data_root = &cfg.data_root;
        std::fs::create_dir_all(data_root).with_context(|| format!("creating data root {}", data_root.display()))?;
        std::fs::create_dir_all(&cfg.exec_root).with_context(|| format!("creating exec root {}", cfg.exec_root.display()))?;
        let remap = cfg.userns_remap.as_deref().map(crate::userns::Remap::from_setting).transpose()?.map(Arc::new);
        restrict(data_root, &cfg.exec_root, remap.as_ref().map(|r| r.root().1))?;
        let images = ImageStore::open(data_root, &data_root.join("berth.db")).with_context(|| format!("opening the image store in {}", data_root.display()))?;
        let containers = Arc::new(Registry::open(data_root).context("opening the container store")?);
        let volumes = berth_volume::VolumeStore::open(&data_root.join("volumes"), &data_root.join("berth.db")).context("opening the volume store")?;
        if let Err(e) = volumes.prune_orphans() {
            tracing::warn!("cleaning volume directories: {e}");
        }
        let secrets = crate::secrets::SecretStore::open(data_root, &data_root.join("berth.db")).context("opening the secret store")?;
        let network = Arc::new(open_network(cfg, data_root)?);
        let engine_id = engine_id(data_root)?;
        Ok(State {
            images,
            network,
            volumes,
            secrets,
            events: Events::new(containers.clone()),
            containers,
            execs: Execs::default(),
            data_root: data_root.to_owned(),
            exec_root: cfg.exec_root.clone(),
            engine_id,
            debug: cfg.debug,
            defaults: std::sync::RwLock::new(cfg.defaults.clone()),
            config_file: cfg.config_file.clone(),
            registry: registry_client(cfg),
            build_cache: crate::builder::cache::BuildCache::open(&data_root.join("berth.db")).context("opening the build cache")?,
            remap,
            shutting_down: AtomicBool::new(false),
        })
    }

    /// Where berth-runtime keeps its per-container state.
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime")
    }

    pub fn defaults(&self) -> crate::config::Defaults {
        self.defaults.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }
}

/// Reads the engine id, making a random UUID-shaped one on first start.
fn engine_id(data_root: &Path) -> Result<String> {
    let path = data_root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_owned());
        }
    }
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).context("reading /dev/urandom")?;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let id = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &id).and_then(|()| std::fs::rename(&tmp, &path)).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// The registry client from daemon.json's registry settings; blob sources (for
/// cross-repository mounts on push) are remembered under `<data-root>/registry`.
fn registry_client(cfg: &Config) -> berth_registry::Registry {
    let r = &cfg.registries;
    let options = berth_registry::RegistryOptions {
        insecure_registries: r.insecure_registries.clone(),
        mirrors: r.mirrors.clone(),
        certs_dir: Some(r.certs_dir.clone()),
        user_agent: format!("berth/{}", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    };
    berth_registry::Registry::new(options).with_blob_sources(berth_registry::BlobSources::new(cfg.data_root.join("registry/blob-sources")))
}

/// The network manager for this daemon: its default bridge and nftables table from the
/// config, netns files under the exec root, the embedded DNS on this tokio runtime.
fn open_network(cfg: &Config, data_root: &Path) -> Result<berth_network::NetworkManager> {
    let mut nc = berth_network::Config::new(data_root.join("berth.db"), &cfg.exec_root);
    nc.bip = cfg.network.bip.clone();
    nc.mtu = cfg.network.mtu;
    if let Some(b) = cfg.network.bridge.as_deref().filter(|b| !b.is_empty() && *b != "berth0") {
        nc.default_bridge = b.to_owned();
        nc.nft_table = format!("berth_{}", b.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
    }
    let dns = berth_network::Dns::new(tokio::runtime::Handle::current());
    berth_network::NetworkManager::open(nc, Some(dns)).context("opening the network store")
}
