//! Daemon configuration: command-line flags over `/etc/berth/daemon.json` (Docker's key
//! names) over defaults.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_PIDFILE: &str = "/run/berth/berthd.pid";
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
pub const DEFAULT_GROUP: &str = "berth";

/// What the command line said (unset flags are `None`/empty/false).
pub struct Flags {
    pub hosts: Vec<String>,
    pub data_root: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub exec_root: Option<PathBuf>,
    pub debug: bool,
    pub group: Option<String>,
    pub userns_remap: Option<String>,
    pub tls: TlsFlags,
}

/// `--tls`, `--tlsverify` and the certificate files, as dockerd takes them.
#[derive(Default, Debug, Clone)]
pub struct TlsFlags {
    pub tls: bool,
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// How tcp:// hosts are served: TLS with the daemon's certificate, and with `verify`
/// only to clients presenting a certificate the CA signed (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub verify: bool,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The keys of daemon.json berthd understands; unknown keys are refused, as dockerd
/// does, so a typo is not silently ignored.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(rename = "data-root")]
    data_root: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    debug: Option<bool>,
    pidfile: Option<PathBuf>,
    #[serde(rename = "exec-root")]
    exec_root: Option<PathBuf>,
    #[serde(rename = "log-driver")]
    log_driver: Option<String>,
    #[serde(rename = "log-opts")]
    log_opts: Option<std::collections::HashMap<String, String>>,
    #[serde(rename = "default-ulimits")]
    default_ulimits: Option<std::collections::HashMap<String, Ulimit>>,
    dns: Option<Vec<String>>,
    #[serde(rename = "dns-search")]
    dns_search: Option<Vec<String>>,
    #[serde(rename = "dns-opts")]
    dns_opts: Option<Vec<String>>,
    /// Only overlay2 exists (layers are overlayfs lower dirs); anything else is refused.
    #[serde(rename = "storage-driver")]
    storage_driver: Option<String>,
    /// Accepted for compatibility: berth always keeps containers running across a
    /// daemon restart (the shims own them), so there is nothing to switch.
    #[serde(rename = "live-restore")]
    #[allow(dead_code)]
    live_restore: Option<bool>,
    /// Registries reached without TLS verification / over HTTP (names or CIDRs).
    #[serde(rename = "insecure-registries")]
    insecure_registries: Option<Vec<String>>,
    /// Mirrors tried before Docker Hub for docker.io pulls.
    #[serde(rename = "registry-mirrors")]
    registry_mirrors: Option<Vec<String>>,
    /// berth's own key: where per-registry CAs and client certificates live
    /// (Docker's certs.d layout; default /etc/berth/certs.d).
    #[serde(rename = "certs-dir")]
    certs_dir: Option<PathBuf>,
    /// The default bridge network's gateway address and prefix (`172.17.0.1/16`).
    bip: Option<String>,
    /// The default bridge network's MTU (Docker's `mtu`).
    mtu: Option<u32>,
    /// berth's own key: the host bridge of the default network (default berth0). Its
    /// nftables table is `berth` for berth0, `berth_<bridge>` otherwise, so several
    /// daemons (tests) never touch each other's rules.
    bridge: Option<String>,
    /// The seccomp profile of containers that name none: `builtin` (Docker's
    /// default), `unconfined`, or a profile file's path.
    #[serde(rename = "seccomp-profile")]
    seccomp_profile: Option<String>,
    /// The group given the API socket (dockerd's `group`, default `docker`; ours
    /// `berth`): members may drive berthd without root.
    group: Option<String>,
    /// Containers' root as an unprivileged host uid: `default` (the `berth` user),
    /// `user[:group]` or `uid[:gid]` with ranges in /etc/subuid and /etc/subgid.
    #[serde(rename = "userns-remap")]
    userns_remap: Option<String>,
    /// Run every container that does not say otherwise (HostConfig.Init null) with an
    /// init process as PID 1.
    init: Option<bool>,
    /// The init binary to use instead of the berth-init built into berthd.
    #[serde(rename = "init-path")]
    init_path: Option<PathBuf>,
    tls: Option<bool>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
}

