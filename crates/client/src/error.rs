//! What can go wrong on the client side: [`ConnectError`] while a connection
//! is being made and trust settled, [`RequestError`] for an operation on an
//! established connection. Messages describe what happened; advice that
//! names the CLI's flags and commands is the binary's to add.

use std::{io, path::PathBuf, time::Duration};

use ferry_net::{FrameIoError, PumpError, StreamError};
use ferry_proto::{ErrorCode, Fingerprint, FrameError, PathError, Response, WireError};
use ferry_trust::TlsError;

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The host name does not resolve.
    #[error("cannot resolve host '{host}': {source}")]
    Resolve {
        /// The host as given.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// The host name resolved to nothing.
    #[error("cannot resolve host '{host}': no addresses found")]
    NoAddress {
        /// The host as given.
        host: String,
    },
    /// The local UDP socket or endpoint could not be set up.
    #[error("cannot open a UDP socket for {target}: {source}")]
    Socket {
        /// `host:port`.
        target: String,
        /// Why.
        source: io::Error,
    },
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The connection attempt could not even start.
    #[error("cannot connect to {target}: {source}")]
    Start {
        /// `host:port`.
        target: String,
        /// Why.
        source: quinn::ConnectError,
    },
    /// The handshake failed.
    #[error("cannot connect to {target}: {source}")]
    Handshake {
        /// `host:port`.
        target: String,
        /// Why.
        source: quinn::ConnectionError,
    },
    /// The host answered that nothing listens on the port (ICMP port
    /// unreachable).
    #[error("nothing listens on UDP port {port} of {target} (the host answered port unreachable)")]
    PortUnreachable {
        /// `host:port`.
        target: String,
        /// The port.
        port: u16,
    },
    /// Nobody answered in time.
    #[error("no answer from {target} within {}s", .after.as_secs())]
    Timeout {
        /// `host:port`.
        target: String,
        /// How long we waited.
        after: Duration,
    },
    /// The server presented no certificate at all.
    #[error("{target} presented no certificate")]
    NoCertificate {
        /// `host:port`.
        target: String,
    },
    /// The server's certificate differs from the pinned one.
    #[error("the certificate of {target} has changed: pinned {expected}, presented {actual} (the pin is kept in {})", known_hosts.display())]
    HostKeyChanged {
        /// `host:port`.
        target: String,
        /// What was pinned.
        expected: Fingerprint,
        /// What the server presented.
        actual: Fingerprint,
        /// Where the pin lives.
        known_hosts: PathBuf,
    },
    /// The server is not the one the caller named by fingerprint.
    #[error("{target} presented {actual}, not the expected {expected}; refusing to connect")]
    FingerprintMismatch {
        /// `host:port`.
        target: String,
        /// What the caller expected.
        expected: Fingerprint,
        /// What the server presented.
        actual: Fingerprint,
    },
    /// The server is unknown and was not trusted.
    #[error(
        "the authenticity of {target} can't be established (certificate fingerprint {fingerprint})"
    )]
    Untrusted {
        /// `host:port`.
        target: String,
        /// What the server presented.
        fingerprint: Fingerprint,
    },
    /// The known_hosts file could not be read or written.
    #[error("known hosts file {}: {source}", path.display())]
    KnownHosts {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The server turned the connection away before the handshake: it is
    /// at its connection limit, or this address has too many connections
    /// open.
    #[error("{target} refused the connection: the server is at its connection limit, or this address has too many connections open")]
    Busy {
        /// `host:port`.
        target: String,
    },
    /// The server closed the connection with its reason (not authorized, a
    /// limit hit).
    #[error("{target}: {error}")]
    Refused {
        /// `host:port`.
        target: String,
        /// The server's code and words.
        error: WireError,
    },
}

