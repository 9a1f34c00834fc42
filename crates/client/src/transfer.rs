//! Many files at once: plan a batch (expand globs, walk directories with
//! `-r`), then move the files concurrently, each on its own stream of the
//! one connection, as many at a time as a file count and a byte budget
//! allow, reporting progress as events.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use ferry_proto::{Entry, Kind, RemotePath, Timestamp};
use tokio::task::JoinSet;

use crate::{glob, link::Link, Client, Moved, RequestError};

/// How many times a batch reconnects after losing its connection, unless
/// told otherwise.
pub const DEFAULT_RETRIES: u32 = 5;

/// Files in flight at once at most, unless told otherwise. Each file costs
/// at least one round trip, so small files need many in flight: 5000 files
/// of 1-4 KiB through a 50 ms link take about 8.7 s with 32 in flight and
/// about 2 s with 256 (`bench/wan.sh`). What bounds memory is
/// [`IN_FLIGHT_BYTES`], so big files do not crowd in at this count.
pub const DEFAULT_JOBS: usize = 256;

/// What the files in flight may cost together, in bytes of the buffers they
/// hold: a file counts as its size, up to two chunks (what a sender reads
/// ahead), plus `FILE_COST`. 32 MiB lets 32 big files move at once (on
/// loopback, more did not move more) while hundreds of small ones do.
pub const IN_FLIGHT_BYTES: u64 = 32 << 20;

/// What a file in flight costs besides its bytes: a stream's state and
/// buffers.
const FILE_COST: u64 = 16 << 10;

/// What `job` counts against [`IN_FLIGHT_BYTES`].
fn cost(job: &FileJob) -> u64 {
    job.size.min(2 * ferry_net::CHUNK_SIZE as u64) + FILE_COST
}

/// How to transfer.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files in flight at once at most (at least 1).
    pub jobs: usize,
    /// What the files in flight may cost together (see [`IN_FLIGHT_BYTES`]).
    pub in_flight_bytes: u64,
    /// Descend into directories.
    pub recursive: bool,
    /// Keep Unix permission bits (modification times are always kept).
    pub preserve_mode: bool,
    /// Decide that a destination already holds a file by comparing BLAKE3
    /// hashes instead of sizes and modification times.
    pub checksum: bool,
    /// Send every file, even one the destination already holds.
    pub ignore_times: bool,
    /// How many times to reconnect when the connection is lost mid-batch.
    pub retries: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: DEFAULT_JOBS,
            in_flight_bytes: IN_FLIGHT_BYTES,
            recursive: false,
            preserve_mode: false,
            checksum: false,
            ignore_times: false,
            retries: DEFAULT_RETRIES,
        }
    }
}

