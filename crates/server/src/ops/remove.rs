//! `remove`: delete a file or a symlink (never a directory).

use ferry_net::SendHalf;
use ferry_proto::{RemotePath, Response};

use super::{reply, Outcome};
use crate::context::Context;

pub(crate) async fn serve<S: SendHalf>(ctx: &Context, path: RemotePath, send: &mut S) -> Outcome {
    ctx.check_write("rm")?;
    ctx.storage.remove(&path).await?;
    reply(send, &Response::Ok).await
}

#[cfg(test)]
mod tests {
    use ferry_proto::{ErrorCode, Request, Response};

    use crate::ops::testing::{call, code, context};

    #[tokio::test]
    async fn files_go_directories_stay() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let ctx = context(dir.path());
        let remove = |p: &str| Request::Remove { path: p.into() };
        assert_eq!(call(&ctx, &remove("/f"), b"").await.0, Response::Ok);
        assert!(!dir.path().join("f").exists());
        let (answer, _) = call(&ctx, &remove("/d"), b"").await;
        assert_eq!(code(&answer), ErrorCode::IsADirectory);
        let (answer, _) = call(&ctx, &remove("/f"), b"").await;
        assert_eq!(code(&answer), ErrorCode::NotFound);
        assert!(dir.path().join("d").is_dir());
    }
}
