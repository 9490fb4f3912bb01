//! `network create|ls|inspect|rm|connect|disconnect|prune`, as docker's
//! (cli/command/network): the same request bodies, output and errors.

use std::collections::BTreeMap;
use std::net::IpAddr;

use berth_api::client::{encode, query, Body};
use berth_api::{ClientError, Filters};
use clap::Args;
use serde_json::{json, Map, Value};

use super::{client, fail, render};
use crate::{CmdResult, Failure, Global};

/// A usage error of our own flags, docker's exit status 125.
fn usage_error(msg: String) -> Failure {
    Failure { message: Some(msg), status: 125 }
}

#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long = "driver", default_value = "bridge")]
    driver: String,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long = "label")]
    label: Vec<String>,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    internal: bool,
    /// Enable manual container attachment
    #[arg(long = "attachable")]
    attachable: bool,
    /// Enable or disable IPv6 networking (not supported by berth)
    #[arg(long = "ipv6", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    ipv6: Option<bool>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    ipam_opt: Vec<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet")]
    subnet: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway")]
    gateway: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address")]
    aux_address: Vec<String>,
    /// NETWORK
    name: String,
}

/// An address or CIDR prefix as (address as u128, bit width, prefix length).
fn parse_cidr(s: &str) -> Option<(u128, u32, u32)> {
    let (addr, len) = s.split_once('/')?;
    let (bits, width) = match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u32 = len.parse().ok()?;
    (len <= width).then_some((bits, width, len))
}

/// docker's `subnetMatches`: whether `data` (an address or a CIDR, whose address
/// counts) lies in `subnet`. A bad subnet is an error; a bad `data` is "no match" for
/// an address and an error for a CIDR, as Go's net package makes it.
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let (net, width, len) = parse_cidr(subnet).ok_or_else(|| format!("invalid subnet: invalid CIDR address: {subnet}"))?;
    let ip = if data.contains('/') {
        let (a, w, _) = parse_cidr(data).ok_or_else(|| format!("invalid CIDR address: {data}"))?;
        (a, w)
    } else {
        match data.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) => (u32::from(a) as u128, 32),
            Ok(IpAddr::V6(a)) => (u128::from(a), 128),
            Err(_) => return Ok(false),
        }
    };
    if ip.1 != width {
        return Ok(false);
    }
    let shift = width - len;
    Ok(len == 0 || (net >> shift) == (ip.0 >> shift))
}

/// docker's `createIPAMConfig`: every --ip-range, --gateway and --aux-address goes to
/// the --subnet that contains it (not by position); overlapping subnets, two ranges or
/// gateways on one subnet, or one matching no subnet are errors.
pub fn ipam_config(subnets: &[String], ranges: &[String], gateways: &[String], aux: &[String]) -> Result<Vec<Value>, String> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    let mut cfgs: Vec<(String, Map<String, Value>)> = Vec::new();
    for s in subnets {
        for (k, _) in &cfgs {
            if subnet_matches(s, k)? || subnet_matches(k, s)? {
                return Err("multiple overlapping subnet configuration is not supported".into());
            }
        }
        let mut m = Map::new();
        m.insert("Subnet".into(), json!(s));
        cfgs.push((s.clone(), m));
    }
    let mut assign = |items: &[String], key: &str, what: &str, plural: &str| -> Result<(), String> {
        for it in items {
            let mut matched = false;
            for (s, m) in cfgs.iter_mut() {
                if !subnet_matches(s, it)? {
                    continue;
                }
                if let Some(prev) = m.get(key).and_then(Value::as_str) {
                    return Err(match key {
                        "IPRange" => format!("cannot configure multiple ranges ({it}, {prev}) on the same subnet ({s})"),
                        _ => format!("cannot configure multiple {plural} ({it}, {prev}) for the same subnet ({s})"),
                    });
                }
                m.insert(key.into(), json!(it));
                matched = true;
            }
            if !matched {
                return Err(format!("no matching subnet for {what} {it}"));
            }
        }
        Ok(())
    };
    assign(ranges, "IPRange", "range", "ranges")?;
    assign(gateways, "Gateway", "gateway", "gateways")?;
    for a in aux {
        let (k, v) = a.split_once('=').ok_or_else(|| format!("invalid aux-address {a}: must be name=ip"))?;
        let mut matched = false;
        for (s, m) in cfgs.iter_mut() {
            if !subnet_matches(s, v)? {
                continue;
            }
            let e = m.entry("AuxiliaryAddresses").or_insert_with(|| json!({}));
            e[k] = json!(v);
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {v}"));
        }
    }
    Ok(cfgs.into_iter().map(|(_, m)| Value::Object(m)).collect())
}

