//! Frames on quinn streams.

use ferry_proto::frame::{self, FrameError, PREFIX_LEN};
use quinn::{ReadExactError, RecvStream, SendStream};
use serde::{de::DeserializeOwned, Serialize};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameIoError {
    /// The frame itself is bad: too large or not decodable.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream ended inside a frame.
    #[error("stream ended in the middle of a frame")]
    Truncated,
    /// Reading failed (reset, connection lost, …).
    #[error(transparent)]
    Read(#[from] quinn::ReadError),
    /// Writing failed (stopped, connection lost, …).
    #[error(transparent)]
    Write(#[from] quinn::WriteError),
}

impl From<ReadExactError> for FrameIoError {
    fn from(e: ReadExactError) -> Self {
        match e {
            ReadExactError::FinishedEarly(_) => FrameIoError::Truncated,
            ReadExactError::ReadError(e) => FrameIoError::Read(e),
        }
    }
}

/// Writes one frame.
pub async fn write_frame<T: Serialize>(
    send: &mut SendStream,
    value: &T,
) -> Result<(), FrameIoError> {
    let bytes = frame::encode(value)?;
    send.write_all(&bytes).await?;
    Ok(())
}

/// Reads one frame; `Ok(None)` when the stream finished cleanly before its
/// first byte.
pub async fn read_frame<T: DeserializeOwned>(
    recv: &mut RecvStream,
) -> Result<Option<T>, FrameIoError> {
    let mut prefix = [0u8; PREFIX_LEN];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = frame::body_len(prefix)?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await?;
    Ok(Some(frame::decode_body(&body)?))
}
