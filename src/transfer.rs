//! What `get`, `put` and `cp` share: their transfer options, where a batch
//! goes (into a directory, or, for one source, to a new name), `--dry-run`,
//! and running a planned batch with progress, the `--stats` recorder and
//! Ctrl-C.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context as _;
use ferry_client::{
    glob::{self, Limits},
    transfer::Observer,
    Client, Filter, Plan, Summary, TransferOptions, DEFAULT_JOBS, DEFAULT_RETRIES,
};
use serde_json::json;

use crate::{
    cli::UsageError,
    config::HostDefaults,
    output::{escape, human_bytes, print_json, Output},
    progress::{Mode, Progress, StatsRecorder},
};

/// Options shared by get, put and cp.
#[derive(Debug, clap::Args, Clone)]
pub(crate) struct TransferArgs {
    /// Copy directories recursively (symbolic links inside are reported and
    /// skipped).
    #[arg(short, long)]
    pub recursive: bool,
    /// Files in flight at once at most [default: 256]; what they may hold
    /// in memory together is bounded too, so big files move fewer at a time.
    #[arg(short, long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// Keep Unix permission bits exactly (modification times are always
    /// kept; without -p a new file gets the source's bits less the umask).
    #[arg(short, long)]
    pub preserve: bool,
    /// Keep each source's path, as given, below the destination directory
    /// (so same-named files from different directories do not collide).
    #[arg(short = 'R', long)]
    pub relative: bool,
    /// Leave out files and directories matching GLOB (a name, or a path
    /// below the source if it holds a '/'); repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Only move files matching GLOB (as for --exclude); repeatable.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Print what would be transferred, and do nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Refuse batches of more entries than N (files, directories and what
    /// is skipped), so an endless tree cannot exhaust memory.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_entries)]
    pub max_files: usize,
    /// Record the transfer rate over time into FILE (CSV).
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Skip a file the destination already holds only when their BLAKE3
    /// hashes match, rather than their sizes and modification times.
    #[arg(long)]
    pub checksum: bool,
    /// Send every file, even those the destination already holds.
    #[arg(long)]
    pub ignore_times: bool,
    /// Times to reconnect, with growing pauses, when the connection is lost
    /// in the middle of a batch; unfinished files then resume.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RETRIES)]
    pub retries: u32,
}

impl TransferArgs {
    /// The library's options, with the host alias's defaults under the
    /// flags.
    pub(crate) fn options(&self, defaults: &HostDefaults) -> anyhow::Result<TransferOptions> {
        let jobs = self
            .jobs
            .or(defaults.jobs)
            .map_or(DEFAULT_JOBS, usize::from);
        Ok(TransferOptions {
            jobs,
            in_flight_bytes: ferry_client::transfer::IN_FLIGHT_BYTES,
            recursive: self.recursive,
            preserve_mode: self.preserve || defaults.preserve,
            relative: self.relative,
            filter: Filter::new(&self.exclude, &self.include)
                .map_err(|e| UsageError(e.to_string()))?,
            limits: Limits {
                max_entries: self.max_files,
                ..Limits::default()
            },
            checksum: self.checksum,
            ignore_times: self.ignore_times,
            retries: self.retries,
            unseen: !self.dry_run,
        })
    }
}

/// Whether a batch of `sources` to a destination that is not an existing
/// directory (and does not end in `/`) gives the one source a new name:
/// one operand without wildcards, as with cp and scp.
pub(crate) fn renames(sources: &[String]) -> bool {
    sources.len() == 1 && !glob::is_glob(&sources[0])
}

/// A transfer stopped by Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub(crate) struct Cancelled;

/// Which way a batch goes, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    Down,
    Up,
}

impl Way {
    fn verb(self) -> &'static str {
        match self {
            Way::Down => "downloaded",
            Way::Up => "uploaded",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Way::Down => "download",
            Way::Up => "upload",
        }
    }
}

