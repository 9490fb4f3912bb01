//! Two things berthd carries from build time:
//! - the compiler version, for /version's `GoVersion` field (Docker reports the Go
//!   toolchain there; berth reports the Rust one);
//! - berth-init (crates/init), compiled here as a static binary and embedded, because
//!   `--init` bind-mounts it into containers that have no libc of their own (busybox,
//!   scratch images). Cargo cannot link one workspace binary statically and the others
//!   not (crt-static is per target, and would break proc macros), so this script runs
//!   rustc on that dependency-free file itself.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let v = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(|v| format!("rust{v}")))
        .unwrap_or_else(|| "rust".into());
    println!("cargo:rustc-env=BERTH_RUSTC_VERSION={v}");
    println!("cargo:rerun-if-changed=build.rs");

    let src = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../init/src/main.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("berth-init");
    println!("cargo:rerun-if-changed={}", src.display());
    let target = std::env::var("TARGET").unwrap();
    let status = Command::new(&rustc)
        .args(["--edition", "2021", "--crate-name", "berth_init", "--crate-type", "bin", "--target", &target])
        .args(["-C", "opt-level=s", "-C", "panic=abort", "-C", "strip=symbols", "-C", "target-feature=+crt-static"])
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("running rustc for berth-init");
    assert!(status.success(), "compiling berth-init (static; needs glibc's libc.a from libc6-dev)");
}
