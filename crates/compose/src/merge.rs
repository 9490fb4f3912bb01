//! The compose-spec "Merge and override" rules, on normalised JSON trees.
//!
//! Inputs are already in long form (see [`crate::normalize`]), so the rules are:
//! mappings merge key by key; `command`, `entrypoint` and `healthcheck.test`
//! are replaced; `ports`, `volumes`, `secrets`, `configs`, `devices`,
//! `env_file` merge by their unique key (a later entry replaces an earlier one
//! with the same key, in place); a few lists drop duplicates; any other list is
//! appended; scalars are replaced. `!override` replaces at its path and `!reset`
//! removes the path from the result.

use crate::yaml::MergeTag;
use serde_json::Value;

/// Merges `over` into `base`, honouring the tags recorded for `over`.
/// Tag paths are relative to the roots of `base`/`over`.
pub fn merge(base: &mut Value, over: Value, tags: &[(Vec<String>, MergeTag)]) {
    merge_with_prefix(base, over, tags, &[])
}

/// Like [`merge`], but the trees are the node at `prefix` of a whole document
/// (used for `extends`, where only one service is merged). `prefix` decides which
/// path-specific rules apply (e.g. `["services", "web"]`).
pub fn merge_with_prefix(base: &mut Value, over: Value, tags: &[(Vec<String>, MergeTag)], prefix: &[String]) {
    let mut path: Vec<String> = prefix.to_vec();
    merge_at(base, over, &mut path, tags);
    for (p, t) in tags {
        if *t == MergeTag::Reset && p.starts_with(prefix) {
            remove_path(base, &p[prefix.len()..]);
        }
    }
}

fn merge_at(base: &mut Value, over: Value, path: &mut Vec<String>, tags: &[(Vec<String>, MergeTag)]) {
    if tags.iter().any(|(p, t)| *t == MergeTag::Override && p == path) {
        *base = over;
        return;
    }
    let rule = rule_for(path);
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            // Logging options belong to a driver: a new driver brings its own options.
            if matches!(rule, Rule::Logging) {
                let driver_changed = match (b.get("driver"), o.get("driver")) {
                    (Some(x), Some(y)) => x != y,
                    _ => false,
                };
                if driver_changed {
                    b.remove("options");
                }
            }
            if matches!(rule, Rule::Replace) {
                *b = o;
                return;
            }
            for (k, v) in o {
                path.push(k.clone());
                match b.get_mut(&k) {
                    Some(existing) => merge_at(existing, v, path, tags),
                    None => {
                        b.insert(k, v);
                    }
                }
                path.pop();
            }
        }
        (Value::Array(b), Value::Array(o)) => match rule {
            Rule::Replace => *b = o,
            Rule::Keyed(key_of) => {
                for item in o {
                    let k = key_of(&item);
                    match b.iter().position(|e| key_of(e) == k) {
                        Some(i) => b[i] = item,
                        None => b.push(item),
                    }
                }
            }
            Rule::Unique => {
                for item in o {
                    if !b.contains(&item) {
                        b.push(item);
                    }
                }
            }
            Rule::Append | Rule::Logging => b.extend(o),
        },
        (b, o) => *b = o,
    }
}

#[derive(Clone, Copy)]
enum Rule {
    Append,
    Replace,
    Unique,
    Logging,
    Keyed(fn(&Value) -> String),
}

fn rule_for(path: &[String]) -> Rule {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["services", _, "command" | "entrypoint"] => Rule::Replace,
        ["services", _, "healthcheck", "test"] => Rule::Replace,
        ["services", _, "ulimits", _] => Rule::Replace,
        ["services", _, "logging"] => Rule::Logging,
        ["services", _, "ports"] => Rule::Keyed(port_key),
        ["services", _, "volumes" | "devices"] => Rule::Keyed(target_key),
        ["services", _, "secrets"] => Rule::Keyed(secret_key),
        ["services", _, "configs"] => Rule::Keyed(config_key),
        ["services", _, "env_file"] => Rule::Keyed(|v| field(v, "path")),
        ["services", _, "extra_hosts"] => Rule::Unique,
        [
            "services",
            _,
            "cap_add" | "cap_drop" | "security_opt" | "expose" | "dns" | "dns_opt" | "dns_search" | "tmpfs"
            | "profiles" | "links" | "external_links" | "device_cgroup_rules" | "group_add" | "volumes_from"
            | "label_file",
        ] => Rule::Unique,
        ["services", _, "networks", _, "aliases" | "link_local_ips"] => Rule::Unique,
        ["services", _, "deploy", "placement", "constraints" | "preferences"] => Rule::Unique,
        _ => Rule::Append,
    }
}

