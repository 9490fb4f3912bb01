//! seccomp: the spec's LinuxSeccomp compiled to classic BPF with libseccomp (as runc and
//! crun do), before any process is cloned. The child only loads the bytes, so a bad
//! profile fails `create` before anything exists, and a daemon can compile a profile once
//! and reuse the program for every container.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::str::FromStr;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::Deserialize;

use crate::error::{Error, Result};

/// A compiled filter: the BPF program and the seccomp(2) flags to load it with.
#[derive(Clone, Debug)]
pub struct Program {
    pub bpf: Vec<u8>,
    pub flags: u32,
}

fn err(msg: impl std::fmt::Display) -> Error {
    Error::Seccomp(msg.to_string())
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno.unwrap_or(libc::EPERM as u32) as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno.unwrap_or(libc::EPERM as u32) as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => return Err(err("SCMP_ACT_NOTIFY (seccomp user notification) is not supported")),
    })
}

fn arch_name<T: serde::Serialize>(a: &T) -> String {
    serde_json::to_value(a).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

fn compare(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // The spec's MASKED_EQ: value is the mask, valueTwo the expected result.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(arg.index() as u32, ScmpCompareOp::MaskedEqual(arg.value()), arg.value_two().unwrap_or(0))
        }
    };
    ScmpArgCompare::new(arg.index() as u32, op, arg.value())
}

/// The annotation naming a program compiled ahead with [`write_program`]: compiling
/// Docker's default profile with libseccomp takes ~17 ms, more than the rest of a
/// container's start, so berthd compiles it once per capability set.
pub const PROGRAM_ANNOTATION: &str = "run.berth.seccomp.program";

const PROGRAM_MAGIC: &[u8; 8] = b"BERTHBPF";

/// sha256 of the section as this crate serialises it (oci-spec's field order), so the
/// writer and the reader agree whatever JSON the bundle held.
pub fn fingerprint(spec: &LinuxSeccomp) -> Result<String> {
    use sha2::Digest;
    let bytes = serde_json::to_vec(spec).map_err(err)?;
    Ok(sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Compiles `spec` into `dir/<fingerprint>.bpf` (once: an existing file is reused) and
/// returns its path, for the [`PROGRAM_ANNOTATION`].
pub fn write_program(dir: &std::path::Path, spec: &LinuxSeccomp) -> Result<std::path::PathBuf> {
    let fp = fingerprint(spec)?;
    let path = dir.join(format!("{fp}.bpf"));
    if path.exists() {
        return Ok(path);
    }
    let prog = compile(spec)?;
    let mut bytes = Vec::with_capacity(prog.bpf.len() + 80);
    bytes.extend_from_slice(PROGRAM_MAGIC);
    bytes.extend_from_slice(fp.as_bytes());
    bytes.extend_from_slice(&prog.flags.to_le_bytes());
    bytes.extend_from_slice(&prog.bpf);
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(".{fp}.{}", std::process::id()));
    std::fs::write(&tmp, &bytes).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)?;
    Ok(path)
}

/// The program for `spec`: the one compiled ahead when `precompiled` names a file made
/// by [`write_program`] for this very section, else compiled now.
pub fn program(spec: &LinuxSeccomp, precompiled: Option<&str>) -> Result<Program> {
    if let Some(path) = precompiled {
        if let Some(p) = read_program(path, &fingerprint(spec)?) {
            return Ok(p);
        }
    }
    compile(spec)
}

fn read_program(path: &str, fp: &str) -> Option<Program> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(PROGRAM_MAGIC)?;
    let rest = rest.strip_prefix(fp.as_bytes())?;
    let (flags, bpf) = rest.split_at_checked(4)?;
    // Each classic BPF instruction is 8 bytes; anything else is a damaged file.
    if bpf.is_empty() || bpf.len() % 8 != 0 {
        return None;
    }
    Some(Program { bpf: bpf.to_vec(), flags: u32::from_le_bytes(flags.try_into().ok()?) })
}

