//! Where an upload's bytes wait in the bucket before they become a file, and
//! how a later upload, through any gateway, finds them again.
//!
//! Parts of an incomplete S3 multipart upload cannot be read back, and only
//! the process that started one knows how to go on with it. So an upload
//! writes its bytes as ordinary objects, *segments*, under a hidden prefix
//! of the served tree, [`STAGING`]; at commit they are assembled into the
//! destination object server-side (a multipart upload whose parts are
//! copies of the segments, S3's UploadPartCopy), and removed.
//!
//! The segments of one destination live under
//! `STAGING/<tag of the directory>/<partial name>/`, the partial name being
//! the `.NAME.ferry-part` that clients look for. Each upload that writes
//! segments is a *writer* with an id `GGGGGGGG-NNNNNNNNNNNNNNNN` (a
//! generation, one more than any it found there, and a random nonce), and
//! names its segments `<writer>/<start offset, 16 hex digits>`. Objects are
//! never overwritten, so what a writer hashed is what it assembles.
//!
//! The partial's bytes are read off the segments by [`Chain::build`]:
//! writers in id order, each one going on from where its first segment
//! starts (cutting off what earlier writers had beyond it), segment after
//! contiguous segment. An upload resumed at offset `O` thus writes its first
//! segment at `O` and supersedes what followed. A resumed writer also puts
//! an empty `<writer>/lease` object there, so that the sweep, which goes by
//! the newest object of a partial, leaves alone the old segments it builds
//! on.

use std::{ops::Range, time::SystemTime};

use ferry_proto::{partial_name, RemotePath};

/// The hidden prefix under the served root where uploads wait. Its name is
/// one of the reserved partial names, so no client can create, rename onto
/// or see it.
pub(super) const STAGING: &str = ".ferry-uploads.ferry-part";

/// The staging prefix for the partials of files in the directory `dir`:
/// `STAGING/<tag>/`, the tag being 32 hex digits of the BLAKE3 of the
/// directory's path (a fixed length, whatever the depth).
pub(super) fn dir_prefix(dir: &RemotePath) -> String {
    let tag = blake3::hash(dir.to_wire().as_bytes()).to_hex();
    format!("{STAGING}/{}/", &tag[..32])
}

/// The staging prefix of the partial named `partial` (a `.NAME.ferry-part`
/// name) in `dir`.
pub(super) fn prefix_of(dir: &RemotePath, partial: &str) -> String {
    format!("{}{partial}/", dir_prefix(dir))
}

/// The staging prefix of the partial of the destination `path`.
pub(super) fn prefix_for(path: &RemotePath) -> Option<String> {
    let dir = path.parent()?;
    Some(prefix_of(&dir, &partial_name(path.file_name()?)))
}

/// A writer's id: generation, then nonce, both fixed-width hex, so that ids
/// sort as (generation, nonce).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct WriterId(String);

impl WriterId {
    /// The writer that comes after every writer of `generation` or before.
    pub(super) fn after(generation: Option<u32>) -> Self {
        let next = generation.map_or(0, |g| g.saturating_add(1));
        WriterId(format!("{next:08x}-{:016x}", nonce()))
    }

    /// Parses an id from a key component.
    fn parse(text: &str) -> Option<Self> {
        let (g, n) = text.split_once('-')?;
        let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex(g, 8) && hex(n, 16)).then(|| WriterId(text.to_owned()))
    }

    /// Its generation.
    pub(super) fn generation(&self) -> u32 {
        u32::from_str_radix(&self.0[..8], 16).unwrap_or(0)
    }

    /// The key, under a partial's prefix, of the empty object by which this
    /// writer, resuming, marks the partial as in use (it is no segment).
    pub(super) fn lease(&self, prefix: &str) -> String {
        format!("{prefix}{}/lease", self.0)
    }

    /// The key, under a partial's prefix, of this writer's segment that
    /// starts at `start`.
    pub(super) fn segment(&self, prefix: &str, start: u64) -> String {
        format!("{prefix}{}/{start:016x}", self.0)
    }
}