/// Reports what planning found and left out; `false` when the batch must
/// not run (its sources collide, or it hit a limit). The plan's own errors
/// otherwise stay with it, to be reported with the batch's other failures.
fn report_plan(out: &Output, plan: &Plan) -> bool {
    for skipped in &plan.skipped {
        out.skipped(skipped);
    }
    if !plan.refused() {
        return true;
    }
    for (name, e) in &plan.errors {
        out.failure(name, e);
    }
    for c in &plan.collisions {
        let name = match c {
            ferry_client::RequestError::Collision { dest, .. } => dest.clone(),
            other => other.to_string(),
        };
        out.failure(&name, c);
    }
    false
}

/// Prints what a plan would do, for `--dry-run`; `Ok(false)` when part of
/// it could not even be planned.
fn dry_run(out: &Output, plan: &Plan, way: Way) -> anyhow::Result<bool> {
    for (name, e) in &plan.errors {
        out.failure(name, e);
    }
    let bytes: u64 = plan.files.iter().map(|f| f.size).sum();
    for job in &plan.files {
        let (from, to) = match way {
            Way::Down => (job.remote.to_string(), job.local.display().to_string()),
            Way::Up => (job.local.display().to_string(), job.remote.to_string()),
        };
        if out.json {
            print_json(&json!({
                "event": "dry_run",
                "action": way.action(),
                "from": from,
                "to": to,
                "size": (!job.streamed).then_some(job.size),
            }))?;
        } else if !out.quiet {
            let size = if job.streamed {
                "size unknown".to_owned()
            } else {
                human_bytes(job.size)
            };
            println!(
                "would {} {} -> {} ({size})",
                way.action(),
                escape(&from),
                escape(&to)
            );
        }
    }
    if out.json {
        print_json(&json!({
            "event": "summary",
            "dry_run": true,
            "files": plan.files.len(),
            "bytes": bytes,
            "failed": plan.errors.len(),
        }))?;
    } else if !out.quiet {
        println!(
            "dry run: would {} {} file{}, {}; nothing was transferred",
            way.action(),
            plan.files.len(),
            if plan.files.len() == 1 { "" } else { "s" },
            human_bytes(bytes)
        );
    }
    Ok(plan.errors.is_empty())
}

/// Reports a plan's warnings, then dry-runs it or runs it.
pub(crate) async fn execute(
    client: &Client,
    out: &Output,
    args: &TransferArgs,
    opts: &TransferOptions,
    plan: Plan,
    way: Way,
) -> anyhow::Result<bool> {
    if !report_plan(out, &plan) {
        return Ok(false);
    }
    if args.dry_run {
        return dry_run(out, &plan, way);
    }
    run(client, out, args, way.verb(), |progress| async move {
        match way {
            Way::Down => client.run_get(plan, opts, progress).await,
            Way::Up => client.run_put(plan, opts, progress).await,
        }
    })
    .await
}

/// Runs a batch with progress shown as `out` says, until it ends or Ctrl-C;
/// `Ok(false)` when any file failed (each failure is reported).
pub(crate) async fn run<F, Fut>(
    client: &Client,
    out: &Output,
    args: &TransferArgs,
    verb: &str,
    batch: F,
) -> anyhow::Result<bool>
where
    F: FnOnce(Arc<dyn Observer>) -> Fut,
    Fut: std::future::Future<Output = Summary>,
{
    let progress = Progress::new(Mode::choose(out.quiet, out.json), *out);
    let stats = match &args.stats {
        Some(path) => Some(
            StatsRecorder::start(path, progress.clone(), client.clone())
                .with_context(|| format!("cannot write stats to {}", path.display()))?,
        ),
        None => None,
    };
    // Ctrl-C cancels the batch: dropping it aborts every transfer, which
    // resets their streams (what arrived stays in the partial files, for a
    // resume).
    let summary = tokio::select! {
        summary = batch(progress.clone()) => summary,
        _ = tokio::signal::ctrl_c() => {
            progress.abandon();
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
