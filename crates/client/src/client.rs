//! [`Client`]: one connection, and one stream per operation on it.

use std::{
    fs::{File, FileTimes},
    io,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use ferry_net::{codes, pump, read_frame, write_frame, PumpError, CHUNK_SIZE};
use ferry_proto::{Entry, ListChunk, PutRequest, RemotePath, Request, Response, Timestamp};
use quinn::RecvStream;

use crate::{ClientError, Target};

/// Suffix of the temporary files downloads write into before renaming.
pub const PART_SUFFIX: &str = ".ferry-part";

/// A connection to one server. Cloning is cheap and clones share the
/// connection, so operations can run concurrently from many tasks.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    target: Target,
}

/// What a download or upload moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// File size in bytes.
    pub bytes: u64,
}

impl Client {
    pub(crate) fn new(endpoint: quinn::Endpoint, conn: quinn::Connection, target: Target) -> Self {
        Client {
            endpoint,
            conn,
            target,
        }
    }

    /// The server this client is connected to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The round-trip time QUIC currently estimates.
    pub fn rtt(&self) -> Duration {
        self.conn.rtt()
    }

    /// The underlying QUIC connection, for tests that speak the raw protocol.
    #[doc(hidden)]
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.conn.close_reason().is_some()
    }

    /// Closes the connection and gives the endpoint a moment to send the
    /// close to the server. Waiting for the whole draining period (three
    /// probe timeouts, about 80 ms even on loopback) would add that to every
    /// command; the close frame itself leaves within a millisecond or two.
    pub async fn close(&self) {
        self.conn.close(codes::DONE, b"bye");
        let _ = tokio::time::timeout(Duration::from_millis(25), self.endpoint.wait_idle()).await;
    }

    /// Sends `request` with no body and reads the answer frame.
    async fn call(&self, request: &Request) -> Result<(Response, RecvStream), ClientError> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        write_frame(&mut send, request).await?;
        let _ = send.finish();
        let response = read_answer(&mut recv).await?;
        Ok((response, recv))
    }

    async fn call_ok(&self, request: &Request) -> Result<(), ClientError> {
        match self.call(request).await?.0 {
            Response::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Metadata of `path` (following symlinks inside the root).
    pub async fn stat(&self, path: &RemotePath) -> Result<Entry, ClientError> {
        match self
            .call(&Request::Stat {
                path: path.to_wire(),
            })
            .await?
            .0
        {
            Response::Stat { entry } => Ok(entry),
            other => Err(unexpected(&other)),
        }
    }

    /// The entries of the directory `path`, in the server's order.
    pub async fn list(&self, path: &RemotePath) -> Result<Vec<Entry>, ClientError> {
        let (response, mut recv) = self
            .call(&Request::List {
                path: path.to_wire(),
            })
            .await?;
        if response != Response::Listing {
            return Err(unexpected(&response));
        }
        let mut entries = Vec::new();
        while let Some(chunk) = read_frame::<ListChunk>(&mut recv).await? {
            entries.extend(chunk.entries);
        }
        Ok(entries)
    }

    /// Creates a directory (with `parents`, like `mkdir -p`).
    pub async fn mkdir(&self, path: &RemotePath, parents: bool) -> Result<(), ClientError> {
        self.call_ok(&Request::Mkdir {
            path: path.to_wire(),
            parents,
        })
        .await
    }

    /// Removes an empty directory.
    pub async fn rmdir(&self, path: &RemotePath) -> Result<(), ClientError> {
        self.call_ok(&Request::Rmdir {
            path: path.to_wire(),
        })
        .await
    }

    /// Removes a file.
    pub async fn remove(&self, path: &RemotePath) -> Result<(), ClientError> {
        self.call_ok(&Request::Remove {
            path: path.to_wire(),
        })
        .await
    }

    /// Renames `from` to `to`, or moves it into `to` if that is a directory.
    pub async fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), ClientError> {
        self.call_ok(&Request::Rename {
            from: from.to_wire(),
            to: to.to_wire(),
        })
        .await
    }

    /// Downloads `remote` to the local file `local`, atomically: the bytes go
    /// to a temporary file beside `local`, which replaces `local` only once
    /// complete. Keeps the modification time, and the permission bits with
    /// `preserve_mode`.
    pub async fn download(
        &self,
        remote: &RemotePath,
        local: &Path,
        preserve_mode: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, ClientError> {
        // Ask the server and prepare the local file at the same time.
        let request = async {
            let (mut send, mut recv) = self.conn.open_bi().await?;
            write_frame(
                &mut send,
                &Request::Get {
                    path: remote.to_wire(),
                    offset: 0,
                },
            )
            .await?;
            let _ = send.finish();
            let answer = read_answer(&mut recv).await?;
            Ok::<_, ClientError>((answer, recv))
        };
        let local_owned = local.to_owned();
        let prepare = tokio::task::spawn_blocking(move || create_partial(&local_owned));
        let (answer, partial) = tokio::join!(request, prepare);
        let (answer, mut recv) = answer?;
        let partial = partial.map_err(|e| ClientError::Protocol(e.to_string()))??;
        let Response::File { size, mtime, mode } = answer else {
            return Err(unexpected(&answer));
        };
        let (file, temp_path) = partial.into_parts();
        let file = pump::recv_to_file(&mut recv, file, size, progress)
            .await
            .map_err(|e| pump_error(e, local))?;
        let local_owned = local.to_owned();
        tokio::task::spawn_blocking(move || -> Result<(), ClientError> {
            let fail = ClientError::local(&local_owned);
            finish_local(&file, mtime, preserve_mode.then_some(mode)).map_err(fail)?;
            drop(file);
            temp_path
                .persist(&local_owned)
                .map_err(|e| ClientError::local(&local_owned)(e.error))
        })
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))??;
        Ok(Moved { bytes: size })
    }

    /// Uploads the local file `local` to `remote`. The server writes it to a
    /// temporary file and renames it into place only once complete. Keeps
    /// the modification time, and the permission bits with `preserve_mode`.
    pub async fn upload(
        &self,
        local: &Path,
        remote: &RemotePath,
        preserve_mode: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, ClientError> {
        let path = local.to_owned();
        let (file, size, mtime, mode, first) = tokio::task::spawn_blocking(move || {
            let fail = ClientError::local(&path);
            let mut file = File::open(&path).map_err(fail)?;
            let meta = file.metadata().map_err(ClientError::local(&path))?;
            if meta.is_dir() {
                return Err(ClientError::Usage(format!(
                    "{}: is a directory (use -r)",
                    path.display()
                )));
            }
            let size = meta.len();
            let first_len = size.min(CHUNK_SIZE as u64) as usize;
            let first =
                pump::read_chunk(&mut file, first_len).map_err(ClientError::local(&path))?;
            let mtime = meta.modified().ok().and_then(Timestamp::from_system);
            Ok((file, size, mtime, meta.permissions().mode() & 0o7777, first))
        })
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))??;

        let (mut send, mut recv) = self.conn.open_bi().await?;
        let request = Request::Put(PutRequest {
            path: remote.to_wire(),
            size,
            offset: 0,
            mtime,
            mode: preserve_mode.then_some(mode),
        });
        let sent = async {
            write_frame(&mut send, &request).await?;
            let rest = size - first.len() as u64;
            if !first.is_empty() {
                let n = first.len() as u64;
                send.write_chunk(first).await.map_err(PumpError::from)?;
                progress(n);
            }
            pump::send_file(&mut send, file, rest, progress)
                .await
                .map_err(|e| pump_error(e, local))?;
            let _ = send.finish();
            Ok::<_, ClientError>(())
        }
        .await;
        if let Err(ClientError::Local { .. }) = sent {
            // Reading the local file failed: abandon the stream so the server
            // commits nothing.
            let _ = send.reset(codes::CANCELLED);
        }
        // The server answers even when it stopped the upload early; its
        // answer explains a failed send better than the send error does.
        match (read_answer(&mut recv).await, sent) {
            (Ok(Response::Ok), Ok(())) => Ok(Moved { bytes: size }),
            (Ok(Response::Ok), Err(e)) => Err(e),
            (Ok(other), _) => Err(unexpected(&other)),
            (Err(e), Ok(())) => Err(e),
            (Err(ClientError::Remote(e)), Err(_)) => Err(ClientError::Remote(e)),
            (Err(_), Err(e)) => Err(e),
        }
    }
}

