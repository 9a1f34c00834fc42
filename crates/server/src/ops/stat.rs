//! `stat`: the metadata of one path.

use ferry_net::SendHalf;
use ferry_proto::{RemotePath, Response};

use super::{reply, Outcome};
use crate::context::Context;

pub(crate) async fn serve<S: SendHalf>(ctx: &Context, path: RemotePath, send: &mut S) -> Outcome {
    let entry = ctx.storage.stat(&path).await?;
    reply(send, &Response::Stat { entry }).await
}

#[cfg(test)]
mod tests {
    use ferry_proto::{ErrorCode, Kind, Request, Response};

    use crate::ops::testing::{call, code, context};

    #[tokio::test]
    async fn files_directories_and_missing_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"12345").unwrap();
        let ctx = context(dir.path());
        let stat = |p: &str| Request::Stat { path: p.into() };
        match call(&ctx, &stat("/f"), b"").await.0 {
            Response::Stat { entry } => {
                assert_eq!(
                    (entry.name.as_str(), entry.kind, entry.size),
                    ("f", Kind::File, 5)
                );
            }
            other => panic!("{other:?}"),
        }
        match call(&ctx, &stat("/"), b"").await.0 {
            Response::Stat { entry } => assert_eq!(entry.kind, Kind::Dir),
            other => panic!("{other:?}"),
        }
        let (answer, _) = call(&ctx, &stat("/nope"), b"").await;
        assert_eq!(code(&answer), ErrorCode::NotFound);

        // Links say where they point: followed when they lead somewhere,
        // the link itself when they dangle.
        std::os::unix::fs::symlink("f", dir.path().join("to-f")).unwrap();
        std::os::unix::fs::symlink("gone", dir.path().join("dangling")).unwrap();
        match call(&ctx, &stat("/to-f"), b"").await.0 {
            Response::Stat { entry } => {
                assert_eq!((entry.kind, entry.size), (Kind::File, 5));
                assert_eq!(entry.target.as_deref(), Some("f"));
            }
            other => panic!("{other:?}"),
        }
        match call(&ctx, &stat("/dangling"), b"").await.0 {
            Response::Stat { entry } => {
                assert_eq!(entry.kind, Kind::Symlink);
                assert_eq!(entry.target.as_deref(), Some("gone"));
            }
            other => panic!("{other:?}"),
        }
        match call(&ctx, &stat("/f"), b"").await.0 {
            Response::Stat { entry } => assert_eq!(entry.target, None),
            other => panic!("{other:?}"),
        }
    }
}
