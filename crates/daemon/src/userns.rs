//! userns-remap: containers run in a user namespace whose root is an unprivileged host
//! uid, taken from the remap user's /etc/subuid and /etc/subgid ranges, as dockerd's
//! `userns-remap` (`default` is the `berth` user, made on first use as dockerd makes
//! `dockremap`). Image layers are shared, not copied: the rootfs mounts them id-mapped.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::host_ids;

/// One line of a uid/gid map: `size` ids from `container` inside are `host` outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

pub const DEFAULT_USER: &str = "berth";

pub struct Remap {
    /// The remap user (and group) as named in /etc/subuid.
    pub user: String,
    pub uids: Vec<IdMap>,
    pub gids: Vec<IdMap>,
    /// A user namespace with these maps, for id-mapped mounts; kept for the daemon's
    /// life.
    userns: OwnedFd,
}

impl std::fmt::Debug for Remap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remap").field("user", &self.user).field("uids", &self.uids).field("gids", &self.gids).finish()
    }
}

impl Remap {
    /// daemon.json's `userns-remap`: `default`, `user`, `user:group`, `uid`, `uid:gid`.
    pub fn from_setting(setting: &str) -> Result<Remap> {
        let (u, g) = setting.split_once(':').map_or((setting, None), |(u, g)| (u, Some(g)));
        let user = if u == "default" { ensure_default_user()? } else { u.to_owned() };
        let (uid, _) = match user.parse::<u32>() {
            Ok(n) => (n, n),
            Err(_) => host_ids::user_ids(&user).ok_or_else(|| anyhow!("userns-remap: no such user {user:?}"))?,
        };
        let name = host_ids::user_name(uid).unwrap_or_else(|| user.clone());
        let group = g.map(str::to_owned).unwrap_or_else(|| name.clone());
        let gid = match group.parse::<u32>() {
            Ok(n) => n,
            Err(_) => host_ids::group_gid(&group).ok_or_else(|| anyhow!("userns-remap: no such group {group:?}"))?,
        };
        let uids = ranges("/etc/subuid", &name, uid)?;
        let gids = ranges("/etc/subgid", &group, gid)?;
        let userns = user_namespace(&uids, &gids).context("userns-remap: making a user namespace for id-mapped mounts")?;
        Ok(Remap { user: name, uids, gids, userns })
    }

    /// The host uid and gid of the container's root.
    pub fn root(&self) -> (u32, u32) {
        (self.uids[0].host, self.gids[0].host)
    }

    pub fn userns_fd(&self) -> RawFd {
        self.userns.as_raw_fd()
    }

    /// The spec's `linux.uidMappings` / `gidMappings`.
    pub fn spec_maps(&self) -> (Value, Value) {
        let m = |v: &[IdMap]| json!(v.iter().map(|m| json!({ "containerID": m.container, "hostID": m.host, "size": m.size })).collect::<Vec<_>>());
        (m(&self.uids), m(&self.gids))
    }

    /// The maps in the image store's terms, for committing a remapped container.
    pub fn id_mapping(&self) -> berth_image::changes::IdMapping {
        let t = |v: &[IdMap]| v.iter().map(|m| (m.container, m.host, m.size)).collect();
        berth_image::changes::IdMapping { uids: t(&self.uids), gids: t(&self.gids) }
    }

    /// `id` inside → outside (root-owned files berthd writes for the container).
    pub fn host_uid(&self, id: u32) -> u32 {
        map(&self.uids, id)
    }

    pub fn host_gid(&self, id: u32) -> u32 {
        map(&self.gids, id)
    }
}

fn map(maps: &[IdMap], id: u32) -> u32 {
    maps.iter().find(|m| id >= m.container && id - m.container < m.size).map_or(65534, |m| m.host + (id - m.container))
}

/// The ranges of `name` (or its numeric id) in a subordinate-id file, laid end to end
/// from container id 0, as dockerd does.
fn ranges(file: &str, name: &str, id: u32) -> Result<Vec<IdMap>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("userns-remap: reading {file}"))?;
    parse_ranges(&text, file, name, id)
}

