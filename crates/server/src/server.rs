//! The endpoint: binding, accepting (within the per-address cap), keeping
//! the authorized clients fresh, and shutting down gracefully.

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::{atomic::AtomicUsize, atomic::Ordering, Arc},
    time::Duration,
};

use ferry_proto::{Fingerprint, RemotePath};
use tokio::{
    sync::{watch, Semaphore},
    task::JoinSet,
};

use ferry_net::{limit::Limiter, transport::TransportOptions};
use ferry_trust::{ClientVerifier, ClientsError, IdentityError, Role, TlsError};

use crate::{
    clients::Clients,
    connection::Shared,
    context::Limits,
    storage::{LocalStorage, S3Config, S3Limits, S3Storage, Storage},
};

/// Connections served at once; more are refused.
pub const MAX_CONNECTIONS: usize = 512;
/// How long requests in flight may take to finish after shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long an interrupted upload's partial file is kept for a resume.
pub const PARTIALS_TTL: Duration = Duration::from_secs(24 * 3600);
/// How often the server looks for partial files older than their limit
/// (also once at start).
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// How often the authorized clients file is checked for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// What a server serves.
#[derive(Debug, Clone)]
pub enum Root {
    /// A directory on this machine.
    Dir(PathBuf),
    /// A bucket of an S3-compatible object store, or a prefix of one.
    Bucket(S3Config),
}

/// What to serve, where, and with which identity.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory or bucket to serve.
    pub root: Root,
    /// The UDP address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The state directory: the certificate and key, the authorized
    /// clients and the invites. Every gateway of one bucket is given the
    /// same directory, so that all of them present the same identity and
    /// admit the same clients.
    pub certs: PathBuf,
    /// How long interrupted uploads' partial files are kept for a resume
    /// ([`PARTIALS_TTL`] by default).
    pub partials_ttl: Duration,
    /// Transport choices: a cap on the rate the server sends at.
    pub transport: TransportOptions,
    /// Admit any client, with or without a certificate (listed clients keep
    /// their names and rights).
    pub allow_anyone: bool,
    /// Refuse every change to the tree, whoever asks.
    pub read_only: bool,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The root directory cannot be opened.
    #[error("cannot serve {}: {error}", path.display())]
    Root {
        /// The root given.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The bucket cannot be reached or is refused.
    #[error("cannot serve {url}: {error}")]
    Bucket {
        /// The bucket's `s3://` URL.
        url: String,
        /// Why.
        error: String,
    },
    /// The identity could not be loaded or generated.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// TLS set-up failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The authorized clients could not be read.
    #[error(transparent)]
    Clients(#[from] ClientsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
}

/// A bound, ready server.
#[derive(Debug)]
pub struct Server {
    endpoint: quinn::Endpoint,
    storage: Arc<dyn Storage>,
    limits: Limits,
    limiter: Option<Arc<Limiter>>,
    partials_ttl: Duration,
    clients: Arc<Clients>,
    transport: TransportOptions,
    fingerprint: Fingerprint,
    generated: bool,
    served: String,
}

impl Server {
    /// Opens the root, loads or generates the identity, and binds the
    /// endpoint. Must be called inside a tokio runtime. A bucket is not
    /// contacted yet: [`Server::check_storage`] does that.
    pub fn bind(config: &Config) -> Result<Self, ServerError> {
        let (storage, served): (Arc<dyn Storage>, String) = match &config.root {
            Root::Dir(path) => {
                let root_err = |error| ServerError::Root {
                    path: path.clone(),
                    error,
                };
                let root = path.canonicalize().map_err(root_err)?;
                let storage = LocalStorage::open(&root).map_err(root_err)?;
                (Arc::new(storage), root.display().to_string())
            }
            Root::Bucket(s3) => {
                let storage =
                    S3Storage::open(s3, S3Limits::default()).map_err(|e| ServerError::Bucket {
                        url: s3.url(),
                        error: e.to_string(),
                    })?;
                (Arc::new(storage), s3.url())
            }
        };
        let identity = ferry_trust::load_or_generate(&config.certs, Role::Server)?;
        let limits = Limits::default();
        let clients = Clients::open(
            &config.certs,
            config.allow_anyone,
            config.read_only,
            limits.clone(),
        )?;
        raise_open_files_limit();
        let verifier = ClientVerifier::new(ferry_net::transport::crypto_provider());
        let server_config =
            ferry_trust::server_config(&identity, Some(Arc::new(verifier)), &config.transport)?;
        let bind_err = |error| ServerError::Bind {
            addr: config.listen,
            error,
        };
        let socket = ferry_net::transport::bind_udp(config.listen).map_err(bind_err)?;
        let runtime = quinn::default_runtime().ok_or_else(|| {
            bind_err(std::io::Error::other(
                "no async runtime (call inside tokio)",
            ))
        })?;
        let endpoint_config = quinn::EndpointConfig::new(Arc::new(identity.reset_key()));
        let endpoint = quinn::Endpoint::new(endpoint_config, Some(server_config), socket, runtime)
            .map_err(bind_err)?;
        Ok(Server {
            endpoint,
            storage,
            limits,
            clients,
            limiter: config
                .transport
                .rate_limit
                .map(|limit| Arc::new(Limiter::new(limit))),
            transport: config.transport.clone(),
            partials_ttl: config.partials_ttl,
            fingerprint: identity.fingerprint,
            generated: identity.generated,
            served,
        })
    }

    /// Lists the root once, so that a bucket that cannot be reached, or
    /// whose credentials are refused, stops the server at start rather than
    /// failing every request.
    pub async fn check_storage(&self) -> Result<(), ServerError> {
        let root = RemotePath::root();
        let listed = match self.storage.list(&root).await {
            Ok(mut listing) => listing.next_batch(1).await.map(|_| ()),
            Err(e) => Err(e),
        };
        listed.map_err(|e| ServerError::Bucket {
            url: self.served.clone(),
            error: e.to_string(),
        })
    }

    /// The address actually bound (the port is real even if 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The certificate fingerprint clients will pin.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Whether this start generated a new identity.
    pub fn generated_identity(&self) -> bool {
        self.generated
    }

    /// What is served: the canonical root directory, or the bucket's
    /// `s3://` URL.
    pub fn served(&self) -> &str {
        &self.served
    }

    /// How many clients the authorized clients file lists.
    pub fn authorized_clients(&self) -> usize {
        self.clients.listed()
    }

    /// Serves until `shutdown` resolves; then refuses new connections and
    /// streams, gives requests in flight [`SHUTDOWN_GRACE`] to finish, and
    /// closes the endpoint.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let sweeper = tokio::spawn(sweep_partials(self.storage.clone(), self.partials_ttl));
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let shared = Arc::new(Shared {
            storage: self.storage.clone(),
            limits: self.limits.clone(),
            clients: self.clients.clone(),
            limiter: self.limiter.clone(),
            transport: self.transport.clone(),
            handshaking: AtomicUsize::new(0),
        });
        let mut validating = false;
        let reloader = tokio::spawn(keep_clients_fresh(self.clients.clone()));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let remote = incoming.remote_address();
                    let pending = shared.handshaking.load(Ordering::Relaxed);
                    if pending >= self.limits.handshakes_before_retry {
                        if !validating {
                            validating = true;
                            tracing::warn!(
                                "{pending} handshakes in progress: new peers must first prove their address (QUIC Retry)"
                            );
                        }
                        if !incoming.remote_address_validated() && incoming.may_retry() {
                            let _ = incoming.retry();
                            continue;
                        }
                    } else {
                        validating = false;
                    }
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        tracing::warn!(peer = %remote, "refused: too many connections ({MAX_CONNECTIONS})");
                        incoming.refuse();
                        continue;
                    };
                    let Some(slot) = self.clients.address_slot(remote.ip()) else {
                        tracing::warn!(
                            peer = %remote,
                            "refused: too many connections from this address ({})",
                            self.limits.connections_per_address
                        );
                        incoming.refuse();
                        continue;
                    };
                    connections.spawn(crate::connection::serve(
                        incoming,
                        shared.clone(),
                        stop_rx.clone(),
                        permit,
                        slot,
                    ));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        reloader.abort();
        tracing::info!(
            "shutting down: waiting up to {}s for {} connection(s)",
            SHUTDOWN_GRACE.as_secs(),
            connections.len()
        );
        sweeper.abort();
        self.endpoint.set_server_config(None);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("requests still running after the grace period were cut off");
        }
        // Aborting the rest drops their partial uploads, which removes them.
        connections.shutdown().await;
        self.endpoint
            .close(ferry_net::codes::SHUTDOWN, b"server shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        tracing::info!("stopped");
    }
}