/// Progress events of a batch. Called from many tasks at once; keep them
/// cheap. `id` numbers the files of the batch from 0.
pub trait Observer: Send + Sync {
    /// The batch is planned: this many files and bytes will move.
    fn planned(&self, _files: usize, _bytes: u64) {}
    /// A file started.
    fn started(&self, _id: usize, _name: &str, _size: u64) {}
    /// More bytes of a file moved.
    fn advanced(&self, _id: usize, _bytes: u64) {}
    /// A file is done (moved, resumed or skipped), or failed.
    fn finished(&self, _id: usize, _name: &str, _outcome: &Result<Moved, RequestError>) {}
    /// A file was cut off by the loss of the connection; it will start
    /// again (resuming) once the batch has reconnected.
    fn interrupted(&self, _id: usize) {}
    /// The connection was lost; this is attempt `attempt` of `of` to make
    /// it again.
    fn reconnecting(&self, _attempt: u32, _of: u32) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Silent;
impl Observer for Silent {}

/// One file to move.
#[derive(Debug, Clone)]
pub struct FileJob {
    /// The remote side.
    pub remote: RemotePath,
    /// The local side.
    pub local: PathBuf,
    /// Expected size (0 when unknown).
    pub size: u64,
    /// How to show it: the path as the user will recognize it.
    pub display: String,
    /// The source's modification time, for the quick check.
    pub mtime: Option<Timestamp>,
    /// For uploads: what the server holds at `remote` (surveyed before the
    /// transfer), for the quick check.
    pub dest: Option<Entry>,
    /// For uploads: the length of the server's partial file of `remote`, to
    /// resume (0: none known).
    pub partial: u64,
}

/// A planned batch.
#[derive(Debug, Default)]
pub struct Plan {
    /// Directories to create first, parents before children.
    pub local_dirs: Vec<PathBuf>,
    /// Remote directories to create first, parents before children.
    pub remote_dirs: Vec<RemotePath>,
    /// The files.
    pub files: Vec<FileJob>,
    /// What could not even be planned, by the name the user gave.
    pub errors: Vec<(String, RequestError)>,
}

impl Plan {
    /// The matches of `pattern`; when there are none, or expanding failed,
    /// records why and returns `None`.
    fn matches<T>(
        &mut self,
        pattern: &str,
        expanded: Result<Vec<T>, RequestError>,
    ) -> Option<Vec<T>> {
        match expanded {
            Ok(m) if m.is_empty() => {
                let why = RequestError::NoMatch(pattern.to_owned());
                self.errors.push((pattern.to_owned(), why));
                None
            }
            Ok(m) => Some(m),
            Err(e) => {
                self.errors.push((pattern.to_owned(), e));
                None
            }
        }
    }
}

/// Which way a batch moves files.
#[derive(Debug, Clone, Copy)]
enum Direction {
    /// Server to local files.
    Down,
    /// Local files to the server.
    Up,
}

/// The result of a batch.
#[derive(Debug, Default)]
pub struct Summary {
    /// Files that arrived whole (resumed ones included).
    pub files: usize,
    /// Bytes that crossed the network.
    pub bytes: u64,
    /// Files that went on from a partial file, sending only what was
    /// missing.
    pub resumed: usize,
    /// Files whose partial file was not a prefix of the source, so they
    /// started over.
    pub restarted: usize,
    /// Files the destination already held, not sent.
    pub skipped: usize,
    /// Wall time of the transfers.
    pub elapsed: Duration,
    /// What failed, by name, with why.
    pub failures: Vec<(String, RequestError)>,
}

impl Summary {
    /// Whether everything succeeded.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

impl Client {
    /// Plans downloading `patterns` (resolved against `cwd`) into the local
    /// directory `dest`.
    pub async fn plan_get(
        &self,
        cwd: &RemotePath,
        patterns: &[String],
        dest: &Path,
        opts: &Options,
    ) -> Plan {
        let mut plan = Plan::default();
        for pattern in patterns {
            let expanded = glob::expand_remote(self, cwd, pattern).await;
            let Some(matches) = plan.matches(pattern, expanded) else {
                continue;
            };
            for m in matches {
                let entry = match m.entry {
                    Some(e) if e.kind != Kind::Symlink => e,
                    _ => match self.stat(&m.path).await {
                        Ok(e) => e,
                        Err(e) => {
                            plan.errors.push((m.path.to_string(), e));
                            continue;
                        }
                    },
                };
                let name = m.path.file_name().unwrap_or("root").to_owned();
                let local = dest.join(&name);
                match entry.kind {
                    Kind::Dir if opts.recursive => {
                        self.walk_remote(&m.path, &local, &mut plan).await;
                    }
                    Kind::Dir => plan.errors.push((
                        m.path.to_string(),
                        RequestError::IsADirectory(m.path.to_string()),
                    )),
                    _ => plan.files.push(FileJob {
                        display: m.path.to_string(),
                        remote: m.path,
                        local,
                        size: entry.size,
                        mtime: entry.mtime,
                        dest: None,
                        partial: 0,
                    }),
                }
            }
        }
        plan
    }

    /// Adds the tree under remote `dir` to `plan`, mirrored at `local`.
    /// Each level's directories are listed concurrently.
    async fn walk_remote(&self, dir: &RemotePath, local: &Path, plan: &mut Plan) {
        let mut level = vec![(dir.clone(), local.to_owned())];
        while !level.is_empty() {
            let mut listings = JoinSet::new();
            for (index, (remote, _)) in level.iter().enumerate() {
                let client = self.clone();
                let remote = remote.clone();
                listings.spawn(async move { (index, client.list(&remote).await) });
            }
            let mut results: Vec<_> = listings.join_all().await;
            results.sort_by_key(|(index, _)| *index);
            let mut next = Vec::new();
            for (index, listing) in results {
                let (remote, local) = &level[index];
                plan.local_dirs.push(local.clone());
                let mut entries = match listing {
                    Ok(entries) => entries,
                    Err(e) => {
                        plan.errors.push((remote.to_string(), e));
                        continue;
                    }
                };
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                for entry in entries {
                    let Ok(child) = remote.join(&entry.name) else {
                        continue;
                    };
                    let child_local = local.join(&entry.name);
                    match entry.kind {
                        Kind::Dir => next.push((child, child_local)),
                        Kind::File => plan.files.push(FileJob {
                            display: child.to_string(),
                            remote: child,
                            local: child_local,
                            size: entry.size,
                            mtime: entry.mtime,
                            dest: None,
                            partial: 0,
                        }),
                        // Links are not followed in recursive copies, as
                        // with `scp -r` of a link loop; other kinds have no
                        // bytes to copy.
                        Kind::Symlink | Kind::Other => {}
                    }
                }
            }
            level = next;
        }
    }

