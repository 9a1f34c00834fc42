//! Connecting from the command line: the server from the argument or its
//! alias in `config.toml`, trust policy from the flags (or the alias's
//! pinned fingerprint), and the first-use prompt on a terminal.

use std::{
    io::{BufRead, IsTerminal, Write},
    sync::Arc,
    time::Duration,
};

use ferry_client::{Client, ConnectOptions, Fingerprint, Target, Trust};
use ferry_net::transport::TransportOptions;

use crate::{
    cli::Global,
    config::{Config, HostArg, HostDefaults},
    home,
};

/// The handshake timeout when neither a flag nor an alias sets one.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: u64 = 10;

/// Resolves a host argument through `config.toml`.
pub(crate) fn resolve(host: &HostArg) -> anyhow::Result<(Target, HostDefaults)> {
    Config::load()?.resolve(host)
}

/// Connects to `target` as the global flags (and the alias's defaults) say,
/// presenting this client's identity.
pub(crate) async fn connect(
    global: &Global,
    target: &Target,
    defaults: &HostDefaults,
) -> anyhow::Result<Client> {
    Ok(ferry_client::connect(target, &options(global, defaults)?).await?)
}

/// How to connect, as the global flags (and the alias's defaults) say.
pub(crate) fn options(global: &Global, defaults: &HostDefaults) -> anyhow::Result<ConnectOptions> {
    let trust = if let Some(fp) = global.fingerprint.or(defaults.fingerprint) {
        Trust::Fingerprint(fp)
    } else if global.accept_new {
        Trust::AcceptNew
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Trust::Ask(Arc::new(ask))
    } else {
        Trust::RefuseUnknown
    };
    let timeout = global
        .connect_timeout
        .or(defaults.connect_timeout)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    Ok(ConnectOptions {
        known_hosts: home::known_hosts()?,
        trust,
        timeout: Duration::from_secs(timeout.max(1)),
        identity: Some(home::client_identity()?),
        transport: TransportOptions {
            rate_limit: global.limit,
        },
    })
}

/// Asks on the terminal whether to trust a new server.
fn ask(host: &str, fp: &Fingerprint) -> bool {
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "The authenticity of {host} can't be established.\n\
         Its certificate fingerprint is {fp}.\n\
         Compare it with the one `ferry serve` printed on the server.\n\
         Trust it and remember it in known_hosts (yes/no)? "
    );
    let _ = err.flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "yes" | "y")
}
