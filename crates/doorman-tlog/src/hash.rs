//! SHA-256 Merkle tree hashes with the RFC 6962 / RFC 9162 domain separation:
//! a leaf is hashed behind a `0x00` byte and an interior node behind `0x01`,
//! so no leaf can ever be passed off as an interior node or the reverse.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Length in bytes of every hash in the tree.
pub const HASH_SIZE: usize = 32;

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// A 32-byte SHA-256 Merkle tree hash (leaf hash, interior node or root).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

/// Why a string or byte slice is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashDecodeError {
    /// The input is not canonical standard base64 (RFC 4648 §4, padded).
    #[error("hash is not valid base64")]
    Base64,
    /// The input is not hexadecimal.
    #[error("hash is not valid hex")]
    Hex,
    /// The decoded value has the wrong length.
    #[error("hash must be {HASH_SIZE} bytes, got {0}")]
    Length(usize),
}

impl Hash {
    /// Wraps 32 bytes.
    pub const fn from_bytes(bytes: [u8; HASH_SIZE]) -> Self {
        Hash(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// Reads a hash from a slice that must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashDecodeError> {
        <[u8; HASH_SIZE]>::try_from(bytes).map(Hash).map_err(|_| HashDecodeError::Length(bytes.len()))
    }

    /// Standard padded base64, as used in checkpoints and witness requests.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Parses standard padded base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, HashDecodeError> {
        // 32 bytes are 44 base64 characters; refusing longer input first keeps
        // a hostile line from making us decode megabytes.
        if text.len() != 44 {
            return Err(HashDecodeError::Length(text.len() / 4 * 3));
        }
        let bytes = BASE64.decode(text.as_bytes()).map_err(|_| HashDecodeError::Base64)?;
        Self::from_slice(&bytes)
    }

    /// Lowercase hexadecimal.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(HASH_SIZE * 2);
        for byte in self.0 {
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
        out
    }

    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, HashDecodeError> {
        let bytes = decode_hex(text)?;
        Self::from_slice(&bytes)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl From<[u8; HASH_SIZE]> for Hash {
    fn from(bytes: [u8; HASH_SIZE]) -> Self {
        Hash(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The hash of a log entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(entry);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_tree_hash() -> Hash {
    Hash(Sha256::digest([]).into())
}

fn hex_digit(nibble: u8) -> char {
    char::from(if nibble < 10 { b'0' + nibble } else { b'a' + (nibble - 10) })
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Decodes hexadecimal of any even length (test data, debugging aids).
pub(crate) fn decode_hex(text: &str) -> Result<Vec<u8>, HashDecodeError> {
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(HashDecodeError::Hex);
    }
    pairs
        .map(|pair| match pair {
            [high, low] => match (hex_value(*high), hex_value(*low)) {
                (Some(h), Some(l)) => Ok(h << 4 | l),
                _ => Err(HashDecodeError::Hex),
            },
            _ => Err(HashDecodeError::Hex),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_tree_hash_is_sha256_of_nothing() {
        assert_eq!(empty_tree_hash().to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let mut joined = vec![0x01];
        joined.extend_from_slice(&a.0);
        joined.extend_from_slice(&b.0);
        // The same bytes hashed as a leaf must not give the node hash.
        assert_ne!(leaf_hash(&joined[1..]), node_hash(&a, &b));
    }

    #[test]
    fn base64_and_hex_round_trip_and_reject_bad_input() {
        let h = leaf_hash(b"round trip");
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(Hash::from_hex(&h.to_hex().to_uppercase()), Ok(h));
        assert!(Hash::from_base64("AAAA").is_err());
        assert!(Hash::from_base64(&"!".repeat(44)).is_err());
        assert!(Hash::from_hex("abc").is_err());
        assert!(Hash::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(Hash::from_slice(&[0; 31]), Err(HashDecodeError::Length(31)));
    }
}
