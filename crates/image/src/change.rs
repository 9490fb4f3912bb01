//! `--change` instructions of `import` and `commit` (`CMD`, `ENTRYPOINT`, `ENV`, `WORKDIR`,
//! `USER`, `EXPOSE`, `LABEL`, `VOLUME`, `STOPSIGNAL`), parsed as the Dockerfile does and
//! applied to an image's runtime config.

use std::collections::HashMap;

use oci_spec::image::Config;

use crate::error::{Error, Result};

/// One parsed `--change` instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    Volume(Vec<String>),
    StopSignal(String),
}

impl Change {
    /// Parses one instruction, e.g. `CMD ["sh"]`, `ENV A=1 B="two words"`, `EXPOSE 80/tcp`.
    pub fn parse(s: &str) -> Result<Change> {
        let bad = |reason: &str| Error::InvalidChange { change: s.to_owned(), reason: reason.to_owned() };
        let trimmed = s.trim();
        let (keyword, rest) = match trimmed.split_once(char::is_whitespace) {
            Some((k, r)) => (k, r.trim()),
            None => (trimmed, ""),
        };
        let keyword = keyword.to_ascii_uppercase();
        let allowed = ["CMD", "ENTRYPOINT", "ENV", "WORKDIR", "USER", "EXPOSE", "LABEL", "VOLUME", "STOPSIGNAL"];
        if !allowed.contains(&keyword.as_str()) {
            return Err(if keyword.is_empty() {
                bad("empty instruction")
            } else {
                bad(&format!("{keyword} is not a valid change command"))
            });
        }
        if rest.is_empty() {
            return Err(bad(&format!("{keyword} requires at least one argument")));
        }
        Ok(match keyword.as_str() {
            "CMD" => Change::Cmd(command(rest)),
            "ENTRYPOINT" => Change::Entrypoint(command(rest)),
            "ENV" => Change::Env(key_values(rest, "ENV").map_err(|r| bad(&r))?),
            "LABEL" => Change::Label(key_values(rest, "LABEL").map_err(|r| bad(&r))?),
            "WORKDIR" => Change::Workdir(rest.to_owned()),
            "USER" => Change::User(rest.to_owned()),
            "STOPSIGNAL" => Change::StopSignal(rest.to_owned()),
            "VOLUME" => Change::Volume(match json_array(rest) {
                Some(v) => v,
                None => words(rest).map_err(|r| bad(&r))?,
            }),
            "EXPOSE" => {
                let mut ports = Vec::new();
                for w in words(rest).map_err(|r| bad(&r))? {
                    ports.extend(expose_ports(&w).map_err(|r| bad(&r))?);
                }
                Change::Expose(ports)
            }
            _ => unreachable!("checked against the allowed list"),
        })
    }

    /// Applies the instruction to a runtime config, as the builder would.
    pub fn apply(&self, config: &mut Config) {
        match self {
            Change::Cmd(c) => {
                config.set_cmd(Some(c.clone()));
            }
            Change::Entrypoint(e) => {
                config.set_entrypoint(Some(e.clone()));
                // Docker resets CMD when ENTRYPOINT is set after it.
                config.set_cmd(None);
            }
            Change::Env(kvs) => {
                let mut env = config.env().clone().unwrap_or_default();
                for (k, v) in kvs {
                    let entry = format!("{k}={v}");
                    match env.iter_mut().find(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str()) || *e == k) {
                        Some(existing) => *existing = entry,
                        None => env.push(entry),
                    }
                }
                config.set_env(Some(env));
            }
            Change::Workdir(w) => {
                let base = config.working_dir().clone().unwrap_or_else(|| "/".into());
                let joined = if w.starts_with('/') { w.clone() } else { format!("{}/{w}", base.trim_end_matches('/')) };
                config.set_working_dir(Some(joined));
            }
            Change::User(u) => {
                config.set_user(Some(u.clone()));
            }
            Change::Expose(ports) => {
                let mut all = config.exposed_ports().clone().unwrap_or_default();
                for p in ports {
                    if !all.contains(p) {
                        all.push(p.clone());
                    }
                }
                all.sort();
                config.set_exposed_ports(Some(all));
            }
            Change::Label(kvs) => {
                let mut labels: HashMap<String, String> = config.labels().clone().unwrap_or_default();
                labels.extend(kvs.iter().cloned());
                config.set_labels(Some(labels));
            }
            Change::Volume(vs) => {
                let mut all = config.volumes().clone().unwrap_or_default();
                for v in vs {
                    if !all.contains(v) {
                        all.push(v.clone());
                    }
                }
                config.set_volumes(Some(all));
            }
            Change::StopSignal(s) => {
                config.set_stop_signal(Some(s.clone()));
            }
        }
    }
}

