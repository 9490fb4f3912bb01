//! What network setup costs per container, for bench/network.sh: the median of 30
//! rounds of a netns file alone (`--network none`), netns + veth on a bridge, and the
//! caller's part of the release. Needs root; uses its own bridge, subnet and nft table
//! and removes them at the end.
//!
//!   cargo run --release -p berth-network --example attach_cost

use std::time::{Duration, Instant};

use berth_network::{AttachOptions, Config, CreateNetwork, NetworkManager};

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("berth-attach-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cfg = Config::new(dir.join("berth.db"), dir.join("run"));
    cfg.default_bridge = "btcost0".into();
    cfg.bip = Some("10.213.250.1/24".into());
    cfg.nft_table = "berth_cost".into();
    let mgr = NetworkManager::open(cfg, None)?;
    let mut req = CreateNetwork { name: "cost".into(), subnet: Some("10.213.251.0/24".into()), ..Default::default() };
    req.options.insert("com.docker.network.bridge.name".into(), "btcost1".into());
    mgr.create_network(req)?;
    let (mut none, mut bridge, mut release) = (vec![], vec![], vec![]);
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        for i in 0..30 {
            let id = format!("{:064x}", 0xc057_0000u64 + i);
            let t = Instant::now();
            let ns = mgr.create_netns(&id)?;
            none.push(t.elapsed());
            mgr.attach(&id, &ns, "cost", AttachOptions::default())?;
            bridge.push(t.elapsed());
            let t = Instant::now();
            let td = mgr.release(&id)?;
            release.push(t.elapsed());
            td.wait();
        }
        Ok(())
    })();
    mgr.purge()?;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    println!(
        "netns only (--network none): {:.2} ms; netns + bridge attach: {:.2} ms; release (caller's part): {:.2} ms",
        median(&mut none).as_secs_f64() * 1e3,
        median(&mut bridge).as_secs_f64() * 1e3,
        median(&mut release).as_secs_f64() * 1e3
    );
    Ok(())
}
