//! `rmdir`: remove empty remote directories.

use super::{each, Session};

/// Remove empty remote directories.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remote directories.
    #[arg(required = true)]
    pub dirs: Vec<String>,
}

pub async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    each(session, &args.dirs, |path| async move {
        Ok(session.client.rmdir(&path).await?)
    })
    .await
}
