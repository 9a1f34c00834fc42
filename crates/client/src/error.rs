//! What can go wrong on the client side.

use std::{io, path::PathBuf, time::Duration};

use ferry_proto::{ErrorCode, Fingerprint, WireError};

/// One failed client operation.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The host name does not resolve.
    #[error("cannot resolve host '{host}': {reason}")]
    Resolve {
        /// The host as given.
        host: String,
        /// Why.
        reason: String,
    },
    /// The QUIC connection could not be set up.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// `host:port`.
        target: String,
        /// Why.
        reason: String,
    },
    /// Nobody answered in time.
    #[error("no answer from {target} within {}s: is `ferry serve` running there and UDP port {port} reachable?", .after.as_secs())]
    Timeout {
        /// `host:port`.
        target: String,
        /// The port, for the hint.
        port: u16,
        /// How long we waited.
        after: Duration,
    },
    /// The server's certificate differs from the pinned one.
    #[error(
        "\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         @    WARNING: THE CERTIFICATE OF {target} HAS CHANGED!\n\
         @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
         Someone may be intercepting this connection, or the server's\n\
         certificate was replaced. ferry refuses to connect.\n  \
           pinned:    {expected}\n  \
           presented: {actual}\n\
         The pin is kept in {}.\n\
         If you know the change is legitimate, forget the old pin with\n  \
           ferry forget {target}\n\
         and connect again to pin the new certificate.",
        known_hosts.display()
    )]
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
    /// `--fingerprint` named a different certificate.
    #[error("{target} presented {actual}, not the {expected} given with --fingerprint; refusing to connect")]
    FingerprintMismatch {
        /// `host:port`.
        target: String,
        /// What the user expected.
        expected: Fingerprint,
        /// What the server presented.
        actual: Fingerprint,
    },
    /// The server is unknown and was not trusted.
    #[error("the authenticity of {target} can't be established (certificate fingerprint {fingerprint}).\n{hint}")]
    Untrusted {
        /// `host:port`.
        target: String,
        /// What the server presented.
        fingerprint: Fingerprint,
        /// What to do about it.
        hint: String,
    },
    /// The known_hosts file could not be read or written.
    #[error("known hosts file {}: {error}", path.display())]
    KnownHosts {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The server refused the operation.
    #[error(transparent)]
    Remote(#[from] WireError),
    /// The connection went away.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A local file operation failed.
    #[error("{}: {error}", path.display())]
    Local {
        /// The local path.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The request makes no sense as given (a directory without `-r`, a glob
    /// without a match, …).
    #[error("{0}")]
    Usage(String),
}

impl ClientError {
    /// A stable code for scripts: the server's code for remote failures,
    /// else one of `connect`, `untrusted`, `local`, `usage`, `protocol`.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Remote(e) => e.code.as_str(),
            ClientError::Resolve { .. }
            | ClientError::Connect { .. }
            | ClientError::Timeout { .. }
            | ClientError::ConnectionLost(_) => "connect",
            ClientError::HostKeyChanged { .. }
            | ClientError::FingerprintMismatch { .. }
            | ClientError::Untrusted { .. } => "untrusted",
            ClientError::KnownHosts { .. } | ClientError::Local { .. } => "local",
            ClientError::Protocol(_) => ErrorCode::Protocol.as_str(),
            ClientError::Usage(_) => "usage",
        }
    }

    /// Whether the connection itself is gone (so the next command should
    /// reconnect).
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, ClientError::ConnectionLost(_))
    }

    pub(crate) fn local(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ClientError {
        let path = path.into();
        move |error| ClientError::Local { path, error }
    }
}

impl From<quinn::ConnectionError> for ClientError {
    fn from(e: quinn::ConnectionError) -> Self {
        ClientError::ConnectionLost(e.to_string())
    }
}

impl From<ferry_net::FrameIoError> for ClientError {
    fn from(e: ferry_net::FrameIoError) -> Self {
        use ferry_net::FrameIoError as F;
        match e {
            F::Read(quinn::ReadError::ConnectionLost(c))
            | F::Write(quinn::WriteError::ConnectionLost(c)) => c.into(),
            F::Read(e) => ClientError::Protocol(format!("reading the answer failed: {e}")),
            F::Write(e) => ClientError::Protocol(format!("sending the request failed: {e}")),
            F::Frame(e) => ClientError::Protocol(e.to_string()),
            F::Truncated => ClientError::Protocol("answer cut short".into()),
        }
    }
}

impl From<ferry_net::PumpError> for ClientError {
    fn from(e: ferry_net::PumpError) -> Self {
        use ferry_net::PumpError as P;
        match e {
            P::Read(quinn::ReadError::ConnectionLost(c))
            | P::Write(quinn::WriteError::ConnectionLost(c)) => c.into(),
            P::Read(quinn::ReadError::Reset(_)) => {
                ClientError::Protocol("the server aborted the transfer".into())
            }
            other => ClientError::Protocol(other.to_string()),
        }
    }
}
