//! Networks for berth containers (issue 5): bridge/host/none and user-defined bridge
//! networks, IPAM with persistent leases, veth plumbing over netlink, NAT/isolation and
//! published ports with nftables, and the embedded DNS server.
//!
//! The daemon holds one [`NetworkManager`] (blocking API; call it from
//! `spawn_blocking`) and, for user networks, a [`Dns`] running on its tokio runtime.
//! [`portspec`] is dependency-free and can be reused by the CLI.

pub mod dns;
pub mod error;
pub mod firewall;
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
