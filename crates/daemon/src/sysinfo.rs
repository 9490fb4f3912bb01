//! Facts about the host for /info and /version, read from /proc and /etc.

pub fn kernel_version() -> String {
    read_trim("/proc/sys/kernel/osrelease").unwrap_or_default()
}

pub fn hostname() -> String {
    read_trim("/proc/sys/kernel/hostname").unwrap_or_default()
}

/// `PRETTY_NAME` of /etc/os-release (`Debian GNU/Linux 12 (bookworm)`).
pub fn operating_system() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").or_else(|_| std::fs::read_to_string("/usr/lib/os-release")).unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    let pretty = field("PRETTY_NAME");
    (if pretty.is_empty() { "Linux".into() } else { pretty }, field("VERSION_ID"))
}

pub fn ncpu() -> i64 {
    std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1)
}

/// MemTotal from /proc/meminfo, in bytes.
pub fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<i64>().ok()))
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// "2" on a unified cgroup v2 hierarchy, else "1".
pub fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

/// Docker's architecture names (Go's GOARCH): amd64, arm64, ...
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The machine's architecture as `uname -m` says it (Docker's `Architecture` in /info).
pub fn uname_machine() -> &'static str {
    std::env::consts::ARCH
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}
