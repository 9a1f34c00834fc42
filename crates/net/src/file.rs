//! Files on this machine as the pumps see them: a [`FileSource`] read and a
//! [`FileSink`] written one chunk per trip to tokio's blocking pool, so no
//! thread ever waits on the network.
//!
//! Both can hash what passes through them with BLAKE3, in the same trip as
//! the read or write, while the bytes are still in the CPU's cache. For a
//! resumed transfer they hash the part already there first ([`FileSource::open`]
//! from an offset, [`FileSink::resume`]), so that their digest always covers
//! the whole file from byte 0.

use std::{
    fs::File,
    io::{self, IoSlice, Read, Seek, SeekFrom, Write},
};

use bytes::Bytes;
use ferry_proto::Digest;

use crate::{ChunkSink, ChunkSource, CHUNK_SIZE};

/// How much of a file one trip to the blocking pool hashes when it only
/// hashes (a resumed file's prefix).
const HASH_PIECE: usize = 1 << 20;

/// A file being read front to back.
#[derive(Debug)]
pub struct FileSource {
    file: Option<File>,
    ahead: Bytes,
    hasher: Option<Box<blake3::Hasher>>,
}

impl FileSource {
    /// Starts reading `file` at `offset`, in one blocking call: with `hash`,
    /// hashes the bytes before `offset` (the prefix, whose digest is
    /// returned), then reads the first chunk of at most `first` bytes ahead,
    /// so that a small file needs no other trip.
    pub fn open(
        mut file: File,
        offset: u64,
        first: usize,
        hash: bool,
    ) -> io::Result<(Self, Option<Digest>)> {
        let mut hasher = hash.then(|| Box::new(blake3::Hasher::new()));
        file.seek(SeekFrom::Start(0))?;
        let prefix = match hasher.as_mut() {
            Some(h) => {
                hash_exactly(&mut file, offset, h)?;
                Some(digest(h))
            }
            None => {
                file.seek(SeekFrom::Start(offset))?;
                None
            }
        };
        let ahead = read_exactly(&mut file, first)?;
        if let Some(h) = hasher.as_mut() {
            h.update(&ahead);
        }
        let source = FileSource {
            file: Some(file),
            ahead,
            hasher,
        };
        Ok((source, prefix))
    }

    /// The BLAKE3 of every byte from 0 to where reading got (including the
    /// chunk read ahead); `None` when not hashing.
    pub fn digest(&self) -> Option<Digest> {
        self.hasher.as_deref().map(digest)
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
        let mut hasher = self.hasher.take();
        let want = len - have.len();
        let (file, hasher, read) = tokio::task::spawn_blocking(move || {
            let read = read_exactly(&mut file, want);
            if let (Ok(bytes), Some(h)) = (&read, hasher.as_mut()) {
                h.update(bytes);
            }
            (file, hasher, read)
        })
        .await
        .map_err(io::Error::other)?;
        self.file = Some(file);
        self.hasher = hasher;
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
    hasher: Option<Box<blake3::Hasher>>,
    /// Where a batch of the stream's small chunks (one per packet) is
    /// gathered when hashing: BLAKE3 hashes many 1 KiB chunks at once with
    /// SIMD only when they come in one slice, and a packet-sized piece at a
    /// time it is about three times slower than a copy and one update.
    gathered: Vec<u8>,
}

impl FileSink {
    /// Writes to `file` from its current position on, hashing what is
    /// written when `hash` is set.
    pub fn new(file: File, hash: bool) -> Self {
        FileSink {
            file: Some(file),
            hasher: hash.then(|| Box::new(blake3::Hasher::new())),
            gathered: Vec::new(),
        }
    }

    /// Goes on writing a partial file after its first `keep` bytes, in one
    /// blocking call: hashes them (their digest is returned), drops
    /// anything after them, and positions the file at their end. A file
    /// shorter than `keep` is an [`io::ErrorKind::UnexpectedEof`].
    pub fn resume(mut file: File, keep: u64) -> io::Result<(Self, Digest)> {
        let mut hasher = Box::new(blake3::Hasher::new());
        file.seek(SeekFrom::Start(0))?;
        hash_exactly(&mut file, keep, &mut hasher)?;
        file.set_len(keep)?;
        file.seek(SeekFrom::Start(keep))?;
        let prefix = digest(&hasher);
        let sink = FileSink {
            file: Some(file),
            hasher: Some(hasher),
            gathered: Vec::new(),
        };
        Ok((sink, prefix))
    }

