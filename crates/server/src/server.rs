//! The endpoint: binding, accepting, and shutting down gracefully.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use ferry_proto::{Fingerprint, RemotePath};
use tokio::{
    sync::{watch, Semaphore},
    task::JoinSet,
};

use ferry_trust::{IdentityError, Role, TlsError};

use crate::{
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
    /// Where the certificate and key are kept. Every gateway of one bucket
    /// is given the same directory, so that all of them present the same
    /// identity.
    pub certs: PathBuf,
    /// How long interrupted uploads' partial files are kept for a resume
    /// ([`PARTIALS_TTL`] by default).
    pub partials_ttl: Duration,
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
    partials_ttl: Duration,
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
        let server_config = ferry_trust::server_config(&identity, None)?;
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
            limits: Limits::default(),
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

    /// Serves until `shutdown` resolves; then refuses new connections and
    /// streams, gives requests in flight [`SHUTDOWN_GRACE`] to finish, and
    /// closes the endpoint.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let sweeper = tokio::spawn(sweep_partials(self.storage.clone(), self.partials_ttl));
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                incoming = self.endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        tracing::warn!(remote = %incoming.remote_address(), "refused: too many connections");
                        incoming.refuse();
                        continue;
                    };
                    connections.spawn(crate::connection::serve(
                        incoming,
                        self.storage.clone(),
                        self.limits.clone(),
                        stop_rx.clone(),
                        permit,
                    ));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
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
                humanize(ttl)
            ),
            Err(e) => tracing::warn!("sweeping partial files: {e}"),
        }
    }
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
