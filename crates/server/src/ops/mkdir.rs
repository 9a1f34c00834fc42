//! `mkdir`: create a directory, or with `parents` a whole path of them.

use ferry_net::SendHalf;
use ferry_proto::{RemotePath, Response};

use super::{reply, Outcome};
use crate::context::Context;

pub(crate) async fn serve<S: SendHalf>(
    ctx: &Context,
    path: RemotePath,
    parents: bool,
    send: &mut S,
) -> Outcome {
    ctx.check_write("mkdir")?;
    ctx.storage.mkdir(&path, parents).await?;
    reply(send, &Response::Ok).await
}

#[cfg(test)]
mod tests {
    use ferry_proto::{ErrorCode, Request, Response};

    use crate::ops::testing::{call, code, context};

    #[tokio::test]
    async fn with_and_without_parents() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let mkdir = |p: &str, parents| Request::Mkdir {
            path: p.into(),
            parents,
        };
        assert_eq!(call(&ctx, &mkdir("/a", false), b"").await.0, Response::Ok);
        assert!(dir.path().join("a").is_dir());
        let (answer, _) = call(&ctx, &mkdir("/a", false), b"").await;
        assert_eq!(code(&answer), ErrorCode::AlreadyExists);
        let (answer, _) = call(&ctx, &mkdir("/x/y", false), b"").await;
        assert_eq!(code(&answer), ErrorCode::NotFound);
        assert_eq!(call(&ctx, &mkdir("/x/y", true), b"").await.0, Response::Ok);
        assert_eq!(call(&ctx, &mkdir("/x/y", true), b"").await.0, Response::Ok);
        std::fs::write(dir.path().join("f"), b"").unwrap();
        let (answer, _) = call(&ctx, &mkdir("/f", true), b"").await;
        assert_eq!(code(&answer), ErrorCode::AlreadyExists);
    }
}
