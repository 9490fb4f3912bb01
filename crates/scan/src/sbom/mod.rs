//! SBOM documents of a scan: CycloneDX 1.5 JSON and SPDX 2.3 JSON.

mod cyclonedx;
mod spdx;

pub use cyclonedx::cyclonedx;
pub use spdx::spdx;

use sha2::{Digest, Sha256};

/// A random-enough version 4 UUID (serial numbers and namespaces must be unique per
/// document): a hash of what is described, the time and the process.
fn uuid(seed: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let h = Sha256::digest(format!("{seed}\0{now}\0{}", std::process::id()).as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn tool_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