fn field(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn port_key(v: &Value) -> String {
    format!(
        "{}|{}|{}|{}",
        field(v, "host_ip"),
        field(v, "target"),
        field(v, "published"),
        field(v, "protocol")
    )
}

fn target_key(v: &Value) -> String {
    match v {
        Value::Object(_) => field(v, "target"),
        other => other.to_string(),
    }
}

/// Secrets and configs mount at `target`, defaulting to a path derived from `source`.
fn secret_key(v: &Value) -> String {
    let t = field(v, "target");
    if t.is_empty() {
        format!("/run/secrets/{}", field(v, "source"))
    } else if t.starts_with('/') {
        t
    } else {
        format!("/run/secrets/{t}")
    }
}

fn config_key(v: &Value) -> String {
    let t = field(v, "target");
    if t.is_empty() {
        format!("/{}", field(v, "source"))
    } else {
        t
    }
}

/// Removes the node at `path` (mapping keys only); missing paths are ignored.
pub fn remove_path(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = v;
    for seg in parents {
        match cur {
            Value::Object(m) => match m.get_mut(seg) {
                Some(next) => cur = next,
                None => return,
            },
            _ => return,
        }
    }
    if let Value::Object(m) = cur {
        m.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn mappings_merge_scalars_replace_sequences_append() {
        let mut base = json!({"services": {"foo": {"key1": "value1", "key2": "value2", "dns": ["1.1.1.1"], "x": ["a"]}}});
        let over = json!({"services": {"foo": {"key2": "VALUE", "key3": "value3", "dns": ["8.8.8.8", "1.1.1.1"], "x": ["a"]}}});
        merge(&mut base, over, &[]);
        assert_eq!(
            base,
            json!({"services": {"foo": {"key1": "value1", "key2": "VALUE", "key3": "value3",
                "dns": ["1.1.1.1", "8.8.8.8"], "x": ["a", "a"]}}})
        );
    }

    #[test]
    fn commands_are_replaced() {
        let mut base = json!({"services": {"foo": {"command": ["echo", "foo"], "healthcheck": {"test": ["CMD", "a"], "retries": 3}}}});
        let over = json!({"services": {"foo": {"command": ["echo", "bar"], "healthcheck": {"test": ["CMD", "b"]}}}});
        merge(&mut base, over, &[]);
        assert_eq!(base["services"]["foo"]["command"], json!(["echo", "bar"]));
        assert_eq!(base["services"]["foo"]["healthcheck"], json!({"test": ["CMD", "b"], "retries": 3}));
    }

    #[test]
    fn unique_resources_merge_by_key() {
        let mut base = json!({"services": {"foo": {
            "volumes": [{"type": "volume", "source": "foo", "target": "/work"}, {"type": "volume", "source": "k", "target": "/keep"}],
            "ports": [{"target": 80, "published": "8080", "protocol": "tcp"}],
            "secrets": [{"source": "a"}]
        }}});
        let over = json!({"services": {"foo": {
            "volumes": [{"type": "volume", "source": "bar", "target": "/work"}],
            "ports": [{"target": 80, "published": "8080", "protocol": "tcp", "mode": "host"}, {"target": 443, "published": "8443", "protocol": "tcp"}],
            "secrets": [{"source": "a", "mode": 256}, {"source": "b"}]
        }}});
        merge(&mut base, over, &[]);
        let f = &base["services"]["foo"];
        assert_eq!(f["volumes"].as_array().unwrap().len(), 2);
        assert_eq!(f["volumes"][0]["source"], "bar");
        assert_eq!(f["ports"].as_array().unwrap().len(), 2);
        assert_eq!(f["ports"][0]["mode"], "host");
        assert_eq!(f["secrets"], json!([{"source": "a", "mode": 256}, {"source": "b"}]));
    }

    #[test]
    fn reset_and_override_tags() {
        let mut base = json!({"services": {"app": {"image": "myapp", "ports": [{"target": 80}], "environment": {"FOO": "BAR", "K": "v"}}}});
        let over = json!({"services": {"app": {"image": "myapp", "environment": {}}}});
        merge(&mut base, over, &[(p("services.app.ports"), MergeTag::Reset), (p("services.app.environment.FOO"), MergeTag::Reset)]);
        assert_eq!(base, json!({"services": {"app": {"image": "myapp", "environment": {"K": "v"}}}}));

        let mut base = json!({"services": {"app": {"ports": [{"target": 80}], "labels": {"a": "1"}}}});
        let over = json!({"services": {"app": {"ports": [{"target": 443}], "labels": {"b": "2"}}}});
        merge(&mut base, over, &[(p("services.app.ports"), MergeTag::Override), (p("services.app.labels"), MergeTag::Override)]);
        assert_eq!(base, json!({"services": {"app": {"ports": [{"target": 443}], "labels": {"b": "2"}}}}));
    }

    #[test]
    fn logging_driver_change_drops_options() {
        let mut base = json!({"services": {"a": {"logging": {"driver": "json-file", "options": {"max-size": "1m"}}}}});
        merge(&mut base, json!({"services": {"a": {"logging": {"driver": "syslog", "options": {"tag": "x"}}}}}), &[]);
        assert_eq!(base["services"]["a"]["logging"], json!({"driver": "syslog", "options": {"tag": "x"}}));
        let mut base = json!({"services": {"a": {"logging": {"driver": "json-file", "options": {"max-size": "1m"}}}}});
        merge(&mut base, json!({"services": {"a": {"logging": {"options": {"max-file": "3"}}}}}), &[]);
        assert_eq!(base["services"]["a"]["logging"]["options"], json!({"max-size": "1m", "max-file": "3"}));
    }

    #[test]
    fn prefix_applies_service_rules() {
        let mut base = json!({"command": ["a"], "cap_add": ["X"]});
        merge_with_prefix(&mut base, json!({"command": ["b"], "cap_add": ["X", "Y"]}), &[], &p("services.web"));
        assert_eq!(base, json!({"command": ["b"], "cap_add": ["X", "Y"]}));
    }
}
