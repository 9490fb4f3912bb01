//! Capabilities: the spec's five sets applied with one capset(2) plus prctl for the
//! bounding and ambient sets, in the order runc uses (bounding before the uid change,
//! the rest after it).

use std::collections::HashSet;
use std::str::FromStr;

use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};

/// Capability number of a name like "CAP_NET_ADMIN".
pub fn number(name: &str) -> Result<u8> {
    caps::Capability::from_str(name)
        .map(|c| c.index())
        .map_err(|_| Error::other(format!("unknown capability {name:?}")))
}

fn name_of<T: serde::Serialize>(c: &T) -> String {
    serde_json::to_value(c).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// Names of a spec capability set, e.g. for the seccomp profile's includes.
pub fn names(set: &Option<Capabilities>) -> Vec<String> {
    set.iter().flatten().map(name_of).collect()
}

fn numbers(set: &Option<Capabilities>) -> Result<HashSet<u8>> {
    set.iter().flatten().map(|c| number(&name_of(c))).collect()
}

pub fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The numeric form, computed before cloning so the child only makes syscalls.
#[derive(Clone, Debug, Default)]
pub struct CapSets {
    pub bounding: HashSet<u8>,
    pub effective: HashSet<u8>,
    pub permitted: HashSet<u8>,
    pub inheritable: HashSet<u8>,
    pub ambient: HashSet<u8>,
}

impl CapSets {
    pub fn from_spec(c: &LinuxCapabilities) -> Result<CapSets> {
        Ok(CapSets {
            bounding: numbers(c.bounding())?,
            effective: numbers(c.effective())?,
            permitted: numbers(c.permitted())?,
            inheritable: numbers(c.inheritable())?,
            ambient: numbers(c.ambient())?,
        })
    }

    /// Drops every capability outside the bounding set (needs CAP_SETPCAP, so before
    /// the uid change).
    pub fn apply_bounding(&self) -> Result<()> {
        for cap in 0..=last_cap() {
            if !self.bounding.contains(&cap) {
                crate::sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong)
                    .map_err(|e| Error::io(format!("dropping capability {cap} from the bounding set"), e))?;
            }
        }
        Ok(())
    }

    /// Sets effective, permitted and inheritable at once, then the ambient set.
    pub fn apply_process(&self) -> Result<()> {
        let words = |s: &HashSet<u8>| -> [u32; 2] {
            let mut w = [0u32; 2];
            for c in s {
                w[(*c / 32) as usize] |= 1 << (c % 32);
            }
            w
        };
        let (e, p, i) = (words(&self.effective), words(&self.permitted), words(&self.inheritable));
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let hdr = Header { version: 0x2008_0522, pid: 0 };
        let data = [
            Data { effective: e[0], permitted: p[0], inheritable: i[0] },
            Data { effective: e[1], permitted: p[1], inheritable: i[1] },
        ];
        // SAFETY: header and the two data words are the layout capset(2) v3 expects.
        let r = unsafe { libc::syscall(libc::SYS_capset, &hdr as *const Header, data.as_ptr()) };
        if r != 0 {
            return Err(Error::io("capset", std::io::Error::last_os_error()));
        }
        crate::sys::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong)
            .map_err(|e| Error::io("clearing ambient capabilities", e))?;
        for cap in &self.ambient {
            // SAFETY: integer-only prctl.
            let r = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, *cap as libc::c_ulong, 0, 0) };
            if r != 0 {
                // Ambient needs the cap in permitted and inheritable; runc ignores failures.
                continue;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kernel_numbers() {
        assert_eq!(number("CAP_CHOWN").unwrap(), 0);
        assert_eq!(number("CAP_SYS_ADMIN").unwrap(), 21);
        assert!(number("CAP_NOPE").unwrap_err().to_string().contains("CAP_NOPE"));
    }
}