/// `k=v` items into a map; a bare `k` is `k=""` (docker's ConvertKVStringsToMap).
fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items.iter().map(|i| i.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap_or((i.clone(), String::new()))).collect()
}

/// The body of `POST /networks/create` for `network create`'s flags.
pub fn create_body(a: &CreateArgs) -> Result<Value, Failure> {
    if a.ipv6 == Some(true) {
        return Err(usage_error("berth does not support IPv6 networks (--ipv6)".into()));
    }
    for l in &a.label {
        if l.split_once('=').map(|(k, _)| k).unwrap_or(l).trim().is_empty() {
            return Err(usage_error(format!("invalid argument \"{l}\" for \"--label\" flag: invalid label '{l}': empty name")));
        }
    }
    let config = ipam_config(&a.subnet, &a.ip_range, &a.gateway, &a.aux_address).map_err(fail)?;
    let mut body = json!({
        "Name": a.name,
        "Driver": a.driver,
        "Options": kv_map(&a.opt),
        "IPAM": {"Driver": a.ipam_driver, "Config": config, "Options": kv_map(&a.ipam_opt)},
        "Internal": a.internal,
        "Attachable": a.attachable,
        "Ingress": false,
        "ConfigOnly": false,
        "Labels": kv_map(&a.label),
    });
    if let Some(v6) = a.ipv6 {
        body["EnableIPv6"] = json!(v6);
    }
    Ok(body)
}

pub fn create(g: &Global, a: CreateArgs) -> CmdResult {
    let body = create_body(&a)?;
    let v: Value = client(g)?.call("POST", "/networks/create", Body::Json(body.to_string().into_bytes()))?.json()?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(())
}

#[derive(Args)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'json' or a Go template)
    #[arg(long = "format")]
    format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
}

/// What `--format` fields a network row has (docker's network formatter names).
fn row(n: &Value, no_trunc: bool) -> Value {
    let id = n["Id"].as_str().unwrap_or_default();
    let id = if no_trunc { id.to_owned() } else { id.chars().take(12).collect() };
    let labels = n["Labels"].as_object().map(|m| {
        let mut kv: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
        kv.sort();
        kv.join(",")
    });
    let created = n["Created"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| crate::units::go_time_string(t.timestamp())).unwrap_or_default();
    json!({
        "ID": id, "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
        "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
        "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
        "Labels": labels.unwrap_or_default(), "CreatedAt": created,
    })
}

/// docker sorts networks by name, naturally ("net2" before "net10").
fn natural_key(s: &str) -> Vec<(u8, u128, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        let mut chunk = String::new();
        let digit = c.is_ascii_digit();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() != digit {
                break;
            }
            chunk.push(c);
            chars.next();
        }
        if digit {
            out.push((0, chunk.parse().unwrap_or(u128::MAX), chunk));
        } else {
            out.push((1, 0, chunk));
        }
    }
    out
}

pub fn ls(g: &Global, a: LsArgs) -> CmdResult {
    let mut filters = Filters::new();
    for f in &a.filter {
        filters.add_cli(f).map_err(|e| fail(e.0))?;
    }
    let q = if filters.is_empty() { String::new() } else { query([("filters", Some(filters.to_json()))]) };
    let r: Value = client(g)?.get_json(&format!("/networks{q}"))?;
    let mut nets: Vec<Value> = r.as_array().cloned().unwrap_or_default();
    nets.sort_by_cached_key(|n| natural_key(n["Name"].as_str().unwrap_or_default()));
    let rows: Vec<Value> = nets.iter().map(|n| row(n, a.no_trunc)).collect();
    let format = if a.quiet { "{{.ID}}" } else { a.format.as_deref().unwrap_or("") };
    let headers = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"});
    print!("{}", render(format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", &rows, &headers)?);
    Ok(())
}

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long = "format")]
    format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// NETWORK [NETWORK...]
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn inspect(g: &Global, a: InspectArgs) -> CmdResult {
    let q = if a.verbose { "?verbose=true" } else { "" };
    super::inspect::inspect_each(g, &a.names, "network", |n| format!("/networks/{}{q}", encode(n)), a.format.as_deref())
}

#[derive(Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// NETWORK [NETWORK...]
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn rm(g: &Global, a: RmArgs) -> CmdResult {
    let c = client(g)?;
    let mut failed = false;
    for n in &a.names {
        match c.call("DELETE", &format!("/networks/{}", encode(n)), Body::Empty) {
            Ok(_) => println!("{n}"),
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(ClientError::Api { status: 404, .. }) if a.force => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Failure { message: None, status: 1 })
    } else {
        Ok(())
    }
}

