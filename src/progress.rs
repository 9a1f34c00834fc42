//! Transfer progress on the terminal (the only place indicatif is used), or
//! as plain lines, JSON lines or nothing; and the `--stats` CSV recorder.
//!
//! The client library reports events through [`Observer`]; this turns them
//! into one bar per file in flight (a handful at most) above a total bar, or
//! one line per finished file when the output is not a terminal.

use std::{
    collections::HashMap,
    io::{IsTerminal, Write},
    path::Path,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use ferry_client::{transfer::Observer, Client, Moved, RequestError, Summary};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::output::{escape, human_bytes, human_rate, print_json, Output};

/// Per-file bars shown at once; further files in flight count in the total.
const MAX_BARS: usize = 5;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// indicatif bars on the terminal.
    Bars,
    /// One line per finished file, then a summary.
    Lines,
    /// One JSON object per finished file, then a summary object.
    Json,
    /// Only errors.
    Quiet,
}

impl Mode {
    /// Bars only when both stdout and stderr are terminals.
    pub(crate) fn choose(quiet: bool, json: bool) -> Mode {
        if json {
            Mode::Json
        } else if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        }
    }
}

struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    shown: Mutex<HashMap<usize, ProgressBar>>,
}

/// Width of a file's name beside its bar; longer names are cut in the
/// middle, so that the end (the extension, the last directory) stays.
const NAME_WIDTH: usize = 40;

/// `name` in at most `width` characters, cut in the middle with `…`.
pub(crate) fn cut_middle(name: &str, width: usize) -> String {
    let count = name.chars().count();
    if count <= width || width < 5 {
        return name.to_owned();
    }
    let head = (width - 1) / 3;
    let tail = width - 1 - head;
    let mut out: String = name.chars().take(head).collect();
    out.push('…');
    out.extend(name.chars().skip(count - tail));
    out
}

/// A bar style whose byte counts and rates are ferry's own units, the
/// same as in the lines and the summary.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key(
            "done",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&human_bytes(s.pos()));
            },
        )
        .with_key(
            "size",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&human_bytes(s.len().unwrap_or(0)));
            },
        )
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&format!("{}/s", human_bytes(s.per_sec() as u64)));
            },
        )
        .progress_chars("=> ")
}

/// Collects a batch's progress and shows it.
pub(crate) struct Progress {
    mode: Mode,
    out: Output,
    abandoned: std::sync::atomic::AtomicBool,
    start: Instant,
    bytes: AtomicU64,
    in_flight: AtomicUsize,
    done: AtomicUsize,
    files: AtomicUsize,
    started: Mutex<HashMap<usize, Instant>>,
    bars: Option<Bars>,
}

