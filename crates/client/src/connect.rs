//! Connecting: resolve, handshake with the pinning verifier, and decide trust
//! on first use before any request is sent.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use ferry_net::transport::TransportOptions;
use ferry_proto::Fingerprint;
use ferry_trust::{Identity, KnownHosts, PinVerifier};

use crate::{Client, ConnectError, Target};

/// Asks a person whether to trust a new server, given its `host:port` and
/// fingerprint; `true` pins it.
pub type AskFn = Arc<dyn Fn(&str, &Fingerprint) -> bool + Send + Sync>;

/// Whether to trust a server whose certificate is not pinned yet.
#[derive(Clone)]
pub enum Trust {
    /// Pin it without asking.
    AcceptNew,
    /// Accept exactly this certificate, and pin it if the host has no pin
    /// yet.
    Fingerprint(Fingerprint),
    /// Ask this function (a terminal prompt), with the `host:port` and the
    /// fingerprint; `true` pins it.
    Ask(AskFn),
    /// Refuse unknown servers.
    RefuseUnknown,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::AcceptNew => f.write_str("AcceptNew"),
            Trust::Fingerprint(fp) => write!(f, "Fingerprint({fp})"),
            Trust::Ask(_) => f.write_str("Ask"),
            Trust::RefuseUnknown => f.write_str("RefuseUnknown"),
        }
    }
}

/// How to connect. Kept by the [`Client`], so that it can connect again
/// with the same trust and identity without asking anyone twice (the pin
/// made the first time settles trust the second).
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The `known_hosts` file.
    pub known_hosts: PathBuf,
    /// What to do with an unknown server.
    pub trust: Trust,
    /// How long to wait for the handshake.
    pub timeout: Duration,
    /// The certificate this client presents, if any.
    pub identity: Option<Arc<Identity>>,
    /// Transport choices: a cap on the rate this client sends and receives.
    pub transport: TransportOptions,
}

/// Connects to `target`, verifying or pinning its certificate.
pub async fn connect(target: &Target, options: &ConnectOptions) -> Result<Client, ConnectError> {
    let key = target.to_string();
    let kh_err = |path: &PathBuf| {
        let path = path.clone();
        move |source| ConnectError::KnownHosts { path, source }
    };
    let mut known = KnownHosts::load(&options.known_hosts).map_err(kh_err(&options.known_hosts))?;
    let pinned = known.get(&key);
    let expected = match &options.trust {
        Trust::Fingerprint(fp) => Some(*fp),
        _ => pinned,
    };

    let addr = resolve(target).await?;
    let verifier = Arc::new(PinVerifier::new(
        expected,
        ferry_net::transport::crypto_provider(),
    ));
    let config = ferry_trust::client_config(
        verifier.clone(),
        options.identity.as_deref(),
        &options.transport,
    )?;

    let bind: SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let socket_err = |source| ConnectError::Socket {
        target: key.clone(),
        source,
    };
    let socket = ferry_net::transport::bind_udp(bind).map_err(socket_err)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| socket_err(std::io::Error::other("no async runtime")))?;
    let endpoint = quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, runtime)
        .map_err(socket_err)?;
    // Pinning replaces the host-name check, so the name only has to be
    // syntactically valid.
    let server_name = if rustls::pki_types::ServerName::try_from(target.host.as_str()).is_ok() {
        target.host.as_str()
    } else {
        "ferry"
    };
    let connecting = endpoint
        .connect_with(config, addr, server_name)
        .map_err(|source| ConnectError::Start {
            target: key.clone(),
            source,
        })?;
    // Where the host says nothing listens there, fail at once rather than
    // after the timeout.
    let attempt = async {
        tokio::select! {
            done = tokio::time::timeout(options.timeout, connecting) => Some(done),
            () = crate::probe::refused(addr) => None,
        }
    };
    let Some(attempt) = attempt.await else {
        endpoint.close(ferry_net::codes::DONE, b"");
        return Err(ConnectError::PortUnreachable {
            target: key,
            port: target.port,
        });
    };
    let conn = match attempt {
        Err(_) => {
            return Err(ConnectError::Timeout {
                target: key,
                after: options.timeout,
            })
        }
        Ok(Err(source)) => {
            return Err(match (expected, verifier.seen()) {
                (Some(expected), Some(actual)) if expected != actual => match options.trust {
                    Trust::Fingerprint(_) => ConnectError::FingerprintMismatch {
                        target: key,
                        expected,
                        actual,
                    },
                    _ => ConnectError::HostKeyChanged {
                        target: key,
                        expected,
                        actual,
                        known_hosts: options.known_hosts.clone(),
                    },
                },
                _ => match crate::error::refusal(&source) {
                    Some(error) => ConnectError::Refused { target: key, error },
                    None if crate::error::refused_before_handshake(&source) => {
                        ConnectError::Busy { target: key }
                    }
                    None => ConnectError::Handshake {
                        target: key,
                        source,
                    },
                },
            })
        }
        Ok(Ok(conn)) => conn,
    };
    let seen = verifier.seen().ok_or_else(|| ConnectError::NoCertificate {
        target: key.clone(),
    })?;

    if pinned.is_none() {
        let trusted = match &options.trust {
            Trust::AcceptNew | Trust::Fingerprint(_) => true,
            Trust::Ask(ask) => ask(&key, &seen),
            Trust::RefuseUnknown => false,
        };
        if !trusted {
            conn.close(ferry_net::codes::DONE, b"server not trusted");
            return Err(ConnectError::Untrusted {
                target: key,
                fingerprint: seen,
            });
        }
        known
            .add(&key, seen)
            .map_err(kh_err(&options.known_hosts))?;
    }
    Ok(Client::new(endpoint, conn, target.clone(), options.clone()))
}

async fn resolve(target: &Target) -> Result<SocketAddr, ConnectError> {
    let mut addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|source| ConnectError::Resolve {
            host: target.host.clone(),
            source,
        })?;
    addrs.next().ok_or_else(|| ConnectError::NoAddress {
        host: target.host.clone(),
    })
}
