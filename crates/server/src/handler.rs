//! One request stream: read the request, dispatch it, answer.
//!
//! The quick metadata operations are here; `list`, `get` and `put` stream
//! and have files of their own.

use std::{net::SocketAddr, sync::Arc};

use ferry_net::{codes, read_frame, write_frame, FrameIoError};
use ferry_proto::{ErrorCode, FrameError, RemotePath, Request, Response, WireError};
use quinn::{RecvStream, SendStream};

use crate::storage::Storage;

/// How long a stream may take to deliver its request header: a client that
/// opens streams and never finishes their headers must not hold the server's
/// tasks forever.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How a request failed.
#[derive(Debug)]
pub enum Failure {
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

/// The outcome of one request.
pub type Outcome = Result<(), Failure>;

/// Serves one request stream to its end.
pub async fn serve(
    storage: Arc<Storage>,
    mut send: SendStream,
    mut recv: RecvStream,
    remote: SocketAddr,
) {
    let header = tokio::time::timeout(HEADER_TIMEOUT, read_frame::<Request>(&mut recv)).await;
    let Ok(header) = header else {
        let error = WireError::new(
            ErrorCode::Protocol,
            format!(
                "no complete request header within {} s",
                HEADER_TIMEOUT.as_secs()
            ),
        );
        tracing::warn!(%remote, code = %error.code, "bad request: {error}");
        let _ = recv.stop(codes::PROTOCOL);
        answer_error(&mut send, error).await;
        return;
    };
    let request = match header {
        Ok(Some(request)) => request,
        // Opened and closed without a request: nothing to answer.
        Ok(None) => return,
        Err(e) => {
            let error = match e {
                FrameIoError::Frame(FrameError::TooLarge { len, max }) => WireError::new(
                    ErrorCode::TooLarge,
                    format!("request header of {len} bytes exceeds the {max}-byte limit"),
                ),
                FrameIoError::Frame(FrameError::Malformed(why)) => {
                    WireError::new(ErrorCode::Protocol, format!("malformed request: {why}"))
                }
                FrameIoError::Truncated => {
                    WireError::new(ErrorCode::Protocol, "request header cut short")
                }
                other => {
                    tracing::debug!(%remote, "request stream failed: {other}");
                    return;
                }
            };
            tracing::warn!(%remote, code = %error.code, "bad request: {error}");
            let _ = recv.stop(codes::PROTOCOL);
            answer_error(&mut send, error).await;
            return;
        }
    };
    let op = request.op();
    let outcome = dispatch(&storage, request, &mut send, &mut recv).await;
    match outcome {
        Ok(()) => {
            let _ = send.finish();
        }
        Err(Failure::Reply(error)) => {
            tracing::warn!(%remote, op, code = %error.code, "{error}");
            // Tell an uploader to stop sending before explaining why.
            let _ = recv.stop(codes::FAILED);
            answer_error(&mut send, error).await;
        }
        Err(Failure::Broken(why)) => {
            tracing::warn!(%remote, op, "transfer aborted: {why}");
            let _ = send.reset(codes::FAILED);
            let _ = recv.stop(codes::FAILED);
            return;
        }
    }
    // The request counts as in flight until the client has every byte of
    // the answer: a graceful shutdown waits for this, not for the bytes to
    // be merely queued.
    let _ = send.stopped().await;
}

async fn answer_error(send: &mut SendStream, error: WireError) {
    let _ = write_frame(send, &Response::Error(error)).await;
    let _ = send.finish();
}

async fn dispatch(
    storage: &Arc<Storage>,
    request: Request,
    send: &mut SendStream,
    recv: &mut RecvStream,
) -> Outcome {
    match request {
        Request::Stat { path } => {
            let path = parse(&path)?;
            let entry = blocking(storage, move |s| s.stat(&path)).await?;
            reply(send, &Response::Stat { entry }).await
        }
        Request::List { path } => crate::list::serve(storage, parse(&path)?, send).await,
        Request::Mkdir { path, parents } => {
            let path = parse(&path)?;
            blocking(storage, move |s| s.mkdir(&path, parents)).await?;
            reply(send, &Response::Ok).await
        }
        Request::Rmdir { path } => {
            let path = parse(&path)?;
            blocking(storage, move |s| s.rmdir(&path)).await?;
            reply(send, &Response::Ok).await
        }
        Request::Remove { path } => {
            let path = parse(&path)?;
            blocking(storage, move |s| s.remove(&path)).await?;
            reply(send, &Response::Ok).await
        }
        Request::Rename { from, to } => {
            let (from, to) = (parse(&from)?, parse(&to)?);
            blocking(storage, move |s| s.rename(&from, &to)).await?;
            reply(send, &Response::Ok).await
        }
        Request::Get { path, offset } => {
            crate::get::serve(storage, parse(&path)?, offset, send).await
        }
        Request::Put(put) => {
            let path = parse(&put.path)?;
            crate::put::serve(storage, path, put, send, recv).await
        }
    }
}

/// Parses a wire path; a bad one is answered with `invalid_path`.
fn parse(path: &str) -> Result<RemotePath, WireError> {
    RemotePath::parse(path).map_err(|e| {
        let shown: String = path.chars().take(200).collect();
        WireError::new(ErrorCode::InvalidPath, format!("{shown:?}: {e}"))
    })
}

/// Writes the answer frame.
pub async fn reply(send: &mut SendStream, response: &Response) -> Outcome {
    write_frame(send, response)
        .await
        .map_err(|e| Failure::Broken(e.to_string()))
}

/// Runs a storage operation on the blocking pool.
pub async fn blocking<T, F>(storage: &Arc<Storage>, op: F) -> Result<T, WireError>
where
    T: Send + 'static,
    F: FnOnce(&Storage) -> Result<T, WireError> + Send + 'static,
{
    let storage = storage.clone();
    tokio::task::spawn_blocking(move || op(&storage))
        .await
        .unwrap_or_else(|e| {
            Err(WireError::new(
                ErrorCode::Io,
                format!("internal error: {e}"),
            ))
        })
}
