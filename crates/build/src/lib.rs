//! berth's Dockerfile front end and the container-free half of the builder.
//!
//! Layers, bottom up:
//! - [`parser`]: Dockerfile text → logical lines ([`parser::Node`]) with
//!   directives, continuations, comments and heredocs handled as Docker does.
//! - [`instructions`]: nodes → typed [`instructions::Instruction`]s grouped in
//!   [`instructions::Stage`]s, with every flag parsed
//!   ([`instructions::parse_dockerfile`] is the entry point).
//! - [`shell_lexer`]: Docker's `$VAR`/`${VAR…}` expansion and word splitting.
//! - [`evaluate`]: ARG/ENV scoping and expansion of each instruction.
//! - [`plan`]: stages needed by a target, their dependency levels.
//! - [`dockerignore`] and [`context`]: which context files are sent/copied.
//! - [`copy`]: COPY/ADD into a directory, confined to it, and source checksums.
//! - [`cache_key`]: deterministic step cache keys.
//!
//! A builder typically: `parse_dockerfile` → `resolve_global_args` →
//! `plan` (target) → `evaluate` (needed stages) → per step, for COPY/ADD
//! `source_checksum` + `step_cache_key`, on a miss `copy_into` (or run the
//! RUN step in a container, which is the daemon's job).

pub mod cache_key;
pub mod context;
pub mod copy;
pub mod directives;
pub mod dockerignore;
pub mod error;
pub mod evaluate;
pub mod instructions;
pub mod parser;
pub mod plan;
pub mod shell_lexer;

pub use error::{DockerfileError, ErrorKind, Location};
pub use instructions::{parse_dockerfile, Dockerfile, Instruction, Stage};
