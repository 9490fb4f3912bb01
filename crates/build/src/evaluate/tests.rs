use super::*;
use crate::instructions::{parse_dockerfile, ArgDecl};

fn opts(build_args: &[(&str, &str)]) -> EvalOptions {
    EvalOptions {
        build_args: build_args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..EvalOptions::default()
    }
}

fn eval(text: &str, o: &EvalOptions) -> Evaluation {
    let df = parse_dockerfile(text).unwrap_or_else(|e| panic!("{e}"));
    evaluate(&df, o, None).unwrap_or_else(|e| panic!("{e}"))
}

fn eval_err(text: &str, o: &EvalOptions) -> DockerfileError {
    let df = parse_dockerfile(text).unwrap_or_else(|e| panic!("{e}"));
    evaluate(&df, o, None).expect_err(text)
}

fn stage(e: &Evaluation, i: usize) -> &EvaluatedStage {
    e.stages[i].as_ref().unwrap()
}

fn instr(e: &Evaluation, s: usize, i: usize) -> &Instruction {
    &stage(e, s).steps[i].instruction
}

#[test]
fn global_args_expand_from_only() {
    let text = "ARG TAG=3.19\nARG IMG=alpine:${TAG}\nFROM $IMG\nWORKDIR /w/${TAG}\n";
    let e = eval(text, &opts(&[]));
    assert_eq!(stage(&e, 0).base, "alpine:3.19");
    // Not redeclared in the stage: not visible.
    assert_eq!(instr(&e, 0, 0), &Instruction::Workdir("/w/".into()));
}

#[test]
fn redeclared_global_arg_is_visible() {
    let e = eval("ARG TAG=1\nFROM a\nARG TAG\nWORKDIR /w/$TAG\n", &opts(&[]));
    assert_eq!(instr(&e, 0, 1), &Instruction::Workdir("/w/1".into()));
    let e = eval("ARG TAG=1\nFROM a\nARG TAG\nWORKDIR /w/$TAG\n", &opts(&[("TAG", "9")]));
    assert_eq!(instr(&e, 0, 1), &Instruction::Workdir("/w/9".into()));
    assert_eq!(stage(&e, 0).steps[1].build_args, [("TAG".to_string(), "9".to_string())]);
}

#[test]
fn build_arg_overrides_default_and_globals() {
    let e = eval("ARG B=x\nFROM img:$B\nARG V=default\nLABEL v=$V\n", &opts(&[("V", "cli"), ("B", "y")]));
    assert_eq!(stage(&e, 0).base, "img:y");
    assert_eq!(instr(&e, 0, 1), &Instruction::Label(vec![KeyValue { key: "v".into(), value: "cli".into(), legacy: false }]));
    let Instruction::Arg(a) = instr(&e, 0, 0) else { panic!() };
    assert_eq!(a[0], ArgDecl { key: "V".into(), default: Some("cli".into()) });
}

#[test]
fn env_overrides_arg() {
    let e = eval("FROM a\nARG V=arg\nENV V=env\nUSER $V\n", &opts(&[("V", "cli")]));
    assert_eq!(instr(&e, 0, 2), &Instruction::User("env".into()));
}

#[test]
fn env_uses_values_from_before_the_line() {
    let e = eval("FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n", &opts(&[]));
    let Instruction::Env(kv) = instr(&e, 0, 1) else { panic!() };
    assert_eq!(kv[1].value, "hello");
    let Instruction::Env(kv) = instr(&e, 0, 2) else { panic!() };
    assert_eq!(kv[0].value, "bye");
    assert_eq!(stage(&e, 0).final_env.len(), 3);
}

#[test]
fn run_cmd_entrypoint_are_not_expanded() {
    let e = eval("FROM a\nENV X=1\nRUN echo $X\nCMD echo $X\nENTRYPOINT [\"$X\"]\n", &opts(&[]));
    let Instruction::Run(r) = instr(&e, 0, 1) else { panic!() };
    assert_eq!(r.command.args, ["echo $X"]);
    let Instruction::Cmd(c) = instr(&e, 0, 2) else { panic!() };
    assert_eq!(c.args, ["echo $X"]);
    let Instruction::Entrypoint(c) = instr(&e, 0, 3) else { panic!() };
    assert_eq!(c.args, ["$X"]);
}

#[test]
fn copy_add_paths_and_flags_expand() {
    let text = "FROM a\nARG SRC=app U=1000\nCOPY --chown=$U:$U --chmod=${MODE:-644} $SRC/ /opt/$SRC/\nADD --checksum=sha256:${SUM:-0} ${SRC}.tar /\n";
    let e = eval(text, &opts(&[]));
    let Instruction::Copy(c) = instr(&e, 0, 1) else { panic!() };
    assert_eq!(c.sources, ["app/"]);
    assert_eq!(c.dest, "/opt/app/");
    assert_eq!(c.chown.as_deref(), Some("1000:1000"));
    assert_eq!(c.chmod.as_deref(), Some("644"));
    let Instruction::Add(a) = instr(&e, 0, 2) else { panic!() };
    assert_eq!(a.sources, ["app.tar"]);
    assert_eq!(a.checksum.as_deref(), Some("sha256:0"));
}

