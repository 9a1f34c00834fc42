//! `rm`: remove remote files, expanding globs.

use super::{each_match, Session};

/// Remove remote files (globs allowed); refuses directories.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Remote files or globs.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    each_match(session, &args.paths, |path| async move {
        Ok(session.client.remove(&path).await?)
    })
    .await
}
