//! Service dependency order: who starts first, who stops first.
//!
//! Edges come from [`Service::dependencies`](crate::model::Service::dependencies):
//! `depends_on`, `links`, `volumes_from` and `service:` namespaces. Dependencies
//! on services that are not in the project (disabled) are ignored here; the
//! loader has already rejected the required ones.

use crate::error::{ComposeError, Result};
use crate::model::Project;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, PartialEq)]
enum Mark {
    Visiting,
    Done,
}

/// Services in an order where every service comes after its dependencies;
/// ties are broken by name so the order is stable. A cycle is an error naming it
/// (`dependency cycle detected: a -> b -> a`).
pub fn start_order(project: &Project) -> Result<Vec<String>> {
    let edges: BTreeMap<String, Vec<String>> = project
        .services
        .iter()
        .map(|(n, s)| {
            let mut d: Vec<String> = s
                .dependencies()
                .into_iter()
                .filter(|d| project.services.contains_key(d))
                .collect();
            d.sort();
            (n.clone(), d)
        })
        .collect();
    let mut marks: BTreeMap<String, Mark> = BTreeMap::new();
    let mut order = Vec::new();
    for n in edges.keys() {
        let mut stack = Vec::new();
        visit(n, &edges, &mut marks, &mut stack, &mut order)?;
    }
    Ok(order)
}

fn visit(
    n: &str,
    edges: &BTreeMap<String, Vec<String>>,
    marks: &mut BTreeMap<String, Mark>,
    stack: &mut Vec<String>,
    order: &mut Vec<String>,
) -> Result<()> {
    match marks.get(n) {
        Some(Mark::Done) => return Ok(()),
        Some(Mark::Visiting) => {
            let start = stack.iter().position(|s| s == n).unwrap_or(0);
            let mut cycle: Vec<String> = stack[start..].to_vec();
            cycle.push(n.to_string());
            return Err(ComposeError::DependencyCycle(cycle));
        }
        None => {}
    }
    marks.insert(n.to_string(), Mark::Visiting);
    stack.push(n.to_string());
    for d in edges.get(n).map(Vec::as_slice).unwrap_or(&[]) {
        visit(d, edges, marks, stack, order)?;
    }
    stack.pop();
    marks.insert(n.to_string(), Mark::Done);
    order.push(n.to_string());
    Ok(())
}

/// The reverse of [`start_order`]: dependents stop before what they depend on.
pub fn stop_order(project: &Project) -> Result<Vec<String>> {
    let mut o = start_order(project)?;
    o.reverse();
    Ok(o)
}

/// `names` plus everything they depend on, transitively (what `up web` starts).
/// Unknown names are an error.
pub fn with_dependencies(project: &Project, names: &[String]) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        let svc = project
            .services
            .get(&n)
            .ok_or_else(|| ComposeError::NoSuchService(n.clone()))?;
        if out.insert(n.clone()) {
            todo.extend(svc.dependencies().into_iter().filter(|d| project.services.contains_key(d)));
        }
    }
    Ok(out)
}

/// Services that depend on `name`, directly or not (what must restart with it).
pub fn dependents(project: &Project, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        for (s, svc) in &project.services {
            if svc.dependencies().contains(&n) && out.insert(s.clone()) {
                todo.push(s.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dependency, Service};

    fn project(deps: &[(&str, &[&str])]) -> Project {
        let mut p = Project::default();
        for (n, ds) in deps {
            let mut s = Service { name: n.to_string(), ..Default::default() };
            for d in *ds {
                s.depends_on.insert(d.to_string(), Dependency { required: true, ..Default::default() });
            }
            p.services.insert(n.to_string(), s);
        }
        p
    }

    #[test]
    fn dependencies_first_ties_by_name() {
        let p = project(&[("web", &["api", "cache"]), ("api", &["db"]), ("db", &[]), ("cache", &[]), ("admin", &[])]);
        let o = start_order(&p).unwrap();
        assert_eq!(o, vec!["admin", "db", "api", "cache", "web"]);
        let s = stop_order(&p).unwrap();
        assert_eq!(s, vec!["web", "cache", "api", "db", "admin"]);
    }

    #[test]
    fn cycle_is_named() {
        let p = project(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        assert_eq!(start_order(&p).unwrap_err().to_string(), "dependency cycle detected: a -> b -> c -> a");
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let p = project(&[("a", &["a"])]);
        assert_eq!(start_order(&p).unwrap_err().to_string(), "dependency cycle detected: a -> a");
    }

    #[test]
    fn other_edge_kinds() {
        let mut p = project(&[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[])]);
        p.services.get_mut("a").unwrap().network_mode = Some("service:b".into());
        p.services.get_mut("b").unwrap().volumes_from = vec!["c:ro".into(), "container:ext".into()];
        p.services.get_mut("c").unwrap().links = vec!["d:alias".into()];
        assert_eq!(start_order(&p).unwrap(), vec!["d", "c", "b", "a"]);
        assert_eq!(
            with_dependencies(&p, &["b".into()]).unwrap().into_iter().collect::<Vec<_>>(),
            vec!["b", "c", "d"]
        );
        assert_eq!(dependents(&p, "d").into_iter().collect::<Vec<_>>(), vec!["a", "b", "c"]);
        assert!(matches!(with_dependencies(&p, &["zz".into()]), Err(ComposeError::NoSuchService(_))));
    }
}
