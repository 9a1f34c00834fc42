//! The memory budget of file data: every chunk of a download read from
//! storage, and every chunk of an upload received from the network, is
//! charged to its client's budget and to the server's before the server
//! holds it, and the charge is returned when the last reference to the chunk
//! is dropped. For a download that is when QUIC has had the chunk
//! acknowledged (quinn keeps the chunk itself, not a copy, until then); for
//! an upload, when the chunk is written.
//!
//! So however many streams a client opens and then stops reading, the file
//! data held for it stays within [`Limits::client_budget`] and, for all
//! clients, [`Limits::server_budget`]; a stream that would go over waits,
//! holding nothing, and so does the peer behind it, through flow control.
//!
//! [`Limits::client_budget`]: crate::context::Limits::client_budget
//! [`Limits::server_budget`]: crate::context::Limits::server_budget

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use ferry_net::{RecvHalf, StreamError, CHUNK_SIZE};
use ferry_proto::{Digest, Entry, RemotePath};
use quinn::VarInt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::storage::{Listing, ReadHandle, Resume, Storage, StorageError, WriteHandle};

/// A client's budget and the server's, charged together.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    client: Pool,
    server: Pool,
}

/// A number of bytes, as semaphore permits.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    permits: Arc<Semaphore>,
    size: usize,
}

impl Budget {
    /// A pool of `bytes`.
    pub(crate) fn pool(bytes: usize) -> Pool {
        let size = bytes.clamp(1, Semaphore::MAX_PERMITS);
        Pool {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// Charges the `client` pool and the `server` pool together.
    pub(crate) fn new(client: Pool, server: Pool) -> Self {
        Budget { client, server }
    }

    /// Waits until `len` more bytes fit both pools (the client's first, so
    /// a client waiting for its own budget holds none of the server's).
    async fn charge(&self, len: usize) -> Charge {
        Charge {
            client: take(&self.client, len).await,
            server: take(&self.server, len).await,
        }
    }

    /// Charges `bytes` and ties the charge to them.
    async fn hold(&self, bytes: Bytes) -> Bytes {
        let charge = self.charge(bytes.len()).await;
        attach(bytes, charge)
    }

    /// `recv`, with every chunk read from it charged.
    pub(crate) fn charged<'a, R: RecvHalf>(&'a self, recv: &'a mut R) -> ChargedRecv<'a, R> {
        ChargedRecv {
            inner: recv,
            budget: self,
        }
    }
}

async fn take(pool: &Pool, len: usize) -> Option<OwnedSemaphorePermit> {
    // A chunk larger than the whole pool would wait forever: charge all of
    // it instead. Chunks are far smaller than real budgets.
    let n = u32::try_from(len.min(pool.size)).unwrap_or(u32::MAX);
    if n == 0 {
        return None;
    }
    // The semaphore is never closed, so this cannot fail.
    pool.permits.clone().acquire_many_owned(n).await.ok()
}

/// Permits held for some bytes.
#[derive(Debug)]
struct Charge {
    client: Option<OwnedSemaphorePermit>,
    server: Option<OwnedSemaphorePermit>,
}

impl Charge {
    /// Gives back what is charged beyond `len` bytes.
    fn shrink_to(&mut self, len: usize) {
        for permit in [&mut self.client, &mut self.server].into_iter().flatten() {
            let excess = permit.num_permits().saturating_sub(len);
            if excess > 0 {
                drop(permit.split(excess));
            }
        }
    }
}

/// Bytes whose owner also holds their charge.
struct Charged {
    bytes: Bytes,
    _charge: Charge,
}

impl AsRef<[u8]> for Charged {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// `bytes` again (no copy), returning `charge` when the last clone drops.
fn attach(bytes: Bytes, charge: Charge) -> Bytes {
    if bytes.is_empty() {
        return bytes;
    }
    Bytes::from_owner(Charged {
        bytes,
        _charge: charge,
    })
}

/// A receiving half whose chunks are charged as they are read. Reading
/// waits while the budget is spent, which leaves the peer's data in QUIC's
/// flow-control window, so the peer waits too.
pub(crate) struct ChargedRecv<'a, R> {
    inner: &'a mut R,
    budget: &'a Budget,
}

impl<R: RecvHalf> RecvHalf for ChargedRecv<'_, R> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StreamError> {
        // Copied into the caller's buffer: nothing is held here.
        self.inner.read(buf).await
    }

    async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamError> {
        match self.inner.read_chunk(max).await? {
            Some(chunk) => Ok(Some(self.budget.hold(chunk).await)),
            None => Ok(None),
        }
    }

