//! The human status line of `docker ps` ("Up 3 seconds", "Exited (0) 2 minutes ago"),
//! computed by the daemon as dockerd does (it is the `Status` field of /containers/json).

use std::time::Duration;

use super::record::{Container, ZERO_TIME};

/// Go's `units.HumanDuration` (shared with the CLI).
pub fn human_duration(d: Duration) -> String {
    berth_api::units::human_duration(d.as_secs() as i64)
}

/// Seconds since the Unix epoch of an RFC 3339 time (None for Go's zero time).
pub fn unix_time(ts: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if ts.is_empty() || ts == ZERO_TIME {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(ts).ok().map(|t| t.with_timezone(&chrono::Utc))
}

fn since(ts: &str) -> String {
    let d = unix_time(ts).map(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default()).unwrap_or_default();
    human_duration(d)
}

/// Docker's `State.String()`.
pub fn status_line(c: &Container) -> String {
    let s = &c.state;
    match s.status.as_str() {
        "running" | "paused" => {
            let up = since(&s.started_at);
            if s.status == "paused" {
                return format!("Up {up} (Paused)");
            }
            match s.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => format!("Up {up} (health: starting)"),
                Some(h) if !h.is_empty() => format!("Up {up} ({h})"),
                _ => format!("Up {up}"),
            }
        }
        "restarting" => format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at)),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        _ if unix_time(&s.started_at).is_none() => "Created".into(),
        _ if unix_time(&s.finished_at).is_none() => String::new(),
        _ => format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_units() {
        let s = |n| human_duration(Duration::from_secs(n));
        assert_eq!(human_duration(Duration::from_millis(300)), "Less than a second");
        assert_eq!(s(1), "1 second");
        assert_eq!(s(59), "59 seconds");
        assert_eq!(s(60), "About a minute");
        assert_eq!(s(119), "About a minute");
        assert_eq!(s(120), "2 minutes");
        assert_eq!(s(3599), "59 minutes");
        assert_eq!(s(3600), "About an hour");
        assert_eq!(s(5400), "2 hours");
        assert_eq!(s(47 * 3600), "47 hours");
        assert_eq!(s(48 * 3600), "2 days");
        assert_eq!(s(15 * 86400), "2 weeks");
        assert_eq!(s(70 * 86400), "2 months");
        assert_eq!(s(800 * 86400), "2 years");
    }

    #[test]
    fn status_lines() {
        let mut c = Container::default();
        assert_eq!(status_line(&c), "Created");
        let now = chrono::Utc::now();
        c.state.status = "running".into();
        c.state.started_at = (now - chrono::Duration::seconds(3)).to_rfc3339();
        assert_eq!(status_line(&c), "Up 3 seconds");
        c.state.status = "paused".into();
        assert_eq!(status_line(&c), "Up 3 seconds (Paused)");
        c.state.status = "exited".into();
        c.state.exit_code = 137;
        c.state.finished_at = (now - chrono::Duration::seconds(120)).to_rfc3339();
        assert_eq!(status_line(&c), "Exited (137) 2 minutes ago");
    }
}
