//! berth's Dockerfile front end and the container-free half of the builder.
//!
//! Layers, bottom up:
//! - [`parser`]: Dockerfile text → logical lines ([`parser::Node`]) with
//!   directives, continuations, comments and heredocs handled as Docker does.
//! - [`instructions`]: nodes → typed [`instructions::Instruction`]s grouped in
//!   [`instructions::Stage`]s, with every flag parsed.
//! - [`shell_lexer`]: Docker's `$VAR`/`${VAR…}` expansion and word splitting.
//! - [`evaluate`]: ARG/ENV scoping and expansion of each instruction.
//! - [`plan`]: stages needed by a target, their dependency levels.
//! - [`dockerignore`] and [`context`]: which context files are sent/copied.
//! - [`copy`]: COPY/ADD into a directory, confined to it, and source checksums.
//! - [`cache_key`]: deterministic step cache keys.

pub mod shell_lexer;
pub mod context;
pub mod copy;
pub mod directives;
pub mod dockerignore;
pub mod error;
pub mod evaluate;
pub mod instructions;
pub mod parser;
pub mod plan;

pub use error::{DockerfileError, ErrorKind, Location};
