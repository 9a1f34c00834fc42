//! One connection: complete the handshake, settle who the peer is, then
//! either serve it (each request stream on its own task) or refuse it.
//!
//! A peer the server does not admit costs nothing but its handshake: it
//! reaches no storage call, its connection is closed at once with the reason
//! in words, and it was never given more than QUIC's small initial limits
//! ([`ferry_net::transport::server_transport_config`]). Only while an invite
//! is open may it send one request, within the header timeout, and that
//! request must be an enrollment.

use std::{
    future::IntoFuture,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use ferry_net::{
    codes,
    limit::{Limited, Limiter},
    read_frame,
    transport::TransportOptions,
    write_frame, SendHalf,
};
use ferry_proto::{ErrorCode, Request, Response, WireError};
use tokio::{
    sync::{watch, OwnedSemaphorePermit},
    task::JoinSet,
};

use crate::{
    clients::{AddressSlot, ClientKey, Clients, Verdict},
    context::{Context, Limits, Peer},
    storage::Storage,
    watchdog::Watched,
};

/// What every connection is served with.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) limits: Limits,
    pub(crate) clients: Arc<Clients>,
    /// The server's `--limit`, shared by every connection.
    pub(crate) limiter: Option<Arc<Limiter>>,
    /// The transport options the server was started with.
    pub(crate) transport: TransportOptions,
    /// Handshakes in progress.
    pub(crate) handshaking: AtomicUsize,
}

/// Counts a handshake in progress while it lives.
struct Handshaking<'a>(&'a AtomicUsize);

impl<'a> Handshaking<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Handshaking(count)
    }
}

impl Drop for Handshaking<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one connection until it closes or the server shuts down.
pub(crate) async fn serve(
    incoming: quinn::Incoming,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
    _address: AddressSlot,
) {
    let addr = incoming.remote_address();
    let handshake = {
        let _counted = Handshaking::new(&shared.handshaking);
        let limit = shared.limits.handshake_timeout;
        tokio::time::timeout(limit, incoming.into_future()).await
    };
    let conn = match handshake {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::info!(peer = %addr, "handshake failed: {e}");
            return;
        }
        Err(_) => {
            tracing::info!(
                peer = %addr,
                "handshake not done within {} s: dropped",
                shared.limits.handshake_timeout.as_secs()
            );
            return;
        }
    };
    let fingerprint = ferry_trust::peer_fingerprint(&conn);
    let mut peer = Peer {
        addr,
        fingerprint,
        name: None,
    };
    match shared.clients.settle(fingerprint) {
        Verdict::Admit { name, rights } => {
            peer.name.clone_from(&name);
            let key = ClientKey::new(fingerprint, addr.ip());
            let admission = match shared.clients.admit(key, &conn, name.clone(), rights) {
                Ok(admission) => admission,
                Err(why) => {
                    tracing::warn!(%peer, "refused: {why}");
                    conn.close(codes::BUSY, why.as_bytes());
                    return;
                }
            };
            // A revocation that landed between the verdict and the
            // registration would have missed this connection.
            if shared.clients.settle(fingerprint) != (Verdict::Admit { name, rights }) {
                tracing::warn!(%peer, "refused: its access changed while it connected");
                conn.close(
                    codes::UNAUTHORIZED,
                    b"this client's access changed while it connected; connect again",
                );
                return;
            }
            ferry_net::transport::admit(&conn, &shared.transport);
            let ctx = Context::new(shared.storage.clone(), peer, rights, shared.limits.clone())
                .with_budget(admission.budget())
                .with_clients(shared.clients.clone())
                .with_limiter(shared.limiter.clone());
            tracing::info!(peer = %ctx.peer, rights = rights.as_str(), "connection opened");
            let reason = serve_admitted(&conn, &ctx, admission.key(), &shared.clients, stop).await;
            tracing::info!(peer = %ctx.peer, "connection closed: {reason}");
        }
        Verdict::Unknown => refuse_or_enroll(&conn, &peer, &shared).await,
        Verdict::NoCertificate => {
            let why = "this server admits only clients that present a certificate \
                       (ferry clients present one on their own)";
            tracing::warn!(%peer, "refused: no client certificate");
            conn.close(codes::UNAUTHORIZED, why.as_bytes());
        }
    }
}

