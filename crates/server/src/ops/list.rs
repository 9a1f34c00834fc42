//! `list`: a directory's entries, streamed in chunks so that a huge
//! directory never becomes one message or one allocation.

use ferry_net::{write_frame, SendHalf};
use ferry_proto::{Entry, ListChunk, RemotePath, Response, LIST_CHUNK_ENTRIES, MAX_FRAME_LEN};

use super::{reply, Failure, Outcome};
use crate::context::Context;

pub(crate) async fn serve<S: SendHalf>(ctx: &Context, path: RemotePath, send: &mut S) -> Outcome {
    let mut listing = ctx.storage.list(&path).await?;
    reply(send, &Response::Listing).await?;
    let broken = |e: &dyn std::fmt::Display| Failure::Broken(e.to_string());
    let mut entries = listing
        .next_batch(LIST_CHUNK_ENTRIES)
        .await
        .map_err(|e| broken(&e))?;
    while !entries.is_empty() {
        // Read the next batch while this one goes out.
        let write = async {
            for entries in fitting(entries) {
                write_frame(send, &ListChunk { entries })
                    .await
                    .map_err(|e| broken(&e))?;
            }
            Ok(())
        };
        let next = async {
            listing
                .next_batch(LIST_CHUNK_ENTRIES)
                .await
                .map_err(|e| broken(&e))
        };
        ((), entries) = tokio::try_join!(write, next)?;
    }
    Ok(())
}

/// Splits a batch into chunks that each fit a frame: names are at most 255
/// bytes, but a link's target may be 4 KiB.
fn fitting(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    // Generous for one entry's keys, kind, size, time and mode in CBOR.
    const OVERHEAD: usize = 128;
    let budget = MAX_FRAME_LEN - 1024;
    let mut chunks = vec![Vec::new()];
    let mut used = 0;
    for entry in entries {
        let cost = OVERHEAD + entry.name.len() + entry.target.as_ref().map_or(0, String::len);
        if used + cost > budget && chunks.last().is_some_and(|c| !c.is_empty()) {
            chunks.push(Vec::new());
            used = 0;
        }
        used += cost;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(entry);
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use ferry_proto::{frame, ErrorCode, Kind, ListChunk, Request, Response, LIST_CHUNK_ENTRIES};

    use crate::ops::testing::{call, code, context};

    #[tokio::test]
    async fn a_big_directory_arrives_in_bounded_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let count = LIST_CHUNK_ENTRIES * 2 + 5;
        for i in 0..count {
            std::fs::write(dir.path().join(format!("f{i}")), b"").unwrap();
        }
        let ctx = context(dir.path());
        let (answer, rest) = call(&ctx, &Request::List { path: "/".into() }, b"").await;
        assert_eq!(answer, Response::Listing);
        let (mut names, mut at) = (Vec::new(), 0);
        while at < rest.len() {
            let (chunk, used) = frame::decode::<ListChunk>(&rest[at..]).unwrap().unwrap();
            assert!(chunk.entries.len() <= LIST_CHUNK_ENTRIES);
            names.extend(chunk.entries.into_iter().map(|e| e.name));
            at += used;
        }
        names.sort();
        let mut want: Vec<String> = (0..count).map(|i| format!("f{i}")).collect();
        want.sort();
        assert_eq!(names, want);

        std::fs::write(dir.path().join("file"), b"").unwrap();
        let (answer, _) = call(
            &ctx,
            &Request::List {
                path: "/file".into(),
            },
            b"",
        )
        .await;
        assert_eq!(code(&answer), ErrorCode::NotADirectory);
    }

    #[tokio::test]
    async fn links_with_long_targets_still_fit_the_frames() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("/{}", "t/".repeat(1900));
        for i in 0..LIST_CHUNK_ENTRIES + 3 {
            std::os::unix::fs::symlink(&long, dir.path().join(format!("{i:0>200}"))).unwrap();
        }
        let ctx = context(dir.path());
        let (answer, rest) = call(&ctx, &Request::List { path: "/".into() }, b"").await;
        assert_eq!(answer, Response::Listing);
        let (mut count, mut at) = (0, 0);
        while at < rest.len() {
            let (chunk, used) = frame::decode::<ListChunk>(&rest[at..]).unwrap().unwrap();
            for e in &chunk.entries {
                assert_eq!(e.kind, Kind::Symlink);
                assert_eq!(e.target.as_deref(), Some(long.as_str()));
            }
            count += chunk.entries.len();
            at += used;
        }
        assert_eq!(count, LIST_CHUNK_ENTRIES + 3);
    }
}