fn parse_ranges(text: &str, file: &str, name: &str, id: u32) -> Result<Vec<IdMap>> {
    let mut out = Vec::new();
    let mut next = 0u32;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() != 3 {
            bail!("userns-remap: {file} line {}: {line:?} is not NAME:START:COUNT", n + 1);
        }
        if f[0] != name && f[0] != id.to_string() {
            continue;
        }
        let start: u32 = f[1].parse().map_err(|_| anyhow!("userns-remap: {file} line {}: bad start {:?}", n + 1, f[1]))?;
        let size: u32 = f[2].parse().map_err(|_| anyhow!("userns-remap: {file} line {}: bad count {:?}", n + 1, f[2]))?;
        if size == 0 || start == 0 || start.checked_add(size).is_none() {
            bail!("userns-remap: {file} line {}: range {start}:{size} is empty, starts at 0 or overflows", n + 1);
        }
        out.push(IdMap { container: next, host: start, size });
        next = next.checked_add(size).ok_or_else(|| anyhow!("userns-remap: {file}: ranges of {name} overflow"))?;
    }
    if out.is_empty() {
        bail!("userns-remap: {file} has no range for {name}");
    }
    Ok(out)
}

/// `default`: the `berth` user, made (system user, no login) with a 65536-id range after
/// every existing one when missing — what dockerd does for `dockremap`.
fn ensure_default_user() -> Result<String> {
    let run = |args: &[&str]| -> Result<()> {
        let out = std::process::Command::new(args[0]).args(&args[1..]).output().with_context(|| format!("running {}", args[0]))?;
        if !out.status.success() {
            bail!("userns-remap: {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    };
    if host_ids::user_ids(DEFAULT_USER).is_none() {
        run(&["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", DEFAULT_USER])?;
    }
    for (file, flag) in [("/etc/subuid", "--add-subuids"), ("/etc/subgid", "--add-subgids")] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|l| l.split(':').next() == Some(DEFAULT_USER)) {
            continue;
        }
        let end = text.lines().filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            Some(f.get(1)?.parse::<u64>().ok()? + f.get(2)?.parse::<u64>().ok()?)
        });
        let start = end.max().unwrap_or(0).max(100_000);
        run(&["usermod", flag, &format!("{start}-{}", start + 65535), DEFAULT_USER])?;
    }
    Ok(DEFAULT_USER.to_owned())
}

/// A user namespace with `uids`/`gids`: a child unshares one and waits, we write its
/// maps and keep a descriptor of it, then the child goes.
fn user_namespace(uids: &[IdMap], gids: &[IdMap]) -> Result<OwnedFd> {
    let mut cmd = std::process::Command::new("/bin/sleep");
    cmd.arg("60").stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    // SAFETY: unshare is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| if libc::unshare(libc::CLONE_NEWUSER) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) });
    }
    let mut child = cmd.spawn().context("starting a process in a new user namespace")?;
    let pid = child.id();
    let result = (|| -> Result<OwnedFd> {
        let lines = |m: &[IdMap]| m.iter().map(|m| format!("{} {} {}\n", m.container, m.host, m.size)).collect::<String>();
        std::fs::write(format!("/proc/{pid}/uid_map"), lines(uids)).context("writing uid_map")?;
        std::fs::write(format!("/proc/{pid}/gid_map"), lines(gids)).context("writing gid_map")?;
        let f = std::fs::File::open(format!("/proc/{pid}/ns/user")).context("opening the user namespace")?;
        // SAFETY: into_raw_fd hands over ownership.
        Ok(unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(f)) })
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_parse_and_chain() {
        let text = "# comment\nother:100000:65536\nberth:165536:65536\n1001:300000:10\nberth:400000:5\n";
        let r = parse_ranges(text, "/etc/subuid", "berth", 999).unwrap();
        assert_eq!(r, vec![IdMap { container: 0, host: 165536, size: 65536 }, IdMap { container: 65536, host: 400000, size: 5 }]);
        assert_eq!(parse_ranges(text, "f", "nobody-here", 1001).unwrap(), vec![IdMap { container: 0, host: 300000, size: 10 }]);
        assert_eq!(map(&r, 0), 165536);
        assert_eq!(map(&r, 65537), 400001);
        assert_eq!(map(&r, 70000), 65534);
    }

    #[test]
    fn malformed_ranges_are_named() {
        let e = parse_ranges("berth:100000\n", "/etc/subuid", "berth", 1).unwrap_err().to_string();
        assert!(e.contains("/etc/subuid line 1") && e.contains("NAME:START:COUNT"), "{e}");
        let e = parse_ranges("berth:abc:10\n", "/etc/subuid", "berth", 1).unwrap_err().to_string();
        assert!(e.contains("bad start"), "{e}");
        let e = parse_ranges("berth:4294967290:100\n", "/etc/subuid", "berth", 1).unwrap_err().to_string();
        assert!(e.contains("overflows"), "{e}");
        let e = parse_ranges("other:1:10\n", "/etc/subgid", "berth", 1).unwrap_err().to_string();
        assert!(e.contains("no range for berth"), "{e}");
    }
}
