//! `mv`: rename a remote path, or move it into a directory.

use super::Session;

/// Rename a remote path, or move it into an existing directory.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to move.
    pub from: String,
    /// New name, or an existing directory to move it into.
    pub to: String,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    let from = session.resolve(&args.from)?;
    let to = session.resolve(&args.to)?;
    session.client.rename(&from, &to).await?;
    Ok(true)
}
