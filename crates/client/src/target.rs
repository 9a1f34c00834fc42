//! `HOST[:PORT]` as users type it.

use std::{fmt, str::FromStr};

use ferry_proto::DEFAULT_PORT;

/// A server address as given: a host name or IP address and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// UDP port.
    pub port: u16,
}

/// A `HOST[:PORT]` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not HOST[:PORT] (IPv6 as [ADDR]:PORT)")]
pub struct TargetParseError(String);

impl FromStr for Target {
    type Err = TargetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || TargetParseError(s.to_owned());
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else if s.matches(':').count() > 1 {
            // A bare IPv6 address.
            (s, None)
        } else {
            match s.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (s, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(bad());
        }
        let port = match port {
            Some(p) => p.parse().ok().filter(|&p: &u16| p != 0).ok_or_else(bad)?,
            None => DEFAULT_PORT,
        };
        Ok(Target {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Target {
    /// The `known_hosts` key: `host:port`, `[v6]:port`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = |s: &str| s.parse::<Target>().unwrap();
        assert_eq!(
            t("h"),
            Target {
                host: "h".into(),
                port: 4433
            }
        );
        assert_eq!(
            t("h:9"),
            Target {
                host: "h".into(),
                port: 9
            }
        );
        assert_eq!(
            t("[::1]:9"),
            Target {
                host: "::1".into(),
                port: 9
            }
        );
        assert_eq!(
            t("[::1]"),
            Target {
                host: "::1".into(),
                port: 4433
            }
        );
        assert_eq!(
            t("::1"),
            Target {
                host: "::1".into(),
                port: 4433
            }
        );
        assert_eq!(t("[::1]:9").to_string(), "[::1]:9");
        assert_eq!(t("127.0.0.1:5").to_string(), "127.0.0.1:5");
        for bad in [
            "", ":5", "h:", "h:x", "h:0", "h:70000", "[::1", "[::1]x", "a b",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
    }
}
