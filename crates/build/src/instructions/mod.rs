//! Typed instructions and stages, with every flag parsed and checked as
//! BuildKit's `frontend/dockerfile/instructions` does. Nothing is expanded
//! here: `$VAR`s stay as written until [`crate::evaluate`].

mod duration;
mod flags;
mod mount;

use std::time::Duration;

pub use mount::{parse_mount, CacheSharing, Mount, MountType, WordExpander};

use crate::directives::Directives;
use crate::error::{DockerfileError, ErrorKind, Location};
use crate::parser::{self, parse_heredoc_word, Heredoc, Node, ParseWarning};
use flags::{parse_flags, FlagKind};

/// A command as RUN/CMD/ENTRYPOINT hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// Exec form: the argv. Shell form: one string (empty when nothing was given).
    pub args: Vec<String>,
    /// Shell form: run through the stage's SHELL.
    pub prepend_shell: bool,
}

impl CommandLine {
    fn from_node(node: &Node) -> Self {
        let args = if node.args.is_empty() {
            Vec::new()
        } else if node.json {
            node.args.clone()
        } else {
            vec![node.args.join(" ")]
        };
        CommandLine {
            args,
            prepend_shell: !node.json,
        }
    }
}

/// One `key=value` of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// Written in the legacy `ENV key value` form.
    pub legacy: bool,
}

/// One name of an ARG line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub key: String,
    pub default: Option<String>,
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityMode {
    #[default]
    Sandbox,
    Insecure,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// Heredoc bodies; for `RUN <<EOF` the body is the script.
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: NetworkMode,
    pub security: SecurityMode,
}

/// A COPY/ADD source given inline as a heredoc (`COPY <<EOF /file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSource {
    /// The heredoc delimiter, which is also the file name.
    pub name: String,
    /// The body, tabs already stripped for `<<-`.
    pub content: String,
    /// Whether variables in the body are expanded.
    pub expand: bool,
}

/// COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub sources: Vec<String>,
    pub inline_sources: Vec<InlineSource>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
}

/// ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub sources: Vec<String>,
    pub inline_sources: Vec<InlineSource>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub keep_git_dir: Option<bool>,
    pub checksum: Option<String>,
    pub unpack: Option<bool>,
    pub excludes: Vec<String>,
}

/// HEALTHCHECK CMD settings; zero durations mean "inherit".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// `["CMD", argv…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    Cmd(HealthConfig),
}

/// ONBUILD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger as written (what goes into the image config).
    pub expression: String,
    /// The trigger parsed; `None` when it does not parse, which Docker only
    /// reports when an image is built FROM this one.
    pub instruction: Option<Box<Instruction>>,
}

/// FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// Image reference or earlier stage name, unexpanded.
    pub base: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// Every Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Env(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Label(Vec<KeyValue>),
    /// Ports as written, sorted as Docker sorts them.
    Expose(Vec<String>),
    User(String),
    Workdir(String),
    Volume(Vec<String>),
    Copy(Copy),
    Add(Add),
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Onbuild(Onbuild),
    Maintainer(String),
}

impl Instruction {
    /// The upper-case keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From(_) => "FROM",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub instruction: Instruction,
    pub location: Location,
    /// The logical line as written.
    pub original: String,
}

/// A build stage: a FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position among the stages, from 0 (what `COPY --from=0` names).
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// Base image or earlier stage, unexpanded.
    pub base: String,
    pub platform: Option<String>,
    pub location: Location,
    pub steps: Vec<Step>,
}

/// A whole Dockerfile, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// ARG lines before the first FROM (usable in FROM lines).
    pub meta_args: Vec<(Vec<ArgDecl>, Location)>,
    pub stages: Vec<Stage>,
    pub warnings: Vec<ParseWarning>,
}

impl Dockerfile {
    /// The escape character in force.
    pub fn escape(&self) -> char {
        self.directives.escape
    }

    /// The stage called `name` (case-insensitive), if any.
    pub fn stage_by_name(&self, name: &str) -> Option<&Stage> {
        let name = name.to_ascii_lowercase();
        self.stages.iter().find(|s| s.name.as_deref() == Some(name.as_str()))
    }
}

