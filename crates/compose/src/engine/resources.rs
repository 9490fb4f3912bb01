//! The project's networks and volumes: made before its containers (external
//! ones only looked up), removed by `down` after them.

use std::collections::{BTreeSet, HashMap};

use berth_api::client::{encode, query};
use berth_api::models::{Ipam, IpamConfig, NetworkCreateRequest, VolumeCreateOptions};
use berth_api::Filters;
use serde_json::Value;

use super::api;
use super::body::{network_name, volume_name};
use super::error::{EngineError, Result};
use super::{Engine, Kind};
use crate::labels;
use crate::model::Network;

impl Engine {
    /// Network keys used by `services`.
    fn used_networks(&self, services: &BTreeSet<String>) -> BTreeSet<String> {
        self.project.services.values().filter(|s| services.contains(&s.name)).flat_map(|s| s.networks.keys().cloned()).collect()
    }

    /// Volume keys used by `services`.
    fn used_volumes(&self, services: &BTreeSet<String>) -> BTreeSet<String> {
        self.project
            .services
            .values()
            .filter(|s| services.contains(&s.name))
            .flat_map(|s| s.volumes.iter().filter(|v| v.kind == "volume").filter_map(|v| v.source.clone()))
            .filter(|k| self.project.volumes.contains_key(k))
            .collect()
    }

    /// Makes (or finds) the networks and volumes `services` need.
    pub(crate) fn ensure_resources(&self, services: &BTreeSet<String>) -> Result<()> {
        for key in self.used_networks(services) {
            self.ensure_network(&key)?;
        }
        for key in self.used_volumes(services) {
            self.ensure_volume(&key)?;
        }
        Ok(())
    }

