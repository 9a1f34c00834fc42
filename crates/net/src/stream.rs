//! The two halves of a request stream, behind small traits.
//!
//! Handlers, framing and pumps are written against [`SendHalf`] and
//! [`RecvHalf`] rather than quinn's types, so the same code runs over a real
//! QUIC stream and over the in-memory [`pipe`] that unit tests use (where
//! tokio's paused clock works, unlike on a real socket).

use std::{
    future::Future,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use quinn::{ConnectionError, VarInt};
use tokio::sync::mpsc;

/// Why a stream could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    /// The peer abandoned its sending side with this code.
    #[error("the peer reset the stream (code {0})")]
    Reset(VarInt),
    /// The peer no longer reads, with this code.
    #[error("the peer stopped reading the stream (code {0})")]
    Stopped(VarInt),
    /// The connection is gone.
    #[error("connection lost: {0}")]
    ConnectionLost(#[from] ConnectionError),
    /// This side already finished or reset the stream.
    #[error("the stream is already closed")]
    Closed,
}

impl From<quinn::ReadError> for StreamError {
    fn from(e: quinn::ReadError) -> Self {
        match e {
            quinn::ReadError::Reset(code) => StreamError::Reset(code),
            quinn::ReadError::ConnectionLost(e) => StreamError::ConnectionLost(e),
            // Ordered reads only, and 0-RTT is off: both mean the stream is
            // no longer usable.
            quinn::ReadError::ClosedStream
            | quinn::ReadError::IllegalOrderedRead
            | quinn::ReadError::ZeroRttRejected => StreamError::Closed,
        }
    }
}

impl From<quinn::WriteError> for StreamError {
    fn from(e: quinn::WriteError) -> Self {
        match e {
            quinn::WriteError::Stopped(code) => StreamError::Stopped(code),
            quinn::WriteError::ConnectionLost(e) => StreamError::ConnectionLost(e),
            quinn::WriteError::ClosedStream | quinn::WriteError::ZeroRttRejected => {
                StreamError::Closed
            }
        }
    }
}

/// The sending half of a stream.
pub trait SendHalf: Send {
    /// Writes all of `buf`.
    fn write_all(&mut self, buf: &[u8]) -> impl Future<Output = Result<(), StreamError>> + Send;
    /// Hands `chunk` to the stream without copying it.
    fn write_chunk(&mut self, chunk: Bytes)
        -> impl Future<Output = Result<(), StreamError>> + Send;
    /// Ends the stream normally once everything written is delivered.
    fn finish(&mut self);
    /// Abandons the stream with `code`; unsent data is dropped.
    fn reset(&mut self, code: VarInt);
    /// Resolves once the peer has everything (after [`SendHalf::finish`]),
    /// stopped reading, or the connection ended.
    fn stopped(&mut self) -> impl Future<Output = ()> + Send;
}

/// The receiving half of a stream.
pub trait RecvHalf: Send {
    /// Reads into `buf`; `None` at the end of the stream.
    fn read(
        &mut self,
        buf: &mut [u8],
    ) -> impl Future<Output = Result<Option<usize>, StreamError>> + Send;
    /// The next chunk of at most `max` bytes, without copying; `None` at the
    /// end of the stream.
    fn read_chunk(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Option<Bytes>, StreamError>> + Send;
    /// Tells the peer to stop sending, with `code`.
    fn stop(&mut self, code: VarInt);
}

/// Fills `buf` exactly; `Ok(false)` when the stream ended before the first
/// byte, [`ReadExact::Truncated`] when it ended in the middle.
pub async fn read_exact<R: RecvHalf>(recv: &mut R, buf: &mut [u8]) -> Result<bool, ReadExact> {
    let mut filled = 0;
    while filled < buf.len() {
        match recv.read(&mut buf[filled..]).await? {
            Some(n) => filled += n,
            None if filled == 0 => return Ok(false),
            None => return Err(ReadExact::Truncated),
        }
    }
    Ok(true)
}

/// Why [`read_exact`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadExact {
    /// The stream ended inside the buffer.
    #[error("the stream ended early")]
    Truncated,
    /// Reading failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
}

impl SendHalf for quinn::SendStream {
    async fn write_all(&mut self, buf: &[u8]) -> Result<(), StreamError> {
        Ok(quinn::SendStream::write_all(self, buf).await?)
    }

    async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), StreamError> {
        Ok(quinn::SendStream::write_chunk(self, chunk).await?)
    }

    fn finish(&mut self) {
        // Already finished or reset: nothing left to end.
        let _ = quinn::SendStream::finish(self);
    }

    fn reset(&mut self, code: VarInt) {
        let _ = quinn::SendStream::reset(self, code);
    }

    async fn stopped(&mut self) {
        let _ = quinn::SendStream::stopped(self).await;
    }
}

impl RecvHalf for quinn::RecvStream {
    async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StreamError> {
        Ok(quinn::RecvStream::read(self, buf).await?)
    }

    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        Ok(quinn::RecvStream::read_chunk(self, max, true)
            .await?
            .map(|c| c.bytes))
    }

    fn stop(&mut self, code: VarInt) {
        let _ = quinn::RecvStream::stop(self, code);
    }
}

/// An in-memory stream: what [`PipeSend`] writes, [`PipeRecv`] reads, in
/// order, with at most `depth` chunks buffered between them (writes wait
/// beyond that, like flow control). For tests of code written against
/// [`SendHalf`] and [`RecvHalf`].
pub fn pipe(depth: usize) -> (PipeSend, PipeRecv) {
    let (tx, rx) = mpsc::channel(depth.max(1));
    let state = Arc::new(Mutex::new(PipeState::default()));
    (
        PipeSend {
            tx: Some(tx),
            state: state.clone(),
        },
        PipeRecv {
            rx,
            state,
            pending: Bytes::new(),
        },
    )
}

