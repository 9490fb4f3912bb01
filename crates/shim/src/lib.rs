//! berth-shim: one per container (or exec'd process). Holds its stdio or pty, writes
//! its log, reaps it and records its exit; speaks [`protocol`] with berthd.
//!
//! Single-threaded by design: the runtime library clones container processes from
//! here, which is only sound without other threads.
pub mod args;
pub mod backend;
pub mod conn;
pub mod detach;
pub mod event_loop;
pub mod exit;
pub mod log;
pub mod log_local;
pub mod protocol;
pub mod setup;
pub mod stdio;
pub mod sys;