/// Parses Dockerfile text all the way to typed stages.
pub fn parse_dockerfile(text: &str) -> Result<Dockerfile, DockerfileError> {
    let ast = parser::parse(text)?;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &ast.nodes {
        let instruction = parse_instruction(node).map_err(|k| DockerfileError::new(node.location, k))?;
        match instruction {
            Instruction::From(from) => stages.push(Stage {
                index: stages.len(),
                name: from.name,
                base: from.base,
                platform: from.platform,
                location: node.location,
                steps: Vec::new(),
            }),
            Instruction::Arg(args) if stages.is_empty() => meta_args.push((args, node.location)),
            instruction => {
                let Some(stage) = stages.last_mut() else {
                    return Err(DockerfileError::new(node.location, ErrorKind::NoBuildStage));
                };
                stage.steps.push(Step {
                    instruction,
                    location: node.location,
                    original: node.original.clone(),
                });
            }
        }
    }
    Ok(Dockerfile {
        directives: ast.directives,
        meta_args,
        stages,
        warnings: ast.warnings,
    })
}

fn key_values(node: &Node, name: &'static str) -> Result<Vec<KeyValue>, ErrorKind> {
    if node.args.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument(name));
    }
    if !node.args.len().is_multiple_of(3) {
        return Err(ErrorKind::TooManyArguments(name));
    }
    node.args
        .chunks(3)
        .map(|c| {
            if c[0].is_empty() {
                return Err(ErrorKind::BlankName(name));
            }
            Ok(KeyValue {
                key: c[0].clone(),
                value: c[1].clone(),
                legacy: c[2].is_empty(),
            })
        })
        .collect()
}

fn exactly_one(node: &Node, name: &'static str) -> Result<String, ErrorKind> {
    if node.args.len() != 1 {
        return Err(ErrorKind::ExactlyOneArgument(name));
    }
    Ok(node.args[0].clone())
}

/// Sources (with heredoc sources pulled out) and destination of COPY/ADD.
fn sources_and_dest(node: &Node, name: &'static str) -> Result<(Vec<String>, Vec<InlineSource>, String), ErrorKind> {
    let (srcs, dest) = node.args.split_at(node.args.len() - 1);
    let dest = dest[0].clone();
    if parse_heredoc_word(&dest).is_some() {
        return Err(ErrorKind::HeredocDestination(name));
    }
    let mut sources = Vec::new();
    let mut inline = Vec::new();
    for src in srcs {
        match parse_heredoc_word(src) {
            Some(marker) => {
                let body = node
                    .heredocs
                    .iter()
                    .find(|h| h.name == marker.name)
                    .map(|h| h.content.clone())
                    .unwrap_or_default();
                let content = if marker.chomp { parser::chomp_content(&body) } else { body };
                inline.push(InlineSource {
                    name: marker.name,
                    content,
                    expand: marker.expand,
                });
            }
            None => sources.push(src.clone()),
        }
    }
    Ok((sources, inline, dest))
}

