//! [`S3Writer`]: an upload, written as segment objects in the staging area
//! and assembled into its object at commit.
//!
//! Bytes are gathered in memory up to the next multiple of the segment size
//! and then written as one segment (one PUT, in the background while the
//! next segment fills). A file that ends before its first segment is
//! complete (most files) is written at commit with one PUT and never
//! touches the staging area. Otherwise commit assembles the object with a
//! multipart upload whose parts are server-side copies of the segments
//! (UploadPartCopy, through opendal's `Writer::copy_from`), plus the bytes
//! still in memory, then removes the segments. Segments start at multiples
//! of the segment size (after a resume, from the next one on), so each is
//! exactly one part; a piece that is not (the end of a resumed prefix, or a
//! segment written short under memory pressure) is streamed through the
//! gateway instead, which opendal does by itself.
//!
//! When all uploads together hold more than their memory budget, an upload
//! writes what it has as a short segment at once instead of waiting, so a
//! stalled peer can never make another wait for memory.
//!
//! Dropped before commit (the stream broke), an upload writes what it
//! still holds as a last segment, if that is worth a resume, so that any
//! gateway finds every byte that arrived. If the gateway itself dies, what
//! was in memory is lost and the partial ends at the last segment written.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_net::file::umask;
use ferry_proto::{Digest, RemotePath};
use futures::StreamExt;
use opendal::{Buffer, ErrorKind, Operator};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinHandle,
};

use super::{
    partial::{Chain, Piece, WriterId},
    store_error, stored_mode, user_metadata,
};
use crate::storage::{Commit, Resume, StorageError, WriteHandle};

/// A dropped upload keeps bytes still in memory only if the partial then
/// holds at least this much: a resume re-sends the last MiB anyway.
const KEEP_AT_LEAST: u64 = 1 << 20;
/// Parts copied at once when an upload is assembled.
const ASSEMBLE_CONCURRENCY: usize = 4;

type Flush = JoinHandle<Result<(), opendal::Error>>;

pub(super) struct S3Writer {
    op: Operator,
    path: RemotePath,
    /// The destination object.
    key: String,
    /// The partial's staging prefix.
    prefix: String,
    segment: usize,
    budget: Arc<Semaphore>,
    /// This writer's id, chosen when it first writes a segment (or when it
    /// resumes).
    id: Option<WriterId>,
    /// Bytes of earlier writers that a resume kept.
    kept: Vec<Piece>,
    /// Segments this writer wrote.
    own: Vec<Piece>,
    /// Bytes not yet in a segment, and where in the file they start.
    buf: Vec<Bytes>,
    buf_len: usize,
    buf_start: u64,
    /// Budget (KiB) held for `buf`.
    held: Option<OwnedSemaphorePermit>,
    hasher: Box<blake3::Hasher>,
    /// Bytes of the file so far, kept ones included.
    written: u64,
    /// The segment being written in the background.
    inflight: Option<Flush>,
    done: bool,
}

impl S3Writer {
    pub(super) fn new(
        op: Operator,
        path: RemotePath,
        key: String,
        prefix: String,
        segment: usize,
        budget: Arc<Semaphore>,
    ) -> Self {
        S3Writer {
            op,
            path,
            key,
            prefix,
            segment,
            budget,
            id: None,
            kept: Vec::new(),
            own: Vec::new(),
            buf: Vec::new(),
            buf_len: 0,
            buf_start: 0,
            held: None,
            hasher: Box::new(blake3::Hasher::new()),
            written: 0,
            inflight: None,
            done: false,
        }
    }

