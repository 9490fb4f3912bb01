//! berthd's side of berth-shim: spawning one (exec, never a bare fork of this
//! multi-threaded process), reading its ready line, and the control-socket requests.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use berth_shim::protocol::{ExitStatus, Ready, Reply, Request, EXIT_FILE, PID_FILE, SOCKET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// An attach request waiting for its container to start; it is handed the shim
/// connection (already past the Attach reply) when the shim is up.
pub struct PendingAttach {
    pub request: Request,
    pub tx: tokio::sync::oneshot::Sender<Result<UnixStream, String>>,
}

/// The berth-shim binary: beside berthd, else on PATH.
pub fn binary() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        let p = exe.with_file_name("berth-shim");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("berth-shim")
}

/// Starts `berth-shim <args>` with the ready pipe as its stdout (it moves the pipe off
/// fd 1 at once: `BERTH_SHIM_READY_FD`), stderr to `<dir>/shim.log`; returns what it
/// reported. No pre-exec hook, so std spawns with posix_spawn (vfork) rather than
/// copying this whole process's page tables in a fork; the shim makes its own session.
/// The shim's process is reaped by a task (tokio's child reaper), so no zombie is left
/// when it exits while berthd runs.
pub async fn spawn(dir: &Path, args: Vec<String>) -> Result<Ready> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("shim.log")).context("opening shim.log")?;
    let (rd, wr) = pipe()?;
    let mut cmd = tokio::process::Command::new(binary());
    cmd.args(&args).env("BERTH_SHIM_READY_FD", "1").stdin(std::process::Stdio::null()).stdout(std::process::Stdio::from(wr)).stderr(log);
    let mut child = cmd.spawn().with_context(|| format!("starting {}", binary().display()))?;
    // The Command still holds the write end: without dropping it, EOF never comes.
    drop(cmd);
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    // One line, not to EOF: the container's init (cloned by the shim, not yet exec'd)
    // holds a copy of the pipe until it starts.
    let line = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut s = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(std::fs::File::from(rd)), &mut s)?;
        Ok(s)
    })
    .await??;
    let line = line.trim();
    if line.is_empty() {
        let log = std::fs::read_to_string(dir.join("shim.log")).unwrap_or_default();
        bail!("berth-shim exited without reporting: {}", log.trim());
    }
    let ready: Ready = serde_json::from_str(line).with_context(|| format!("bad ready line from berth-shim: {line:?}"))?;
    Ok(ready)
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    // SAFETY: fresh descriptors from the kernel, owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub async fn connect(dir: &Path) -> Result<UnixStream> {
    let sock = dir.join(SOCKET);
    UnixStream::connect(&sock).await.with_context(|| format!("connecting to the shim at {}", sock.display()))
}

/// Reads one reply line byte by byte, so bytes after it (an attach stream) stay unread.
async fn read_line(s: &mut UnixStream) -> Result<Reply> {
    let mut line = Vec::with_capacity(128);
    loop {
        let b = s.read_u8().await.map_err(|e| anyhow!("the shim closed the connection: {e}"))?;
        if b == b'\n' {
            break;
        }
        line.push(b);
        if line.len() > 1 << 20 {
            bail!("reply line from the shim too long");
        }
    }
    serde_json::from_slice(&line).with_context(|| format!("bad reply from the shim: {}", String::from_utf8_lossy(&line)))
}

async fn send(s: &mut UnixStream, req: &Request) -> Result<()> {
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    s.write_all(&line).await?;
    Ok(())
}

/// The reply on a connection that carries nothing after it: read in one go.
async fn read_only_line(s: UnixStream) -> Result<Reply> {
    let mut line = Vec::with_capacity(256);
    let mut r = tokio::io::BufReader::new(s).take(1 << 20);
    tokio::io::AsyncBufReadExt::read_until(&mut r, b'\n', &mut line).await?;
    if line.last() != Some(&b'\n') {
        bail!("the shim closed the connection before its reply ended");
    }
    line.pop();
    serde_json::from_slice(&line).with_context(|| format!("bad reply from the shim: {}", String::from_utf8_lossy(&line)))
}

/// One request, one reply; a reply with `ok: false` is an error carrying its message.
pub async fn call(dir: &Path, req: &Request) -> Result<Reply> {
    let mut s = connect(dir).await?;
    send(&mut s, req).await?;
    let r = read_only_line(s).await?;
    if !r.ok {
        bail!("{}", r.error.clone().unwrap_or_else(|| "the shim refused the request".into()));
    }
    Ok(r)
}

/// An attached stream: the connection after the shim's `ok`.
pub async fn attach(dir: &Path, req: &Request) -> Result<UnixStream> {
    let mut s = connect(dir).await?;
    send(&mut s, req).await?;
    let r = read_line(&mut s).await?;
    if !r.ok {
        bail!("{}", r.error.unwrap_or_else(|| "attach refused".into()));
    }
    Ok(s)
}

/// Waits for the process to exit. If the shim vanishes without answering, its exit
/// file says what happened; if there is none either, the shim died (status 255 with an
/// error, as Docker reports a lost task).
pub async fn wait(dir: &Path) -> ExitStatus {
    let answer = async {
        let mut s = connect(dir).await?;
        send(&mut s, &Request::Wait).await?;
        let r = read_only_line(s).await?;
        r.exit.ok_or_else(|| anyhow!("wait reply without an exit status"))
    }
    .await;
    match answer {
        Ok(e) => e,
        Err(e) => read_exit(dir).unwrap_or_else(|| ExitStatus {
            exit_code: 255,
            oom_killed: false,
            finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            error: Some(format!("berth-shim went away: {e:#}")),
        }),
    }
}

pub fn read_exit(dir: &Path) -> Option<ExitStatus> {
    let data = std::fs::read(dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Whether the shim recorded in `dir` is still alive (its pid file names a live
/// berth-shim process).
pub fn alive(dir: &Path) -> bool {
    let Ok(pid) = std::fs::read_to_string(dir.join(PID_FILE)) else { return false };
    let Ok(pid) = pid.trim().parse::<i32>() else { return false };
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim() == "berth-shim").unwrap_or(false)
}

/// Splices a client connection (an upgraded HTTP connection) and an attached shim
/// stream: client bytes go to the shim (its half-close becomes the shim's), shim bytes
/// to the client; when the shim ends the stream, `after` is awaited, then the client's
/// connection is closed.
pub async fn splice<C>(client: C, shim: UnixStream, after: impl std::future::Future<Output = ()>)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = shim.into_split();
    let input = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
    });
    let _ = tokio::io::copy(&mut sr, &mut cw).await;
    after.await;
    let _ = cw.shutdown().await;
    input.abort();
}