/// 64 bits that differ between writers: the time, the process, a counter.
fn nonce() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = blake3::Hasher::new();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(&now.as_nanos().to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let bytes = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes.as_bytes()[..8]);
    u64::from_le_bytes(out)
}

/// One segment object, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Segment {
    /// Its key, relative to the served root.
    pub(super) key: String,
    /// The writer that made it.
    pub(super) writer: WriterId,
    /// Where its bytes go in the file.
    pub(super) start: u64,
    /// How many bytes it holds.
    pub(super) len: u64,
    /// When it was written.
    pub(super) modified: Option<SystemTime>,
}

impl Segment {
    /// Reads a segment from its key, if the key, relative to the partial's
    /// `prefix`, is `<writer>/<start>`.
    pub(super) fn parse(
        key: &str,
        prefix: &str,
        len: u64,
        modified: Option<SystemTime>,
    ) -> Option<Self> {
        let rest = key.strip_prefix(prefix)?;
        let (writer, start) = rest.split_once('/')?;
        if start.len() != 16 {
            return None;
        }
        Some(Segment {
            key: key.to_owned(),
            writer: WriterId::parse(writer)?,
            start: u64::from_str_radix(start, 16).ok()?,
            len,
            modified,
        })
    }
}

/// A run of bytes of the partial: `range` of the object `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    /// The segment object.
    pub(super) key: String,
    /// The bytes of it that belong to the partial.
    pub(super) range: Range<u64>,
}

impl Piece {
    /// How many bytes it adds.
    pub(super) fn len(&self) -> u64 {
        self.range.end - self.range.start
    }
}

/// A partial's bytes, as pieces of segments, front to back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Chain {
    /// The pieces, contiguous from byte 0.
    pub(super) pieces: Vec<Piece>,
    /// The highest generation seen among the segments.
    pub(super) generation: Option<u32>,
    /// When the newest segment was written.
    pub(super) modified: Option<SystemTime>,
}

impl Chain {
    /// Reads the partial off its segments (see the module's doc).
    pub(super) fn build(mut segments: Vec<Segment>) -> Chain {
        segments.sort_by(|a, b| (&a.writer, a.start).cmp(&(&b.writer, b.start)));
        let generation = segments.iter().map(|s| s.writer.generation()).max();
        let modified = segments.iter().filter_map(|s| s.modified).max();
        let mut chain = Chain {
            pieces: Vec::new(),
            generation,
            modified,
        };
        let mut at = 0;
        while at < segments.len() {
            let writer = segments[at].writer.clone();
            let end = segments[at..]
                .iter()
                .position(|s| s.writer != writer)
                .map_or(segments.len(), |n| at + n);
            let own = &segments[at..end];
            at = end;
            let first = own[0].start;
            if first > chain.len() {
                // It went on from bytes that are not there any more.
                continue;
            }
            chain.truncate(first);
            for s in own {
                if s.start != chain.len() || s.len == 0 {
                    break;
                }
                chain.pieces.push(Piece {
                    key: s.key.clone(),
                    range: 0..s.len,
                });
            }
        }
        chain
    }

    /// How many bytes the partial holds.
    pub(super) fn len(&self) -> u64 {
        self.pieces.iter().map(Piece::len).sum()
    }