/// Exec form (`["a","b"]`) or shell form (`/bin/sh -c "..."`).
fn command(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_owned()])
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

/// `KEY=VALUE ...` with shell-like quoting, or the legacy `KEY VALUE` form (one pair, the
/// value being the rest of the line).
fn key_values(rest: &str, keyword: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).ok_or_else(|| format!("{keyword} names must be followed by a value"))?;
        return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    words(rest)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, _)) if k.is_empty() => Err(format!("{keyword} names can not be blank")),
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value")),
        })
        .collect()
}

/// Splits on unquoted whitespace; `"..."` (with backslash escapes) and `'...'` group.
fn words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().ok_or("trailing backslash")?);
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next().ok_or("unterminated double quote")? {
                        '"' => break,
                        '\\' => cur.push(chars.next().ok_or("unterminated double quote")?),
                        c => cur.push(c),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next().ok_or("unterminated single quote")? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `80`, `80/tcp`, `53/udp`, `8000-8002/tcp` → `["80/tcp"]`, ...
fn expose_ports(spec: &str) -> std::result::Result<Vec<String>, String> {
    let (range, proto) = match spec.split_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0).ok_or_else(|| format!("invalid containerPort: {p}"));
    let (lo, hi) = match range.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(range)?, port(range)?),
    };
    if hi < lo {
        return Err(format!("invalid range specified for containerPort: {range}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Config {
        let mut c = Config::default();
        for s in changes {
            Change::parse(s).unwrap().apply(&mut c);
        }
        c
    }

    #[test]
    fn parses_and_applies_dockerfile_forms() {
        let c = apply(&[
            "CMD [\"/bin/sh\", \"-c\", \"echo hi\"]",
            "ENV A=1 B=\"two words\" C=x\\ y",
            "env PATH /usr/bin:/bin",
            "ENV A=3",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER nobody:nogroup",
            "EXPOSE 80 53/udp 8000-8001",
            "LABEL org.example=\"a b\" other='q'",
            "VOLUME [\"/data\"]",
            "STOPSIGNAL SIGTERM",
        ]);
        assert_eq!(c.cmd().clone().unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.env().clone().unwrap(), vec!["A=3", "B=two words", "C=x y", "PATH=/usr/bin:/bin"]);
        assert_eq!(c.working_dir().clone().unwrap(), "/srv/app");
        assert_eq!(c.user().clone().unwrap(), "nobody:nogroup");
        assert_eq!(c.exposed_ports().clone().unwrap(), vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let labels = c.labels().clone().unwrap();
        assert_eq!(labels["org.example"], "a b");
        assert_eq!(labels["other"], "q");
        assert_eq!(c.volumes().clone().unwrap(), vec!["/data"]);
        assert_eq!(c.stop_signal().clone().unwrap(), "SIGTERM");

        let c = apply(&["CMD echo $HOME", "ENTRYPOINT [\"/init\"]"]);
        assert_eq!(c.cmd(), &None, "ENTRYPOINT resets CMD");
        assert_eq!(c.entrypoint().clone().unwrap(), vec!["/init"]);
        let c = apply(&["ENTRYPOINT /init --flag"]);
        assert_eq!(c.entrypoint().clone().unwrap(), vec!["/bin/sh", "-c", "/init --flag"]);
    }

    #[test]
    fn rejects_bad_changes() {
        for bad in ["RUN echo", "FROM busybox", "", "CMD", "EXPOSE 0", "EXPOSE 70000", "EXPOSE 80/icmp",
                    "EXPOSE 90-80", "ENV =x", "ENV A=\"open", "LABEL novalue", "ENV A=1 B"] {
            let e = Change::parse(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidChange { .. }), "{bad:?}: {e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        assert!(Change::parse("RUN x").unwrap_err().to_string().contains("RUN is not a valid change command"));
    }
}
