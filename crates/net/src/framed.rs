//! Frames on streams.

use ferry_proto::frame::{self, FrameError, PREFIX_LEN};
use serde::{de::DeserializeOwned, Serialize};

use crate::stream::{read_exact, ReadExact, RecvHalf, SendHalf, StreamError};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameIoError {
    /// The frame itself is bad: too large or not decodable.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream ended inside a frame.
    #[error("stream ended in the middle of a frame")]
    Truncated,
    /// The stream failed (reset, stopped, connection lost, …).
    #[error(transparent)]
    Stream(#[from] StreamError),
}

impl From<ReadExact> for FrameIoError {
    fn from(e: ReadExact) -> Self {
        match e {
            ReadExact::Truncated => FrameIoError::Truncated,
            ReadExact::Stream(e) => FrameIoError::Stream(e),
        }
    }
}

/// Writes one frame.
pub async fn write_frame<T: Serialize>(
    send: &mut impl SendHalf,
    value: &T,
) -> Result<(), FrameIoError> {
    let bytes = frame::encode(value)?;
    send.write_all(&bytes).await?;
    Ok(())
}

/// Reads one frame; `Ok(None)` when the stream finished cleanly before its
/// first byte. The length is checked against the limit first, and the body's
/// buffer grows with the bytes that actually arrive: a peer that announces a
/// large frame and sends nothing costs nothing.
pub async fn read_frame<T: DeserializeOwned>(
    recv: &mut impl RecvHalf,
) -> Result<Option<T>, FrameIoError> {
    let mut prefix = [0u8; PREFIX_LEN];
    if !read_exact(recv, &mut prefix).await? {
        return Ok(None);
    }
    let len = frame::body_len(prefix)?;
    let mut body = Vec::new();
    while body.len() < len {
        match recv.read_chunk(len - body.len()).await? {
            Some(chunk) => body.extend_from_slice(&chunk),
            None => return Err(FrameIoError::Truncated),
        }
    }
    Ok(Some(frame::decode_body(&body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::pipe;
    use ferry_proto::{Request, Response};

    #[tokio::test]
    async fn frames_round_trip_and_cut_frames_are_truncated() {
        let (mut send, mut recv) = pipe(8);
        let req = Request::Stat { path: "/x".into() };
        write_frame(&mut send, &req).await.unwrap();
        write_frame(&mut send, &Response::Ok).await.unwrap();
        send.finish();
        assert_eq!(read_frame::<Request>(&mut recv).await.unwrap(), Some(req));
        assert_eq!(
            read_frame::<Response>(&mut recv).await.unwrap(),
            Some(Response::Ok)
        );
        assert!(read_frame::<Response>(&mut recv).await.unwrap().is_none());

        let (mut send, mut recv) = pipe(8);
        send.write_all(b"\x00\x00\x00\x05ab").await.unwrap();
        send.finish();
        assert!(matches!(
            read_frame::<Request>(&mut recv).await,
            Err(FrameIoError::Truncated)
        ));

        let (mut send, mut recv) = pipe(8);
        send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(matches!(
            read_frame::<Request>(&mut recv).await,
            Err(FrameIoError::Frame(FrameError::TooLarge { .. }))
        ));
    }
}
