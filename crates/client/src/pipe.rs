//! Transfers whose local side is a stream rather than a file: a download
//! written to any writer (stdout), and an upload of unknown size read from
//! any reader (stdin, a pipe, a FIFO), committed by the server only when
//! the reader ended cleanly.

use bytes::{Bytes, BytesMut};
use ferry_net::{codes, pump, ChunkSink, SendHalf, CHUNK_SIZE};
use ferry_proto::{Digest, PutRequest, RemotePath, Request, Response, Timestamp};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{
    client::{read_answer, unexpected},
    Client, Moved, RequestError,
};

/// What an upload of unknown size gives the new file.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamMeta {
    /// Modification time (`None`: the time it arrives).
    pub mtime: Option<Timestamp>,
    /// Exact permission bits (`-p`).
    pub mode: Option<u32>,
    /// Bits for a new file, less the server's umask.
    pub new_mode: Option<u32>,
}

/// A writer as a chunk sink that hashes what it writes.
struct WriterSink<'a, W> {
    writer: &'a mut W,
    hasher: blake3::Hasher,
}

impl<W: AsyncWrite + Unpin + Send> ChunkSink for WriterSink<'_, W> {
    type Error = std::io::Error;

    async fn write(&mut self, chunks: Vec<Bytes>) -> std::io::Result<()> {
        for chunk in chunks {
            self.hasher.update(&chunk);
            self.writer.write_all(&chunk).await?;
        }
        self.writer.flush().await
    }
}

impl Client {
    /// Downloads `remote` into `writer` (stdout, say), checking its BLAKE3
    /// at the end. The bytes are written as they come, so a failure can
    /// leave part of the file written: the error says so.
    pub async fn download_to<W>(
        &self,
        remote: &RemotePath,
        writer: &mut W,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, RequestError>
    where
        W: AsyncWrite + Unpin + Send,
    {
        let request = Request::Get {
            path: remote.to_wire(),
            offset: 0,
            prefix: None,
            hash: true,
        };
        let (mut send, mut recv) = self.open(&request).await?;
        SendHalf::finish(&mut send);
        let answer = read_answer(&mut recv).await?;
        let Response::File {
            size,
            offset: 0,
            trailer,
            ..
        } = answer
        else {
            return Err(unexpected(answer));
        };
        let mut sink = WriterSink {
            writer,
            hasher: blake3::Hasher::new(),
        };
        let out = std::path::Path::new("-");
        pump::recv_into(&mut recv, &mut sink, size, None, progress)
            .await
            .map_err(|e| RequestError::from_pump(e, out))?;
        let sent = pump::recv_end(&mut recv, trailer, size, None)
            .await
            .map_err(|e| RequestError::from_pump(e, out))?
            .map(|t| t.hash);
        let ours = Digest(*sink.hasher.finalize().as_bytes());
        if sent.is_some_and(|h| h != ours) {
            return Err(RequestError::HashMismatch(remote.to_string()));
        }
        Ok(Moved {
            bytes: size,
            size,
            hash: sent,
            resumed_from: 0,
            restarted: false,
            skipped: false,
        })
    }

    /// Uploads everything `reader` gives until its end to `remote`, whose
    /// size nobody knows in advance. The server commits the file only when
    /// the stream finishes cleanly; a read error resets it, and nothing is
    /// committed. `name` is how `reader` is called in errors.
    pub async fn upload_unsized<R>(
        &self,
        reader: &mut R,
        name: &std::path::Path,
        remote: &RemotePath,
        meta: StreamMeta,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, RequestError>
    where
        R: AsyncRead + Unpin + Send,
    {
        let request = Request::Put(PutRequest {
            path: remote.to_wire(),
            size: 0,
            offset: 0,
            prefix: None,
            hash: false,
            mtime: meta.mtime,
            mode: meta.mode,
            new_mode: meta.new_mode,
            size_unknown: true,
        });
        let (mut send, mut recv) = self.open(&request).await?;
        let mut hasher = blake3::Hasher::new();
        let mut total = 0u64;
        let sent: Result<(), RequestError> = async {
            loop {
                let mut buf = BytesMut::with_capacity(CHUNK_SIZE);
                let n = reader
                    .read_buf(&mut buf)
                    .await
                    .map_err(RequestError::local(name))?;
                if n == 0 {
                    return Ok(());
                }
                let chunk = buf.freeze();
                hasher.update(&chunk);
                SendHalf::write_chunk(&mut send, chunk).await?;
                total += n as u64;
                progress(n as u64);
            }
        }
        .await;
        match &sent {
            // The source failed: abandon the stream so that the server
            // commits nothing.
            Err(RequestError::Local { .. }) => SendHalf::reset(&mut send, codes::CANCELLED),
            _ => SendHalf::finish(&mut send),
        }
        let moved = Moved {
            bytes: total,
            size: total,
            hash: Some(Digest(*hasher.finalize().as_bytes())),
            resumed_from: 0,
            restarted: false,
            skipped: false,
        };
        match (read_answer(&mut recv).await, sent) {
            (Ok(Response::Ok), Ok(())) => Ok(moved),
            (Ok(Response::Ok), Err(e)) | (Err(_), Err(e @ RequestError::Local { .. })) => Err(e),
            (Ok(other), _) => Err(unexpected(other)),
            (Err(RequestError::Remote(e)), _) => Err(RequestError::Remote(e)),
            (Err(e), Ok(())) => Err(e),
            (Err(_), Err(e)) => Err(e),
        }
    }
}
