//! One connection: complete the handshake, settle who the peer is, then
//! accept its streams and serve each on its own task.

use std::sync::Arc;

use ferry_net::limit::{Limited, Limiter};
use tokio::{
    sync::{watch, OwnedSemaphorePermit},
    task::JoinSet,
};

use crate::{
    context::{Context, Limits, Peer, Rights},
    storage::Storage,
};

/// Serves one connection until it closes or the server shuts down.
pub(crate) async fn serve(
    incoming: quinn::Incoming,
    storage: Arc<dyn Storage>,
    limits: Limits,
    limiter: Option<Arc<Limiter>>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let addr = incoming.remote_address();
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::info!(remote = %addr, "handshake failed: {e}");
            return;
        }
    };
    let peer = Peer {
        addr,
        fingerprint: None,
        name: None,
    };
    let ctx = Context::new(storage, peer, Rights::ReadWrite, limits).with_limiter(limiter);
    tracing::info!(peer = %ctx.peer, "connection opened");
    let mut requests = JoinSet::new();
    let reason = loop {
        tokio::select! {
            stream = conn.accept_bi() => match stream {
                Ok((send, recv)) => {
                    let ctx = ctx.clone();
                    let send = Limited::new(send, ctx.limiter.clone());
                    requests.spawn(async move { crate::request::serve(&ctx, send, recv).await });
                }
                Err(e) => break e.to_string(),
            },
            _ = stop.changed() => {
                // Let the requests in flight finish; the server bounds this.
                while requests.join_next().await.is_some() {}
                conn.close(ferry_net::codes::SHUTDOWN, b"server shutting down");
                break "server shutting down".to_owned();
            }
            Some(_) = requests.join_next(), if !requests.is_empty() => {}
        }
    };
    tracing::info!(peer = %ctx.peer, "connection closed: {reason}");
}