/// Two pipes, one each way: the client's and the server's ends of one
/// bidirectional stream.
pub fn duplex(depth: usize) -> ((PipeSend, PipeRecv), (PipeSend, PipeRecv)) {
    let (a_send, b_recv) = pipe(depth);
    let (b_send, a_recv) = pipe(depth);
    ((a_send, a_recv), (b_send, b_recv))
}

/// How a pipe ended, as each end tells the other.
#[derive(Debug, Default)]
struct PipeState {
    /// The writer finished normally.
    fin: bool,
    /// The writer reset the stream.
    reset: Option<VarInt>,
    /// The reader stopped it.
    stopped: Option<VarInt>,
}

/// The writing end of a [`pipe`]. Dropping it unfinished resets the stream,
/// as dropping a quinn stream does.
#[derive(Debug)]
pub struct PipeSend {
    tx: Option<mpsc::Sender<Bytes>>,
    state: Arc<Mutex<PipeState>>,
}

impl PipeSend {
    async fn send(&mut self, chunk: Bytes) -> Result<(), StreamError> {
        if let Some(code) = lock(&self.state).stopped {
            return Err(StreamError::Stopped(code));
        }
        let tx = self.tx.as_ref().ok_or(StreamError::Closed)?;
        if tx.send(chunk).await.is_err() {
            let code = lock(&self.state).stopped;
            // The reader is gone without a word: as if it stopped.
            return Err(StreamError::Stopped(code.unwrap_or(VarInt::from_u32(0))));
        }
        Ok(())
    }

    fn end(&mut self, how: impl FnOnce(&mut PipeState)) {
        if self.tx.take().is_some() {
            how(&mut lock(&self.state));
        }
    }
}

impl SendHalf for PipeSend {
    async fn write_all(&mut self, buf: &[u8]) -> Result<(), StreamError> {
        self.send(Bytes::copy_from_slice(buf)).await
    }

    async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), StreamError> {
        self.send(chunk).await
    }

    fn finish(&mut self) {
        self.end(|s| s.fin = true);
    }

    fn reset(&mut self, code: VarInt) {
        self.end(|s| s.reset = Some(code));
    }

    async fn stopped(&mut self) {
        if let Some(tx) = &self.tx {
            tx.closed().await;
        }
    }
}

impl Drop for PipeSend {
    fn drop(&mut self) {
        self.end(|s| {
            if !s.fin {
                s.reset.get_or_insert(VarInt::from_u32(0));
            }
        });
    }
}

/// The reading end of a [`pipe`].
#[derive(Debug)]
pub struct PipeRecv {
    rx: mpsc::Receiver<Bytes>,
    state: Arc<Mutex<PipeState>>,
    pending: Bytes,
}

impl PipeRecv {
    async fn next(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        while self.pending.is_empty() {
            match self.rx.recv().await {
                Some(chunk) => self.pending = chunk,
                None => {
                    let state = lock(&self.state);
                    return match state.reset {
                        Some(code) => Err(StreamError::Reset(code)),
                        None if state.fin => Ok(None),
                        None => Err(StreamError::Closed),
                    };
                }
            }
        }
        let take = self.pending.len().min(max.max(1));
        Ok(Some(self.pending.split_to(take)))
    }
}

impl RecvHalf for PipeRecv {
    async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StreamError> {
        let Some(chunk) = self.next(buf.len()).await? else {
            return Ok(None);
        };
        buf[..chunk.len()].copy_from_slice(&chunk);
        Ok(Some(chunk.len()))
    }

    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        self.next(max).await
    }

    fn stop(&mut self, code: VarInt) {
        lock(&self.state).stopped = Some(code);
        self.rx.close();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pipe_delivers_bytes_in_order_then_fin() {
        let (mut send, mut recv) = pipe(4);
        send.write_all(b"hello ").await.unwrap();
        send.write_chunk(Bytes::from_static(b"world"))
            .await
            .unwrap();
        send.finish();
        let mut buf = [0u8; 3];
        assert!(read_exact(&mut recv, &mut buf).await.unwrap());
        assert_eq!(&buf, b"hel");
        let mut rest = Vec::new();
        while let Some(c) = recv.read_chunk(2).await.unwrap() {
            assert!(c.len() <= 2);
            rest.extend_from_slice(&c);
        }
        assert_eq!(rest, b"lo world");
        assert!(!read_exact(&mut recv, &mut buf).await.unwrap());
    }

    #[tokio::test]
    async fn stop_and_reset_reach_the_other_end() {
        let (mut send, mut recv) = pipe(1);
        recv.stop(VarInt::from_u32(7));
        let err = send.write_all(b"x").await.unwrap_err();
        assert!(matches!(err, StreamError::Stopped(c) if c == VarInt::from_u32(7)));
        send.stopped().await;

        let (mut send, mut recv) = pipe(1);
        send.write_all(b"ab").await.unwrap();
        send.reset(VarInt::from_u32(3));
        assert_eq!(recv.read_chunk(10).await.unwrap().unwrap(), &b"ab"[..]);
        assert!(matches!(
            recv.read_chunk(10).await,
            Err(StreamError::Reset(c)) if c == VarInt::from_u32(3)
        ));

        let (send, mut recv) = pipe(1);
        drop(send);
        assert!(matches!(
            recv.read_chunk(1).await,
            Err(StreamError::Reset(_))
        ));
        let mut buf = [0u8; 2];
        let (mut send, mut recv) = pipe(1);
        send.write_all(b"a").await.unwrap();
        send.finish();
        assert!(matches!(
            read_exact(&mut recv, &mut buf).await,
            Err(ReadExact::Truncated)
        ));
    }
}
