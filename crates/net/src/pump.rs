//! File bytes between storage and a stream.
//!
//! The pumps move bytes between a [`ChunkSource`] or [`ChunkSink`] (a local
//! file, an object in a bucket) and a stream, one [`CHUNK_SIZE`] piece at a
//! time, overlapping the storage side's work on one piece with the network's
//! on the next. A source or sink does its blocking work per call (on the
//! blocking pool, for files), never while waiting for the network, so a slow
//! or stalled peer holds no thread; and at most two pieces are in memory per
//! stream whatever the file's size.

use std::{future::Future, time::Duration};

use bytes::Bytes;

use ferry_proto::Trailer;

use crate::{
    framed::{read_frame, FrameIoError},
    stream::{RecvHalf, SendHalf, StreamError},
};

/// Size of one read from storage and of one chunk handed to the stream.
pub const CHUNK_SIZE: usize = 512 * 1024;

/// Where a sender's bytes come from.
pub trait ChunkSource: Send {
    /// What a failed read reports.
    type Error: Send;
    /// The next `len` bytes; fewer is an error (the source shrank).
    fn read(&mut self, len: usize) -> impl Future<Output = Result<Bytes, Self::Error>> + Send;
}

/// Where a receiver's bytes go.
pub trait ChunkSink: Send {
    /// What a failed write reports.
    type Error: Send;
    /// Appends every byte of `chunks`, in order.
    fn write(&mut self, chunks: Vec<Bytes>)
        -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Why file bytes could not be moved; `E` is the storage side's error.
#[derive(Debug, thiserror::Error)]
pub enum PumpError<E> {
    /// The stream failed (reset by the peer, connection lost, …).
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The storage side failed.
    #[error("{0}")]
    Storage(E),
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
    /// Nothing arrived for this long.
    #[error("no data for {} s", .0.as_secs())]
    Stalled(Duration),
    /// The hash trailer after the bytes is missing or malformed.
    #[error("bad hash trailer: {0}")]
    Trailer(String),
}

/// Sends exactly `len` bytes of `source` on `send`, reading the next chunk
/// while the current one goes out, and calling `progress` with each chunk's
/// size once the stream has taken it. The caller finishes the stream.
pub async fn send_from<S, F>(
    send: &mut S,
    source: &mut F,
    len: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), PumpError<F::Error>>
where
    S: SendHalf,
    F: ChunkSource,
{
    let next_len = |left: u64| left.min(CHUNK_SIZE as u64) as usize;
    let mut left = len;
    if left == 0 {
        return Ok(());
    }
    let mut current = source
        .read(next_len(left))
        .await
        .map_err(PumpError::Storage)?;
    left -= current.len() as u64;
    loop {
        let n = current.len() as u64;
        if left == 0 {
            send.write_chunk(current).await?;
            progress(n);
            return Ok(());
        }
        let write = async { send.write_chunk(current).await.map_err(PumpError::from) };
        let read = async {
            source
                .read(next_len(left))
                .await
                .map_err(PumpError::Storage)
        };
        let ((), next) = tokio::try_join!(write, read)?;
        progress(n);
        left -= next.len() as u64;
        current = next;
    }
}

/// Receives exactly `expected` bytes from `recv` into `sink`, writing one
/// batch of about [`CHUNK_SIZE`] while the next arrives; returns the bytes
/// received. Fails if the stream ends early or, with `stall`, when no byte
/// arrives for that long. It reads no further than `expected`: what follows
/// (a trailer, or bytes that should not be there) is for [`recv_end`].
///
/// The stream's chunks reach the sink as they are: the bytes are copied once,
/// from the packet buffers into the file.
pub async fn recv_into<R, K>(
    recv: &mut R,
    sink: &mut K,
    expected: u64,
    stall: Option<Duration>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, PumpError<K::Error>>
where
    R: RecvHalf,
    K: ChunkSink,
{
    let mut total = 0u64;
    let mut failed = None;
    let mut batch = gather(recv, &mut total, expected, stall, progress, &mut failed).await;
    while let Some(chunks) = batch {
        // Every batch received is written, even when the stream failed
        // after it, so that a resume finds every byte that arrived.
        let write = sink.write(chunks);
        let next = gather(recv, &mut total, expected, stall, progress, &mut failed);
        let (wrote, next) = tokio::join!(write, next);
        wrote.map_err(PumpError::Storage)?;
        batch = next;
    }
    if let Some(e) = failed {
        return Err(e);
    }
    if total < expected {
        return Err(PumpError::Truncated {
            expected,
            got: total,
        });
    }
    Ok(total)
}

/// Receives bytes from `recv` into `sink` until the stream's FIN, for a
/// sender that did not know the size; returns how many arrived. Fails like
/// [`recv_into`] when the stream breaks or, with `stall`, goes quiet: only a
/// FIN ends it well.
pub async fn recv_to_fin<R, K>(
    recv: &mut R,
    sink: &mut K,
    stall: Option<Duration>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, PumpError<K::Error>>
where
    R: RecvHalf,
    K: ChunkSink,
{
    match recv_into(recv, sink, u64::MAX, stall, progress).await {
        // No stream carries 2^64 bytes: the end came first, with a FIN.
        Err(PumpError::Truncated { got, .. }) | Ok(got) => Ok(got),
        Err(e) => Err(e),
    }
}

/// Reads chunks until about [`CHUNK_SIZE`] bytes are gathered, `expected`
/// bytes are in, or the stream ends; `None` when there was nothing more.
/// A failure ends the batch (what came before it is still returned) and is
/// left in `failed`.
async fn gather<R: RecvHalf, E>(
    recv: &mut R,
    total: &mut u64,
    expected: u64,
    stall: Option<Duration>,
    progress: &(dyn Fn(u64) + Sync),
    failed: &mut Option<PumpError<E>>,
) -> Option<Vec<Bytes>> {
    let mut batch = Vec::new();
    let mut batched = 0usize;
    while failed.is_none() && batched < CHUNK_SIZE && *total < expected {
        let max = (expected - *total).min(CHUNK_SIZE as u64) as usize;
        let chunk = match read_chunk(recv, max, stall).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                *failed = Some(e);
                break;
            }
        };
        let n = chunk.len();
        *total += n as u64;
        progress(n as u64);
        batched += n;
        batch.push(chunk);
    }
    (!batch.is_empty()).then_some(batch)
}

async fn read_chunk<R: RecvHalf, E>(
    recv: &mut R,
    max: usize,
    stall: Option<Duration>,
) -> Result<Option<Bytes>, PumpError<E>> {
    Ok(match stall {
        Some(limit) => tokio::time::timeout(limit, recv.read_chunk(max))
            .await
            .map_err(|_| PumpError::Stalled(limit))??,
        None => recv.read_chunk(max).await?,
    })
}

/// After a file's bytes: reads the [`Trailer`] when one was announced, then
/// insists that the stream ends there. More bytes than declared are
/// [`PumpError::Overrun`] (`expected` is only for its message).
pub async fn recv_end<R: RecvHalf, E>(
    recv: &mut R,
    trailer: bool,
    expected: u64,
    stall: Option<Duration>,
) -> Result<Option<Trailer>, PumpError<E>> {
    let found = if trailer {
        let read = async {
            read_frame::<Trailer>(recv).await.map_err(|e| match e {
                FrameIoError::Stream(e) => PumpError::Stream(e),
                FrameIoError::Truncated => PumpError::Trailer("cut short".into()),
                FrameIoError::Frame(e) => PumpError::Trailer(e.to_string()),
            })
        };
        let frame = match stall {
            Some(limit) => tokio::time::timeout(limit, read)
                .await
                .map_err(|_| PumpError::Stalled(limit))??,
            None => read.await?,
        };
        Some(frame.ok_or_else(|| PumpError::Trailer("missing".into()))?)
    } else {
        None
    };
    match read_chunk(recv, 1, stall).await? {
        None => Ok(found),
        Some(_) => Err(PumpError::Overrun { expected }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    };

    use super::*;
    use crate::stream::pipe;

    struct Mem {
        data: Vec<u8>,
        at: usize,
    }

    impl ChunkSource for Mem {
        type Error = &'static str;
        async fn read(&mut self, len: usize) -> Result<Bytes, Self::Error> {
            let end = self.at + len;
            let chunk = self.data.get(self.at..end).ok_or("short")?;
            self.at = end;
            Ok(Bytes::copy_from_slice(chunk))
        }
    }

    impl ChunkSink for Mem {
        type Error = &'static str;
        async fn write(&mut self, chunks: Vec<Bytes>) -> Result<(), Self::Error> {
            chunks.iter().for_each(|c| self.data.extend_from_slice(c));
            Ok(())
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn bytes_arrive_exactly_and_progress_counts_them() {
        for len in [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE * 3 + 7] {
            let src = data(len);
            let (mut send, mut recv) = pipe(4);
            let mut source = Mem {
                data: src.clone(),
                at: 0,
            };
            let sent = Arc::new(AtomicU64::new(0));
            let counter = sent.clone();
            let sender = tokio::spawn(async move {
                let progress = move |n| {
                    counter.fetch_add(n, Ordering::Relaxed);
                };
                send_from(&mut send, &mut source, len as u64, &progress)
                    .await
                    .unwrap();
                send.finish();
            });
            let mut sink = Mem {
                data: Vec::new(),
                at: 0,
            };
            let got = recv_into(&mut recv, &mut sink, len as u64, None, &|_| {})
                .await
                .unwrap();
            sender.await.unwrap();
            assert_eq!(got, len as u64);
            assert!(sink.data == src, "{len}");
            assert_eq!(sent.load(Ordering::Relaxed), len as u64);
        }
    }

    #[tokio::test]
    async fn short_long_and_failing_sources_are_errors() {
        let (mut send, mut recv) = pipe(4);
        send.write_all(&[1; 10]).await.unwrap();
        send.finish();
        let mut sink = Mem {
            data: Vec::new(),
            at: 0,
        };
        let err = recv_into(&mut recv, &mut sink, 20, None, &|_| {})
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            PumpError::Truncated {
                expected: 20,
                got: 10
            }
        ));

        let (mut send, mut recv) = pipe(4);
        send.write_all(&[1; 10]).await.unwrap();
        send.finish();
        let got = recv_into(&mut recv, &mut sink, 5, None, &|_| {})
            .await
            .unwrap();
        assert_eq!(got, 5, "no further than declared");
        let err = recv_end::<_, &str>(&mut recv, false, 5, None)
            .await
            .unwrap_err();
        assert!(matches!(err, PumpError::Overrun { expected: 5 }));

        // A trailer after the bytes is read, and nothing may follow it.
        let hash = ferry_proto::Digest([4; 32]);
        let (mut send, mut recv) = pipe(4);
        send.write_all(&[1; 3]).await.unwrap();
        crate::write_frame(&mut send, &Trailer { hash })
            .await
            .unwrap();
        send.finish();
        recv_into(&mut recv, &mut sink, 3, None, &|_| {})
            .await
            .unwrap();
        let trailer = recv_end::<_, &str>(&mut recv, true, 3, None).await.unwrap();
        assert_eq!(trailer, Some(Trailer { hash }));
        let (mut send, mut recv) = pipe(4);
        send.write_all(&[1; 3]).await.unwrap();
        send.finish();
        recv_into(&mut recv, &mut sink, 3, None, &|_| {})
            .await
            .unwrap();
        let err = recv_end::<_, &str>(&mut recv, true, 3, None)
            .await
            .unwrap_err();
        assert!(matches!(err, PumpError::Trailer(_)), "{err}");

        let (mut send, _recv) = pipe(4);
        let mut source = Mem {
            data: vec![0; 3],
            at: 0,
        };
        let err = send_from(&mut send, &mut source, 10, &|_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, PumpError::Storage("short")));
    }

    #[tokio::test]
    async fn a_stream_of_unknown_size_ends_only_with_fin() {
        let src = data(CHUNK_SIZE * 2 + 3);
        let (mut send, mut recv) = pipe(4);
        let sent = src.clone();
        let sender = tokio::spawn(async move {
            send.write_all(&sent).await.unwrap();
            send.finish();
        });
        let mut sink = Mem {
            data: Vec::new(),
            at: 0,
        };
        let got = recv_to_fin(&mut recv, &mut sink, None, &|_| {})
            .await
            .unwrap();
        sender.await.unwrap();
        assert_eq!(got, src.len() as u64);
        assert!(sink.data == src);

        // A reset is a failure, not a short file.
        let (mut send, mut recv) = pipe(4);
        send.write_all(b"abc").await.unwrap();
        send.reset(crate::codes::CANCELLED);
        let err = recv_to_fin(&mut recv, &mut sink, None, &|_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, PumpError::Stream(_)), "{err:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_sender_stalls_out() {
        let (mut send, mut recv) = pipe(4);
        send.write_all(b"abc").await.unwrap();
        let mut sink = Mem {
            data: Vec::new(),
            at: 0,
        };
        let limit = Duration::from_secs(30);
        let err = recv_into(&mut recv, &mut sink, 10, Some(limit), &|_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, PumpError::Stalled(l) if l == limit));
        drop(send);
    }
}
