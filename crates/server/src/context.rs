//! What every request of one connection is served with: the storage, who
//! the peer is and what it may do, and the limits that keep one peer from
//! starving the others.

use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

use ferry_net::limit::Limiter;
use ferry_proto::{ErrorCode, Fingerprint, WireError};
use tokio::sync::Semaphore;

use crate::storage::Storage;

/// How long a stream may take to deliver its request header: a client that
/// opens streams and never finishes their headers must not hold the server's
/// tasks forever.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an upload may go without a byte before it is abandoned.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// File bodies (get, put) in flight at once per connection.
pub const BULK_STREAMS: usize = 256;

/// The per-connection limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`STALL_TIMEOUT`].
    pub stall_timeout: Duration,
    /// See [`BULK_STREAMS`].
    pub bulk_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: HEADER_TIMEOUT,
            stall_timeout: STALL_TIMEOUT,
            bulk_streams: BULK_STREAMS,
        }
    }
}

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rights {
    /// Read and change the tree.
    ReadWrite,
    /// Stat, list and download only.
    ReadOnly,
}

/// The peer of a connection: where it is and, once client authentication
/// admits it, who it is.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Its address.
    pub addr: SocketAddr,
    /// The fingerprint of the certificate it presented, if any.
    pub fingerprint: Option<Fingerprint>,
    /// Its name in the authorized list, if it is there.
    pub name: Option<String>,
}

impl fmt::Display for Peer {
    /// How logs name a client: `name (SHA256:…) at addr`, or just the address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.name, &self.fingerprint) {
            (Some(name), Some(fp)) => write!(f, "{name} ({fp}) at {}", self.addr),
            (None, Some(fp)) => write!(f, "{fp} at {}", self.addr),
            _ => write!(f, "{}", self.addr),
        }
    }
}

/// Everything a request handler is given.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where the files are.
    pub storage: Arc<dyn Storage>,
    /// Who asks.
    pub peer: Peer,
    /// What it may do.
    pub rights: Rights,
    /// The limits.
    pub limits: Limits,
    /// Permits for file bodies in flight on this connection.
    pub bulk: Arc<Semaphore>,
    /// The server's `--limit`, shared by every connection: what it sends
    /// takes from it.
    pub limiter: Option<Arc<Limiter>>,
}

impl Context {
    /// A context for one connection.
    pub fn new(storage: Arc<dyn Storage>, peer: Peer, rights: Rights, limits: Limits) -> Self {
        let bulk = Arc::new(Semaphore::new(limits.bulk_streams.max(1)));
        Context {
            storage,
            peer,
            rights,
            limits,
            bulk,
            limiter: None,
        }
    }

    /// The same context, sending under `limiter`.
    pub fn with_limiter(mut self, limiter: Option<Arc<Limiter>>) -> Self {
        self.limiter = limiter;
        self
    }

    /// Refuses a change of the tree unless the peer may write.
    pub fn check_write(&self, op: &str) -> Result<(), WireError> {
        match self.rights {
            Rights::ReadWrite => Ok(()),
            Rights::ReadOnly => Err(WireError::new(
                ErrorCode::ReadOnly,
                format!("{op}: this client has read-only access"),
            )),
        }
    }
}
