//! One connection: accept its streams and serve each on its own task.

use std::sync::Arc;

use tokio::{
    sync::{watch, OwnedSemaphorePermit},
    task::JoinSet,
};

use crate::storage::Storage;

/// Serves one connection until it closes or the server shuts down.
pub async fn serve(
    incoming: quinn::Incoming,
    storage: Arc<Storage>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::info!(%remote, "handshake failed: {e}");
            return;
        }
    };
    tracing::info!(%remote, "connection opened");
    let mut requests = JoinSet::new();
    let reason = loop {
        tokio::select! {
            stream = conn.accept_bi() => match stream {
                Ok((send, recv)) => {
                    requests.spawn(crate::handler::serve(storage.clone(), send, recv, remote));
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
    tracing::info!(%remote, "connection closed: {reason}");
}
