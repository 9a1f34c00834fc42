//! `put`: receive a file through the storage's write handle, which makes it
//! appear under its name only once every declared byte arrived.

use ferry_net::{pump, PumpError, RecvHalf, SendHalf};
use ferry_proto::{ErrorCode, PutRequest, RemotePath, Response, WireError};

use super::{reply, Failure, Outcome};
use crate::{context::Context, storage::Commit};

pub(crate) async fn serve<S: SendHalf, R: RecvHalf>(
    ctx: &Context,
    path: RemotePath,
    put: PutRequest,
    send: &mut S,
    recv: &mut R,
) -> Outcome {
    ctx.check_write("put")?;
    if put.offset != 0 {
        return Err(WireError::new(
            ErrorCode::Protocol,
            "uploads starting at an offset are not supported by this server",
        )
        .into());
    }
    let _permit = ctx.bulk.acquire().await.ok();
    let mut file = ctx.storage.create(&path).await?;
    let stall = Some(ctx.limits.stall_timeout);
    pump::recv_into(recv, &mut file, put.size, stall, &|_| {})
        .await
        .map_err(|e| match e {
            PumpError::Truncated { .. } | PumpError::Overrun { .. } | PumpError::Stalled(_) => {
                Failure::Reply(WireError::new(ErrorCode::Protocol, format!("{path}: {e}")))
            }
            PumpError::Storage(e) => e.into(),
            PumpError::Stream(e) => Failure::Broken(format!("{path}: {e}")),
        })?;
    // `file` is dropped, and its temporary file removed, on every early
    // return above; commit consumes it.
    file.commit(Commit {
        size: put.size,
        mtime: put.mtime,
        mode: put.mode,
    })
    .await?;
    reply(send, &Response::Ok).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferry_net::{read_frame, stream::duplex, write_frame, SendHalf};
    use ferry_proto::{ErrorCode, PutRequest, Request, Response, Timestamp};

    use crate::ops::testing::{call, code, context};

    fn put(path: &str, size: u64) -> Request {
        Request::Put(PutRequest {
            path: path.into(),
            size,
            offset: 0,
            mtime: Some(Timestamp {
                secs: 1_600_000_000,
                nanos: 0,
            }),
            mode: None,
        })
    }

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn a_whole_upload_replaces_the_file_and_a_bad_one_never_does() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"old").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let ctx = context(dir.path());
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let (answer, _) = call(&ctx, &put("/f", data.len() as u64), &data).await;
        assert_eq!(answer, Response::Ok);
        assert!(std::fs::read(dir.path().join("f")).unwrap() == data);

        for (declared, sent) in [(10u64, 20usize), (10, 5), (0, 1)] {
            let (answer, _) = call(&ctx, &put("/f", declared), &vec![b'x'; sent]).await;
            assert_eq!(code(&answer), ErrorCode::Protocol, "{declared}/{sent}");
        }
        let (answer, _) = call(&ctx, &put("/d", 1), b"x").await;
        assert_eq!(code(&answer), ErrorCode::IsADirectory);
        let (answer, _) = call(&ctx, &put("/missing/f", 1), b"x").await;
        assert_eq!(code(&answer), ErrorCode::NotFound);
        assert!(std::fs::read(dir.path().join("f")).unwrap() == data);
        assert_eq!(names(dir.path()), ["d", "f"], "no temporary file left");
    }

    /// An upload whose body stops coming is answered after the stall timeout
    /// and leaves nothing behind, without anyone waiting in real time.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_upload_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let ((mut csend, mut crecv), (ssend, srecv)) = duplex(4);
        let server_ctx = ctx.clone();
        let server = tokio::spawn(async move {
            crate::request::serve(&server_ctx, ssend, srecv).await;
        });
        write_frame(&mut csend, &put("/f", 100)).await.unwrap();
        csend.write_all(&[1; 10]).await.unwrap();
        let started = tokio::time::Instant::now();
        let answer = read_frame::<Response>(&mut crecv).await.unwrap().unwrap();
        assert_eq!(code(&answer), ErrorCode::Protocol);
        assert!(started.elapsed() >= ctx.limits.stall_timeout);
        assert!(started.elapsed() < ctx.limits.stall_timeout + Duration::from_secs(1));
        drop(csend);
        server.await.unwrap();
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    }
}
