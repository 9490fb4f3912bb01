//! berth's packet filtering and NAT, in nftables tables of its own.
//!
//! ## Design
//! The whole of berth's ruleset lives in one table (`table ip berth` by default; the
//! name is configurable so tests can run side by side) and is rebuilt from the store
//! in a single `nft -j -f -` transaction: "add table; delete table; add table, chains
//! and rules". The kernel applies the batch atomically, so there is never a moment
//! without rules, and nothing outside berth's table is touched (no flush ruleset, no
//! reordering of anyone's chains). Rebuilding is idempotent, which makes
//! [`apply`] both the per-change update and `reconcile()` on daemon start. Rules are
//! only rebuilt when networks or published ports change; a container without `-p`
//! causes no nft call.
//!
//! Chains of `table ip <t>`:
//! - `prerouting` (nat, dstnat) and `output` (nat, -100): `fib daddr type local jump
//!   ports` — published ports for traffic to any local address, from other hosts and
//!   from the host itself (127.0.0.1 included).
//! - `ports`: one `dnat` per published port.
//! - `postrouting` (nat, srcnat): masquerade a non-internal subnet leaving through any
//!   other interface; masquerade 127.0.0.0/8 sources DNAT'd onto a bridge (the host
//!   reaching a published port via localhost, together with `route_localnet=1` on the
//!   bridge); masquerade DNAT'd traffic that hairpins back onto its own bridge.
//! - `forward` (filter, policy accept): drop anything entering or leaving an internal
//!   network's bridge from or to another interface; then accept DNAT'd traffic (a
//!   published port reached through a host address, from any network); then
//!   isolation: drop between two different berth bridges.
//!
//! ## Coexisting with Docker (iptables FORWARD policy DROP)
//! netfilter runs every base chain registered at a hook; `accept` only ends the chain
//! it is in, while `drop` anywhere is final. So an accept in berth's own forward chain
//! cannot override Docker's `filter FORWARD` policy DROP (nor a drop in any other
//! table). Netavark (Podman) copes the same way Docker asks other software to: by
//! placing its accepts *inside* the iptables `filter` table — a `-j NETAVARK_FORWARD`
//! jump at the top of FORWARD (its nftables driver does not handle Docker's DROP,
//! containers/netavark#977). berth does likewise when, and only when, the host's
//! iptables FORWARD chain has policy DROP (or already holds berth's jump): a chain
//! `BERTH-FORWARD` (named after the table) accepting traffic from berth bridges and
//! established/DNAT'd traffic to them, jumped to from FORWARD, managed through the
//! `iptables` command so it stays in the format of whichever iptables (nft or legacy)
//! the host uses. berth's isolation drops still hold, since drops are final. The jump
//! and chain are removed with the last berth network.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use ipnet::Ipv4Net;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::PublishedPort;
use crate::portspec::Proto;

/// One berth bridge as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub internal: bool,
}

/// Everything berth's table holds.
#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    pub bridges: Vec<BridgeRules>,
    pub ports: Vec<PublishedPort>,
}

impl Ruleset {
    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty() && self.ports.is_empty()
    }
}

fn base_chain(table: &str, name: &str, kind: &str, hook: &str, prio: i32) -> Value {
    json!({"add": {"chain": {"family": "ip", "table": table, "name": name,
        "type": kind, "hook": hook, "prio": prio, "policy": "accept"}}})
}

fn rule(table: &str, chain: &str, expr: Vec<Value>) -> Value {
    json!({"add": {"rule": {"family": "ip", "table": table, "chain": chain, "expr": expr}}})
}

fn eq(left: Value, right: Value) -> Value {
    json!({"match": {"op": "==", "left": left, "right": right}})
}

fn ne(left: Value, right: Value) -> Value {
    json!({"match": {"op": "!=", "left": left, "right": right}})
}

fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

fn prefix(net: &Ipv4Net) -> Value {
    json!({"prefix": {"addr": net.network().to_string(), "len": net.prefix_len()}})
}

fn payload(proto: &str, field: &str) -> Value {
    json!({"payload": {"protocol": proto, "field": field}})
}

