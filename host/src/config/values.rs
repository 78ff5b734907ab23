//! Scalar values a config spells as text: durations, byte sizes, the write quorum.
//!
//! Each parser is a plain function so it can be tested on its own, and a serde
//! `deserialize_with` adapter so a bad value is reported by the toml deserializer with
//! the value's own span (and therefore its line and column).

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// How many providers must commit a write before `put` reports success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteQuorum {
    /// A fixed number of providers (at least one, at most the number configured).
    Count(NonZeroUsize),
    /// Every configured provider.
    All,
    /// More than half of the configured providers (the default).
    #[default]
    Majority,
}

impl WriteQuorum {
    /// The number of providers that must commit, out of `providers` configured.
    ///
    /// A count larger than `providers` is returned as is (the write can then never
    /// succeed); [`crate::config::Config::parse`] refuses such a config up front.
    pub fn required(&self, providers: usize) -> usize {
        match self {
            WriteQuorum::Count(n) => n.get(),
            WriteQuorum::All => providers,
            WriteQuorum::Majority => providers / 2 + 1,
        }
    }
}

impl fmt::Display for WriteQuorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteQuorum::Count(n) => write!(f, "{n}"),
            WriteQuorum::All => f.write_str("all"),
            WriteQuorum::Majority => f.write_str("majority"),
        }
    }
}

impl<'de> Deserialize<'de> for WriteQuorum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuorumVisitor)
    }
}

struct QuorumVisitor;

impl Visitor<'_> for QuorumVisitor {
    type Value = WriteQuorum;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a number of providers (at least 1), "all" or "majority""#)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WriteQuorum, E> {
        let count = usize::try_from(v)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| E::custom(format!("write_quorum must be at least 1, not {v}")))?;
        Ok(WriteQuorum::Count(count))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WriteQuorum, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<WriteQuorum, E> {
        match v {
            "all" => Ok(WriteQuorum::All),
            "majority" => Ok(WriteQuorum::Majority),
            other => Err(E::custom(format!(
                r#"invalid write_quorum "{other}": expected a number, "all" or "majority""#
            ))),
        }
    }
}

/// Parses a duration such as `"30s"`, `"250ms"`, `"1.5s"`, `"2m"` or `"1h"`.
///
/// A unit is required: a bare number is ambiguous (seconds? milliseconds?).
/// Units: `ns`, `us`, `ms`, `s`, `m`/`min`, `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!(r#"invalid duration "{text}": add a unit, e.g. "30s" or "250ms""#)
        })?;
    let (number, unit) = text.split_at(split);
    let nanos_per_unit: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" | "sec" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        other => {
            return Err(format!(
                r#"invalid duration "{text}": unknown unit "{other}" (use ns, us, ms, s, m or h)"#
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!(r#"invalid duration "{text}": "{number}" is not a number"#))?;
    let nanos = value * nanos_per_unit;
    // A year is far beyond any sensible timeout; the bound also keeps the float exact
    // enough and away from overflow.
    if !(0.0..=365.0 * 86400e9).contains(&nanos) {
        return Err(format!(r#"invalid duration "{text}": out of range"#));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Formats a duration the way [`parse_duration`] reads it back (`"250ms"`, `"30s"`).
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    for (unit, per) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if nanos >= per && nanos % per == 0 {
            return format!("{}{unit}", nanos / per);
        }
    }
    format!("{nanos}ns")
}

/// Parses a byte size such as `"4MiB"`, `"512 KiB"`, `"1GB"` or `"4096"`.
///
/// Binary units (`KiB`, `MiB`, `GiB`, `TiB`) are powers of 1024, decimal units (`kB`,
/// `MB`, `GB`, `TB`) powers of 1000, and `B` or no unit means bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TiB" | "T" => 1 << 40,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                r#"invalid size "{text}": unknown unit "{other}" (use B, KiB, MiB, GiB, kB, MB or GB)"#
            ))
        }
    };
    let value: u64 = number.parse().map_err(|_| {
        format!(r#"invalid size "{text}": expected a whole number and a unit, e.g. "4MiB""#)
    })?;
    value
        .checked_mul(multiplier)
        .ok_or_else(|| format!(r#"invalid size "{text}": too large"#))
}

/// Formats a byte size the way [`parse_size`] reads it back (`"4MiB"`).
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        let per = 1u64 << shift;
        if bytes >= per && bytes % per == 0 {
            return format!("{}{unit}", bytes / per);
        }
    }
    bytes.to_string()
}

/// serde adapter: a duration written as a string with a unit.
pub(crate) fn de_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(de::Error::custom)
}

/// serde adapter: an optional duration (the field may be absent).
pub(crate) fn de_opt_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    de_duration(deserializer).map(Some)
}

/// serde adapter: a size written as a string with a unit or as an integer of bytes.
pub(crate) fn de_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(SizeVisitor)
}

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a size such as "4MiB" or a number of bytes"#)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("a size cannot be negative ({v})")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_size(v).map_err(E::custom)
    }
}

/// serde adapter: a probability in `0.0..=1.0`.
pub(crate) fn de_rate<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let rate = f64::deserialize(deserializer)?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(de::Error::custom(format!(
            "must be between 0.0 and 1.0, not {rate}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("10 us"), Ok(Duration::from_micros(10)));
    }

    #[test]
    fn durations_without_unit_or_garbage_are_refused() {
        assert!(parse_duration("30").unwrap_err().contains("add a unit"));
        assert!(parse_duration("30 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("s").unwrap_err().contains("not a number"));
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("100000000h")
            .unwrap_err()
            .contains("out of range"));
    }

    #[test]
    fn durations_round_trip_through_format() {
        for text in ["250ms", "30s", "2m", "1h", "10us", "7ns"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn sizes_parse_binary_and_decimal_units() {
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("4 MiB"), Ok(4 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10B"), Ok(10));
        assert!(parse_size("4 MeB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999TiB")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn sizes_round_trip_through_format() {
        for text in ["4MiB", "512KiB", "1GiB", "1000"] {
            assert_eq!(format_size(parse_size(text).unwrap()), text);
        }
    }

    #[test]
    fn quorum_counts_providers() {
        let two = WriteQuorum::Count(NonZeroUsize::new(2).unwrap());
        assert_eq!(two.required(5), 2);
        assert_eq!(WriteQuorum::All.required(5), 5);
        assert_eq!(WriteQuorum::Majority.required(1), 1);
        assert_eq!(WriteQuorum::Majority.required(2), 2);
        assert_eq!(WriteQuorum::Majority.required(3), 2);
        assert_eq!(WriteQuorum::Majority.required(4), 3);
    }
}
