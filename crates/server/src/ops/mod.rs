//! The operations, one file each. Every handler takes the connection's
//! [`Context`](crate::context::Context), an already parsed request, and the
//! stream halves it needs, and either answers on the stream or returns a
//! [`Failure`] for `request.rs` to report.
//!
//! Handlers are generic over [`SendHalf`] and [`RecvHalf`], so the unit tests
//! at the end of each file drive them over in-memory pipes.

pub(crate) mod enroll;
pub(crate) mod get;
pub(crate) mod list;
pub(crate) mod mkdir;
pub(crate) mod put;
pub(crate) mod remove;
pub(crate) mod rename;
pub(crate) mod rmdir;
pub(crate) mod stat;
pub(crate) mod sum;

use ferry_net::{write_frame, SendHalf};
use ferry_proto::{ErrorCode, RemotePath, Response, WireError};

use crate::storage::StorageError;

/// How a request failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Not answered yet: answer with this error.
    Reply(WireError),
    /// The stream broke after the answer began; it can only be reset.
    Broken(String),
}

impl From<WireError> for Failure {
    fn from(e: WireError) -> Self {
        Failure::Reply(e)
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Failure::Reply(e.into())
    }
}

/// The outcome of one request.
pub(crate) type Outcome = Result<(), Failure>;

/// Parses a wire path; a bad one is answered with `invalid_path`.
pub(crate) fn parse(path: &str) -> Result<RemotePath, WireError> {
    RemotePath::parse(path).map_err(|e| {
        let shown: String = path.chars().take(200).collect();
        WireError::new(ErrorCode::InvalidPath, format!("{shown:?}: {e}"))
    })
}

/// Writes the answer frame.
pub(crate) async fn reply<S: SendHalf>(send: &mut S, response: &Response) -> Outcome {
    write_frame(send, response)
        .await
        .map_err(|e| Failure::Broken(e.to_string()))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A context over a temporary directory, and a way to run one handler
    //! against in-memory streams.

    use std::{net::SocketAddr, sync::Arc};

    use ferry_net::{read_frame, stream::duplex, write_frame, SendHalf};
    use ferry_proto::{Request, Response};

    use crate::{
        context::{Context, Limits, Peer, Rights},
        storage::LocalStorage,
    };

    pub(crate) fn context(root: &std::path::Path) -> Context {
        let storage = LocalStorage::open(root).unwrap();
        let peer = Peer {
            addr: SocketAddr::from(([127, 0, 0, 1], 9)),
            fingerprint: None,
            name: None,
        };
        Context::new(
            Arc::new(storage),
            peer,
            Rights::ReadWrite,
            Limits::default(),
        )
    }

    /// Sends `request` (and `body`, then FIN) to the request handler and
    /// returns the answer frame and every byte after it.
    pub(crate) async fn call(ctx: &Context, request: &Request, body: &[u8]) -> (Response, Vec<u8>) {
        let ((mut csend, mut crecv), (ssend, srecv)) = duplex(16);
        let ctx = ctx.clone();
        let server = tokio::spawn(async move { crate::request::serve(&ctx, ssend, srecv).await });
        write_frame(&mut csend, request).await.unwrap();
        if !body.is_empty() {
            let _ = csend.write_all(body).await;
        }
        csend.finish();
        let response = read_frame::<Response>(&mut crecv).await.unwrap().unwrap();
        let mut rest = Vec::new();
        while let Ok(Some(chunk)) = ferry_net::RecvHalf::read_chunk(&mut crecv, 1 << 20).await {
            rest.extend_from_slice(&chunk);
        }
        drop(crecv);
        server.await.unwrap();
        (response, rest)
    }

    /// The error code of an answer, or a panic.
    pub(crate) fn code(r: &Response) -> ferry_proto::ErrorCode {
        match r {
            Response::Error(e) => e.code,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}