/// The JSON batch that replaces berth's table with `rules` (or just removes it).
pub fn batch(table: &str, rules: &Ruleset) -> Value {
    let t = json!({"family": "ip", "name": table});
    // "add" first so that "delete" cannot fail on a missing table.
    let mut cmds = vec![json!({"add": {"table": t}}), json!({"delete": {"table": t}})];
    if rules.is_empty() {
        return json!({"nftables": cmds});
    }
    cmds.push(json!({"add": {"table": t}}));
    cmds.push(base_chain(table, "prerouting", "nat", "prerouting", -100));
    cmds.push(base_chain(table, "output", "nat", "output", -100));
    cmds.push(base_chain(table, "postrouting", "nat", "postrouting", 100));
    cmds.push(base_chain(table, "forward", "filter", "forward", 0));
    cmds.push(json!({"add": {"chain": {"family": "ip", "table": table, "name": "ports"}}}));

    let local = eq(json!({"fib": {"result": "type", "flags": ["daddr"]}}), json!("local"));
    for chain in ["prerouting", "output"] {
        cmds.push(rule(table, chain, vec![local.clone(), json!({"jump": {"target": "ports"}})]));
    }

    for p in &rules.ports {
        let proto = match p.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        };
        let mut expr = vec![];
        if p.host_ip != Ipv4Addr::UNSPECIFIED {
            expr.push(eq(payload("ip", "daddr"), json!(p.host_ip.to_string())));
        }
        expr.push(eq(payload(proto, "dport"), json!(p.host_port)));
        expr.push(json!({"dnat": {"addr": p.container_ip.to_string(), "port": p.container_port}}));
        cmds.push(rule(table, "ports", expr));
    }

    // Forward: internal networks' drops first, then DNAT'd traffic (published ports)
    // is let through, then the pairwise isolation drops.
    for b in rules.bridges.iter().filter(|b| b.internal) {
        let br = json!(b.bridge);
        cmds.push(rule(table, "forward", vec![eq(meta("iifname"), br.clone()), ne(meta("oifname"), br.clone()), json!({"drop": null})]));
        cmds.push(rule(table, "forward", vec![eq(meta("oifname"), br.clone()), ne(meta("iifname"), br.clone()), json!({"drop": null})]));
    }
    cmds.push(rule(table, "forward", vec![eq(json!({"ct": {"key": "status"}}), json!("dnat")), json!({"accept": null})]));

    for b in &rules.bridges {
        let br = json!(b.bridge);
        if !b.internal {
            cmds.push(rule(table, "postrouting", vec![
                eq(payload("ip", "saddr"), prefix(&b.subnet)),
                ne(meta("oifname"), br.clone()),
                json!({"masquerade": null}),
            ]));
        }
        // The host reaching a published port through 127.0.0.1: after output DNAT the
        // source is still loopback; give it the bridge's address.
        cmds.push(rule(table, "postrouting", vec![
            eq(meta("oifname"), br.clone()),
            eq(payload("ip", "saddr"), json!({"prefix": {"addr": "127.0.0.0", "len": 8}})),
            json!({"masquerade": null}),
        ]));
        // Hairpin: a container reaching a published port of its own bridge.
        cmds.push(rule(table, "postrouting", vec![
            eq(meta("oifname"), br.clone()),
            eq(payload("ip", "saddr"), prefix(&b.subnet)),
            eq(json!({"ct": {"key": "status"}}), json!("dnat")),
            json!({"masquerade": null}),
        ]));

        // Isolation between berth bridges (after the accept of DNAT'd traffic below,
        // so a container may use another network's published port via a host address).
        for other in rules.bridges.iter().filter(|o| o.bridge != b.bridge) {
            cmds.push(rule(table, "forward", vec![
                eq(meta("iifname"), br.clone()),
                eq(meta("oifname"), json!(other.bridge)),
                json!({"drop": null}),
            ]));
        }
    }
    json!({"nftables": cmds})
}

/// Replaces berth's table in one transaction, then keeps the iptables compatibility
/// chain in step.
pub fn apply(table: &str, rules: &Ruleset) -> Result<()> {
    run_nft(&batch(table, rules))?;
    iptables_compat(table, rules).map(drop)
}

/// Puts back what someone else removed or made ineffective since the last [`apply`]:
/// berth's table (gone after `nft flush ruleset`, e.g. nftables.service reloading) and
/// the iptables chain (needed once Docker started and set FORWARD's policy to DROP).
/// Changes nothing when all is in place, so calling it after every host ruleset change
/// cannot feed on its own changes. Returns whether it changed anything.
pub fn ensure(table: &str, rules: &Ruleset) -> Result<bool> {
    let rebuilt = !rules.is_empty() && !table_exists(table);
    if rebuilt {
        run_nft(&batch(table, rules))?;
    }
    Ok(iptables_compat(table, rules)? || rebuilt)
}

