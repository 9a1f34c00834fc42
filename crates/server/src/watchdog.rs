//! Answers the client does not take: a write that makes no progress for the
//! stall timeout (the client grants no flow-control credit, or has stopped
//! reading) abandons the stream, so a download nobody reads releases what it
//! holds instead of waiting for ever.

use std::time::Duration;

use bytes::Bytes;
use ferry_net::{codes, SendHalf, StreamError};
use quinn::VarInt;

use crate::context::Peer;

/// A sending half whose writes give up after `limit` without progress: the
/// stream is reset and the write fails as [`StreamError::Closed`].
pub(crate) struct Watched<S> {
    inner: S,
    limit: Duration,
    peer: Peer,
}

impl<S: SendHalf> Watched<S> {
    pub(crate) fn new(inner: S, limit: Duration, peer: Peer) -> Self {
        Watched { inner, limit, peer }
    }

    fn give_up(&mut self) -> StreamError {
        tracing::warn!(
            peer = %self.peer,
            "the client took nothing of an answer for {} s: stream abandoned",
            self.limit.as_secs()
        );
        self.inner.reset(codes::FAILED);
        StreamError::Closed
    }
}

impl<S: SendHalf> SendHalf for Watched<S> {
    async fn write_all(&mut self, buf: &[u8]) -> Result<(), StreamError> {
        match tokio::time::timeout(self.limit, self.inner.write_all(buf)).await {
            Ok(result) => result,
            Err(_) => Err(self.give_up()),
        }
    }

    async fn write_chunk(&mut self, chunk: Bytes) -> Result<(), StreamError> {
        match tokio::time::timeout(self.limit, self.inner.write_chunk(chunk)).await {
            Ok(result) => result,
            Err(_) => Err(self.give_up()),
        }
    }

    fn finish(&mut self) {
        self.inner.finish();
    }

    fn reset(&mut self, code: VarInt) {
        self.inner.reset(code);
    }

    async fn stopped(&mut self) {
        // Everything was accepted by QUIC already and is charged to the
        // client's budget until acknowledged; a slow link may take long to
        // deliver it, so this waits as long as the connection lives.
        self.inner.stopped().await;
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use ferry_net::{stream::pipe, RecvHalf};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_takes_is_abandoned_after_the_limit() {
        let (send, mut recv) = pipe(1);
        let peer = Peer {
            addr: SocketAddr::from(([127, 0, 0, 1], 9)),
            fingerprint: None,
            name: None,
        };
        let limit = Duration::from_secs(30);
        let mut watched = Watched::new(send, limit, peer);
        watched.write_all(b"fits").await.unwrap();
        let started = tokio::time::Instant::now();
        let err = watched.write_all(b"blocks").await.unwrap_err();
        assert!(matches!(err, StreamError::Closed), "{err:?}");
        assert!(started.elapsed() >= limit);
        // The reader sees what was sent, then the reset.
        assert_eq!(&recv.read_chunk(100).await.unwrap().unwrap()[..], b"fits");
        assert!(matches!(
            recv.read_chunk(100).await,
            Err(StreamError::Reset(_))
        ));
    }
}
