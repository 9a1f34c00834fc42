//! `allow`: admit a client by its fingerprint.

use std::path::PathBuf;

use anyhow::Context as _;
use ferry_client::Fingerprint;
use ferry_trust::{authorized::Allowed, Access, AuthorizedClients};

use crate::{cli::Global, home};

/// Admit a client to this machine's server by its fingerprint.
///
/// The client shows its fingerprint with `ferry id`. A running server
/// applies the change within seconds; allowing a listed client again changes
/// its name or rights.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The client's fingerprint, as `ferry id` prints it.
    #[arg(value_name = "SHA256:…")]
    pub fingerprint: Fingerprint,
    /// Its name in the list (letters, digits, . _ - @ +) [default: client-N].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Let it stat, list and download only.
    #[arg(long)]
    pub read_only: bool,
    /// The server's state directory [default: FERRY_HOME/server].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

pub(crate) fn run(global: &Global, args: Args) -> anyhow::Result<bool> {
    let dir = home::server_state(args.certs)?;
    let access = if args.read_only {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let allowed = AuthorizedClients::allow(&dir, args.fingerprint, args.name.as_deref(), access)
        .context("cannot allow the client")?;
    let path = AuthorizedClients::path_in(&dir);
    if !global.quiet {
        match allowed {
            Allowed::Added(c) => println!(
                "allowed {} ({}), {}, in {}",
                c.name,
                c.fingerprint,
                c.access,
                path.display()
            ),
            Allowed::Updated { before, after } => println!(
                "updated {} ({}): {} {} -> {} {}; its open connections are closed so that it reconnects with them",
                after.name,
                after.fingerprint,
                before.name,
                before.access,
                after.name,
                after.access
            ),
            Allowed::Unchanged(c) => println!(
                "{} ({}) was allowed already, {}",
                c.name, c.fingerprint, c.access
            ),
        }
    }
    Ok(true)
}
