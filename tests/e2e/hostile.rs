//! A hostile server built on the protocol crate: a real QUIC endpoint on
//! 127.0.0.1 with a real certificate, answering each request as a test's
//! closure says (endless listings, endless trees, bad names, escape
//! sequences in messages).

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use ferry_proto::{Entry, Kind, ListChunk, Request, Response, Timestamp, WireError};

/// What the hostile server sends back for one request.
pub(crate) enum Reply {
    /// One response frame.
    Answer(Response),
    /// A listing: these chunks, produced one by one, then FIN.
    Listing(Box<dyn Iterator<Item = Vec<Entry>> + Send>),
    /// A file's bytes (no trailer).
    File(Vec<u8>),
    /// A file's bytes and a trailer claiming this BLAKE3 for them.
    Hashed(Vec<u8>, ferry_proto::Digest),
}

/// A running hostile server; stopped when dropped.
pub(crate) struct Hostile {
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Hostile {
    /// Starts a server whose certificate lives in `certs`, answering with
    /// `reply`.
    pub(crate) fn start<F>(certs: &Path, reply: F) -> Hostile
    where
        F: Fn(Request) -> Reply + Send + Sync + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let identity = ferry_trust::load_or_generate(certs, ferry_trust::Role::Server).unwrap();
        let config = ferry_trust::server_config(&identity, None, &Default::default()).unwrap();
        let reply = Arc::new(reply);
        let endpoint = runtime.block_on(async {
            quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap()
        });
        let addr = endpoint.local_addr().unwrap();
        runtime.spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let reply = reply.clone();
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                        let reply = reply.clone();
                        tokio::spawn(async move {
                            let Ok(Some(request)) =
                                ferry_net::read_frame::<Request>(&mut recv).await
                            else {
                                return;
                            };
                            match reply(request) {
                                Reply::Answer(r) => {
                                    let _ = ferry_net::write_frame(&mut send, &r).await;
                                }
                                Reply::Listing(chunks) => {
                                    if ferry_net::write_frame(&mut send, &Response::Listing)
                                        .await
                                        .is_err()
                                    {
                                        return;
                                    }
                                    for entries in chunks {
                                        let chunk = ListChunk { entries };
                                        if ferry_net::write_frame(&mut send, &chunk).await.is_err()
                                        {
                                            return;
                                        }
                                    }
                                }
                                Reply::File(bytes) => {
                                    let _ = send_file(&mut send, &bytes, None).await;
                                }
                                Reply::Hashed(bytes, hash) => {
                                    let _ = send_file(&mut send, &bytes, Some(hash)).await;
                                }
                            }
                            let _ = send.finish();
                            // Let the peer read everything before the stream goes.
                            let _ =
                                tokio::time::timeout(Duration::from_secs(30), send.stopped()).await;
                        });
                    }
                });
            }
        });
        Hostile {
            addr,
            runtime: Some(runtime),
        }
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }
}

/// A `get` answer: the header, the bytes, and with `hash` a trailer.
async fn send_file(
    send: &mut quinn::SendStream,
    bytes: &[u8],
    hash: Option<ferry_proto::Digest>,
) -> Result<(), ferry_net::FrameIoError> {
    let head = Response::File {
        size: bytes.len() as u64,
        mtime: None,
        mode: 0o644,
        offset: 0,
        trailer: hash.is_some(),
    };
    ferry_net::write_frame(send, &head).await?;
    ferry_net::SendHalf::write_all(send, bytes).await?;
    if let Some(hash) = hash {
        ferry_net::write_frame(send, &ferry_proto::Trailer { hash }).await?;
    }
    Ok(())
}

/// An entry as a server would list it.
pub(crate) fn entry(name: &str, kind: Kind, size: u64) -> Entry {
    Entry {
        name: name.into(),
        kind,
        size,
        mtime: Some(Timestamp {
            secs: 1_700_000_000,
            nanos: 0,
        }),
        mode: if kind == Kind::Dir { 0o755 } else { 0o644 },
        target: None,
    }
}

/// A `stat` answer.
pub(crate) fn stat(name: &str, kind: Kind, size: u64) -> Reply {
    Reply::Answer(Response::Stat {
        entry: entry(name, kind, size),
    })
}

/// An error answer.
pub(crate) fn error(code: ferry_proto::ErrorCode, message: &str) -> Reply {
    Reply::Answer(Response::Error(WireError::new(code, message)))
}
