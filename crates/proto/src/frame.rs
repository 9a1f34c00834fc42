//! Length-prefixed CBOR frames: a u32 big-endian length, then that many bytes
//! of one CBOR value.

use serde::{de::DeserializeOwned, Serialize};

/// The largest frame body either side accepts: 64 KiB.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// Length of the big-endian length prefix.
pub const PREFIX_LEN: usize = 4;

/// Why a frame could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The announced or encoded body is longer than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The offending length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not a valid CBOR encoding of the expected type.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Encodes `value` as a complete frame (prefix and body).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; PREFIX_LEN];
    ciborium::into_writer(value, &mut out).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = out.len() - PREFIX_LEN;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    // `len` fits in u32 because it is at most MAX_FRAME_LEN.
    out[..PREFIX_LEN].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Reads a length prefix and checks it against the limit, before the caller
/// allocates a buffer for the body.
pub fn body_len(prefix: [u8; PREFIX_LEN]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(len)
}

/// Decodes a frame body (without its prefix).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    ciborium::from_reader(body).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// Decodes one frame from the front of `buf`: `Ok(None)` when `buf` does not
/// yet hold a whole frame, else the value and the number of bytes it used.
pub fn decode<T: DeserializeOwned>(buf: &[u8]) -> Result<Option<(T, usize)>, FrameError> {
    let Some(prefix) = buf.first_chunk::<PREFIX_LEN>() else {
        return Ok(None);
    };
    let len = body_len(*prefix)?;
    let Some(body) = buf[PREFIX_LEN..].get(..len) else {
        return Ok(None);
    };
    Ok(Some((decode_body(body)?, PREFIX_LEN + len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, Response, WireError};

    #[test]
    fn round_trip_keeps_value_and_reports_length() {
        let req = Request::Stat {
            path: "/a/b".into(),
        };
        let bytes = encode(&req).unwrap();
        let (back, used) = decode::<Request>(&bytes).unwrap().unwrap();
        assert_eq!(back, req);
        assert_eq!(used, bytes.len());
        assert_eq!(
            u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len() - 4
        );
    }

    #[test]
    fn incomplete_frames_ask_for_more() {
        let bytes = encode(&Response::Ok).unwrap();
        for cut in 0..bytes.len() {
            assert_eq!(
                decode::<Response>(&bytes[..cut]).unwrap(),
                None,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn oversized_prefix_is_refused_before_body_arrives() {
        let prefix = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        assert_eq!(
            decode::<Request>(&prefix),
            Err(FrameError::TooLarge {
                len: MAX_FRAME_LEN + 1,
                max: MAX_FRAME_LEN
            })
        );
        assert!(body_len([0xff; 4]).is_err());
        assert_eq!(body_len(65536u32.to_be_bytes()), Ok(65536));
    }

    #[test]
    fn oversized_value_is_not_encoded() {
        let err = WireError {
            code: crate::ErrorCode::Io,
            message: "x".repeat(MAX_FRAME_LEN),
        };
        assert!(matches!(
            encode(&Response::Error(err)),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let cases: &[&[u8]] = &[
            b"\x00\x00\x00\x01\xff",
            b"\x00\x00\x00\x03abc",
            // A map with an unknown op.
            b"\x00\x00\x00\x0b\xa1\x62op\x67unknown",
            // A CBOR array claiming 2^32 elements inside a 9-byte body.
            b"\x00\x00\x00\x05\x9a\xff\xff\xff\xff",
            // Deep nesting.
            &[&[0, 0, 1, 0][..], &[0x81; 256][..]].concat(),
        ];
        for case in cases {
            assert!(
                matches!(decode::<Request>(case), Err(FrameError::Malformed(_))),
                "{case:?}"
            );
        }
    }

    #[test]
    fn known_bytes_decode() {
        // {"op": "stat", "path": "/x"} written by hand.
        let body = b"\xa2\x62op\x64stat\x64path\x62/x";
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        let (req, _) = decode::<Request>(&frame).unwrap().unwrap();
        assert_eq!(req, Request::Stat { path: "/x".into() });
    }

    /// A cheap deterministic fuzzer: random and mutated frames must decode
    /// to a value or an error, never a panic or a runaway allocation.
    #[test]
    fn random_and_mutated_frames_never_panic() {
        use crate::{Entry, Kind, ListChunk, PutRequest, Timestamp};
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let entry = Entry {
            name: "n".into(),
            kind: Kind::File,
            size: 9,
            mtime: Some(Timestamp { secs: 1, nanos: 2 }),
            mode: 0o644,
            target: Some("t".into()),
        };
        let seeds = [
            encode(&Request::Put(PutRequest {
                path: "/a/b".into(),
                size: 10,
                offset: 0,
                prefix: None,
                hash: true,
                mtime: Some(Timestamp { secs: 5, nanos: 6 }),
                mode: Some(0o600),
                new_mode: None,
                size_unknown: false,
            }))
            .unwrap(),
            encode(&Request::Rename {
                from: "/x".into(),
                to: "/y".into(),
            })
            .unwrap(),
            encode(&Response::Stat {
                entry: entry.clone(),
            })
            .unwrap(),
            encode(&ListChunk {
                entries: vec![entry; 3],
            })
            .unwrap(),
        ];
        for i in 0..50_000usize {
            let mut buf = if i % 2 == 0 {
                seeds[i / 2 % seeds.len()].clone()
            } else {
                let len = (next() % 96) as usize;
                let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if b.len() >= 4 {
                    // Mostly plausible lengths, so the body gets decoded.
                    let body = (b.len() - 4) as u32;
                    b[..4].copy_from_slice(&body.to_be_bytes());
                }
                b
            };
            for _ in 0..next() % 4 {
                if !buf.is_empty() {
                    let at = next() as usize % buf.len();
                    buf[at] = next() as u8;
                }
            }
            let _ = decode::<Request>(&buf);
            let _ = decode::<Response>(&buf);
            let _ = decode::<ListChunk>(&buf);
        }
    }
}