/// True if berth's table exists (used by tests and cleanup checks).
pub fn table_exists(table: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "ip", table])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run_nft(batch: &Value) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft(format!("running nft (is the nftables package installed?): {e}")))?;
    let body = batch.to_string();
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body.as_bytes()).map_err(|e| Error::Nft(format!("writing to nft: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| Error::Nft(format!("waiting for nft: {e}")))?;
    if !out.status.success() {
        return Err(Error::Nft(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(())
}

/// The iptables chain berth uses beside a DROP policy: `BERTH-FORWARD` for the table
/// `berth`, the upper-cased table name otherwise (max 28 chars as iptables wants).
pub fn compat_chain(table: &str) -> String {
    let mut c = format!("{}-FORWARD", table.to_ascii_uppercase());
    c.truncate(28);
    c
}

fn iptables(args: &[&str]) -> Option<std::process::Output> {
    Command::new("iptables").arg("-w").args(args).stdin(Stdio::null()).output().ok()
}

/// Keeps berth's iptables chain in step; returns whether it changed anything.
fn iptables_compat(table: &str, rules: &Ruleset) -> Result<bool> {
    let chain = compat_chain(table);
    let Some(fwd) = iptables(&["-S", "FORWARD"]) else { return Ok(false) }; // no iptables at all
    let listing = String::from_utf8_lossy(&fwd.stdout);
    let jump = format!("-A FORWARD -j {chain}");
    let has_jump = listing.lines().any(|l| l.trim() == jump);
    let drop_policy = listing.lines().any(|l| l.trim() == "-P FORWARD DROP");
    let wanted = !rules.bridges.is_empty() && (drop_policy || has_jump);

    if !wanted {
        let mut changed = false;
        if has_jump {
            iptables(&["-D", "FORWARD", "-j", &chain]);
            changed = true;
        }
        if iptables(&["-S", &chain]).is_some_and(|o| o.status.success()) {
            iptables(&["-F", &chain]);
            iptables(&["-X", &chain]);
            changed = true;
        }
        return Ok(changed);
    }

    let check = |o: Option<std::process::Output>, what: &str| -> Result<()> {
        match o {
            Some(o) if o.status.success() => Ok(()),
            Some(o) => Err(Error::Nft(format!("iptables {what}: {}", String::from_utf8_lossy(&o.stderr).trim()))),
            None => Err(Error::Nft(format!("iptables {what}: could not run iptables"))),
        }
    };
    // Rewrite the chain only when it differs: the firewall watcher calls this after
    // every ruleset change on the host, and a needless rewrite would be a change too.
    let wanted_rules = compat_rules(rules);
    let current = iptables(&["-S", &chain]).filter(|o| o.status.success());
    let in_step = current.as_ref().is_some_and(|o| {
        let text = String::from_utf8_lossy(&o.stdout);
        let have: Vec<&str> = text.lines().map(str::trim).filter(|l| l.starts_with("-A ")).collect();
        have.len() == wanted_rules.len() && have.iter().zip(&wanted_rules).all(|(h, w)| *h == format!("-A {chain} {}", w.join(" ")))
    });
    if !in_step {
        if current.is_none() {
            check(iptables(&["-N", &chain]), "create chain")?;
        }
        check(iptables(&["-F", &chain]), "flush own chain")?;
        for r in &wanted_rules {
            let mut args = vec!["-A", chain.as_str()];
            args.extend(r.iter().map(String::as_str));
            check(iptables(&args), "add rule")?;
        }
    }
    if !has_jump {
        check(iptables(&["-I", "FORWARD", "-j", &chain]), "insert jump")?;
    }
    Ok(!in_step || !has_jump)
}

/// The rules of berth's iptables chain, each as `iptables -S` prints it after `-A CHAIN`.
fn compat_rules(rules: &Ruleset) -> Vec<Vec<String>> {
    let words = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
    let mut out = Vec::new();
    for b in &rules.bridges {
        if b.internal {
            out.push(words(&format!("-i {0} -o {0} -j ACCEPT", b.bridge)));
            continue;
        }
        out.push(words(&format!("-i {} -j ACCEPT", b.bridge)));
        out.push(words(&format!("-o {} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT", b.bridge)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_ruleset_only_removes_the_table() {
        let b = batch("berth_t", &Ruleset::default());
        let cmds = b["nftables"].as_array().unwrap();
        assert_eq!(cmds.len(), 2);
        assert!(cmds[1]["delete"]["table"]["name"] == "berth_t");
    }

    #[test]
    fn isolation_and_ports_are_rendered() {
        let rules = Ruleset {
            bridges: vec![
                BridgeRules { bridge: "br-a".into(), subnet: "10.1.0.0/24".parse().unwrap(), internal: false },
                BridgeRules { bridge: "br-b".into(), subnet: "10.2.0.0/24".parse().unwrap(), internal: true },
            ],
            ports: vec![PublishedPort {
                container_id: "c".into(),
                proto: Proto::Udp,
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: 5353,
                container_ip: "10.1.0.2".parse().unwrap(),
                container_port: 53,
                bridge: "br-a".into(),
            }],
        };
        let text = batch("t", &rules).to_string();
        assert!(text.contains(r#"{"dnat":{"addr":"10.1.0.2","port":53}}"#), "{text}");
        // Only the non-internal subnet is masqueraded out.
        assert_eq!(text.matches(r#""addr":"10.1.0.0""#).count(), 2);
        assert_eq!(text.matches(r#""addr":"10.2.0.0""#).count(), 1);
        assert!(text.contains(r#""right":"br-b"},"op":"=="}},{"drop":null}"#) || text.contains("br-b"));
    }

    #[test]
    fn compat_chain_names() {
        assert_eq!(compat_chain("berth"), "BERTH-FORWARD");
        assert!(compat_chain("a_very_long_table_name_for_tests_123").len() <= 28);
    }
}
