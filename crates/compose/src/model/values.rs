//! Value types shared by the model: durations, byte sizes and lenient scalars.
//!
//! Compose values arrive as strings when they were interpolated (`replicas: ${N}`),
//! so numeric and boolean fields accept their string spelling too.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A duration in compose/Go syntax (`1m30s`, `1.5s`, `100ms`), printed back the way
/// Go's `time.Duration` prints it, which is what `docker compose config` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// Parses Go's duration syntax: a sequence of decimal numbers with units
    /// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`. A bare `0` is allowed.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid duration {s:?}");
        let t = s.trim();
        if t == "0" {
            return Ok(Duration(std::time::Duration::ZERO));
        }
        if t.is_empty() {
            return Err(bad());
        }
        let mut total: f64 = 0.0;
        let mut rest = t;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            if num_len == 0 {
                return Err(bad());
            }
            let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
            rest = &rest[num_len..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let nanos = match unit {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(bad()),
            };
            total += n * nanos;
        }
        Ok(Duration(std::time::Duration::from_nanos(total.round() as u64)))
    }
}

impl std::fmt::Display for Duration {
    /// Go's `time.Duration.String()`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.0.as_nanos();
        if ns == 0 {
            return f.write_str("0s");
        }
        let frac = |v: u128, unit: u128| -> String {
            let whole = v / unit;
            let rem = v % unit;
            if rem == 0 {
                whole.to_string()
            } else {
                let width = unit.ilog10() as usize;
                let digits = format!("{rem:0width$}");
                format!("{whole}.{}", digits.trim_end_matches('0'))
            }
        };
        if ns < 1_000 {
            return write!(f, "{ns}ns");
        }
        if ns < 1_000_000 {
            return write!(f, "{}µs", frac(ns, 1_000));
        }
        if ns < 1_000_000_000 {
            return write!(f, "{}ms", frac(ns, 1_000_000));
        }
        let h = ns / 3_600_000_000_000;
        let m = (ns / 60_000_000_000) % 60;
        let s_ns = ns % 60_000_000_000;
        let secs = frac(s_ns, 1_000_000_000);
        if h > 0 {
            write!(f, "{h}h{m}m{secs}s")
        } else if m > 0 {
            write!(f, "{m}m{secs}s")
        } else {
            write!(f, "{secs}s")
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Duration::parse(&s).map_err(de::Error::custom),
            // A bare number is taken as seconds.
            Value::Number(n) => n
                .as_f64()
                .filter(|f| *f >= 0.0)
                .map(|f| Duration(std::time::Duration::from_secs_f64(f)))
                .ok_or_else(|| de::Error::custom(format!("invalid duration {n}"))),
            other => Err(de::Error::custom(format!("invalid duration {other}"))),
        }
    }
}

/// A byte size (`512m`, `1g`, `1024`), kept in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses docker's byte units (`b`, `k`/`kb`, `m`/`mb`, `g`/`gb`, `t`, binary multiples).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
        let mult: f64 = match unit.trim() {
            "" | "b" => 1.0,
            "k" | "kb" | "kib" => 1024.0,
            "m" | "mb" | "mib" => 1024.0 * 1024.0,
            "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tb" | "tib" => 1024f64.powi(4),
            "p" | "pb" | "pib" => 1024f64.powi(5),
            _ => return Err(format!("invalid size {s:?}")),
        };
        Ok(ByteSize((n * mult) as u64))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => ByteSize::parse(&s).map_err(de::Error::custom),
            Value::Number(n) => n
                .as_u64()
                .map(ByteSize)
                .ok_or_else(|| de::Error::custom(format!("invalid size {n}"))),
            other => Err(de::Error::custom(format!("invalid size {other}"))),
        }
    }
}

fn int_from(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bool_from(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => Some(true),
            "false" | "no" | "n" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `Option<u64>` from a number or a numeric string.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int_from(&v)
            .and_then(|i| u64::try_from(i).ok())
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("invalid unsigned integer {v}"))),
    }
}

/// `Option<i64>` from a number or a numeric string.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int_from(&v)
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("invalid integer {v}"))),
    }
}

/// `Option<bool>` from a boolean or its string spelling.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => bool_from(&v)
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("invalid boolean {v}"))),
    }
}

/// `bool` (default false) from a boolean or its string spelling.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(opt_bool(d)?.unwrap_or(false))
}

/// `Option<f64>` from a number or a numeric string (e.g. `cpus: "0.5"`).
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("invalid number {s:?}"))),
        Some(v) => Err(de::Error::custom(format!("invalid number {v}"))),
    }
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_like_go() {
        let d = |s: &str| Duration::parse(s).unwrap();
        assert_eq!(d("1m30s").0.as_secs(), 90);
        assert_eq!(d("1m30s").to_string(), "1m30s");
        assert_eq!(d("90s").to_string(), "1m30s");
        assert_eq!(d("1.5s").to_string(), "1.5s");
        assert_eq!(d("100ms").to_string(), "100ms");
        assert_eq!(d("1h").to_string(), "1h0m0s");
        assert_eq!(d("2h45m").to_string(), "2h45m0s");
        assert_eq!(d("0").to_string(), "0s");
        assert_eq!(d("1500us").to_string(), "1.5ms");
        assert_eq!(d("10s").to_string(), "10s");
        assert!(Duration::parse("10").is_err());
        assert!(Duration::parse("1x").is_err());
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("s").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(ByteSize::parse("512m").unwrap().0, 512 * 1024 * 1024);
        assert_eq!(ByteSize::parse("1G").unwrap().0, 1 << 30);
        assert_eq!(ByteSize::parse("2048").unwrap().0, 2048);
        assert_eq!(ByteSize::parse("1.5k").unwrap().0, 1536);
        assert!(ByteSize::parse("12parsecs").is_err());
    }
}
