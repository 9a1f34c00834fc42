//! `forget`: drop a server's pin from known_hosts.

use anyhow::Context as _;
use ferry_client::Target;
use ferry_trust::KnownHosts;

use crate::home;

/// Remove a server's pinned certificate from known_hosts (after it
/// legitimately changed).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Server, as HOST[:PORT].
    pub host: Target,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<bool> {
    let path = home::known_hosts()?;
    let mut known =
        KnownHosts::load(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = args.host.to_string();
    let removed = known
        .remove(&key)
        .with_context(|| format!("cannot update {}", path.display()))?;
    if removed == 0 {
        eprintln!("ferry: {key} is not in {}", path.display());
        return Ok(false);
    }
    println!("forgot {key} ({})", path.display());
    Ok(true)
}
