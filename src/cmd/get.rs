//! `get`: download remote files, globs and trees.

use std::path::{Path, PathBuf};

use ferry_client::{LocalDest, RequestError};

use super::Session;
use crate::{
    cli::UsageError,
    output::Output,
    transfer::{self, renames, TransferArgs, Way},
};

/// Download remote files (globs allowed, quoted) into a local directory.
///
/// With one REMOTE and a LOCAL that is not an existing directory (nor ends
/// in '/'), the file (or, with -r, the directory) is saved under that name,
/// as cp and scp do. `-o -` writes the one file to stdout.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Remote files, directories (with -r) or quoted globs.
    #[arg(required = true)]
    pub remote: Vec<String>,
    /// Local directory to download into, created if missing, or the new
    /// name of a single REMOTE; `-` for stdout [default: the current
    /// directory].
    #[arg(short, long, value_name = "LOCALDIR")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

pub(crate) async fn run(session: &Session, args: Args) -> anyhow::Result<bool> {
    transfer(session, &args.remote, args.output, &args.transfer).await
}

/// Downloads `sources` to `output`, for `get` and `cp`.
pub(crate) async fn transfer(
    session: &Session,
    sources: &[String],
    output: Option<PathBuf>,
    args: &TransferArgs,
) -> anyhow::Result<bool> {
    let client = &session.client;
    let opts = args.options(&session.defaults)?;
    if output.as_deref() == Some(Path::new("-")) {
        return to_stdout(session, sources, args).await;
    }
    // Relative local paths resolve against the local working directory,
    // which the shell's `lcd` keeps as the process's own.
    let output = output.unwrap_or_else(|| PathBuf::from("."));
    let into =
        output.is_dir() || output.as_os_str().to_string_lossy().ends_with('/') || !renames(sources);
    let dest = if into {
        if !output.is_dir() && !args.dry_run {
            std::fs::create_dir_all(&output).map_err(|source| RequestError::Local {
                path: output.clone(),
                source,
            })?;
        }
        LocalDest::Into(output)
    } else {
        LocalDest::As(output)
    };
    let plan = client.plan_get(&session.cwd, sources, &dest, &opts).await;
    transfer::execute(client, &session.out, args, &opts, plan, Way::Down).await
}

/// `-o -`: the one file the sources name, written to stdout. What would
/// go to stdout otherwise (JSON events) goes to stderr.
async fn to_stdout(
    session: &Session,
    sources: &[String],
    args: &TransferArgs,
) -> anyhow::Result<bool> {
    let client = &session.client;
    let opts = args.options(&session.defaults)?;
    let plan = client
        .plan_get(
            &session.cwd,
            sources,
            &LocalDest::Into(PathBuf::from(".")),
            &opts,
        )
        .await;
    let out = Output {
        json: false,
        ..session.out
    };
    for skipped in &plan.skipped {
        out.skipped(skipped);
    }
    if let Some((name, e)) = plan.errors.first() {
        out.failure(name, e);
        return Ok(false);
    }
    let [job] = plan.files.as_slice() else {
        return Err(UsageError(format!(
            "writing to stdout (-o -) takes exactly one file; {} matched {}",
            sources.join(" "),
            plan.files.len()
        ))
        .into());
    };
    if args.dry_run {
        eprintln!("would download {} to stdout", job.remote);
        return Ok(true);
    }
    let mut stdout = tokio::io::stdout();
    let moved = tokio::select! {
        moved = client.download_to(&job.remote, &mut stdout, &|_| {}) => moved,
        _ = tokio::signal::ctrl_c() => return Err(transfer::Cancelled.into()),
    };
    match moved {
        Ok(moved) => {
            if session.out.json {
                let event = serde_json::json!({
                    "event": "file", "name": job.display, "ok": true,
                    "size": moved.size, "bytes": moved.bytes,
                    "hash": moved.hash.map(|h| h.to_string()),
                });
                eprintln!("{}", crate::output::json_line(&event));
            }
            Ok(true)
        }
        Err(e) => {
            if session.out.json {
                let event = crate::output::error_event(
                    Some(&job.display),
                    e.code(),
                    &crate::output::describe_request(&e),
                );
                eprintln!("{}", crate::output::json_line(&event));
            } else {
                out.failure(&job.display, &e);
            }
            Ok(false)
        }
    }
}
