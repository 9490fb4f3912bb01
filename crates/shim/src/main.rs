//! berth-shim: placeholder until the shim lands.
fn main() {
    eprintln!("berth-shim: not built yet");
    std::process::exit(1);
}