#[derive(Args, Debug, Default)]
pub struct ConnectArgs {
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip")]
    ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6")]
    ip6: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "alias", value_delimiter = ',')]
    alias: Vec<String>,
    /// Add link to another container
    #[arg(long = "link")]
    link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_delimiter = ',')]
    link_local_ip: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_delimiter = ',')]
    driver_opt: Vec<String>,
    /// NETWORK
    network: String,
    /// CONTAINER
    container: String,
}

/// The body of `POST /networks/{id}/connect`, as docker's `network connect` sends it.
pub fn connect_body(a: &ConnectArgs) -> Result<Value, Failure> {
    let ip = |flag: &str, v: &Option<String>| -> Result<String, Failure> {
        match v.as_deref() {
            None | Some("") => Ok(String::new()),
            Some(s) => s.parse::<IpAddr>().map(|i| i.to_string()).map_err(|_| usage_error(format!("invalid argument \"{s}\" for \"{flag}\" flag: invalid IP address: {s}"))),
        }
    };
    let mut driver_opts = Map::new();
    for o in &a.driver_opt {
        let (k, v) = o.split_once('=').ok_or_else(|| usage_error(format!("invalid key/value pair format in driver options: {o}")))?;
        driver_opts.insert(k.trim().to_ascii_lowercase(), json!(v.trim()));
    }
    Ok(json!({
        "Container": a.container,
        "EndpointConfig": {
            "IPAMConfig": {"IPv4Address": ip("--ip", &a.ip)?, "IPv6Address": ip("--ip6", &a.ip6)?, "LinkLocalIPs": a.link_local_ip},
            "Links": a.link,
            "Aliases": a.alias,
            "DriverOpts": if driver_opts.is_empty() { Value::Null } else { Value::Object(driver_opts) },
        },
    }))
}

pub fn connect(g: &Global, a: ConnectArgs) -> CmdResult {
    let body = connect_body(&a)?;
    client(g)?.call("POST", &format!("/networks/{}/connect", encode(&a.network)), Body::Json(body.to_string().into_bytes()))?;
    Ok(())
}

#[derive(Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    force: bool,
    /// NETWORK
    network: String,
    /// CONTAINER
    container: String,
}

pub fn disconnect(g: &Global, a: DisconnectArgs) -> CmdResult {
    let body = json!({"Container": a.container, "Force": a.force});
    client(g)?.call("POST", &format!("/networks/{}/disconnect", encode(&a.network)), Body::Json(body.to_string().into_bytes()))?;
    Ok(())
}

#[derive(Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    force: bool,
}

/// Prunes unused networks and prints what went ("Deleted Networks:" + names + blank
/// line, docker's wording); `system prune` calls it after containers.
pub fn prune_networks(g: &Global, filter: &[String]) -> Result<(), Failure> {
    let mut filters = Filters::new();
    for f in filter {
        filters.add_cli(f).map_err(|e| fail(e.0))?;
    }
    let q = if filters.is_empty() { String::new() } else { query([("filters", Some(filters.to_json()))]) };
    let r: Value = client(g)?.call("POST", &format!("/networks/prune{q}"), Body::Empty)?.json()?;
    super::print_deleted("Networks", &r["NetworksDeleted"]);
    Ok(())
}

