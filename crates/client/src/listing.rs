//! [`Listing`]: a remote directory's entries as they arrive, one chunk at a
//! time, so that a directory of any size is read in bounded memory.

use ferry_net::read_frame;
use ferry_proto::{Entry, ListChunk, RemotePath, Request, Response};

use crate::{client::unexpected, Client, RequestError};

/// How many entries [`Client::list`] collects at most; a directory with
/// more is [`RequestError::TooMany`]. Callers that want more read a
/// [`Listing`] chunk by chunk.
pub const MAX_LIST_ENTRIES: usize = 1_000_000;

/// A directory listing being received: each [`Listing::next_chunk`] holds
/// at most one frame's worth of entries (64 KiB).
#[derive(Debug)]
pub struct Listing {
    recv: crate::client::RecvStream,
    done: bool,
}

impl Listing {
    /// The next entries, in the server's order; `None` once the listing
    /// ended. Names are as the server sent them: check them (for instance
    /// with [`RemotePath::join`]) before using them as paths.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<Entry>>, RequestError> {
        if self.done {
            return Ok(None);
        }
        match read_frame::<ListChunk>(&mut self.recv).await? {
            Some(chunk) => Ok(Some(chunk.entries)),
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

impl Client {
    /// Starts listing the directory `path`; the entries are read with
    /// [`Listing::next_chunk`].
    pub async fn listing(&self, path: &RemotePath) -> Result<Listing, RequestError> {
        let request = Request::List {
            path: path.to_wire(),
        };
        let (response, recv) = self.call(&request).await?;
        if response != Response::Listing {
            return Err(unexpected(response));
        }
        Ok(Listing { recv, done: false })
    }

    /// The entries of the directory `path`, in the server's order, at most
    /// [`MAX_LIST_ENTRIES`] of them.
    pub async fn list(&self, path: &RemotePath) -> Result<Vec<Entry>, RequestError> {
        let mut listing = self.listing(path).await?;
        let mut entries = Vec::new();
        while let Some(chunk) = listing.next_chunk().await? {
            if entries.len() + chunk.len() > MAX_LIST_ENTRIES {
                return Err(RequestError::TooMany {
                    what: path.to_string(),
                    limit: MAX_LIST_ENTRIES,
                });
            }
            entries.extend(chunk);
        }
        Ok(entries)
    }
}
