//! End to end, `berth build` and `POST /build` against a real berthd: every instruction
//! observed in the image config or in a container, multi-stage builds, .dockerignore,
//! the cache (hits, misses, restarts, prune, --cache-from), RUN mounts (secret, cache, tmpfs),
//! heredocs, failing steps, bad Dockerfiles, contexts from stdin and git, --output, and
//! the real docker CLI's classic builder.

mod common;

use std::path::{Path, PathBuf};

use common::Daemon;

fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    let tar = common::busybox_tar().to_str().unwrap().to_owned();
    d.berth(&["import", "-c", "CMD [\"sh\"]", &tar, "busybox"]).ok();
    d
}

/// A context directory under the daemon's temp dir with these files.
fn context(d: &Daemon, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = d.dir.path().join("ctx").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, body) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    }
    dir
}

fn build(d: &Daemon, args: &[&str], ctx: &Path) -> String {
    let mut a: Vec<&str> = vec!["build", "--progress=plain"];
    a.extend_from_slice(args);
    let c = ctx.to_str().unwrap().to_owned();
    a.push(&c);
    d.berth(&a).ok()
}

fn build_fails(d: &Daemon, args: &[&str], ctx: &Path) -> (String, String) {
    let mut a: Vec<&str> = vec!["build", "--progress=plain"];
    a.extend_from_slice(args);
    let c = ctx.to_str().unwrap().to_owned();
    a.push(&c);
    let out = d.berth(&a).output();
    assert!(!out.status.success(), "build should fail; stdout: {}", String::from_utf8_lossy(&out.stdout));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    d.berth(&["image", "inspect", "-f", fmt, name]).ok().trim().to_owned()
}

fn run(d: &Daemon, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    d.berth(&a).ok()
}

fn containers(d: &Daemon) -> String {
    d.berth(&["ps", "-aq"]).ok()
}

