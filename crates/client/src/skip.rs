//! What is already there: rsync's quick check (same size and modification
//! time, to the second) or, with `--checksum`, the same BLAKE3, and for
//! uploads a survey of what the server holds at each destination (the file,
//! for the check, and its partial file, to resume).

use std::{
    collections::BTreeMap, fs::File, os::unix::fs::PermissionsExt, path::PathBuf, sync::Arc,
};

use ferry_proto::{partial_name, Entry, Kind, RemotePath, Timestamp};
use tokio::task::JoinSet;

use crate::{
    transfer::{FileJob, Options},
    Client, RequestError,
};

/// Directories that receive more files than this are listed once; for
/// fewer, each file (and its partial) is looked up on its own, so that a
/// huge directory is not listed for one file.
const LIST_ABOVE: usize = 16;

/// Whether the local file `meta` already holds the remote file `theirs`, by
/// the quick check (and its permission bits, with `preserve`).
pub(crate) fn holds(meta: &std::fs::Metadata, theirs: &Entry, preserve: bool) -> bool {
    let mtime = meta.modified().ok().and_then(Timestamp::from_system);
    meta.is_file()
        && (!preserve || same_bits(Some(theirs.mode), Some(meta.permissions().mode())))
        && quick_same(theirs.size, theirs.mtime, meta.len(), mtime)
}

/// Whether two permission-bit sets agree (both known).
fn same_bits(a: Option<u32>, b: Option<u32>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a & 0o777 == b & 0o777)
}

/// rsync's quick check: the same size, and modification times that agree to
/// the second.
fn quick_same(
    size: u64,
    mtime: Option<Timestamp>,
    other_size: u64,
    other: Option<Timestamp>,
) -> bool {
    size == other_size && matches!((mtime, other), (Some(a), Some(b)) if a.secs == b.secs)
}

impl Client {
    /// For a download: whether the local destination already holds the
    /// remote file (with `-p`, with the same permission bits too).
    pub(crate) async fn already_local(
        &self,
        job: &FileJob,
        opts: &Options,
    ) -> Result<bool, RequestError> {
        let local = job.local.clone();
        let meta = tokio::task::spawn_blocking(move || std::fs::metadata(local))
            .await
            .map_err(RequestError::internal)?;
        let Ok(meta) = meta else { return Ok(false) };
        if !meta.is_file() || meta.len() != job.size {
            return Ok(false);
        }
        if opts.preserve_mode && !same_bits(job.mode, Some(meta.permissions().mode())) {
            return Ok(false);
        }
        if !opts.checksum {
            let mtime = meta.modified().ok().and_then(Timestamp::from_system);
            return Ok(quick_same(job.size, job.mtime, meta.len(), mtime));
        }
        let (theirs, ours) = tokio::join!(self.sum(&job.remote), hash_local(job.local.clone()));
        Ok(theirs?.1 == ours?)
    }

    /// For an upload: whether the server's destination (as surveyed)
    /// already holds the local file (with `-p`, with the same permission
    /// bits too).
    pub(crate) async fn already_remote(
        &self,
        job: &FileJob,
        opts: &Options,
    ) -> Result<bool, RequestError> {
        let Some(dest) = &job.dest else {
            return Ok(false);
        };
        if dest.kind != Kind::File || dest.size != job.size {
            return Ok(false);
        }
        if opts.preserve_mode && !same_bits(job.mode, Some(dest.mode)) {
            return Ok(false);
        }
        if !opts.checksum {
            return Ok(quick_same(job.size, job.mtime, dest.size, dest.mtime));
        }
        let (theirs, ours) = tokio::join!(self.sum(&job.remote), hash_local(job.local.clone()));
        Ok(theirs?.1 == ours?)
    }

