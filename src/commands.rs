//! The one-shot commands: connect, do one thing (on many paths, perhaps),
//! report, and say whether everything succeeded.

use std::{io::Write, sync::Arc};

use anyhow::Context;
use ferry_client::{glob, Client, ClientError, RemotePath, TransferOptions};

use crate::{
    cli::{Cli, Command, Global, TransferArgs},
    home, output,
    progress::{Mode, Progress, StatsRecorder},
    serve, session,
};

/// Runs the parsed command line; `Ok(false)` when some part failed (the
/// failure was already reported).
pub async fn run(cli: Cli) -> anyhow::Result<bool> {
    let global = cli.global;
    ferry_net::transport::set_default_options(ferry_net::transport::TransportOptions {
        rate_limit: global.limit,
    });
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Shell(args) => crate::shell::run(&global, args).await,
        Command::Forget { host } => forget(&host),
        Command::Ls { host, path } => {
            let client = session::connect(&global, &host).await?;
            let ok = ls(
                &client,
                &global,
                &RemotePath::root(),
                path.as_deref().unwrap_or("/"),
            )
            .await;
            client.close().await;
            ok
        }
        Command::Stat { host, paths } => {
            with_each(&global, &host, &paths, |client, path| async move {
                let entry = client.stat(&path).await?;
                output::print_stat(&mut std::io::stdout().lock(), &path, &entry, global.json)?;
                Ok(())
            })
            .await
        }
        Command::Mkdir {
            host,
            paths,
            parents,
        } => {
            with_each(&global, &host, &paths, |client, path| async move {
                client.mkdir(&path, parents).await?;
                Ok(())
            })
            .await
        }
        Command::Rmdir { host, paths } => {
            with_each(&global, &host, &paths, |client, path| async move {
                client.rmdir(&path).await?;
                Ok(())
            })
            .await
        }
        Command::Rm { host, paths } => {
            let client = session::connect(&global, &host).await?;
            let ok = rm(&client, &RemotePath::root(), &paths).await;
            client.close().await;
            Ok(ok)
        }
        Command::Mv { host, from, to } => {
            let client = session::connect(&global, &host).await?;
            let root = RemotePath::root();
            let result = client
                .rename(&resolve(&root, &from)?, &resolve(&root, &to)?)
                .await;
            client.close().await;
            result?;
            Ok(true)
        }
        Command::Get(args) => {
            let client = session::connect(&global, &args.host).await?;
            let ok = get(
                &client,
                &global,
                &RemotePath::root(),
                &args.remote,
                &args.output,
                &args.transfer,
            )
            .await;
            client.close().await;
            ok
        }
        Command::Put(args) => {
            let client = session::connect(&global, &args.host).await?;
            let dest = resolve(&RemotePath::root(), &args.to)?;
            let ok = put(&client, &global, &args.local, &dest, &args.transfer).await;
            client.close().await;
            ok
        }
    }
}

/// Resolves a path the user typed against `cwd`.
pub fn resolve(cwd: &RemotePath, input: &str) -> anyhow::Result<RemotePath> {
    cwd.resolve(input)
        .with_context(|| format!("invalid remote path '{input}'"))
}

/// Runs `op` on each path, reporting failures and carrying on.
async fn with_each<F, Fut>(
    global: &Global,
    host: &ferry_client::Target,
    paths: &[String],
    op: F,
) -> anyhow::Result<bool>
where
    F: Fn(Client, RemotePath) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let client = session::connect(global, host).await?;
    let mut ok = true;
    for input in paths {
        let result = match resolve(&RemotePath::root(), input) {
            Ok(path) => op(client.clone(), path).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            if output::is_broken_pipe(&e) {
                break;
            }
            eprintln!("ferry: {e:#}");
            ok = false;
        }
    }
    client.close().await;
    Ok(ok)
}

/// `ls`: a directory's entries, a file's own entry, or a glob's matches.
pub async fn ls(
    client: &Client,
    global: &Global,
    cwd: &RemotePath,
    input: &str,
) -> anyhow::Result<bool> {
    list(client, global, cwd, input, true).await
}

/// [`ls`] in long (`ls -l`) or short (size and name) form.
pub async fn list(
    client: &Client,
    global: &Global,
    cwd: &RemotePath,
    input: &str,
    long: bool,
) -> anyhow::Result<bool> {
    let style = output::Style::new(long, global.json);
    let print = |dir: Option<&RemotePath>, entries: &mut [ferry_client::Entry]| {
        let mut out = std::io::stdout().lock();
        output::print_entries(&mut out, dir, entries, style)?;
        out.flush()
    };
    if glob::is_glob(input) {
        let matches = glob::expand_remote(client, cwd, input).await?;
        if matches.is_empty() {
            eprintln!("ferry: {input}: no match");
            return Ok(false);
        }
        let mut entries = Vec::new();
        for m in matches {
            let mut entry = match m.entry {
                Some(e) => e,
                None => client.stat(&m.path).await?,
            };
            entry.name = m.path.to_string();
            entries.push(entry);
        }
        print(None, &mut entries)?;
        return Ok(true);
    }
    let path = resolve(cwd, input)?;
    let entry = client.stat(&path).await?;
    if entry.kind == ferry_client::Kind::Dir {
        let mut entries = client.list(&path).await?;
        print(Some(&path), &mut entries)?;
    } else {
        print(path.parent().as_ref(), &mut [entry])?;
    }
    Ok(true)
}

