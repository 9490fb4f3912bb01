//! Which stages a build needs and in what order they can run.
//!
//! Rules from BuildKit: a FROM names an earlier stage (after global-arg
//! expansion) or else an image; `COPY --from` names a stage (any position),
//! a stage index, or else an image; `RUN --mount=from=` names a stage or an
//! image. Cycles are reported for the whole file, before the target is
//! chosen; a stage that copies from a stage defined after it is an error once
//! the stage is needed.

use std::collections::BTreeSet;

use thiserror::Error;

use crate::error::{DockerfileError, ErrorKind, Location};
use crate::evaluate::{earlier_stage_named, expand_from, GlobalArgs};
use crate::instructions::{Dockerfile, Instruction};
use crate::shell_lexer::has_expansion;

/// Errors in choosing and ordering stages.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error(transparent)]
    Dockerfile(#[from] DockerfileError),
    #[error("target stage {0:?} could not be found")]
    TargetNotFound(String),
    #[error("dockerfile contains no stages to build")]
    NoStages,
    #[error("circular dependency detected on stage: {stage} (line {})", location.line)]
    Cycle { stage: String, location: Location },
    #[error("dockerfile parse error on line {}: cannot copy from stage {from:?}, it needs to be defined before current stage {current:?}", location.line)]
    StageUsedBeforeDefinition { from: String, current: String, location: Location },
    #[error("dockerfile parse error on line {}: invalid stage index {index}", location.line)]
    InvalidStageIndex { index: String, location: Location },
}

/// Where a stage's input comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Another stage, by index.
    Stage(usize),
    /// An image reference, as written (parsed by the image crate).
    Image(String),
}

/// Why a stage depends on something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub source: Source,
    /// The FROM / COPY / RUN line that creates the dependency.
    pub location: Location,
}

/// One stage as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    pub index: usize,
    /// Stage name, or `stage-N` for unnamed stages (Docker's display name).
    pub display_name: String,
    /// Base after global-arg expansion.
    pub base: Source,
    pub platform: Option<String>,
    /// `COPY --from` and `RUN --mount=from=` inputs, in instruction order.
    pub inputs: Vec<Dependency>,
}

impl PlannedStage {
    /// Every stage this one needs (base and inputs).
    pub fn stage_deps(&self) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        if let Source::Stage(i) = self.base {
            out.insert(i);
        }
        for d in &self.inputs {
            if let Source::Stage(i) = d.source {
                out.insert(i);
            }
        }
        out
    }
}

/// The stages to build for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    /// Every stage of the file.
    pub stages: Vec<PlannedStage>,
    /// Index of the target stage.
    pub target: usize,
    /// Stages the target needs (itself included), ascending.
    pub needed: Vec<usize>,
    /// The needed stages grouped so that every stage comes after all it
    /// depends on; stages within one level are independent.
    pub levels: Vec<Vec<usize>>,
    /// Images the needed stages use (bases, `--from` images), sorted.
    pub images: Vec<String>,
}

impl BuildPlan {
    /// True when the stage is skipped for this target.
    pub fn is_skipped(&self, index: usize) -> bool {
        !self.needed.contains(&index)
    }
}

fn display_name(df: &Dockerfile, i: usize) -> String {
    df.stages[i].name.clone().unwrap_or_else(|| format!("stage-{i}"))
}

fn stage_by_any_name(df: &Dockerfile, name: &str) -> Option<usize> {
    df.stage_by_name(name).map(|s| s.index)
}

