//! The local driver's options (`volume create -o type=tmpfs -o device=tmpfs -o
//! o=size=64m`): validated at create time, turned into one mount(2) on the volume's
//! `_data` while a container uses it — what dockerd's local driver does.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Docker's keys: `size` needs project quotas on xfs, which berth does not manage.
const KEYS: [&str; 3] = ["type", "device", "o"];

/// Checks options as dockerd does: known keys only, and `device`, `type` and `o`
/// each needing the others they make sense with.
pub fn validate(opts: &BTreeMap<String, String>) -> Result<()> {
    for k in opts.keys() {
        if k == "size" {
            return Err(Error::InvalidOption("quota size requested but no quota support".into()));
        }
        if !KEYS.contains(&k.as_str()) {
            return Err(Error::InvalidOption(format!("invalid option: {k:?}")));
        }
    }
    let needs: [(&str, &[&str]); 3] = [("device", &["type"]), ("type", &["device"]), ("o", &["device", "type"])];
    for (k, required) in needs {
        if opts.contains_key(k) {
            if let Some(missing) = required.iter().find(|r| !opts.contains_key(**r)) {
                return Err(Error::InvalidOption(format!("missing required option: {missing:?}")));
            }
        }
    }
    if let Some(t) = opts.get("type") {
        if t.is_empty() || t.contains('\0') {
            return Err(Error::InvalidOption(format!("invalid mount type: {t:?}")));
        }
    }
    Ok(())
}

/// Whether a volume with these options is a mount rather than a plain directory.
pub fn needs_mount(opts: &BTreeMap<String, String>) -> bool {
    opts.contains_key("device")
}

fn cstr(s: &[u8], what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::InvalidOption(format!("{what} contains a NUL byte")))
}

/// Mounts the volume's device on `target` (its `_data`).
pub fn mount(opts: &BTreeMap<String, String>, target: &Path) -> Result<()> {
    let device = opts.get("device").map(String::as_str).unwrap_or_default();
    let typ = opts.get("type").map(String::as_str).unwrap_or("none");
    let o: Vec<String> = opts.get("o").map(|o| o.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect()).unwrap_or_default();
    let parsed = berth_runtime::rootfs::parse_options(&o);
    let src = cstr(device.as_bytes(), "device")?;
    let dst = cstr(target.as_os_str().as_bytes(), "mount point")?;
    let fstype = cstr(typ.as_bytes(), "type")?;
    let data = cstr(parsed.data.join(",").as_bytes(), "o")?;
    let fail = |what: &'static str| Error::io(what, target, std::io::Error::last_os_error());
    // A bind mount takes its flags only on a remount (mount(2) ignores them on the
    // first call), as moby/sys/mount does.
    let first = if parsed.bind { parsed.flags & (libc::MS_BIND | libc::MS_REC) } else { parsed.flags };
    // SAFETY: all pointers are valid NUL-terminated strings for the call.
    let r = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), fstype.as_ptr(), first, data.as_ptr().cast()) };
    if r != 0 {
        return Err(fail("mounting the volume's device on"));
    }
    let rest = parsed.flags & !(libc::MS_BIND | libc::MS_REC);
    if parsed.bind && rest != 0 {
        // SAFETY: as above; a remount of the bind mount just made.
        let r = unsafe { libc::mount(std::ptr::null(), dst.as_ptr(), std::ptr::null(), libc::MS_REMOUNT | libc::MS_BIND | rest, std::ptr::null()) };
        if r != 0 {
            let e = fail("remounting the volume's bind mount");
            let _ = unmount(target);
            return Err(e);
        }
    }
    for p in parsed.propagation {
        // SAFETY: as above; a propagation change takes no source, type or data.
        unsafe { libc::mount(std::ptr::null(), dst.as_ptr(), std::ptr::null(), p, std::ptr::null()) };
    }
    Ok(())
}

pub fn unmount(target: &Path) -> Result<()> {
    match nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::io("unmounting", target, e.into())),
    }
}

/// Whether `path` is a mount point, from /proc/self/mountinfo (a bind mount of the same
/// filesystem has the same st_dev as its parent, so stat cannot tell).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read("/proc/self/mountinfo") else { return false };
    let want = path.as_os_str().as_bytes();
    info.split(|b| *b == b'\n').any(|line| line.split(|b| *b == b' ').nth(4).is_some_and(|mp| unescape(mp) == want))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 3 < s.len() && s[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((s[i + 1] - b'0') * 64 + (s[i + 2] - b'0') * 8 + (s[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_are_checked_as_dockerd_does() {
        assert!(validate(&m(&[])).is_ok());
        assert!(validate(&m(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")])).is_ok());
        assert!(validate(&m(&[("type", "none"), ("device", "/srv"), ("o", "bind")])).is_ok());
        assert_eq!(validate(&m(&[("colour", "red")])).unwrap_err().to_string(), "invalid option: \"colour\"");
        assert_eq!(validate(&m(&[("type", "tmpfs")])).unwrap_err().to_string(), "missing required option: \"device\"");
        assert_eq!(validate(&m(&[("o", "size=1m"), ("device", "x")])).unwrap_err().to_string(), "missing required option: \"type\"");
        assert!(validate(&m(&[("size", "10g")])).unwrap_err().to_string().contains("quota"));
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(br"/a\040b"), b"/a b");
        assert_eq!(unescape(br"/plain"), b"/plain");
    }
}
