//! `rmdir`: remove empty remote directories.

use super::{each, Session};

/// Remove empty remote directories.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Remote directories.
    #[arg(required = true)]
    pub dirs: Vec<String>,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    each(session, &args.dirs, |path| async move {
        Ok(session.client.rmdir(&path).await?)
    })
    .await
}