    /// The partial's staging prefix.
    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Goes on with the partial `chain` after its first `resume.offset`
    /// bytes, once they hash to `resume.prefix`.
    pub(super) async fn resume(
        mut self,
        mut chain: Chain,
        resume: Resume,
    ) -> Result<Self, StorageError> {
        let mismatch = || StorageError::PrefixMismatch(self.path.clone());
        if chain.len() < resume.offset {
            return Err(mismatch());
        }
        chain.truncate(resume.offset);
        for piece in &chain.pieces {
            let reader = match self.op.reader(&piece.key).await {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(mismatch()),
                Err(e) => return Err(store_error(&self.path, e)),
            };
            let mut stream = match reader.into_bytes_stream(piece.range.clone()).await {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(mismatch()),
                Err(e) => return Err(store_error(&self.path, e)),
            };
            let mut got = 0;
            while let Some(bytes) = stream.next().await {
                let bytes = bytes.map_err(StorageError::io(&self.path))?;
                got += bytes.len() as u64;
                self.hasher.update(&bytes);
            }
            if got != piece.len() {
                return Err(mismatch());
            }
        }
        if Digest(*self.hasher.finalize().as_bytes()) != resume.prefix {
            return Err(mismatch());
        }
        let id = WriterId::after(chain.generation);
        // The kept segments may be old: a fresh object in the partial keeps
        // the sweep, which goes by the newest, from taking them meanwhile.
        self.op
            .write(&id.lease(&self.prefix), Buffer::new())
            .await
            .map_err(|e| store_error(&self.path, e))?;
        self.kept = chain.pieces;
        self.id = Some(id);
        self.buf_start = resume.offset;
        self.written = resume.offset;
        Ok(self)
    }

    /// Where the segment being filled ends: the next multiple of the
    /// segment size.
    fn boundary(&self) -> u64 {
        let seg = self.segment as u64;
        (self.buf_start / seg + 1) * seg
    }

    /// Waits for the segment in flight, if any.
    async fn settle(&mut self) -> Result<(), StorageError> {
        if let Some(flush) = self.inflight.take() {
            flush
                .await
                .map_err(|_| StorageError::Internal(self.path.clone()))?
                .map_err(|e| store_error(&self.path, e))?;
        }
        Ok(())
    }

    /// Writes what is in memory as the next segment: in the background (one
    /// at a time), or at once.
    async fn flush(&mut self, background: bool) -> Result<(), StorageError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        if self.id.is_none() {
            let chain = Chain::build(
                super::segments(&self.op, &self.prefix)
                    .await
                    .map_err(|e| store_error(&self.path, e))?,
            );
            self.id = Some(WriterId::after(chain.generation));
        }
        let Some(id) = &self.id else {
            return Err(StorageError::Internal(self.path.clone()));
        };
        let key = id.segment(&self.prefix, self.buf_start);
        let data = Buffer::from(std::mem::take(&mut self.buf));
        let len = self.buf_len as u64;
        self.own.push(Piece {
            key: key.clone(),
            range: 0..len,
        });
        self.buf_start += len;
        self.buf_len = 0;
        let held = self.held.take();
        let op = self.op.clone();
        let put = async move {
            let done = op.write(&key, data).await.map(|_| ());
            drop(held);
            done
        };
        if background {
            self.inflight = Some(tokio::spawn(put));
            Ok(())
        } else {
            put.await.map_err(|e| store_error(&self.path, e))
        }
    }

    /// Removes every segment of the partial.
    async fn discard_now(&mut self) {
        if let Some(flush) = self.inflight.take() {
            flush.abort();
        }
        self.buf.clear();
        self.held = None;
        self.done = true;
        let _ = super::delete_prefix(&self.op, &self.prefix).await;
    }

    /// Makes the destination object from the kept pieces, the segments and
    /// what is in memory, with a multipart upload of server-side copies.
    async fn assemble(
        &self,
        meta: Vec<(String, String)>,
        rest: Buffer,
    ) -> Result<(), opendal::Error> {
        let mut w = self
            .op
            .writer_with(&self.key)
            .chunk(self.segment)
            .concurrent(ASSEMBLE_CONCURRENCY)
            .user_metadata(meta)
            .await?;
        let filled = fill(&mut w, self.kept.iter().chain(&self.own), rest).await;
        match filled {
            Ok(()) => w.close().await.map(|_| ()),
            Err(e) => {
                let _ = w.abort().await;
                Err(e)
            }
        }
    }
}

/// Copies `pieces` into `w`, then writes `rest`.
async fn fill(
    w: &mut opendal::Writer,
    pieces: impl Iterator<Item = &Piece>,
    rest: Buffer,
) -> Result<(), opendal::Error> {
    for piece in pieces {
        w.copy_from(&piece.key, piece.range.clone()).await?;
    }
    if !rest.is_empty() {
        w.write(rest).await?;
    }
    Ok(())
}

