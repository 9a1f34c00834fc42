//! `get`: a file's bytes after a [`Response::File`] header.

use ferry_net::{pump, PumpError, SendHalf};
use ferry_proto::{RemotePath, Response};

use super::{reply, Failure, Outcome};
use crate::context::Context;

pub(crate) async fn serve<S: SendHalf>(
    ctx: &Context,
    path: RemotePath,
    offset: u64,
    send: &mut S,
) -> Outcome {
    let _permit = ctx.bulk.acquire().await.ok();
    let mut file = ctx.storage.open_read(&path, offset).await?;
    let entry = file.entry().clone();
    reply(
        send,
        &Response::File {
            size: entry.size,
            mtime: entry.mtime,
            mode: entry.mode,
        },
    )
    .await?;
    pump::send_from(send, &mut file, entry.size - offset, &|_| {})
        .await
        .map_err(|e| match e {
            PumpError::Storage(e) => Failure::Broken(e.to_string()),
            other => Failure::Broken(format!("{path}: {other}")),
        })
}

#[cfg(test)]
mod tests {
    use ferry_proto::{ErrorCode, Request, Response};

    use crate::ops::testing::{call, code, context};

    #[tokio::test]
    async fn whole_files_offsets_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..1_300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.path().join("f"), &data).unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let ctx = context(dir.path());
        let get = |p: &str, offset| Request::Get {
            path: p.into(),
            offset,
        };
        let (answer, body) = call(&ctx, &get("/f", 0), b"").await;
        assert!(matches!(answer, Response::File { size, .. } if size == data.len() as u64));
        assert!(body == data);
        let (_, body) = call(&ctx, &get("/f", 1_000_001), b"").await;
        assert!(body == data[1_000_001..]);
        let (_, body) = call(&ctx, &get("/f", data.len() as u64), b"").await;
        assert!(body.is_empty());
        for (req, want) in [
            (get("/f", data.len() as u64 + 1), ErrorCode::Protocol),
            (get("/d", 0), ErrorCode::IsADirectory),
            (get("/nope", 0), ErrorCode::NotFound),
        ] {
            let (answer, _) = call(&ctx, &req, b"").await;
            assert_eq!(code(&answer), want, "{req:?}");
        }
    }
}
