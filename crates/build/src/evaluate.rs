//! ARG/ENV scoping and variable expansion of instructions, as BuildKit's
//! dockerfile2llb does it:
//! - ARGs before the first FROM ("global"/meta args) are expanded in order
//!   and are visible only in FROM lines, unless a stage redeclares them
//!   (`ARG NAME` without a default then inherits the global value);
//! - `--build-arg` values override ARG defaults where the ARG is declared;
//! - inside a stage ARG and ENV values share one ordered environment (later
//!   declarations win; an ENV after an ARG of the same name overrides it);
//!   a stage built FROM another stage starts with that stage's environment;
//! - only ENV, LABEL, ADD, COPY, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL,
//!   ARG defaults and RUN `--mount` values are expanded; RUN, CMD,
//!   ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER are left for the
//!   shell at run time. EXPOSE alone splits expanded words.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::{DockerfileError, ErrorKind, Location};
use crate::instructions::{parse_mount, Dockerfile, Instruction, KeyValue, Stage, Step};
use crate::shell_lexer::{EnvLookup, ShellLexer};

/// Build arguments Docker accepts without an ARG declaration (proxies).
pub const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What the caller knows before evaluating.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// `--build-arg NAME=value`.
    pub build_args: BTreeMap<String, String>,
    /// Automatic platform args (`BUILDPLATFORM`, `TARGETARCH`, …): in the
    /// global scope like meta args, so a stage gets them with `ARG TARGETARCH`.
    pub platform_args: BTreeMap<String, String>,
    /// ENV of base images, by the base reference as expanded in FROM.
    pub base_image_env: HashMap<String, Vec<(String, String)>>,
}

/// An ordered variable list (later entries win).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VarList(pub Vec<(String, String)>);

impl VarList {
    /// Sets `key`, replacing an earlier value in place.
    pub fn set(&mut self, key: &str, value: &str) {
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value.to_string();
        } else {
            self.0.push((key.to_string(), value.to_string()));
        }
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

impl EnvLookup for VarList {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }
}

/// The global scope: platform args and meta ARGs with their values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalArgs {
    pub vars: VarList,
    /// Names declared by meta ARGs (with or without a value).
    pub declared: BTreeSet<String>,
}

/// Expands the meta ARGs (those before the first FROM) in order.
pub fn resolve_global_args(df: &Dockerfile, opts: &EvalOptions) -> Result<GlobalArgs, DockerfileError> {
    let lexer = ShellLexer::new(df.escape());
    let mut g = GlobalArgs::default();
    for (k, v) in &opts.platform_args {
        let v = opts.build_args.get(k).unwrap_or(v);
        g.vars.set(k, v);
    }
    for (decls, location) in &df.meta_args {
        for decl in decls {
            g.declared.insert(decl.key.clone());
            let value = match (opts.build_args.get(&decl.key), &decl.default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => Some(
                    lexer
                        .process_word(default, &g.vars)
                        .map_err(|e| DockerfileError::new(*location, e.into()))?,
                ),
                (None, None) => None,
            };
            if let Some(v) = value {
                g.vars.set(&decl.key, &v);
            }
        }
    }
    Ok(g)
}

/// Expands a stage's FROM base and platform with the global args.
pub fn expand_from(df: &Dockerfile, stage: &Stage, globals: &GlobalArgs) -> Result<(String, Option<String>), DockerfileError> {
    let lexer = ShellLexer::new(df.escape());
    let err = |k: ErrorKind| DockerfileError::new(stage.location, k);
    let base = lexer.process_word(&stage.base, &globals.vars).map_err(|e| err(e.into()))?;
    if base.is_empty() {
        return Err(err(ErrorKind::BlankBaseName(stage.base.clone())));
    }
    let platform = match &stage.platform {
        Some(p) => Some(lexer.process_word(p, &globals.vars).map_err(|e| err(e.into()))?),
        None => None,
    };
    Ok((base, platform))
}

/// One instruction after expansion, with the state it ran in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluatedStep {
    /// The instruction with Docker's expansions applied.
    pub instruction: Instruction,
    pub location: Location,
    pub original: String,
    /// Working directory in force when the step runs (before a WORKDIR's own change).
    pub workdir: String,
    /// ENV in force when the step runs (image config environment).
    pub env: Vec<(String, String)>,
    /// ARGs declared in the stage so far that have a value: what a RUN sees
    /// as build args and what its cache key includes.
    pub build_args: Vec<(String, String)>,
}

