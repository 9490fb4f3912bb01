//! The container process: everything about it is computed in the runtime before cloning
//! ([`ProcessPlan::from_spec`]), and applied in the child just before execve
//! ([`ProcessPlan::finalize`]), so the child does syscalls, not parsing.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{PosixRlimit, Process};

use crate::capabilities::CapSets;
use crate::error::{Error, Result};
use crate::seccomp::Program;
use crate::sys;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Clone, Debug)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Clone, Debug)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    pub rlimits: Vec<Rlimit>,
    pub caps: Option<CapSets>,
    pub no_new_privs: bool,
    pub seccomp: Option<Program>,
    pub oom_score_adj: Option<i32>,
    pub terminal: bool,
    pub console_size: Option<(u16, u16)>,
    /// Descriptors 3..3+n are passed to the process (runc's --preserve-fds, LISTEN_FDS).
    pub preserve_fds: u32,
}

fn rlimit_name(r: &PosixRlimit) -> String {
    serde_json::to_value(r.typ()).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

fn rlimit_resource(r: &PosixRlimit) -> Result<u32> {
    let name = rlimit_name(r);
    Ok(match name.as_str() {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        other => return Err(Error::other(format!("unknown rlimit {other:?}"))),
    })
}

fn current_rlimit(resource: u32) -> (u64, u64) {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: r is a valid out-pointer.
    unsafe { libc::getrlimit(resource, &mut r) };
    (r.rlim_cur, r.rlim_max)
}

fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .map_or(false, |eff| eff & (1 << 24) != 0)
}

impl ProcessPlan {
    /// Builds the plan; `warn` receives notes such as clamped rlimits.
    pub fn from_spec(p: &Process, seccomp: Option<Program>, oom_score_adj: Option<i32>, warn: &mut dyn FnMut(String)) -> Result<ProcessPlan> {
        let args = p.args().clone().unwrap_or_default();
        if args.is_empty() {
            return Err(Error::other("process.args must name the program to run"));
        }
        let cap_resource = has_cap_sys_resource();
        let mut rlimits = Vec::new();
        for r in p.rlimits().iter().flatten() {
            let resource = rlimit_resource(r)?;
            let (mut soft, mut hard) = (r.soft(), r.hard());
            if soft > hard {
                return Err(Error::other(format!("rlimit {}: soft limit {soft} is above hard limit {hard}", rlimit_name(r))));
            }
            // Raising a hard limit needs CAP_SYS_RESOURCE; without it (as on hosts that
            // deny root that capability) clamp to what we have rather than fail.
            let (_, cur_hard) = current_rlimit(resource);
            if !cap_resource && hard > cur_hard {
                warn(format!(
                    "rlimit {}: requested {soft}:{hard} exceeds the runtime's hard limit {cur_hard} and CAP_SYS_RESOURCE is missing; clamped to {}:{cur_hard}",
                    rlimit_name(r),
                    soft.min(cur_hard)
                ));
                hard = cur_hard;
                soft = soft.min(hard);
            }
            rlimits.push(Rlimit { resource, soft, hard });
        }
        let user = p.user();
        Ok(ProcessPlan {
            args,
            env: p.env().clone().unwrap_or_default(),
            cwd: if p.cwd().as_os_str().is_empty() { PathBuf::from("/") } else { p.cwd().clone() },
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask(),
            rlimits,
            caps: p.capabilities().as_ref().map(CapSets::from_spec).transpose()?,
            no_new_privs: p.no_new_privileges().unwrap_or(false),
            seccomp,
            oom_score_adj: p.oom_score_adj().or(oom_score_adj),
            terminal: p.terminal().unwrap_or(false),
            console_size: p.console_size().map(|b| (b.height() as u16, b.width() as u16)),
            preserve_fds: 0,
        })
    }