/// `rm`: remove files, expanding globs; reports each failure.
pub async fn rm(client: &Client, cwd: &RemotePath, patterns: &[String]) -> bool {
    let mut ok = true;
    for pattern in patterns {
        let matches = match glob::expand_remote(client, cwd, pattern).await {
            Ok(m) if m.is_empty() => {
                eprintln!("ferry: {pattern}: no match");
                ok = false;
                continue;
            }
            Ok(m) => m,
            Err(e) => {
                eprintln!("ferry: {e}");
                ok = false;
                continue;
            }
        };
        for m in matches {
            if let Err(e) = client.remove(&m.path).await {
                eprintln!("ferry: {e}");
                ok = false;
            }
        }
    }
    ok
}

/// `get`: plan, transfer with progress, summarize.
pub async fn get(
    client: &Client,
    global: &Global,
    cwd: &RemotePath,
    patterns: &[String],
    dest: &std::path::Path,
    args: &TransferArgs,
) -> anyhow::Result<bool> {
    let opts = options(args);
    if !dest.is_dir() {
        std::fs::create_dir_all(dest).map_err(|e| ClientError::Local {
            path: dest.to_owned(),
            error: e,
        })?;
    }
    let plan = client.plan_get(cwd, patterns, dest, &opts).await;
    transfer(client, global, args, "downloaded", |progress| async move {
        client.run_get(plan, &opts, progress).await
    })
    .await
}

/// `put`: plan, transfer with progress, summarize.
pub async fn put(
    client: &Client,
    global: &Global,
    patterns: &[String],
    dest: &RemotePath,
    args: &TransferArgs,
) -> anyhow::Result<bool> {
    let opts = options(args);
    let entry = client.stat(dest).await?;
    if entry.kind != ferry_client::Kind::Dir {
        anyhow::bail!("{dest}: not a directory");
    }
    let plan = client.plan_put(patterns, dest, &opts).await;
    transfer(client, global, args, "uploaded", |progress| async move {
        client.run_put(plan, &opts, progress).await
    })
    .await
}

fn options(args: &TransferArgs) -> TransferOptions {
    TransferOptions {
        jobs: usize::from(args.jobs),
        recursive: args.recursive,
        preserve_mode: args.preserve,
    }
}

async fn transfer<F, Fut>(
    client: &Client,
    global: &Global,
    args: &TransferArgs,
    verb: &str,
    run: F,
) -> anyhow::Result<bool>
where
    F: FnOnce(Arc<dyn ferry_client::Observer>) -> Fut,
    Fut: std::future::Future<Output = ferry_client::Summary>,
{
    let progress = Progress::new(Mode::choose(global.quiet, global.json));
    let stats = match &args.stats {
        Some(path) => Some(
            StatsRecorder::start(path, progress.clone(), client.clone())
                .with_context(|| format!("cannot write stats to {}", path.display()))?,
        ),
        None => None,
    };
    // Ctrl-C cancels the batch: dropping it aborts every transfer, which
    // removes their temporary files and resets their streams.
    let summary = tokio::select! {
        summary = run(progress.clone()) => summary,
        _ = tokio::signal::ctrl_c() => {
            progress.abandon();
            // Tell the server at once: the streams' resets can sit behind a
            // full congestion window, and a process that exits without a
            // close leaves the server holding the upload until its idle
            // timeout. On a loaded machine 25 ms is not always enough for
            // the endpoint to send the close, so give it a little longer.
            client.close().await;
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            if let Some(stats) = stats {
                stats.stop().await?;
            }
            return Err(Cancelled.into());
        }
    };
    if let Some(stats) = stats {
        stats.stop().await?;
    }
    progress.finish(&summary, verb);
    Ok(summary.ok())
}

/// A transfer stopped by Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// `forget`: drop a server's pin.
fn forget(host: &ferry_client::Target) -> anyhow::Result<bool> {
    let path = home::known_hosts()?;
    let mut known = ferry_client::known_hosts::KnownHosts::load(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let key = host.to_string();
    let removed = known
        .remove(&key)
        .with_context(|| format!("cannot update {}", path.display()))?;
    if removed == 0 {
        eprintln!("ferry: {key} is not in {}", path.display());
        return Ok(false);
    }
    println!("forgot {key} ({})", path.display());
    Ok(true)
}
