//! `put`: receive a file through the storage's write handle, which makes it
//! appear under its name only once every declared byte arrived and, when
//! the client sent one, its BLAKE3 matches the trailer. An upload from an
//! offset resumes the destination's partial file, if its first bytes hash to
//! the prefix the client names.

use ferry_net::{pump, PumpError, RecvHalf, SendHalf};
use ferry_proto::{ErrorCode, PutRequest, RemotePath, Response, WireError};

use super::{reply, Failure, Outcome};
use crate::{
    context::Context,
    storage::{Commit, Resume, StorageError, WriteHandle},
};

pub(crate) async fn serve<S: SendHalf, R: RecvHalf>(
    ctx: &Context,
    path: RemotePath,
    put: PutRequest,
    send: &mut S,
    recv: &mut R,
) -> Outcome {
    ctx.check_write("put")?;
    let protocol = |why: String| Failure::Reply(WireError::new(ErrorCode::Protocol, why));
    if put.offset > put.size {
        return Err(protocol(format!(
            "{path}: offset {} is beyond the size {}",
            put.offset, put.size
        )));
    }
    let resume = match (put.offset, put.prefix) {
        (0, _) => None,
        (offset, Some(prefix)) => Some(Resume { offset, prefix }),
        (_, None) => {
            return Err(protocol(format!(
                "{path}: an upload from an offset must name the hash of what comes before it"
            )))
        }
    };
    if put.size_unknown {
        if resume.is_some() || put.hash {
            return Err(protocol(format!(
                "{path}: an upload of unknown size cannot resume or carry a hash"
            )));
        }
        return streamed(ctx, path, &put, send, recv).await;
    }
    let _permit = ctx.bulk.acquire().await.ok();
    let mut file = ctx.storage.create(&path, resume).await?;
    let expected = put.size - put.offset;
    let stall = Some(ctx.limits.stall_timeout);
    let received = async {
        pump::recv_into(recv, &mut file, expected, stall, &|_| {}).await?;
        pump::recv_end(recv, put.hash, expected, stall).await
    };
    let trailer = match received.await {
        Ok(trailer) => trailer,
        // The stream was cut or went quiet: the part stays for a resume.
        Err(PumpError::Stream(e)) => return Err(Failure::Broken(format!("{path}: {e}"))),
        Err(e @ PumpError::Stalled(_)) => return Err(protocol(format!("{path}: {e}"))),
        Err(PumpError::Storage(e)) => return Err(e.into()),
        // The client broke the protocol: what it sent is not to be kept.
        Err(e) => {
            file.discard().await;
            return Err(protocol(format!("{path}: {e}")));
        }
    };
    file.commit(Commit {
        size: put.size,
        mtime: put.mtime,
        mode: put.mode,
        new_mode: put.new_mode,
        hash: trailer.map(|t| t.hash),
    })
    .await
    .map_err(|e: StorageError| Failure::from(e))?;
    reply(send, &Response::Ok).await
}

/// Removes a streamed upload's partial when the handler is dropped midway
/// (the connection went away): unlike a sized upload's, it can never be
/// resumed.
struct Discard(Option<Box<dyn WriteHandle>>);

impl Drop for Discard {
    fn drop(&mut self) {
        if let (Some(file), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(file.discard());
        }
    }
}

