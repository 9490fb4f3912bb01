//! Legacy container links (`--link name[:alias]`, `HostConfig.Links`), as dockerd keeps
//! them: checked and written as `/name:/me/alias` at create; at each start the linked
//! container must be running, and the link gives what Docker gives — on the default
//! bridge an /etc/hosts line and the `ALIAS_PORT_…`/`ALIAS_ENV_…` variables, on a user
//! network a DNS name only the linking container resolves (compose's `links:`).

use std::net::Ipv4Addr;

use berth_api::models::ContainerConfig;

use super::record::Container;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// One link: the linked container's name and the alias it has in the linking one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub alias: String,
}

/// `name`, `name:alias`, or the stored `/name:/me/alias`.
pub fn parse(s: &str) -> Option<Link> {
    let (name, alias) = s.split_once(':').unwrap_or((s, s));
    let name = name.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    (!name.is_empty() && !alias.is_empty()).then(|| Link { name: name.to_owned(), alias: alias.to_owned() })
}

/// At create: every linked container exists; the links as dockerd stores them.
pub fn normalize(state: &AppState, own_name: &str, links: &[String]) -> ApiResult<Vec<String>> {
    let own = own_name.trim_start_matches('/');
    links
        .iter()
        .map(|l| {
            let link = parse(l).ok_or_else(|| ApiError::bad_request(format!("invalid link {l:?}: expected name or name:alias")))?;
            let target = state.containers.find(&link.name).map_err(|_| ApiError::bad_request(format!("could not get container for {}", link.name)))?;
            Ok(format!("/{}:/{own}/{}", target.get().name, link.alias))
        })
        .collect()
}

/// A link as a start resolves it.
pub struct Resolved {
    pub link: Link,
    pub id: String,
    pub ip: Ipv4Addr,
    /// The network both are on (for a DNS alias on a user network).
    pub network: String,
}

/// At start: each linked container, running, with its address on a network the
/// linking container is on (`networks`, by name).
pub fn resolve(state: &AppState, c: &Container, networks: &[String]) -> anyhow::Result<Vec<(Resolved, Container)>> {
    let mut out = Vec::new();
    for raw in c.host_config.links.iter().flatten() {
        let Some(link) = parse(raw) else { continue };
        let own = format!("/{}/{}", c.name, link.alias);
        let target = state.containers.find(&link.name).map(|e| e.get()).map_err(|_| anyhow::anyhow!("Cannot link to a non running container: /{} AS {own}", link.name))?;
        if !target.running() {
            anyhow::bail!("Cannot link to a non running container: /{} AS {own}", target.name);
        }
        let all = state.network.networks().unwrap_or_default();
        let eps = state.network.endpoints_of_container(&target.id).unwrap_or_default();
        let shared = eps.iter().find_map(|ep| {
            let net = all.iter().find(|n| n.id == ep.network_id)?;
            (networks.contains(&net.name) || networks.contains(&net.id)).then(|| (net.name.clone(), ep.ip))
        });
        let Some((network, ip)) = shared else {
            anyhow::bail!("Cannot link to /{}, as it does not belong to the default network", target.name);
        };
        out.push((Resolved { link, id: target.id.clone(), ip, network }, target));
    }
    Ok(out)
}

/// dockerd's link variables: `ALIAS_NAME`, `ALIAS_PORT` (the lowest exposed port, TCP
/// first), `ALIAS_PORT_<port>_<PROTO>[_ADDR|_PORT|_PROTO]`, and `ALIAS_ENV_<VAR>` for the
/// linked container's environment (HOME and PATH left out).
pub fn env(r: &Resolved, own_name: &str, target: &ContainerConfig) -> Vec<String> {
    let alias = r.link.alias.to_uppercase().replace('-', "_");
    let mut ports: Vec<(u16, String)> = target
        .exposed_ports
        .iter()
        .flat_map(|m| m.keys())
        .filter_map(|k| {
            let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            Some((p.parse().ok()?, proto.to_owned()))
        })
        .collect();
    ports.sort_by(|a, b| (a.1 != "tcp", a.0).cmp(&(b.1 != "tcp", b.0)));
    let ip = r.ip;
    let mut out = Vec::new();
    if let Some((p, proto)) = ports.first() {
        out.push(format!("{alias}_PORT={proto}://{ip}:{p}"));
    }
    ports.sort_by_key(|p| p.0);
    for (p, proto) in &ports {
        let key = format!("{alias}_PORT_{p}_{}", proto.to_uppercase());
        out.push(format!("{key}={proto}://{ip}:{p}"));
        out.push(format!("{key}_ADDR={ip}"));
        out.push(format!("{key}_PORT={p}"));
        out.push(format!("{key}_PROTO={proto}"));
    }
    out.push(format!("{alias}_NAME=/{own_name}/{}", r.link.alias));
    for v in target.env.iter().flatten() {
        let (k, val) = v.split_once('=').unwrap_or((v, ""));
        if k != "HOME" && k != "PATH" {
            out.push(format!("{alias}_ENV_{k}={val}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_in_every_form() {
        assert_eq!(parse("web"), Some(Link { name: "web".into(), alias: "web".into() }));
        assert_eq!(parse("web:site"), Some(Link { name: "web".into(), alias: "site".into() }));
        assert_eq!(parse("/web:/me/site"), Some(Link { name: "web".into(), alias: "site".into() }));
        assert_eq!(parse(":x"), None);
        assert_eq!(parse("web:"), None);
    }

    #[test]
    fn link_variables_are_dockers() {
        let r = Resolved { link: Link { name: "db-1".into(), alias: "my-db".into() }, id: "x".into(), ip: Ipv4Addr::new(172, 17, 0, 2), network: "bridge".into() };
        let cfg = ContainerConfig {
            exposed_ports: Some([("5432/tcp".to_string(), Default::default()), ("53/udp".to_string(), Default::default())].into_iter().collect()),
            env: Some(vec!["PATH=/bin".into(), "PGDATA=/data".into()]),
            ..Default::default()
        };
        let e = env(&r, "app", &cfg);
        assert_eq!(e[0], "MY_DB_PORT=tcp://172.17.0.2:5432", "TCP first: {e:?}");
        assert!(e.contains(&"MY_DB_PORT_53_UDP=udp://172.17.0.2:53".to_string()));
        assert!(e.contains(&"MY_DB_PORT_5432_TCP_ADDR=172.17.0.2".to_string()));
        assert!(e.contains(&"MY_DB_PORT_5432_TCP_PORT=5432".to_string()));
        assert!(e.contains(&"MY_DB_PORT_5432_TCP_PROTO=tcp".to_string()));
        assert!(e.contains(&"MY_DB_NAME=/app/my-db".to_string()));
        assert!(e.contains(&"MY_DB_ENV_PGDATA=/data".to_string()));
        assert!(!e.iter().any(|v| v.starts_with("MY_DB_ENV_PATH")));
    }
}
