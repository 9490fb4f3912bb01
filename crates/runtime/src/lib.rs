//! berth's container runtime: an OCI runtime-spec bundle in, a running container out,
//! done the way runc and crun do it (namespaces, cgroups v1 and v2, pivot_root into the
//! bundle's rootfs, capabilities, seccomp, rlimits), with runc's on-disk state model so
//! that `create`, `start`, `kill`, `delete` and `exec` can be separate processes.
//!
//! Everything that clone()s a container process must run in a single-threaded process:
//! the `berth-runtime` binary or berth's shim, never a multi-threaded daemon.

pub mod capabilities;
pub mod cgroups;
pub mod console;
pub mod container;
pub mod error;
pub mod exec;
pub mod hooks;
pub mod init;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod safe_path;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod supervise;
pub mod sync;
pub mod sys;

pub use container::{CreateOptions, Runtime};
pub use error::{Error, Result};
