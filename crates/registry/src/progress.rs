//! Progress as Docker's JSON messages: one [`Progress`] per line the API streams
//! (`{"status":"Downloading","progressDetail":{"current":..,"total":..},"id":"<12hex>"}`),
//! which the docker CLI renders as its per-layer bars.

use serde::Serialize;

/// One progress message (a `jsonmessage.JSONMessage` without the error fields: errors
/// are the operation's `Err`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Progress {
    /// Short layer id (first 12 hex digits) or tag the line is about; None for the
    /// operation's own status lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub status: String,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub detail: Option<ProgressDetail>,
    /// Push's final `{"Tag","Digest","Size"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

/// Bytes done of the total (`{}` on the wire when both are unknown).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProgressDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl Progress {
    /// A plain status line (`Digest: sha256:...`).
    pub fn status(status: impl Into<String>) -> Progress {
        Progress { status: status.into(), ..Default::default() }
    }

    /// A per-layer line with an empty `progressDetail` (`Pulling fs layer`).
    pub fn layer(id: &str, status: impl Into<String>) -> Progress {
        Progress { id: Some(id.to_owned()), status: status.into(), detail: Some(ProgressDetail::default()), aux: None }
    }

    /// A per-layer byte count (`Downloading`, `Pushing`).
    pub fn bytes(id: &str, status: impl Into<String>, current: u64, total: u64) -> Progress {
        Progress {
            id: Some(id.to_owned()),
            status: status.into(),
            detail: Some(ProgressDetail { current: Some(current), total: (total > 0).then_some(total) }),
            aux: None,
        }
    }

    /// Docker's text bar for the `progress` field: `[=====>     ]  1.2MB/3.4MB`.
    pub fn bar(&self) -> Option<String> {
        let d = self.detail.as_ref()?;
        let current = d.current?;
        let Some(total) = d.total.filter(|t| *t > 0) else { return Some(human_size(current)) };
        let width = 50u64;
        let filled = (current.min(total) * width / total) as usize;
        let mut bar = "=".repeat(filled);
        if filled < width as usize {
            bar.push('>');
            bar.push_str(&" ".repeat(width as usize - filled - 1));
        }
        Some(format!("[{bar}] {:>7}/{}", human_size(current), human_size(total)))
    }
}

/// Sizes as Docker's progress shows them (decimal units, 3 significant digits).
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.3}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
    // Three significant digits like Go's %.3g for the common cases.
    let s = match s.split_once('.') {
        Some((int, _)) if int.len() >= 3 => int.to_owned(),
        Some((int, frac)) => format!("{int}.{}", &frac[..frac.len().min(3 - int.len())]).trim_end_matches('.').to_owned(),
        None => s,
    };
    format!("{s}{}", UNITS[i])
}

/// Where progress goes: the daemon streams it, tests collect it. Called from several
/// download threads at once.
pub type ProgressFn<'a> = dyn Fn(Progress) + Send + Sync + 'a;

/// The short id Docker shows for a layer: the first 12 hex digits of its digest.
pub fn short_id(d: &berth_image::Digest) -> String {
    d.hex()[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_docker() {
        let p = Progress::layer("0123456789ab", "Pulling fs layer");
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"id":"0123456789ab","status":"Pulling fs layer","progressDetail":{}}"#);
        let p = Progress::bytes("0123456789ab", "Downloading", 500, 1000);
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"id":"0123456789ab","status":"Downloading","progressDetail":{"current":500,"total":1000}}"#);
        assert!(p.bar().unwrap().starts_with("[=========================>"));
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_234_567), "1.23MB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(123_456_789), "123MB");
    }
}