/// A stage after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluatedStage {
    pub index: usize,
    pub name: Option<String>,
    /// Base reference after global-arg expansion.
    pub base: String,
    /// Index of the stage the base names, when it names an earlier stage.
    pub base_stage: Option<usize>,
    pub platform: Option<String>,
    pub steps: Vec<EvaluatedStep>,
    /// ENV at the end of the stage.
    pub final_env: Vec<(String, String)>,
    /// WORKDIR at the end of the stage.
    pub final_workdir: String,
}

/// The evaluated stages needed and what was left over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub globals: GlobalArgs,
    /// Evaluated stages, by stage index (`None` for stages not evaluated).
    pub stages: Vec<Option<EvaluatedStage>>,
    /// `--build-arg`s no ARG consumed (Docker warns about these).
    pub unused_build_args: Vec<String>,
}

/// Where a stage's scope stands while its instructions are walked.
#[derive(Clone, Default)]
struct Scope {
    /// ENV and ARG values in declaration order: what `$VAR` sees.
    vars: VarList,
    env: VarList,
    build_args: VarList,
    workdir: String,
}

/// Evaluates the stages whose indexes are in `needed` (all when `None`),
/// in index order; a stage's base stage must be among them.
pub fn evaluate(df: &Dockerfile, opts: &EvalOptions, needed: Option<&[usize]>) -> Result<Evaluation, DockerfileError> {
    let globals = resolve_global_args(df, opts)?;
    let lexer = ShellLexer::new(df.escape());
    let mut out: Vec<Option<EvaluatedStage>> = vec![None; df.stages.len()];
    let mut scopes: Vec<Option<Scope>> = vec![None; df.stages.len()];
    let mut consumed: BTreeSet<String> = globals.declared.clone();

    for stage in &df.stages {
        if let Some(n) = needed {
            if !n.contains(&stage.index) {
                continue;
            }
        }
        let (base, platform) = expand_from(df, stage, &globals)?;
        let base_stage = earlier_stage_named(df, stage.index, &base);
        let mut scope = match base_stage.and_then(|i| scopes[i].clone()) {
            Some(parent) => parent,
            None => {
                let mut s = Scope {
                    workdir: "/".to_string(),
                    ..Scope::default()
                };
                for (k, v) in opts.base_image_env.get(&base).into_iter().flatten() {
                    s.env.set(k, v);
                    s.vars.set(k, v);
                }
                s
            }
        };
        let mut steps = Vec::new();
        for step in &stage.steps {
            let evaluated = evaluate_step(step, &lexer, &mut scope, &globals, opts, &mut consumed)?;
            steps.push(evaluated);
        }
        out[stage.index] = Some(EvaluatedStage {
            index: stage.index,
            name: stage.name.clone(),
            base,
            base_stage,
            platform,
            steps,
            final_env: scope.env.0.clone(),
            final_workdir: scope.workdir.clone(),
        });
        scopes[stage.index] = Some(scope);
    }

    let unused_build_args = opts
        .build_args
        .keys()
        .filter(|k| !consumed.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()) && !opts.platform_args.contains_key(*k))
        .cloned()
        .collect();
    Ok(Evaluation {
        globals,
        stages: out,
        unused_build_args,
    })
}

/// The earlier stage called `name`, as FROM resolves it.
pub fn earlier_stage_named(df: &Dockerfile, before: usize, name: &str) -> Option<usize> {
    let name = name.to_ascii_lowercase();
    df.stages[..before]
        .iter()
        .find(|s| s.name.as_deref() == Some(name.as_str()))
        .map(|s| s.index)
}

/// Joins a WORKDIR onto the current one (relative paths are relative to it).
pub fn join_workdir(current: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{}", current.trim_end_matches('/'), path)
    };
    clean_path(&joined)
}

/// Lexical clean of an absolute path (`/a/./b/../c` → `/a/c`).
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    format!("/{}", parts.join("/"))
}