/// Reads the answer frame; an error answer becomes [`ClientError::Remote`].
async fn read_answer(recv: &mut RecvStream) -> Result<Response, ClientError> {
    match read_frame::<Response>(recv).await? {
        Some(Response::Error(e)) => Err(ClientError::Remote(e)),
        Some(response) => Ok(response),
        None => Err(ClientError::Protocol(
            "the server closed the stream without answering".into(),
        )),
    }
}

fn unexpected(response: &Response) -> ClientError {
    match response {
        Response::Error(e) => ClientError::Remote(e.clone()),
        other => ClientError::Protocol(format!("unexpected answer {other:?}")),
    }
}

fn pump_error(e: PumpError, local: &Path) -> ClientError {
    match e {
        PumpError::Io(e) => ClientError::local(local)(e),
        other => other.into(),
    }
}

/// Creates the temporary file a download of `local` is written to.
fn create_partial(local: &Path) -> Result<tempfile::NamedTempFile, ClientError> {
    if local.is_dir() {
        return Err(ClientError::Local {
            path: local.to_owned(),
            error: io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
        });
    }
    let name = local
        .file_name()
        .ok_or_else(|| ClientError::Usage(format!("{}: not a file name", local.display())))?
        .to_string_lossy();
    let dir = match local.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let prefix: String = format!(".{name}.").chars().take(200).collect();
    // 0666 less the umask, as for any new file; `-p` sets the bits later.
    tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(PART_SUFFIX)
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(&dir)
        .map_err(ClientError::local(dir))
}

/// Applies the modification time, and the permission bits when kept, to a
/// finished file.
fn finish_local(file: &File, mtime: Option<Timestamp>, mode: Option<u32>) -> io::Result<()> {
    if let Some(t) = mtime.and_then(Timestamp::to_system) {
        file.set_times(FileTimes::new().set_modified(t))?;
    }
    match mode {
        Some(mode) => file.set_permissions(std::fs::Permissions::from_mode(mode & 0o777)),
        None => Ok(()),
    }
}
