//! `--limit`: a token bucket ([`Limiter`]) that the byte streams of one end
//! share, and [`Limited`], a stream half that takes from it for every byte
//! it moves. A sender held back writes more slowly; a receiver held back
//! reads more slowly, so flow control holds its peer back in turn. Unlike a
//! cap on the congestion window, it is exact whatever the round-trip time,
//! loopback included.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use quinn::VarInt;
use tokio::time::Instant;

use crate::{
    congestion::RateLimit,
    stream::{RecvHalf, SendHalf, StreamError},
};

/// How much a bucket may hold, in time at its rate: what a stream may move
/// at once after a pause.
const BURST: Duration = Duration::from_millis(50);
/// The least a bucket holds, so a slow rate still moves a few packets at a
/// time.
const MIN_BURST: f64 = 64.0 * 1024.0;

/// A token bucket of bytes, refilled at a fixed rate.
#[derive(Debug)]
pub struct Limiter {
    rate: f64,
    burst: f64,
    /// Tokens (bytes; negative when in debt) and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl Limiter {
    /// A full bucket for `limit`.
    pub fn new(limit: RateLimit) -> Self {
        let rate = limit.bytes_per_second() as f64;
        let burst = (rate * BURST.as_secs_f64()).max(MIN_BURST);
        Limiter {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes `bytes`, waiting until the rate allows them. Takers that come
    /// while the bucket is in debt wait their turn after it.
    pub async fn take(&self, bytes: u64) {
        let wait = {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (tokens, at) = &mut *state;
            let now = Instant::now();
            *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
            *at = now;
            *tokens -= bytes as f64;
            if *tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-*tokens / self.rate)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// A stream half whose bytes are counted against a [`Limiter`], when there
/// is one.
#[derive(Debug)]
pub struct Limited<T> {
    inner: T,
    limiter: Option<Arc<Limiter>>,
}

impl<T> Limited<T> {
    /// Wraps `inner`; with `None` it moves at full speed.
    pub fn new(inner: T, limiter: Option<Arc<Limiter>>) -> Self {
        Limited { inner, limiter }
    }

    /// Waits for `bytes` of the limiter's rate (the future owns its handle
    /// to the limiter, so it does not hold on to the stream).
    fn take(&self, bytes: usize) -> impl Future<Output = ()> + Send + 'static {
        let limiter = self.limiter.clone();
        async move {
            if let Some(limiter) = limiter {
                limiter.take(bytes as u64).await;
            }
        }
    }
}

impl<S: SendHalf> SendHalf for Limited<S> {
    async fn write_all(&mut self, buf: &[u8]) -> Result<(), StreamError> {
        self.take(buf.len()).await;
        self.inner.write_all(buf).await
    }

    async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), StreamError> {
        self.take(chunk.len()).await;
        self.inner.write_chunk(chunk).await
    }

    fn finish(&mut self) {
        self.inner.finish();
    }

    fn reset(&mut self, code: VarInt) {
        self.inner.reset(code);
    }

    fn stopped(&mut self) -> impl Future<Output = ()> + Send {
        self.inner.stopped()
    }
}

impl<R: RecvHalf> RecvHalf for Limited<R> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StreamError> {
        let read = self.inner.read(buf).await?;
        if let Some(n) = read {
            self.take(n).await;
        }
        Ok(read)
    }

    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        let chunk = self.inner.read_chunk(max).await?;
        if let Some(c) = &chunk {
            self.take(c.len()).await;
        }
        Ok(chunk)
    }

    fn stop(&mut self, code: VarInt) {
        self.inner.stop(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{pump, stream::pipe, ChunkSink, ChunkSource};

    struct Zeros;
    impl ChunkSource for Zeros {
        type Error = ();
        async fn read(&mut self, len: usize) -> Result<Bytes, ()> {
            Ok(Bytes::from(vec![0; len]))
        }
    }
    struct Drain(u64);
    impl ChunkSink for Drain {
        type Error = ();
        async fn write(&mut self, chunks: Vec<Bytes>) -> Result<(), ()> {
            self.0 += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
            Ok(())
        }
    }

    /// 10 MB at 2 MB/s take about five seconds (of tokio's paused clock),
    /// whether the sender or the receiver is the one held back.
    #[tokio::test(start_paused = true)]
    async fn a_limited_stream_moves_at_the_rate() {
        let limit = RateLimit::from_bytes_per_second(2_000_000).unwrap();
        for limit_sender in [true, false] {
            let limiter = Some(Arc::new(Limiter::new(limit)));
            let (send, recv) = pipe(8);
            let (send_limiter, recv_limiter) = if limit_sender {
                (limiter, None)
            } else {
                (None, limiter)
            };
            let mut send = Limited::new(send, send_limiter);
            let mut recv = Limited::new(recv, recv_limiter);
            let start = Instant::now();
            let len = 10_000_000u64;
            let sender = tokio::spawn(async move {
                pump::send_from(&mut send, &mut Zeros, len, &|_| {})
                    .await
                    .unwrap();
                send.finish();
            });
            let mut sink = Drain(0);
            pump::recv_into(&mut recv, &mut sink, len, None, &|_| {})
                .await
                .unwrap();
            sender.await.unwrap();
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(sink.0, len);
            // The first 100 ms of burst come free.
            assert!(
                (4.8..=5.2).contains(&secs),
                "{secs} s, sender limited: {limit_sender}"
            );
        }
    }
}
