//! `clients`: list the authorized clients.

use std::{io::Write, path::PathBuf, time::SystemTime};

use anyhow::Context as _;
use ferry_trust::{invites, AuthorizedClients};
use serde_json::json;

use crate::{cli::Global, home};

/// List the clients this machine's server admits.
///
/// Name, rights and fingerprint, one client per line (with --json, one
/// object per line: name, fingerprint, rights).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server's state directory [default: FERRY_HOME/server].
    #[arg(long, value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

pub(crate) fn run(global: &Global, args: &Args) -> anyhow::Result<bool> {
    let dir = home::server_state(args.certs.clone())?;
    let list = AuthorizedClients::load(&dir).context("cannot read the authorized clients")?;
    let path = list.path().to_owned();
    for line in list.ignored() {
        eprintln!(
            "ferry: {} line {} is ignored: {}",
            path.display(),
            line.number,
            line.why
        );
    }
    let clients = list.clients();
    let mut out = std::io::stdout().lock();
    if global.json {
        for c in &clients {
            let line = json!({
                "name": c.name,
                "fingerprint": c.fingerprint.to_string(),
                "rights": c.access.as_str(),
            });
            writeln!(out, "{line}")?;
        }
        return Ok(true);
    }
    if clients.is_empty() {
        if !global.quiet {
            eprintln!(
                "no authorized clients in {} (add one with `ferry allow` or `ferry invite`)",
                path.display()
            );
        }
    } else {
        let width = clients.iter().map(|c| c.name.len()).max().unwrap_or(4);
        for c in &clients {
            writeln!(
                out,
                "{:<width$}  {:<10}  {}",
                c.name, c.access, c.fingerprint
            )?;
        }
    }
    if !global.quiet {
        let open = invites::open_count(&dir, SystemTime::now()).unwrap_or(0);
        if open > 0 {
            eprintln!("{open} invite(s) still open");
        }
    }
    Ok(true)
}