/// Builds the plan for `target` (the last stage when `None`).
pub fn plan(df: &Dockerfile, globals: &GlobalArgs, target: Option<&str>) -> Result<BuildPlan, PlanError> {
    let mut stages = Vec::new();
    for stage in &df.stages {
        let (base, platform) = expand_from(df, stage, globals)?;
        let base = match earlier_stage_named(df, stage.index, &base) {
            Some(i) => Source::Stage(i),
            None => Source::Image(base),
        };
        let mut inputs = Vec::new();
        for step in &stage.steps {
            match &step.instruction {
                Instruction::Copy(c) => {
                    let Some(from) = &c.from else { continue };
                    if has_expansion(from, df.escape()) {
                        return Err(DockerfileError::new(step.location, ErrorKind::FromExpansion).into());
                    }
                    let source = if let Ok(n) = from.parse::<i64>() {
                        if n < 0 || n as usize >= df.stages.len() {
                            return Err(PlanError::InvalidStageIndex {
                                index: from.clone(),
                                location: step.location,
                            });
                        }
                        Source::Stage(n as usize)
                    } else {
                        match stage_by_any_name(df, from) {
                            Some(i) => Source::Stage(i),
                            None => Source::Image(from.clone()),
                        }
                    };
                    inputs.push(Dependency {
                        source,
                        location: step.location,
                    });
                }
                Instruction::Run(r) => {
                    for m in &r.mounts {
                        let Some(from) = &m.from else { continue };
                        let source = match stage_by_any_name(df, from) {
                            Some(i) => Source::Stage(i),
                            None => Source::Image(from.clone()),
                        };
                        inputs.push(Dependency {
                            source,
                            location: step.location,
                        });
                    }
                }
                _ => {}
            }
        }
        stages.push(PlannedStage {
            index: stage.index,
            display_name: display_name(df, stage.index),
            base,
            platform,
            inputs,
        });
    }

    check_cycles(&stages)?;
    if stages.is_empty() {
        return Err(PlanError::NoStages);
    }

    let target = match target {
        None => stages.len() - 1,
        Some(name) => stage_by_any_name(df, name).ok_or_else(|| PlanError::TargetNotFound(name.to_string()))?,
    };

    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if needed.insert(i) {
            todo.extend(stages[i].stage_deps());
        }
    }
    let needed: Vec<usize> = needed.into_iter().collect();

    // Stages run in file order, so an input from a later stage is never ready.
    for &i in &needed {
        for d in &stages[i].inputs {
            if let Source::Stage(j) = d.source {
                if j > i {
                    return Err(PlanError::StageUsedBeforeDefinition {
                        from: display_name(df, j),
                        current: stages[i].display_name.clone(),
                        location: d.location,
                    });
                }
            }
        }
    }

    let mut level_of = vec![0usize; stages.len()];
    for &i in &needed {
        level_of[i] = stages[i].stage_deps().iter().map(|&d| level_of[d] + 1).max().unwrap_or(0);
    }
    let depth = needed.iter().map(|&i| level_of[i]).max().unwrap_or(0);
    let mut levels = vec![Vec::new(); depth + 1];
    for &i in &needed {
        levels[level_of[i]].push(i);
    }

    let mut images = BTreeSet::new();
    for &i in &needed {
        if let Source::Image(img) = &stages[i].base {
            images.insert(img.clone());
        }
        for d in &stages[i].inputs {
            if let Source::Image(img) = &d.source {
                images.insert(img.clone());
            }
        }
    }

    Ok(BuildPlan {
        stages,
        target,
        needed,
        levels,
        images: images.into_iter().collect(),
    })
}

