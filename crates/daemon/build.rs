//! Records the compiler version for /version's `GoVersion` field (Docker reports the Go
//! toolchain there; berth reports the Rust one).
fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let v = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(|v| format!("rust{v}")))
        .unwrap_or_else(|| "rust".into());
    println!("cargo:rustc-env=BERTH_RUSTC_VERSION={v}");
    println!("cargo:rerun-if-changed=build.rs");
}
