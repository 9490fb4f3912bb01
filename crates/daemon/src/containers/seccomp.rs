//! Which seccomp filter a container gets: Docker's default profile unless the
//! container says `--security-opt seccomp=unconfined|<profile>` or runs privileged, and
//! the daemon's default is daemon.json's `seccomp-profile` (a path, `builtin` or
//! `unconfined`), as dockerd's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

/// Docker's default profile, the reference berth follows exactly (it conditions rules
/// on capabilities, so the same profile gives different filters per cap set).
pub const BUILTIN: &str = include_str!("../../../../../shared/reference/seccomp-default.json");

/// The daemon-wide default.
#[derive(Clone, Debug, Default)]
pub enum DaemonDefault {
    #[default]
    Builtin,
    Unconfined,
    /// A profile file's contents, checked when daemon.json was read.
    Custom(Arc<str>),
}

impl DaemonDefault {
    /// daemon.json's `seccomp-profile`: `builtin`, `unconfined` or a profile path.
    pub fn from_setting(v: Option<&str>) -> Result<DaemonDefault> {
        Ok(match v {
            None | Some("") | Some("builtin") => DaemonDefault::Builtin,
            Some("unconfined") => DaemonDefault::Unconfined,
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("seccomp-profile: reading {path}"))?;
                berth_runtime::seccomp::from_docker_profile(&text, &[]).map_err(|e| anyhow!("seccomp-profile {path}: {e}"))?;
                DaemonDefault::Custom(text.into())
            }
        })
    }

    /// `info`'s SecurityOptions entry.
    pub fn info_name(&self) -> &'static str {
        match self {
            DaemonDefault::Builtin => "name=seccomp,profile=builtin",
            DaemonDefault::Unconfined => "name=seccomp,profile=unconfined",
            DaemonDefault::Custom(_) => "name=seccomp,profile=custom",
        }
    }
}

/// What the container asked for with `--security-opt seccomp=…`.
#[derive(Clone, Debug, PartialEq)]
pub enum Choice {
    /// Nothing said: the daemon's default.
    Default,
    Unconfined,
    /// The profile's JSON (the docker CLI sends the file's contents, not its path).
    Profile(String),
}

impl Choice {
    pub fn from_value(v: &str) -> Choice {
        match v {
            "unconfined" => Choice::Unconfined,
            "builtin" | "" => Choice::Default,
            json => Choice::Profile(json.to_owned()),
        }
    }
}

/// The daemon's side of a container's filter: its default, and where programs compiled
/// ahead are kept (None: let the runtime compile every time).
pub struct Policy<'a> {
    pub default: &'a DaemonDefault,
    pub programs: Option<&'a Path>,
}

/// A container's filter: the spec's `linux.seccomp`, and the program compiled ahead for
/// it (the runtime's [`berth_runtime::seccomp::PROGRAM_ANNOTATION`]).
#[derive(Clone, Debug)]
pub struct Filter {
    pub section: Value,
    pub program: Option<PathBuf>,
}

/// The filter for a process with capabilities `caps`, or None for none.
pub fn filter(choice: &Choice, privileged: bool, policy: &Policy<'_>, caps: &[String]) -> Result<Option<Filter>> {
    // Docker never filters privileged containers, whatever the profile.
    if privileged {
        return Ok(None);
    }
    // One shared copy of the builtin text, not one per start.
    static BUILTIN_ARC: OnceLock<Arc<str>> = OnceLock::new();
    let shared = match (choice, policy.default) {
        (Choice::Unconfined, _) | (Choice::Default, DaemonDefault::Unconfined) => return Ok(None),
        (Choice::Profile(text), _) => return Ok(Some(Filter { section: convert(text, caps)?, program: None })),
        (Choice::Default, DaemonDefault::Builtin) => BUILTIN_ARC.get_or_init(|| Arc::from(BUILTIN)).clone(),
        (Choice::Default, DaemonDefault::Custom(text)) => text.clone(),
    };
    shared_filter(shared, caps, policy.programs).map(Some)
}