/// Docker's daemon.json ulimit: `{"Name": "nofile", "Hard": 64000, "Soft": 64000}`.
#[derive(Deserialize, Clone, Debug)]
pub struct Ulimit {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Hard")]
    pub hard: i64,
    #[serde(rename = "Soft")]
    pub soft: i64,
}

/// Container defaults from daemon.json; SIGHUP reloads them, as dockerd reloads its
/// reloadable keys.
#[derive(Clone, Debug, Default)]
pub struct Defaults {
    pub log_driver: String,
    pub log_opts: std::collections::HashMap<String, String>,
    pub ulimits: Vec<Ulimit>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opts: Vec<String>,
    pub seccomp: crate::containers::seccomp::DaemonDefault,
    /// daemon.json's `init`: the default of HostConfig.Init.
    pub init: bool,
    /// daemon.json's `init-path`: an init binary of the operator's (static, like
    /// docker-init) instead of the embedded berth-init.
    pub init_path: Option<PathBuf>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub sockets: Vec<PathBuf>,
    /// tcp:// listen addresses (`host:port`), checked against the TLS rules.
    pub tcp: Vec<String>,
    /// TLS for the tcp:// listeners (None: plain HTTP, loopback only).
    pub tls: Option<ServerTls>,
    /// `-H fd://`: listen on the socket systemd passed (LISTEN_FDS).
    pub socket_activated: bool,
    pub data_root: PathBuf,
    pub pidfile: PathBuf,
    pub exec_root: PathBuf,
    pub debug: bool,
    pub defaults: Defaults,
    /// The file read (None: the default path, absent).
    pub config_file: Option<PathBuf>,
    /// How registries are reached (daemon.json's insecure-registries, registry-mirrors,
    /// certs-dir).
    pub registries: RegistryConfig,
    pub network: NetworkConfig,
    /// The socket's group, and whether it was asked for (a missing default group
    /// leaves the socket root-only; a missing named one is an error).
    pub socket_group: (String, bool),
    pub userns_remap: Option<String>,
}

/// The default bridge network's settings.
#[derive(Debug, Clone, Default)]
pub struct NetworkConfig {
    pub bip: Option<String>,
    pub mtu: Option<u32>,
    pub bridge: Option<String>,
}

/// Registry access settings.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    pub insecure_registries: Vec<String>,
    pub mirrors: Vec<String>,
    pub certs_dir: PathBuf,
}

pub const DEFAULT_CERTS_DIR: &str = "/etc/berth/certs.d";

