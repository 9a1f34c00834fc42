//! `stat`: the metadata of remote paths.

use super::{each, Session};

/// Show metadata of remote paths: kind, size, mode, time.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Remote paths.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    each(session, &args.paths, |path| async move {
        let entry = session.client.stat(&path).await?;
        session.out.stat(&path, &entry)?;
        Ok(())
    })
    .await
}
