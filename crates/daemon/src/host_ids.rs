//! The host's users and groups, through libc's NSS lookups (so LDAP/sssd groups work as
//! for dockerd), for the socket's group and userns-remap's user.

use std::ffi::{CStr, CString};

/// The gid of host group `name`, None when there is no such group.
pub fn group_gid(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 << 10];
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; buf outlives the use of grp.
    let rc = unsafe { libc::getgrnam_r(c.as_ptr(), &mut grp, buf.as_mut_ptr().cast(), buf.len(), &mut out) };
    (rc == 0 && !out.is_null()).then_some(grp.gr_gid)
}

/// (uid, primary gid) of host user `name`.
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let c = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 << 10];
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as above.
    let rc = unsafe { libc::getpwnam_r(c.as_ptr(), &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut out) };
    (rc == 0 && !out.is_null()).then_some((pw.pw_uid, pw.pw_gid))
}

/// The name of host uid `uid`.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 16 << 10];
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as above.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut out) };
    if rc != 0 || out.is_null() {
        return None;
    }
    // SAFETY: pw_name points into buf, NUL-terminated by libc.
    Some(unsafe { CStr::from_ptr(pw.pw_name) }.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_root_and_misses_unknown_names() {
        assert_eq!(group_gid("root"), Some(0));
        assert_eq!(user_ids("root"), Some((0, 0)));
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(group_gid("berth-no-such-group-xyz"), None);
        assert_eq!(user_ids("bad\0name"), None);
    }
}
