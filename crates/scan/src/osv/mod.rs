//! The Open Source Vulnerability format (ossf.github.io/osv-schema): records, an
//! offline database of them, and matching packages against their affected ranges.

mod db;
mod matcher;
mod model;

pub use db::{Database, Wanted};
pub use matcher::{find, Finding};
pub use model::{Affected, Event, PackageRef, Range, Record, SeverityEntry};

#[cfg(test)]
mod tests;