/// Removes partial files older than `ttl`, at start and then every
/// [`SWEEP_EVERY`], until aborted.
async fn sweep_partials(storage: Arc<dyn Storage>, ttl: Duration) {
    let mut every = tokio::time::interval(SWEEP_EVERY.min(ttl.max(Duration::from_secs(1))));
    loop {
        every.tick().await;
        match storage.sweep_partials(ttl).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                "removed {n} partial file(s) untouched for over {}",
                ferry_trust::invites::human_duration(ttl)
            ),
            Err(e) => tracing::warn!("sweeping partial files: {e}"),
        }
    }
}

/// Re-reads the authorized clients whenever the file changes (checked every
/// [`RELOAD_INTERVAL`]), closing the connections of revoked clients.
async fn keep_clients_fresh(clients: Arc<Clients>) {
    let mut tick = tokio::time::interval(RELOAD_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let clients = clients.clone();
        match tokio::task::spawn_blocking(move || clients.reload()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot re-read the authorized clients: {e}"),
            Err(e) => tracing::warn!("re-reading the authorized clients failed: {e}"),
        }
    }
}

/// Raises the soft limit on open files to the hard limit: each upload and
/// download holds a file open, and the usual default of 1024 is soon
/// reached by a few busy clients.
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let from = limit.current;
        limit.current = limit.maximum;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => tracing::debug!(
                "open files limit raised from {from:?} to {:?}",
                limit.current
            ),
            Err(e) => tracing::debug!("cannot raise the open files limit: {e}"),
        }
    }
}
