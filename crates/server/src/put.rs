//! `put`: receive a file into a temporary file beside its destination, check
//! its size, and rename it into place.

use std::sync::Arc;

use ferry_net::{pump, PumpError};
use ferry_proto::{ErrorCode, PutRequest, RemotePath, Response, WireError};
use quinn::{RecvStream, SendStream};

use crate::{
    handler::{blocking, reply, Failure, Outcome},
    storage::Storage,
};

pub async fn serve(
    storage: &Arc<Storage>,
    path: RemotePath,
    put: PutRequest,
    send: &mut SendStream,
    recv: &mut RecvStream,
) -> Outcome {
    if put.offset != 0 {
        return Err(WireError::new(
            ErrorCode::Protocol,
            "uploads starting at an offset are not supported by this server",
        )
        .into());
    }
    let target = path.clone();
    let (partial, file) = blocking(storage, move |s| s.create_partial(&target)).await?;
    let file = pump::recv_to_file(recv, file, put.size, &|_| {})
        .await
        .map_err(|e| match e {
            PumpError::Truncated { .. } | PumpError::Overrun { .. } => {
                Failure::Reply(WireError::new(ErrorCode::Protocol, format!("{path}: {e}")))
            }
            PumpError::Io(e) => Failure::Reply(crate::storage::wire_error(&e, &path)),
            other => Failure::Broken(format!("{path}: {other}")),
        })?;
    // `partial` is dropped (and the temporary file removed) on every early
    // return above; commit consumes it.
    tokio::task::spawn_blocking(move || partial.commit(file, put.size, put.mtime, put.mode))
        .await
        .map_err(|e| WireError::new(ErrorCode::Io, format!("internal error: {e}")))??;
    reply(send, &Response::Ok).await
}
