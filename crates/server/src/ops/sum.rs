//! `sum`: the BLAKE3 of a file, computed where it is.

use ferry_net::SendHalf;
use ferry_proto::{RemotePath, Response};

use super::{reply, Outcome};
use crate::context::Context;

pub(crate) async fn serve<S: SendHalf>(ctx: &Context, path: RemotePath, send: &mut S) -> Outcome {
    // It reads the whole file, like a download.
    let _permit = ctx.bulk.acquire().await.ok();
    let (size, hash) = ctx.storage.sum(&path).await?;
    reply(send, &Response::Sum { size, hash }).await
}

#[cfg(test)]
mod tests {
    use ferry_proto::{Digest, ErrorCode, Request, Response};

    use crate::ops::testing::{call, code, context};

    #[tokio::test]
    async fn sums_files_and_refuses_directories() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![5u8; 1_500_000];
        std::fs::write(dir.path().join("f"), &data).unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let ctx = context(dir.path());
        let sum = |p: &str| Request::Sum { path: p.into() };
        let want = Digest(*blake3::hash(&data).as_bytes());
        assert_eq!(
            call(&ctx, &sum("/f"), b"").await.0,
            Response::Sum {
                size: data.len() as u64,
                hash: want
            }
        );
        let empty = Digest(*blake3::hash(b"").as_bytes());
        assert_eq!(
            call(&ctx, &sum("/empty"), b"").await.0,
            Response::Sum {
                size: 0,
                hash: empty
            }
        );
        let (answer, _) = call(&ctx, &sum("/"), b"").await;
        assert_eq!(code(&answer), ErrorCode::IsADirectory);
    }
}
