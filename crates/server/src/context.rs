//! What every request of one connection is served with: the storage, who
//! the peer is and what it may do, and the limits that keep one peer from
//! starving the others (each limit is a constant here, gathered in
//! [`Limits`]).

use std::{fmt, net::SocketAddr, sync::Arc, time::Duration};

use ferry_net::limit::Limiter;
use ferry_proto::{ErrorCode, Fingerprint, WireError};
use tokio::sync::Semaphore;

use crate::{
    budget::{Budget, BudgetedStorage},
    clients::Clients,
    storage::Storage,
};

/// How long a handshake may take; a peer that starts one and goes quiet
/// (or never existed: a spoofed address) holds its slot no longer.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress past which a new peer must first prove that it
/// owns its address (a QUIC Retry, one round trip), so that packets with
/// spoofed source addresses cannot fill the connection slots.
pub const HANDSHAKES_BEFORE_RETRY: usize = 64;
/// How long a stream may take to deliver its request header: a client that
/// opens streams and never finishes their headers must not hold the server's
/// tasks forever. A peer that is not yet admitted gets as long to send its
/// enrollment request.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an upload may go without a byte, or an answer without the
/// client taking a byte of it, before the stream is abandoned.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// File bodies (get, put) in flight at once per connection.
pub const BULK_STREAMS: usize = 256;
/// Bytes of file data the server holds for one client at most, over all its
/// connections: chunks read ahead for downloads (until QUIC has them
/// acknowledged) and upload data received but not yet written. 64 MiB keeps
/// a 16 MiB flow-control window full with room to read ahead.
pub const CLIENT_BUDGET: usize = 64 << 20;
/// Bytes of file data the server holds for all clients together at most.
pub const SERVER_BUDGET: usize = 256 << 20;
/// Connections one client identity may have open at once.
pub const CONNECTIONS_PER_CLIENT: usize = 16;
/// Connections (handshakes included) one address may have open at once.
pub const CONNECTIONS_PER_ADDRESS: usize = 32;
/// Requests one client identity may have in flight at once, over all its
/// connections (one connection can have at most
/// [`ferry_net::transport::MAX_STREAMS`]).
pub const REQUESTS_PER_CLIENT: usize = 1024;
/// Requests one address may have in flight at once.
pub const REQUESTS_PER_ADDRESS: usize = 2048;
/// Peers that are not admitted (waiting to send an enrollment request) at
/// once; more are refused at once.
pub const UNAUTHENTICATED_PEERS: usize = 64;
/// Wrong invite tokens one address may present per [`WRONG_TOKEN_WINDOW`];
/// past that its enrollments are refused until the window ends.
pub const WRONG_TOKENS: u32 = 5;
/// See [`WRONG_TOKENS`].
pub const WRONG_TOKEN_WINDOW: Duration = Duration::from_secs(60);

/// The server's limits; see the constants of this module for each.
#[derive(Debug, Clone)]
pub struct Limits {
    /// See [`HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// See [`HANDSHAKES_BEFORE_RETRY`].
    pub handshakes_before_retry: usize,
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`STALL_TIMEOUT`].
    pub stall_timeout: Duration,
    /// See [`BULK_STREAMS`].
    pub bulk_streams: usize,
    /// See [`CLIENT_BUDGET`].
    pub client_budget: usize,
    /// See [`SERVER_BUDGET`].
    pub server_budget: usize,
    /// See [`CONNECTIONS_PER_CLIENT`].
    pub connections_per_client: usize,
    /// See [`CONNECTIONS_PER_ADDRESS`].
    pub connections_per_address: usize,
    /// See [`REQUESTS_PER_CLIENT`].
    pub requests_per_client: usize,
    /// See [`REQUESTS_PER_ADDRESS`].
    pub requests_per_address: usize,
    /// See [`UNAUTHENTICATED_PEERS`].
    pub unauthenticated_peers: usize,
    /// See [`WRONG_TOKENS`].
    pub wrong_tokens: u32,
    /// See [`WRONG_TOKEN_WINDOW`].
    pub wrong_token_window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: HANDSHAKE_TIMEOUT,
            handshakes_before_retry: HANDSHAKES_BEFORE_RETRY,
            header_timeout: HEADER_TIMEOUT,
            stall_timeout: STALL_TIMEOUT,
            bulk_streams: BULK_STREAMS,
            client_budget: CLIENT_BUDGET,
            server_budget: SERVER_BUDGET,
            connections_per_client: CONNECTIONS_PER_CLIENT,
            connections_per_address: CONNECTIONS_PER_ADDRESS,
            requests_per_client: REQUESTS_PER_CLIENT,
            requests_per_address: REQUESTS_PER_ADDRESS,
            unauthenticated_peers: UNAUTHENTICATED_PEERS,
            wrong_tokens: WRONG_TOKENS,
            wrong_token_window: WRONG_TOKEN_WINDOW,
        }
    }
}

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rights {
    /// Read and change the tree.
    ReadWrite,
    /// Stat, list and download only: the client is listed read-only.
    ReadOnly,
    /// Stat, list and download only: the whole server is read-only
    /// (`ferry serve --read-only`).
    ServerReadOnly,
}

impl Rights {
    /// How logs name them.
    pub fn as_str(self) -> &'static str {
        match self {
            Rights::ReadWrite => "read-write",
            Rights::ReadOnly => "read-only",
            Rights::ServerReadOnly => "read-only server",
        }
    }
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
    /// The memory budget file data is charged to.
    pub(crate) budget: Budget,
    /// The server's clients, for enrollment (none in unit tests of the
    /// operations).
    pub(crate) clients: Option<Arc<Clients>>,
}

impl Context {
    /// A context for one connection, with a memory budget of its own.
    pub fn new(storage: Arc<dyn Storage>, peer: Peer, rights: Rights, limits: Limits) -> Self {
        let bulk = Arc::new(Semaphore::new(limits.bulk_streams.max(1)));
        let budget = Budget::new(
            Budget::pool(limits.client_budget),
            Budget::pool(limits.server_budget),
        );
        Context {
            storage,
            peer,
            rights,
            limits,
            bulk,
            limiter: None,
            budget,
            clients: None,
        }
    }

    /// The same context, sending under `limiter`.
    pub fn with_limiter(mut self, limiter: Option<Arc<Limiter>>) -> Self {
        self.limiter = limiter;
        self
    }

    /// Charges file data to `budget` instead, and reads downloads through
    /// it.
    pub(crate) fn with_budget(mut self, budget: Budget) -> Self {
        self.storage = Arc::new(BudgetedStorage::new(self.storage, budget.clone()));
        self.budget = budget;
        self
    }

    /// Lets this connection's requests enroll clients.
    pub(crate) fn with_clients(mut self, clients: Arc<Clients>) -> Self {
        self.clients = Some(clients);
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
            Rights::ServerReadOnly => Err(WireError::new(
                ErrorCode::ReadOnly,
                format!("{op}: this server is read-only"),
            )),
        }
    }
}
