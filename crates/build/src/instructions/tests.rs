use super::*;

fn df(text: &str) -> Dockerfile {
    parse_dockerfile(text).unwrap_or_else(|e| panic!("{e}"))
}

/// The single instruction of `FROM scratch\n<line>`.
fn one(line: &str) -> Instruction {
    let d = df(&format!("FROM scratch\n{line}\n"));
    d.stages[0].steps[0].instruction.clone()
}

/// The error for `FROM scratch\n<line>`: (line number, message).
fn fail(line: &str) -> (usize, String) {
    let e = parse_dockerfile(&format!("FROM scratch\n{line}\n")).expect_err(line);
    (e.line(), e.kind.to_string())
}

#[test]
fn from_forms() {
    let d = df("ARG V=1\nFROM --platform=linux/arm64 alpine:$V AS Build\nFROM build\n");
    assert_eq!(d.meta_args[0].0, [ArgDecl { key: "V".into(), default: Some("1".into()) }]);
    let s = &d.stages[0];
    assert_eq!((s.base.as_str(), s.name.as_deref(), s.platform.as_deref()), ("alpine:$V", Some("build"), Some("linux/arm64")));
    assert_eq!(d.stages[1].index, 1);
    assert_eq!(d.stages[1].name, None);
    assert!(d.stage_by_name("BUILD").is_some());
}

#[test]
fn from_errors() {
    let e = parse_dockerfile("FROM a b\n").unwrap_err();
    assert_eq!(e.to_string(), "dockerfile parse error on line 1: FROM requires either one or three arguments");
    let e = parse_dockerfile("FROM a AS 1x\n").unwrap_err();
    assert_eq!(e.kind.to_string(), "invalid name for build stage: \"1x\", name can't start with a number or contain symbols");
    let e = parse_dockerfile("FROM --plat=x a\n").unwrap_err();
    assert_eq!(e.kind.to_string(), "unknown flag: plat");
}