/// Compiles the spec's seccomp section. Unknown syscall names are errors here: a bundle
/// that names a syscall this host cannot filter is a bundle we cannot honour.
pub fn compile(spec: &LinuxSeccomp) -> Result<Program> {
    let default = action(spec.default_action(), spec.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(err)?;
    // We load the program ourselves and set no_new_privs only when the spec asks.
    ctx.set_ctl_nnp(false).map_err(err)?;
    let mut arches = Vec::new();
    for a in spec.architectures().iter().flatten() {
        let name = arch_name(a);
        let arch = ScmpArch::from_str(&name).map_err(|_| err(format!("unknown architecture {name:?}")))?;
        arches.push(arch);
        match ctx.add_arch(arch) {
            Ok(_) => {}
            Err(e) if e.errno() == Some(libseccomp::error::SeccompErrno::EEXIST) => {}
            Err(e) => return Err(err(format!("adding architecture {name}: {e}"))),
        }
    }
    for rule in spec.syscalls().iter().flatten() {
        add_rule(&mut ctx, rule, default)?;
    }
    let mut flags = 0u32;
    for f in spec.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
            other => return Err(err(format!("unsupported seccomp flag {other:?}"))),
        };
    }
    if spec.listener_path().is_some() {
        return Err(err("listenerPath (seccomp user notification) is not supported"));
    }
    let mem = crate::sys::memfd(c"berth-seccomp").map_err(err)?;
    ctx.export_bpf(&mem).map_err(|e| err(format!("exporting BPF: {e}")))?;
    let mut f = std::fs::File::from(mem);
    f.seek(SeekFrom::Start(0)).map_err(err)?;
    let mut bpf = Vec::new();
    f.read_to_end(&mut bpf).map_err(err)?;
    Ok(Program { bpf, flags })
}

fn add_rule(ctx: &mut ScmpFilterContext, rule: &LinuxSyscall, default: ScmpAction) -> Result<()> {
    let act = action(rule.action(), rule.errno_ret())?;
    if act == default {
        return Ok(()); // libseccomp refuses rules that repeat the default action
    }
    let cmps: Vec<ScmpArgCompare> = rule.args().iter().flatten().map(compare).collect();
    for name in rule.names() {
        let sys = ScmpSyscall::from_name(name).map_err(|_| err(format!("unknown syscall {name:?}")))?;
        ctx.add_rule_conditional(act, sys, &cmps)
            .map_err(|e| err(format!("adding rule for {name}: {e}")))?;
    }
    Ok(())
}

/// Docker's seccomp profile format (the daemon's `seccomp=profile.json` and the default
/// profile): rules with includes/excludes by capability and architecture.
/// Docker profiles write `null` for empty lists: read it as empty.
fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerProfile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_default")]
    arch_map: Vec<DockerArch>,
    #[serde(default, deserialize_with = "null_default")]
    architectures: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    syscalls: Vec<DockerSyscall>,
    #[serde(default, deserialize_with = "null_default")]
    flags: Vec<LinuxSeccompFilterFlag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerArch {
    architecture: String,
    #[serde(default, deserialize_with = "null_default")]
    sub_architectures: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default, deserialize_with = "null_default")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerSyscall {
    #[serde(default, deserialize_with = "null_default")]
    names: Vec<String>,
    #[serde(default)]
    name: Option<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_default")]
    args: Vec<LinuxSeccompArg>,
    #[serde(default, deserialize_with = "null_default")]
    includes: Filter,
    #[serde(default, deserialize_with = "null_default")]
    excludes: Filter,
}

/// Go's GOARCH name of this machine, which Docker profiles use in includes/excludes.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn kernel_at_least(min: &str) -> bool {
    // SAFETY: zeroed utsname is a valid out-parameter.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid out-pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return true;
    }
    // SAFETY: release is NUL-terminated by the kernel.
    let rel = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }.to_string_lossy().into_owned();
    let parse = |s: &str| -> (u32, u32) {
        let mut it = s.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).map(|p| p.parse().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    parse(&rel) >= parse(min)
}

