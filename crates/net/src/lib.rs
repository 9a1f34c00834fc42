//! # ferry-net: the QUIC plumbing that client and server share
//!
//! - [`congestion`]: ferry's congestion controller, which models the path's
//!   bottleneck bandwidth and RTT instead of halving on every loss, and the
//!   `--limit` rate cap.
//! - [`stream`]: the [`SendHalf`] and [`RecvHalf`] traits that handlers and
//!   pumps are written against, implemented for quinn's streams and for an
//!   in-memory [`stream::pipe`] that unit tests use.
//! - [`framed`]: reading and writing [`ferry_proto::frame`] frames on those
//!   streams, with the frame limit checked before any allocation.
//! - [`pump`]: moving file bytes between storage ([`ChunkSource`],
//!   [`ChunkSink`]) and a stream in large chunks, overlapping storage and
//!   network work, with memory bounded per stream whatever the file size.
//! - [`file`](mod@file): local files as chunk sources and sinks, one trip to the
//!   blocking pool per chunk.
//! - [`limit`]: `--limit`, a token bucket the byte streams of one end share.
//! - [`transport`]: the transport parameters (flow-control windows, stream
//!   limits, timeouts, the controller), the UDP socket set-up and the crypto
//!   provider, so both ends are tuned in one place.
//!
//! ## Security
//!
//! A peer controls every byte read here. Frame lengths are checked against
//! [`ferry_proto::MAX_FRAME_LEN`] before a buffer is allocated, and a received
//! file is refused as soon as it carries more bytes than were declared.

pub mod congestion;
pub mod file;
pub mod framed;
pub mod limit;
pub mod pump;
pub mod stream;
pub mod transport;

pub use framed::{read_frame, write_frame, FrameIoError};
pub use pump::{ChunkSink, ChunkSource, PumpError, CHUNK_SIZE};
pub use stream::{RecvHalf, SendHalf, StreamError};

/// Application error codes used to stop or reset streams and to close
/// connections.
pub mod codes {
    use quinn::VarInt;

    /// Normal close, or a stream abandoned because the other side is done.
    pub const DONE: VarInt = VarInt::from_u32(0);
    /// The peer broke the protocol on this stream.
    pub const PROTOCOL: VarInt = VarInt::from_u32(1);
    /// The request failed; the response frame says why.
    pub const FAILED: VarInt = VarInt::from_u32(2);
    /// The transfer was cancelled by its initiator.
    pub const CANCELLED: VarInt = VarInt::from_u32(3);
    /// The server is shutting down.
    pub const SHUTDOWN: VarInt = VarInt::from_u32(4);
    /// The client is not (or no longer) authorized; the close reason says
    /// why and what to do.
    pub const UNAUTHORIZED: VarInt = VarInt::from_u32(5);
    /// A limit on connections or requests was hit; the close reason or the
    /// answer says which.
    pub const BUSY: VarInt = VarInt::from_u32(6);
}
