//! Doing things to services in dependency order without doing them one at a
//! time: a service runs as soon as everything it waits for is done, so
//! independent services start (or stop, with their grace periods) together, as
//! docker compose's graph traversal does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};

use super::error::{EngineError, Result};
use crate::model::Project;

#[derive(Clone, Copy, PartialEq)]
enum State {
    Pending,
    Done,
    Failed,
}

/// Runs `f` once per node of `graph` (node → the nodes it waits for), each
/// after all it waits for succeeded. Nodes downstream of a failure are skipped.
/// Returns the first error.
pub fn walk(graph: &BTreeMap<String, Vec<String>>, f: impl Fn(&str) -> Result<()> + Sync) -> Result<()> {
    let states: Mutex<BTreeMap<&str, State>> = Mutex::new(graph.keys().map(|k| (k.as_str(), State::Pending)).collect());
    let changed = Condvar::new();
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = graph
            .iter()
            .map(|(node, waits)| {
                let (states, changed, f) = (&states, &changed, &f);
                s.spawn(move || {
                    let waits: Vec<&str> = waits.iter().map(String::as_str).filter(|w| graph.contains_key(*w) && *w != node).collect();
                    let mut g = states.lock().unwrap_or_else(|p| p.into_inner());
                    while waits.iter().any(|w| g.get(w) == Some(&State::Pending)) {
                        g = changed.wait(g).unwrap_or_else(|p| p.into_inner());
                    }
                    let ready = waits.iter().all(|w| g.get(w) == Some(&State::Done));
                    drop(g);
                    // A skipped node is not an error of its own: the one upstream is.
                    let r = if ready { f(node) } else { Ok(()) };
                    let st = if ready && r.is_ok() { State::Done } else { State::Failed };
                    states.lock().unwrap_or_else(|p| p.into_inner()).insert(node.as_str(), st);
                    changed.notify_all();
                    r
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(EngineError::Other("a worker thread panicked".into())))).collect()
    });
    results.into_iter().collect()
}

/// Runs `f` for every item at once; the first error wins.
pub fn each<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    if items.len() <= 1 {
        return items.iter().try_for_each(f);
    }
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|it| s.spawn(|| f(it))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(EngineError::Other("a worker thread panicked".into())))).collect()
    });
    results.into_iter().collect()
}

/// `services` (all when empty) → what each waits for: its dependencies for a
/// start, its dependents for a stop (`reverse`).
pub fn dependency_graph(project: &Project, services: &BTreeSet<String>, reverse: bool) -> BTreeMap<String, Vec<String>> {
    let selected = |n: &String| services.is_empty() || services.contains(n);
    let mut graph: BTreeMap<String, Vec<String>> = project.services.keys().filter(|n| selected(n)).map(|n| (n.clone(), Vec::new())).collect();
    for (name, svc) in project.services.iter().filter(|(n, _)| selected(n)) {
        let deps: Vec<String> = svc.dependencies().into_iter().filter(|d| graph.contains_key(d)).collect();
        for dep in deps {
            if reverse {
                graph.entry(dep).or_default().push(name.clone());
            } else {
                graph.entry(name.clone()).or_default().push(dep);
            }
        }
    }
    graph
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges.iter().map(|(n, w)| (n.to_string(), w.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn order_is_respected_and_independent_nodes_overlap() {
        let g = graph(&[("db", &[]), ("cache", &[]), ("web", &["db", "cache"])]);
        let log = Mutex::new(Vec::new());
        let t0 = Instant::now();
        walk(&g, |n| {
            std::thread::sleep(Duration::from_millis(200));
            log.lock().unwrap().push(n.to_owned());
            Ok(())
        })
        .unwrap();
        let log = log.into_inner().unwrap();
        assert_eq!(log.last().map(String::as_str), Some("web"));
        // db and cache ran side by side: two rounds of 200 ms, not three.
        assert!(t0.elapsed() < Duration::from_millis(550), "{:?}", t0.elapsed());
    }

    #[test]
    fn a_failure_skips_what_waits_for_it() {
        let g = graph(&[("db", &[]), ("web", &["db"]), ("other", &[])]);
        let ran = Mutex::new(Vec::new());
        let r = walk(&g, |n| {
            ran.lock().unwrap().push(n.to_owned());
            if n == "db" {
                return Err(EngineError::Dependency("db is unhealthy".into()));
            }
            Ok(())
        });
        assert_eq!(r.unwrap_err().to_string(), "db is unhealthy");
        let mut ran = ran.into_inner().unwrap();
        ran.sort();
        assert_eq!(ran, vec!["db", "other"]);
    }
}
