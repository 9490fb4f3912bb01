//! Step cache keys. A key chains the parent's key (or base image id), so
//! changing any instruction invalidates every step after it; it covers the
//! instruction as evaluated (variables expanded, flags included), the build
//! args a RUN sees, the platform, and for COPY/ADD the checksum of the
//! sources (see [`crate::copy::source_checksum`]).

use sha2::{Digest, Sha256};

use crate::evaluate::EvaluatedStep;
use crate::instructions::Instruction;

/// Everything a step's cache key depends on.
#[derive(Debug, Clone, Default)]
pub struct CacheKeyInput<'a> {
    /// Base image id for a stage's first step, the previous step's key after.
    pub parent: &'a str,
    /// The instruction as evaluated, in canonical text.
    pub instruction: &'a str,
    /// Build args the step sees (order does not matter).
    pub build_args: &'a [(String, String)],
    /// COPY/ADD source checksum.
    pub source_checksum: Option<&'a str>,
    pub platform: Option<&'a str>,
}

/// Feeds one length-prefixed field, so no two field lists hash alike by
/// shifting bytes between fields.
fn field(h: &mut Sha256, tag: &str, value: &str) {
    h.update((tag.len() as u64).to_le_bytes());
    h.update(tag.as_bytes());
    h.update((value.len() as u64).to_le_bytes());
    h.update(value.as_bytes());
}

/// `sha256:<hex>` of the inputs; deterministic.
pub fn cache_key(input: &CacheKeyInput) -> String {
    let mut h = Sha256::new();
    field(&mut h, "v", "berth-build-cache-1");
    field(&mut h, "parent", input.parent);
    field(&mut h, "instruction", input.instruction);
    let mut args: Vec<&(String, String)> = input.build_args.iter().collect();
    args.sort();
    for (k, v) in args {
        field(&mut h, "arg", &format!("{k}={v}"));
    }
    if let Some(sum) = input.source_checksum {
        field(&mut h, "sources", sum);
    }
    if let Some(p) = input.platform {
        field(&mut h, "platform", p);
    }
    let digest = h.finalize();
    format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A canonical text of an evaluated instruction (all fields and flags),
/// stable for a given berth version.
pub fn canonical_instruction(instruction: &Instruction) -> String {
    format!("{instruction:?}")
}

/// The key of an evaluated step: RUN steps include their build args (they
/// are in its environment); other steps see args only through expansion,
/// which is already in the instruction text.
pub fn step_cache_key(parent: &str, step: &EvaluatedStep, source_checksum: Option<&str>, platform: Option<&str>) -> String {
    let text = canonical_instruction(&step.instruction);
    let args: &[(String, String)] = match step.instruction {
        Instruction::Run(_) => &step.build_args,
        _ => &[],
    };
    cache_key(&CacheKeyInput {
        parent,
        instruction: &text,
        build_args: args,
        source_checksum,
        platform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::{source_checksum, CopyRequest};
    use crate::evaluate::{evaluate, EvalOptions};
    use crate::instructions::parse_dockerfile;
    use std::collections::BTreeMap;

    /// Keys of every step of the last stage, chained from a fixed base id,
    /// with COPY checksums computed from `ctx`.
    fn keys(text: &str, args: &[(&str, &str)], ctx: &std::path::Path) -> Vec<String> {
        let df = parse_dockerfile(text).unwrap();
        let opts = EvalOptions {
            build_args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            ..Default::default()
        };
        let ev = evaluate(&df, &opts, None).unwrap();
        let stage = ev.stages.last().unwrap().as_ref().unwrap();
        let mut parent = "sha256:base".to_string();
        let mut out = Vec::new();
        let dst = tempfile::tempdir().unwrap();
        for step in &stage.steps {
            let sum = match &step.instruction {
                Instruction::Copy(c) => Some(source_checksum(&CopyRequest::new(ctx, &c.sources, &c.dest, dst.path())).unwrap()),
                _ => None,
            };
            let k = step_cache_key(&parent, step, sum.as_deref(), Some("linux/amd64"));
            out.push(k.clone());
            parent = k;
        }
        out
    }

    const DF: &str = "FROM a\nARG V=1\nRUN echo $V\nCOPY . /app/\nRUN make\n";

    fn ctx() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("main.c"), "int main(){}").unwrap();
        d
    }

    #[test]
    fn same_inputs_same_keys() {
        let c = ctx();
        assert_eq!(keys(DF, &[], c.path()), keys(DF, &[], c.path()));
        assert!(keys(DF, &[], c.path())[0].starts_with("sha256:"));
    }

    #[test]
    fn changed_file_misses_from_the_copy_on() {
        let c = ctx();
        let before = keys(DF, &[], c.path());
        std::fs::write(c.path().join("main.c"), "int main(){return 1;}").unwrap();
        let after = keys(DF, &[], c.path());
        assert_eq!(before[..2], after[..2]);
        assert_ne!(before[2], after[2]);
        assert_ne!(before[3], after[3]);
    }

    #[test]
    fn changed_build_arg_misses() {
        let c = ctx();
        let before = keys(DF, &[], c.path());
        let after = keys(DF, &[("V", "2")], c.path());
        // The ARG line itself records the value; everything after differs.
        assert!(before.iter().zip(&after).all(|(a, b)| a != b));
        // An arg the Dockerfile does not declare changes nothing.
        assert_eq!(before, keys(DF, &[("UNUSED", "x")], c.path()));
    }

    #[test]
    fn changed_instruction_above_misses_below() {
        let c = ctx();
        let before = keys(DF, &[], c.path());
        let after = keys("FROM a\nARG V=1\nRUN echo $V changed\nCOPY . /app/\nRUN make\n", &[], c.path());
        assert_eq!(before[0], after[0]);
        assert_ne!(before[1], after[1]);
        assert_ne!(before[2], after[2]);
        assert_ne!(before[3], after[3]);
    }

    #[test]
    fn fields_do_not_run_together() {
        let a = cache_key(&CacheKeyInput { parent: "ab", instruction: "c", ..Default::default() });
        let b = cache_key(&CacheKeyInput { parent: "a", instruction: "bc", ..Default::default() });
        assert_ne!(a, b);
        let args1 = vec![("A".to_string(), "1".to_string()), ("B".to_string(), "2".to_string())];
        let args2 = vec![("B".to_string(), "2".to_string()), ("A".to_string(), "1".to_string())];
        let k1 = cache_key(&CacheKeyInput { parent: "p", instruction: "i", build_args: &args1, ..Default::default() });
        let k2 = cache_key(&CacheKeyInput { parent: "p", instruction: "i", build_args: &args2, ..Default::default() });
        assert_eq!(k1, k2);
        let k3 = cache_key(&CacheKeyInput { parent: "p", instruction: "i", build_args: &args1, platform: Some("linux/arm64"), ..Default::default() });
        assert_ne!(k1, k3);
    }
}