    /// Plans uploading the local `patterns` into the remote directory `dest`.
    pub async fn plan_put(&self, patterns: &[String], dest: &RemotePath, opts: &Options) -> Plan {
        let patterns = patterns.to_vec();
        let dest = dest.clone();
        let recursive = opts.recursive;
        tokio::task::spawn_blocking(move || plan_put_local(&patterns, &dest, recursive))
            .await
            .unwrap_or_else(|e| Plan {
                errors: vec![("upload".into(), RequestError::internal(e))],
                ..Plan::default()
            })
    }

    /// Moves the files of a download plan.
    pub async fn run_get(
        &self,
        plan: Plan,
        opts: &Options,
        observer: Arc<dyn Observer>,
    ) -> Summary {
        let mut failures = plan.errors;
        // Directories first, on the blocking pool; files under one that
        // could not be made are reported with it rather than one by one.
        let dirs = plan.local_dirs;
        let failed: Vec<(PathBuf, std::io::Error)> = tokio::task::spawn_blocking(move || {
            dirs.into_iter()
                .filter_map(|dir| std::fs::create_dir_all(&dir).err().map(|e| (dir, e)))
                .collect()
        })
        .await
        .unwrap_or_default();
        let files = plan
            .files
            .into_iter()
            .filter(|f| !failed.iter().any(|(d, _)| f.local.starts_with(d)))
            .collect();
        for (dir, e) in failed {
            failures.push((dir.display().to_string(), RequestError::local(&dir)(e)));
        }
        self.run(files, failures, opts, observer, Direction::Down)
            .await
    }

    /// Moves the files of an upload plan.
    pub async fn run_put(
        &self,
        plan: Plan,
        opts: &Options,
        observer: Arc<dyn Observer>,
    ) -> Summary {
        let mut failures = plan.errors;
        let mut failed = Vec::new();
        for dir in &plan.remote_dirs {
            if let Err(e) = self.mkdir(dir, true).await {
                failed.push(dir.clone());
                failures.push((dir.to_string(), e));
            }
        }
        let mut files: Vec<FileJob> = plan
            .files
            .into_iter()
            .filter(|f| !failed.iter().any(|d| f.remote.starts_with(d)))
            .collect();
        self.survey(&mut files, opts.jobs).await;
        self.run(files, failures, opts, observer, Direction::Up)
            .await
    }

    async fn run(
        &self,
        files: Vec<FileJob>,
        mut failures: Vec<(String, RequestError)>,
        opts: &Options,
        observer: Arc<dyn Observer>,
        direction: Direction,
    ) -> Summary {
        let start = Instant::now();
        observer.planned(files.len(), files.iter().map(|f| f.size).sum());
        let jobs = opts.jobs.max(1);
        let link = Arc::new(Link::new(self.clone()));
        // Each file with how many times the connection was lost under it.
        let mut queue: VecDeque<(usize, FileJob, u32)> = files
            .into_iter()
            .enumerate()
            .map(|(id, job)| (id, job, 0))
            .collect();
        let mut tasks = JoinSet::new();
        let mut summary = Summary::default();
        let mut gave_up = false;
        let mut in_flight = 0u64;
        // At most `jobs` tasks exist at once, however long the batch, and
        // they cost at most the byte budget (but one always runs).
        loop {
            while tasks.len() < jobs && !gave_up {
                let fits = |job: &FileJob| {
                    tasks.is_empty() || in_flight + cost(job) <= opts.in_flight_bytes
                };
                if !queue.front().is_some_and(|(_, job, _)| fits(job)) {
                    break;
                }
                let Some((id, mut job, losses)) = queue.pop_front() else {
                    break;
                };
                in_flight += cost(&job);
                let (link, observer, opts) = (link.clone(), observer.clone(), opts.clone());
                tasks.spawn(async move {
                    let (client, generation) = link.get().await;
                    observer.started(id, &job.display, job.size);
                    let progress = |n: u64| observer.advanced(id, n);
                    let moved = client
                        .move_one(&mut job, direction, &opts, losses > 0, &progress)
                        .await;
                    if matches!(&moved, Err(e) if e.is_connection_lost()) {
                        observer.interrupted(id);
                    } else {
                        observer.finished(id, &job.display, &moved);
                    }
                    (id, job, losses, generation, moved)
                });
            }
            let Some(done) = tasks.join_next().await else {
                break;
            };
            let (id, job, losses, generation, moved) = match done {
                Ok(done) => done,
                Err(e) => {
                    // A panicked task: its cost can no longer be told apart,
                    // so the budget forgets all of it once nothing runs.
                    if tasks.is_empty() {
                        in_flight = 0;
                    }
                    failures.push(("transfer".into(), RequestError::internal(e)));
                    continue;
                }
            };
            in_flight = in_flight.saturating_sub(cost(&job));
            match moved {
                Ok(moved) if moved.skipped => summary.skipped += 1,
                Ok(moved) => {
                    summary.files += 1;
                    summary.bytes += moved.bytes;
                    summary.resumed += usize::from(moved.resumed_from > 0);
                    summary.restarted += usize::from(moved.restarted);
                }
                // The file goes again, resuming, once connected anew; a file
                // cut off more often than that fails, so a connection that
                // keeps dying cannot loop forever.
                Err(e) if e.is_connection_lost() && !gave_up && losses < opts.retries => {
                    let of = opts.retries;
                    let tried = |n: u32| observer.reconnecting(n, of);
                    match link.reconnect(generation, opts.retries, &tried).await {
                        Ok(()) => queue.push_front((id, job, losses + 1)),
                        Err(gone) => {
                            gave_up = true;
                            failures.push((job.display, RequestError::Reconnect(gone)));
                        }
                    }
                }
                Err(e) => failures.push((job.display, e)),
            }
        }
        // Whatever could not run for want of a connection.
        for (_, job, _) in queue {
            failures.push((job.display, RequestError::NotRun));
        }
        summary.elapsed = start.elapsed();
        summary.failures = failures;
        summary
    }

