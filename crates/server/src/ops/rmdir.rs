//! `rmdir`: remove an empty directory.

use ferry_net::SendHalf;
use ferry_proto::{RemotePath, Response};

use super::{reply, Outcome};
use crate::context::Context;

pub(crate) async fn serve<S: SendHalf>(ctx: &Context, path: RemotePath, send: &mut S) -> Outcome {
    ctx.check_write("rmdir")?;
    ctx.storage.rmdir(&path).await?;
    reply(send, &Response::Ok).await
}

#[cfg(test)]
mod tests {
    use ferry_proto::{ErrorCode, Request, Response};

    use crate::ops::testing::{call, code, context};

    #[tokio::test]
    async fn only_empty_directories_and_never_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("full/sub")).unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        std::fs::write(dir.path().join("f"), b"").unwrap();
        let ctx = context(dir.path());
        let rmdir = |p: &str| Request::Rmdir { path: p.into() };
        assert_eq!(call(&ctx, &rmdir("/empty"), b"").await.0, Response::Ok);
        assert!(!dir.path().join("empty").exists());
        for (path, want) in [
            ("/full", ErrorCode::NotEmpty),
            ("/f", ErrorCode::NotADirectory),
            ("/", ErrorCode::InvalidPath),
            ("/gone", ErrorCode::NotFound),
        ] {
            let (answer, _) = call(&ctx, &rmdir(path), b"").await;
            assert_eq!(code(&answer), want, "{path}");
        }
        assert!(dir.path().join("full/sub").is_dir());
    }
}
