//! `rename`: move a path to a new name, or into an existing directory.

use ferry_net::SendHalf;
use ferry_proto::{RemotePath, Response};

use super::{reply, Outcome};
use crate::context::Context;

pub(crate) async fn serve<S: SendHalf>(
    ctx: &Context,
    from: RemotePath,
    to: RemotePath,
    send: &mut S,
) -> Outcome {
    ctx.check_write("mv")?;
    ctx.storage.rename(&from, &to).await?;
    reply(send, &Response::Ok).await
}

#[cfg(test)]
mod tests {
    use ferry_proto::{ErrorCode, Request, Response};

    use crate::ops::testing::{call, code, context};

    #[tokio::test]
    async fn renames_moves_and_refuses_loops() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("d/sub")).unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let ctx = context(dir.path());
        let mv = |from: &str, to: &str| Request::Rename {
            from: from.into(),
            to: to.into(),
        };
        assert_eq!(call(&ctx, &mv("/f", "/g"), b"").await.0, Response::Ok);
        assert_eq!(call(&ctx, &mv("/g", "/d"), b"").await.0, Response::Ok);
        assert_eq!(std::fs::read(dir.path().join("d/g")).unwrap(), b"x");
        let (answer, _) = call(&ctx, &mv("/d", "/d/sub"), b"").await;
        assert_eq!(code(&answer), ErrorCode::InvalidPath);
        let (answer, _) = call(&ctx, &mv("/", "/x"), b"").await;
        assert_eq!(code(&answer), ErrorCode::InvalidPath);
        let (answer, _) = call(&ctx, &mv("/nope", "/x"), b"").await;
        assert_eq!(code(&answer), ErrorCode::NotFound);
    }
}
