//! `run` / `create` flags and their mapping to the create body (`Config` +
//! `HostConfig` + `NetworkingConfig`), filled as docker's CLI fills them
//! (cli/command/container/opts.go). Every value is checked here, so a bad one fails
//! with docker's wording and exit status 125 before any request is made.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{json, Map, Value};

use crate::values::{self, Ports};
use crate::Failure;

#[derive(Args, Debug, Default, Clone)]
pub struct ContainerOptions {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns")]
    pub cgroupns: Option<String>,
    /// Write the container ID to the file
    #[arg(long = "cidfile")]
    pub cidfile: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<String>,
    /// Number of CPUs
    #[arg(long = "cpus")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Add a host device to the container
    #[arg(long = "device")]
    pub device: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Container NIS domain name
    #[arg(long = "domainname")]
    pub domainname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint")]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<String>,
    /// Start period for the container to initialize before counting retries (ms|s|m|h)
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname")]
    pub hostname: Option<String>,
    /// Print usage
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run an init inside the container that forwards signals and reaps processes
    /// (`--init=false` opts out of daemon.json's `init: true`)
    #[arg(long = "init", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub init: Option<bool>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6")]
    pub ip6: Option<String>,
    /// IPC mode to use
    #[arg(long = "ipc")]
    pub ipc: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Add link to another container
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", allow_hyphen_values = true)]
    pub memory_swappiness: Option<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Assign a name to the container
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<String>,
    /// PID namespace to use
    #[arg(long = "pid")]
    pub pid: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long = "pull", default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart")]
    pub restart: Option<String>,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Runtime to use for this container
    #[arg(long = "runtime")]
    pub runtime: Option<String>,
    /// Give the container a secret (source=NAME[,target=FILE,uid=,gid=,mode=] or NAME)
    #[arg(long = "secret")]
    pub secret: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<String>,
    /// Storage driver options for the container
    #[arg(long = "storage-opt")]
    pub storage_opt: Vec<String>,
    /// Sysctl options
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// User namespace to use
    #[arg(long = "userns")]
    pub userns: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts")]
    pub uts: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
}

/// What `create` sends: the body, the `name` and `platform` query values.
#[derive(Debug)]
pub struct CreateRequest {
    pub name: Option<String>,
    pub platform: Option<String>,
    pub body: Value,
}

/// A bad flag value, reported as docker's pflag does (`invalid argument "12q" for
/// "-m, --memory" flag: invalid size: '12q'`), exit status 125.
pub fn flag_error(cmd: &str, flag: &str, value: &str, msg: &str) -> Failure {
    Failure { message: Some(format!("invalid argument \"{value}\" for \"{flag}\" flag: {msg}\n\nUsage:  {}\n\nRun 'berth {cmd} --help' for more information", usage(cmd))), status: 125 }
}

/// A bad combination or spec found while building the body, as docker's
/// `reportError` prints it, exit status 125.
pub fn parse_error(cmd: &str, msg: &str) -> Failure {
    Failure { message: Some(cli_error(cmd, msg)), status: 125 }
}

/// docker's usage line for the commands that take container options.
fn usage(cmd: &str) -> String {
    match cmd {
        "run" | "create" => format!("berth {cmd} [OPTIONS] IMAGE [COMMAND] [ARG...]"),
        "exec" => "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]".to_owned(),
        other => format!("berth {other} [OPTIONS] CONTAINER [CONTAINER...]"),
    }
}

/// docker's `berth: <message>` + pointer to help (its current wording).
pub fn cli_error(cmd: &str, msg: &str) -> String {
    format!("berth: {msg}\n\nRun 'berth {cmd} --help' for more information")
}

fn int<T: std::str::FromStr>(cmd: &str, flag: &str, v: &str) -> Result<T, Failure> {
    v.parse::<T>().map_err(|_| flag_error(cmd, flag, v, &format!("strconv.ParseInt: parsing \"{v}\": invalid syntax")))
}

/// docker's parseSecurityOpts: `seccomp=PATH` is sent as the profile's compacted
/// contents, since the daemon cannot read the client's files.
fn security_opts(opts: &[String]) -> Result<Vec<String>, String> {
    opts.iter()
        .map(|o| {
            let Some((k, v)) = o.split_once(['=', ':']) else { return Ok(o.clone()) };
            if k != "seccomp" || v == "unconfined" || v == "builtin" {
                return Ok(o.clone());
            }
            let text = std::fs::read_to_string(v).map_err(|e| format!("opening seccomp profile ({v}) failed: {e}"))?;
            let json: Value = serde_json::from_str(&text).map_err(|e| format!("compacting json for seccomp profile ({v}) failed: {e}"))?;
            Ok(format!("seccomp={json}"))
        })
        .collect()
}