    fn stop(&mut self, code: VarInt) {
        self.inner.stop(code);
    }
}

/// Storage whose file reads are charged: downloads read ahead only within
/// the budget.
#[derive(Debug)]
pub(crate) struct BudgetedStorage {
    inner: Arc<dyn Storage>,
    budget: Budget,
}

impl BudgetedStorage {
    pub(crate) fn new(inner: Arc<dyn Storage>, budget: Budget) -> Self {
        BudgetedStorage { inner, budget }
    }
}

#[async_trait]
impl Storage for BudgetedStorage {
    async fn stat(&self, path: &RemotePath) -> Result<Entry, StorageError> {
        self.inner.stat(path).await
    }

    async fn list(&self, path: &RemotePath) -> Result<Box<dyn Listing>, StorageError> {
        self.inner.list(path).await
    }

    async fn mkdir(&self, path: &RemotePath, parents: bool) -> Result<(), StorageError> {
        self.inner.mkdir(path, parents).await
    }

    async fn rmdir(&self, path: &RemotePath) -> Result<(), StorageError> {
        self.inner.rmdir(path).await
    }

    async fn remove(&self, path: &RemotePath) -> Result<(), StorageError> {
        self.inner.remove(path).await
    }

    async fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<RemotePath, StorageError> {
        self.inner.rename(from, to).await
    }

    async fn open_read(
        &self,
        path: &RemotePath,
        offset: u64,
        hash: bool,
    ) -> Result<Box<dyn ReadHandle>, StorageError> {
        // A backend may read the first chunk as it opens the file (the
        // local one does, to save a trip to the blocking pool): charge it
        // before, and keep the charge for that chunk.
        let mut first = self.budget.charge(CHUNK_SIZE).await;
        let inner = self.inner.open_read(path, offset, hash).await?;
        let left = inner.entry().size.saturating_sub(offset);
        first.shrink_to(usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK_SIZE));
        Ok(Box::new(BudgetedRead {
            inner,
            budget: self.budget.clone(),
            first: Some(first),
        }))
    }

    async fn create(
        &self,
        path: &RemotePath,
        resume: Option<Resume>,
    ) -> Result<Box<dyn WriteHandle>, StorageError> {
        // Upload data is charged as it arrives (ChargedRecv), not here.
        self.inner.create(path, resume).await
    }

    async fn sum(&self, path: &RemotePath) -> Result<(u64, Digest), StorageError> {
        self.inner.sum(path).await
    }

    async fn sweep_partials(&self, age: Duration) -> Result<usize, StorageError> {
        self.inner.sweep_partials(age).await
    }
}

struct BudgetedRead {
    inner: Box<dyn ReadHandle>,
    budget: Budget,
    /// What was charged at opening, for the first chunk.
    first: Option<Charge>,
}

#[async_trait]
impl ReadHandle for BudgetedRead {
    fn entry(&self) -> &Entry {
        self.inner.entry()
    }

    fn prefix(&self) -> Option<Digest> {
        self.inner.prefix()
    }

    fn digest(&self) -> Option<Digest> {
        self.inner.digest()
    }

    async fn read(&mut self, len: usize) -> Result<Bytes, StorageError> {
        let charge = match self.first.take() {
            Some(charge) => charge,
            None => self.budget.charge(len).await,
        };
        let bytes = self.inner.read(len).await?;
        Ok(attach(bytes, charge))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn charges_wait_for_released_bytes_and_pools_are_shared() {
        let server = Budget::pool(300);
        let a = Budget::new(Budget::pool(200), server.clone());
        let b = Budget::new(Budget::pool(200), server.clone());
        let held = a.hold(Bytes::from(vec![1u8; 150])).await;
        let clone = held.slice(10..20);
        assert_eq!(held.len(), 150);
        // a has 50 left: a second 100 waits until both clones are gone.
        let a2 = a.clone();
        let waiting = tokio::spawn(async move { a2.hold(Bytes::from(vec![2u8; 100])).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished());
        drop(held);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "a slice still holds the charge");
        drop(clone);
        let second = waiting.await.unwrap();
        assert_eq!(&second[..], &[2u8; 100][..]);
        // The server's pool is shared: with a's 100 held, 200 of its 300
        // are left, so b's 250 (more than b's whole pool of 200, which it
        // takes whole) waits for a's chunk to go.
        let b2 = b.clone();
        let big = tokio::spawn(async move { b2.hold(Bytes::from(vec![3u8; 250])).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!big.is_finished());
        drop(second);
        let big = big.await.unwrap();
        assert_eq!(server.permits.available_permits(), 50);
        drop(big);
        assert_eq!(server.permits.available_permits(), 300);
    }
}
