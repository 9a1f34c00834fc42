//! File bytes between a file and a stream.
//!
//! File reads and writes run on tokio's blocking pool, connected to the
//! network task by a bounded channel of [`CHUNK_SIZE`] buffers, so a slow disk
//! never stalls other streams and a stream holds at most a few chunks in
//! memory whatever the file's size.

use std::{
    fs::File,
    io::{self, IoSlice, Read, Write},
};

use bytes::Bytes;
use quinn::{RecvStream, SendStream};
use tokio::sync::mpsc;

/// Size of one read from a file and of one chunk handed to quinn.
pub const CHUNK_SIZE: usize = 512 * 1024;
/// Chunks read ahead of the network per sending stream: enough to cover a
/// disk read's latency without holding much memory when many files are in
/// flight on a slow link.
const SEND_DEPTH: usize = 2;
/// Batches of received chunks queued for the disk per receiving stream.
const RECV_DEPTH: usize = 4;

/// Why file bytes could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum PumpError {
    /// Reading from the stream failed (reset by the peer, connection lost).
    #[error(transparent)]
    Read(#[from] quinn::ReadError),
    /// Writing to the stream failed (stopped by the peer, connection lost).
    #[error(transparent)]
    Write(#[from] quinn::WriteError),
    /// The local file could not be read or written.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The stream ended before the declared size.
    #[error("transfer ended after {got} of {expected} bytes")]
    Truncated {
        /// Bytes declared.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The stream carried more than the declared size.
    #[error("peer sent more than the {expected} bytes it declared")]
    Overrun {
        /// Bytes declared.
        expected: u64,
    },
}

/// Reads up to `len` bytes from `file` into a fresh buffer (one allocation,
/// no zero-fill). Fails if the file ends first: it shrank while being sent.
pub fn read_chunk(file: &mut File, len: usize) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file shrank while it was being sent",
        ));
    }
    Ok(Bytes::from(buf))
}

/// Sends exactly `len` bytes of `file`, from its current position, on `send`,
/// calling `progress` with each chunk's size once quinn has taken it. The
/// caller finishes the stream.
pub async fn send_file(
    send: &mut SendStream,
    mut file: File,
    len: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), PumpError> {
    if len == 0 {
        return Ok(());
    }
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(SEND_DEPTH);
    let reader = tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK_SIZE as u64) as usize;
            let chunk = read_chunk(&mut file, n);
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
            left -= n as u64;
        }
    });
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        let n = chunk.len() as u64;
        send.write_chunk(chunk).await?;
        progress(n);
    }
    // The reader has ended (it dropped its sender); a panic there is a bug,
    // report it as an I/O failure rather than a short file.
    reader
        .await
        .map_err(|e| io::Error::other(format!("file reader failed: {e}")))?;
    Ok(())
}

/// Receives exactly `expected` bytes from `recv` into `file` and returns the
/// file once every byte is written. Fails as soon as the stream carries more
/// than `expected`, or if it ends early.
///
/// The chunks quinn hands over are passed to the writer as they are, in
/// batches of about [`CHUNK_SIZE`] written with one vectored write each: the
/// bytes are copied once, from the packet buffers into the page cache.
pub async fn recv_to_file(
    recv: &mut RecvStream,
    file: File,
    expected: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<File, PumpError> {
    let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(RECV_DEPTH);
    let writer = tokio::task::spawn_blocking(move || -> io::Result<File> {
        let mut file = file;
        while let Some(batch) = rx.blocking_recv() {
            write_all_vectored(&mut file, &batch)?;
        }
        Ok(file)
    });

    let mut total: u64 = 0;
    let outcome: Result<(), PumpError> = async {
        let mut batch = Vec::new();
        let mut batched = 0usize;
        loop {
            let chunk = recv.read_chunk(CHUNK_SIZE, true).await?;
            let ended = chunk.is_none();
            if let Some(chunk) = chunk {
                let n = chunk.bytes.len();
                total += n as u64;
                if total > expected {
                    return Err(PumpError::Overrun { expected });
                }
                progress(n as u64);
                batched += n;
                batch.push(chunk.bytes);
            }
            if (ended || batched >= CHUNK_SIZE) && !batch.is_empty() {
                batched = 0;
                // A closed channel means the writer failed: its error says why.
                if tx.send(std::mem::take(&mut batch)).await.is_err() {
                    return Ok(());
                }
            }
            if ended {
                return Ok(());
            }
        }
    }
    .await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| io::Error::other(format!("file writer failed: {e}")))?;
    outcome?;
    let file = written?;
    if total < expected {
        return Err(PumpError::Truncated {
            expected,
            got: total,
        });
    }
    Ok(file)
}

/// Writes every byte of `bufs`, in as few system calls as the kernel allows.
fn write_all_vectored(file: &mut File, bufs: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    let mut slices = &mut slices[..];
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        // The kernel takes at most IOV_MAX (1024) slices per call.
        let take = slices.len().min(1024);
        match file.write_vectored(&slices[..take]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
