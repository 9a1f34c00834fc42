//! Connecting from the command line: trust policy from the flags, and the
//! first-use prompt on a terminal.

use std::{
    io::{BufRead, IsTerminal, Write},
    sync::Arc,
    time::Duration,
};

use ferry_client::{Client, ConnectOptions, Fingerprint, Target, Trust};

use crate::{cli::Global, home};

/// Connects to `target` as the global flags say, presenting this client's
/// identity.
pub(crate) async fn connect(global: &Global, target: &Target) -> anyhow::Result<Client> {
    Ok(ferry_client::connect(target, &options(global)?).await?)
}

/// How to connect, as the global flags say.
pub(crate) fn options(global: &Global) -> anyhow::Result<ConnectOptions> {
    let trust = if let Some(fp) = global.fingerprint {
        Trust::Fingerprint(fp)
    } else if global.accept_new {
        Trust::AcceptNew
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        Trust::Ask(Arc::new(ask))
    } else {
        Trust::RefuseUnknown
    };
    Ok(ConnectOptions {
        known_hosts: home::known_hosts()?,
        trust,
        timeout: Duration::from_secs(global.connect_timeout.max(1)),
        identity: Some(home::client_identity()?),
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