impl Config {
    /// Merges flags over the config file. A missing default file is fine; a missing
    /// file named with `--config-file` is an error.
    pub fn resolve(flags: Flags, config_file: Option<&Path>) -> Result<Config> {
        let (path, explicit) = match config_file {
            Some(p) => (p.to_owned(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<FileConfig>(&bytes).with_context(|| format!("reading config file {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => FileConfig::default(),
            Err(e) => return Err(e).with_context(|| format!("reading config file {}", path.display())),
        };
        let defaults = defaults_from(&file)?;
        let tls = server_tls(&flags.tls, &file);
        let hosts = if !flags.hosts.is_empty() { flags.hosts } else { file.hosts.unwrap_or_default() };
        let mut sockets = Vec::new();
        let mut tcp = Vec::new();
        let mut socket_activated = false;
        for h in &hosts {
            // systemd socket activation (contrib/berth.socket): the listener is fd 3.
            if h == "fd://" || h == "fd://3" {
                socket_activated = true;
                continue;
            }
            match berth_api::Host::parse(h) {
                Ok(host @ berth_api::Host::Tcp { .. }) => {
                    let addr = host.tcp_address(tls.is_some()).unwrap_or_default();
                    if !tls.as_ref().is_some_and(|t| t.verify) && !is_loopback(&addr) {
                        bail!(
                            "refusing to listen on {host} without --tlsverify: whoever reaches it would be root on this host. \
                             Use --tlsverify with --tlscacert, --tlscert and --tlskey (clients need a certificate the CA signed), or a loopback address"
                        );
                    }
                    tcp.push(addr);
                }
                Ok(host) => sockets.push(host.socket().map(Path::to_owned).unwrap_or_default()),
                Err(e) => bail!("{e}"),
            }
        }
        if sockets.is_empty() && tcp.is_empty() && !socket_activated {
            sockets.push(PathBuf::from(berth_api::host::DEFAULT_SOCKET));
        }
        let data_root = flags.data_root.or(file.data_root).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_ROOT));
        if !data_root.is_absolute() {
            bail!("data-root {} must be an absolute path", data_root.display());
        }
        if let Some(m) = file.mtu.filter(|m| !(68..=65535).contains(m)) {
            bail!("mtu {m} is out of range: an MTU from 68 to 65535");
        }
        Ok(Config {
            sockets,
            tls: if tcp.is_empty() { None } else { tls },
            tcp,
            socket_activated,
            data_root,
            pidfile: flags.pidfile.or(file.pidfile).unwrap_or_else(|| PathBuf::from(DEFAULT_PIDFILE)),
            exec_root: flags.exec_root.or(file.exec_root).unwrap_or_else(|| PathBuf::from(DEFAULT_EXEC_ROOT)),
            debug: flags.debug || file.debug.unwrap_or(false),
            defaults,
            config_file: if explicit || path.exists() { Some(path.clone()) } else { None },
            registries: RegistryConfig {
                insecure_registries: file.insecure_registries.clone().unwrap_or_default(),
                mirrors: file.registry_mirrors.clone().unwrap_or_default(),
                certs_dir: file.certs_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CERTS_DIR)),
            },
            network: NetworkConfig { bip: file.bip.clone(), bridge: file.bridge.clone(), mtu: file.mtu },
            userns_remap: flags.userns_remap.or(file.userns_remap.clone()).filter(|s| !s.is_empty()),
            socket_group: match flags.group.or(file.group.clone()) {
                Some(g) => (g, true),
                None => (DEFAULT_GROUP.to_owned(), false),
            },
        })
    }
}

