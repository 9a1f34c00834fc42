//! `id`: this client's certificate fingerprint.

use std::io::Write;

use serde_json::json;

use crate::{cli::Global, home};

/// Print this client's certificate fingerprint.
///
/// Prints SHA256:…, to give to a server's operator for `ferry allow`. The
/// identity is made on first use and kept in FERRY_HOME (client-cert.pem,
/// and client-key.pem, mode 0600).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(global: &Global, _args: &Args) -> anyhow::Result<bool> {
    let identity = home::client_identity()?;
    let dir = home::dir()?;
    if identity.generated && !global.quiet {
        eprintln!("ferry: made a new client identity in {}", dir.display());
    }
    let mut out = std::io::stdout().lock();
    if global.json {
        let line = json!({
            "fingerprint": identity.fingerprint.to_string(),
            "certificate": dir.join(ferry_trust::Role::Client.cert_file()),
        });
        writeln!(out, "{line}")?;
    } else {
        writeln!(out, "{}", identity.fingerprint)?;
    }
    Ok(true)
}
