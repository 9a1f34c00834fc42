//! Files on this machine as the pumps see them: a [`FileSource`] read and a
//! [`FileSink`] written one chunk per trip to tokio's blocking pool, so no
//! thread ever waits on the network.

use std::{
    fs::File,
    io::{self, IoSlice, Read, Write},
};

use crate::{ChunkSink, ChunkSource};
use bytes::Bytes;

/// A file being read front to back. The first chunk may have been read
/// already, in the same trip to the blocking pool as the open, so that a
/// small file needs no other.
#[derive(Debug)]
pub struct FileSource {
    file: Option<File>,
    ahead: Bytes,
}

impl FileSource {
    /// Wraps `file` (positioned where reading goes on) and the bytes already
    /// read from it.
    pub fn new(file: File, ahead: Bytes) -> Self {
        FileSource {
            file: Some(file),
            ahead,
        }
    }
}

impl ChunkSource for FileSource {
    type Error = io::Error;

    async fn read(&mut self, len: usize) -> io::Result<Bytes> {
        if self.ahead.len() >= len {
            return Ok(self.ahead.split_to(len));
        }
        let have = std::mem::take(&mut self.ahead);
        let mut file = self.file.take().ok_or_else(closed)?;
        let want = len - have.len();
        let (file, read) = tokio::task::spawn_blocking(move || {
            let read = read_exactly(&mut file, want);
            (file, read)
        })
        .await
        .map_err(io::Error::other)?;
        self.file = Some(file);
        let read = read?;
        if have.is_empty() {
            return Ok(read);
        }
        let mut joined = Vec::with_capacity(len);
        joined.extend_from_slice(&have);
        joined.extend_from_slice(&read);
        Ok(Bytes::from(joined))
    }
}

/// A file being written front to back.
#[derive(Debug)]
pub struct FileSink {
    file: Option<File>,
}

impl FileSink {
    /// Wraps `file`, positioned where writing goes on.
    pub fn new(file: File) -> Self {
        FileSink { file: Some(file) }
    }

    /// A sink with no file, standing in for one that was taken.
    pub fn closed() -> Self {
        FileSink { file: None }
    }

    /// The file, once every write has returned.
    pub fn into_file(self) -> io::Result<File> {
        self.file.ok_or_else(closed)
    }
}

impl ChunkSink for FileSink {
    type Error = io::Error;

    async fn write(&mut self, chunks: Vec<Bytes>) -> io::Result<()> {
        let mut file = self.file.take().ok_or_else(closed)?;
        let (file, written) = tokio::task::spawn_blocking(move || {
            let written = write_all_vectored(&mut file, &chunks);
            (file, written)
        })
        .await
        .map_err(io::Error::other)?;
        self.file = Some(file);
        written
    }
}

fn closed() -> io::Error {
    io::Error::other("the file was lost by an earlier failure")
}

/// Reads exactly `len` bytes into a fresh buffer (one allocation, no
/// zero-fill); a file that ends first (it shrank while being sent) is an
/// [`io::ErrorKind::UnexpectedEof`].
pub fn read_exactly(file: &mut File, len: usize) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len);
    file.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file shrank while it was being sent",
        ));
    }
    Ok(Bytes::from(buf))
}

/// Writes every byte of `bufs`, in as few system calls as the kernel allows.
pub fn write_all_vectored(file: &mut File, bufs: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    let mut slices = &mut slices[..];
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        // The kernel takes at most IOV_MAX (1024) slices per call.
        let take = slices.len().min(1024);
        match file.write_vectored(&slices[..take]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
