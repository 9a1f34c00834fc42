//! [`S3Reader`]: an object read front to back by one ranged GET (or, with
//! [`ReadAhead`], by several at once), pinned to the ETag seen when it was
//! opened.

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ferry_proto::{Digest, Entry, RemotePath};
use futures::StreamExt;
use opendal::{FuturesBytesStream, Operator};
use tokio::sync::OwnedSemaphorePermit;

use super::{store_error, ReadHandle, StorageError, READ_AHEAD_PARTS};

/// Room to fetch [`READ_AHEAD_PARTS`] ranges of `chunk` bytes at once,
/// taken from the backend's read-ahead memory.
#[derive(Debug)]
pub(super) struct ReadAhead {
    pub(super) chunk: usize,
    pub(super) _permit: OwnedSemaphorePermit,
}

/// An open object. The GET starts with the first read, so opening costs
/// one HEAD (done by the caller) and, for a resumed read, the prefix.
pub(super) struct S3Reader {
    op: Operator,
    path: RemotePath,
    entry: Entry,
    etag: Option<String>,
    /// The next byte [`ReadHandle::read`] returns.
    at: u64,
    stream: Option<FuturesBytesStream>,
    /// Bytes received but not yet returned.
    pending: Bytes,
    hasher: Option<Box<blake3::Hasher>>,
    prefix: Option<Digest>,
    ahead: Option<ReadAhead>,
}

impl S3Reader {
    /// Opens the object `path` described by `entry` at `offset`; with
    /// `hash`, reads and hashes the bytes before `offset` first.
    pub(super) async fn open(
        op: Operator,
        path: RemotePath,
        entry: Entry,
        etag: Option<String>,
        (offset, hash): (u64, bool),
        ahead: Option<ReadAhead>,
    ) -> Result<Self, StorageError> {
        let mut reader = S3Reader {
            op,
            path,
            entry,
            etag,
            at: 0,
            stream: None,
            pending: Bytes::new(),
            hasher: hash.then(|| Box::new(blake3::Hasher::new())),
            prefix: None,
            ahead,
        };
        if hash && offset > 0 {
            let mut stream = reader.stream_from(0).await?;
            let mut left = offset;
            while left > 0 {
                let chunk = next(&mut stream, &reader.path).await?;
                let take = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                if let Some(h) = reader.hasher.as_mut() {
                    h.update(&chunk[..take]);
                }
                left -= take as u64;
                if left == 0 {
                    // Go on with this GET rather than starting another.
                    reader.pending = chunk.slice(take..);
                    reader.stream = Some(stream);
                    break;
                }
            }
            reader.prefix = reader.hasher.as_ref().map(|h| digest(h));
        } else if hash {
            reader.prefix = reader.hasher.as_ref().map(|h| digest(h));
        }
        reader.at = offset;
        Ok(reader)
    }

    /// A GET of the object from `from` to its end, failing if the object
    /// changed since it was opened.
    async fn stream_from(&self, from: u64) -> Result<FuturesBytesStream, StorageError> {
        let key = self.path.as_relative();
        let mut reader = self.op.reader_with(key);
        if let Some(etag) = &self.etag {
            reader = reader.if_match(etag);
        }
        if let Some(ahead) = &self.ahead {
            reader = reader.concurrent(READ_AHEAD_PARTS).chunk(ahead.chunk);
        }
        let reader = reader.await.map_err(|e| store_error(&self.path, e))?;
        reader
            .into_bytes_stream(from..self.entry.size)
            .await
            .map_err(|e| store_error(&self.path, e))
    }
}

/// The next piece of a GET's body; its end before the expected size means
/// the object shrank or went away.
async fn next(stream: &mut FuturesBytesStream, path: &RemotePath) -> Result<Bytes, StorageError> {
    match stream.next().await {
        Some(Ok(bytes)) if !bytes.is_empty() => Ok(bytes),
        Some(Ok(_)) | None => Err(StorageError::Shrank(path.clone())),
        Some(Err(e)) => Err(match e.downcast::<opendal::Error>() {
            Ok(e) => store_error(path, e),
            Err(e) => StorageError::from_io(e, path),
        }),
    }
}

fn digest(h: &blake3::Hasher) -> Digest {
    Digest(*h.finalize().as_bytes())
}

#[async_trait]
impl ReadHandle for S3Reader {
    fn entry(&self) -> &Entry {
        &self.entry
    }

    fn prefix(&self) -> Option<Digest> {
        self.prefix
    }

    async fn read(&mut self, len: usize) -> Result<Bytes, StorageError> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        if self.at + len as u64 > self.entry.size {
            return Err(StorageError::Shrank(self.path.clone()));
        }
        if self.stream.is_none() {
            self.stream = Some(self.stream_from(self.at).await?);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(StorageError::Internal(self.path.clone()));
        };
        let out = if self.pending.len() >= len {
            self.pending.split_to(len)
        } else {
            let mut buf = BytesMut::with_capacity(len);
            buf.extend_from_slice(&std::mem::take(&mut self.pending));
            while buf.len() < len {
                let mut chunk = next(stream, &self.path).await?;
                let take = chunk.len().min(len - buf.len());
                buf.extend_from_slice(&chunk.split_to(take));
                self.pending = chunk;
            }
            buf.freeze()
        };
        if let Some(h) = self.hasher.as_mut() {
            h.update(&out);
        }
        self.at += len as u64;
        Ok(out)
    }

    fn digest(&self) -> Option<Digest> {
        self.hasher.as_ref().map(|h| digest(h))
    }
}
