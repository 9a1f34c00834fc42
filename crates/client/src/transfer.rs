//! Many files at once: plan a batch (expand globs, walk directories with
//! `-r`, apply `--exclude`/`--include`, find where each file goes), then
//! move the files concurrently, each on its own stream of the one
//! connection, as many at a time as a file count and a byte budget allow,
//! skipping what the destination already holds, resuming partial files,
//! reconnecting when the connection is lost, and reporting progress as
//! events.
//!
//! Planning reads remote listings chunk by chunk and keeps only what the
//! batch needs, within [`Limits`]. Before anything moves, the plan is
//! checked for sources that would land on the same destination
//! ([`Plan::collisions`]): such a batch is refused whole, so no file is
//! ever overwritten by another of the same batch.

use std::{
    collections::{HashMap, VecDeque},
    os::unix::fs::{FileTypeExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use ferry_proto::{Entry, Kind, RemotePath, Timestamp};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use tokio::{sync::mpsc, task::JoinSet};

use crate::{
    client::Unseen,
    glob::{self, Limits, SkipReason, Skipped},
    link::Link,
    Client, Moved, RequestError, StreamMeta,
};

/// How many times a batch reconnects after losing its connection, unless
/// told otherwise.
pub const DEFAULT_RETRIES: u32 = 5;

/// Files in flight at once at most, unless told otherwise. Each file costs
/// at least one round trip, so small files need many in flight (see
/// `bench/wan.sh`). What bounds memory is [`IN_FLIGHT_BYTES`], so big files
/// do not crowd in at this count.
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

/// Remote listings read at once while walking a tree.
const LISTINGS_IN_FLIGHT: usize = 16;

/// How to transfer.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files in flight at once at most (at least 1).
    pub jobs: usize,
    /// What the files in flight may cost together (see [`IN_FLIGHT_BYTES`]).
    pub in_flight_bytes: u64,
    /// Descend into directories.
    pub recursive: bool,
    /// Keep Unix permission bits exactly (modification times are always
    /// kept; without this a new file gets the source's bits less the
    /// umask).
    pub preserve_mode: bool,
    /// Keep each source's path, as given, below the destination directory
    /// (`-R`), rather than only its name.
    pub relative: bool,
    /// What to leave out.
    pub filter: Filter,
    /// How big a batch may grow.
    pub limits: Limits,
    /// Decide that a destination already holds a file by comparing BLAKE3
    /// hashes instead of sizes and modification times.
    pub checksum: bool,
    /// Send every file, even one the destination already holds.
    pub ignore_times: bool,
    /// How many times to reconnect when the connection is lost mid-batch.
    pub retries: u32,
    /// Download a file named on its own without asking the server about it
    /// first (its size and time come with the download). Off for dry runs,
    /// which report sizes before anything moves.
    pub unseen: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            jobs: DEFAULT_JOBS,
            in_flight_bytes: IN_FLIGHT_BYTES,
            recursive: false,
            preserve_mode: false,
            relative: false,
            filter: Filter::default(),
            limits: Limits::default(),
            checksum: false,
            ignore_times: false,
            retries: DEFAULT_RETRIES,
            unseen: false,
        }
    }
}

/// `--exclude` and `--include` patterns. A pattern without `/` is matched
/// against a name, one with `/` against the path below the source the user
/// named (a leading `/` anchors it there; `**` crosses directories). A file moves when it matches no
/// exclude and, if there are includes, at least one of them; an excluded
/// directory is not entered.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    exclude: Option<(GlobSet, GlobSet)>,
    include: Option<(GlobSet, GlobSet)>,
}

impl Filter {
    /// Compiles the patterns.
    pub fn new(exclude: &[String], include: &[String]) -> Result<Self, RequestError> {
        Ok(Filter {
            exclude: sets(exclude)?,
            include: sets(include)?,
        })
    }

    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.exclude.is_none() && self.include.is_none()
    }

    fn matches((names, paths): &(GlobSet, GlobSet), rel: &str, name: &str) -> bool {
        names.is_match(name) || paths.is_match(rel)
    }

    /// Whether a file or directory at `rel` (its path below the source,
    /// `name` for a source itself) is excluded.
    pub fn excludes(&self, rel: &str, name: &str) -> bool {
        self.exclude
            .as_ref()
            .is_some_and(|set| Self::matches(set, rel, name))
    }

    /// Whether a file at `rel` is to be moved.
    pub fn takes_file(&self, rel: &str, name: &str) -> bool {
        !self.excludes(rel, name)
            && self
                .include
                .as_ref()
                .is_none_or(|set| Self::matches(set, rel, name))
    }
}