impl ContainerOptions {
    /// Builds the create request for `image` and `args` (the command). `cmd` names the
    /// command (run/create) for error messages; `detached` is run's `-d`.
    pub fn to_request(&self, cmd: &str, image: &str, args: &[String], detached: bool) -> Result<CreateRequest, Failure> {
        let fe = |flag: &str, v: &str, e: String| flag_error(cmd, flag, v, &e);
        let pe = |e: String| parse_error(cmd, &e);

        if !matches!(self.pull.as_str(), "always" | "missing" | "never") {
            return Err(pe(format!("invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"", self.pull)));
        }

        // Sizes and numbers, in the order docker's flags define them.
        let size = |flag: &str, v: &Option<String>| -> Result<Option<i64>, Failure> {
            v.as_deref().map(|s| values::ram_in_bytes(s).map_err(|e| fe(flag, s, e))).transpose()
        };
        let memory = size("-m, --memory", &self.memory)?;
        let memory_reservation = size("--memory-reservation", &self.memory_reservation)?;
        let shm_size = size("--shm-size", &self.shm_size)?;
        let memory_swap = self.memory_swap.as_deref().map(|s| values::mem_swap_bytes(s).map_err(|e| fe("--memory-swap", s, e))).transpose()?;
        let nano_cpus = self.cpus.as_deref().map(|s| values::nano_cpus(s).map_err(|e| fe("--cpus", s, e))).transpose()?;
        let cpu_shares: Option<i64> = self.cpu_shares.as_deref().map(|s| int(cmd, "-c, --cpu-shares", s)).transpose()?;
        let pids_limit: Option<i64> = self.pids_limit.as_deref().map(|s| int(cmd, "--pids-limit", s)).transpose()?;
        let oom_score_adj: Option<i64> = self.oom_score_adj.as_deref().map(|s| int(cmd, "--oom-score-adj", s)).transpose()?;
        let stop_timeout: Option<i64> = self.stop_timeout.as_deref().map(|s| int(cmd, "--stop-timeout", s)).transpose()?;
        let swappiness: Option<i64> = self.memory_swappiness.as_deref().map(|s| int(cmd, "--memory-swappiness", s)).transpose()?;
        if let Some(s) = swappiness {
            if !(-1..=100).contains(&s) {
                return Err(pe(format!("invalid value: {s}. Valid memory swappiness range is 0-100")));
            }
        }
        if let Some(o) = oom_score_adj {
            if !(-1000..=1000).contains(&o) {
                return Err(pe(format!("oom-score-adj must be between -1000 and 1000 (got {o})")));
            }
        }

        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(values::kv_file(f, true).map_err(pe)?);
        }
        for e in &self.env {
            env.push(values::env_var(e).map_err(|m| fe("-e, --env", e, m))?);
        }
        let mut labels = Map::new();
        let mut label_lines = Vec::new();
        for f in &self.label_file {
            label_lines.extend(values::kv_file(f, false).map_err(pe)?);
        }
        label_lines.extend(self.label.iter().cloned());
        for l in &label_lines {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            if k.is_empty() {
                return Err(fe("-l, --label", l, format!("invalid label format: {l}")));
            }
            labels.insert(k.to_owned(), v.into());
        }

        let mut ports = Ports::default();
        for p in &self.publish {
            values::add_publish(&mut ports, &values::publish_standard_notation(p).map_err(pe)?).map_err(pe)?;
        }
        for e in &self.expose {
            values::add_expose(&mut ports, e).map_err(pe)?;
        }

        let restart = self.restart.as_deref().map(|r| values::restart_policy(r).map_err(pe)).transpose()?;
        if self.rm && restart.as_ref().is_some_and(|r| !matches!(r["Name"].as_str(), Some("" | "no"))) {
            return Err(pe("conflicting options: cannot specify both --restart and --rm".into()));
        }

        let ulimits = self.ulimit.iter().map(|u| values::ulimit(u).map_err(|e| fe("--ulimit", u, e))).collect::<Result<Vec<_>, _>>()?;
        let devices = self.device.iter().map(|d| values::device(d).map_err(pe)).collect::<Result<Vec<_>, _>>()?;
        let extra_hosts = self.add_host.iter().map(|h| values::extra_host(h).map_err(|e| fe("--add-host", h, e))).collect::<Result<Vec<_>, _>>()?;
        let dns = self.dns.iter().map(|d| values::ip_address(d).map_err(|e| fe("--dns", d, e))).collect::<Result<Vec<_>, _>>()?;
        let mut sysctls = Map::new();
        for s in &self.sysctl {
            let (k, v) = values::sysctl(s).map_err(|e| fe("--sysctl", s, e))?;
            sysctls.insert(k, v.into());
        }
        let mounts = self.mount.iter().map(|m| values::mount(m).map_err(|e| fe("--mount", m, e))).collect::<Result<Vec<_>, _>>()?;
        let secrets = self.secret.iter().map(|s| values::secret(s).map_err(|e| fe("--secret", s, e))).collect::<Result<Vec<_>, _>>()?;
        let mut binds = Vec::new();
        let mut volumes = Map::new();
        for v in &self.volume {
            match values::volume(v).map_err(pe)? {
                Some(b) => binds.push(b),
                None => {
                    volumes.insert(v.clone(), json!({}));
                }
            }
        }
        let mut tmpfs = Map::new();
        for t in &self.tmpfs {
            let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
            tmpfs.insert(path.to_owned(), opts.into());
        }
        let mut log_config = Map::new();
        for o in &self.log_opt {
            let (k, v) = o.split_once('=').ok_or_else(|| pe(format!("invalid key-value format for --log-opt: {o}")))?;
            log_config.insert(k.to_owned(), v.into());
        }
        let mut storage_opt = Map::new();
        for o in &self.storage_opt {
            let (k, v) = o.split_once('=').ok_or_else(|| pe(format!("invalid storage option {o}")))?;
            storage_opt.insert(k.to_owned(), v.into());
        }

        let healthcheck = self.healthcheck(cmd)?;

        // Attach streams (docker's rules): -d attaches none; -a picks; else stdout and
        // stderr, plus stdin with -i.
        let (mut attach_stdin, mut attach_stdout, mut attach_stderr) = (false, false, false);
        if !detached {
            if self.attach.is_empty() {
                attach_stdout = true;
                attach_stderr = true;
                attach_stdin = self.interactive;
            } else {
                for a in &self.attach {
                    match a.to_ascii_lowercase().as_str() {
                        "stdin" => attach_stdin = true,
                        "stdout" => attach_stdout = true,
                        "stderr" => attach_stderr = true,
                        _ => return Err(fe("-a, --attach", a, format!("valid streams are STDIN, STDOUT and STDERR"))),
                    }
                }
            }
        } else if !self.attach.is_empty() {
            return Err(pe("conflicting options: cannot specify both --attach and --detach".into()));
        }

        let entrypoint = match self.entrypoint.as_deref() {
            Some("") => Some(vec![String::new()]),
            Some(e) => Some(vec![e.to_owned()]),
            None => None,
        };

        // The network, as docker's parseNetworkOpts: the first --network is the mode
        // and takes --network-alias/--ip/--ip6/--mac-address; no --network is the
        // "default" endpoint; one --network with nothing to say sends no endpoint.
        let mut attachments = self.network.iter().map(|n| values::network_attachment(n).map_err(|e| fe("--network", n, e))).collect::<Result<Vec<_>, _>>()?;
        let network_mode = attachments.first().map(|a| a.target.clone()).unwrap_or_else(|| "default".to_owned());
        let single = attachments.len() == 1;
        let mut first = values::NetworkAttachment { target: "default".into(), ..Default::default() };
        let first = match attachments.first_mut() {
            Some(a) => a,
            None => &mut first,
        };
        if !first.aliases.is_empty() && !self.network_alias.is_empty() {
            return Err(pe("conflicting options: cannot specify both --network-alias and per-network alias".into()));
        }
        if first.ipv4.is_some() && self.ip.is_some() {
            return Err(pe("conflicting options: cannot specify both --ip and per-network IPv4 address".into()));
        }
        if first.ipv6.is_some() && self.ip6.is_some() {
            return Err(pe("conflicting options: cannot specify both --ip6 and per-network IPv6 address".into()));
        }
        if first.mac.is_some() && self.mac_address.is_some() {
            return Err(pe("conflicting options: cannot specify both --mac-address and per-network MAC address".into()));
        }
        if !self.network_alias.is_empty() {
            first.aliases = self.network_alias.clone();
        }
        if let Some(ip) = &self.ip {
            first.ipv4 = Some(values::ip_flag(ip).map_err(|e| fe("--ip", ip, e))?);
        }
        if let Some(ip) = &self.ip6 {
            first.ipv6 = Some(values::ip_flag(ip).map_err(|e| fe("--ip6", ip, e))?);
        }
        if let Some(mac) = &self.mac_address {
            first.mac = Some(mac.clone());
        }
        let mut endpoints = Map::new();
        if self.network.is_empty() {
            endpoints.insert("default".into(), first.endpoint().map_err(pe)?);
        }
        let (mut user_defined, mut builtin) = (false, false);
        for (i, a) in attachments.iter().enumerate() {
            if values::is_user_defined_network(&a.target) {
                user_defined = true;
            } else {
                builtin = true;
            }
            let ep = a.endpoint().map_err(pe)?;
            if endpoints.contains_key(&a.target) {
                return Err(pe(format!("network \"{}\" is specified multiple times", a.target)));
            }
            if i == 0 && single && ep.as_object().is_some_and(Map::is_empty) {
                continue;
            }
            endpoints.insert(a.target.clone(), ep);
        }
        if user_defined && builtin {
            return Err(pe("conflicting options: cannot attach both user-defined and non-user-defined network-modes".into()));
        }

        let mut config = Map::new();
        let put = |m: &mut Map<String, Value>, k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put(&mut config, "Hostname", json!(self.hostname.clone().unwrap_or_default()));
        put(&mut config, "Domainname", json!(self.domainname.clone().unwrap_or_default()));
        put(&mut config, "User", json!(self.user.clone().unwrap_or_default()));
        put(&mut config, "AttachStdin", json!(attach_stdin));
        put(&mut config, "AttachStdout", json!(attach_stdout));
        put(&mut config, "AttachStderr", json!(attach_stderr));
        if !ports.exposed.is_empty() {
            put(&mut config, "ExposedPorts", json!(ports.exposed));
        }
        put(&mut config, "Tty", json!(self.tty));
        put(&mut config, "OpenStdin", json!(self.interactive));
        put(&mut config, "StdinOnce", json!(self.interactive && attach_stdin && !detached));
        put(&mut config, "Env", json!(env));
        put(&mut config, "Cmd", if args.is_empty() { Value::Null } else { json!(args) });
        if let Some(h) = healthcheck {
            put(&mut config, "Healthcheck", h);
        }
        put(&mut config, "Image", json!(image));
        put(&mut config, "Volumes", if volumes.is_empty() { Value::Null } else { Value::Object(volumes) });
        put(&mut config, "WorkingDir", json!(self.workdir.clone().unwrap_or_default()));
        put(&mut config, "Entrypoint", json!(entrypoint));
        put(&mut config, "OnBuild", Value::Null);
        put(&mut config, "Labels", Value::Object(labels));
        if let Some(s) = &self.stop_signal {
            put(&mut config, "StopSignal", json!(s));
        }
        if let Some(t) = stop_timeout {
            put(&mut config, "StopTimeout", json!(t));
        }

        let mut host = Map::new();
        put(&mut host, "Binds", if binds.is_empty() { Value::Null } else { json!(binds) });
        put(&mut host, "ContainerIDFile", json!(self.cidfile.clone().unwrap_or_default()));
        put(&mut host, "LogConfig", json!({"Type": self.log_driver.clone().unwrap_or_default(), "Config": log_config}));
        put(&mut host, "NetworkMode", json!(network_mode));
        put(&mut host, "PortBindings", json!(ports.bindings));
        put(&mut host, "RestartPolicy", restart.unwrap_or_else(|| json!({"Name": "no", "MaximumRetryCount": 0})));
        put(&mut host, "AutoRemove", json!(self.rm));
        if !secrets.is_empty() {
            // berth's extension: swarm's SecretReference items, mounted by berthd.
            put(&mut host, "BerthSecrets", json!(secrets));
        }
        put(&mut host, "VolumeDriver", json!(""));
        put(&mut host, "VolumesFrom", if self.volumes_from.is_empty() { Value::Null } else { json!(self.volumes_from) });
        put(&mut host, "CapAdd", if self.cap_add.is_empty() { Value::Null } else { json!(self.cap_add) });
        put(&mut host, "CapDrop", if self.cap_drop.is_empty() { Value::Null } else { json!(self.cap_drop) });
        put(&mut host, "CgroupnsMode", json!(self.cgroupns.clone().unwrap_or_default()));
        put(&mut host, "Dns", json!(dns));
        put(&mut host, "DnsOptions", json!(self.dns_option));
        put(&mut host, "DnsSearch", json!(self.dns_search));
        put(&mut host, "ExtraHosts", if extra_hosts.is_empty() { Value::Null } else { json!(extra_hosts) });
        put(&mut host, "Links", if self.link.is_empty() { Value::Null } else { json!(self.link) });
        put(&mut host, "GroupAdd", if self.group_add.is_empty() { Value::Null } else { json!(self.group_add) });
        put(&mut host, "IpcMode", json!(self.ipc.clone().unwrap_or_default()));
        put(&mut host, "Cgroup", json!(""));
        put(&mut host, "OomScoreAdj", json!(oom_score_adj.unwrap_or(0)));
        put(&mut host, "PidMode", json!(self.pid.clone().unwrap_or_default()));
        put(&mut host, "Privileged", json!(self.privileged));
        put(&mut host, "PublishAllPorts", json!(self.publish_all));
        put(&mut host, "ReadonlyRootfs", json!(self.read_only));
        let security_opt = security_opts(&self.security_opt).map_err(pe)?;
        put(&mut host, "SecurityOpt", if security_opt.is_empty() { Value::Null } else { json!(security_opt) });
        if !storage_opt.is_empty() {
            put(&mut host, "StorageOpt", Value::Object(storage_opt));
        }
        if !tmpfs.is_empty() {
            put(&mut host, "Tmpfs", Value::Object(tmpfs));
        }
        put(&mut host, "UTSMode", json!(self.uts.clone().unwrap_or_default()));
        put(&mut host, "UsernsMode", json!(self.userns.clone().unwrap_or_default()));
        put(&mut host, "ShmSize", json!(shm_size.unwrap_or(0)));
        if !sysctls.is_empty() {
            put(&mut host, "Sysctls", Value::Object(sysctls));
        }
        if let Some(r) = &self.runtime {
            put(&mut host, "Runtime", json!(r));
        }
        // Resources.
        put(&mut host, "CpuShares", json!(cpu_shares.unwrap_or(0)));
        put(&mut host, "Memory", json!(memory.unwrap_or(0)));
        put(&mut host, "NanoCpus", json!(nano_cpus.unwrap_or(0)));
        put(&mut host, "CpusetCpus", json!(self.cpuset_cpus.clone().unwrap_or_default()));
        put(&mut host, "CpusetMems", json!(self.cpuset_mems.clone().unwrap_or_default()));
        put(&mut host, "Devices", json!(devices));
        put(&mut host, "MemoryReservation", json!(memory_reservation.unwrap_or(0)));
        put(&mut host, "MemorySwap", json!(memory_swap.unwrap_or(0)));
        put(&mut host, "MemorySwappiness", json!(swappiness));
        put(&mut host, "OomKillDisable", json!(self.oom_kill_disable));
        put(&mut host, "PidsLimit", json!(pids_limit));
        put(&mut host, "Ulimits", json!(ulimits));
        if !mounts.is_empty() {
            put(&mut host, "Mounts", json!(mounts));
        }
        if let Some(init) = self.init {
            put(&mut host, "Init", json!(init));
        }

        let mut body = config;
        body.insert("HostConfig".into(), Value::Object(host));
        body.insert("NetworkingConfig".into(), json!({"EndpointsConfig": endpoints}));
        Ok(CreateRequest { name: self.name.clone(), platform: self.platform.clone(), body: Value::Object(body) })
    }

    /// Config.Healthcheck from the --health-* flags; `NONE` with --no-healthcheck.
    fn healthcheck(&self, cmd: &str) -> Result<Option<Value>, Failure> {
        let dur = |flag: &str, v: &Option<String>| -> Result<i64, Failure> {
            match v.as_deref() {
                None => Ok(0),
                Some(s) => {
                    let d = crate::values::go_duration(s).map_err(|e| flag_error(cmd, flag, s, &e))?;
                    if d < 0 {
                        return Err(parse_error(cmd, &format!("{flag} cannot be negative")));
                    }
                    Ok(d)
                }
            }
        };
        let interval = dur("--health-interval", &self.health_interval)?;
        let timeout = dur("--health-timeout", &self.health_timeout)?;
        let start_period = dur("--health-start-period", &self.health_start_period)?;
        let start_interval = dur("--health-start-interval", &self.health_start_interval)?;
        let retries: i64 = self.health_retries.as_deref().map(|s| int(cmd, "--health-retries", s)).transpose()?.unwrap_or(0);
        if retries < 0 {
            return Err(parse_error(cmd, "--health-retries cannot be negative"));
        }
        let any = self.health_cmd.is_some() || self.health_interval.is_some() || self.health_timeout.is_some() || self.health_start_period.is_some() || self.health_retries.is_some() || self.health_start_interval.is_some();
        if self.no_healthcheck {
            if any {
                return Err(parse_error(cmd, "--no-healthcheck conflicts with --health-* options"));
            }
            return Ok(Some(json!({"Test": ["NONE"]})));
        }
        if !any {
            return Ok(None);
        }
        let test = match self.health_cmd.as_deref() {
            Some(c) if !c.is_empty() => json!(["CMD-SHELL", c]),
            _ => Value::Null,
        };
        Ok(Some(json!({"Test": test, "Interval": interval, "Timeout": timeout, "StartPeriod": start_period, "StartInterval": start_interval, "Retries": retries})))
    }
}

/// Labels from `-l` lists as a sorted map (used by tests and `commit -c` callers).
#[allow(dead_code)]
pub fn label_map(labels: &[String]) -> BTreeMap<String, String> {
    labels.iter().map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap_or((l.clone(), String::new()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        o: ContainerOptions,
        #[arg(short = 'd')]
        d: bool,
        image: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    }

    fn body(args: &[&str]) -> Result<Value, String> {
        let mut full = vec!["run"];
        full.extend_from_slice(args);
        let t = T::try_parse_from(full).map_err(|e| e.to_string())?;
        t.o.to_request("run", &t.image, &t.args, t.d).map(|r| r.body).map_err(|f| f.message.unwrap_or_default())
    }

    #[test]
    fn defaults_like_docker() {
        let b = body(&["busybox"]).unwrap();
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], Value::Null);
        assert_eq!(b["AttachStdout"], true);
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["HostConfig"]["NetworkMode"], "default");
        assert_eq!(b["HostConfig"]["RestartPolicy"]["Name"], "no");
        let b = body(&["-d", "-i", "busybox", "sh", "-c", "echo -n hi"]).unwrap();
        assert_eq!(b["Cmd"], json!(["sh", "-c", "echo -n hi"]));
        assert_eq!(b["AttachStdout"], false);
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["StdinOnce"], false);
        let b = body(&["-it", "busybox"]).unwrap();
        assert_eq!((b["Tty"].clone(), b["AttachStdin"].clone(), b["StdinOnce"].clone()), (json!(true), json!(true), json!(true)));
        let b = body(&["-a", "stderr", "busybox"]).unwrap();
        assert_eq!((b["AttachStdout"].clone(), b["AttachStderr"].clone()), (json!(false), json!(true)));
    }

    #[test]
    fn every_flag_maps() {
        let b = body(&[
            "--name", "web", "-e", "A=1", "-w", "/srv", "-u", "1000:1000", "--entrypoint", "/bin/sh", "-l", "k=v", "-h", "box", "--domainname", "example.org",
            "--restart", "on-failure:2", "-p", "8080:80", "-P", "-v", "/data", "-v", "/h:/c:ro", "--mount", "type=tmpfs,target=/t", "--tmpfs", "/run:size=1m",
            "--network", "net1", "--network-alias", "web1", "--ip", "10.1.0.5", "-m", "64m", "--memory-swap", "-1", "--memory-reservation", "32m", "--cpus", "0.5",
            "-c", "512", "--cpuset-cpus", "0", "--cpuset-mems", "0", "--pids-limit", "100", "--ulimit", "nofile=10:20", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL",
            "--privileged", "--read-only", "--security-opt", "no-new-privileges", "--device", "/dev/fuse", "--init", "--stop-signal", "SIGUSR1", "--stop-timeout", "3",
            "--health-cmd", "true", "--health-interval", "1s", "--health-timeout", "500ms", "--health-retries", "2", "--health-start-period", "1m",
            "--log-driver", "json-file", "--log-opt", "max-size=1m", "--add-host", "db:10.0.0.2", "--dns", "1.1.1.1", "--dns-search", "x.org", "--dns-option", "ndots:2",
            "--sysctl", "net.ipv4.ip_forward=1", "--shm-size", "128m", "--oom-kill-disable", "--oom-score-adj", "-500", "--runtime", "crun", "--group-add", "10",
            "--userns", "host", "--pid", "host", "--ipc", "private", "--uts", "host", "--cgroupns", "private", "--expose", "9000", "busybox", "true",
        ])
        .unwrap();
        let h = &b["HostConfig"];
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["WorkingDir"], "/srv");
        assert_eq!(b["User"], "1000:1000");
        assert_eq!(b["Entrypoint"], json!(["/bin/sh"]));
        assert_eq!(b["Labels"], json!({"k": "v"}));
        assert_eq!((b["Hostname"].as_str(), b["Domainname"].as_str()), (Some("box"), Some("example.org")));
        assert_eq!(h["RestartPolicy"], json!({"Name": "on-failure", "MaximumRetryCount": 2}));
        assert_eq!(h["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}, "9000/tcp": {}}));
        assert_eq!(h["PublishAllPorts"], true);
        assert_eq!(b["Volumes"], json!({"/data": {}}));
        assert_eq!(h["Binds"], json!(["/h:/c:ro"]));
        assert_eq!(h["Mounts"][0]["Type"], "tmpfs");
        assert_eq!(h["Tmpfs"], json!({"/run": "size=1m"}));
        assert_eq!(h["NetworkMode"], "net1");
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"]["net1"], json!({"Aliases": ["web1"], "IPAMConfig": {"IPv4Address": "10.1.0.5"}}));
        assert_eq!((h["Memory"].as_i64(), h["MemorySwap"].as_i64(), h["MemoryReservation"].as_i64()), (Some(64 << 20), Some(-1), Some(32 << 20)));
        assert_eq!(h["NanoCpus"], 500_000_000);
        assert_eq!(h["CpuShares"], 512);
        assert_eq!((h["CpusetCpus"].as_str(), h["CpusetMems"].as_str()), (Some("0"), Some("0")));
        assert_eq!(h["PidsLimit"], 100);
        assert_eq!(h["Ulimits"], json!([{"Name": "nofile", "Soft": 10, "Hard": 20}]));
        assert_eq!((h["CapAdd"].clone(), h["CapDrop"].clone()), (json!(["NET_ADMIN"]), json!(["ALL"])));
        assert_eq!((h["Privileged"].clone(), h["ReadonlyRootfs"].clone(), h["Init"].clone()), (json!(true), json!(true), json!(true)));
        assert_eq!(h["SecurityOpt"], json!(["no-new-privileges"]));
        assert_eq!(h["Devices"][0]["PathOnHost"], "/dev/fuse");
        assert_eq!((b["StopSignal"].as_str(), b["StopTimeout"].as_i64()), (Some("SIGUSR1"), Some(3)));
        assert_eq!(b["Healthcheck"], json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000i64, "Timeout": 500_000_000, "StartPeriod": 60_000_000_000i64, "StartInterval": 0, "Retries": 2}));
        assert_eq!(h["LogConfig"], json!({"Type": "json-file", "Config": {"max-size": "1m"}}));
        assert_eq!(h["ExtraHosts"], json!(["db:10.0.0.2"]));
        assert_eq!((h["Dns"].clone(), h["DnsSearch"].clone(), h["DnsOptions"].clone()), (json!(["1.1.1.1"]), json!(["x.org"]), json!(["ndots:2"])));
        assert_eq!(h["Sysctls"], json!({"net.ipv4.ip_forward": "1"}));
        assert_eq!(h["ShmSize"], 128 << 20);
        assert_eq!((h["OomKillDisable"].clone(), h["OomScoreAdj"].clone()), (json!(true), json!(-500)));
        assert_eq!(h["Runtime"], "crun");
        assert_eq!(h["GroupAdd"], json!(["10"]));
        assert_eq!((h["UsernsMode"].as_str(), h["PidMode"].as_str(), h["IpcMode"].as_str(), h["UTSMode"].as_str(), h["CgroupnsMode"].as_str()), (Some("host"), Some("host"), Some("private"), Some("host"), Some("private")));
        assert_eq!(b["Cmd"], json!(["true"]));
    }

    #[test]
    fn secrets_map_like_docker_service_create() {
        let b = body(&["--secret", "db", "--secret", "source=tok,target=/etc/app/tok,uid=1000,gid=50,mode=0400", "--secret", "src=k,mode=256", "busybox"]).unwrap();
        assert_eq!(
            b["HostConfig"]["BerthSecrets"],
            json!([
                {"File": {"Name": "db", "UID": "0", "GID": "0", "Mode": 0o444}, "SecretName": "db"},
                {"File": {"Name": "/etc/app/tok", "UID": "1000", "GID": "50", "Mode": 0o400}, "SecretName": "tok"},
                {"File": {"Name": "k", "UID": "0", "GID": "0", "Mode": 256}, "SecretName": "k"},
            ])
        );
        assert_eq!(body(&["busybox"]).unwrap()["HostConfig"].get("BerthSecrets"), None);
        assert!(body(&["--secret", "target=x", "busybox"]).unwrap_err().contains("source is required"));
        assert!(body(&["--secret", "source=x,colour=red", "busybox"]).unwrap_err().contains("invalid field in secret request: colour"));
        assert!(body(&["--secret", "source=x,mode=rw", "busybox"]).unwrap_err().contains("invalid mode specified"));
        assert!(body(&["--secret", "source=x,bad", "busybox"]).unwrap_err().contains("must be a key=value pair"));
    }

    #[test]
    fn entrypoint_empty_and_rm() {
        let b = body(&["--entrypoint", "", "--rm", "busybox"]).unwrap();
        assert_eq!(b["Entrypoint"], json!([""]));
        assert_eq!(b["HostConfig"]["AutoRemove"], true);
        let b = body(&["--no-healthcheck", "busybox"]).unwrap();
        assert_eq!(b["Healthcheck"], json!({"Test": ["NONE"]}));
    }

    #[test]
    fn networks_map_like_docker() {
        // No --network: the "default" endpoint, empty.
        let b = body(&["busybox"]).unwrap();
        assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {"default": {}}}));
        // One network and nothing for it: no endpoint (the daemon makes it).
        for n in ["none", "host", "bridge", "net1", "container:web"] {
            let b = body(&["--network", n, "busybox"]).unwrap();
            assert_eq!(b["HostConfig"]["NetworkMode"], n);
            assert_eq!(b["NetworkingConfig"], json!({"EndpointsConfig": {}}), "{n}");
        }
        let b = body(&["--network", "net1", "--network-alias", "web", "--network-alias", "www", "--ip", "10.231.0.9", "busybox"]).unwrap();
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"], json!({"net1": {"Aliases": ["web", "www"], "IPAMConfig": {"IPv4Address": "10.231.0.9"}}}));
        // --ip without a network goes to "default" (the daemon refuses it, as docker's).
        let b = body(&["--ip", "10.231.0.9", "busybox"]).unwrap();
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"], json!({"default": {"IPAMConfig": {"IPv4Address": "10.231.0.9"}}}));
        // Two networks: each its endpoint, the legacy flags on the first.
        let b = body(&["--network", "a", "--network", "b", "--network-alias", "x", "busybox"]).unwrap();
        assert_eq!(b["HostConfig"]["NetworkMode"], "a");
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"], json!({"a": {"Aliases": ["x"]}, "b": {}}));
        // The long syntax.
        let b = body(&["--network", "name=a,alias=w1,ip=10.231.1.5,driver-opt=com.x=1", "busybox"]).unwrap();
        assert_eq!(b["HostConfig"]["NetworkMode"], "a");
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"], json!({"a": {"Aliases": ["w1"], "IPAMConfig": {"IPv4Address": "10.231.1.5"}, "DriverOpts": {"com.x": "1"}}}));
        // --dns and --add-host go to HostConfig.
        let b = body(&["--dns", "10.0.0.53", "--add-host", "db:10.0.0.2", "--add-host", "gw=host-gateway", "busybox"]).unwrap();
        assert_eq!(b["HostConfig"]["Dns"], json!(["10.0.0.53"]));
        assert_eq!(b["HostConfig"]["ExtraHosts"], json!(["db:10.0.0.2", "gw:host-gateway"]));
    }

    #[test]
    fn bad_networks_fail_like_docker() {
        let e = body(&["--network-alias", "web", "busybox"]).unwrap_err();
        assert!(e.starts_with("berth: network-scoped aliases are only supported for user-defined networks"), "{e}");
        assert!(body(&["--network", "bridge", "--network-alias", "web", "busybox"]).unwrap_err().contains("only supported for user-defined networks"));
        assert!(body(&["--network", "a", "--network", "a", "busybox"]).unwrap_err().contains("network \"a\" is specified multiple times"));
        assert!(body(&["--network", "a", "--network", "host", "busybox"]).unwrap_err().contains("cannot attach both user-defined and non-user-defined"));
        assert!(body(&["--network", "name=a,alias=x", "--network-alias", "y", "busybox"]).unwrap_err().contains("cannot specify both --network-alias and per-network alias"));
        assert!(body(&["--network", "alias=x", "busybox"]).unwrap_err().contains("network name/id is not specified"));
        assert!(body(&["--network", "name=a,colour=red", "busybox"]).unwrap_err().contains("invalid field key colour"));
        let e = body(&["--network", "n", "--ip", "10.1.1", "busybox"]).unwrap_err();
        assert!(e.starts_with("invalid argument \"10.1.1\" for \"--ip\" flag: invalid string being converted to IP address: 10.1.1"), "{e}");
        assert!(body(&["--network", "n", "--mac-address", "zz", "busybox"]).unwrap_err().contains("zz is not a valid mac address"));
    }

    #[test]
    fn publish_maps_like_docker() {
        let b = body(&["-p", "127.0.0.1:8080:80", "-p", "53:53/udp", "-p", "9000", "-p", "7000-7002:8000-8002", "busybox"]).unwrap();
        let h = &b["HostConfig"];
        assert_eq!(h["PortBindings"]["80/tcp"], json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}]));
        assert_eq!(h["PortBindings"]["53/udp"], json!([{"HostIp": "", "HostPort": "53"}]));
        assert_eq!(h["PortBindings"]["9000/tcp"], json!([{"HostIp": "", "HostPort": ""}]));
        assert_eq!(h["PortBindings"]["8001/tcp"], json!([{"HostIp": "", "HostPort": "7001"}]));
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}, "9000/tcp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}}));
        assert_eq!(h["PublishAllPorts"], false);
        // One container port, a host range: the daemon picks in the range.
        let b = body(&["-p", "8000-8010:80", "busybox"]).unwrap();
        assert_eq!(b["HostConfig"]["PortBindings"]["80/tcp"], json!([{"HostIp": "", "HostPort": "8000-8010"}]));
        // The same port twice: two bindings.
        let b = body(&["-p", "8080:80", "-p", "127.0.0.1:8081:80", "busybox"]).unwrap();
        assert_eq!(b["HostConfig"]["PortBindings"]["80/tcp"].as_array().unwrap().len(), 2);
        // The long syntax.
        let b = body(&["-p", "target=80,published=8080,protocol=udp", "busybox"]).unwrap();
        assert_eq!(b["HostConfig"]["PortBindings"]["80/udp"], json!([{"HostIp": "", "HostPort": "8080"}]));
        // -P with --expose: PublishAllPorts and the exposed ports, no bindings.
        let b = body(&["-P", "--expose", "80", "busybox"]).unwrap();
        assert_eq!((b["HostConfig"]["PublishAllPorts"].clone(), b["ExposedPorts"].clone(), b["HostConfig"]["PortBindings"].clone()), (json!(true), json!({"80/tcp": {}}), json!({})));
    }

    #[test]
    fn bad_publish_fails_like_docker() {
        let run_err = |m: &str| format!("berth: {m}\n\nRun 'berth run --help' for more information");
        assert_eq!(body(&["-p", "x", "busybox"]).unwrap_err(), run_err("invalid containerPort: x"));
        assert_eq!(body(&["-p", "+80", "busybox"]).unwrap_err(), run_err("invalid containerPort: +80"));
        assert_eq!(body(&["-p", "80:", "busybox"]).unwrap_err(), run_err("no port specified: 80:<empty>"));
        assert_eq!(body(&["-p", "abc:80", "busybox"]).unwrap_err(), run_err("invalid hostPort: abc"));
        assert_eq!(body(&["-p", "1.2.3.4.5:80:80", "busybox"]).unwrap_err(), run_err("invalid IP address: 1.2.3.4.5"));
        assert_eq!(body(&["-p", "80/icmp", "busybox"]).unwrap_err(), run_err("invalid proto: icmp"));
        assert_eq!(body(&["-p", "1-3:1-2", "busybox"]).unwrap_err(), run_err("invalid ranges specified for container and host Ports: 1-2 and 1-3"));
        assert_eq!(body(&["-p", "target=80,bad", "busybox"]).unwrap_err(), run_err("invalid publish opts format (should be name=value but got 'bad')"));
    }

    #[test]
    fn bad_values_fail_like_docker() {
        assert_eq!(
            body(&["-m", "12q", "busybox"]).unwrap_err(),
            "invalid argument \"12q\" for \"-m, --memory\" flag: invalid suffix: 'q'\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information"
        );
        assert_eq!(body(&["-p", "99999:80", "busybox"]).unwrap_err(), "berth: invalid hostPort: 99999\n\nRun 'berth run --help' for more information");
        assert!(body(&["--restart", "sometimes", "busybox"]).unwrap_err().contains("unknown policy 'sometimes'"));
        assert!(body(&["--ulimit", "nofile=x", "busybox"]).unwrap_err().starts_with("invalid argument \"nofile=x\" for \"--ulimit\" flag: strconv.ParseInt"));
        assert!(body(&["--restart", "always", "--rm", "busybox"]).unwrap_err().contains("cannot specify both --restart and --rm"));
        assert!(body(&["--health-interval", "x", "busybox"]).unwrap_err().contains("time: invalid duration"));
        assert!(body(&["--no-healthcheck", "--health-cmd", "x", "busybox"]).unwrap_err().contains("conflicts"));
        assert!(body(&["--pull", "sometimes", "busybox"]).unwrap_err().contains("invalid pull option"));
        assert!(body(&["--cpus", "abc", "busybox"]).unwrap_err().contains("rational number"));
        assert!(body(&["--mount", "type=bind", "busybox"]).unwrap_err().contains("target is required"));
        assert!(body(&["-a", "stdfoo", "busybox"]).unwrap_err().contains("valid streams are STDIN, STDOUT and STDERR"));
        assert!(body(&["--add-host", "db:bad", "busybox"]).is_err());
        assert!(body(&["--dns", "x", "busybox"]).is_err());
        assert!(body(&["-v", "rel", "busybox"]).is_err());
        assert!(body(&["--oom-score-adj", "5000", "busybox"]).is_err());
        assert!(body(&["--pids-limit", "many", "busybox"]).is_err());
    }
}