impl Progress {
    /// A progress display in `mode`.
    pub(crate) fn new(mode: Mode, out: Output) -> Arc<Self> {
        let bars = (mode == Mode::Bars).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            let total = multi.add(ProgressBar::new(0));
            total.set_style(style(
                "{prefix:.bold} [{elapsed_precise}] {wide_bar:.cyan/blue} {done}/{size} {rate} ETA {eta}  {msg}",
            ));
            total.set_prefix("total");
            Bars {
                multi,
                total,
                shown: Mutex::new(HashMap::new()),
            }
        });
        Arc::new(Progress {
            mode,
            out,
            abandoned: std::sync::atomic::AtomicBool::new(false),
            start: Instant::now(),
            bytes: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            files: AtomicUsize::new(0),
            started: Mutex::new(HashMap::new()),
            bars,
        })
    }

    /// Bytes moved so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Files in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn total_message(&self) -> String {
        let more = self.in_flight().saturating_sub(MAX_BARS);
        let files = format!(
            "{}/{} files",
            self.done.load(Ordering::Relaxed),
            self.files.load(Ordering::Relaxed)
        );
        if more > 0 {
            format!("{files} (+{more} more in flight)")
        } else {
            files
        }
    }

    /// Clears the bars of a cancelled batch for good: the transfers still
    /// winding down draw nothing more, so no stale bar is left behind.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        if let Some(bars) = &self.bars {
            for bar in lock(&bars.shown).drain() {
                bar.1.finish_and_clear();
            }
            bars.total.finish_and_clear();
            let _ = bars.multi.clear();
            bars.multi.set_draw_target(ProgressDrawTarget::hidden());
        }
    }

    /// Clears the bars and prints the summary (and every failure, to stderr).
    pub(crate) fn finish(&self, summary: &Summary, verb: &str) {
        if let Some(bars) = &self.bars {
            bars.total.finish_and_clear();
            let _ = bars.multi.clear();
        }
        let secs = summary.elapsed.as_secs_f64();
        for (name, e) in &summary.failures {
            self.out.failure(name, e);
        }
        let failed = summary.failures.len();
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => drop(print_json(&json!({
                "event": "summary",
                "files": summary.files,
                "bytes": summary.bytes,
                "seconds": secs,
                "bytes_per_second": if secs > 0.0 { summary.bytes as f64 / secs } else { 0.0 },
                "skipped": summary.skipped,
                "resumed": summary.resumed,
                "restarted": summary.restarted,
                "failed": failed,
                "failures": summary.failures.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            }))),
            Mode::Bars | Mode::Lines => {
                let mut line = format!(
                    "{verb} {} file{}, {} in {secs:.2} s ({})",
                    summary.files,
                    if summary.files == 1 { "" } else { "s" },
                    human_bytes(summary.bytes),
                    human_rate(summary.bytes, secs),
                );
                if summary.skipped > 0 {
                    line.push_str(&format!("; {} skipped (already there)", summary.skipped));
                }
                if summary.resumed > 0 {
                    line.push_str(&format!("; {} resumed", summary.resumed));
                }
                if summary.restarted > 0 {
                    line.push_str(&format!(
                        "; {} started over (the partial file did not match)",
                        summary.restarted
                    ));
                }
                if failed > 0 {
                    let names: Vec<_> = summary.failures.iter().map(|(n, _)| escape(n)).collect();
                    line.push_str(&format!("; {failed} failed: {}", names.join(", ")));
                }
                println!("{line}");
            }
        }
    }
}

impl Observer for Progress {
    fn planned(&self, files: usize, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        if let Some(bars) = &self.bars {
            bars.total.set_length(bytes);
            bars.total.set_message(self.total_message());
        }
    }

