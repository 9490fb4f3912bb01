//! Typed errors. Messages that users see through the CLI and the Engine API follow
//! Docker's (libnetwork's) wording, so scripts matching on them keep working.

use std::net::Ipv4Addr;

use crate::portspec::PortSpecError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network with name {0} already exists")]
    NameInUse(String),
    #[error("network {0} not found")]
    NetworkNotFound(String),
    #[error("endpoint for container {container} on network {network} not found")]
    EndpointNotFound { container: String, network: String },
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected { container: String, network: String },
    #[error("Pool overlaps with other one on this address space")]
    PoolOverlap,
    #[error("invalid CIDR address: {0}")]
    InvalidCidr(String),
    #[error("invalid subnet {given}: it should be {canonical}")]
    SubnetNotCanonical { given: String, canonical: String },
    #[error("invalid IPv4 address: {0}")]
    InvalidAddress(String),
    #[error("no matching subnet for gateway {0}")]
    GatewayOutsideSubnet(Ipv4Addr),
    #[error("no matching subnet for range {0}")]
    RangeOutsideSubnet(String),
    #[error("only one IPv4 subnet per network is supported (got {0})")]
    TooManySubnets(usize),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoFreePool,
    #[error("no available IPv4 addresses on network {0}")]
    AddressesExhausted(String),
    #[error("Address already in use")]
    AddressInUse(Ipv4Addr),
    #[error("invalid address {ip}: it does not belong to any of this network's subnets")]
    AddressOutsideSubnet { ip: Ipv4Addr },
    #[error("user specified IP address is supported only when connecting to networks with user configured subnets")]
    StaticIpOnDefaultBridge,
    #[error("error while removing network: network {0} has active endpoints")]
    ActiveEndpoints(String),
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("plugin \"{0}\" not found")]
    UnknownDriver(String),
    #[error("container cannot be disconnected from host network or connected to host network")]
    HostNetworkConnect,
    #[error("invalid network option {key}={value}: {why}")]
    InvalidOption { key: String, value: String, why: String },
    #[error("Bind for {host_ip}:{port} failed: port is already allocated")]
    PortAllocated { host_ip: String, port: u16 },
    #[error("no free host port in {low}-{high} for {proto}")]
    NoFreePort { low: u16, high: u16, proto: &'static str },
    #[error(transparent)]
    PortSpec(#[from] PortSpecError),
    #[error("network state database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("netlink {op}: {source}")]
    Netlink { op: String, source: std::io::Error },
    #[error("network namespace {path}: {source}")]
    Netns { path: String, source: std::io::Error },
    #[error("nftables: {0}")]
    Nft(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("embedded DNS: {0}")]
    Dns(String),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { what: what.into(), source }
    }
    pub(crate) fn netlink(op: impl Into<String>, source: std::io::Error) -> Self {
        Error::Netlink { op: op.into(), source }
    }
    pub(crate) fn netns(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Netns { path: path.display().to_string(), source }
    }

    /// True for errors the caller made (bad input, conflicts): the daemon maps these to
    /// 400/403/409 rather than 500.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Database(_) | Error::Netlink { .. } | Error::Netns { .. } | Error::Nft(_) | Error::Io { .. } | Error::Dns(_)
        )
    }
}