/// An upload of unknown size (a pipe on the client): everything up to the
/// FIN is the file. It cannot be resumed, so whatever goes wrong removes
/// the partial.
async fn streamed<S: SendHalf, R: RecvHalf>(
    ctx: &Context,
    path: RemotePath,
    put: &PutRequest,
    send: &mut S,
    recv: &mut R,
) -> Outcome {
    let _permit = ctx.bulk.acquire().await.ok();
    let mut guard = Discard(Some(ctx.storage.create(&path, None).await?));
    let stall = Some(ctx.limits.stall_timeout);
    let Some(file) = guard.0.as_mut() else {
        return Err(Failure::Broken(format!("{path}: lost the partial file")));
    };
    let received = pump::recv_to_fin(recv, file, stall, &|_| {}).await;
    let Some(file) = guard.0.take() else {
        return Err(Failure::Broken(format!("{path}: lost the partial file")));
    };
    let size = match received {
        Ok(size) => size,
        Err(e) => {
            file.discard().await;
            return Err(match e {
                PumpError::Stream(e) => Failure::Broken(format!("{path}: {e}")),
                PumpError::Storage(e) => e.into(),
                other => Failure::Reply(WireError::new(
                    ErrorCode::Protocol,
                    format!("{path}: {other}"),
                )),
            });
        }
    };
    file.commit(Commit {
        size,
        mtime: put.mtime,
        mode: put.mode,
        new_mode: put.new_mode,
        hash: None,
    })
    .await
    .map_err(|e: StorageError| Failure::from(e))?;
    reply(send, &Response::Ok).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferry_net::{read_frame, stream::duplex, write_frame, SendHalf};
    use ferry_proto::{
        frame, Digest, ErrorCode, PutRequest, Request, Response, Timestamp, Trailer,
    };

    use crate::ops::testing::{call, code, context};
    use crate::storage::testing::b3;

    fn put(path: &str, size: u64) -> Request {
        Request::Put(PutRequest {
            path: path.into(),
            size,
            offset: 0,
            prefix: None,
            hash: false,
            mtime: Some(Timestamp {
                secs: 1_600_000_000,
                nanos: 0,
            }),
            mode: None,
            new_mode: None,
            size_unknown: false,
        })
    }

    fn verified(
        path: &str,
        data: &[u8],
        offset: usize,
        prefix: Option<Digest>,
    ) -> (Request, Vec<u8>) {
        let req = Request::Put(PutRequest {
            path: path.into(),
            size: data.len() as u64,
            offset: offset as u64,
            prefix,
            hash: true,
            mtime: None,
            mode: None,
            new_mode: None,
            size_unknown: false,
        });
        let trailer = frame::encode(&Trailer { hash: b3(data) }).unwrap();
        (req, [&data[offset..], &trailer].concat())
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
        assert_eq!(names(dir.path()), ["d", "f"], "no partial file left");
    }

    fn streamed(path: &str) -> Request {
        Request::Put(PutRequest {
            path: path.into(),
            size: 0,
            offset: 0,
            prefix: None,
            hash: false,
            mtime: None,
            mode: None,
            new_mode: Some(0o640),
            size_unknown: true,
        })
    }

    #[tokio::test]
    async fn an_upload_of_unknown_size_runs_to_fin_and_only_then_commits() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let data: Vec<u8> = (0..1_100_000u32).map(|i| (i % 253) as u8).collect();
        let (answer, _) = call(&ctx, &streamed("/s"), &data).await;
        assert_eq!(answer, Response::Ok);
        assert!(std::fs::read(dir.path().join("s")).unwrap() == data);
        let (answer, _) = call(&ctx, &streamed("/empty"), b"").await;
        assert_eq!(answer, Response::Ok);
        assert_eq!(std::fs::read(dir.path().join("empty")).unwrap(), b"");

        // Neither a hash trailer nor a resume goes with an unknown size.
        let Request::Put(mut bad) = streamed("/x") else {
            unreachable!()
        };
        bad.hash = true;
        let (answer, _) = call(&ctx, &Request::Put(bad), b"abc").await;
        assert_eq!(code(&answer), ErrorCode::Protocol);

        // A reset instead of a FIN: nothing is committed, nothing is left.
        let ((mut csend, mut crecv), (ssend, srecv)) = duplex(4);
        let server_ctx = ctx.clone();
        let server = tokio::spawn(async move {
            crate::request::serve(&server_ctx, ssend, srecv).await;
        });
        write_frame(&mut csend, &streamed("/cut")).await.unwrap();
        csend.write_all(&[5; 1000]).await.unwrap();
        csend.reset(ferry_net::codes::CANCELLED);
        let _ = read_frame::<Response>(&mut crecv).await;
        server.await.unwrap();
        assert_eq!(names(dir.path()), ["empty", "s"], "nothing of /cut");
    }

    #[tokio::test]
    async fn new_files_get_the_source_bits_less_the_umask_and_old_ones_keep_theirs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        let (answer, _) = call(&ctx, &streamed("/new"), b"x").await;
        assert_eq!(answer, Response::Ok);
        assert_eq!(mode("new"), 0o640 & !crate::storage::umask());
        std::fs::write(dir.path().join("old"), b"o").unwrap();
        std::fs::set_permissions(
            dir.path().join("old"),
            std::fs::Permissions::from_mode(0o604),
        )
        .unwrap();
        let (answer, _) = call(&ctx, &streamed("/old"), b"y").await;
        assert_eq!(answer, Response::Ok);
        assert_eq!(mode("old"), 0o604, "a replaced file keeps its bits");
        assert_eq!(std::fs::read(dir.path().join("old")).unwrap(), b"y");
    }

    #[tokio::test]
    async fn the_hash_is_checked_before_anything_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"old").unwrap();
        let ctx = context(dir.path());
        let data = vec![9u8; 600_000];
        let (req, body) = verified("/f", &data, 0, None);
        assert_eq!(call(&ctx, &req, &body).await.0, Response::Ok);
        assert!(std::fs::read(dir.path().join("f")).unwrap() == data);

        // One byte flipped in flight: refused, the file stays as it was.
        let (req, mut body) = verified("/f", &[1u8; 1000], 0, None);
        body[500] ^= 0x40;
        let (answer, _) = call(&ctx, &req, &body).await;
        assert_eq!(code(&answer), ErrorCode::HashMismatch);
        // A trailer that is missing, or followed by more bytes.
        let (req, body) = verified("/f", &[1u8; 1000], 0, None);
        let (answer, _) = call(&ctx, &req, &body[..1000]).await;
        assert_eq!(code(&answer), ErrorCode::Protocol);
        let (answer, _) = call(&ctx, &req, &[&body[..], b"x"].concat()).await;
        assert_eq!(code(&answer), ErrorCode::Protocol);
        assert!(std::fs::read(dir.path().join("f")).unwrap() == data);
        assert_eq!(names(dir.path()), ["f"]);
    }

    /// Uploads the first `sent` bytes of `data` to /f, then resets the
    /// stream (`reset`) or drops it.
    async fn cut_off(ctx: &crate::context::Context, data: &[u8], sent: usize, reset: bool) {
        let ((mut csend, _crecv), (ssend, srecv)) = duplex(16);
        let server_ctx = ctx.clone();
        let server = tokio::spawn(async move {
            crate::request::serve(&server_ctx, ssend, srecv).await;
        });
        let (req, body) = verified("/f", data, 0, None);
        write_frame(&mut csend, &req).await.unwrap();
        csend.write_all(&body[..sent]).await.unwrap();
        if reset {
            csend.reset(ferry_net::codes::CANCELLED);
        }
        drop(csend);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_interrupted_upload_resumes_only_from_a_true_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 239) as u8).collect();
        // The first 900 000 bytes arrive, then the stream is reset.
        cut_off(&ctx, &data, 900_000, true).await;
        assert_eq!(names(dir.path()), [".f.ferry-part"]);
        let kept = std::fs::metadata(dir.path().join(".f.ferry-part"))
            .unwrap()
            .len();
        assert_eq!(kept, 900_000);

        // A resume whose prefix is not what the server holds is refused.
        let mut other = data[..800_000].to_vec();
        other[7] ^= 1;
        let (req, body) = verified("/f", &data, 800_000, Some(b3(&other)));
        let (answer, _) = call(&ctx, &req, &body).await;
        assert_eq!(code(&answer), ErrorCode::PrefixMismatch);
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));

        // Again, cut off (the client vanishes); then resumed from a true
        // prefix.
        cut_off(&ctx, &data, 900_000, false).await;
        let (req, body) = verified("/f", &data, 800_000, Some(b3(&data[..800_000])));
        assert_eq!(call(&ctx, &req, &body).await.0, Response::Ok);
        assert!(std::fs::read(dir.path().join("f")).unwrap() == data);
        assert_eq!(names(dir.path()), ["f"]);
    }

    /// An upload whose body stops coming is answered after the stall timeout
    /// and holds no thread meanwhile, without anyone waiting in real time.
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
        assert!(!dir.path().join("f").exists());
    }
}