#[async_trait]
impl WriteHandle for S3Writer {
    async fn write(&mut self, chunks: Vec<Bytes>) -> Result<(), StorageError> {
        for mut chunk in chunks {
            self.hasher.update(&chunk);
            self.written += chunk.len() as u64;
            while !chunk.is_empty() {
                let end = self.buf_start + self.buf_len as u64;
                let room = usize::try_from(self.boundary() - end).unwrap_or(usize::MAX);
                let part = chunk.split_to(room.min(chunk.len()));
                let kib = u32::try_from(part.len().div_ceil(1024)).unwrap_or(u32::MAX);
                let budgeted = match self.budget.clone().try_acquire_many_owned(kib) {
                    Ok(permit) => {
                        match self.held.as_mut() {
                            Some(held) => held.merge(permit),
                            None => self.held = Some(permit),
                        }
                        true
                    }
                    Err(_) => false,
                };
                self.buf_len += part.len();
                self.buf.push(part);
                if !budgeted {
                    // Out of memory for buffers: a short segment now.
                    self.flush(false).await?;
                } else if self.buf_start + self.buf_len as u64 == self.boundary() {
                    self.flush(true).await?;
                }
            }
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>, meta: Commit) -> Result<(), StorageError> {
        self.settle().await?;
        if self.written != meta.size {
            self.discard_now().await;
            return Err(StorageError::SizeMismatch {
                path: self.path.clone(),
                written: self.written,
                expected: meta.size,
            });
        }
        let hash = Digest(*self.hasher.finalize().as_bytes());
        if meta.hash.is_some_and(|h| h != hash) {
            self.discard_now().await;
            return Err(StorageError::HashMismatch(self.path.clone()));
        }
        let mode = match (meta.mode, meta.new_mode) {
            (Some(exact), _) => Some(exact),
            // As on a disk: a file replaced keeps its bits (those it was
            // given, else none, which reads as 0644); a new one gets the
            // sender's less the server's umask.
            (None, Some(new)) => match self.op.stat(&self.key).await {
                Ok(old) => stored_mode(&old),
                Err(e) if e.kind() == ErrorKind::NotFound => Some(new & 0o777 & !umask()),
                Err(e) => return Err(store_error(&self.path, e)),
            },
            (None, None) => None,
        };
        let md = user_metadata(meta.mtime, mode);
        let rest = Buffer::from(std::mem::take(&mut self.buf));
        if self.kept.is_empty() && self.own.is_empty() {
            self.op
                .write_with(&self.key, rest)
                .user_metadata(md)
                .await
                .map_err(|e| store_error(&self.path, e))?;
        } else {
            self.assemble(md, rest).await.map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    // A segment went away: another upload of the same file
                    // finished first, or the sweep took it.
                    StorageError::Io {
                        path: self.path.clone(),
                        source: std::io::Error::other(
                            "the uploaded bytes were removed before they could be assembled (another upload of this file finished first?)",
                        ),
                    }
                } else {
                    store_error(&self.path, e)
                }
            })?;
            let _ = super::delete_prefix(&self.op, &self.prefix).await;
        }
        self.done = true;
        self.held = None;
        Ok(())
    }

    async fn discard(mut self: Box<Self>) {
        self.discard_now().await;
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // An interrupted upload keeps what it holds as a last segment, if
        // that is worth a resume.
        let earlier: u64 = self.kept.iter().chain(&self.own).map(Piece::len).sum();
        let keep = !self.buf.is_empty() && earlier + self.buf_len as u64 >= KEEP_AT_LEAST;
        let inflight = self.inflight.take();
        if !keep && inflight.is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let op = self.op.clone();
        let prefix = self.prefix.clone();
        let id = self.id.clone();
        let start = self.buf_start;
        let data = Buffer::from(std::mem::take(&mut self.buf));
        let held = self.held.take();
        runtime.spawn(async move {
            if let Some(flush) = inflight {
                let _ = flush.await;
            }
            if keep {
                let id = match id {
                    Some(id) => Some(id),
                    None => super::segments(&op, &prefix)
                        .await
                        .ok()
                        .map(|s| WriterId::after(Chain::build(s).generation)),
                };
                if let Some(id) = id {
                    let _ = op.write(&id.segment(&prefix, start), data).await;
                }
            }
            drop(held);
        });
    }
}