impl ConnectError {
    /// A stable code for scripts: `untrusted` when trust was refused, else
    /// `connect`.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::HostKeyChanged { .. }
            | ConnectError::FingerprintMismatch { .. }
            | ConnectError::Untrusted { .. } => "untrusted",
            ConnectError::KnownHosts { .. } => "local",
            ConnectError::Busy { .. } => ErrorCode::Busy.as_str(),
            ConnectError::Refused { error, .. } => error.code.as_str(),
            _ => "connect",
        }
    }
}

/// How the server broke the protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// An answer that does not fit the request.
    #[error("unexpected answer {0:?}")]
    Unexpected(Box<Response>),
    /// The stream ended without an answer.
    #[error("the server closed the stream without answering")]
    NoAnswer,
    /// A frame that is too large or does not decode.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame cut off by the end of the stream.
    #[error("answer cut short")]
    Truncated,
    /// A file body shorter than announced.
    #[error("transfer ended after {got} of {expected} bytes")]
    ShortBody {
        /// Bytes announced.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// A file body longer than announced.
    #[error("the server sent more than the {expected} bytes it announced")]
    LongBody {
        /// Bytes announced.
        expected: u64,
    },
    /// The hash trailer after a file's bytes is missing or malformed.
    #[error("bad hash trailer: {0}")]
    Trailer(String),
    /// The server abandoned the stream.
    #[error("the server aborted the transfer")]
    Aborted,
    /// The stream failed otherwise.
    #[error(transparent)]
    Stream(StreamError),
}

/// One failed operation on a connection, or a request that could not be
/// made of what the caller gave.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The server refused the operation.
    #[error(transparent)]
    Remote(#[from] WireError),
    /// The connection went away.
    #[error("connection lost: {0}")]
    ConnectionLost(quinn::ConnectionError),
    /// The server closed the connection, saying why: this client is not
    /// (or no longer) authorized, or it hit a limit.
    #[error(transparent)]
    Refused(WireError),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// A local file operation failed.
    #[error("{}: {source}", path.display())]
    Local {
        /// The local path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A directory where a file was expected, without recursion asked for.
    #[error("{0}: is a directory")]
    IsADirectory(String),
    /// A pattern that matched nothing.
    #[error("{0}: no match")]
    NoMatch(String),
    /// A pattern that does not parse.
    #[error("bad pattern '{pattern}': {source}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        source: globset::Error,
    },
    /// A remote path that does not parse or leaves the root.
    #[error("{input}: {source}")]
    BadPath {
        /// The path as given.
        input: String,
        /// Why.
        source: PathError,
    },
    /// A local name that cannot be a remote one (not UTF-8, say).
    #[error("{}: cannot name it on the server", .0.display())]
    Unnameable(PathBuf),
    /// The received bytes do not hash to what the server computed: nothing
    /// was renamed into place.
    #[error("{0}: the received bytes do not match the server's BLAKE3; nothing was replaced")]
    HashMismatch(String),
    /// The connection was lost and could not be made again.
    #[error("the connection was lost, and reconnecting failed: {0}")]
    Reconnect(ConnectError),
    /// The batch gave up before this file's turn (its connection was gone).
    #[error("not transferred: the connection was lost")]
    NotRun,
    /// More entries than a listing or batch may hold, so that a server
    /// cannot make the client's memory grow without bound.
    #[error("{what}: more than {limit} entries; narrow it down (a subdirectory, a pattern, --exclude) or raise --max-files")]
    TooMany {
        /// What was being listed or planned.
        what: String,
        /// The limit.
        limit: usize,
    },
    /// A tree deeper than a walk may go.
    #[error("{path}: deeper than {limit} directories; not descending further")]
    TooDeep {
        /// Where the walk stopped.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// Two sources of one batch would be written to the same destination.
    #[error("{first} and {second} would both be written to {dest}")]
    Collision {
        /// The destination.
        dest: String,
        /// One source.
        first: String,
        /// Another.
        second: String,
    },
    /// Something that is neither a regular file nor a directory (a device,
    /// a socket) where a file's bytes were to be read.
    #[error("{0}: not a regular file")]
    NotRegular(String),
    /// A task of this process failed: a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RequestError {
    /// A stable code for scripts: the server's code for remote failures,
    /// else one of `connect`, `local`, `usage`, `protocol`, `internal`.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::Remote(e) => e.code.as_str(),
            RequestError::ConnectionLost(_) | RequestError::Reconnect(_) | RequestError::NotRun => {
                "connect"
            }
            RequestError::Refused(e) => e.code.as_str(),
            RequestError::Protocol(_) => ErrorCode::Protocol.as_str(),
            RequestError::Local { .. } => "local",
            RequestError::IsADirectory(_)
            | RequestError::NoMatch(_)
            | RequestError::BadPattern { .. }
            | RequestError::BadPath { .. }
            | RequestError::Unnameable(_)
            | RequestError::Collision { .. }
            | RequestError::NotRegular(_) => "usage",
            RequestError::TooMany { .. } | RequestError::TooDeep { .. } => "too_large",
            RequestError::Internal(_) => "internal",
            RequestError::HashMismatch(_) => ErrorCode::HashMismatch.as_str(),
        }
    }

    /// Whether the connection itself is gone (so the next command should
    /// reconnect).
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            RequestError::ConnectionLost(_) | RequestError::Refused(_)
        )
    }

    pub(crate) fn local(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> RequestError {
        let path = path.into();
        move |source| RequestError::Local { path, source }
    }

    pub(crate) fn internal(e: tokio::task::JoinError) -> RequestError {
        RequestError::Internal(e.to_string())
    }
}