fn interval(value: Option<String>, flag: &str) -> Result<Duration, ErrorKind> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(Duration::ZERO);
    };
    let ns = duration::parse_go_duration(&v).ok_or_else(|| ErrorKind::InvalidDuration(v.clone()))?;
    if ns == 0 {
        return Ok(Duration::ZERO);
    }
    if ns < 1_000_000 {
        return Err(ErrorKind::IntervalTooShort(flag.to_string()));
    }
    Ok(Duration::from_nanos(ns.min(u64::MAX as i128) as u64))
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// Types one instruction line.
pub fn parse_instruction(node: &Node) -> Result<Instruction, ErrorKind> {
    use FlagKind::*;
    let cmd = node.command();
    let no_flags = || parse_flags(&node.flags, &[]);
    Ok(match cmd.as_str() {
        "env" => {
            no_flags()?;
            Instruction::Env(key_values(node, "ENV")?)
        }
        "label" => {
            no_flags()?;
            Instruction::Label(key_values(node, "LABEL")?)
        }
        "maintainer" => {
            let m = exactly_one(node, "MAINTAINER")?;
            no_flags()?;
            Instruction::Maintainer(m)
        }
        "from" => {
            let args = &node.args;
            let name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let name = args[2].to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(ErrorKind::InvalidStageName(args[2].clone()));
                    }
                    Some(name)
                }
                1 => None,
                _ => return Err(ErrorKind::FromArguments),
            };
            let f = parse_flags(&node.flags, &[("platform", String)])?;
            Instruction::From(From {
                base: args[0].clone(),
                name,
                platform: non_empty(f.string("platform")),
            })
        }
        "copy" => {
            if node.args.len() < 2 {
                return Err(ErrorKind::NoDestination("COPY"));
            }
            let f = parse_flags(
                &node.flags,
                &[
                    ("chown", String),
                    ("from", String),
                    ("chmod", String),
                    ("link", Bool),
                    ("exclude", Strings),
                    ("parents", Bool),
                ],
            )?;
            let (sources, inline_sources, dest) = sources_and_dest(node, "COPY")?;
            Instruction::Copy(Copy {
                sources,
                inline_sources,
                dest,
                from: non_empty(f.string("from")),
                chown: non_empty(f.string("chown")),
                chmod: non_empty(f.string("chmod")),
                link: f.bool("link").unwrap_or(false),
                parents: f.bool("parents").unwrap_or(false),
                excludes: f.strings("exclude"),
            })
        }
        "add" => {
            if node.args.len() < 2 {
                return Err(ErrorKind::NoDestination("ADD"));
            }
            let f = parse_flags(
                &node.flags,
                &[
                    ("chown", String),
                    ("chmod", String),
                    ("link", Bool),
                    ("keep-git-dir", Bool),
                    ("checksum", String),
                    ("unpack", Bool),
                    ("exclude", Strings),
                ],
            )?;
            let (sources, inline_sources, dest) = sources_and_dest(node, "ADD")?;
            Instruction::Add(Add {
                sources,
                inline_sources,
                dest,
                chown: non_empty(f.string("chown")),
                chmod: non_empty(f.string("chmod")),
                link: f.bool("link").unwrap_or(false),
                keep_git_dir: f.bool("keep-git-dir"),
                checksum: non_empty(f.string("checksum")),
                unpack: f.bool("unpack"),
                excludes: f.strings("exclude"),
            })
        }
        "onbuild" => {
            let Some(sub) = &node.sub else {
                return Err(ErrorKind::AtLeastOneArgument("ONBUILD"));
            };
            no_flags()?;
            let trigger = sub.keyword.trim().to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err(ErrorKind::OnbuildChain),
                "MAINTAINER" | "FROM" => return Err(ErrorKind::OnbuildTrigger(trigger)),
                _ => {}
            }
            let mut expression = strip_onbuild_keyword(&node.original).to_string();
            for h in &node.heredocs {
                expression.push('\n');
                expression.push_str(&h.content);
                expression.push_str(&h.name);
            }
            let mut sub = (**sub).clone();
            sub.heredocs = node.heredocs.clone();
            Instruction::Onbuild(Onbuild {
                expression,
                instruction: parse_instruction(&sub).ok().map(Box::new),
            })
        }
        "workdir" => {
            let p = exactly_one(node, "WORKDIR")?;
            no_flags()?;
            Instruction::Workdir(p)
        }
        "run" => {
            let f = parse_flags(
                &node.flags,
                &[("mount", Strings), ("network", String), ("security", String)],
            )?;
            let mut mounts = Vec::new();
            for spec in f.strings("mount") {
                if spec.contains('$') {
                    mounts.push(parse_mount(&spec, None)?);
                } else {
                    let identity = |s: &str| Ok(s.to_string());
                    mounts.push(parse_mount(&spec, Some(&identity))?);
                }
            }
            let network = match f.string("network").as_deref() {
                None | Some("default") => NetworkMode::Default,
                Some("none") => NetworkMode::None,
                Some("host") => NetworkMode::Host,
                Some(other) => return Err(ErrorKind::InvalidNetwork(other.to_string())),
            };
            let security = match f.string("security").as_deref() {
                None | Some("sandbox") => SecurityMode::Sandbox,
                Some("insecure") => SecurityMode::Insecure,
                Some(other) => return Err(ErrorKind::InvalidSecurity(other.to_string())),
            };
            Instruction::Run(Run {
                command: CommandLine::from_node(node),
                heredocs: node.heredocs.clone(),
                mounts,
                network,
                security,
            })
        }
        "cmd" => {
            no_flags()?;
            Instruction::Cmd(CommandLine::from_node(node))
        }
        "entrypoint" => {
            no_flags()?;
            Instruction::Entrypoint(CommandLine::from_node(node))
        }
        "healthcheck" => {
            if node.args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("HEALTHCHECK"));
            }
            let typ = node.args[0].to_ascii_uppercase();
            let rest = &node.args[1..];
            if typ == "NONE" {
                if !rest.is_empty() {
                    return Err(ErrorKind::HealthcheckNoneArguments);
                }
                Instruction::Healthcheck(Healthcheck::None)
            } else {
                let f = parse_flags(
                    &node.flags,
                    &[
                        ("interval", String),
                        ("timeout", String),
                        ("start-period", String),
                        ("start-interval", String),
                        ("retries", String),
                    ],
                )?;
                if typ != "CMD" {
                    return Err(ErrorKind::HealthcheckType(typ));
                }
                if rest.is_empty() {
                    return Err(ErrorKind::HealthcheckMissingCommand);
                }
                let mut test = vec![if node.json { "CMD" } else { "CMD-SHELL" }.to_string()];
                if node.json {
                    test.extend(rest.iter().cloned());
                } else {
                    test.push(rest.join(" "));
                }
                let retries = match non_empty(f.string("retries")) {
                    None => 0,
                    Some(r) => {
                        let n: i64 = r.parse().map_err(|_| ErrorKind::InvalidInteger(r.clone()))?;
                        if n < 0 {
                            return Err(ErrorKind::NegativeRetries(n));
                        }
                        u32::try_from(n).map_err(|_| ErrorKind::InvalidInteger(r.clone()))?
                    }
                };
                Instruction::Healthcheck(Healthcheck::Cmd(HealthConfig {
                    test,
                    interval: interval(f.string("interval"), "interval")?,
                    timeout: interval(f.string("timeout"), "timeout")?,
                    start_period: interval(f.string("start-period"), "start-period")?,
                    start_interval: interval(f.string("start-interval"), "start-interval")?,
                    retries,
                }))
            }
        }
        "expose" => {
            if node.args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("EXPOSE"));
            }
            no_flags()?;
            let mut ports = node.args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "user" => {
            let u = exactly_one(node, "USER")?;
            no_flags()?;
            Instruction::User(u)
        }
        "volume" => {
            if node.args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("VOLUME"));
            }
            no_flags()?;
            let mut vols = Vec::new();
            for v in &node.args {
                let v = v.trim();
                if v.is_empty() {
                    return Err(ErrorKind::EmptyVolume);
                }
                vols.push(v.to_string());
            }
            Instruction::Volume(vols)
        }
        // Docker does not look at STOPSIGNAL's or ARG's flags at all.
        "stopsignal" => Instruction::StopSignal(exactly_one(node, "STOPSIGNAL")?),
        "arg" => {
            if node.args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("ARG"));
            }
            let mut decls = Vec::new();
            for a in &node.args {
                match a.split_once('=') {
                    Some(("", _)) => return Err(ErrorKind::BlankName("ARG")),
                    Some((k, v)) => decls.push(ArgDecl {
                        key: k.to_string(),
                        default: Some(v.to_string()),
                    }),
                    None => decls.push(ArgDecl {
                        key: a.clone(),
                        default: None,
                    }),
                }
            }
            Instruction::Arg(decls)
        }
        "shell" => {
            no_flags()?;
            if node.args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("SHELL"));
            }
            if !node.json {
                return Err(ErrorKind::NotJson("SHELL"));
            }
            Instruction::Shell(node.args.clone())
        }
        _ => return Err(ErrorKind::UnknownInstruction(node.keyword.clone())),
    })
}

fn strip_onbuild_keyword(original: &str) -> &str {
    let s = original.trim_start();
    let s = if s.len() >= 7 && s[..7].eq_ignore_ascii_case("onbuild") { &s[7..] } else { s };
    s.trim_start()
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests;
