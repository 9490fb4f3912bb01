//! OSV records as serde types: only the fields matching and reporting use; the rest
//! of a record is ignored.

use serde::Deserialize;
use serde_json::Value;

use crate::severity::{cvss3_base_score, Severity};

#[derive(Clone, Debug, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Set when the advisory was retracted: such records match nothing.
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<PackageRef>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PackageRef {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Range {
    /// `ECOSYSTEM`, `SEMVER` or `GIT` (git ranges name commits, not versions: skipped).
    #[serde(rename = "type")]
    pub kind: String,
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub introduced: Option<String>,
    #[serde(default)]
    pub fixed: Option<String>,
    #[serde(default)]
    pub last_affected: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SeverityEntry {
    /// `CVSS_V3`, `CVSS_V4`, `CVSS_V2`, `Ubuntu`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

impl Record {
    /// The severity of this record for one of its affected packages: the highest CVSS
    /// v3 base score among the package's and the record's vectors, or else the first
    /// rating word a database gives (`ecosystem_specific` / `database_specific`
    /// `severity`, an `Ubuntu` severity entry); `Unknown` when there is none.
    pub fn severity_for(&self, affected: &Affected) -> (Severity, Option<f64>) {
        let entries = affected.severity.iter().chain(&self.severity);
        let best = entries.clone().filter(|e| e.kind == "CVSS_V3").filter_map(|e| cvss3_base_score(&e.score).ok()).fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        if let Some(score) = best {
            return (Severity::from_score(score), Some(score));
        }
        let label = |v: &Option<Value>| v.as_ref().and_then(|v| v.get("severity")).and_then(Value::as_str).and_then(Severity::from_label);
        let word = label(&affected.ecosystem_specific)
            .or_else(|| label(&affected.database_specific))
            .or_else(|| label(&self.database_specific))
            .or_else(|| entries.filter(|e| !e.kind.starts_with("CVSS")).find_map(|e| Severity::from_label(&e.score)));
        (word.unwrap_or(Severity::Unknown), None)
    }
}