/// Two sets: patterns for names, patterns for paths.
fn sets(patterns: &[String]) -> Result<Option<(GlobSet, GlobSet)>, RequestError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let (mut names, mut paths) = (GlobSetBuilder::new(), GlobSetBuilder::new());
    for pattern in patterns {
        let trimmed = pattern.trim_start_matches('/');
        let glob = GlobBuilder::new(trimmed)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|source| RequestError::BadPattern {
                pattern: pattern.clone(),
                source,
            })?;
        if pattern.starts_with('/') || trimmed.contains('/') {
            paths.add(glob);
        } else {
            names.add(glob);
        }
    }
    let build = |b: GlobSetBuilder| {
        b.build().map_err(|source| RequestError::BadPattern {
            pattern: patterns.join(" "),
            source,
        })
    };
    Ok(Some((build(names)?, build(paths)?)))
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
    /// A file planned without a look at it turned out to be `size` bytes.
    fn sized(&self, _id: usize, _size: u64) {}
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
    /// The source's permission bits, for the quick check with `-p`.
    pub mode: Option<u32>,
    /// For uploads: what the server holds at `remote` (surveyed before the
    /// transfer), for the quick check.
    pub dest: Option<Entry>,
    /// For uploads: the length of the server's partial file of `remote`, to
    /// resume (0: none known).
    pub partial: u64,
    /// For uploads: the local side is a FIFO or pipe, whose size nobody
    /// knows; its bytes are streamed until it ends.
    pub streamed: bool,
    /// For downloads: a file named on its own, planned without asking the
    /// server about it (a round trip saved): its size, time and bits come
    /// with the download's answer.
    pub unseen: bool,
}

/// Where a download goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalDest {
    /// Into this directory, each source under its own name.
    Into(PathBuf),
    /// The one source becomes this file (or, with `-r`, this directory).
    As(PathBuf),
}

/// Where an upload goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteDest {
    /// Into this existing directory, each source under its own name.
    Into(RemotePath),
    /// The one source becomes this file (or, with `-r`, this directory).
    As(RemotePath),
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
    /// What was left out on the way (links, devices, bad names), to report.
    pub skipped: Vec<Skipped>,
    /// Sources that would land on the same destination: when there are
    /// any, running the plan moves nothing.
    pub collisions: Vec<RequestError>,
}

impl Plan {
    /// Whether running the plan would move nothing: its sources collide,
    /// or it hit a limit (so it is not the batch that was asked for).
    pub fn refused(&self) -> bool {
        !self.collisions.is_empty()
            || self.errors.iter().any(|(_, e)| {
                matches!(
                    e,
                    RequestError::TooMany { .. } | RequestError::TooDeep { .. }
                )
            })
    }
}

impl Plan {
    /// The matches of `pattern`; when there are none, or expanding failed,
    /// records why and returns `None`.
    fn matches<T>(
        &mut self,
        pattern: &str,
        expanded: Result<glob::Expansion<T>, RequestError>,
    ) -> Option<Vec<T>> {
        match expanded {
            Ok(e) if e.matches.is_empty() => {
                self.skipped.extend(e.skipped);
                let why = RequestError::NoMatch(pattern.to_owned());
                self.errors.push((pattern.to_owned(), why));
                None
            }
            Ok(e) => {
                self.skipped.extend(e.skipped);
                Some(e.matches)
            }
            Err(e) => {
                self.errors.push((pattern.to_owned(), e));
                None
            }
        }
    }

    /// Entries planned so far, for the limit.
    fn size(&self) -> usize {
        self.files.len() + self.local_dirs.len() + self.remote_dirs.len() + self.skipped.len()
    }

