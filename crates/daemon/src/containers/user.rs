//! `--user name[:group]` → uid, gid, supplementary groups and home, read from the
//! container's own /etc/passwd and /etc/group (opened inside the rootfs, so a symlinked
//! /etc/passwd cannot make berthd read a host file).

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;

use berth_runtime::safe_path::open_in_root;

#[derive(Debug, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

fn read_in_root(rootfs: &Path, path: &str) -> String {
    let Ok(root) = std::fs::File::open(rootfs) else { return String::new() };
    let Ok(fd) = open_in_root(root.as_raw_fd(), Path::new(path), libc::O_RDONLY) else { return String::new() };
    let mut s = String::new();
    let _ = std::fs::File::from(fd).take(4 << 20).read_to_string(&mut s);
    s
}

/// Resolves `spec` ("", "uid", "name", "uid:gid", "name:group") against the rootfs.
/// `extra_groups` are `--group-add` values (names or numbers).
pub fn resolve(rootfs: &Path, spec: &str, extra_groups: &[String]) -> Result<ExecUser, String> {
    let passwd = read_in_root(rootfs, "/etc/passwd");
    let group = read_in_root(rootfs, "/etc/group");
    resolve_from(&passwd, &group, spec, extra_groups)
}

pub fn resolve_from(passwd: &str, group: &str, spec: &str, extra_groups: &[String]) -> Result<ExecUser, String> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entries: Vec<Vec<&str>> = passwd.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(':').collect()).filter(|f: &Vec<&str>| f.len() >= 7).collect();
    let groups: Vec<Vec<&str>> = group.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(':').collect()).filter(|f: &Vec<&str>| f.len() >= 4).collect();
    let numeric = user_part.parse::<u32>().ok();
    let found = entries.iter().find(|f| f[0] == user_part || (numeric.is_some() && f[2].parse::<u32>().ok() == numeric));
    let (uid, mut gid, home, name) = match (found, numeric) {
        (Some(f), _) => (f[2].parse::<u32>().map_err(|_| format!("bad uid in /etc/passwd for {}", f[0]))?, f[3].parse::<u32>().unwrap_or(0), f[5].to_owned(), Some(f[0])),
        (None, Some(n)) => (n, 0, "/".to_owned(), None),
        (None, None) => return Err(format!("unable to find user {user_part}: no matching entries in passwd file")),
    };
    let find_group = |g: &str| -> Result<u32, String> {
        if let Ok(n) = g.parse::<u32>() {
            return Ok(n);
        }
        groups.iter().find(|f| f[0] == g).and_then(|f| f[2].parse().ok()).ok_or_else(|| format!("unable to find group {g}: no matching entries in group file"))
    };
    if let Some(g) = group_part {
        gid = find_group(g)?;
    }
    let mut additional = Vec::new();
    // Supplementary groups from /etc/group apply only when no group was named, as runc.
    if group_part.is_none() {
        if let Some(name) = name {
            for f in &groups {
                if f[3].split(',').any(|m| m == name) {
                    if let Ok(n) = f[2].parse::<u32>() {
                        if n != gid && !additional.contains(&n) {
                            additional.push(n);
                        }
                    }
                }
            }
        }
    }
    for g in extra_groups {
        let n = find_group(g)?;
        if !additional.contains(&n) {
            additional.push(n);
        }
    }
    Ok(ExecUser { uid, gid, additional_gids: additional, home: if home.is_empty() { "/".into() } else { home } })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nweb:x:1000:1000::/home/web:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\naudio:x:29:web\n";

    #[test]
    fn users() {
        let r = |s: &str| resolve_from(PASSWD, GROUP, s, &[]);
        assert_eq!(r("").unwrap(), ExecUser { uid: 0, gid: 0, additional_gids: vec![], home: "/root".into() });
        assert_eq!(r("web").unwrap(), ExecUser { uid: 1000, gid: 1000, additional_gids: vec![29], home: "/home/web".into() });
        assert_eq!(r("1000").unwrap().home, "/home/web");
        assert_eq!(r("nobody:web").unwrap(), ExecUser { uid: 65534, gid: 1000, additional_gids: vec![], home: "/nonexistent".into() });
        assert_eq!(r("4242:4243").unwrap(), ExecUser { uid: 4242, gid: 4243, additional_gids: vec![], home: "/".into() });
        assert!(r("ghost").unwrap_err().contains("unable to find user ghost"));
        assert!(r("root:ghosts").unwrap_err().contains("unable to find group ghosts"));
        assert_eq!(resolve_from(PASSWD, GROUP, "root", &["audio".into(), "7".into()]).unwrap().additional_gids, vec![29, 7]);
    }
}
