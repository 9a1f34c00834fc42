//! What `get` and `put` share: their transfer options, and running a
//! planned batch with progress, the `--stats` recorder and Ctrl-C.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context as _;
use ferry_client::{
    transfer::Observer, Client, Summary, TransferOptions, DEFAULT_JOBS, DEFAULT_RETRIES,
};

use crate::{
    output::Output,
    progress::{Mode, Progress, StatsRecorder},
};

/// Options shared by get and put.
#[derive(Debug, clap::Args, Clone)]
pub(crate) struct TransferArgs {
    /// Copy directories recursively.
    #[arg(short, long)]
    pub recursive: bool,
    /// Files in flight at once at most (what they may hold in memory
    /// together is bounded too, so big files move fewer at a time).
    #[arg(short, long, default_value_t = DEFAULT_JOBS as u16, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: u16,
    /// Keep Unix permission bits (modification times are always kept).
    #[arg(short, long)]
    pub preserve: bool,
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
    /// The library's options.
    pub(crate) fn options(&self) -> TransferOptions {
        TransferOptions {
            jobs: usize::from(self.jobs),
            in_flight_bytes: ferry_client::transfer::IN_FLIGHT_BYTES,
            recursive: self.recursive,
            preserve_mode: self.preserve,
            checksum: self.checksum,
            ignore_times: self.ignore_times,
            retries: self.retries,
        }
    }
}

/// A transfer stopped by Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub(crate) struct Cancelled;

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
    let progress = Progress::new(Mode::choose(out.quiet, out.json));
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
