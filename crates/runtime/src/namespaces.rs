//! Namespace types: their clone flags, their /proc/<pid>/ns names, and the plan of which
//! to create and which to join for a spec.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::error::{Error, IoContext, Result};
use crate::sys;

pub const CLONE_NEWTIME: i32 = 0x80;

pub fn flag(t: LinuxNamespaceType) -> i32 {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => CLONE_NEWTIME,
    }
}

/// The file name under /proc/<pid>/ns/.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// Order in which existing namespaces are joined: user first (it grants the rights to
/// join the rest), mount last (it changes how later paths resolve).
const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

/// Which namespaces a container gets: created anew (`new`) or joined by path (`join`).
#[derive(Debug, Default)]
pub struct Plan {
    pub new: Vec<LinuxNamespaceType>,
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl Plan {
    pub fn from_spec(list: &[LinuxNamespace]) -> Result<Plan> {
        let mut plan = Plan::default();
        for ns in list {
            let t = ns.typ();
            if plan.has(t) {
                return Err(Error::other(format!("namespace {} listed twice", proc_name(t))));
            }
            match ns.path() {
                Some(p) if !p.as_os_str().is_empty() => plan.join.push((t, p.clone())),
                _ => plan.new.push(t),
            }
        }
        plan.join.sort_by_key(|(t, _)| JOIN_ORDER.iter().position(|o| o == t));
        Ok(plan)
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(&t) || self.join.iter().any(|(j, _)| *j == t)
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(&t)
    }

    /// clone/unshare flags of the namespaces to create, without `except`.
    pub fn new_flags(&self, except: &[LinuxNamespaceType]) -> i32 {
        self.new.iter().filter(|t| !except.contains(t)).fold(0, |f, t| f | flag(*t))
    }
}

/// Opens every namespace file first, then joins them in order: after joining the mount
/// namespace the original paths may no longer resolve.
pub fn open_all(join: &[(LinuxNamespaceType, PathBuf)]) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    join.iter()
        .map(|(t, p)| {
            sys::open(p, libc::O_RDONLY, 0)
                .ctx(|| format!("opening {} namespace {}", proc_name(*t), p.display()))
                .map(|fd| (*t, fd))
        })
        .collect()
}

pub fn join_all(fds: &[(LinuxNamespaceType, OwnedFd)]) -> Result<()> {
    for (t, fd) in fds {
        sys::setns(fd.as_raw_fd(), flag(*t)).ctx(|| format!("joining {} namespace", proc_name(*t)))?;
    }
    Ok(())
}

pub fn ns_path(pid: i32, t: LinuxNamespaceType) -> PathBuf {
    Path::new("/proc").join(pid.to_string()).join("ns").join(proc_name(t))
}