fn evaluate_step(
    step: &Step,
    lexer: &ShellLexer,
    scope: &mut Scope,
    globals: &GlobalArgs,
    opts: &EvalOptions,
    consumed: &mut BTreeSet<String>,
) -> Result<EvaluatedStep, DockerfileError> {
    let loc = step.location;
    let err = |k: ErrorKind| DockerfileError::new(loc, k);
    let workdir_before = scope.workdir.clone();
    let env_before = scope.env.0.clone();
    let args_before = scope.build_args.0.clone();
    let vars = scope.vars.clone();
    let word = |w: &str| -> Result<String, DockerfileError> { lexer.process_word(w, &vars).map_err(|e| err(e.into())) };
    let opt_word = |w: &Option<String>| -> Result<Option<String>, DockerfileError> {
        w.as_ref().map(|s| word(s)).transpose()
    };
    let expand_kvs = |kvs: &[KeyValue]| -> Result<Vec<KeyValue>, DockerfileError> {
        kvs.iter()
            .map(|kv| {
                Ok(KeyValue {
                    key: word(&kv.key)?,
                    value: word(&kv.value)?,
                    legacy: kv.legacy,
                })
            })
            .collect()
    };
    let raw_lexer = {
        let mut l = ShellLexer::new('\\');
        l.skip_process_quotes = true;
        l
    };
    let instruction = match &step.instruction {
        Instruction::Env(kvs) => {
            let kvs = expand_kvs(kvs)?;
            for kv in &kvs {
                scope.env.set(&kv.key, &kv.value);
                scope.vars.set(&kv.key, &kv.value);
            }
            Instruction::Env(kvs)
        }
        Instruction::Label(kvs) => Instruction::Label(expand_kvs(kvs)?),
        Instruction::Arg(decls) => {
            let mut out = Vec::new();
            for decl in decls {
                consumed.insert(decl.key.clone());
                let value = if let Some(v) = opts.build_args.get(&decl.key) {
                    Some(v.clone())
                } else if let Some(default) = &decl.default {
                    Some(lexer.process_word(default, &scope.vars).map_err(|e| err(e.into()))?)
                } else {
                    globals.vars.get(&decl.key).map(str::to_string)
                };
                if let Some(v) = &value {
                    scope.vars.set(&decl.key, v);
                    scope.build_args.set(&decl.key, v);
                }
                out.push(crate::instructions::ArgDecl {
                    key: decl.key.clone(),
                    default: value,
                });
            }
            Instruction::Arg(out)
        }
        Instruction::Copy(c) => {
            let mut c = c.clone();
            c.sources = c.sources.iter().map(|s| word(s)).collect::<Result<_, _>>()?;
            c.dest = word(&c.dest)?;
            c.chown = opt_word(&c.chown)?;
            c.chmod = opt_word(&c.chmod)?;
            for inline in &mut c.inline_sources {
                if inline.expand {
                    inline.content = raw_lexer.process_word(&inline.content, &vars).map_err(|e| err(e.into()))?;
                }
            }
            if let Some(from) = &c.from {
                if crate::shell_lexer::has_expansion(from, lexer.escape()) {
                    return Err(err(ErrorKind::FromExpansion));
                }
            }
            Instruction::Copy(c)
        }
        Instruction::Add(a) => {
            let mut a = a.clone();
            a.sources = a.sources.iter().map(|s| word(s)).collect::<Result<_, _>>()?;
            a.dest = word(&a.dest)?;
            a.chown = opt_word(&a.chown)?;
            a.chmod = opt_word(&a.chmod)?;
            a.checksum = opt_word(&a.checksum)?;
            for inline in &mut a.inline_sources {
                if inline.expand {
                    inline.content = raw_lexer.process_word(&inline.content, &vars).map_err(|e| err(e.into()))?;
                }
            }
            Instruction::Add(a)
        }
        Instruction::Expose(ports) => {
            let mut out = Vec::new();
            for p in ports {
                out.extend(lexer.process_words(p, &vars).map_err(|e| err(e.into()))?);
            }
            Instruction::Expose(out)
        }
        Instruction::User(u) => Instruction::User(word(u)?),
        Instruction::StopSignal(s) => Instruction::StopSignal(word(s)?),
        Instruction::Workdir(p) => {
            let p = word(p)?;
            scope.workdir = join_workdir(&scope.workdir, &p);
            Instruction::Workdir(p)
        }
        Instruction::Volume(vs) => Instruction::Volume(vs.iter().map(|v| word(v)).collect::<Result<_, _>>()?),
        Instruction::Run(r) => {
            let mut r = r.clone();
            let expander = |w: &str| -> Result<String, ErrorKind> { lexer.process_word(w, &vars).map_err(ErrorKind::from) };
            r.mounts = r
                .mounts
                .iter()
                .map(|m| parse_mount(&m.spec, Some(&expander)))
                .collect::<Result<_, _>>()
                .map_err(err)?;
            Instruction::Run(r)
        }
        other => other.clone(),
    };
    Ok(EvaluatedStep {
        instruction,
        location: loc,
        original: step.original.clone(),
        workdir: workdir_before,
        env: env_before,
        build_args: args_before,
    })
}


#[cfg(test)]
mod tests;