    /// Keeps only the first `len` bytes.
    pub(super) fn truncate(&mut self, len: u64) {
        let mut at = 0;
        let mut keep = 0;
        for piece in &mut self.pieces {
            if at >= len {
                break;
            }
            let room = len - at;
            if piece.len() > room {
                piece.range.end = piece.range.start + room;
            }
            at += piece.len();
            keep += 1;
        }
        self.pieces.truncate(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(writer: &str, start: u64, len: u64) -> Segment {
        let key = format!("p/{writer}/{start:016x}");
        Segment::parse(&key, "p/", len, None).unwrap()
    }

    fn w(g: u32, n: u64) -> String {
        format!("{g:08x}-{n:016x}")
    }

    fn layout(chain: &Chain) -> Vec<(String, Range<u64>)> {
        chain
            .pieces
            .iter()
            .map(|p| (p.key.clone(), p.range.clone()))
            .collect()
    }

    #[test]
    fn keys_parse_back_and_foreign_ones_are_ignored() {
        let id = WriterId::after(Some(6));
        assert_eq!(id.generation(), 7);
        let key = id.segment("pre/", 8 << 20);
        let s = Segment::parse(&key, "pre/", 5, None).unwrap();
        assert_eq!((s.writer, s.start, s.len), (id.clone(), 8 << 20, 5));
        assert!(Segment::parse(&id.lease("pre/"), "pre/", 0, None).is_none());
        for bad in [
            "pre/x/0000000000000000",
            "pre/00000001-zz/0",
            "other/a",
            "pre/",
        ] {
            assert!(Segment::parse(bad, "pre/", 1, None).is_none(), "{bad}");
        }
        assert_eq!(WriterId::after(None).generation(), 0);
        assert_ne!(WriterId::after(None), WriterId::after(None));
        let dir = RemotePath::parse("/a/b").unwrap();
        assert!(dir_prefix(&dir).starts_with(STAGING));
        assert_eq!(dir_prefix(&dir).len(), STAGING.len() + 34);
        assert_ne!(dir_prefix(&dir), dir_prefix(&RemotePath::root()));
        let f = RemotePath::parse("/a/b/c.txt").unwrap();
        assert_eq!(
            prefix_for(&f).unwrap(),
            format!("{}.c.txt.ferry-part/", dir_prefix(&dir))
        );
    }

    #[test]
    fn one_writer_is_read_in_order_until_a_gap() {
        let a = w(0, 1);
        let chain = Chain::build(vec![seg(&a, 16, 8), seg(&a, 0, 8), seg(&a, 8, 8)]);
        assert_eq!(chain.len(), 24);
        assert_eq!(chain.generation, Some(0));
        let chain = Chain::build(vec![seg(&a, 0, 8), seg(&a, 16, 8)]);
        assert_eq!(chain.len(), 8, "the segment after a gap is not part of it");
        assert_eq!(Chain::build(vec![seg(&a, 8, 8)]).len(), 0);
        assert_eq!(Chain::build(Vec::new()), Chain::default());
    }

    #[test]
    fn a_later_writer_goes_on_from_where_it_starts() {
        let (a, b, c) = (w(0, 9), w(1, 3), w(2, 0));
        // a wrote 0..20; b resumed at 13 and wrote 13..30; c restarted at 0.
        let segs = vec![
            seg(&a, 0, 8),
            seg(&a, 8, 8),
            seg(&a, 16, 4),
            seg(&b, 13, 3),
            seg(&b, 16, 14),
        ];
        let chain = Chain::build(segs.clone());
        assert_eq!(chain.len(), 30);
        assert_eq!(
            layout(&chain),
            [
                (format!("p/{a}/0000000000000000"), 0..8),
                (format!("p/{a}/0000000000000008"), 0..5),
                (format!("p/{b}/000000000000000d"), 0..3),
                (format!("p/{b}/0000000000000010"), 0..14),
            ]
        );
        let mut all = segs.clone();
        all.push(seg(&c, 0, 2));
        let chain = Chain::build(all);
        assert_eq!(chain.len(), 2);
        assert_eq!(chain.generation, Some(2));
        // A writer that went on from bytes no longer there adds nothing.
        let mut gap = segs;
        gap.push(seg(&c, 40, 2));
        assert_eq!(Chain::build(gap).len(), 30);
    }

    #[test]
    fn truncation_cuts_the_piece_that_straddles() {
        let a = w(0, 1);
        let mut chain = Chain::build(vec![seg(&a, 0, 8), seg(&a, 8, 8)]);
        chain.truncate(11);
        assert_eq!(chain.len(), 11);
        assert_eq!(chain.pieces[1].range, 0..3);
        chain.truncate(8);
        assert_eq!(chain.pieces.len(), 1);
        chain.truncate(100);
        assert_eq!(chain.len(), 8);
        chain.truncate(0);
        assert!(chain.pieces.is_empty());
    }
}