    fn started(&self, id: usize, name: &str, size: u64) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        if self.abandoned.load(Ordering::SeqCst) {
            return;
        }
        if self.mode == Mode::Lines || self.mode == Mode::Json {
            lock(&self.started).insert(id, Instant::now());
        }
        if let Some(bars) = &self.bars {
            let mut shown = lock(&bars.shown);
            if shown.len() < MAX_BARS {
                let bar = bars
                    .multi
                    .insert_before(&bars.total, ProgressBar::new(size));
                bar.set_style(style(&format!(
                    "{{msg:{NAME_WIDTH}}} {{wide_bar:.green/white}} {{done:>10}}/{{size:<10}} {{rate:>12}}"
                )));
                bar.set_message(cut_middle(&escape(name), NAME_WIDTH));
                shown.insert(id, bar);
            }
            bars.total.set_message(self.total_message());
        }
    }

    fn advanced(&self, id: usize, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(bars) = &self.bars {
            bars.total.inc(bytes);
            if let Some(bar) = lock(&bars.shown).get(&id) {
                bar.inc(bytes);
            }
        }
    }

    fn sized(&self, id: usize, size: u64) {
        if let Some(bars) = &self.bars {
            bars.total.inc_length(size);
            if let Some(bar) = lock(&bars.shown).get(&id) {
                bar.set_length(size);
            }
        }
    }

    fn interrupted(&self, id: usize) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        lock(&self.started).remove(&id);
        if let Some(bars) = &self.bars {
            if let Some(bar) = lock(&bars.shown).remove(&id) {
                bar.finish_and_clear();
                bars.multi.remove(&bar);
            }
        }
    }

    fn reconnecting(&self, attempt: u32, of: u32) {
        let line =
            format!("ferry: the connection was lost; reconnecting (attempt {attempt} of {of})");
        match &self.bars {
            Some(bars) => {
                let _ = bars.multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    fn finished(&self, id: usize, name: &str, outcome: &Result<Moved, RequestError>) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(bars) = &self.bars {
            if let Some(bar) = lock(&bars.shown).remove(&id) {
                bar.finish_and_clear();
                bars.multi.remove(&bar);
            }
            if let Ok(moved) = outcome {
                // What a resume did not send again still counts as done.
                bars.total.inc(moved.resumed_from);
            }
            bars.total.set_message(self.total_message());
            return;
        }
        let Ok(moved) = outcome else { return };
        let secs = lock(&self.started)
            .remove(&id)
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        match self.mode {
            Mode::Lines if moved.skipped => println!("{}  skipped: already there", escape(name)),
            Mode::Lines => {
                let how = if moved.restarted {
                    "  (the partial file did not match the source: started over)".to_owned()
                } else if moved.resumed_from > 0 {
                    format!("  (resumed after {})", human_bytes(moved.resumed_from))
                } else {
                    String::new()
                };
                println!(
                    "{}  {}  {secs:.2} s  {}{how}",
                    escape(name),
                    human_bytes(moved.size),
                    human_rate(moved.bytes, secs)
                );
            }
            Mode::Json => drop(print_json(&json!({
                "event": "file",
                "name": name,
                "ok": true,
                "size": moved.size,
                "bytes": moved.bytes,
                "seconds": secs,
                "hash": moved.hash.map(|h| h.to_string()),
                "resumed_from": moved.resumed_from,
                "restarted": moved.restarted,
                "skipped": moved.skipped,
            }))),
            Mode::Bars | Mode::Quiet => {}
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records `seconds,bytes,rate_bps,smoothed_bps,in_flight,rtt_ms` every
/// 100 ms into `path` until the returned guard is stopped.
pub(crate) struct StatsRecorder {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl StatsRecorder {
    /// Starts recording.
    pub(crate) fn start(
        path: &Path,
        progress: Arc<Progress>,
        client: Client,
    ) -> std::io::Result<Self> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(out, "seconds,bytes,rate_bps,smoothed_bps,in_flight,rtt_ms")?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let start = progress.start;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            // A recorder held up (a loaded machine) writes one row late
            // rather than a burst of rows a few microseconds apart.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let (mut last_t, mut last_b, mut smooth) = (0.0f64, 0u64, 0.0f64);
            loop {
                let last = tokio::select! {
                    _ = tick.tick() => false,
                    _ = &mut stopped => true,
                };
                let t = start.elapsed().as_secs_f64();
                let b = progress.bytes();
                let dt = t - last_t;
                let rate = if dt > 0.0 {
                    (b - last_b) as f64 / dt
                } else {
                    0.0
                };
                smooth = if last_t == 0.0 {
                    rate
                } else {
                    0.8 * smooth + 0.2 * rate
                };
                writeln!(
                    out,
                    "{t:.3},{b},{rate:.0},{smooth:.0},{},{:.3}",
                    progress.in_flight(),
                    client.rtt().as_secs_f64() * 1e3
                )?;
                (last_t, last_b) = (t, b);
                if last {
                    return out.flush();
                }
            }
        });
        Ok(StatsRecorder { stop, task })
    }

    /// Writes the last row and closes the file.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_in_the_middle() {
        assert_eq!(cut_middle("short.txt", 40), "short.txt");
        let long = format!("/videos/{}/final-cut.mp4", "x".repeat(60));
        let cut = cut_middle(&long, 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(
            cut.starts_with("/videos/") && cut.ends_with("x/final-cut.mp4"),
            "{cut}"
        );
        assert!(cut.contains('…'));
    }
}