    /// A sink with no file, standing in for one that was taken.
    pub fn closed() -> Self {
        FileSink {
            file: None,
            hasher: None,
            gathered: Vec::new(),
        }
    }

    /// The BLAKE3 of every byte of the file so far; `None` when not hashing.
    pub fn digest(&self) -> Option<Digest> {
        self.hasher.as_deref().map(digest)
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
        let mut hasher = self.hasher.take();
        let mut gathered = std::mem::take(&mut self.gathered);
        let (file, hasher, gathered, written) = tokio::task::spawn_blocking(move || {
            let written = match hasher.as_mut() {
                Some(h) => {
                    gathered.clear();
                    chunks.iter().for_each(|c| gathered.extend_from_slice(c));
                    let written = file.write_all(&gathered);
                    if written.is_ok() {
                        h.update(&gathered);
                    }
                    written
                }
                None => write_all_vectored(&mut file, &chunks),
            };
            (file, hasher, gathered, written)
        })
        .await
        .map_err(io::Error::other)?;
        self.file = Some(file);
        self.hasher = hasher;
        self.gathered = gathered;
        written
    }
}

fn closed() -> io::Error {
    io::Error::other("the file was lost by an earlier failure")
}

fn digest(hasher: &blake3::Hasher) -> Digest {
    Digest(*hasher.finalize().as_bytes())
}

/// The BLAKE3 of the next `len` bytes of `file`, read a piece at a time;
/// blocking. A file that ends first is an [`io::ErrorKind::UnexpectedEof`].
pub fn hash_file(file: &mut File, len: u64) -> io::Result<Digest> {
    let mut hasher = blake3::Hasher::new();
    hash_exactly(file, len, &mut hasher)?;
    Ok(digest(&hasher))
}

fn hash_exactly(file: &mut File, len: u64, hasher: &mut blake3::Hasher) -> io::Result<()> {
    let mut buf = vec![0u8; HASH_PIECE.min(usize::try_from(len).unwrap_or(HASH_PIECE))];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        file.read_exact(&mut buf[..n])?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
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

/// The size of the first chunk a sender reads of a file of `size` bytes
/// from `offset`.
pub fn first_chunk(size: u64, offset: u64) -> usize {
    size.saturating_sub(offset).min(CHUNK_SIZE as u64) as usize
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

/// The process's umask: what new files do not get of the bits asked for.
/// Read once; 022 where the system does not say (`/proc` missing).
pub fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 13 % 251) as u8).collect()
    }

    fn b3(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    #[tokio::test]
    async fn a_source_hashes_the_whole_file_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let src = data(CHUNK_SIZE * 2 + 100);
        std::fs::write(&path, &src).unwrap();
        for offset in [0usize, 1, 5000, CHUNK_SIZE + 3, src.len()] {
            let file = File::open(&path).unwrap();
            let first = first_chunk(src.len() as u64, offset as u64);
            let (mut source, prefix) = FileSource::open(file, offset as u64, first, true).unwrap();
            assert_eq!(prefix, Some(b3(&src[..offset])));
            let mut got = Vec::new();
            let mut left = src.len() - offset;
            while left > 0 {
                let n = left.min(CHUNK_SIZE);
                got.extend_from_slice(&source.read(n).await.unwrap());
                left -= n;
            }
            assert!(got == src[offset..], "{offset}");
            assert_eq!(source.digest(), Some(b3(&src)), "{offset}");
        }
    }

    #[tokio::test]
    async fn a_sink_resumes_after_a_kept_prefix_and_hashes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let src = data(3 * CHUNK_SIZE);
        // A partial with a torn tail beyond what is kept.
        let mut partial = src[..CHUNK_SIZE + 10].to_vec();
        partial.extend_from_slice(&[0xff; 77]);
        std::fs::write(&path, &partial).unwrap();
        let file = File::options().read(true).write(true).open(&path).unwrap();
        let keep = CHUNK_SIZE as u64 + 10;
        let (mut sink, prefix) = FileSink::resume(file, keep).unwrap();
        assert_eq!(prefix, b3(&src[..CHUNK_SIZE + 10]));
        sink.write(vec![Bytes::copy_from_slice(&src[CHUNK_SIZE + 10..])])
            .await
            .unwrap();
        assert_eq!(sink.digest(), Some(b3(&src)));
        drop(sink.into_file().unwrap());
        assert!(std::fs::read(&path).unwrap() == src);

        let file = File::options().read(true).write(true).open(&path).unwrap();
        let err = FileSink::resume(file, src.len() as u64 + 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
