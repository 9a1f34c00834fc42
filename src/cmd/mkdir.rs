//! `mkdir`: create remote directories.

use super::{each, Session};

/// Create remote directories.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Create missing parents; an existing directory is not an error.
    #[arg(short, long)]
    pub parents: bool,
    /// Remote directories.
    #[arg(required = true)]
    pub dirs: Vec<String>,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    each(session, &args.dirs, |path| async move {
        Ok(session.client.mkdir(&path, args.parents).await?)
    })
    .await
}