    /// One file: skipped when the destination holds it already, else moved
    /// (resuming any partial). `again` when an earlier try was cut off by
    /// the loss of the connection.
    async fn move_one(
        &self,
        job: &mut FileJob,
        direction: Direction,
        opts: &Options,
        again: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, RequestError> {
        if again && matches!(direction, Direction::Up) {
            // Cut off before: the server now holds part of it.
            self.survey(std::slice::from_mut(job), 1).await;
        }
        if !opts.ignore_times {
            let there = match direction {
                Direction::Down => self.already_local(job, opts.checksum).await?,
                Direction::Up => self.already_remote(job, opts.checksum).await?,
            };
            if there {
                return Ok(Moved::skipped(job.size));
            }
        }
        let preserve = opts.preserve_mode;
        match direction {
            Direction::Down => {
                self.download(&job.remote, &job.local, preserve, progress)
                    .await
            }
            Direction::Up => {
                self.upload(&job.local, &job.remote, preserve, job.partial, progress)
                    .await
            }
        }
    }
}

fn plan_put_local(patterns: &[String], dest: &RemotePath, recursive: bool) -> Plan {
    let mut plan = Plan::default();
    for pattern in patterns {
        let Some(matches) = plan.matches(pattern, glob::expand_local(pattern)) else {
            continue;
        };
        for path in matches {
            let meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    plan.errors
                        .push((path.display().to_string(), RequestError::local(&path)(e)));
                    continue;
                }
            };
            let Some(remote) = remote_child(dest, &path) else {
                plan.errors.push((
                    path.display().to_string(),
                    RequestError::Unnameable(path.clone()),
                ));
                continue;
            };
            if meta.is_dir() {
                if recursive {
                    walk_local(&path, &remote, &mut plan);
                } else {
                    plan.errors.push((
                        path.display().to_string(),
                        RequestError::IsADirectory(path.display().to_string()),
                    ));
                }
            } else {
                plan.files.push(FileJob {
                    display: path.display().to_string(),
                    remote,
                    local: path,
                    size: meta.len(),
                    mtime: meta.modified().ok().and_then(Timestamp::from_system),
                    dest: None,
                    partial: 0,
                });
            }
        }
    }
    plan
}

/// The remote path for local `path` inside `dest`: `dest/<file name>`.
fn remote_child(dest: &RemotePath, path: &Path) -> Option<RemotePath> {
    let name = match path.file_name() {
        Some(name) => name.to_str()?.to_owned(),
        // "." or "..": use the directory's real name.
        None => std::fs::canonicalize(path)
            .ok()?
            .file_name()?
            .to_str()?
            .to_owned(),
    };
    dest.join(&name).ok()
}

fn walk_local(dir: &Path, remote: &RemotePath, plan: &mut Plan) {
    plan.remote_dirs.push(remote.clone());
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            plan.errors
                .push((dir.display().to_string(), RequestError::local(dir)(e)));
            return;
        }
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let Some(child) = entry.file_name().to_str().and_then(|n| remote.join(n).ok()) else {
            plan.errors.push((
                path.display().to_string(),
                RequestError::Unnameable(path.clone()),
            ));
            continue;
        };
        if kind.is_dir() {
            walk_local(&path, &child, plan);
        } else if kind.is_file() {
            let meta = entry.metadata().ok();
            plan.files.push(FileJob {
                display: path.display().to_string(),
                remote: child,
                local: path,
                size: meta.as_ref().map_or(0, std::fs::Metadata::len),
                mtime: meta
                    .and_then(|m| m.modified().ok())
                    .and_then(Timestamp::from_system),
                dest: None,
                partial: 0,
            });
        }
    }
}
