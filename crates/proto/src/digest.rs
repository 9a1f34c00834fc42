//! [`Digest`]: a BLAKE3 hash as it travels, and the [`Trailer`] frame that
//! carries a file's hash after its bytes.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A 32-byte BLAKE3 hash. On the wire it is a CBOR byte string; for people
/// it is 64 lower-case hex digits, as `b3sum` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes32;
        impl de::Visitor<'_> for Bytes32 {
            type Value = Digest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("32 bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Digest, E> {
                let bytes: [u8; 32] = v
                    .try_into()
                    .map_err(|_| E::invalid_length(v.len(), &self))?;
                Ok(Digest(bytes))
            }
        }
        d.deserialize_bytes(Bytes32)
    }
}

/// What follows a file's bytes when the request asked for verification:
/// the BLAKE3 of the whole file, computed by the sender as it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// BLAKE3 of every byte of the file, from offset 0.
    pub hash: Digest,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, encode};

    #[test]
    fn digests_are_byte_strings_and_hex() {
        let d = Digest([0xab; 32]);
        assert_eq!(d.to_string(), "ab".repeat(32));
        let bytes = encode(&Trailer { hash: d }).unwrap();
        // {"hash": h'abab…'}: a map of one entry whose value is a 32-byte string.
        assert_eq!(&bytes[4..11], b"\xa1\x64hash\x58");
        assert_eq!(bytes[11], 32);
        assert_eq!(decode::<Trailer>(&bytes).unwrap().unwrap().0.hash, d);
        // 31 bytes are refused.
        let body = [&b"\xa1\x64hash\x58\x1f"[..], &[0; 31]].concat();
        let frame = [&(body.len() as u32).to_be_bytes()[..], &body].concat();
        assert!(decode::<Trailer>(&frame).is_err());
    }
}
