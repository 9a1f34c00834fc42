//! `put`: upload local files, globs, trees, and stdin.

use std::path::PathBuf;

use ferry_client::{transfer::FileJob, ErrorCode, Kind, Plan, RemoteDest, RequestError};

use super::Session;
use crate::{
    cli::UsageError,
    transfer::{self, renames, TransferArgs, Way},
};

/// Upload local files (globs allowed) into a remote directory.
///
/// With one LOCAL and a --to that is not an existing directory (nor ends in
/// '/'), the file (or, with -r, the directory) is uploaded under that name,
/// as cp and scp do. `-` uploads what comes on stdin, of any length, to the
/// file --to names; FIFOs and pipes (/dev/stdin) are streamed the same way.
/// The server keeps nothing unless the input ends cleanly.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Local files, directories (with -r), globs, or `-` for stdin.
    #[arg(required = true)]
    pub local: Vec<String>,
    /// Remote directory to upload into, or the new name of a single LOCAL
    /// [default: the remote working directory, / for the one-shot command].
    #[arg(long, value_name = "REMOTEDIR")]
    pub to: Option<String>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    transfer(session, &args.local, args.to.as_deref(), &args.transfer).await
}

/// Uploads `sources` to `to`, for `put` and `cp`.
pub(crate) async fn transfer(
    session: &Session,
    sources: &[String],
    to: Option<&str>,
    args: &TransferArgs,
) -> anyhow::Result<bool> {
    let client = &session.client;
    let opts = args.options(&session.defaults)?;
    let stdin = sources.iter().any(|s| s == "-");
    if stdin && sources.len() > 1 {
        return Err(UsageError("`-` (stdin) must be the only file to upload".into()).into());
    }
    let text = to.unwrap_or(".");
    let path = session.resolve(text)?;
    let slash = text.ends_with('/');
    let dest = match client.stat(&path).await {
        Ok(e) if e.kind == Kind::Dir && stdin => {
            return Err(UsageError(format!(
                "{path} is a directory: name the file to write stdin to (--to {}/NAME)",
                path.to_string().trim_end_matches('/')
            ))
            .into())
        }
        Ok(e) if e.kind == Kind::Dir => RemoteDest::Into(path),
        Ok(_) if !slash && renames(sources) => RemoteDest::As(path),
        Ok(_) => anyhow::bail!("{path}: not a directory"),
        Err(RequestError::Remote(e))
            if e.code == ErrorCode::NotFound && !slash && renames(sources) =>
        {
            RemoteDest::As(path)
        }
        Err(e) => return Err(e.into()),
    };
    let plan = if stdin {
        let RemoteDest::As(remote) = dest else {
            unreachable!("stdin goes to a named file")
        };
        Plan {
            files: vec![FileJob {
                remote,
                local: PathBuf::from("-"),
                size: 0,
                display: "(stdin)".into(),
                mtime: None,
                mode: None,
                dest: None,
                partial: 0,
                streamed: true,
                unseen: false,
            }],
            ..Plan::default()
        }
    } else {
        client.plan_put(sources, &dest, &opts).await
    };
    transfer::execute(client, &session.out, args, &opts, plan, Way::Up).await
}