#[test]
fn missing_from() {
    let e = parse_dockerfile("# c\nARG X\nRUN true\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::NoBuildStage);
    assert_eq!(e.line(), 3);
    assert_eq!(e.to_string(), "dockerfile parse error on line 3: no build stage in current context");
}

#[test]
fn unknown_instruction() {
    assert_eq!(fail("FOO bar"), (2, "unknown instruction: FOO".to_string()));
    assert_eq!(fail("  runn x"), (2, "unknown instruction: runn".to_string()));
}

#[test]
fn run_flags() {
    let Instruction::Run(r) = one("RUN --network=none --security=insecure --mount=type=cache,target=/c --mount=type=secret,id=s echo hi") else {
        panic!()
    };
    assert_eq!(r.network, NetworkMode::None);
    assert_eq!(r.security, SecurityMode::Insecure);
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(r.mounts[0].mount_type, MountType::Cache);
    assert_eq!(r.mounts[1].id.as_deref(), Some("s"));
    assert_eq!(r.command, CommandLine { args: vec!["echo hi".into()], prepend_shell: true });
    let Instruction::Run(r) = one("RUN [\"sh\", \"-c\", \"x\"]") else { panic!() };
    assert_eq!(r.command, CommandLine { args: vec!["sh".into(), "-c".into(), "x".into()], prepend_shell: false });
    let Instruction::Run(r) = one("RUN --network=host true") else { panic!() };
    assert_eq!(r.network, NetworkMode::Host);
}

#[test]
fn run_flag_errors() {
    assert_eq!(fail("RUN --network=bridge true").1, "invalid network mode \"bridge\"");
    assert_eq!(fail("RUN --security=x true").1, "security \"x\" is not valid");
    assert_eq!(fail("RUN --mount=type=nfs true").1, "unsupported mount type \"nfs\"");
    assert_eq!(fail("RUN --device=x true").1, "unknown flag: device");
}

#[test]
fn run_heredoc() {
    let d = df("FROM a\nRUN <<EOF\nset -e\necho $HOME\nEOF\n");
    let Instruction::Run(r) = &d.stages[0].steps[0].instruction else { panic!() };
    assert_eq!(r.heredocs[0].content, "set -e\necho $HOME\n");
    assert_eq!(r.command.args, ["<<EOF"]);
}

#[test]
fn cmd_and_entrypoint() {
    assert_eq!(one("CMD [\"a\", \"b\"]"), Instruction::Cmd(CommandLine { args: vec!["a".into(), "b".into()], prepend_shell: false }));
    assert_eq!(one("CMD echo $X"), Instruction::Cmd(CommandLine { args: vec!["echo $X".into()], prepend_shell: true }));
    assert_eq!(one("ENTRYPOINT []"), Instruction::Entrypoint(CommandLine { args: vec![], prepend_shell: false }));
    assert_eq!(one("ENTRYPOINT exec app"), Instruction::Entrypoint(CommandLine { args: vec!["exec app".into()], prepend_shell: true }));
}

#[test]
fn env_both_forms() {
    assert_eq!(
        one("ENV A=1 B=\"x y\""),
        Instruction::Env(vec![
            KeyValue { key: "A".into(), value: "1".into(), legacy: false },
            KeyValue { key: "B".into(), value: "\"x y\"".into(), legacy: false },
        ])
    );
    assert_eq!(one("ENV PATH /a:/b c"), Instruction::Env(vec![KeyValue { key: "PATH".into(), value: "/a:/b c".into(), legacy: true }]));
    assert_eq!(fail("ENV").1, "ENV requires at least one argument");
    assert_eq!(fail("ENV =x").1, "ENV names can not be blank");
}

#[test]
fn arg_forms() {
    assert_eq!(
        one("ARG A B=2 C=\"x y\""),
        Instruction::Arg(vec![
            ArgDecl { key: "A".into(), default: None },
            ArgDecl { key: "B".into(), default: Some("2".into()) },
            ArgDecl { key: "C".into(), default: Some("\"x y\"".into()) },
        ])
    );
    assert_eq!(fail("ARG").1, "ARG requires at least one argument");
    assert_eq!(fail("ARG =1").1, "ARG names can not be blank");
}

#[test]
fn label_expose_user_workdir_volume() {
    assert_eq!(one("LABEL a=b"), Instruction::Label(vec![KeyValue { key: "a".into(), value: "b".into(), legacy: false }]));
    assert_eq!(one("EXPOSE 8080/udp 443 80"), Instruction::Expose(vec!["443".into(), "80".into(), "8080/udp".into()]));
    assert_eq!(one("USER app:app"), Instruction::User("app:app".into()));
    assert_eq!(one("WORKDIR /srv/$APP"), Instruction::Workdir("/srv/$APP".into()));
    assert_eq!(one("VOLUME /a /b"), Instruction::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(one("VOLUME [\"/a b\"]"), Instruction::Volume(vec!["/a b".into()]));
    assert_eq!(fail("VOLUME [\" \"]").1, "VOLUME specified can not be an empty string");
    assert_eq!(fail("USER").1, "USER requires exactly one argument");
    assert_eq!(fail("WORKDIR").1, "WORKDIR requires exactly one argument");
    assert_eq!(fail("EXPOSE").1, "EXPOSE requires at least one argument");
}

#[test]
fn copy_flags() {
    let Instruction::Copy(c) = one("COPY --from=build --chown=app:staff --chmod=0644 --link --parents --exclude=*.md --exclude=.git a b /dst/") else {
        panic!()
    };
    assert_eq!(c.sources, ["a", "b"]);
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("app:staff"));
    assert_eq!(c.chmod.as_deref(), Some("0644"));
    assert!(c.link && c.parents);
    assert_eq!(c.excludes, ["*.md", ".git"]);
    let Instruction::Copy(c) = one("COPY [\"a b\", \"/c d/\"]") else { panic!() };
    assert_eq!(c.sources, ["a b"]);
    assert_eq!(c.dest, "/c d/");
}

#[test]
fn copy_errors() {
    assert_eq!(
        fail("COPY onlyone").1,
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    assert_eq!(fail("COPY --checksum=x a b").1, "unknown flag: checksum");
    assert_eq!(fail("COPY --link=perhaps a b").1, "expecting boolean value for flag link, not: perhaps");
}

#[test]
fn copy_heredoc_source() {
    let d = df("FROM a\nCOPY <<-EOF <<'RAW' /etc/\n\thello $X\nEOF\n$Y\nRAW\n");
    let Instruction::Copy(c) = &d.stages[0].steps[0].instruction else { panic!() };
    assert!(c.sources.is_empty());
    assert_eq!(c.inline_sources.len(), 2);
    assert_eq!(c.inline_sources[0], InlineSource { name: "EOF".into(), content: "hello $X\n".into(), expand: true });
    assert_eq!(c.inline_sources[1], InlineSource { name: "RAW".into(), content: "$Y\n".into(), expand: false });
    let e = parse_dockerfile("FROM a\nCOPY x <<EOF\nEOF\n").unwrap_err();
    assert_eq!(e.kind.to_string(), "COPY cannot accept a heredoc as a destination");
}

#[test]
fn add_flags() {
    let Instruction::Add(a) = one("ADD --checksum=sha256:abc --keep-git-dir=true --unpack=false --chown=1:2 https://x/y.tgz /opt/") else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert_eq!(a.keep_git_dir, Some(true));
    assert_eq!(a.unpack, Some(false));
    assert_eq!(a.chown.as_deref(), Some("1:2"));
    let Instruction::Add(a) = one("ADD a /b") else { panic!() };
    assert_eq!(a.keep_git_dir, None);
    assert_eq!(fail("ADD --from=x a b").1, "unknown flag: from");
}

#[test]
fn shell_requires_json() {
    assert_eq!(one("SHELL [\"/bin/bash\", \"-c\"]"), Instruction::Shell(vec!["/bin/bash".into(), "-c".into()]));
    assert_eq!(fail("SHELL /bin/bash -c").1, "SHELL requires the arguments to be in JSON form");
    assert_eq!(fail("SHELL").1, "SHELL requires at least one argument");
}

#[test]
fn stopsignal_and_maintainer() {
    assert_eq!(one("STOPSIGNAL SIGTERM"), Instruction::StopSignal("SIGTERM".into()));
    assert_eq!(one("MAINTAINER Jane Doe <j@d>"), Instruction::Maintainer("Jane Doe <j@d>".into()));
    assert_eq!(fail("STOPSIGNAL").1, "STOPSIGNAL requires exactly one argument");
}

#[test]
fn healthcheck_forms() {
    assert_eq!(one("HEALTHCHECK NONE"), Instruction::Healthcheck(Healthcheck::None));
    let Instruction::Healthcheck(Healthcheck::Cmd(h)) =
        one("HEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s --start-interval=500ms --retries=3 CMD curl -f http://localhost/")
    else {
        panic!()
    };
    assert_eq!(h.test, ["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!(h.interval, Duration::from_secs(30));
    assert_eq!(h.timeout, Duration::from_secs(90));
    assert_eq!(h.start_period, Duration::from_secs(5));
    assert_eq!(h.start_interval, Duration::from_millis(500));
    assert_eq!(h.retries, 3);
    let Instruction::Healthcheck(Healthcheck::Cmd(h)) = one("HEALTHCHECK cmd [\"/bin/check\", \"-q\"]") else { panic!() };
    assert_eq!(h.test, ["CMD", "/bin/check", "-q"]);
    assert_eq!(h.interval, Duration::ZERO);
}

#[test]
fn healthcheck_errors() {
    assert_eq!(fail("HEALTHCHECK NONE x").1, "HEALTHCHECK NONE takes no arguments");
    assert_eq!(fail("HEALTHCHECK CMD").1, "Missing command after HEALTHCHECK CMD");
    assert_eq!(fail("HEALTHCHECK RUN x").1, "Unknown type \"RUN\" in HEALTHCHECK (try CMD)");
    assert_eq!(fail("HEALTHCHECK --interval=1us CMD x").1, "Interval \"interval\" cannot be less than 1ms");
    assert_eq!(fail("HEALTHCHECK --timeout=soon CMD x").1, "time: invalid duration \"soon\"");
    assert_eq!(fail("HEALTHCHECK --retries=-1 CMD x").1, "--retries cannot be negative (-1)");
    assert_eq!(fail("HEALTHCHECK --retries=x CMD x").1, "strconv.ParseInt: parsing \"x\": invalid syntax");
    assert_eq!(fail("HEALTHCHECK").1, "HEALTHCHECK requires at least one argument");
}

#[test]
fn onbuild_nested() {
    let Instruction::Onbuild(o) = one("ONBUILD COPY --chown=1 . /app") else { panic!() };
    assert_eq!(o.expression, "COPY --chown=1 . /app");
    let Some(inner) = o.instruction else { panic!() };
    let Instruction::Copy(c) = *inner else { panic!() };
    assert_eq!(c.chown.as_deref(), Some("1"));
    let d = df("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n");
    let Instruction::Onbuild(o) = &d.stages[0].steps[0].instruction else { panic!() };
    assert_eq!(o.expression, "RUN <<EOF\necho hi\nEOF");
    let Some(Instruction::Run(r)) = o.instruction.as_deref() else { panic!() };
    assert_eq!(r.heredocs[0].content, "echo hi\n");
}

#[test]
fn onbuild_rejections() {
    assert_eq!(fail("ONBUILD ONBUILD RUN x").1, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    assert_eq!(fail("ONBUILD FROM x").1, "FROM isn't allowed as an ONBUILD trigger");
    assert_eq!(fail("onbuild maintainer x").1, "MAINTAINER isn't allowed as an ONBUILD trigger");
    assert_eq!(fail("ONBUILD").1, "ONBUILD requires at least one argument");
}

#[test]
fn error_location_spans_continuation() {
    let e = parse_dockerfile("FROM a\nRUN \\\n  --network=x \\\n  true\n").unwrap_err();
    assert_eq!(e.location.line, 2);
    assert_eq!(e.location.end_line, 4);
    assert_eq!(e.location.column, 1);
}

#[test]
fn unterminated_quote_in_flag_is_not_fatal_but_expansion_is_later() {
    // Quotes in ENV values are kept for the expander, which reports them.
    let Instruction::Env(kv) = one("ENV A=\"open") else { panic!() };
    assert_eq!(kv[0].value, "\"open");
}