#[test]
fn copy_from_rejects_variables() {
    let e = eval_err("FROM a\nARG S=x\nCOPY --from=$S a b\n", &opts(&[]));
    assert_eq!(e.line(), 3);
    assert_eq!(e.kind, ErrorKind::FromExpansion);
}

#[test]
fn heredoc_source_expansion_respects_quoting() {
    let text = "FROM a\nENV N=world\nCOPY <<A <<'B' /\nhello \"$N\"\nA\nhello $N\nB\n";
    let e = eval(text, &opts(&[]));
    let Instruction::Copy(c) = instr(&e, 0, 1) else { panic!() };
    assert_eq!(c.inline_sources[0].content, "hello \"world\"\n");
    assert_eq!(c.inline_sources[1].content, "hello $N\n");
}

#[test]
fn expose_splits_words() {
    let e = eval("FROM a\nARG PORTS=\"80/tcp 443\"\nEXPOSE $PORTS 8080\n", &opts(&[]));
    assert_eq!(instr(&e, 0, 1), &Instruction::Expose(vec!["80/tcp".into(), "443".into(), "8080".into()]));
}

#[test]
fn volume_user_workdir_stopsignal_expand() {
    let e = eval("FROM a\nENV D=data S=SIGINT\nVOLUME /$D /x\nWORKDIR $D\nWORKDIR sub\nSTOPSIGNAL $S\nRUN pwd\n", &opts(&[]));
    assert_eq!(instr(&e, 0, 1), &Instruction::Volume(vec!["/data".into(), "/x".into()]));
    assert_eq!(instr(&e, 0, 4), &Instruction::StopSignal("SIGINT".into()));
    assert_eq!(stage(&e, 0).steps[5].workdir, "/data/sub");
}

#[test]
fn run_mount_values_expand() {
    let e = eval("FROM a\nARG T=/cache\nRUN --mount=type=cache,target=$T,id=${T} true\n", &opts(&[]));
    let Instruction::Run(r) = instr(&e, 0, 1) else { panic!() };
    assert_eq!(r.mounts[0].target.as_deref(), Some("/cache"));
    assert!(r.mounts[0].complete);
}

#[test]
fn stage_inherits_parent_scope() {
    let e = eval("FROM a AS base\nENV P=1\nARG Q=2\nFROM base\nLABEL p=$P q=$Q\n", &opts(&[]));
    assert_eq!(stage(&e, 1).base_stage, Some(0));
    let Instruction::Label(kv) = instr(&e, 1, 0) else { panic!() };
    assert_eq!((kv[0].value.as_str(), kv[1].value.as_str()), ("1", "2"));
}

#[test]
fn base_image_env_is_visible() {
    let mut o = opts(&[]);
    o.base_image_env.insert("debian".into(), vec![("PATH".into(), "/usr/bin".into())]);
    let e = eval("FROM debian\nENV PATH=/opt/bin:$PATH\n", &o);
    let Instruction::Env(kv) = instr(&e, 0, 0) else { panic!() };
    assert_eq!(kv[0].value, "/opt/bin:/usr/bin");
}

#[test]
fn platform_args_are_global() {
    let mut o = opts(&[]);
    o.platform_args.insert("TARGETARCH".into(), "arm64".into());
    let e = eval("FROM img-$TARGETARCH\nARG TARGETARCH\nLABEL a=$TARGETARCH\n", &o);
    assert_eq!(stage(&e, 0).base, "img-arm64");
    let Instruction::Label(kv) = instr(&e, 0, 1) else { panic!() };
    assert_eq!(kv[0].value, "arm64");
}

#[test]
fn unused_build_args_are_reported() {
    let e = eval("ARG G\nFROM a\nARG USED\n", &opts(&[("USED", "1"), ("G", "2"), ("EXTRA", "3"), ("HTTP_PROXY", "p")]));
    assert_eq!(e.unused_build_args, ["EXTRA"]);
}

#[test]
fn expansion_errors_name_the_line() {
    let e = eval_err("FROM a\nENV A=1\nWORKDIR ${NOPE:?must be set}\n", &opts(&[]));
    assert_eq!(e.line(), 3);
    assert_eq!(e.to_string(), "dockerfile parse error on line 3: failed to process \"${NOPE:?must be set}\": NOPE: must be set");
    let e = eval_err("FROM a\nENV A=\"open\n", &opts(&[]));
    assert!(e.to_string().ends_with("unexpected end of statement while looking for matching double-quote"));
    let e = eval_err("ARG X\nFROM $X\n", &opts(&[]));
    assert_eq!(e.kind.to_string(), "base name ($X) should not be blank");
}

#[test]
fn skipped_stages_are_not_evaluated() {
    let df = parse_dockerfile("FROM a\nWORKDIR ${X:?boom}\nFROM b\nWORKDIR /ok\n").unwrap();
    let e = evaluate(&df, &EvalOptions::default(), Some(&[1])).unwrap();
    assert!(e.stages[0].is_none());
    assert_eq!(e.stages[1].as_ref().unwrap().final_workdir, "/ok");
}

#[test]
fn workdir_joining() {
    assert_eq!(join_workdir("/a", "b/../c"), "/a/c");
    assert_eq!(join_workdir("/a", "/x/./y/"), "/x/y");
    assert_eq!(join_workdir("/", ".."), "/");
}
