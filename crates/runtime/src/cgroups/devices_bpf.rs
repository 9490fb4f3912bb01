//! cgroup v2 device control: v2 has no devices controller; the kernel asks a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the cgroup instead. The program is
//! generated from the spec's `linux.resources.devices` rules as runc's and crun's are:
//! the rules are checked last to first, the first that matches decides (so a later rule
//! wins, as when the v1 files are written in order), and nothing matching means deny.
//!
//! The context the kernel passes (`struct bpf_cgroup_dev_ctx`): `access_type` (device
//! type in the low 16 bits, access in the high 16), `major`, `minor`, all u32.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | dst, off, imm }
}

/// `dst = *(u32 *)(src + off)`
fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x61, dst, src, off, 0)
}
/// `dst &= imm` (32-bit)
fn and32(dst: u8, imm: i32) -> Insn {
    insn(0x54, dst, 0, 0, imm)
}
/// `dst >>= imm` (32-bit)
fn rsh32(dst: u8, imm: i32) -> Insn {
    insn(0x74, dst, 0, 0, imm)
}
/// `dst = imm`
fn mov_k(dst: u8, imm: i32) -> Insn {
    insn(0xb7, dst, 0, 0, imm)
}
/// `dst = src`
fn mov_x(dst: u8, src: u8) -> Insn {
    insn(0xbf, dst, src, 0, 0)
}
/// `if dst != imm goto +off`
fn jne_k(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x55, dst, 0, off, imm)
}
/// `if dst == imm goto +off`
fn jeq_k(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x15, dst, 0, off, imm)
}
/// `if dst != src goto +off`
fn jne_x(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x5d, dst, src, off, 0)
}
fn exit() -> Insn {
    insn(0x95, 0, 0, 0, 0)
}

/// The program for `rules`. Registers after the prologue: r2 type, r3 access, r4 major,
/// r5 minor.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut p = vec![ldx_w(2, 1, 0), and32(2, 0xffff), ldx_w(3, 1, 0), rsh32(3, 16), ldx_w(4, 1, 4), ldx_w(5, 1, 8)];
    for r in rules.iter().rev() {
        let typ = match r.typ() {
            None | Some(LinuxDeviceType::A) => None,
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(DEV_CHAR),
            Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
            Some(LinuxDeviceType::P) => continue, // fifos are not device-controlled
        };
        let mut access = 0;
        for c in r.access().as_deref().unwrap_or("rwm").chars() {
            access |= match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => 0,
            };
        }
        // Each check jumps to the end of this rule's block when it does not hold;
        // offsets are filled in once the block's length is known.
        let mut block: Vec<(Insn, bool)> = Vec::new();
        if let Some(t) = typ {
            block.push((jne_k(2, t, 0), true));
        }
        if access != ACC_READ | ACC_WRITE | ACC_MKNOD {
            block.push((mov_x(1, 3), false));
            block.push((and32(1, access), false));
            if r.allow() {
                // An allow covers an access only if it allows all of it: (asked & allowed) == asked.
                block.push((jne_x(1, 3, 0), true));
            } else {
                // A deny refuses any access it names part of (O_RDWR against "w").
                block.push((jeq_k(1, 0, 0), true));
            }
        }
        if let Some(m) = r.major().filter(|m| *m >= 0) {
            block.push((jne_k(4, m as i32, 0), true));
        }
        if let Some(m) = r.minor().filter(|m| *m >= 0) {
            block.push((jne_k(5, m as i32, 0), true));
        }
        block.push((mov_k(0, i32::from(r.allow())), false));
        block.push((exit(), false));
        // A rule matching everything decides alone: what would follow (earlier rules,
        // the default) is unreachable, and the verifier refuses unreachable code.
        let decides_all = !block.iter().any(|(_, jumps)| *jumps);
        let len = block.len();
        for (i, (mut ins, jumps)) in block.into_iter().enumerate() {
            if jumps {
                ins.off = (len - i - 1) as i16;
            }
            p.push(ins);
        }
        if decides_all {
            return p;
        }
    }
    p.push(mov_k(0, 0));
    p.push(exit());
    p
}

fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> io::Result<i64> {
    // SAFETY: the bpf syscall reads (and for PROG_LOAD's log, writes) `attr`, which is
    // a zeroed buffer of the length passed, laid out as union bpf_attr.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Loads the program for `rules` and attaches it to the cgroup directory `dir`.
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let prog = program(rules);
    let license = c"Apache";
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(prog.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    // Without a log first: a verbose log that overflows its buffer fails the load.
    let fd = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => fd,
        Err(_) => {
            // Again with the verifier's explanation, for the error message.
            let mut log = vec![0u8; 1 << 20];
            attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
            attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
            attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
            bpf(BPF_PROG_LOAD, &mut attr).map_err(|e| {
                let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).trim().to_owned();
                Error::Cgroup(format!("loading the device filter (eBPF): {e}{}", if text.is_empty() { String::new() } else { format!(": {text}") }))
            })?
        }
    };
    // SAFETY: a successful PROG_LOAD returns a new descriptor that we own.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cg = std::fs::File::open(dir).map_err(|e| Error::Cgroup(format!("opening {}: {e}", dir.display())))?;
    let mut attr = [0u8; 32];
    attr[0..4].copy_from_slice(&(cg.as_raw_fd() as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog_fd.as_raw_fd() as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    attr[12..16].copy_from_slice(&BPF_F_ALLOW_MULTI.to_ne_bytes());
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| Error::Cgroup(format!("attaching the device filter to {}: {e}", dir.display())))?;
    // The attachment keeps the program; our descriptor can go.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn rule(allow: bool, typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).typ(typ).access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    /// Runs the program on one access, as the kernel would (a tiny interpreter of the
    /// instructions it emits), so the tests check decisions, not byte patterns.
    fn decide(p: &[Insn], typ: i32, access: i32, major: i32, minor: i32) -> i64 {
        let ctx = [((access << 16) | typ) as u32, major as u32, minor as u32];
        let mut r = [0i64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                0x61 => r[dst] = i64::from(ctx[(i.off / 4) as usize]),
                0x54 => r[dst] = ((r[dst] as u32) & (i.imm as u32)) as i64,
                0x74 => r[dst] = ((r[dst] as u32) >> i.imm) as i64,
                0xb7 => r[dst] = i64::from(i.imm),
                0xbf => r[dst] = r[src],
                0x55 => {
                    if r[dst] != i64::from(i.imm) {
                        pc += i.off as usize;
                    }
                }
                0x15 => {
                    if r[dst] == i64::from(i.imm) {
                        pc += i.off as usize;
                    }
                }
                0x5d => {
                    if r[dst] != r[src] {
                        pc += i.off as usize;
                    }
                }
                0x95 => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn dockers_default_rules_decide_as_the_v1_files_would() {
        // deny all; allow c 1:3 rwm (null), c *:* m, c 136:* rwm (pts); deny c 1:3 w after.
        let rules = vec![
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::C, None, None, "m"),
            rule(true, LinuxDeviceType::C, Some(136), None, "rwm"),
            rule(false, LinuxDeviceType::C, Some(1), Some(3), "w"),
        ];
        let p = program(&rules);
        assert_all_reachable(&p);
        assert_eq!(decide(&p, DEV_CHAR, ACC_READ, 1, 3), 1, "null readable");
        assert_eq!(decide(&p, DEV_CHAR, ACC_WRITE, 1, 3), 0, "a later deny wins");
        assert_eq!(decide(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3), 0, "also for O_RDWR, as on v1");
        assert_eq!(decide(&p, DEV_CHAR, ACC_READ, 1, 5), 0, "zero is not allowed");
        assert_eq!(decide(&p, DEV_CHAR, ACC_MKNOD, 8, 0), 1, "mknod of any char device");
        assert_eq!(decide(&p, DEV_CHAR, ACC_MKNOD | ACC_READ, 8, 0), 0, "but not reading it");
        assert_eq!(decide(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 136, 7), 1, "any pts");
        assert_eq!(decide(&p, DEV_BLOCK, ACC_MKNOD, 8, 0), 0, "block devices denied");
    }

    /// The kernel's verifier refuses unreachable instructions: after a rule that matches
    /// everything nothing is emitted.
    fn assert_all_reachable(p: &[Insn]) {
        let mut seen = vec![false; p.len()];
        let mut todo = vec![0usize];
        while let Some(pc) = todo.pop() {
            if pc >= p.len() || seen[pc] {
                continue;
            }
            seen[pc] = true;
            match p[pc].code {
                0x95 => {}
                0x55 | 0x5d | 0x15 => todo.extend([pc + 1, pc + 1 + p[pc].off as usize]),
                _ => todo.push(pc + 1),
            }
        }
        assert!(seen.iter().all(|s| *s), "unreachable instructions: {seen:?}");
    }

    #[test]
    fn a_rule_matching_everything_ends_the_program() {
        // Docker's default spec: deny all first (checked last), then allows.
        let rules = vec![rule(false, LinuxDeviceType::A, None, None, "rwm"), rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm")];
        let p = program(&rules);
        assert_all_reachable(&p);
        assert_eq!(decide(&p, DEV_CHAR, ACC_READ, 1, 3), 1);
        assert_eq!(decide(&p, DEV_CHAR, ACC_READ, 1, 5), 0);
        // --privileged: allow all last, so it decides everything.
        let p = program(&[rule(false, LinuxDeviceType::A, None, None, "rwm"), rule(true, LinuxDeviceType::A, None, None, "rwm")]);
        assert_all_reachable(&p);
        assert_eq!(decide(&p, DEV_BLOCK, ACC_WRITE, 8, 0), 1);
    }

    #[test]
    fn no_rules_deny_and_allow_all_allows() {
        assert_eq!(decide(&program(&[]), DEV_CHAR, ACC_READ, 1, 3), 0);
        let p = program(&[rule(true, LinuxDeviceType::A, None, None, "rwm")]);
        assert_eq!(decide(&p, DEV_BLOCK, ACC_READ | ACC_WRITE | ACC_MKNOD, 8, 1), 1);
    }
}
