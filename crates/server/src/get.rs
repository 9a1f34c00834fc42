//! `get`: a file's bytes after a [`Response::File`] header.

use std::{
    io::{Seek, SeekFrom},
    sync::Arc,
};

use ferry_net::{pump, CHUNK_SIZE};
use ferry_proto::{ErrorCode, RemotePath, Response, WireError};
use quinn::SendStream;

use crate::{
    handler::{blocking, reply, Failure, Outcome},
    storage::Storage,
};

pub async fn serve(
    storage: &Arc<Storage>,
    path: RemotePath,
    offset: u64,
    send: &mut SendStream,
) -> Outcome {
    // Open, stat and read the first chunk in one trip to the blocking pool:
    // a small file then needs no other.
    let (file, entry, first) = blocking(storage, move |s| {
        let (mut file, entry) = s.open_read(&path)?;
        let io = |e: std::io::Error| crate::storage::wire_error(&e, &path);
        if offset > entry.size {
            return Err(WireError::new(
                ErrorCode::Protocol,
                format!(
                    "{path}: offset {offset} is beyond the end ({} bytes)",
                    entry.size
                ),
            ));
        }
        if offset > 0 {
            file.seek(SeekFrom::Start(offset)).map_err(io)?;
        }
        let first_len = (entry.size - offset).min(CHUNK_SIZE as u64) as usize;
        let first = pump::read_chunk(&mut file, first_len).map_err(io)?;
        Ok((file, entry, first))
    })
    .await?;
    reply(
        send,
        &Response::File {
            size: entry.size,
            mtime: entry.mtime,
            mode: entry.mode,
        },
    )
    .await?;
    let rest = entry.size - offset - first.len() as u64;
    let broken = |e: &dyn std::fmt::Display| Failure::Broken(e.to_string());
    if !first.is_empty() {
        send.write_chunk(first).await.map_err(|e| broken(&e))?;
    }
    pump::send_file(send, file, rest, &|_| {})
        .await
        .map_err(|e| broken(&e))
}