pub fn prune(g: &Global, a: PruneArgs) -> CmdResult {
    if !a.force && !super::confirm("WARNING! This will remove all custom networks not used by at least one container.") {
        return Ok(());
    }
    prune_networks(g, &a.filter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct C {
        #[command(flatten)]
        a: CreateArgs,
    }

    fn create(args: &[&str]) -> Result<Value, String> {
        let mut full = vec!["create"];
        full.extend_from_slice(args);
        let c = C::try_parse_from(full).map_err(|e| e.to_string())?;
        create_body(&c.a).map_err(|f| f.message.unwrap_or_default())
    }

    #[test]
    fn create_body_like_docker() {
        let b = create(&["n1"]).unwrap();
        assert_eq!(b, json!({"Name": "n1", "Driver": "bridge", "Options": {}, "IPAM": {"Driver": "default", "Config": [], "Options": {}}, "Internal": false, "Attachable": false, "Ingress": false, "ConfigOnly": false, "Labels": {}}));
        let b = create(&[
            "-d", "bridge", "--subnet", "10.231.7.0/24", "--gateway", "10.231.7.254", "--ip-range", "10.231.7.128/25", "--internal", "--attachable", "--label", "team=net", "--label", "bare",
            "-o", "com.docker.network.bridge.name=br-test", "--aux-address", "host1=10.231.7.5", "n2",
        ])
        .unwrap();
        assert_eq!(b["IPAM"]["Config"], json!([{"Subnet": "10.231.7.0/24", "Gateway": "10.231.7.254", "IPRange": "10.231.7.128/25", "AuxiliaryAddresses": {"host1": "10.231.7.5"}}]));
        assert_eq!((b["Internal"].clone(), b["Attachable"].clone()), (json!(true), json!(true)));
        assert_eq!(b["Labels"], json!({"team": "net", "bare": ""}));
        assert_eq!(b["Options"], json!({"com.docker.network.bridge.name": "br-test"}));
        assert!(b.get("EnableIPv6").is_none());
        assert_eq!(create(&["--ipv6=false", "n"]).unwrap()["EnableIPv6"], false);
    }

    #[test]
    fn gateways_go_to_the_subnet_containing_them() {
        // docker matches by containment, whatever the flag order.
        let b = create(&["--subnet", "10.1.0.0/16", "--subnet", "10.2.0.0/16", "--gateway", "10.2.0.1", "--gateway", "10.1.0.1", "n"]).unwrap();
        assert_eq!(b["IPAM"]["Config"], json!([{"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.1"}, {"Subnet": "10.2.0.0/16", "Gateway": "10.2.0.1"}]));
    }

    #[test]
    fn bad_create_input_fails_like_docker() {
        assert_eq!(create(&["--gateway", "10.0.0.1", "n"]).unwrap_err(), "every ip-range or gateway must have a corresponding subnet");
        // One subnet alone is the daemon's to check, as with docker; compared with
        // anything else it is checked here.
        assert_eq!(create(&["--subnet", "nonsense", "n"]).unwrap()["IPAM"]["Config"][0]["Subnet"], "nonsense");
        assert_eq!(create(&["--subnet", "10.0.0.0/33", "--gateway", "10.0.0.1", "n"]).unwrap_err(), "invalid subnet: invalid CIDR address: 10.0.0.0/33");
        assert_eq!(create(&["--subnet", "10.0.0.0/24", "--subnet", "nonsense", "n"]).unwrap_err(), "invalid subnet: invalid CIDR address: nonsense");
        assert_eq!(create(&["--subnet", "10.0.0.0/24", "--gateway", "10.0.1.1", "n"]).unwrap_err(), "no matching subnet for gateway 10.0.1.1");
        assert_eq!(create(&["--subnet", "10.0.0.0/24", "--ip-range", "10.9.0.0/25", "n"]).unwrap_err(), "no matching subnet for range 10.9.0.0/25");
        assert_eq!(create(&["--subnet", "10.0.0.0/16", "--subnet", "10.0.5.0/24", "n"]).unwrap_err(), "multiple overlapping subnet configuration is not supported");
        assert!(create(&["--subnet", "10.0.0.0/24", "--subnet", "10.0.1.0/24", "--gateway", "10.0.0.1", "--gateway", "10.0.0.2", "n"]).unwrap_err().starts_with("cannot configure multiple gateways (10.0.0.2, 10.0.0.1)"));
        assert!(create(&["--ipv6", "n"]).unwrap_err().contains("IPv6"));
        assert!(create(&["--label", "=x", "n"]).unwrap_err().contains("empty name"));
        assert!(create(&[]).is_err(), "a name is required");
    }

    #[test]
    fn cidr_matching() {
        assert!(subnet_matches("10.0.0.0/8", "10.255.1.2").unwrap());
        assert!(!subnet_matches("10.0.0.0/8", "11.0.0.1").unwrap());
        assert!(subnet_matches("0.0.0.0/0", "1.2.3.4").unwrap());
        assert!(!subnet_matches("10.0.0.0/8", "::1").unwrap());
        assert!(subnet_matches("fd00::/64", "fd00::5").unwrap());
        assert!(!subnet_matches("10.0.0.0/24", "x").unwrap());
        assert!(subnet_matches("10.0.0.0/24", "10.0.0.0/x").is_err());
    }

    #[derive(Parser)]
    struct K {
        #[command(flatten)]
        a: ConnectArgs,
    }

    #[test]
    fn connect_body_like_docker() {
        let k = K::try_parse_from(["connect", "--ip", "10.231.9.9", "--alias", "a1,a2", "--alias", "a3", "net", "web"]).unwrap();
        let b = connect_body(&k.a).ok().unwrap();
        assert_eq!(b["Container"], "web");
        assert_eq!(b["EndpointConfig"]["IPAMConfig"]["IPv4Address"], "10.231.9.9");
        assert_eq!(b["EndpointConfig"]["Aliases"], json!(["a1", "a2", "a3"]));
        let k = K::try_parse_from(["connect", "--ip", "999.1.1.1", "net", "web"]).unwrap();
        assert_eq!(connect_body(&k.a).err().map(|f| f.status), Some(125));
    }

    #[test]
    fn natural_name_order() {
        let mut v = vec!["net10", "net2", "bridge", "net1"];
        v.sort_by_cached_key(|s| natural_key(s));
        assert_eq!(v, ["bridge", "net1", "net2", "net10"]);
    }
}
