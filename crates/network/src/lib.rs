//! Networks for berth containers (issue 5): bridge/host/none and user-defined bridge
//! networks, IPAM with persistent leases, veth plumbing over netlink, NAT/isolation and
//! published ports with nftables, and the embedded DNS server.
//!
//! The daemon holds one [`NetworkManager`] (blocking API: call it from
//! `spawn_blocking`; it never changes the calling thread's namespace) and one [`Dns`]
//! serving on the daemon's tokio runtime. [`portspec`] is dependency-free so the CLI
//! can reuse it.
//!
//! # Wiring it into berthd
//! - **Daemon start**: `Dns::new(runtime_handle)`; `NetworkManager::open(Config { db_path:
//!   <data-root>/berth.db, run_dir: /run/berth, bip, .. }, Some(dns))`; then
//!   `cleanup_orphans(&running_container_ids)` (endpoints, ports, netns files and veths
//!   of containers that are not running any more, e.g. after `kill -9`), then
//!   `reconcile()` (bridges, nft table, port reservations, DNS servers of running
//!   containers).
//! - **Container start, before the shim/runtime is spawned**:
//!   - `host`: no network namespace in the OCI spec; nothing else.
//!   - `container:NAME`: `linux.namespaces[{type: network, path: netns_path(NAME's id)}]`.
//!   - `none`: `path = create_netns(id)`, put into the spec.
//!   - `bridge` / user networks: `path = create_netns(id)`, into the spec; `attach(id,
//!     &path, network, AttachOptions { name, aliases, ip })` for the primary network and
//!     each `NetworkingConfig.EndpointsConfig` entry; then `publish(id, &mappings)` with
//!     `PortMapping::from_api` of `HostConfig.PortBindings` (and `HostPort::Random` for
//!     `-P`'s exposed ports). A port in use fails here, before the container runs. On
//!     any error: `release(id)` and fail the start.
//!   - resolv.conf: `nameserver 127.0.0.11` when the container is on a user network
//!     (the embedded DNS serves it), the host's resolvers on the default bridge.
//! - **Container stopped** (shim reported the exit) and `rm`: `release(id)` (idempotent;
//!   drop the returned [`Teardown`] — veth deletes finish on their own thread).
//! - **network connect/disconnect** of a running container: `attach`/`detach` with its
//!   netns path (DNS names change at once); of a stopped one: only the daemon's record.
//! - **inspect/ps/port**: [`Network::docker_json`], [`Endpoint::docker_json`],
//!   `published_ports(id)`.

pub mod dns;
pub mod error;
pub mod firewall;
pub mod firewall_watch;
pub mod hostport;
pub mod ipam;
pub mod manager;
pub mod model;
pub mod netlink;
pub mod netns;
pub mod portspec;
pub mod store;

pub use dns::{Dns, NameRecord, DNS_ADDR};
pub use error::{Error, Result};
pub use manager::{AttachOptions, CleanupReport, Config, CreateNetwork, NetworkManager, Teardown};
pub use model::{Driver, Endpoint, IpamConfig, Network, PublishedPort};
pub use portspec::{parse_publish, HostPort, PortMapping, Proto};