    /// `GET /networks/{name}` or `/volumes/{name}`; `None` when there is none.
    fn find(&self, kind: &str, name: &str) -> Result<Option<Value>> {
        match api::get(&self.client, &format!("/{kind}/{}", encode(name)), || format!("inspecting {} {name}", kind.trim_end_matches('s'))) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn ensure_network(&self, key: &str) -> Result<()> {
        let net = self.project.networks.get(key).cloned().unwrap_or_default();
        let name = network_name(&self.project, key);
        match self.find("networks", &name)? {
            Some(found) => {
                if !net.external && found["Labels"][labels::PROJECT].as_str() != Some(&self.project.name) {
                    self.warn(&format!("a network with name {name} exists but was not created for project \"{}\".\nSet `external: true` to use an existing network", self.project.name));
                }
                Ok(())
            }
            None if net.external => Err(missing_external_network(&name)),
            None => {
                self.event(Kind::Network, &name, "Creating");
                let body = network_request(&name, &net, labels::network_labels(&self.project, key))?;
                api::post_json::<_, Value>(&self.client, "/networks/create", &body, || format!("creating network {name}"))?;
                self.event(Kind::Network, &name, "Created");
                Ok(())
            }
        }
    }

    fn ensure_volume(&self, key: &str) -> Result<()> {
        let vol = self.project.volumes.get(key).cloned().unwrap_or_default();
        let name = volume_name(&self.project, key);
        match self.find("volumes", &name)? {
            Some(found) => {
                if !vol.external && found["Labels"][labels::PROJECT].as_str() != Some(&self.project.name) {
                    self.warn(&format!("volume \"{name}\" already exists but was not created by berth compose. Use `external: true` to use an existing volume"));
                }
                Ok(())
            }
            None if vol.external => Err(missing_external_volume(&name)),
            None => {
                self.event(Kind::Volume, &name, "Creating");
                let body = VolumeCreateOptions {
                    name: Some(name.clone()),
                    driver: vol.driver.clone(),
                    driver_opts: Some(vol.driver_opts.clone().into_iter().collect()),
                    labels: Some(labels::volume_labels(&self.project, key).into_iter().collect()),
                    ..Default::default()
                };
                api::post_json::<_, Value>(&self.client, "/volumes/create", &body, || format!("creating volume {name}"))?;
                self.event(Kind::Volume, &name, "Created");
                Ok(())
            }
        }
    }

    /// Checks external networks and volumes exist, before anything is created.
    pub(crate) fn check_external(&self, services: &BTreeSet<String>) -> Result<()> {
        for key in self.used_networks(services) {
            let name = network_name(&self.project, &key);
            if self.project.networks.get(&key).is_some_and(|n| n.external) && self.find("networks", &name)?.is_none() {
                return Err(missing_external_network(&name));
            }
        }
        for key in self.used_volumes(services) {
            let vol = self.project.volumes.get(&key).cloned().unwrap_or_default();
            let name = volume_name(&self.project, &key);
            if vol.external && self.find("volumes", &name)?.is_none() {
                return Err(missing_external_volume(&name));
            }
        }
        Ok(())
    }

    /// Removes the project's networks (those labelled for it; external ones are
    /// never labelled). A network still in use is reported, not fatal.
    pub(crate) fn remove_networks(&self) -> Result<()> {
        for (id, name) in self.labelled("/networks", "Name")? {
            self.remove_object(Kind::Network, &format!("/networks/{}", encode(&id)), &name);
        }
        Ok(())
    }

    /// Removes the project's named volumes (`down -v`).
    pub(crate) fn remove_volumes(&self) -> Result<()> {
        for (_, name) in self.labelled("/volumes", "Name")? {
            self.remove_object(Kind::Volume, &format!("/volumes/{}", encode(&name)), &name);
        }
        Ok(())
    }

    /// `DELETE path` of a network, volume or image: one already gone is fine,
    /// one that cannot go (still in use) is a warning, as compose's `down` has it.
    pub(crate) fn remove_object(&self, kind: Kind, path: &str, name: &str) {
        self.event(kind, name, "Removing");
        match api::delete(&self.client, path, || format!("removing {} {name}", kind.as_str().to_lowercase())) {
            Ok(()) => self.event(kind, name, "Removed"),
            Err(e) if e.is_not_found() => {}
            Err(e) => self.warn(&e.to_string()),
        }
    }

    /// (id, name) of the networks or volumes labelled for this project.
    fn labelled(&self, path: &str, name_field: &str) -> Result<Vec<(String, String)>> {
        let mut f = Filters::new();
        f.add("label", &format!("{}={}", labels::PROJECT, self.project.name));
        let q = query([("filters", Some(f.to_json()))]);
        let v: Value = api::get(&self.client, &format!("{path}{q}"), || format!("listing {}", path.trim_start_matches('/')))?;
        // /networks answers a list, /volumes {"Volumes": [...]}.
        let items = v.as_array().cloned().or_else(|| v["Volumes"].as_array().cloned()).unwrap_or_default();
        let mut out: Vec<(String, String)> = items
            .iter()
            .filter_map(|i| {
                let name = i[name_field].as_str()?.to_owned();
                Some((i["Id"].as_str().map(str::to_owned).unwrap_or_else(|| name.clone()), name))
            })
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(out)
    }
}

fn missing_external_network(name: &str) -> EngineError {
    EngineError::Other(format!("network {name} declared as external, but could not be found"))
}

fn missing_external_volume(name: &str) -> EngineError {
    EngineError::Other(format!("external volume \"{name}\" not found"))
}

/// The create body of a project network: driver, options, ipam, flags, labels.
fn network_request(name: &str, net: &Network, labels: std::collections::BTreeMap<String, String>) -> Result<NetworkCreateRequest> {
    let ipam = match net.extra.get("ipam") {
        None | Some(Value::Null) => None,
        Some(v) => Some(ipam(v).map_err(|m| EngineError::Other(format!("network {name}: ipam: {m}")))?),
    };
    Ok(NetworkCreateRequest {
        name: name.to_owned(),
        driver: net.driver.clone().or(Some("bridge".into())),
        internal: net.internal.then_some(true),
        attachable: net.attachable.then_some(true),
        enable_ipv6: net.enable_ipv6,
        options: (!net.driver_opts.is_empty()).then(|| net.driver_opts.clone().into_iter().collect()),
        labels: Some(labels.into_iter().collect()),
        ipam,
        ..Default::default()
    })
}

/// compose's `ipam: {driver, config: [{subnet, ip_range, gateway, aux_addresses}], options}`.
fn ipam(v: &Value) -> std::result::Result<Ipam, String> {
    let str_map = |v: &Value| -> HashMap<String, String> { v.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))).collect()).unwrap_or_default() };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut config = Vec::new();
    for c in v.get("config").and_then(Value::as_array).into_iter().flatten() {
        if !c.is_object() {
            return Err(format!("invalid config entry {c}"));
        }
        config.push(IpamConfig {
            subnet: text(c, "subnet"),
            ip_range: text(c, "ip_range"),
            gateway: text(c, "gateway"),
            auxiliary_addresses: c.get("aux_addresses").map(str_map).filter(|m| !m.is_empty()),
        });
    }
    Ok(Ipam { driver: text(v, "driver"), config: Some(config), options: v.get("options").map(str_map).filter(|m| !m.is_empty()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_bodies() {
        let net: Network = serde_json::from_value(serde_json::json!({
            "driver_opts": {"com.docker.network.bridge.name": "brx"}, "internal": true,
            "ipam": {"config": [{"subnet": "10.231.7.0/24", "gateway": "10.231.7.1", "aux_addresses": {"h": "10.231.7.9"}}]},
            "labels": {"x": "1"}
        }))
        .unwrap();
        let b = serde_json::to_value(network_request("p_n", &net, [("x".to_owned(), "1".to_owned())].into()).unwrap()).unwrap();
        assert_eq!(b["Name"], "p_n");
        assert_eq!(b["Driver"], "bridge");
        assert_eq!(b["Internal"], true);
        assert_eq!(b["Options"]["com.docker.network.bridge.name"], "brx");
        assert_eq!(b["IPAM"]["Config"][0], serde_json::json!({"Subnet": "10.231.7.0/24", "Gateway": "10.231.7.1", "AuxiliaryAddresses": {"h": "10.231.7.9"}}));
        let bad: Network = serde_json::from_value(serde_json::json!({"ipam": {"config": ["10.0.0.0/8"]}})).unwrap();
        assert!(network_request("p_n", &bad, Default::default()).unwrap_err().to_string().contains("invalid config entry"));
    }
}
