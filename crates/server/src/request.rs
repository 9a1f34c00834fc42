//! One request stream: read the header (within the header timeout),
//! dispatch it to its operation in `ops/`, and answer or report the failure.

use ferry_net::{codes, read_frame, write_frame, FrameIoError, RecvHalf, SendHalf};
use ferry_proto::{ErrorCode, FrameError, Request, Response, WireError};

use crate::{
    context::Context,
    ops::{self, parse, Failure, Outcome},
    watchdog::Watched,
};

/// Serves one request stream to its end.
pub(crate) async fn serve<S: SendHalf, R: RecvHalf>(ctx: &Context, send: S, mut recv: R) {
    let peer = &ctx.peer;
    let mut send = Watched::new(send, ctx.limits.stall_timeout, peer.clone());
    let timeout = ctx.limits.header_timeout;
    let header = tokio::time::timeout(timeout, read_frame::<Request>(&mut recv)).await;
    let Ok(header) = header else {
        let error = WireError::new(
            ErrorCode::Protocol,
            format!("no complete request header within {} s", timeout.as_secs()),
        );
        tracing::warn!(%peer, code = %error.code, "bad request: {error}");
        recv.stop(codes::PROTOCOL);
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
                FrameIoError::Stream(e) => {
                    tracing::debug!(%peer, "request stream failed: {e}");
                    return;
                }
            };
            tracing::warn!(%peer, code = %error.code, "bad request: {error}");
            recv.stop(codes::PROTOCOL);
            answer_error(&mut send, error).await;
            return;
        }
    };
    let op = request.op();
    match dispatch(ctx, request, &mut send, &mut recv).await {
        Ok(()) => send.finish(),
        Err(Failure::Reply(error)) => {
            tracing::warn!(%peer, op, code = %error.code, "{error}");
            // Tell an uploader to stop sending before explaining why.
            recv.stop(codes::FAILED);
            answer_error(&mut send, error).await;
        }
        Err(Failure::Broken(why)) => {
            tracing::warn!(%peer, op, "transfer aborted: {why}");
            send.reset(codes::FAILED);
            recv.stop(codes::FAILED);
            return;
        }
    }
    // The request counts as in flight until the client has every byte of
    // the answer: a graceful shutdown waits for this, not for the bytes to
    // be merely queued.
    send.stopped().await;
}

async fn answer_error<S: SendHalf>(send: &mut S, error: WireError) {
    let _ = write_frame(send, &Response::Error(error)).await;
    send.finish();
}

async fn dispatch<S: SendHalf, R: RecvHalf>(
    ctx: &Context,
    request: Request,
    send: &mut S,
    recv: &mut R,
) -> Outcome {
    match request {
        Request::Stat { path } => ops::stat::serve(ctx, parse(&path)?, send).await,
        Request::List { path } => ops::list::serve(ctx, parse(&path)?, send).await,
        Request::Mkdir { path, parents } => {
            ops::mkdir::serve(ctx, parse(&path)?, parents, send).await
        }
        Request::Rmdir { path } => ops::rmdir::serve(ctx, parse(&path)?, send).await,
        Request::Remove { path } => ops::remove::serve(ctx, parse(&path)?, send).await,
        Request::Rename { from, to } => {
            ops::rename::serve(ctx, parse(&from)?, parse(&to)?, send).await
        }
        Request::Get {
            path,
            offset,
            prefix,
            hash,
        } => {
            let get = ops::get::Get {
                path: parse(&path)?,
                offset,
                prefix,
                hash,
            };
            ops::get::serve(ctx, get, send).await
        }
        Request::Sum { path } => ops::sum::serve(ctx, parse(&path)?, send).await,
        Request::Put(put) => {
            let path = parse(&put.path)?;
            ops::put::serve(ctx, path, put, send, &mut ctx.budget.charged(recv)).await
        }
        Request::Enroll { token, name } => {
            ops::enroll::serve(ctx.clients.as_ref(), &ctx.peer, token, name, send).await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferry_net::stream::duplex;
    use ferry_proto::ErrorCode;

    use super::*;
    use crate::ops::testing::{call, code, context};

    #[tokio::test(start_paused = true)]
    async fn a_header_that_never_completes_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let ((mut csend, mut crecv), (ssend, srecv)) = duplex(4);
        let server = tokio::spawn(async move { serve(&ctx, ssend, srecv).await });
        csend.write_all(b"\x00\x00\x00\x40abc").await.unwrap();
        let started = tokio::time::Instant::now();
        let answer = read_frame::<Response>(&mut crecv).await.unwrap().unwrap();
        assert_eq!(code(&answer), ErrorCode::Protocol);
        assert!(started.elapsed() >= Duration::from_secs(10));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn bad_headers_get_their_own_codes() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let cases: &[(&[u8], ErrorCode)] = &[
            (&1_000_000u32.to_be_bytes(), ErrorCode::TooLarge),
            (b"\x00\x00\x00\x03abc", ErrorCode::Protocol),
            (
                b"\x00\x00\x00\x0b\xa1\x62op\x67unknown",
                ErrorCode::Protocol,
            ),
            (b"\x00\x00\x01\x00short", ErrorCode::Protocol),
        ];
        for (bytes, want) in cases {
            let ((mut csend, mut crecv), (ssend, srecv)) = duplex(4);
            let ctx = ctx.clone();
            let server = tokio::spawn(async move { serve(&ctx, ssend, srecv).await });
            csend.write_all(bytes).await.unwrap();
            csend.finish();
            let answer = read_frame::<Response>(&mut crecv).await.unwrap().unwrap();
            assert_eq!(code(&answer), *want, "{bytes:?}");
            drop(crecv);
            server.await.unwrap();
        }
        for path in ["../etc/passwd", "/a/../../x", "a\\..\\b", "a\0b"] {
            let (answer, _) = call(&ctx, &Request::Stat { path: path.into() }, b"").await;
            assert_eq!(code(&answer), ErrorCode::InvalidPath, "{path:?}");
        }
    }

    #[tokio::test]
    async fn a_stream_closed_without_a_request_gets_no_answer() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let ((mut csend, mut crecv), (ssend, srecv)) = duplex(4);
        csend.finish();
        serve(&ctx, ssend, srecv).await;
        assert!(read_frame::<Response>(&mut crecv).await.is_err());
    }
}