fn convert(text: &str, caps: &[String]) -> Result<Value> {
    let s = berth_runtime::seccomp::from_docker_profile(text, caps).map_err(|e| anyhow!("invalid seccomp profile: {e}"))?;
    Ok(serde_json::to_value(s)?)
}

type Cache = HashMap<(Arc<str>, Vec<String>), Filter>;

/// The daemon-wide profile converted and compiled once per capability set: parsing
/// Docker's 20 KB profile and compiling it with libseccomp (~17 ms) on every start
/// would cost more than the rest of the start.
fn shared_filter(profile: Arc<str>, caps: &[String], programs: Option<&Path>) -> Result<Filter> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let mut sorted = caps.to_vec();
    sorted.sort();
    let key = (profile, sorted);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(f) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        if f.program.as_ref().is_none_or(|p| p.exists()) {
            return Ok(f.clone());
        }
    }
    let spec = berth_runtime::seccomp::from_docker_profile(&key.0, caps).map_err(|e| anyhow!("invalid seccomp profile: {e}"))?;
    let section = serde_json::to_value(&spec)?;
    let program = match programs {
        Some(dir) => {
            match berth_runtime::seccomp::write_program(dir, &spec) {
                Ok(p) => Some(p),
                Err(e) => {
                    // The runtime compiles it itself then: slower, not wrong.
                    tracing::warn!("precompiling the seccomp profile in {}: {e}", dir.display());
                    None
                }
            }
        }
        None => None,
    };
    let f = Filter { section, program };
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(key, f.clone());
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &Value) -> Vec<String> {
        v["syscalls"].as_array().unwrap().iter().flat_map(|s| s["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned())).collect()
    }

    fn policy(d: &DaemonDefault) -> Policy<'_> {
        Policy { default: d, programs: None }
    }

    #[test]
    fn default_is_docker_profile_and_depends_on_caps() {
        let caps: Vec<String> = vec!["CAP_CHOWN".into()];
        let b = DaemonDefault::Builtin;
        let v = filter(&Choice::Default, false, &policy(&b), &caps).unwrap().unwrap().section;
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(names(&v).contains(&"read".to_owned()) && !names(&v).contains(&"mount".to_owned()));
        let admin = filter(&Choice::Default, false, &policy(&b), &["CAP_SYS_ADMIN".to_owned()]).unwrap().unwrap().section;
        assert!(names(&admin).contains(&"mount".to_owned()));
    }

    #[test]
    fn unconfined_privileged_and_custom() {
        let b = DaemonDefault::Builtin;
        assert!(filter(&Choice::Unconfined, false, &policy(&b), &[]).unwrap().is_none());
        assert!(filter(&Choice::Default, true, &policy(&b), &[]).unwrap().is_none());
        assert!(filter(&Choice::Default, false, &policy(&DaemonDefault::Unconfined), &[]).unwrap().is_none());
        let p = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let v = filter(&Choice::Profile(p.into()), false, &policy(&DaemonDefault::Unconfined), &[]).unwrap().unwrap().section;
        assert_eq!(names(&v), vec!["mkdir"]);
        let e = filter(&Choice::Profile("{not json".into()), false, &policy(&b), &[]).unwrap_err();
        assert!(e.to_string().contains("invalid seccomp profile"), "{e}");
    }

    #[test]
    fn default_program_compiled_once_into_the_programs_dir() {
        let dir = tempfile::tempdir().unwrap();
        let custom = DaemonDefault::Custom(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chroot"],"action":"SCMP_ACT_ERRNO"}]}"#.into());
        let p = Policy { default: &custom, programs: Some(dir.path()) };
        let f = filter(&Choice::Default, false, &p, &[]).unwrap().unwrap();
        let path = f.program.clone().expect("a program");
        assert!(path.starts_with(dir.path()) && path.exists());
        let again = filter(&Choice::Default, false, &p, &[]).unwrap().unwrap();
        assert_eq!(again.program, f.program);
        // Removed behind the daemon's back (exec root wiped): written again.
        std::fs::remove_file(&path).unwrap();
        assert!(filter(&Choice::Default, false, &p, &[]).unwrap().unwrap().program.unwrap().exists());
    }
}
