//! [`Client`]: one connection, and one stream per operation on it.

use std::{
    fs::{File, FileTimes},
    io,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use ferry_net::{
    codes,
    file::{read_exactly, FileSink, FileSource},
    pump, read_frame, write_frame, RecvHalf, SendHalf, CHUNK_SIZE,
};
use ferry_proto::{Entry, ListChunk, PutRequest, RemotePath, Request, Response, Timestamp};

use crate::{connect::ConnectOptions, ConnectError, ProtocolError, RequestError, Target};

/// Suffix of the temporary files downloads write into before renaming.
pub const PART_SUFFIX: &str = ".ferry-part";

/// A connection to one server. Cloning is cheap and clones share the
/// connection, so operations can run concurrently from many tasks.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    target: Target,
    options: Arc<ConnectOptions>,
}

/// What a download or upload moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// File size in bytes.
    pub bytes: u64,
}

impl Client {
    pub(crate) fn new(
        endpoint: quinn::Endpoint,
        conn: quinn::Connection,
        target: Target,
        options: ConnectOptions,
    ) -> Self {
        Client {
            endpoint,
            conn,
            target,
            options: Arc::new(options),
        }
    }

    /// The server this client is connected to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Connects to the same server again, with the same options; the server
    /// was pinned the first time, so nobody is asked again.
    pub async fn reconnect(&self) -> Result<Client, ConnectError> {
        crate::connect(&self.target, &self.options).await
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

    /// The server's words, when it closed the connection to refuse or cut
    /// off this client (its access was revoked, a limit was hit).
    pub fn refusal(&self) -> Option<ferry_proto::WireError> {
        crate::error::refusal(&self.conn.close_reason()?)
    }

    /// Closes the connection and gives the endpoint a moment to send the
    /// close to the server. Waiting for the whole draining period (three
    /// probe timeouts, about 80 ms even on loopback) would add that to every
    /// command; the close frame itself leaves within a millisecond or two.
    pub async fn close(&self) {
        self.conn.close(codes::DONE, b"bye");
        let _ = tokio::time::timeout(Duration::from_millis(25), self.endpoint.wait_idle()).await;
    }

    /// Opens a stream and sends `request` on it, without finishing it.
    async fn open(
        &self,
        request: &Request,
    ) -> Result<(quinn::SendStream, quinn::RecvStream), RequestError> {
        let (mut send, recv) = self.conn.open_bi().await?;
        write_frame(&mut send, request).await?;
        Ok((send, recv))
    }

    /// Sends `request` with no body and reads the answer frame.
    async fn call(&self, request: &Request) -> Result<(Response, quinn::RecvStream), RequestError> {
        let (mut send, mut recv) = self.open(request).await?;
        SendHalf::finish(&mut send);
        let response = read_answer(&mut recv).await?;
        Ok((response, recv))
    }

    async fn call_ok(&self, request: &Request) -> Result<(), RequestError> {
        match self.call(request).await?.0 {
            Response::Ok => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Metadata of `path` (following symlinks inside the root).
    pub async fn stat(&self, path: &RemotePath) -> Result<Entry, RequestError> {
        let request = Request::Stat {
            path: path.to_wire(),
        };
        match self.call(&request).await?.0 {
            Response::Stat { entry } => Ok(entry),
            other => Err(unexpected(other)),
        }
    }

    /// The entries of the directory `path`, in the server's order.
    pub async fn list(&self, path: &RemotePath) -> Result<Vec<Entry>, RequestError> {
        let request = Request::List {
            path: path.to_wire(),
        };
        let (response, mut recv) = self.call(&request).await?;
        if response != Response::Listing {
            return Err(unexpected(response));
        }
        let mut entries = Vec::new();
        while let Some(chunk) = read_frame::<ListChunk>(&mut recv).await? {
            entries.extend(chunk.entries);
        }
        Ok(entries)
    }

    /// Creates a directory (with `parents`, like `mkdir -p`).
    pub async fn mkdir(&self, path: &RemotePath, parents: bool) -> Result<(), RequestError> {
        self.call_ok(&Request::Mkdir {
            path: path.to_wire(),
            parents,
        })
        .await
    }

    /// Removes an empty directory.
    pub async fn rmdir(&self, path: &RemotePath) -> Result<(), RequestError> {
        self.call_ok(&Request::Rmdir {
            path: path.to_wire(),
        })
        .await
    }

    /// Removes a file.
    pub async fn remove(&self, path: &RemotePath) -> Result<(), RequestError> {
        self.call_ok(&Request::Remove {
            path: path.to_wire(),
        })
        .await
    }

    /// Renames `from` to `to`, or moves it into `to` if that is a directory.
    pub async fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), RequestError> {
        self.call_ok(&Request::Rename {
            from: from.to_wire(),
            to: to.to_wire(),
        })
        .await
    }

    /// Presents the invite `token` to be added to the server's authorized
    /// clients (under `name`, if the server finds it usable and free);
    /// returns the name the server lists this client under, and whether it
    /// may only read.
    pub async fn enroll(
        &self,
        token: &str,
        name: Option<&str>,
    ) -> Result<(String, bool), RequestError> {
        let request = Request::Enroll {
            token: token.to_owned(),
            name: name.map(str::to_owned),
        };
        match self.call(&request).await?.0 {
            Response::Enrolled { name, read_only } => Ok((name, read_only)),
            other => Err(unexpected(other)),
        }
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
    ) -> Result<Moved, RequestError> {
        // Ask the server and prepare the local file at the same time.
        let request = Request::Get {
            path: remote.to_wire(),
            offset: 0,
        };
        let asked = async {
            let (mut send, mut recv) = self.open(&request).await?;
            SendHalf::finish(&mut send);
            let answer = read_answer(&mut recv).await?;
            Ok::<_, RequestError>((answer, recv))
        };
        let local_owned = local.to_owned();
        let prepare = tokio::task::spawn_blocking(move || create_partial(&local_owned));
        let (answer, partial) = tokio::join!(asked, prepare);
        let (answer, mut recv) = answer?;
        let partial = partial.map_err(RequestError::internal)??;
        let Response::File { size, mtime, mode } = answer else {
            return Err(unexpected(answer));
        };
        let (file, temp_path) = partial.into_parts();
        let mut sink = FileSink::new(file);
        pump::recv_into(&mut recv, &mut sink, size, None, progress)
            .await
            .map_err(|e| RequestError::from_pump(e, local))?;
        let local_owned = local.to_owned();
        tokio::task::spawn_blocking(move || -> Result<(), RequestError> {
            let fail = RequestError::local(&local_owned);
            let file = sink.into_file().map_err(fail)?;
            finish_local(&file, mtime, preserve_mode.then_some(mode))
                .map_err(RequestError::local(&local_owned))?;
            drop(file);
            temp_path
                .persist(&local_owned)
                .map_err(|e| RequestError::local(&local_owned)(e.error))
        })
        .await
        .map_err(RequestError::internal)??;
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
    ) -> Result<Moved, RequestError> {
        let path = local.to_owned();
        // Open, stat and read the first chunk in one trip to the blocking
        // pool: a small file then needs no other.
        let (mut source, size, mtime, mode) = tokio::task::spawn_blocking(move || {
            let fail = RequestError::local(&path);
            let mut file = File::open(&path).map_err(fail)?;
            let meta = file.metadata().map_err(RequestError::local(&path))?;
            if meta.is_dir() {
                return Err(RequestError::IsADirectory(path.display().to_string()));
            }
            let size = meta.len();
            let first_len = size.min(CHUNK_SIZE as u64) as usize;
            let first = read_exactly(&mut file, first_len).map_err(RequestError::local(&path))?;
            let mtime = meta.modified().ok().and_then(Timestamp::from_system);
            let mode = meta.permissions().mode() & 0o7777;
            Ok((FileSource::new(file, first), size, mtime, mode))
        })
        .await
        .map_err(RequestError::internal)??;

        let request = Request::Put(PutRequest {
            path: remote.to_wire(),
            size,
            offset: 0,
            mtime,
            mode: preserve_mode.then_some(mode),
        });
        let (mut send, mut recv) = self.open(&request).await?;
        let sent = pump::send_from(&mut send, &mut source, size, progress)
            .await
            .map_err(|e| RequestError::from_pump(e, local));
        match &sent {
            // Reading the local file failed: abandon the stream so the server
            // commits nothing.
            Err(RequestError::Local { .. }) => SendHalf::reset(&mut send, codes::CANCELLED),
            _ => SendHalf::finish(&mut send),
        }
        // The server answers even when it stopped the upload early; its
        // answer explains a failed send better than the send error does.
        match (read_answer(&mut recv).await, sent) {
            (Ok(Response::Ok), Ok(())) => Ok(Moved { bytes: size }),
            (Ok(Response::Ok), Err(e)) => Err(e),
            (Ok(other), _) => Err(unexpected(other)),
            (Err(e), Ok(())) => Err(e),
            (Err(RequestError::Remote(e)), Err(_)) => Err(RequestError::Remote(e)),
            (Err(_), Err(e)) => Err(e),
        }
    }
}

/// Reads the answer frame; an error answer becomes [`RequestError::Remote`].
async fn read_answer<R: RecvHalf>(recv: &mut R) -> Result<Response, RequestError> {
    match read_frame::<Response>(recv).await? {
        Some(Response::Error(e)) => Err(RequestError::Remote(e)),
        Some(response) => Ok(response),
        None => Err(ProtocolError::NoAnswer.into()),
    }
}

fn unexpected(response: Response) -> RequestError {
    match response {
        Response::Error(e) => RequestError::Remote(e),
        other => ProtocolError::Unexpected(Box::new(other)).into(),
    }
}

/// Creates the temporary file a download of `local` is written to.
fn create_partial(local: &Path) -> Result<tempfile::NamedTempFile, RequestError> {
    if local.is_dir() {
        return Err(RequestError::Local {
            path: local.to_owned(),
            source: io::Error::new(io::ErrorKind::IsADirectory, "is a directory"),
        });
    }
    let name = local
        .file_name()
        .ok_or_else(|| RequestError::Unnameable(local.to_owned()))?
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
        .map_err(RequestError::local(dir))
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
