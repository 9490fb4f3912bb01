//! `--chown` and `--chmod` values.

use super::root::ConfinedRoot;
use super::CopyError;

fn lookup(content: &str, name: &str) -> Option<u32> {
    content.lines().find_map(|line| {
        let mut fields = line.split(':');
        let n = fields.next()?;
        let _password = fields.next()?;
        let id = fields.next()?;
        (n == name).then(|| id.parse().ok()).flatten()
    })
}

fn read(root: &ConfinedRoot, path: &str) -> String {
    root.read_file(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// Resolves `user[:group]` to ids, names looked up in the destination's
/// /etc/passwd and /etc/group. As Docker does, a missing group means the
/// group id equals the user id.
pub(crate) fn resolve_chown(spec: &str, root: &ConfinedRoot) -> Result<(u32, u32), CopyError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(&read(root, "/etc/passwd"), user).ok_or_else(|| CopyError::UnknownUser(user.to_string()))?,
    };
    let gid = match group {
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(&read(root, "/etc/group"), g).ok_or_else(|| CopyError::UnknownGroup(g.to_string()))?,
        },
    };
    Ok((uid, gid))
}

/// Parses `--chmod` (octal, at most 07777).
pub(crate) fn parse_chmod(spec: &str) -> Result<u32, CopyError> {
    match u32::from_str_radix(spec, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(CopyError::InvalidChmod(spec.to_string())),
    }
}