/// Converts a Docker-format profile into the spec's LinuxSeccomp for a container with
/// the given capabilities (names like "CAP_SYS_ADMIN"), as dockerd does. Syscalls that
/// this host's libseccomp does not know are dropped, as runc does for Docker's profile.
pub fn from_docker_profile(json: &str, caps: &[String]) -> Result<LinuxSeccomp> {
    let p: DockerProfile = serde_json::from_str(json).map_err(|e| err(format!("invalid profile: {e}")))?;
    let caps: HashSet<&str> = caps.iter().map(String::as_str).collect();
    let arch = goarch();
    let native = match arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "arm64" => "SCMP_ARCH_AARCH64",
        _ => "",
    };
    let mut arches: Vec<String> = p.architectures.clone();
    for m in &p.arch_map {
        if m.architecture == native {
            arches.push(m.architecture.clone());
            arches.extend(m.sub_architectures.iter().cloned());
        }
    }
    let mut syscalls = Vec::new();
    for s in p.syscalls {
        let inc = &s.includes;
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch) {
            continue;
        }
        if !inc.caps.is_empty() && !inc.caps.iter().all(|c| caps.contains(c.as_str())) {
            continue;
        }
        if let Some(k) = &inc.min_kernel {
            if !kernel_at_least(k) {
                continue;
            }
        }
        let exc = &s.excludes;
        if exc.arches.iter().any(|a| a == arch) || exc.caps.iter().any(|c| caps.contains(c.as_str())) {
            continue;
        }
        let mut names = s.names;
        names.extend(s.name);
        names.retain(|n| ScmpSyscall::from_name(n).is_ok());
        if names.is_empty() {
            continue;
        }
        let mut b = oci_spec::runtime::LinuxSyscallBuilder::default().names(names).action(s.action);
        if let Some(e) = s.errno_ret {
            b = b.errno_ret(e);
        }
        if !s.args.is_empty() {
            b = b.args(s.args);
        }
        syscalls.push(b.build().map_err(err)?);
    }
    let arch_values: Vec<oci_spec::runtime::Arch> = arches
        .iter()
        .filter_map(|a| serde_json::from_value(serde_json::Value::String(a.clone())).ok())
        .collect();
    let mut b = oci_spec::runtime::LinuxSeccompBuilder::default()
        .default_action(p.default_action)
        .architectures(arch_values)
        .syscalls(syscalls);
    if let Some(e) = p.default_errno_ret {
        b = b.default_errno_ret(e);
    }
    if !p.flags.is_empty() {
        b = b.flags(p.flags);
    }
    b.build().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_DEFAULT: &str = include_str!("../../../../shared/reference/seccomp-default.json");

    fn default_caps() -> Vec<String> {
        crate::spec::DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn precompiled_program_used_only_for_its_own_section() {
        let dir = tempfile::tempdir().unwrap();
        let spec = from_docker_profile(DOCKER_DEFAULT, &default_caps()).unwrap();
        let path = write_program(dir.path(), &spec).unwrap();
        let compiled = compile(&spec).unwrap();
        let loaded = program(&spec, path.to_str()).unwrap();
        assert_eq!(loaded.bpf, compiled.bpf);
        // Another section (other caps) must not get this program.
        let admin = from_docker_profile(DOCKER_DEFAULT, &["CAP_SYS_ADMIN".to_string()]).unwrap();
        assert!(read_program(path.to_str().unwrap(), &fingerprint(&admin).unwrap()).is_none());
        assert_ne!(program(&admin, path.to_str()).unwrap().bpf, compiled.bpf);
        // A damaged file is ignored, not trusted.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.pop();
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_program(path.to_str().unwrap(), &fingerprint(&spec).unwrap()).is_none());
        assert_eq!(program(&spec, path.to_str()).unwrap().bpf, compiled.bpf);
    }

    #[test]
    fn docker_default_profile_compiles() {
        let spec = from_docker_profile(DOCKER_DEFAULT, &default_caps()).unwrap();
        let names: Vec<&String> = spec.syscalls().iter().flatten().flat_map(|s| s.names()).collect();
        assert!(names.iter().any(|n| *n == "read"));
        // CAP_SYS_ADMIN is not a default capability: unshare/mount stay denied (absent).
        assert!(!names.iter().any(|n| *n == "mount"));
        let prog = compile(&spec).unwrap();
        assert!(prog.bpf.len() > 8 * 100, "program suspiciously small: {} bytes", prog.bpf.len());
        assert_eq!(prog.bpf.len() % 8, 0);
    }

    #[test]
    fn cap_sys_admin_unlocks_mount() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        let spec = from_docker_profile(DOCKER_DEFAULT, &caps).unwrap();
        assert!(spec.syscalls().iter().flatten().flat_map(|s| s.names()).any(|n| n == "mount"));
    }

    #[test]
    fn unknown_syscall_is_an_error() {
        let spec: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["no_such_syscall"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        let e = compile(&spec).unwrap_err().to_string();
        assert!(e.contains("unknown syscall \"no_such_syscall\""), "{e}");
    }
}