impl From<quinn::ConnectionError> for RequestError {
    fn from(e: quinn::ConnectionError) -> Self {
        match refusal(&e) {
            Some(error) => RequestError::Refused(error),
            None => RequestError::ConnectionLost(e),
        }
    }
}

/// The server's words when it closed a connection to refuse or cut off the
/// client (codes `UNAUTHORIZED` and `BUSY`).
pub(crate) fn refusal(e: &quinn::ConnectionError) -> Option<WireError> {
    let quinn::ConnectionError::ApplicationClosed(close) = e else {
        return None;
    };
    let code = if close.error_code == ferry_net::codes::UNAUTHORIZED {
        ErrorCode::Unauthorized
    } else if close.error_code == ferry_net::codes::BUSY {
        ErrorCode::Busy
    } else {
        return None;
    };
    Some(WireError::new(
        code,
        String::from_utf8_lossy(&close.reason).into_owned(),
    ))
}

/// Whether the server refused the connection before the handshake.
pub(crate) fn refused_before_handshake(e: &quinn::ConnectionError) -> bool {
    matches!(e, quinn::ConnectionError::ConnectionClosed(close)
        if close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED)
}

impl From<StreamError> for RequestError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::ConnectionLost(c) => c.into(),
            StreamError::Reset(_) => ProtocolError::Aborted.into(),
            other => ProtocolError::Stream(other).into(),
        }
    }
}

impl From<FrameIoError> for RequestError {
    fn from(e: FrameIoError) -> Self {
        match e {
            FrameIoError::Stream(e) => e.into(),
            FrameIoError::Frame(e) => ProtocolError::Frame(e).into(),
            FrameIoError::Truncated => ProtocolError::Truncated.into(),
        }
    }
}

impl RequestError {
    /// Classifies a pump failure; the local side's I/O errors name `local`.
    pub(crate) fn from_pump(e: PumpError<io::Error>, local: &std::path::Path) -> Self {
        match e {
            PumpError::Storage(source) => RequestError::Local {
                path: local.to_owned(),
                source,
            },
            PumpError::Stream(e) => e.into(),
            PumpError::Truncated { expected, got } => {
                ProtocolError::ShortBody { expected, got }.into()
            }
            PumpError::Overrun { expected } => ProtocolError::LongBody { expected }.into(),
            PumpError::Stalled(_) => ProtocolError::Aborted.into(),
            PumpError::Trailer(why) => ProtocolError::Trailer(why).into(),
        }
    }
}
