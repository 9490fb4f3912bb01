//! Profiles, and the reference checks that must run once the enabled set is known.

use crate::error::{ComposeError, Result};
use crate::model::Project;
use std::collections::BTreeSet;

/// Keeps the services enabled by `active` profiles; the others move to
/// `project.meta.disabled_services`.
///
/// A service without profiles is always enabled. A service named in `explicit`
/// is enabled and its profiles become active (so its dependencies sharing a
/// profile come along), as the spec describes. `*` activates every profile.
pub fn apply_profiles(project: &mut Project, active: &[String], explicit: &[String]) -> Result<()> {
    let mut set: BTreeSet<String> = active.iter().cloned().collect();
    for name in explicit {
        let svc = project
            .services
            .get(name)
            .or_else(|| project.meta.disabled_services.get(name))
            .ok_or_else(|| ComposeError::NoSuchService(name.clone()))?;
        set.extend(svc.profiles.iter().cloned());
    }
    // Re-evaluate from scratch, so this can be applied again with other profiles.
    let mut all = std::mem::take(&mut project.services);
    all.append(&mut project.meta.disabled_services);
    let all_on = set.contains("*");
    for (name, svc) in all {
        let on = svc.profiles.is_empty()
            || all_on
            || svc.profiles.iter().any(|p| set.contains(p))
            || explicit.contains(&name);
        if on {
            project.services.insert(name, svc);
        } else {
            project.meta.disabled_services.insert(name, svc);
        }
    }
    project.meta.profiles = set.into_iter().collect();
    Ok(())
}

/// Checks that enabled services only refer to things that exist: services
/// (depends_on, links, volumes_from, `service:` namespaces), networks, volumes,
/// secrets and configs. Optional dependencies (`required: false`) on missing
/// services are dropped with a warning, as compose does.
pub fn check_references(project: &mut Project) -> Result<()> {
    let names: BTreeSet<String> = project.services.keys().cloned().collect();
    let mut warnings = Vec::new();
    for (name, svc) in project.services.iter_mut() {
        let missing: Vec<String> = svc
            .depends_on
            .iter()
            .filter(|(d, _)| !names.contains(*d))
            .map(|(d, _)| d.clone())
            .collect();
        for d in missing {
            if svc.depends_on[&d].required {
                return Err(ComposeError::UndefinedDependency { service: name.clone(), dependency: d });
            }
            warnings.push(format!("service {name:?} depends on undefined service {d:?}: ignored as not required"));
            svc.depends_on.remove(&d);
        }
        let mut others: Vec<String> = Vec::new();
        others.extend(svc.links.iter().map(|l| l.split(':').next().unwrap_or(l).to_string()));
        others.extend(
            svc.volumes_from
                .iter()
                .filter(|v| !v.starts_with("container:"))
                .map(|v| v.split(':').next().unwrap_or(v).to_string()),
        );
        for ns in [&svc.network_mode, &svc.ipc, &svc.pid].into_iter().flatten() {
            if let Some(s) = ns.strip_prefix("service:") {
                others.push(s.to_string());
            }
        }
        for o in others {
            if !names.contains(&o) {
                return Err(ComposeError::UndefinedReference { service: name.clone(), kind: "service", name: o });
            }
        }
        if svc.network_mode.is_some() && !svc.networks.is_empty() {
            return Err(ComposeError::InvalidService {
                service: name.clone(),
                message: "network_mode and networks cannot be combined".into(),
            });
        }
        for n in svc.networks.keys() {
            if !project.networks.contains_key(n) {
                return Err(ComposeError::UndefinedReference { service: name.clone(), kind: "network", name: n.clone() });
            }
        }
        for v in &svc.volumes {
            if v.kind == "volume" {
                if let Some(src) = &v.source {
                    if !project.volumes.contains_key(src) {
                        return Err(ComposeError::UndefinedReference {
                            service: name.clone(),
                            kind: "volume",
                            name: src.clone(),
                        });
                    }
                }
            }
        }
        for s in &svc.secrets {
            if !project.secrets.contains_key(&s.source) {
                return Err(ComposeError::UndefinedReference { service: name.clone(), kind: "secret", name: s.source.clone() });
            }
        }
        for c in &svc.configs {
            if !project.configs.contains_key(&c.source) {
                return Err(ComposeError::UndefinedReference { service: name.clone(), kind: "config", name: c.source.clone() });
            }
        }
    }
    project.meta.warnings.extend(warnings);
    Ok(())
}
