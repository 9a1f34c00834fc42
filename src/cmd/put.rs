//! `put`: upload local files, globs and trees.

use ferry_client::Kind;

use super::Session;
use crate::transfer::{self, TransferArgs};

/// Upload local files (globs allowed) into a remote directory.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Local files, directories (with -r) or globs.
    #[arg(required = true)]
    pub local: Vec<String>,
    /// Remote directory to upload into [default: the remote working
    /// directory, / for the one-shot command].
    #[arg(long, value_name = "REMOTEDIR")]
    pub to: Option<String>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    let client = &session.client;
    let opts = args.transfer.options();
    let dest = session.resolve(args.to.as_deref().unwrap_or("."))?;
    let entry = client.stat(&dest).await?;
    if entry.kind != Kind::Dir {
        anyhow::bail!("{dest}: not a directory");
    }
    let plan = client.plan_put(&args.local, &dest, &opts).await;
    transfer::run(
        client,
        &session.out,
        &args.transfer,
        "uploaded",
        |progress| async move { client.run_put(plan, &opts, progress).await },
    )
    .await
}
