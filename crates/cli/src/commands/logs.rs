//! `logs`: GET /containers/{id}/logs, demultiplexed unless the container has a TTY.

use std::io::{self, Write};

use berth_api::client::{encode, query, Body};
use clap::Args;
use serde_json::Value;

use super::{client, fail};
use crate::{CmdResult, Global};

#[derive(Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long = "details")]
    details: bool,
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "since")]
    since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long = "tail", default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "until")]
    until: Option<String>,
    /// CONTAINER
    container: String,
}

/// docker's `timetypes.GetTimestamp`: a Go duration is relative to now; a UNIX time
/// (`secs[.nanos]`) passes as is; RFC 3339 dates (with or without zone, date only)
/// become UNIX times. The result is what the API's since/until take.
pub fn timestamp(value: &str, now: chrono::DateTime<chrono::Utc>) -> Result<String, String> {
    if let Ok(d) = crate::values::go_duration(value) {
        let t = now - chrono::Duration::nanoseconds(d);
        return Ok(format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos()));
    }
    if !value.is_empty() && value.split_once('.').map_or(value, |(a, _)| a).chars().all(|c| c.is_ascii_digit()) && value.chars().filter(|c| *c == '.').count() <= 1 {
        return Ok(value.to_owned());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos()));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, f) {
            return Ok(format!("{}.{:09}", t.and_utc().timestamp(), t.and_utc().timestamp_subsec_nanos()));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        return Ok(format!("{}.{:09}", t.timestamp(), 0));
    }
    Err(format!("failed to parse value as time or duration: \"{value}\""))
}

pub fn logs(g: &Global, a: LogsArgs) -> CmdResult {
    let now = chrono::Utc::now();
    let since = a.since.as_deref().map(|s| timestamp(s, now).map_err(|e| fail(format!("invalid value for \"since\": {e}")))).transpose()?;
    let until = a.until.as_deref().map(|s| timestamp(s, now).map_err(|e| fail(format!("invalid value for \"until\": {e}")))).transpose()?;
    let c = client(g)?;
    let info: Value = c.get_json(&format!("/containers/{}/json", encode(&a.container)))?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let one = |b: bool| b.then(|| "1".to_owned());
    let q = query([
        ("stdout", one(true)),
        ("stderr", one(true)),
        ("since", since),
        ("until", until),
        ("timestamps", one(a.timestamps)),
        ("follow", one(a.follow)),
        ("tail", Some(a.tail.clone())),
        ("details", one(a.details)),
    ]);
    let resp = c.call("GET", &format!("/containers/{}/logs{q}", encode(&a.container)), Body::Empty)?;
    let mut r = resp.into_reader();
    let res = if tty {
        let mut out = io::stdout().lock();
        let mut buf = [0u8; 32 * 1024];
        loop {
            match std::io::Read::read(&mut r, &mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        }
    } else {
        berth_api::stdcopy::demux(&mut r, &mut io::stdout().lock(), &mut io::stderr().lock())
    };
    match res {
        Ok(()) => Ok(()),
        // Our reader (a pager, head) went away: docker ends quietly too.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(fail(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_like_timetypes() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(timestamp("10m", now).unwrap(), "1699999400.000000000");
        assert_eq!(timestamp("1699999999", now).unwrap(), "1699999999");
        assert_eq!(timestamp("1699999999.5", now).unwrap(), "1699999999.5");
        assert_eq!(timestamp("2023-11-14T22:13:20Z", now).unwrap(), "1700000000.000000000");
        assert_eq!(timestamp("2023-11-14", now).unwrap(), "1699920000.000000000");
        assert!(timestamp("yesterday", now).is_err());
    }
}
