//! Which packages an OSV database says are vulnerable: same ecosystem (and release,
//! for distributions), same name (or source package name), and the installed version
//! inside an affected range or listed in `versions`.

use std::cmp::Ordering;

use serde::Serialize;

use super::db::{base, Database};
use super::model::{Affected, Event, Record};
use crate::package::{Kind, Package};
use crate::severity::Severity;
use crate::version::Scheme;

/// One advisory that applies to one installed package.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The package as installed.
    pub package: String,
    pub installed: String,
    pub ecosystem: String,
    pub purl: String,
    pub location: String,
    /// Versions that fix it (above the installed one), in the ecosystem's order.
    pub fixed: Vec<String>,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

/// Every finding for these packages, most severe first.
pub fn find(db: &Database, packages: &[Package]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for p in packages {
        if p.ecosystem.is_empty() {
            continue;
        }
        // Distribution advisories name source packages, with the source's version.
        let mut names = vec![(p.name.as_str(), p.version.as_str())];
        if matches!(p.kind, Kind::Deb | Kind::Apk | Kind::Rpm) {
            if let Some(s) = &p.source {
                names.push((s.as_str(), p.source_version.as_deref().unwrap_or(&p.version)));
            }
        }
        for (name, version) in names {
            for r in db.lookup(&p.ecosystem, name) {
                if r.withdrawn.is_some() || out.iter().any(|f| f.id == r.id && f.location == p.location && f.package == p.name && f.installed == p.version) {
                    continue;
                }
                for a in &r.affected {
                    let Some(ap) = &a.package else { continue };
                    if !ecosystem_matches(&ap.ecosystem, &p.ecosystem) || super::db::key_name(base(&ap.ecosystem), &ap.name) != super::db::key_name(base(&p.ecosystem), name) {
                        continue;
                    }
                    let scheme = Scheme::of(&p.ecosystem);
                    if let Some(fixed) = affects(a, scheme, version) {
                        out.push(finding(r, a, p, fixed));
                        break;
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.package.cmp(&b.package)).then_with(|| a.id.cmp(&b.id)));
    out
}

fn finding(r: &Record, a: &Affected, p: &Package, fixed: Vec<String>) -> Finding {
    let (severity, score) = r.severity_for(a);
    Finding {
        id: r.id.clone(),
        aliases: r.aliases.clone(),
        summary: r.summary.clone(),
        package: p.name.clone(),
        installed: p.version.clone(),
        ecosystem: p.ecosystem.clone(),
        purl: p.purl.clone(),
        location: p.location.clone(),
        fixed,
        severity,
        score,
    }
}

/// Whether an advisory's ecosystem covers a package's: equal, or the advisory names
/// no release (`Debian` covers `Debian:12`), or only adds a qualifier
/// (`Ubuntu:22.04:LTS` covers `Ubuntu:22.04`).
pub fn ecosystem_matches(advisory: &str, package: &str) -> bool {
    if advisory == package {
        return true;
    }
    let (ab, arel) = advisory.split_once(':').map_or((advisory, None), |(b, r)| (b, Some(r)));
    let (pb, prel) = package.split_once(':').map_or((package, None), |(b, r)| (b, Some(r)));
    ab == pb
        && match (arel, prel) {
            (None, _) => true,
            (Some(a), Some(p)) => a.strip_prefix(p).is_some_and(|rest| rest.starts_with(':')),
            (Some(_), None) => false,
        }
}

/// `Some(fixed versions above the installed one)` if `version` is affected.
pub fn affects(a: &Affected, scheme: Scheme, version: &str) -> Option<Vec<String>> {
    let mut hit = a.versions.iter().any(|v| v == version);
    let mut fixed = Vec::new();
    for range in &a.ranges {
        let s = match range.kind.as_str() {
            "SEMVER" => Scheme::Semver,
            "ECOSYSTEM" => scheme,
            _ => continue,
        };
        if in_range(s, version, &range.events) == Some(true) {
            hit = true;
            fixed.extend(range.events.iter().filter_map(|e| e.fixed.clone()).filter(|f| s.compare(f, version) == Some(Ordering::Greater)));
        }
    }
    if !hit {
        return None;
    }
    fixed.sort_by(|x, y| scheme.compare(x, y).unwrap_or(Ordering::Equal));
    fixed.dedup();
    Some(fixed)
}

/// OSV's range evaluation: with the events in version order, a version is affected
/// after an `introduced` at or below it and until a `fixed` at or below it (or a
/// `last_affected` below it). `None` when a version cannot be compared.
pub fn in_range(s: Scheme, version: &str, events: &[Event]) -> Option<bool> {
    // (version of the event, is "0", kind) with kind 0 introduced, 1 fixed, 2 last_affected.
    let mut ev: Vec<(&str, u8)> = Vec::new();
    for e in events {
        if let Some(v) = &e.introduced {
            ev.push((v, 0));
        }
        if let Some(v) = &e.fixed {
            ev.push((v, 1));
        }
        if let Some(v) = &e.last_affected {
            ev.push((v, 2));
        }
    }
    for (v, _) in &ev {
        if *v != "0" {
            s.compare(v, version)?;
        }
    }
    let cmp = |a: &str, b: &str| match (a == "0", b == "0") {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => s.compare(a, b).unwrap_or(Ordering::Equal),
    };
    ev.sort_by(|a, b| cmp(a.0, b.0).then(a.1.cmp(&b.1)));
    let mut affected = false;
    for (v, kind) in ev {
        let c = if v == "0" { Ordering::Less } else { s.compare(v, version)? };
        match kind {
            0 if c != Ordering::Greater => affected = true,
            1 if c != Ordering::Greater => affected = false,
            2 if c == Ordering::Less => affected = false,
            _ => {}
        }
    }
    Some(affected)
}