#[test]
fn every_instruction_lands_in_the_config_or_the_filesystem() {
    let d = daemon_with_busybox();
    let archive = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o640);
        h.set_cksum();
        b.append_data(&mut h, "pkg/data.txt", &b"data"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let ctx = context(&d, "all", &[
        ("Dockerfile", r#"FROM busybox
MAINTAINER someone@example.com
ARG GREETING=hello
ENV APP_HOME=/srv/app PATH=/srv/app/bin:/bin:/sbin:/usr/bin
LABEL org.example.name="demo app" org.example.greeting=$GREETING
EXPOSE 8080 53/udp
WORKDIR $APP_HOME
WORKDIR sub
COPY --chown=1000:1000 --chmod=640 conf.txt ./
ADD pkg.tar /opt/
ADD notes.txt /opt/notes/
ADD http://127.0.0.1:PORT/files/remote.txt /opt/remote/
RUN echo "$GREETING from $(pwd)" > /srv/app/sub/run.txt && echo 'appuser:x:1234:1234::/tmp:/bin/sh' >> /etc/passwd
SHELL ["/bin/sh", "-ec"]
RUN echo "shell is $0" > /srv/app/sub/shell.txt
USER appuser
VOLUME /data
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD true
ONBUILD COPY child.txt /srv/app/child.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat run.txt"]
"#),
        ("conf.txt", "conf\n"),
        ("notes.txt", "notes\n"),
    ]);
    std::fs::write(ctx.join("pkg.tar"), archive).unwrap();
    let port = serve_once(b"remote body\n");
    let df = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap().replace("PORT", &port.to_string());
    std::fs::write(ctx.join("Dockerfile"), df).unwrap();
    let iid = d.dir.path().join("iid");
    let out = build(&d, &["-t", "demo:1", "-t", "demo:latest", "--build-arg", "GREETING=hi", "--label", "cli=yes", "--iidfile", iid.to_str().unwrap()], &ctx);
    assert!(out.contains("Successfully tagged demo:1") && out.contains("Successfully tagged demo:latest"), "{out}");
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "iidfile: {id}");
    assert_eq!(inspect(&d, "demo:1", "{{.Id}}"), id);

    assert_eq!(inspect(&d, "demo:1", "{{.Config.WorkingDir}}"), "/srv/app/sub");
    assert_eq!(inspect(&d, "demo:1", "{{.Config.User}}"), "appuser");
    assert_eq!(inspect(&d, "demo:1", "{{.Author}}"), "someone@example.com");
    assert_eq!(inspect(&d, "demo:1", "{{index .Config.Labels \"org.example.name\"}}|{{index .Config.Labels \"org.example.greeting\"}}|{{.Config.Labels.cli}}"), "demo app|hi|yes");
    assert_eq!(inspect(&d, "demo:1", "{{json .Config.ExposedPorts}}"), r#"{"53/udp":{},"8080/tcp":{}}"#);
    assert_eq!(inspect(&d, "demo:1", "{{json .Config.Volumes}}"), r#"{"/data":{}}"#);
    assert_eq!(inspect(&d, "demo:1", "{{.Config.StopSignal}}"), "SIGUSR1");
    assert_eq!(inspect(&d, "demo:1", "{{json .Config.Healthcheck}}"), r#"{"Interval":5000000000,"Retries":4,"Test":["CMD-SHELL","true"],"Timeout":2000000000}"#);
    assert_eq!(inspect(&d, "demo:1", "{{json .Config.OnBuild}}"), r#"["COPY child.txt /srv/app/child.txt"]"#);
    assert_eq!(inspect(&d, "demo:1", "{{json .Config.Shell}}"), r#"["/bin/sh","-ec"]"#);
    assert_eq!(inspect(&d, "demo:1", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}"), r#"["/bin/sh","-c"] ["cat run.txt"]"#);
    let env = inspect(&d, "demo:1", "{{json .Config.Env}}");
    assert!(env.contains(r#""APP_HOME=/srv/app""#) && env.contains("PATH=/srv/app/bin:/bin"), "{env}");
    // ARG values are not persisted in the environment.
    assert!(!env.contains("GREETING"), "{env}");

    // The filesystem, seen from a container of the image.
    assert_eq!(run(&d, &["demo:1"]), "hi from /srv/app/sub\n");
    assert_eq!(run(&d, &["demo:1", "cat shell.txt"]), "shell is /bin/sh\n");
    assert_eq!(run(&d, &["-u", "1000", "demo:1", "stat -c '%u:%g %a' conf.txt && cat conf.txt"]), "1000:1000 640\nconf\n");
    assert_eq!(run(&d, &["-u", "0", "demo:1", "cat /opt/pkg/data.txt /opt/notes/notes.txt && stat -c %a /opt/pkg/data.txt"]), "datanotes\n640\n");
    assert_eq!(run(&d, &["demo:1", "id -u"]), "1234\n");
    assert_eq!(run(&d, &["-u", "0", "demo:1", "cat /opt/remote/remote.txt && stat -c %a /opt/remote/remote.txt"]), "remote body\n600\n");

    // ONBUILD triggers run in a build FROM this image, with the child's context, and are
    // not inherited.
    let child = context(&d, "child", &[("Dockerfile", "FROM demo:1\n"), ("child.txt", "from the child context\n")]);
    let out = build(&d, &["-t", "child"], &child);
    assert!(out.contains("Executing 1 build trigger"), "{out}");
    assert_eq!(run(&d, &["child", "cat /srv/app/child.txt"]), "from the child context\n");
    assert_eq!(inspect(&d, "child", "{{json .Config.OnBuild}}"), "null");

    // History: one entry per instruction but ARG, layers only for RUN/COPY/ADD.
    let history = d.berth(&["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", "demo:1"]).ok();
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines[0].starts_with("CMD [\"cat run.txt\"]|0B"), "{history}");
    assert!(lines.iter().any(|l| l.starts_with("COPY --chown=1000:1000") && !l.ends_with("|0B")), "{history}");
    assert!(lines.iter().any(|l| l.starts_with("ENV APP_HOME") && l.ends_with("|0B")), "{history}");
    assert!(!lines.iter().any(|l| l.starts_with("ARG")), "{history}");
    assert_eq!(containers(&d), "", "no step container is left");
}

#[test]
fn multi_stage_builds_only_what_the_target_needs() {
    let d = daemon_with_busybox();
    let ctx = context(&d, "ms", &[(
        "Dockerfile",
        r#"FROM busybox AS base
RUN echo base > /base.txt

FROM base AS tools
RUN echo tools > /tools.txt

FROM busybox AS broken
RUN echo this stage must be skipped; exit 9

FROM busybox
COPY --from=tools /tools.txt /base.txt /from-stage/
COPY --from=0 /base.txt /from-index.txt
COPY --from=busybox /bin/busybox /from-image-busybox
RUN cat /from-stage/tools.txt /from-stage/base.txt /from-index.txt && test -x /from-image-busybox
"#,
    )]);
    let out = build(&d, &["-t", "final"], &ctx);
    assert!(!out.contains("this stage must be skipped"), "{out}");
    assert!(out.contains("tools\nbase\nbase\n"), "{out}");
    // --target stops at a stage (the following ones are not built).
    let out = build(&d, &["--target", "tools", "-t", "tools-only"], &ctx);
    assert!(!out.contains("COPY --from"), "{out}");
    assert_eq!(run(&d, &["tools-only", "cat", "/tools.txt", "/base.txt"]), "tools\nbase\n");
    let (_, err) = build_fails(&d, &["--target", "broken"], &ctx);
    assert!(err.contains("returned a non-zero code: 9"), "{err}");
    let (_, err) = build_fails(&d, &["--target", "nosuch"], &ctx);
    assert!(err.contains("target stage \"nosuch\" could not be found"), "{err}");
}

#[test]
fn dockerignore_excludes_and_exceptions_reinclude() {
    let d = daemon_with_busybox();
    let ctx = context(&d, "ign", &[
        ("Dockerfile", "FROM busybox\nCOPY . /ctx/\nRUN cd /ctx && find . -type f | sort\n"),
        (".dockerignore", "*.log\n!important.log\nbuild/\n**/*.tmp\n"),
        ("app.log", "x"),
        ("important.log", "x"),
        ("build/out.bin", "x"),
        ("src/main.c", "x"),
        ("src/deep/a.tmp", "x"),
    ]);
    let out = build(&d, &["-t", "ign"], &ctx);
    let files: Vec<&str> = out.lines().filter(|l| l.starts_with("./")).collect();
    assert_eq!(files, vec!["./.dockerignore", "./Dockerfile", "./important.log", "./src/main.c"], "{out}");
}

#[test]
fn cache_hits_misses_survives_restart_and_prune() {
    let mut d = daemon_with_busybox();
    let ctx = context(&d, "cache", &[
        ("Dockerfile", "FROM busybox\nRUN echo step-one\nCOPY app.txt /app.txt\nARG FLAVOR=plain\nRUN echo \"flavor $FLAVOR\" && cat /app.txt\n"),
        ("app.txt", "v1\n"),
    ]);
    let first = build(&d, &["-t", "c"], &ctx);
    assert_eq!(first.matches("Running in").count(), 2, "{first}");
    let id = inspect(&d, "c", "{{.Id}}");

    // Unchanged: every step from the cache, no container, the same image.
    let events_from = chrono_now();
    let again = build(&d, &["-t", "c"], &ctx);
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert_eq!(inspect(&d, "c", "{{.Id}}"), id);
    let ev = d.berth(&["events", "--since", &events_from, "--until", &chrono_now(), "--filter", "type=container"]).ok();
    assert_eq!(ev, "", "a cached build creates no container");

    // A changed source: COPY and what follows miss, the RUN above still hits.
    std::fs::write(ctx.join("app.txt"), "v2\n").unwrap();
    let out = build(&d, &["-t", "c"], &ctx);
    assert_eq!(out.matches("Using cache").count(), 1, "{out}");
    assert!(out.contains("flavor plain\nv2\n"), "{out}");
    // A changed build arg: only the RUN that sees it misses.
    let out = build(&d, &["-t", "c", "--build-arg", "FLAVOR=spicy"], &ctx);
    assert_eq!(out.matches("Using cache").count(), 2, "{out}");
    assert!(out.contains("flavor spicy"), "{out}");
    // A changed instruction above: everything after it misses.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN echo step-ONE\nCOPY app.txt /app.txt\nARG FLAVOR=plain\nRUN echo \"flavor $FLAVOR\" && cat /app.txt\n").unwrap();
    let out = build(&d, &["-t", "c"], &ctx);
    assert_eq!(out.matches("Using cache").count(), 0, "{out}");
    // --no-cache runs everything.
    let out = build(&d, &["-t", "c", "--no-cache"], &ctx);
    assert_eq!(out.matches("Running in").count(), 2, "{out}");

    // The cache is in berth.db: a berthd restart keeps it.
    d.crash_and_restart();
    let out = build(&d, &["-t", "c"], &ctx);
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    // Step images are build cache: hidden from `images`, shown by `images -a` and df.
    let visible = d.berth(&["images", "-q"]).ok();
    let all = d.berth(&["images", "-aq"]).ok();
    assert!(all.lines().count() > visible.lines().count(), "images -a: {all}\nimages: {visible}");
    let df = d.berth(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]).ok();
    let cache_count: usize = df.lines().find(|l| l.starts_with("Build Cache")).and_then(|l| l.rsplit(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(cache_count > 0, "{df}");
    let pruned = d.berth(&["builder", "prune", "-f"]).ok();
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    let out = build(&d, &["-t", "c"], &ctx);
    assert!(!out.contains("Using cache"), "after prune: {out}");
    // The tagged image survived the prune and still runs.
    assert_eq!(run(&d, &["c", "cat", "/app.txt"]), "v2\n");
}

/// Large context files are hashed while berthd unpacks them (not read back for the key):
/// the key still follows their content, also when only bytes change (same size, same
/// mtime), and a COPY of the file or of its directory gets the same bytes.
#[test]
fn large_context_files_are_keyed_by_their_content() {
    let d = daemon_with_busybox();
    let ctx = context(&d, "large", &[("Dockerfile", "FROM busybox\nCOPY big.bin /big.bin\nCOPY . /all/\nRUN sha256sum /big.bin /all/big.bin\n")]);
    let mut big: Vec<u8> = (0..600_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let path = ctx.join("big.bin");
    std::fs::write(&path, &big).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let sha = |b: &[u8]| -> String { use sha2::Digest; sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect() };

    let out = build(&d, &["-t", "large"], &ctx);
    assert_eq!(out.matches(&sha(&big)).count(), 2, "both copies hold the file: {out}");
    let out = build(&d, &["-t", "large"], &ctx);
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    // The terminal view (forced with --progress=tty): CACHED marks, the final status.
    let tty = d.berth(&["build", "--progress=tty", "-t", "large", ctx.to_str().unwrap()]).ok();
    assert!(tty.contains(" => CACHED [2/4] COPY big.bin /big.bin") && tty.contains(" => CACHED [4/4] RUN sha256sum"), "{tty}");
    assert!(tty.contains("(4/4) FINISHED\nSuccessfully built "), "{tty}");

    // One byte in the middle, same size, mtime put back: both COPYs miss.
    big[300_000] ^= 0xff;
    std::fs::write(&path, &big).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    let out = build(&d, &["-t", "large"], &ctx);
    assert_eq!(out.matches("Using cache").count(), 0, "{out}");
    assert_eq!(out.matches(&sha(&big)).count(), 2, "the new bytes in both copies: {out}");
    assert_eq!(run(&d, &["large", "sha256sum", "/big.bin"]).split_whitespace().next(), Some(sha(&big).as_str()));
}

/// `--cache-from` reuses the steps recorded in an image that came from elsewhere (here:
/// saved, removed with its whole build cache, and loaded back), as after a pull in CI.
#[test]
fn cache_from_reuses_the_steps_of_a_loaded_image() {
    let d = daemon_with_busybox();
    let ctx = context(&d, "cache-from", &[
        ("Dockerfile", "FROM busybox\nENV A=1\nRUN echo one > /one\nCOPY app.txt /app.txt\nRUN cat /one /app.txt > /two\nCMD [\"cat\", \"/two\"]\n"),
        ("app.txt", "v1\n"),
    ]);
    let first = build(&d, &["-t", "src:1"], &ctx);
    assert_eq!(first.matches("Running in").count(), 2, "{first}");
    let id = inspect(&d, "src:1", "{{.Id}}");
    let tar = d.dir.path().join("src.tar");
    d.berth(&["save", "-o", tar.to_str().unwrap(), "src:1"]).ok();
    d.berth(&["rmi", "src:1"]).ok();
    d.berth(&["builder", "prune", "-f"]).ok();
    d.berth(&["load", "-i", tar.to_str().unwrap()]).ok();

    // Every step comes from src:1 (no container; a rebuild would make another image id).
    let events_from = chrono_now();
    let out = build(&d, &["-t", "dst", "--cache-from", "src:1"], &ctx);
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    assert!(!out.contains("Running in"), "{out}");
    assert_eq!(inspect(&d, "dst", "{{.Id}}"), id);
    let ev = d.berth(&["events", "--since", &events_from, "--until", &chrono_now(), "--filter", "type=container"]).ok();
    assert_eq!(ev, "", "a build from --cache-from creates no container");
    assert_eq!(run(&d, &["dst"]), "one\nv1\n");

    // A changed source: the RUN above it still comes from src:1, the rest is built; an
    // image that does not exist is skipped, as dockerd does.
    std::fs::write(ctx.join("app.txt"), "v2\n").unwrap();
    let out = build(&d, &["-t", "dst2", "--cache-from", "nosuch:image", "--cache-from", "src:1"], &ctx);
    assert_eq!(out.matches("Using cache").count(), 1, "{out}");
    assert_eq!(out.matches("Running in").count(), 1, "{out}");
    assert_eq!(run(&d, &["dst2"]), "one\nv2\n");
    // The reused step is the same layer as src:1's.
    let layers = |img: &str| inspect(&d, img, "{{json .RootFS.Layers}}");
    let (src, dst2) = (layers("src:1"), layers("dst2"));
    let prefix: Vec<&str> = src.trim_matches(|c| c == '[' || c == ']').split(',').take(2).collect();
    assert!(dst2.starts_with(&format!("[{}", prefix.join(","))), "src {src}\ndst2 {dst2}");
}

/// Serves `body` to one HTTP GET on 127.0.0.1 (ADD <url>); returns the port.
fn serve_once(body: &'static [u8]) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = s.write_all(body);
        }
    });
    port
}

fn chrono_now() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

#[test]
fn run_mounts_heredocs_and_secrets_that_never_reach_a_layer() {
    let d = daemon_with_busybox();
    let ctx = context(&d, "mounts", &[
        (
            "Dockerfile",
            r#"FROM busybox
RUN --mount=type=secret,id=token test "$(md5sum < /run/secrets/token | cut -c1-8)" = e74a7345 && echo secret-ok
RUN --mount=type=secret,id=token,env=TOKEN,target=/tok test "${#TOKEN}" = 12 && test -f /tok
RUN --mount=type=cache,target=/var/cache/x echo run >> /var/cache/x/count && wc -l < /var/cache/x/count > /cache-count
RUN --mount=type=tmpfs,target=/scratch touch /scratch/f && grep -q ' /scratch tmpfs' /proc/mounts && echo tmpfs-ok
RUN --mount=type=bind,source=data,target=/mnt/data cat /mnt/data/in.txt > /copied.txt
RUN --network=none sh -c 'ip -o link | grep -v " lo:" | wc -l' > /links.txt
RUN <<EOF
echo first > /heredoc.txt
echo second >> /heredoc.txt
EOF
COPY <<EOF /inline.conf
key=value
EOF
"#,
        ),
        ("data/in.txt", "bound\n"),
    ]);
    let secret = d.dir.path().join("token.txt");
    std::fs::write(&secret, "s3cr3t-value").unwrap();
    let sarg = format!("id=token,src={}", secret.display());
    let out = build(&d, &["-t", "m", "--secret", &sarg], &ctx);
    assert!(out.contains("secret-ok") && out.contains("tmpfs-ok"), "{out}");
    assert_eq!(run(&d, &["m", "cat", "/cache-count", "/copied.txt", "/links.txt", "/heredoc.txt", "/inline.conf"]), "1\nbound\n0\nfirst\nsecond\nkey=value\n");
    assert_eq!(run(&d, &["m", "sh", "-c", "ls /run/secrets /tok /scratch /mnt/data 2>&1 | grep -c 'No such file'"]), "4\n", "mount points are not left in the image");
    // The secret is in no blob or layer of the store.
    let data_root = d.dir.path().join("root");
    let found = std::process::Command::new("grep").args(["-rl", "s3cr3t-value"]).arg(&data_root).output().unwrap();
    assert!(found.stdout.is_empty(), "secret found in: {}", String::from_utf8_lossy(&found.stdout));
    // The cache mount persists between builds (a --no-cache rebuild appends to it).
    build(&d, &["-t", "m", "--no-cache", "--secret", &sarg], &ctx);
    assert_eq!(run(&d, &["m", "cat", "/cache-count"]), "2\n");
    // A required secret that is not given fails the build with its name.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN --mount=type=secret,id=missing,required cat /run/secrets/missing\n").unwrap();
    let (_, err) = build_fails(&d, &[], &ctx);
    assert!(err.contains("secret missing not found"), "{err}");
}

#[test]
fn a_failing_run_reports_its_code_and_output_and_leaves_nothing() {
    let d = daemon_with_busybox();
    let before = d.berth(&["images", "-q"]).ok();
    let ctx = context(&d, "fail", &[("Dockerfile", "FROM busybox\nRUN echo done-one\nRUN echo to-stdout; echo to-stderr >&2; exit 42\nRUN echo never\n")]);
    let (out, err) = build_fails(&d, &["-t", "failed:1"], &ctx);
    assert!(out.contains("to-stdout") && out.contains("to-stderr"), "{out}");
    assert!(err.contains("The command '/bin/sh -c echo to-stdout; echo to-stderr >&2; exit 42' returned a non-zero code: 42"), "{err}");
    assert!(!out.contains("never"), "{out}");
    assert_eq!(d.berth(&["images", "-q"]).ok(), before, "no image made or tagged");
    assert!(d.berth(&["image", "inspect", "failed:1"]).output().status.code() != Some(0));
    assert_eq!(containers(&d), "", "no step container left");
}

#[test]
fn bad_dockerfiles_and_contexts_name_the_problem_and_tag_nothing() {
    let d = daemon_with_busybox();
    let cases: &[(&str, &str)] = &[
        ("FROM busybox\nFROBNICATE x\n", "line 2: unknown instruction: FROBNICATE"),
        ("RUN echo no from\n", "line 1: no build stage in current context"),
        ("FROM busybox\nRUN <<EOF\necho open\n", "line 2: unterminated heredoc"),
        ("FROM busybox\nENV A=\"open\n", "line 2"),
        ("FROM busybox\nCOPY ../outside /x\n", "line 2: COPY ../outside /x: forbidden path outside the build context"),
        ("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n", "circular dependency detected on stage: a"),
        ("FROM busybox AS first\nCOPY --from=later /x /x\nFROM busybox AS later\nFROM first\n", "cannot copy from stage \"later\", it needs to be defined before current stage \"first\""),
        ("FROM busybox\nCOPY missing.txt /x\n", "line 2: COPY missing.txt /x"),
        ("", "file with no instructions"),
    ];
    for (i, (dockerfile, want)) in cases.iter().enumerate() {
        let ctx = context(&d, &format!("bad{i}"), &[("Dockerfile", dockerfile)]);
        let (_, err) = build_fails(&d, &["-t", &format!("bad:{i}")], &ctx);
        assert!(err.contains(want), "case {i}: want {want:?} in {err:?}");
        assert!(d.berth(&["image", "inspect", &format!("bad:{i}")]).output().status.code() != Some(0), "case {i} tagged an image");
    }
    let empty = d.dir.path().join("ctx/empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (_, err) = build_fails(&d, &[], &empty);
    assert!(err.contains("Dockerfile") && err.contains("no such file or directory"), "{err}");
    // A context that is not a tar, straight to the API.
    let (code, body) = d.post_json("/build", "this is not a tar archive");
    assert_eq!(code, 400, "{body}");
    assert_eq!(containers(&d), "");
}

#[test]
fn contexts_from_stdin_git_and_output_exports() {
    let d = daemon_with_busybox();
    // A Dockerfile on stdin, no context.
    let out = d.berth(&["build", "--progress=plain", "-t", "stdin-df", "-"]).stdin(b"FROM busybox\nRUN echo from-stdin > /s.txt\n".to_vec()).ok();
    assert!(out.contains("Successfully tagged stdin-df:latest"), "{out}");
    assert_eq!(run(&d, &["stdin-df", "cat", "/s.txt"]), "from-stdin\n");
    // A tar context on stdin.
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        for (name, body) in [("Dockerfile", "FROM busybox\nCOPY f.txt /f.txt\n"), ("f.txt", "in-tar\n")] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, body.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    };
    d.berth(&["build", "-q", "-t", "stdin-tar", "-"]).stdin(tar).ok();
    assert_eq!(run(&d, &["stdin-tar", "cat", "/f.txt"]), "in-tar\n");
    // -f - with a directory context.
    let ctx = context(&d, "dir", &[("g.txt", "from-dir\n")]);
    d.berth(&["build", "-q", "-t", "stdin-file", "-f", "-", ctx.to_str().unwrap()]).stdin(b"FROM busybox\nCOPY g.txt /g.txt\n".to_vec()).ok();
    assert_eq!(run(&d, &["stdin-file", "cat", "/g.txt"]), "from-dir\n");

    // A git repository (a local one, by path ending in .git).
    let repo = d.dir.path().join("repo.git");
    let git = |args: &[&str]| {
        let st = std::process::Command::new("git").args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]).args(args).current_dir(&repo).output().unwrap();
        assert!(st.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&st.stderr));
    };
    std::fs::create_dir_all(repo.join("app")).unwrap();
    std::fs::write(repo.join("app/Dockerfile"), "FROM busybox\nCOPY version /version\n").unwrap();
    std::fs::write(repo.join("app/version"), "git-1\n").unwrap();
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
    let url = format!("{}#main:app", repo.display());
    d.berth(&["build", "-q", "-t", "from-git", &url]).ok();
    assert_eq!(run(&d, &["from-git", "cat", "/version"]), "git-1\n");

    // --output: the stage's files, no image.
    let before = d.berth(&["images", "-q"]).ok();
    let ctx = context(&d, "out", &[("Dockerfile", "FROM busybox AS b\nRUN mkdir /out && echo artefact > /out/result.txt\n")]);
    let dest = d.dir.path().join("exported");
    let spec = format!("type=local,dest={}", dest.display());
    build(&d, &["-o", &spec], &ctx);
    assert_eq!(std::fs::read_to_string(dest.join("out/result.txt")).unwrap(), "artefact\n");
    let tarball = d.dir.path().join("exported.tar");
    build(&d, &["--output", &format!("type=tar,dest={}", tarball.display())], &ctx);
    let listing = std::process::Command::new("tar").arg("-tf").arg(&tarball).output().unwrap();
    assert!(String::from_utf8_lossy(&listing.stdout).lines().any(|l| l.trim_start_matches("./") == "out/result.txt"));
    assert_eq!(d.berth(&["images", "-q"]).ok(), before, "--output makes no image");
    assert_eq!(containers(&d), "");
}

#[test]
fn docker_cli_classic_builder_works_against_berthd() {
    let d = daemon_with_busybox();
    let ctx = context(&d, "docker", &[("Dockerfile", "FROM busybox\nARG V=1\nRUN echo built-by-docker-cli-$V > /who\nCMD [\"cat\", \"/who\"]\n")]);
    let Some(run_docker) = d.docker(&["build", "-t", "dk:1", "--build-arg", "V=2", ctx.to_str().unwrap()]) else {
        panic!("the docker CLI is required at {}", common::DOCKER);
    };
    let out = run_docker.output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "docker build: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Step 2/3 : ARG V=1") || stdout.contains("Step 2/4 : ARG V=1"), "{stdout}");
    assert!(stdout.contains("Successfully tagged dk:1"), "{stdout}");
    assert_eq!(run(&d, &["dk:1"]), "built-by-docker-cli-2\n");
    // -q prints the id the aux message carried.
    let q = d.docker(&["build", "-q", "--build-arg", "V=2", ctx.to_str().unwrap()]).unwrap().ok();
    assert_eq!(q.trim(), inspect(&d, "dk:1", "{{.Id}}"));
    // A failing RUN: docker's exit status and message.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN exit 7\n").unwrap();
    let out = d.docker(&["build", ctx.to_str().unwrap()]).unwrap().output();
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("returned a non-zero code: 7"));
}
