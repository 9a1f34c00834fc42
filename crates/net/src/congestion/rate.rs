//! [`RateLimit`]: a user's bandwidth cap, as `--limit 20M` spells it.

use std::{fmt, num::NonZeroU64, str::FromStr, time::Duration};

/// A bandwidth cap in bytes per second.
///
/// Parsed from a number with an optional decimal (`K`, `M`, `G`: 10^3, 10^6,
/// 10^9) or binary (`Ki`, `Mi`, `Gi`) multiplier, an optional `B` and an
/// optional `/s`: `20M`, `20MB/s`, `1.5G`, `512Ki`, `800000`. Bytes, not bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(NonZeroU64);

impl RateLimit {
    /// The cap in bytes per second.
    pub fn bytes_per_second(self) -> u64 {
        self.0.get()
    }

    /// From bytes per second; `None` for zero.
    pub fn from_bytes_per_second(rate: u64) -> Option<Self> {
        NonZeroU64::new(rate).map(Self)
    }

    /// Bytes the cap allows in `time`.
    pub fn bytes_in(self, time: Duration) -> u64 {
        let bytes = u128::from(self.0.get()) * time.as_nanos() / 1_000_000_000;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0.get();
        if r.is_multiple_of(1_000_000_000) {
            write!(f, "{}G", r / 1_000_000_000)
        } else if r.is_multiple_of(1_000_000) {
            write!(f, "{}M", r / 1_000_000)
        } else if r.is_multiple_of(1000) {
            write!(f, "{}K", r / 1000)
        } else {
            write!(f, "{r}")
        }
    }
}

/// Why a rate did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {0:?}: expected bytes per second such as 800K, 20M or 1.5G")]
pub struct ParseRateError(String);

impl FromStr for RateLimit {
    type Err = ParseRateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseRateError(s.to_owned());
        let t = s.trim();
        let t = t.strip_suffix("/s").unwrap_or(t);
        let t = t.strip_suffix('B').unwrap_or(t);
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
            "" => 1,
            "k" => 1000,
            "m" => 1_000_000,
            "g" => 1_000_000_000,
            "ki" => 1 << 10,
            "mi" => 1 << 20,
            "gi" => 1 << 30,
            _ => return Err(err()),
        };
        if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
            return Err(err());
        }
        let value: f64 = number.parse().map_err(|_| err())?;
        let rate = value * multiplier as f64;
        if !rate.is_finite() || rate < 1.0 || rate > u64::MAX as f64 {
            return Err(err());
        }
        Self::from_bytes_per_second(rate as u64).ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(s: &str) -> Result<u64, ParseRateError> {
        s.parse::<RateLimit>().map(RateLimit::bytes_per_second)
    }

    #[test]
    fn parses_what_users_write() {
        assert_eq!(rate("20M"), Ok(20_000_000));
        assert_eq!(rate("20MB/s"), Ok(20_000_000));
        assert_eq!(rate("20m"), Ok(20_000_000));
        assert_eq!(rate("1.5G"), Ok(1_500_000_000));
        assert_eq!(rate("512Ki"), Ok(512 * 1024));
        assert_eq!(rate("2MiB/s"), Ok(2 << 20));
        assert_eq!(rate("800000"), Ok(800_000));
        assert_eq!(rate(" 100K "), Ok(100_000));
    }

    #[test]
    fn refuses_nonsense() {
        for s in [
            "", "M", "0", "0.1", "-5M", "20X", "1.2.3M", ".5M", "20Mb", "inf", "NaN", "1e99G",
        ] {
            assert!(rate(s).is_err(), "{s:?} parsed");
        }
    }

    #[test]
    fn shows_and_measures() {
        let r: RateLimit = "20M".parse().expect("valid");
        assert_eq!(r.to_string(), "20M");
        assert_eq!(r.bytes_in(Duration::from_millis(50)), 1_000_000);
        assert_eq!(
            RateLimit::from_bytes_per_second(1234).map(|r| r.to_string()),
            Some("1234".into())
        );
    }
}
