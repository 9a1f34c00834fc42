//! `revoke`: remove a client from the authorized clients.

use std::path::PathBuf;

use ferry_trust::{AuthorizedClients, ClientsError};

use crate::{cli::Global, home};

/// Remove a client from this machine's server.
///
/// By name or fingerprint. A running server closes its open connections
/// within seconds.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The client's name (see `ferry clients`) or fingerprint.
    #[arg(value_name = "NAME|SHA256:…")]
    pub client: String,
    /// The server's state directory [default: FERRY_HOME/server].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

pub(crate) fn run(global: &Global, args: &Args) -> anyhow::Result<bool> {
    let dir = home::server_state(args.certs.clone())?;
    match AuthorizedClients::revoke(&dir, &args.client) {
        Ok(gone) => {
            if !global.quiet {
                for c in gone {
                    println!("revoked {} ({})", c.name, c.fingerprint);
                }
            }
            Ok(true)
        }
        Err(ClientsError::NotFound(who)) => {
            eprintln!(
                "ferry: no client named or with the fingerprint '{who}' in {} (see `ferry clients`)",
                AuthorizedClients::path_in(&dir).display()
            );
            Ok(false)
        }
        Err(e) => Err(anyhow::Error::new(e).context("cannot revoke the client")),
    }
}
