//! `get`: a file's bytes after a [`Response::File`] header, and with `hash`
//! a [`Trailer`] with the whole file's BLAKE3.

use ferry_net::{pump, write_frame, PumpError, SendHalf};
use ferry_proto::{Digest, RemotePath, Response, Trailer};

use super::{reply, Failure, Outcome};
use crate::context::Context;

/// What a `get` asks for.
#[derive(Debug)]
pub(crate) struct Get {
    pub(crate) path: RemotePath,
    /// Where the client wants the bytes to start.
    pub(crate) offset: u64,
    /// The hash of the client's part before `offset`, to resume.
    pub(crate) prefix: Option<Digest>,
    /// Whether to send a trailer.
    pub(crate) hash: bool,
}

pub(crate) async fn serve<S: SendHalf>(ctx: &Context, get: Get, send: &mut S) -> Outcome {
    let _permit = ctx.bulk.acquire().await.ok();
    let Get {
        path,
        mut offset,
        prefix,
        hash,
    } = get;
    let hashing = hash || prefix.is_some();
    let mut file = ctx.storage.open_read(&path, offset, hashing).await?;
    if prefix.is_some() && file.prefix() != prefix {
        // The client's part is not a prefix of this file (it changed, or the
        // part is damaged): it gets the whole file and starts over.
        offset = 0;
        file = ctx.storage.open_read(&path, 0, hashing).await?;
    }
    let entry = file.entry().clone();
    reply(
        send,
        &Response::File {
            size: entry.size,
            mtime: entry.mtime,
            mode: entry.mode,
            offset,
            trailer: hash,
        },
    )
    .await?;
    pump::send_from(send, &mut file, entry.size - offset, &|_| {})
        .await
        .map_err(|e| match e {
            PumpError::Storage(e) => Failure::Broken(e.to_string()),
            other => Failure::Broken(format!("{path}: {other}")),
        })?;
    if hash {
        let digest = file
            .digest()
            .ok_or_else(|| Failure::Broken(format!("{path}: the storage did not hash the file")))?;
        write_frame(send, &Trailer { hash: digest })
            .await
            .map_err(|e| Failure::Broken(format!("{path}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ferry_proto::{frame, Digest, ErrorCode, Request, Response, Trailer};

    use crate::ops::testing::{call, code, context};
    use crate::storage::testing::b3;

    fn get(p: &str, offset: u64, prefix: Option<Digest>, hash: bool) -> Request {
        Request::Get {
            path: p.into(),
            offset,
            prefix,
            hash,
        }
    }

    #[tokio::test]
    async fn whole_files_offsets_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..1_300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.path().join("f"), &data).unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let ctx = context(dir.path());
        let (answer, body) = call(&ctx, &get("/f", 0, None, false), b"").await;
        assert!(matches!(answer, Response::File { size, .. } if size == data.len() as u64));
        assert!(body == data);
        let (_, body) = call(&ctx, &get("/f", 1_000_001, None, false), b"").await;
        assert!(body == data[1_000_001..]);
        let (_, body) = call(&ctx, &get("/f", data.len() as u64, None, false), b"").await;
        assert!(body.is_empty());
        for (req, want) in [
            (
                get("/f", data.len() as u64 + 1, None, false),
                ErrorCode::Protocol,
            ),
            (get("/d", 0, None, false), ErrorCode::IsADirectory),
            (get("/nope", 0, None, false), ErrorCode::NotFound),
        ] {
            let (answer, _) = call(&ctx, &req, b"").await;
            assert_eq!(code(&answer), want, "{req:?}");
        }
    }

    /// Splits a body from its trailer frame.
    fn trailer(body: &[u8], len: usize) -> Digest {
        let (t, used) = frame::decode::<Trailer>(&body[len..]).unwrap().unwrap();
        assert_eq!(len + used, body.len(), "nothing after the trailer");
        t.hash
    }

    #[tokio::test]
    async fn a_matching_prefix_resumes_and_a_wrong_one_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 241) as u8).collect();
        std::fs::write(dir.path().join("f"), &data).unwrap();
        let ctx = context(dir.path());

        let (answer, body) = call(&ctx, &get("/f", 0, None, true), b"").await;
        assert!(matches!(
            answer,
            Response::File {
                offset: 0,
                trailer: true,
                ..
            }
        ));
        assert_eq!(trailer(&body, data.len()), b3(&data));

        let at = 1_234_567;
        let req = get("/f", at as u64, Some(b3(&data[..at])), true);
        let (answer, body) = call(&ctx, &req, b"").await;
        assert!(
            matches!(answer, Response::File { offset, .. } if offset == at as u64),
            "{answer:?}"
        );
        assert!(body[..data.len() - at] == data[at..]);
        assert_eq!(trailer(&body, data.len() - at), b3(&data));

        let mut damaged = data[..at].to_vec();
        damaged[10] ^= 1;
        let req = get("/f", at as u64, Some(b3(&damaged)), true);
        let (answer, body) = call(&ctx, &req, b"").await;
        assert!(
            matches!(answer, Response::File { offset: 0, .. }),
            "{answer:?}"
        );
        assert!(body[..data.len()] == data);
        assert_eq!(trailer(&body, data.len()), b3(&data));
    }
}
