//! `list`: a directory's entries, streamed in chunks so that a huge
//! directory never becomes one message or one allocation.

use std::sync::Arc;

use ferry_net::write_frame;
use ferry_proto::{ListChunk, RemotePath, Response, LIST_CHUNK_ENTRIES};
use quinn::SendStream;
use tokio::sync::mpsc;

use crate::{
    handler::{blocking, reply, Failure, Outcome},
    storage::Storage,
};

pub async fn serve(storage: &Arc<Storage>, path: RemotePath, send: &mut SendStream) -> Outcome {
    let listing = blocking(storage, move |s| s.list(&path)).await?;
    reply(send, &Response::Listing).await?;
    let (tx, mut rx) = mpsc::channel::<Vec<_>>(2);
    let reader = tokio::task::spawn_blocking(move || {
        let mut listing = listing;
        loop {
            let chunk: Vec<_> = listing.by_ref().take(LIST_CHUNK_ENTRIES).collect();
            if chunk.is_empty() || tx.blocking_send(chunk).is_err() {
                return;
            }
        }
    });
    while let Some(entries) = rx.recv().await {
        write_frame(send, &ListChunk { entries })
            .await
            .map_err(|e| Failure::Broken(e.to_string()))?;
    }
    reader.await.map_err(|e| Failure::Broken(e.to_string()))
}