    fn env_value(&self, key: &str) -> Option<&str> {
        self.env.iter().find_map(|e| e.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }

    /// Finds the program to execute the way execvp would, inside the container's root
    /// (call after pivot_root). Errors read like runc's, which Docker maps to exit 127.
    pub fn resolve_executable(&self) -> Result<PathBuf> {
        let prog = &self.args[0];
        if prog.contains('/') {
            let p = if Path::new(prog).is_absolute() { PathBuf::from(prog) } else { self.cwd.join(prog) };
            return match std::fs::metadata(&p) {
                Ok(m) if m.is_file() => Ok(PathBuf::from(prog)),
                Ok(_) => Err(Error::other(format!("exec: {prog:?}: is a directory"))),
                Err(_) => Err(Error::other(format!("exec: {prog:?}: stat {prog}: no such file or directory"))),
            };
        }
        let path = self.env_value("PATH").unwrap_or(DEFAULT_PATH);
        for dir in path.split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            let cand = Path::new(dir).join(prog);
            if let Ok(m) = std::fs::metadata(&cand) {
                use std::os::unix::fs::PermissionsExt;
                if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                    return Ok(cand);
                }
            }
        }
        Err(Error::other(format!("exec: {prog:?}: executable file not found in $PATH")))
    }

    /// Adds HOME from the container's /etc/passwd when the spec leaves it out, as runc
    /// does (call after pivot_root).
    pub fn default_home(&mut self) {
        if self.env_value("HOME").is_some() {
            return;
        }
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(self.uid)).then(|| f[5].to_string())
                })
            })
            .unwrap_or_else(|| "/".into());
        self.env.push(format!("HOME={home}"));
    }

    pub fn apply_rlimits(&self) -> Result<()> {
        for r in &self.rlimits {
            let lim = libc::rlimit { rlim_cur: r.soft, rlim_max: r.hard };
            // SAFETY: lim is a valid rlimit.
            if unsafe { libc::setrlimit(r.resource, &lim) } != 0 {
                return Err(Error::io(format!("setrlimit({}, {}:{})", r.resource, r.soft, r.hard), std::io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    /// Identity, privileges and seccomp, then execve. Called in the child once the
    /// filesystem is in place (and, for `create`, after `start`). Never returns on success.
    pub fn finalize_and_exec(&self, exe: &Path, setgroups_allowed: bool) -> Result<std::convert::Infallible> {
        sys::cloexec_from(3 + self.preserve_fds).map_err(|e| Error::io("marking descriptors close-on-exec", e))?;
        self.apply_rlimits()?;
        // The cwd is resolved (openat2) before the seccomp filter is loaded: filters
        // written before openat2 existed, like runtime-tools' default, deny it, while
        // the chdir/fchdir runc relies on is allowed. As in runc, it is entered as
        // root first; only if that is refused is it tried again as the container user.
        let cwd = self.open_cwd()?;
        let in_cwd = match self.enter_cwd(&cwd) {
            Ok(()) => true,
            Err(Error::Io { source, .. }) if matches!(source.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => false,
            Err(e) => return Err(e),
        };
        if let Some(c) = &self.caps {
            c.apply_bounding()?;
        }
        let load_seccomp = || -> Result<()> {
            if let Some(p) = &self.seccomp {
                sys::seccomp_load(&p.bpf, p.flags).map_err(|e| Error::io("loading seccomp filter", e))?;
            }
            Ok(())
        };
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it while we
        // still have it; the syscalls that follow must then pass the filter, as in runc.
        if !self.no_new_privs {
            load_seccomp()?;
        }
        sys::prctl(libc::PR_SET_KEEPCAPS, 1).map_err(|e| Error::io("PR_SET_KEEPCAPS", e))?;
        if setgroups_allowed {
            // SAFETY: pointer and length describe additional_gids.
            let r = unsafe { libc::setgroups(self.additional_gids.len(), self.additional_gids.as_ptr()) };
            if r != 0 {
                return Err(Error::io("setgroups", std::io::Error::last_os_error()));
            }
        }
        // SAFETY: plain syscalls with integer arguments.
        if unsafe { libc::setresgid(self.gid, self.gid, self.gid) } != 0 {
            return Err(Error::io(format!("setresgid({})", self.gid), std::io::Error::last_os_error()));
        }
        // SAFETY: as above.
        if unsafe { libc::setresuid(self.uid, self.uid, self.uid) } != 0 {
            return Err(Error::io(format!("setresuid({})", self.uid), std::io::Error::last_os_error()));
        }
        if let Some(m) = self.umask {
            // SAFETY: umask cannot fail.
            unsafe { libc::umask(m) };
        }
        if !in_cwd {
            self.enter_cwd(&cwd)?;
        }
        drop(cwd);
        if let Some(c) = &self.caps {
            c.apply_process()?;
        }
        sys::prctl(libc::PR_SET_KEEPCAPS, 0).map_err(|e| Error::io("PR_SET_KEEPCAPS", e))?;
        if self.no_new_privs {
            sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(|e| Error::io("PR_SET_NO_NEW_PRIVS", e))?;
            load_seccomp()?;
        }
        sys::reset_signals();
        let to_c = |v: &[String]| -> Result<Vec<CString>> {
            v.iter().map(|s| CString::new(s.as_bytes()).map_err(|_| Error::other(format!("{s:?} contains a NUL byte")))).collect()
        };
        let argv = to_c(&self.args)?;
        let envp = to_c(&self.env)?;
        let exe_c = sys::cstr(exe).map_err(|e| Error::io("executable path", e))?;
        let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        argv_p.push(std::ptr::null());
        let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
        envp_p.push(std::ptr::null());
        // SAFETY: argv/envp are NULL-terminated arrays of valid C strings kept alive above.
        unsafe { libc::execve(exe_c.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
        let e = std::io::Error::last_os_error();
        Err(Error::other(format!("exec {:?}: {e}", self.args[0])))
    }

    /// Opens the working directory, resolved inside the root: a cwd that names a
    /// leaked host descriptor (/proc/self/fd/N, CVE-2024-21626) is refused.
    fn open_cwd(&self) -> Result<std::os::fd::OwnedFd> {
        let root = sys::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::io("opening /", e))?;
        crate::safe_path::open_in_root(root.as_raw_fd(), &self.cwd, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| Error::io(format!("working directory {}", self.cwd.display()), e))
    }

    /// fchdir into the descriptor from [`Self::open_cwd`] and check where we landed.
    fn enter_cwd(&self, fd: &std::os::fd::OwnedFd) -> Result<()> {
        sys::fchdir(fd.as_raw_fd()).map_err(|e| Error::io(format!("chdir {}", self.cwd.display()), e))?;
        let cwd = std::env::current_dir().map_err(|e| Error::io("getcwd", e))?;
        if !cwd.is_absolute() || cwd.to_string_lossy().starts_with("(unreachable)") {
            return Err(Error::other(format!("working directory {} is outside the container", self.cwd.display())));
        }
        Ok(())
    }
}