    /// Whether the plan is over `limits`; records it (once) if so.
    fn full(&mut self, what: &str, limits: Limits) -> bool {
        if self.size() <= limits.max_entries {
            return false;
        }
        let over = |e: &(String, RequestError)| matches!(e.1, RequestError::TooMany { .. });
        if !self.errors.iter().any(over) {
            self.errors.push((
                what.to_owned(),
                RequestError::TooMany {
                    what: what.to_owned(),
                    limit: limits.max_entries,
                },
            ));
        }
        true
    }

    /// Drops jobs that repeat another (same source, same destination) and
    /// records sources that would share a destination.
    fn check(&mut self, down: bool) {
        let key = |f: &FileJob| -> String {
            if down {
                f.local.display().to_string()
            } else {
                f.remote.to_string()
            }
        };
        let mut seen: HashMap<String, String> = HashMap::with_capacity(self.files.len());
        let mut files = Vec::with_capacity(self.files.len());
        for job in std::mem::take(&mut self.files) {
            let source = if down {
                job.remote.to_string()
            } else {
                job.local.display().to_string()
            };
            match seen.get(&key(&job)) {
                Some(first) if *first == source => {}
                Some(first) => self.collisions.push(RequestError::Collision {
                    dest: key(&job),
                    first: first.clone(),
                    second: source,
                }),
                None => {
                    seen.insert(key(&job), source);
                    files.push(job);
                }
            }
        }
        // A file where a directory of the batch goes.
        let dirs: Vec<String> = if down {
            self.local_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect()
        } else {
            self.remote_dirs.iter().map(ToString::to_string).collect()
        };
        for dir in dirs {
            if let Some(first) = seen.get(&dir) {
                self.collisions.push(RequestError::Collision {
                    dest: dir.clone(),
                    first: first.clone(),
                    second: format!("a directory of the batch ({dir})"),
                });
            }
        }
        self.files = files;
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

/// A directory being walked.
struct Walked {
    remote: RemotePath,
    local: PathBuf,
    /// Its path below the source the user named.
    rel: String,
    depth: usize,
}

/// What a listing task reports.
enum Listed {
    Chunk(usize, Vec<Entry>),
    Done(usize, Result<(), RequestError>),
}

/// `rel` joined with `name`.
fn below(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

impl Client {
    /// Plans downloading `patterns` (resolved against `cwd`) to `dest`.
    pub async fn plan_get(
        &self,
        cwd: &RemotePath,
        patterns: &[String],
        dest: &LocalDest,
        opts: &Options,
    ) -> Plan {
        let mut plan = Plan::default();
        for pattern in patterns {
            let expanded = glob::expand_remote(self, cwd, pattern, opts.limits).await;
            let Some(matches) = plan.matches(pattern, expanded) else {
                continue;
            };
            let anchor = if pattern.starts_with('/') {
                RemotePath::root()
            } else {
                cwd.clone()
            };
            for m in matches {
                if plan.full(pattern, opts.limits) {
                    break;
                }
                let name = m.path.file_name().unwrap_or("root").to_owned();
                if opts.filter.excludes(&name, &name) {
                    continue;
                }
                // A file named on its own needs no look first: the download's
                // answer says what it is (a directory is refused then).
                let unseen = opts.unseen
                    && m.entry.is_none()
                    && !opts.recursive
                    && !opts.checksum
                    && !m.path.is_root();
                let entry = match m.entry {
                    Some(e) if e.kind != Kind::Symlink => e,
                    _ if unseen => Entry {
                        name: name.clone(),
                        kind: Kind::File,
                        size: 0,
                        mtime: None,
                        mode: 0,
                        target: None,
                    },
                    _ => match self.stat(&m.path).await {
                        Ok(e) => e,
                        Err(e) => {
                            plan.errors.push((m.path.to_string(), e));
                            continue;
                        }
                    },
                };
                let local = match dest {
                    LocalDest::As(path) => path.clone(),
                    LocalDest::Into(dir) if opts.relative => {
                        let mut local = dir.clone();
                        let skip = anchor.components().count();
                        if m.path.starts_with(&anchor) {
                            local.extend(m.path.components().skip(skip));
                        } else {
                            local.extend(m.path.components());
                        }
                        if let Some(parent) = local.parent() {
                            if plan.local_dirs.last().map(PathBuf::as_path) != Some(parent) {
                                plan.local_dirs.push(parent.to_owned());
                            }
                        }
                        local
                    }
                    // The root has no name: its entries go straight in.
                    LocalDest::Into(dir) if m.path.is_root() => dir.clone(),
                    LocalDest::Into(dir) => dir.join(&name),
                };
                match entry.kind {
                    Kind::Dir if opts.recursive => {
                        self.walk_remote(&m.path, &local, &mut plan, opts).await;
                    }
                    Kind::Dir => plan.errors.push((
                        m.path.to_string(),
                        RequestError::IsADirectory(m.path.to_string()),
                    )),
                    Kind::Symlink => plan.skipped.push(Skipped {
                        path: m.path.to_string(),
                        reason: SkipReason::Symlink {
                            target: entry.target,
                        },
                    }),
                    Kind::Other => plan.errors.push((
                        m.path.to_string(),
                        RequestError::NotRegular(m.path.to_string()),
                    )),
                    Kind::File => {
                        if opts.filter.takes_file(&name, &name) {
                            plan.files.push(FileJob {
                                display: m.path.to_string(),
                                remote: m.path,
                                local,
                                size: entry.size,
                                mtime: entry.mtime,
                                mode: Some(entry.mode),
                                dest: None,
                                partial: 0,
                                streamed: false,
                                unseen,
                            });
                        }
                    }
                }
            }
        }
        plan.check(true);
        plan
    }

    /// Adds the tree under remote `dir` to `plan`, mirrored at `local`.
    /// Listings are read chunk by chunk, a few directories at a time.
    async fn walk_remote(&self, dir: &RemotePath, local: &Path, plan: &mut Plan, opts: &Options) {
        let limits = opts.limits;
        let what = dir.to_string();
        let mut dirs = vec![Walked {
            remote: dir.clone(),
            local: local.to_owned(),
            rel: String::new(),
            depth: 0,
        }];
        let mut queue = VecDeque::from([0usize]);
        let (tx, mut rx) = mpsc::channel::<Listed>(LISTINGS_IN_FLIGHT * 2);
        let mut tasks = JoinSet::new();
        let mut running = 0usize;
        loop {
            while running < LISTINGS_IN_FLIGHT {
                let Some(index) = queue.pop_front() else {
                    break;
                };
                plan.local_dirs.push(dirs[index].local.clone());
                let client = self.clone();
                let remote = dirs[index].remote.clone();
                let tx = tx.clone();
                tasks.spawn(async move {
                    let listed = async {
                        let mut listing = client.listing(&remote).await?;
                        while let Some(chunk) = listing.next_chunk().await? {
                            if tx.send(Listed::Chunk(index, chunk)).await.is_err() {
                                break;
                            }
                        }
                        Ok(())
                    };
                    let result = listed.await;
                    let _ = tx.send(Listed::Done(index, result)).await;
                });
                running += 1;
            }
            if running == 0 {
                break;
            }
            let Some(message) = rx.recv().await else {
                break;
            };
            match message {
                Listed::Done(index, result) => {
                    running -= 1;
                    if let Err(e) = result {
                        plan.errors.push((dirs[index].remote.to_string(), e));
                    }
                }
                Listed::Chunk(index, entries) => {
                    for entry in entries {
                        let parent = &dirs[index];
                        let child = match parent.remote.join(&entry.name) {
                            Ok(child) => child,
                            Err(e) => {
                                plan.skipped.push(Skipped {
                                    path: glob::bad_name_path(
                                        &parent.remote.to_string(),
                                        &entry.name,
                                    ),
                                    reason: SkipReason::BadName(e),
                                });
                                continue;
                            }
                        };
                        let rel = below(&parent.rel, &entry.name);
                        if opts.filter.excludes(&rel, &entry.name) {
                            continue;
                        }
                        let child_local = parent.local.join(&entry.name);
                        let depth = parent.depth + 1;
                        match entry.kind {
                            Kind::Dir if depth > limits.max_depth => {
                                plan.errors.push((
                                    child.to_string(),
                                    RequestError::TooDeep {
                                        path: child.to_string(),
                                        limit: limits.max_depth,
                                    },
                                ));
                            }
                            Kind::Dir => {
                                queue.push_back(dirs.len());
                                dirs.push(Walked {
                                    remote: child,
                                    local: child_local,
                                    rel,
                                    depth,
                                });
                            }
                            Kind::File => {
                                if opts.filter.takes_file(&rel, &entry.name) {
                                    plan.files.push(FileJob {
                                        display: child.to_string(),
                                        remote: child,
                                        local: child_local,
                                        size: entry.size,
                                        mtime: entry.mtime,
                                        mode: Some(entry.mode),
                                        dest: None,
                                        partial: 0,
                                        streamed: false,
                                        unseen: false,
                                    });
                                }
                            }
                            // Links are not followed in recursive copies
                            // (a link may lead in a loop); other kinds have
                            // no bytes to copy. Both are reported.
                            Kind::Symlink => plan.skipped.push(Skipped {
                                path: child.to_string(),
                                reason: SkipReason::Symlink {
                                    target: entry.target,
                                },
                            }),
                            Kind::Other => plan.skipped.push(Skipped {
                                path: child.to_string(),
                                reason: SkipReason::NotRegular,
                            }),
                        }
                    }
                    if plan.full(&what, limits) {
                        tasks.abort_all();
                        return;
                    }
                }
            }
        }
        // Each level's files in order, whatever order the listings came in.
        plan.files.sort_by(|a, b| a.remote.cmp(&b.remote));
    }

    /// Plans uploading the local `patterns` to `dest`.
    pub async fn plan_put(&self, patterns: &[String], dest: &RemoteDest, opts: &Options) -> Plan {
        let patterns = patterns.to_vec();
        let dest = dest.clone();
        let opts = opts.clone();
        tokio::task::spawn_blocking(move || {
            let mut plan = plan_put_local(&patterns, &dest, &opts);
            plan.check(false);
            plan
        })
        .await
        .unwrap_or_else(|e| Plan {
            errors: vec![("upload".into(), RequestError::internal(e))],
            ..Plan::default()
        })
    }

    /// Moves the files of a download plan; a [refused](Plan::refused) plan
    /// moves nothing.
    pub async fn run_get(
        &self,
        plan: Plan,
        opts: &Options,
        observer: Arc<dyn Observer>,
    ) -> Summary {
        if plan.refused() {
            return refused(plan.errors, plan.collisions);
        }
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

    /// Moves the files of an upload plan; a [refused](Plan::refused) plan
    /// moves nothing.
    pub async fn run_put(
        &self,
        plan: Plan,
        opts: &Options,
        observer: Arc<dyn Observer>,
    ) -> Summary {
        if plan.refused() {
            return refused(plan.errors, plan.collisions);
        }
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
                    let sized = |size: u64| observer.sized(id, size);
                    let moved = client
                        .move_one(&mut job, direction, &opts, losses > 0, &sized, &progress)
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
        sized: &(dyn Fn(u64) + Sync),
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, RequestError> {
        if job.unseen {
            // Nothing is known of it yet: the answer decides.
            let unseen = Unseen {
                sized,
                quick_check: (!opts.ignore_times).then_some(opts.preserve_mode),
            };
            let moved = self
                .download_with(
                    &job.remote,
                    &job.local,
                    opts.preserve_mode,
                    Some(unseen),
                    progress,
                )
                .await;
            return match moved {
                Err(RequestError::Remote(e)) if e.code == ferry_proto::ErrorCode::IsADirectory => {
                    Err(RequestError::IsADirectory(job.display.clone()))
                }
                other => other,
            };
        }
        if again && matches!(direction, Direction::Up) {
            // Cut off before: the server now holds part of it.
            self.survey(std::slice::from_mut(job), 1).await;
        }
        // A pipe's bytes are known only as they come: nothing to compare.
        if !opts.ignore_times && !job.streamed {
            let there = match direction {
                Direction::Down => self.already_local(job, opts).await?,
                Direction::Up => self.already_remote(job, opts).await?,
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
            Direction::Up if job.streamed => {
                self.upload_fifo(&job.local, &job.remote, preserve, progress)
                    .await
            }
            Direction::Up => {
                self.upload(&job.local, &job.remote, preserve, job.partial, progress)
                    .await
            }
        }
    }

    /// Uploads a FIFO or pipe, of unknown size, until it ends; `-` is
    /// stdin, which gives a new file 0666 less the umask, as a shell's `>`
    /// would.
    async fn upload_fifo(
        &self,
        local: &Path,
        remote: &RemotePath,
        preserve: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, RequestError> {
        if local == Path::new("-") {
            let meta = StreamMeta {
                mtime: None,
                mode: None,
                new_mode: Some(0o666),
            };
            let mut stdin = tokio::io::stdin();
            return self
                .upload_unsized(&mut stdin, local, remote, meta, progress)
                .await;
        }
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(RequestError::local(local))?;
        let mode = file
            .metadata()
            .await
            .map_err(RequestError::local(local))?
            .permissions()
            .mode()
            & 0o777;
        let meta = StreamMeta {
            mtime: None,
            mode: preserve.then_some(mode),
            new_mode: (!preserve).then_some(mode),
        };
        self.upload_unsized(&mut file, local, remote, meta, progress)
            .await
    }
}

/// The summary of a refused batch: nothing moved.
fn refused(mut failures: Vec<(String, RequestError)>, collisions: Vec<RequestError>) -> Summary {
    for c in collisions {
        let name = match &c {
            RequestError::Collision { dest, .. } => dest.clone(),
            other => other.to_string(),
        };
        failures.push((name, c));
    }
    Summary {
        failures,
        ..Summary::default()
    }
}

fn plan_put_local(patterns: &[String], dest: &RemoteDest, opts: &Options) -> Plan {
    let mut plan = Plan::default();
    for pattern in patterns {
        let expanded = glob::expand_local(pattern, opts.limits).map(|matches| glob::Expansion {
            matches,
            skipped: Vec::new(),
        });
        let Some(matches) = plan.matches(pattern, expanded) else {
            continue;
        };
        for path in matches {
            if plan.full(pattern, opts.limits) {
                break;
            }
            let shown = path.display().to_string();
            let meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    plan.errors.push((shown, RequestError::local(&path)(e)));
                    continue;
                }
            };
            let Some(name) = local_name(&path) else {
                plan.errors
                    .push((shown, RequestError::Unnameable(path.clone())));
                continue;
            };
            if opts.filter.excludes(&name, &name) {
                continue;
            }
            let remote = match dest {
                RemoteDest::As(remote) => Some(remote.clone()),
                RemoteDest::Into(dir) if opts.relative => {
                    let remote = relative_remote(dir, &path);
                    if let Some(parent) = remote.as_ref().and_then(RemotePath::parent) {
                        if parent != *dir && plan.remote_dirs.last() != Some(&parent) {
                            plan.remote_dirs.push(parent);
                        }
                    }
                    remote
                }
                RemoteDest::Into(dir) => dir.join(&name).ok(),
            };
            let Some(remote) = remote else {
                plan.errors
                    .push((shown, RequestError::Unnameable(path.clone())));
                continue;
            };
            let kind = meta.file_type();
            if kind.is_dir() {
                if opts.recursive {
                    walk_local(&path, &remote, "", 0, &mut plan, opts);
                } else {
                    plan.errors
                        .push((shown.clone(), RequestError::IsADirectory(shown)));
                }
            } else if kind.is_file() || kind.is_fifo() {
                if opts.filter.takes_file(&name, &name) {
                    plan.files.push(FileJob {
                        display: shown,
                        remote,
                        local: path,
                        size: if kind.is_file() { meta.len() } else { 0 },
                        mtime: meta.modified().ok().and_then(Timestamp::from_system),
                        mode: Some(meta.permissions().mode()),
                        dest: None,
                        partial: 0,
                        streamed: kind.is_fifo(),
                        unseen: false,
                    });
                }
            } else {
                plan.errors
                    .push((shown.clone(), RequestError::NotRegular(shown)));
            }
        }
    }
    plan
}

/// The name a local path goes by on the server: its file name, or for `.`
/// and `..` the directory's real name.
fn local_name(path: &Path) -> Option<String> {
    match path.file_name() {
        Some(name) => name.to_str().map(str::to_owned),
        None => std::fs::canonicalize(path)
            .ok()?
            .file_name()?
            .to_str()
            .map(str::to_owned),
    }
}

/// `-R`: the local path as given (less a leading `/`, `.` and `..`) below
/// `dir`.
fn relative_remote(dir: &RemotePath, path: &Path) -> Option<RemotePath> {
    let mut remote = dir.clone();
    for part in path.components() {
        if let std::path::Component::Normal(name) = part {
            remote = remote.join(name.to_str()?).ok()?;
        }
    }
    Some(remote)
}

fn walk_local(
    dir: &Path,
    remote: &RemotePath,
    rel: &str,
    depth: usize,
    plan: &mut Plan,
    opts: &Options,
) {
    plan.remote_dirs.push(remote.clone());
    if depth >= opts.limits.max_depth {
        plan.errors.push((
            dir.display().to_string(),
            RequestError::TooDeep {
                path: dir.display().to_string(),
                limit: opts.limits.max_depth,
            },
        ));
        return;
    }
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
        if plan.full(&dir.display().to_string(), opts.limits) {
            return;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            plan.errors.push((
                path.display().to_string(),
                RequestError::Unnameable(path.clone()),
            ));
            continue;
        };
        let child_rel = below(rel, name);
        if opts.filter.excludes(&child_rel, name) {
            continue;
        }
        let Ok(child) = remote.join(name) else {
            plan.errors.push((
                path.display().to_string(),
                RequestError::Unnameable(path.clone()),
            ));
            continue;
        };
        if kind.is_dir() {
            walk_local(&path, &child, &child_rel, depth + 1, plan, opts);
        } else if kind.is_file() {
            if opts.filter.takes_file(&child_rel, name) {
                let meta = entry.metadata().ok();
                plan.files.push(FileJob {
                    display: path.display().to_string(),
                    remote: child,
                    local: path,
                    size: meta.as_ref().map_or(0, std::fs::Metadata::len),
                    mode: meta.as_ref().map(|m| m.permissions().mode()),
                    mtime: meta
                        .and_then(|m| m.modified().ok())
                        .and_then(Timestamp::from_system),
                    dest: None,
                    partial: 0,
                    streamed: false,
                    unseen: false,
                });
            }
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&path)
                .ok()
                .map(|t| t.to_string_lossy().into_owned());
            plan.skipped.push(Skipped {
                path: path.display().to_string(),
                reason: SkipReason::Symlink { target },
            });
        } else {
            plan.skipped.push(Skipped {
                path: path.display().to_string(),
                reason: SkipReason::NotRegular,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_names_and_paths() {
        let f = Filter::new(&["*.tmp".into(), "cache/**".into(), "/build".into()], &[]).unwrap();
        assert!(f.excludes("a/b/x.tmp", "x.tmp"));
        assert!(f.excludes("cache/deep/y", "y"));
        assert!(f.excludes("build", "build"));
        assert!(!f.excludes("src/build", "build"));
        assert!(f.takes_file("src/main.rs", "main.rs"));
        let g = Filter::new(&["secret*".into()], &["*.txt".into()]).unwrap();
        assert!(g.takes_file("d/a.txt", "a.txt"));
        assert!(!g.takes_file("d/a.bin", "a.bin"));
        assert!(!g.takes_file("secret.txt", "secret.txt"));
        assert!(Filter::new(&["[".into()], &[]).is_err());
        assert!(Filter::default().is_empty());
    }

    fn job(remote: &str, local: &str) -> FileJob {
        FileJob {
            remote: RemotePath::parse(remote).unwrap(),
            local: PathBuf::from(local),
            size: 1,
            display: remote.into(),
            mtime: None,
            mode: None,
            dest: None,
            partial: 0,
            streamed: false,
            unseen: false,
        }
    }

    #[test]
    fn collisions_are_found_and_repeats_dropped() {
        let mut plan = Plan {
            files: vec![
                job("/c1/same.txt", "dl/same.txt"),
                job("/c2/same.txt", "dl/same.txt"),
                job("/a", "dl/a"),
                job("/a", "dl/a"),
            ],
            ..Plan::default()
        };
        plan.check(true);
        assert_eq!(plan.files.len(), 2);
        assert_eq!(plan.collisions.len(), 1);
        assert_eq!(
            plan.collisions[0].to_string(),
            "/c1/same.txt and /c2/same.txt would both be written to dl/same.txt"
        );
    }
}