/// Depth-first search over `--from` edges for a path back to a stage on it.
fn check_cycles(stages: &[PlannedStage]) -> Result<(), PlanError> {
    fn visit(
        stages: &[PlannedStage],
        i: usize,
        visited: &mut Vec<bool>,
        on_path: &mut Vec<bool>,
        first_edge: Option<Location>,
    ) -> Option<Location> {
        if visited[i] {
            return None;
        }
        visited[i] = true;
        on_path[i] = true;
        for d in &stages[i].inputs {
            let Source::Stage(j) = d.source else { continue };
            let edge = first_edge.or(Some(d.location));
            if on_path[j] {
                return edge;
            }
            if let Some(loc) = visit(stages, j, visited, on_path, edge) {
                return Some(loc);
            }
        }
        on_path[i] = false;
        None
    }
    let mut visited = vec![false; stages.len()];
    let mut on_path = vec![false; stages.len()];
    for s in stages {
        if let Some(location) = visit(stages, s.index, &mut visited, &mut on_path, None) {
            return Err(PlanError::Cycle {
                stage: s.display_name.clone(),
                location,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::{resolve_global_args, EvalOptions};
    use crate::instructions::parse_dockerfile;

    fn plan_of(text: &str, target: Option<&str>) -> Result<BuildPlan, PlanError> {
        let df = parse_dockerfile(text).unwrap();
        let g = resolve_global_args(&df, &EvalOptions::default()).unwrap();
        plan(&df, &g, target)
    }

    const MULTI: &str = "\
FROM golang AS build
RUN go build
FROM node AS web
RUN npm ci
FROM build AS test
RUN go test
FROM alpine AS final
COPY --from=build /app /app
COPY --from=web /dist /srv
COPY --from=nginx:1 /etc/nginx /etc/nginx
FROM alpine AS unrelated
";

    #[test]
    fn default_target_is_last_stage() {
        let p = plan_of(MULTI, None).unwrap();
        assert_eq!(p.target, 4);
        assert_eq!(p.needed, [4]);
        assert_eq!(p.images, ["alpine"]);
    }

    #[test]
    fn target_selects_needed_stages_and_levels() {
        let p = plan_of(MULTI, Some("final")).unwrap();
        assert_eq!(p.target, 3);
        assert_eq!(p.needed, [0, 1, 3]);
        assert_eq!(p.levels, [vec![0, 1], vec![3]]);
        assert!(p.is_skipped(2) && p.is_skipped(4));
        assert_eq!(p.images, ["alpine", "golang", "nginx:1", "node"]);
        let p = plan_of(MULTI, Some("TEST")).unwrap();
        assert_eq!(p.needed, [0, 2]);
        assert_eq!(p.levels, [vec![0], vec![2]]);
        assert_eq!(p.stages[2].base, Source::Stage(0));
    }

    #[test]
    fn copy_from_index_and_mount_from() {
        let text = "FROM a\nFROM b\nCOPY --from=0 /x /x\nFROM c\nRUN --mount=from=stage-x,target=/m true\nRUN --mount=type=bind,from=1,target=/n true\n";
        let p = plan_of(text, None).unwrap();
        assert_eq!(p.stages[1].inputs[0].source, Source::Stage(0));
        assert_eq!(p.stages[2].inputs[0].source, Source::Image("stage-x".into()));
        // Mount `from` is a name, never an index.
        assert_eq!(p.stages[2].inputs[1].source, Source::Image("1".into()));
        let p = plan_of("FROM a AS x\nFROM b\nRUN --mount=from=x,target=/m true\n", None).unwrap();
        assert_eq!(p.needed, [0, 1]);
    }

    #[test]
    fn from_uses_global_args_to_name_stages() {
        let p = plan_of("ARG BASE=builder\nFROM alpine AS builder\nFROM $BASE\n", None).unwrap();
        assert_eq!(p.stages[1].base, Source::Stage(0));
        // A FROM naming a later stage is an image name.
        let p = plan_of("FROM later\nFROM x AS later\n", Some("later")).unwrap();
        assert_eq!(p.stages[0].base, Source::Image("later".into()));
    }

    #[test]
    fn only_global_args() {
        let e = plan_of("ARG A=1\n", None).unwrap_err();
        assert_eq!(e, PlanError::NoStages);
        assert_eq!(e.to_string(), "dockerfile contains no stages to build");
    }

    #[test]
    fn unknown_target() {
        let e = plan_of(MULTI, Some("nope")).unwrap_err();
        assert_eq!(e.to_string(), "target stage \"nope\" could not be found");
    }

    #[test]
    fn self_cycle() {
        let e = plan_of("FROM busybox AS stage0\nCOPY --from=stage0 f1 /sub/\n", None).unwrap_err();
        let PlanError::Cycle { stage, location } = &e else { panic!("{e}") };
        assert_eq!(stage, "stage0");
        assert_eq!(location.line, 2);
    }

    #[test]
    fn multi_stage_cycle() {
        let text = "FROM busybox AS stage0\nCOPY --from=stage2 f1 /sub/\nFROM busybox AS stage1\nCOPY --from=stage0 f2 /sub/\nFROM busybox AS stage2\nCOPY --from=stage1 f2 /sub/\n";
        let e = plan_of(text, Some("stage1")).unwrap_err();
        assert!(e.to_string().starts_with("circular dependency detected on stage: stage0"), "{e}");
    }

    #[test]
    fn copy_from_later_stage() {
        let text = "FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\n";
        let e = plan_of(text, Some("one")).unwrap_err();
        let PlanError::StageUsedBeforeDefinition { from, current, location } = &e else { panic!("{e}") };
        assert_eq!((from.as_str(), current.as_str(), location.line), ("two", "one", 2));
        // Not needed for the target: not an error.
        assert!(plan_of(text, Some("two")).is_ok());
    }

    #[test]
    fn bad_index_and_variable_from() {
        let e = plan_of("FROM a\nCOPY --from=3 /x /x\n", None).unwrap_err();
        assert_eq!(e.to_string(), "dockerfile parse error on line 2: invalid stage index 3");
        let e = plan_of("FROM a\nCOPY --from=$X /x /x\n", None).unwrap_err();
        assert!(e.to_string().contains("variable expansion is not supported for --from"));
    }
}
