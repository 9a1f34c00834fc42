//! `get`: download remote files, globs and trees.

use std::path::PathBuf;

use ferry_client::RequestError;

use super::Session;
use crate::transfer::{self, TransferArgs};

/// Download remote files (globs allowed, quoted) into a local directory.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Remote files, directories (with -r) or quoted globs.
    #[arg(required = true)]
    pub remote: Vec<String>,
    /// Local directory to download into, created if missing [default: the
    /// current directory].
    #[arg(short, long, value_name = "LOCALDIR")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    let client = &session.client;
    let opts = args.transfer.options();
    // Relative local paths resolve against the local working directory,
    // which the shell's `lcd` keeps as the process's own.
    let dest = args.output.unwrap_or_else(|| PathBuf::from("."));
    if !dest.is_dir() {
        std::fs::create_dir_all(&dest).map_err(|source| RequestError::Local {
            path: dest.clone(),
            source,
        })?;
    }
    let plan = client
        .plan_get(&session.cwd, &args.remote, &dest, &opts)
        .await;
    transfer::run(
        client,
        &session.out,
        &args.transfer,
        "downloaded",
        |progress| async move { client.run_get(plan, &opts, progress).await },
    )
    .await
}
