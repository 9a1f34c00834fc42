//! [`S3Listing`]: a directory's entries from a delimited object listing,
//! a page at a time.
//!
//! A listing of objects carries their size and Last-Modified but not their
//! user metadata, where ferry keeps a file's own modification time and
//! mode; so each file is looked up (HEAD) as well, [`super::FAN_OUT`] at a
//! time, so that `ls`, `stat` and a download all agree on a file's time
//! (which the quick check of a re-run depends on). The partial files of the
//! directory's interrupted uploads come last.

use async_trait::async_trait;
use ferry_proto::{Entry, RemotePath};
use futures::{StreamExt, TryStreamExt};
use opendal::{ErrorKind, Lister, Operator};

use super::{
    dir_entry, dir_key, file_entry, partial::STAGING, store_error, Listing, StorageError, FAN_OUT,
};

/// One entry on its way out: known, or to be looked up.
enum Pending {
    Ready(Entry),
    Head(String, String),
}

pub(super) struct S3Listing {
    op: Operator,
    path: RemotePath,
    /// The directory's key prefix.
    prefix: String,
    lister: Option<Lister>,
    /// Partial files, returned after everything else.
    partials: Vec<Entry>,
}

impl S3Listing {
    pub(super) fn new(
        op: Operator,
        path: RemotePath,
        lister: Lister,
        partials: Vec<Entry>,
    ) -> Self {
        S3Listing {
            op,
            prefix: dir_key(&path),
            path,
            lister: Some(lister),
            partials,
        }
    }
}

#[async_trait]
impl Listing for S3Listing {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<Entry>, StorageError> {
        loop {
            let batch = self.batch(max.max(1)).await?;
            // A batch whose files all went away meanwhile is not the end.
            if !batch.is_empty() || (self.lister.is_none() && self.partials.is_empty()) {
                return Ok(batch);
            }
        }
    }
}

impl S3Listing {
    async fn batch(&mut self, max: usize) -> Result<Vec<Entry>, StorageError> {
        let mut pending = Vec::new();
        while let Some(lister) = self.lister.as_mut() {
            if pending.len() >= max {
                break;
            }
            let Some(item) = lister
                .try_next()
                .await
                .map_err(|e| store_error(&self.path, e))?
            else {
                self.lister = None;
                break;
            };
            let key = item.path();
            if key == self.prefix {
                // The directory's own marker.
                continue;
            }
            let Some(rest) = key.strip_prefix(&self.prefix) else {
                continue;
            };
            let meta = item.metadata();
            let name = rest.trim_end_matches('/');
            // Keys no file name could have (written by other tools) and the
            // staging area are not shown.
            if RemotePath::root().join(name).is_err() || (self.path.is_root() && name == STAGING) {
                continue;
            }
            if meta.is_dir() {
                pending.push(Pending::Ready(dir_entry(name, None)));
            } else {
                pending.push(Pending::Head(name.to_owned(), key.to_owned()));
            }
        }
        if pending.is_empty() {
            let n = self.partials.len().min(max);
            return Ok(self.partials.drain(..n).collect());
        }
        let op = &self.op;
        let path = &self.path;
        let looked_up = futures::stream::iter(pending.into_iter().map(|p| async move {
            match p {
                Pending::Ready(entry) => Ok(Some(entry)),
                Pending::Head(name, key) => match op.stat(&key).await {
                    Ok(meta) => Ok(Some(file_entry(&name, &meta))),
                    // Removed while we list it: skipped, as `ls` does.
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(store_error(path, e)),
                },
            }
        }))
        .buffered(FAN_OUT)
        .try_collect::<Vec<Option<Entry>>>()
        .await?;
        Ok(looked_up.into_iter().flatten().collect())
    }
}