    /// Fills in, for each upload, what the server holds at its destination
    /// and how long the destination's partial file is. What cannot be
    /// looked up stays unknown: the file is then simply sent whole.
    pub(crate) async fn survey(&self, files: &mut [FileJob], jobs: usize) {
        let mut by_dir: BTreeMap<RemotePath, Vec<usize>> = BTreeMap::new();
        for (i, job) in files.iter().enumerate() {
            if let Some(dir) = job.remote.parent() {
                by_dir.entry(dir).or_default().push(i);
            }
        }
        let names: Arc<Vec<String>> = Arc::new(
            files
                .iter()
                .map(|j| j.remote.file_name().unwrap_or_default().to_owned())
                .collect(),
        );
        let mut lookups = JoinSet::new();
        let mut found: Vec<(usize, Option<Entry>, u64)> = Vec::new();
        let mut queue: Vec<(RemotePath, Vec<usize>)> = Vec::new();
        for (dir, idxs) in by_dir {
            if idxs.len() > LIST_ABOVE {
                queue.push((dir, idxs));
            } else {
                queue.extend(idxs.into_iter().map(|i| (dir.clone(), vec![i])));
            }
        }
        for (dir, idxs) in queue {
            while lookups.len() >= jobs.max(1) {
                if let Some(Ok(mut done)) = lookups.join_next().await {
                    found.append(&mut done);
                }
            }
            let client = self.clone();
            let names = names.clone();
            lookups.spawn(async move {
                if idxs.len() == 1 {
                    let i = idxs[0];
                    client
                        .look_up(&dir, &names[i])
                        .await
                        .map_or_else(Vec::new, |(d, p)| vec![(i, d, p)])
                } else {
                    client.look_in(&dir, &idxs, &names).await
                }
            });
        }
        while let Some(done) = lookups.join_next().await {
            if let Ok(mut done) = done {
                found.append(&mut done);
            }
        }
        for (i, dest, partial) in found {
            files[i].dest = dest;
            files[i].partial = partial;
        }
    }

    /// One destination and its partial, by two lookups at once.
    async fn look_up(&self, dir: &RemotePath, name: &str) -> Option<(Option<Entry>, u64)> {
        let dest = dir.join(name).ok()?;
        let partial = dir.join(&partial_name(name)).ok()?;
        let (dest, partial) = tokio::join!(self.stat(&dest), self.stat(&partial));
        let dest = dest.ok();
        let partial = partial
            .ok()
            .filter(|e| e.kind == Kind::File)
            .map_or(0, |e| e.size);
        Some((dest, partial))
    }

    /// Many destinations in one directory, from one listing.
    async fn look_in(
        &self,
        dir: &RemotePath,
        idxs: &[usize],
        names: &[String],
    ) -> Vec<(usize, Option<Entry>, u64)> {
        let Ok(entries) = self.list(dir).await else {
            return Vec::new();
        };
        let mut by_name: BTreeMap<&str, &Entry> = BTreeMap::new();
        for e in &entries {
            by_name.insert(&e.name, e);
        }
        idxs.iter()
            .map(|&i| {
                let name = &names[i];
                let dest = by_name.get(name.as_str()).map(|e| (*e).clone());
                let partial = by_name
                    .get(partial_name(name).as_str())
                    .filter(|e| e.kind == Kind::File)
                    .map_or(0, |e| e.size);
                (i, dest, partial)
            })
            .collect()
    }
}

/// The BLAKE3 of a local file, read on the blocking pool.
async fn hash_local(path: PathBuf) -> Result<ferry_proto::Digest, RequestError> {
    tokio::task::spawn_blocking(move || {
        let mut file = File::open(&path).map_err(RequestError::local(&path))?;
        let len = file.metadata().map_err(RequestError::local(&path))?.len();
        ferry_net::file::hash_file(&mut file, len).map_err(RequestError::local(&path))
    })
    .await
    .map_err(RequestError::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_check_compares_sizes_and_whole_seconds() {
        let t = |secs, nanos| Some(Timestamp { secs, nanos });
        assert!(quick_same(5, t(10, 1), 5, t(10, 999)));
        assert!(!quick_same(5, t(10, 0), 6, t(10, 0)));
        assert!(!quick_same(5, t(10, 0), 5, t(11, 0)));
        assert!(!quick_same(5, None, 5, t(10, 0)));
    }
}
