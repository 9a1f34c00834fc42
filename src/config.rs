//! `config.toml` in the state directory (`$FERRY_HOME`, else the platform's
//! config directory): host aliases with their address, port, pinned
//! fingerprint and default options, so that `ferry ls nas` works.
//!
//! ```toml
//! [hosts.nas]
//! address = "192.168.1.20"          # a host name or IP address
//! port = 4433                       # optional (default 4433)
//! fingerprint = "SHA256:…"          # optional: trust only this certificate
//! jobs = 8                          # optional defaults for this host
//! preserve = true
//! connect_timeout = 5
//! ```
//!
//! Flags on the command line win over these defaults; a port typed with the
//! alias (`nas:5000`) wins over the configured one.

use std::{collections::BTreeMap, path::PathBuf, str::FromStr};

use anyhow::Context as _;
use ferry_client::{Fingerprint, Target};
use serde::Deserialize;

use crate::home;

/// The file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Aliases by name.
    #[serde(default)]
    hosts: BTreeMap<String, HostConfig>,
}

/// One alias.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostConfig {
    address: String,
    port: Option<u16>,
    fingerprint: Option<String>,
    jobs: Option<u16>,
    preserve: Option<bool>,
    connect_timeout: Option<u64>,
}

/// Defaults that a host's alias brings, below the command line's flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostDefaults {
    /// The pinned certificate.
    pub fingerprint: Option<Fingerprint>,
    /// Files in flight.
    pub jobs: Option<u16>,
    /// Keep permission bits.
    pub preserve: bool,
    /// Seconds to wait for the handshake.
    pub connect_timeout: Option<u64>,
}

/// A server as typed on the command line: `HOST[:PORT]` or an alias, with
/// the text kept to tell a typed port from the default one.
#[derive(Debug, Clone)]
pub(crate) struct HostArg {
    /// As typed.
    pub raw: String,
    /// As parsed.
    pub target: Target,
}

impl FromStr for HostArg {
    type Err = ferry_client::TargetParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(HostArg {
            raw: s.to_owned(),
            target: s.parse()?,
        })
    }
}

impl std::fmt::Display for HostArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.raw)
    }
}

impl HostArg {
    /// Whether a port was typed.
    fn has_port(&self) -> bool {
        let raw = self.raw.as_str();
        match raw.strip_prefix('[') {
            Some(rest) => rest.contains("]:"),
            None => raw.matches(':').count() == 1,
        }
    }
}

impl Config {
    /// Reads `config.toml` from the state directory; no file is an empty
    /// configuration.
    pub(crate) fn load() -> anyhow::Result<Config> {
        let path = path()?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let config: Config =
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
        for (name, host) in &config.hosts {
            if let Some(fp) = &host.fingerprint {
                fp.parse::<Fingerprint>().map_err(|e| {
                    anyhow::anyhow!("{}: hosts.{name}.fingerprint: {e}", path.display())
                })?;
            }
        }
        Ok(config)
    }

    /// The server an argument names, and the defaults its alias brings.
    pub(crate) fn resolve(&self, host: &HostArg) -> anyhow::Result<(Target, HostDefaults)> {
        let Some(alias) = self.hosts.get(&host.target.host) else {
            return Ok((host.target.clone(), HostDefaults::default()));
        };
        let port = if host.has_port() {
            host.target.port
        } else {
            alias.port.unwrap_or(host.target.port)
        };
        let address = if alias.address.contains(':') && !alias.address.starts_with('[') {
            format!("[{}]:{port}", alias.address)
        } else {
            format!("{}:{port}", alias.address)
        };
        let target: Target = address
            .parse()
            .with_context(|| format!("hosts.{}.address in config.toml", host.target.host))?;
        let fingerprint = match &alias.fingerprint {
            Some(fp) => Some(fp.parse().map_err(|e| anyhow::anyhow!("{e}"))?),
            None => None,
        };
        Ok((
            target,
            HostDefaults {
                fingerprint,
                jobs: alias.jobs,
                preserve: alias.preserve.unwrap_or(false),
                connect_timeout: alias.connect_timeout,
            },
        ))
    }
}

/// Where the file is.
pub(crate) fn path() -> anyhow::Result<PathBuf> {
    Ok(home::dir()?.join("config.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_with_their_defaults() {
        let config: Config = toml::from_str(
            r#"
            [hosts.nas]
            address = "10.0.0.5"
            port = 5000
            jobs = 4
            preserve = true
            [hosts.six]
            address = "::1"
            "#,
        )
        .unwrap();
        let arg = |s: &str| s.parse::<HostArg>().unwrap();
        let (t, d) = config.resolve(&arg("nas")).unwrap();
        assert_eq!(t.to_string(), "10.0.0.5:5000");
        assert_eq!((d.jobs, d.preserve), (Some(4), true));
        let (t, _) = config.resolve(&arg("nas:6000")).unwrap();
        assert_eq!(t.to_string(), "10.0.0.5:6000");
        let (t, _) = config.resolve(&arg("six")).unwrap();
        assert_eq!(t.to_string(), "[::1]:4433");
        let (t, d) = config.resolve(&arg("other:7")).unwrap();
        assert_eq!((t.to_string(), d.jobs), ("other:7".to_owned(), None));
        assert!(toml::from_str::<Config>("[hosts.x]\nadress = \"typo\"").is_err());
    }
}