/// Accepts the streams of an admitted connection and serves each on its
/// own task, within the client's and the address's caps on requests in
/// flight; returns why the connection ended.
async fn serve_admitted(
    conn: &quinn::Connection,
    ctx: &Context,
    key: &ClientKey,
    clients: &Arc<Clients>,
    mut stop: watch::Receiver<bool>,
) -> String {
    let mut requests = JoinSet::new();
    loop {
        tokio::select! {
            stream = conn.accept_bi() => match stream {
                Ok((send, recv)) => match clients.request_slot(key, ctx.peer.addr.ip()) {
                    Ok(slot) => {
                        let ctx = ctx.clone();
                        let send = Limited::new(send, ctx.limiter.clone());
                        requests.spawn(async move {
                            crate::request::serve(&ctx, send, recv).await;
                            drop(slot);
                        });
                    }
                    Err(why) => {
                        tracing::warn!(peer = %ctx.peer, "request refused: {why}");
                        let error = WireError::new(ErrorCode::Busy, why);
                        requests.spawn(refuse(send, recv, error, ctx.limits.stall_timeout, ctx.peer.clone()));
                    }
                },
                Err(e) => return e.to_string(),
            },
            _ = stop.changed() => {
                // Let the requests in flight finish; the server bounds this.
                while requests.join_next().await.is_some() {}
                conn.close(codes::SHUTDOWN, b"server shutting down");
                return "server shutting down".to_owned();
            }
            Some(_) = requests.join_next(), if !requests.is_empty() => {}
        }
    }
}

/// Answers a stream with `error` without reading its request.
async fn refuse(
    send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    error: WireError,
    limit: Duration,
    peer: Peer,
) {
    let _ = recv.stop(codes::BUSY);
    let mut send = Watched::new(send, limit, peer);
    let _ = write_frame(&mut send, &Response::Error(error)).await;
    send.finish();
}

/// A peer that is not admitted: closed at once with the reason, unless an
/// invite is open, in which case its first request may enroll it.
async fn refuse_or_enroll(conn: &quinn::Connection, peer: &Peer, shared: &Shared) {
    let fp = peer
        .fingerprint
        .map_or_else(|| "this client".to_owned(), |fp| fp.to_string());
    let why = format!(
        "this server does not know client {fp}; ask its operator to run `ferry allow {fp}`, \
         or for an invite to use with `ferry enroll`"
    );
    let waiting = if shared.clients.invites_open().await {
        shared.clients.waiting_slot()
    } else {
        None
    };
    let Some(_waiting) = waiting else {
        tracing::warn!(%peer, "refused: not an authorized client");
        conn.close(codes::UNAUTHORIZED, why.as_bytes());
        return;
    };
    let limit = shared.limits.header_timeout;
    let first = tokio::time::timeout(limit, async {
        let (send, mut recv) = conn.accept_bi().await.ok()?;
        let request = read_frame::<Request>(&mut recv).await.ok()??;
        Some((send, recv, request))
    })
    .await;
    match first {
        Ok(Some((send, mut recv, Request::Enroll { token, name }))) => {
            let mut send = Watched::new(send, shared.limits.stall_timeout, peer.clone());
            let outcome =
                crate::ops::enroll::serve(Some(&shared.clients), peer, token, name, &mut send)
                    .await;
            match outcome {
                Ok(()) => send.finish(),
                Err(crate::ops::Failure::Reply(error)) => {
                    tracing::warn!(%peer, op = "enroll", code = %error.code, "{error}");
                    let _ = recv.stop(codes::FAILED);
                    let _ = write_frame(&mut send, &Response::Error(error)).await;
                    send.finish();
                }
                Err(crate::ops::Failure::Broken(why)) => {
                    tracing::warn!(%peer, op = "enroll", "aborted: {why}");
                }
            }
            // Let the answer arrive before the connection goes.
            let _ = tokio::time::timeout(limit, send.stopped()).await;
            conn.close(codes::DONE, b"enrollment done; connect again");
        }
        Ok(Some((_, _, request))) => {
            tracing::warn!(%peer, op = request.op(), "refused: not an authorized client");
            conn.close(codes::UNAUTHORIZED, why.as_bytes());
        }
        Ok(None) | Err(_) => {
            tracing::warn!(%peer, "refused: not an authorized client (no enrollment request)");
            conn.close(codes::UNAUTHORIZED, why.as_bytes());
        }
    }
}