/// dockerd's rules: `tlsverify` implies TLS; the files are the flags', else daemon.json's,
/// else `$DOCKER_CERT_PATH` or `~/.docker` `{ca,cert,key}.pem`.
fn server_tls(flags: &TlsFlags, file: &FileConfig) -> Option<ServerTls> {
    let verify = flags.verify || file.tlsverify.unwrap_or(false);
    if !(verify || flags.tls || file.tls.unwrap_or(false)) {
        return None;
    }
    let dir = std::env::var_os("DOCKER_CERT_PATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".docker"));
    let pick = |flag: &Option<PathBuf>, key: &Option<PathBuf>, name: &str| flag.clone().or_else(|| key.clone()).unwrap_or_else(|| dir.join(name));
    Some(ServerTls {
        verify,
        ca: pick(&flags.ca, &file.tlscacert, "ca.pem"),
        cert: pick(&flags.cert, &file.tlscert, "cert.pem"),
        key: pick(&flags.key, &file.tlskey, "key.pem"),
    })
}

/// Whether every address `host:port` resolves to is a loopback one.
fn is_loopback(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    match addr.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

fn defaults_from(file: &FileConfig) -> Result<Defaults> {
    if let Some(d) = file.storage_driver.as_deref() {
        if d != "overlay2" && d != "overlay" {
            bail!("storage-driver {d:?} is not supported: berth uses overlay2");
        }
    }
    let log_driver = match file.log_driver.as_deref() {
        None | Some("") => "json-file".to_owned(),
        Some(d @ ("json-file" | "local" | "none")) => d.to_owned(),
        Some(d) => bail!("log-driver {d:?} in the config file is not supported (json-file, local, none)"),
    };
    let mut ulimits: Vec<Ulimit> = file.default_ulimits.clone().unwrap_or_default().into_values().collect();
    ulimits.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Defaults {
        log_driver,
        log_opts: file.log_opts.clone().unwrap_or_default(),
        ulimits,
        dns: file.dns.clone().unwrap_or_default(),
        dns_search: file.dns_search.clone().unwrap_or_default(),
        dns_opts: file.dns_opts.clone().unwrap_or_default(),
        seccomp: crate::containers::seccomp::DaemonDefault::from_setting(file.seccomp_profile.as_deref())?,
        init: file.init.unwrap_or(false),
        init_path: match &file.init_path {
            Some(p) if !p.is_absolute() => bail!("init-path {} must be an absolute path", p.display()),
            Some(p) if !p.is_file() => bail!("init-path {}: no such file", p.display()),
            p => p.clone(),
        },
    })
}

/// Re-reads the reloadable keys (SIGHUP). Keys that need a restart (data-root, hosts)
/// are left as they are.
pub fn reload_defaults(path: &Path) -> Result<Defaults> {
    let bytes = std::fs::read(path).with_context(|| format!("reading config file {}", path.display()))?;
    let file: FileConfig = serde_json::from_slice(&bytes).with_context(|| format!("reading config file {}", path.display()))?;
    defaults_from(&file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        Flags { hosts: vec![], data_root: None, pidfile: None, exec_root: None, debug: false, group: None, userns_remap: None, tls: TlsFlags::default() }
    }

    #[test]
    fn flags_override_file() {
        let dir = std::env::temp_dir().join(format!("berthd-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("daemon.json");
        std::fs::write(&f, r#"{"data-root":"/srv/berth","hosts":["unix:///tmp/a.sock"],"debug":true}"#).unwrap();
        let c = Config::resolve(flags(), Some(&f)).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/srv/berth"));
        assert_eq!(c.sockets, vec![PathBuf::from("/tmp/a.sock")]);
        assert!(c.debug);
        let c = Config::resolve(Flags { data_root: Some("/x".into()), hosts: vec!["unix:///b".into()], ..flags() }, Some(&f)).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/x"));
        assert_eq!(c.sockets, vec![PathBuf::from("/b")]);
        std::fs::write(&f, r#"{"data_root":"/srv"}"#).unwrap();
        assert!(format!("{:#}", Config::resolve(flags(), Some(&f)).unwrap_err()).contains("data_root"));
        assert!(Config::resolve(flags(), Some(&dir.join("missing.json"))).is_err());
        std::fs::write(&f, r#"{"mtu": 1400}"#).unwrap();
        assert_eq!(Config::resolve(flags(), Some(&f)).unwrap().network.mtu, Some(1400));
        std::fs::write(&f, r#"{"mtu": 40}"#).unwrap();
        assert!(format!("{:#}", Config::resolve(flags(), Some(&f)).unwrap_err()).contains("mtu 40 is out of range"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tcp_off_loopback_needs_tlsverify() {
        let resolve = |hosts: &[&str], tls: TlsFlags| Config::resolve(Flags { hosts: hosts.iter().map(|h| h.to_string()).collect(), tls, ..flags() }, None).map_err(|e| e.to_string());
        let c = resolve(&["tcp://127.0.0.1:2375"], TlsFlags::default()).unwrap();
        assert_eq!((c.tcp, c.tls, c.sockets.len()), (vec!["127.0.0.1:2375".to_owned()], None, 0));
        let err = resolve(&["tcp://0.0.0.0:2375"], TlsFlags::default()).unwrap_err();
        assert!(err.contains("refusing to listen on tcp://0.0.0.0:2375 without --tlsverify"), "{err}");
        // TLS without client verification is still open to anyone: refused too.
        assert!(resolve(&["tcp://0.0.0.0"], TlsFlags { tls: true, ..Default::default() }).is_err());
        let c = resolve(&["tcp://0.0.0.0", "unix:///tmp/s.sock"], TlsFlags { verify: true, ca: Some("/c/ca.pem".into()), ..Default::default() }).unwrap();
        assert_eq!(c.tcp, vec!["0.0.0.0:2376".to_owned()], "the TLS port is the default with TLS");
        let t = c.tls.unwrap();
        assert!(t.verify);
        assert_eq!(t.ca, PathBuf::from("/c/ca.pem"));
        assert!(t.cert.ends_with("cert.pem"));
        assert!(resolve(&["tcp://h:99999"], TlsFlags::default()).unwrap_err().contains("port"));
    }
}
