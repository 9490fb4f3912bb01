//! Human-readable sizes and durations exactly as docker's go-units prints them.

/// `units.HumanSizeWithPrecision(size, 3)`: decimal units, 3 significant digits
/// (`2.14MB`, `512B`, `1.5kB`).
pub fn human_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(size, 3), UNITS[i])
}

/// `units.BytesSize`: binary units, 4 significant digits (`1.5MiB`, `7.6GiB`).
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g(size, 4), UNITS[i])
}

/// Go's `%.{prec}g`: shortest of %e/%f with `prec` significant digits, trailing zeros
/// dropped.
fn go_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let e_form = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = e_form.split_once('e').unwrap_or((&e_form, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}"))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

/// `units.HumanDuration`, shared with berthd (which computes `ps`'s Status).
pub use berth_api::units::human_duration;

/// `2 hours ago`, from a UNIX time.
pub fn since(unix: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    format!("{} ago", human_duration(now - unix))
}

/// Go's `time.Unix(t, 0).String()` in UTC: `2024-01-02 03:04:05 +0000 UTC`.
pub fn go_time_string(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).unwrap_or_default().format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(512.0), "512B");
        assert_eq!(human_size(2_140_160.0), "2.14MB");
        assert_eq!(human_size(1500.0), "1.5kB");
        assert_eq!(human_size(100_000.0), "100kB");
        assert_eq!(human_size(999_500.0), "1e+03kB");
        assert_eq!(human_size(4_000_000_000.0), "4GB");
        assert_eq!(bytes_size(1536.0 * 1024.0), "1.5MiB");
        assert_eq!(bytes_size(0.0), "0B");
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(go_time_string(1_700_000_000), "2023-11-14 22:13:20 +0000 UTC");
    }
}
