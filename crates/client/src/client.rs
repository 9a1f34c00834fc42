//! [`Client`]: one connection, and one stream per operation on it.

use std::{fs::File, os::unix::fs::PermissionsExt, path::Path, sync::Arc, time::Duration};

use ferry_net::{
    codes,
    file::{first_chunk, FileSink, FileSource},
    limit::{Limited, Limiter},
    pump, read_frame, write_frame, PumpError, RecvHalf, SendHalf,
};
use ferry_proto::{
    Digest, Entry, ErrorCode, PutRequest, RemotePath, Request, Response, Timestamp, Trailer,
};

use crate::{
    connect::ConnectOptions, partial::LocalPartial, ConnectError, ProtocolError, RequestError,
    Target,
};

/// What a download of a file planned without a look at it does when the
/// server's answer says what the file is.
#[derive(Clone, Copy)]
pub(crate) struct Unseen<'a> {
    /// Hears the file's size.
    pub(crate) sized: &'a (dyn Fn(u64) + Sync),
    /// With `Some(preserve)`, stop when the destination already holds the
    /// file (rsync's quick check; the permission bits too with `preserve`).
    pub(crate) quick_check: Option<bool>,
}

/// The sending half of a request stream, as the client holds it.
pub(crate) type SendStream = Limited<quinn::SendStream>;
/// The receiving half of a request stream, as the client holds it.
pub(crate) type RecvStream = Limited<quinn::RecvStream>;

/// How many bytes at the end of a partial file are sent again when it is
/// resumed: the part a crash may have torn (written but not yet on disk).
/// The rest is kept only after its hash proved it a prefix of the source.
pub const OVERLAP: u64 = 1 << 20;

/// A connection to one server. Cloning is cheap and clones share the
/// connection, so operations can run concurrently from many tasks.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    target: Target,
    options: Arc<ConnectOptions>,
    /// The `--limit` every stream of this connection takes from.
    limiter: Option<Arc<Limiter>>,
}

/// What a download or upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Bytes that crossed the network this time.
    pub bytes: u64,
    /// The file's size.
    pub size: u64,
    /// Its BLAKE3, checked by the receiver (`None` only with an older peer
    /// that does not hash).
    pub hash: Option<Digest>,
    /// Where the bytes started: above 0 when a partial file was resumed.
    pub resumed_from: u64,
    /// A partial file was there but was not a prefix of the source (it
    /// changed, or the part was damaged), so the file started over.
    pub restarted: bool,
    /// The destination already held the file: nothing was sent.
    pub skipped: bool,
}

impl Moved {
    /// A file of `size` bytes that the destination already held.
    pub fn skipped(size: u64) -> Self {
        Moved {
            bytes: 0,
            size,
            hash: None,
            resumed_from: 0,
            restarted: false,
            skipped: true,
        }
    }
}

