//! Giving memory back when berthd goes quiet: start-up and bursts of requests leave pages
//! resident (code that will not run again soon, freed heap). Half a second after the last
//! request berthd trims them ([`berth_runtime::sys::trim_resident`]), and every ten
//! seconds regardless (background work such as health checks and restarts). No timer
//! runs while nothing happens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

const QUIET: Duration = Duration::from_millis(500);
const INTERVAL: Duration = Duration::from_secs(10);

fn epoch() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

static LAST_REQUEST_MS: AtomicU64 = AtomicU64::new(0);

fn activity() -> &'static Notify {
    static N: OnceLock<Notify> = OnceLock::new();
    N.get_or_init(Notify::new)
}

/// A request came in.
pub fn touch() {
    LAST_REQUEST_MS.store(epoch().elapsed().as_millis() as u64, Ordering::Relaxed);
    activity().notify_one();
}

fn quiet_for() -> Duration {
    epoch().elapsed().saturating_sub(Duration::from_millis(LAST_REQUEST_MS.load(Ordering::Relaxed)))
}

async fn trim() {
    let _ = tokio::task::spawn_blocking(berth_runtime::sys::trim_resident).await;
}

/// Trims once now (start-up is over), then after each burst of requests, and every
/// [`INTERVAL`].
pub fn spawn_trimmer() {
    epoch();
    tokio::spawn(async {
        trim().await;
        loop {
            activity().notified().await;
            // Wait out the burst: until no request came for QUIET.
            loop {
                tokio::time::sleep(QUIET.saturating_sub(quiet_for())).await;
                if quiet_for() >= QUIET {
                    break;
                }
            }
            trim().await;
        }
    });
    tokio::spawn(async {
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL, INTERVAL);
        loop {
            every.tick().await;
            trim().await;
        }
    });
}