impl Client {
    pub(crate) fn new(
        endpoint: quinn::Endpoint,
        conn: quinn::Connection,
        target: Target,
        options: ConnectOptions,
    ) -> Self {
        let limiter = options
            .transport
            .rate_limit
            .map(|limit| Arc::new(Limiter::new(limit)));
        Client {
            endpoint,
            conn,
            target,
            options: Arc::new(options),
            limiter,
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

    /// [`Client::reconnect`], waiting at most `timeout` for the handshake
    /// (or the connect timeout, if shorter).
    pub async fn reconnect_within(&self, timeout: Duration) -> Result<Client, ConnectError> {
        let mut options = (*self.options).clone();
        options.timeout = options.timeout.min(timeout);
        crate::connect(&self.target, &options).await
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
        self.close_within(Duration::from_millis(25)).await;
    }

    /// [`Client::close`], giving the close up to `linger` to leave.
    pub async fn close_within(&self, linger: Duration) {
        self.conn.close(codes::DONE, b"bye");
        let _ = tokio::time::timeout(linger, self.endpoint.wait_idle()).await;
    }

    /// Opens a stream and sends `request` on it, without finishing it. Both
    /// halves take from the `--limit`, if there is one.
    pub(crate) async fn open(
        &self,
        request: &Request,
    ) -> Result<(SendStream, RecvStream), RequestError> {
        let (send, recv) = self.conn.open_bi().await?;
        let mut send = Limited::new(send, self.limiter.clone());
        write_frame(&mut send, request).await?;
        Ok((send, Limited::new(recv, self.limiter.clone())))
    }

    /// Sends `request` with no body and reads the answer frame.
    pub(crate) async fn call(
        &self,
        request: &Request,
    ) -> Result<(Response, RecvStream), RequestError> {
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

    /// The size and BLAKE3 of a remote file, computed by the server.
    pub async fn sum(&self, path: &RemotePath) -> Result<(u64, Digest), RequestError> {
        let request = Request::Sum {
            path: path.to_wire(),
        };
        match self.call(&request).await?.0 {
            Response::Sum { size, hash } => Ok((size, hash)),
            other => Err(unexpected(other)),
        }
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

    /// Downloads `remote` to the local file `local`, atomically and
    /// verified: the bytes go to the destination's partial file, whose
    /// BLAKE3 must match the server's before it is renamed over `local`.
    /// A partial left by an interrupted download is resumed, after the
    /// server proved that all but its last [`OVERLAP`] bytes are a prefix
    /// of the file as it is now; otherwise it starts over. Keeps the
    /// modification time, and the permission bits with `preserve_mode`.
    pub async fn download(
        &self,
        remote: &RemotePath,
        local: &Path,
        preserve_mode: bool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, RequestError> {
        self.download_with(remote, local, preserve_mode, None, progress)
            .await
    }

    /// [`Client::download`] of a file planned without asking the server
    /// about it first (saving a round trip): `unseen` hears its size from the
    /// answer, and with a quick check the download stops there when the
    /// destination already holds the file.
    pub(crate) async fn download_with(
        &self,
        remote: &RemotePath,
        local: &Path,
        preserve_mode: bool,
        unseen: Option<Unseen<'_>>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, RequestError> {
        let dest = local.to_owned();
        let (partial, sink, offset, prefix) = blocking(move || {
            let (partial, file, len) = LocalPartial::open(&dest)?;
            let keep = len.saturating_sub(OVERLAP);
            let (sink, prefix) =
                FileSink::resume(file, keep).map_err(RequestError::local(&dest))?;
            Ok((partial, sink, keep, (keep > 0).then_some(prefix)))
        })
        .await?;
        let request = Request::Get {
            path: remote.to_wire(),
            offset,
            prefix,
            hash: true,
        };
        let (mut send, mut recv) = self.open(&request).await?;
        SendHalf::finish(&mut send);
        let answer = read_answer(&mut recv).await?;
        let Response::File {
            size,
            mtime,
            mode,
            offset: from,
            trailer,
        } = answer
        else {
            return Err(unexpected(answer));
        };
        if let Some(unseen) = unseen {
            (unseen.sized)(size);
            if let Some(preserve) = unseen.quick_check {
                let dest = local.to_owned();
                let there = blocking(move || Ok(std::fs::metadata(dest).ok())).await?;
                let theirs = Entry {
                    name: String::new(),
                    kind: ferry_proto::Kind::File,
                    size,
                    mtime,
                    mode,
                    target: None,
                };
                if there.is_some_and(|m| crate::skip::holds(&m, &theirs, preserve)) {
                    RecvHalf::stop(&mut recv, codes::DONE);
                    return Ok(Moved::skipped(size));
                }
            }
        }
        let mut sink = sink;
        if from != offset {
            if from != 0 {
                return Err(ProtocolError::Unexpected(Box::new(answer)).into());
            }
            // Our part is not a prefix of the file as it is now.
            let dest = local.to_owned();
            sink = blocking(move || {
                let file = sink.into_file().map_err(RequestError::local(&dest))?;
                let (sink, _) = FileSink::resume(file, 0).map_err(RequestError::local(&dest))?;
                Ok(sink)
            })
            .await?;
        }
        let body = size - from;
        pump::recv_into(&mut recv, &mut sink, body, None, progress)
            .await
            .map_err(|e| RequestError::from_pump(e, local))?;
        let end = pump::recv_end(&mut recv, trailer, body, None).await;
        let sent = match end {
            Ok(t) => t.map(|t| t.hash),
            Err(e) => {
                // Not a break of the stream but bad bytes: nothing to keep.
                if !matches!(e, PumpError::Stream(_)) {
                    blocking(move || {
                        partial.discard();
                        Ok(())
                    })
                    .await?;
                }
                return Err(RequestError::from_pump(e, local));
            }
        };
        let ours = sink.digest();
        if sent.is_some() && sent != ours {
            blocking(move || {
                partial.discard();
                Ok(())
            })
            .await?;
            return Err(RequestError::HashMismatch(remote.to_string()));
        }
        let dest = local.to_owned();
        blocking(move || {
            let file = sink.into_file().map_err(RequestError::local(&dest))?;
            partial.finish(file, mtime, mode, preserve_mode)
        })
        .await?;
        Ok(Moved {
            bytes: body,
            size,
            hash: sent,
            resumed_from: from,
            restarted: from == 0 && offset > 0,
            skipped: false,
        })
    }

    /// Uploads the local file `local` to `remote`, verified: the server
    /// renames it into place only once its BLAKE3 matches ours. With
    /// `partial`, the length of the server's partial file of `remote` (from
    /// a listing), the upload resumes after all but its last [`OVERLAP`]
    /// bytes, which the server first proves are a prefix of our file; when
    /// they are not, it starts over. Keeps the modification time, and the
    /// permission bits with `preserve_mode`.
    pub async fn upload(
        &self,
        local: &Path,
        remote: &RemotePath,
        preserve_mode: bool,
        partial: u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, RequestError> {
        let offset = partial.saturating_sub(OVERLAP);
        match self
            .upload_from(local, remote, preserve_mode, offset, progress)
            .await
        {
            Err(RequestError::Remote(e)) if e.code == ErrorCode::PrefixMismatch && offset > 0 => {
                let mut moved = self
                    .upload_from(local, remote, preserve_mode, 0, progress)
                    .await?;
                moved.restarted = true;
                Ok(moved)
            }
            other => other,
        }
    }

    async fn upload_from(
        &self,
        local: &Path,
        remote: &RemotePath,
        preserve_mode: bool,
        offset: u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Moved, RequestError> {
        let path = local.to_owned();
        // Open, stat, hash any prefix and read the first chunk in one trip
        // to the blocking pool: a small file then needs no other.
        let (mut source, size, mtime, mode, offset, prefix) = blocking(move || {
            let fail = RequestError::local(&path);
            let file = File::open(&path).map_err(fail)?;
            let meta = file.metadata().map_err(RequestError::local(&path))?;
            if meta.is_dir() {
                return Err(RequestError::IsADirectory(path.display().to_string()));
            }
            let size = meta.len();
            let offset = offset.min(size);
            let first = first_chunk(size, offset);
            let (source, prefix) =
                FileSource::open(file, offset, first, true).map_err(RequestError::local(&path))?;
            let mtime = meta.modified().ok().and_then(Timestamp::from_system);
            let mode = meta.permissions().mode() & 0o7777;
            Ok((
                source,
                size,
                mtime,
                mode,
                offset,
                prefix.filter(|_| offset > 0),
            ))
        })
        .await?;

        let request = Request::Put(PutRequest {
            path: remote.to_wire(),
            size,
            offset,
            prefix,
            hash: true,
            mtime,
            mode: preserve_mode.then_some(mode),
            new_mode: (!preserve_mode).then_some(mode & 0o777),
            size_unknown: false,
        });
        let (mut send, mut recv) = self.open(&request).await?;
        let body = size - offset;
        let mut sent = pump::send_from(&mut send, &mut source, body, progress)
            .await
            .map_err(|e| RequestError::from_pump(e, local));
        let hash = source.digest();
        if sent.is_ok() {
            if let Some(hash) = hash {
                sent = write_frame(&mut send, &Trailer { hash })
                    .await
                    .map_err(RequestError::from);
            }
        }
        match &sent {
            // Reading the local file failed: abandon the stream so the server
            // commits nothing.
            Err(RequestError::Local { .. }) => SendHalf::reset(&mut send, codes::CANCELLED),
            _ => SendHalf::finish(&mut send),
        }
        let moved = Moved {
            bytes: body,
            size,
            hash,
            resumed_from: offset,
            restarted: false,
            skipped: false,
        };
        // The server answers even when it stopped the upload early; its
        // answer explains a failed send better than the send error does.
        match (read_answer(&mut recv).await, sent) {
            (Ok(Response::Ok), Ok(())) => Ok(moved),
            (Ok(Response::Ok), Err(e)) => Err(e),
            (Ok(other), _) => Err(unexpected(other)),
            (Err(e), Ok(())) => Err(e),
            (Err(RequestError::Remote(e)), Err(_)) => Err(RequestError::Remote(e)),
            (Err(_), Err(e)) => Err(e),
        }
    }
}

/// Runs blocking local file work on the blocking pool.
async fn blocking<T, F>(work: F) -> Result<T, RequestError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, RequestError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(RequestError::internal)?
}

/// Reads the answer frame; an error answer becomes [`RequestError::Remote`].
pub(crate) async fn read_answer<R: RecvHalf>(recv: &mut R) -> Result<Response, RequestError> {
    match read_frame::<Response>(recv).await? {
        Some(Response::Error(e)) => Err(RequestError::Remote(e)),
        Some(response) => Ok(response),
        None => Err(ProtocolError::NoAnswer.into()),
    }
}

pub(crate) fn unexpected(response: Response) -> RequestError {
    match response {
        Response::Error(e) => RequestError::Remote(e),
        other => ProtocolError::Unexpected(Box::new(other)).into(),
    }
}
