//! Identifiers carried in messages: lock ids, credential ids, delivery hashes, nonces.

use core::fmt;

use hkdf::HkdfExtract;
use sha2::Sha256;

fn write_hex(f: &mut fmt::Formatter<'_>, name: &str, bytes: &[u8]) -> fmt::Result {
    f.write_str(name)?;
    f.write_str("(")?;
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    f.write_str(")")
}

/// A lock, by the 16 bytes of the UUID the service gave it.
///
/// On the wire it is 16 raw bytes everywhere except in a credential's `aud` claim,
/// which RFC 8392 wants as a text string: there it is the unpadded base64url form of
/// the same 16 bytes, always 22 characters (see [`LockId::audience`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockId(pub [u8; 16]);

/// Length of [`LockId::audience`].
pub const AUDIENCE_LEN: usize = 22;

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_char(v: u32) -> u8 {
    B64URL.get(usize::try_from(v & 63).unwrap_or(0)).copied().unwrap_or(b'A')
}

fn b64_value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

impl LockId {
    /// The credential `aud` text: unpadded base64url of the 16 bytes (22 ASCII bytes).
    pub fn audience(&self) -> [u8; AUDIENCE_LEN] {
        let mut out = [0u8; AUDIENCE_LEN];
        let mut chars = out.iter_mut();
        for chunk in self.0.chunks(3) {
            let mut group = 0u32;
            for (i, b) in chunk.iter().enumerate() {
                group |= u32::from(*b) << (16 - 8 * i);
            }
            // A full group gives 4 characters; the last, single-byte group gives 2.
            let n = chunk.len() + 1;
            for i in 0..n {
                if let Some(slot) = chars.next() {
                    *slot = b64_char(group >> (18 - 6 * i));
                }
            }
        }
        out
    }

    /// Parses the `aud` text form back into a lock id.
    pub fn from_audience(aud: &str) -> Option<Self> {
        let text = aud.as_bytes();
        if text.len() != AUDIENCE_LEN {
            return None;
        }
        let mut out = [0u8; 16];
        let mut bytes = out.iter_mut();
        for chunk in text.chunks(4) {
            let mut group = 0u32;
            for (i, c) in chunk.iter().enumerate() {
                group |= b64_value(*c)? << (18 - 6 * i);
            }
            let n = chunk.len() - 1;
            for i in 0..n {
                if let Some(slot) = bytes.next() {
                    *slot = ((group >> (16 - 8 * i)) & 0xff) as u8;
                }
            }
            // Canonical form only: the unused low bits of the final character are zero.
            if n == 1 && group & 0xffff != 0 {
                return None;
            }
        }
        Some(LockId(out))
    }
}

impl fmt::Debug for LockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, "LockId", &self.0)
    }
}

/// A credential's `cti` claim: 16 random bytes chosen by the service.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CredentialId(pub [u8; 16]);

impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, "CredentialId", &self.0)
    }
}

/// A fresh random value chosen by the lock for each challenge.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Nonce(pub [u8; 16]);

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, "Nonce", &self.0)
    }
}

/// A salted hash naming the delivery a credential was issued for; see [`delivery_hash`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DeliveryHash(pub [u8; 16]);

impl fmt::Debug for DeliveryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, "DeliveryHash", &self.0)
    }
}

/// HMAC-SHA256 with `key` over the concatenation of `parts`.
///
/// HKDF-Extract (RFC 5869) *is* HMAC(salt, ikm); using it gives an infallible,
/// incremental HMAC with no length error to handle.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HkdfExtract::<Sha256>::new(Some(key));
    for part in parts {
        mac.input_ikm(part);
    }
    let (out, _) = mac.finalize();
    out.into()
}

/// Domain tag of [`delivery_hash`].
pub const DELIVERY_HASH_TAG: &[u8] = b"doorman/delivery/v1";

/// The credential's delivery claim: HMAC-SHA256 keyed with `salt` over
/// `"doorman/delivery/v1" || delivery_reference`, first 16 bytes.
///
/// Tracking numbers have little entropy, so the salt must be secret and random
/// (16+ bytes, kept by the service with the delivery): then a credential, a lock's
/// event log or a camera upload names the delivery without revealing the tracking
/// number, and two deliveries cannot be linked.
pub fn delivery_hash(salt: &[u8], delivery_reference: &[u8]) -> DeliveryHash {
    let mac = hmac_sha256(salt, &[DELIVERY_HASH_TAG, delivery_reference]);
    let mut out = [0u8; 16];
    for (d, s) in out.iter_mut().zip(mac.iter()) {
        *d = *s;
    }
    DeliveryHash(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_round_trips_and_is_base64url() {
        let id =
            LockId([0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        let aud = id.audience();
        assert_eq!(&aud, b"ABEiM0RVZneImaq7zN3u_w");
        let text = core::str::from_utf8(&aud).unwrap();
        assert_eq!(LockId::from_audience(text), Some(id));
        assert_eq!(LockId::from_audience("ABEiM0RVZneImaq7zN3u_x"), None);
        assert_eq!(LockId::from_audience("ABEiM0RVZneImaq7zN3u_"), None);
        assert_eq!(LockId::from_audience("ABEiM0RVZneImaq7zN3u*w"), None);
    }

    #[test]
    fn delivery_hash_depends_on_salt() {
        let a = delivery_hash(b"salt-one-0123456", b"1Z999AA10123456784");
        let b = delivery_hash(b"salt-two-0123456", b"1Z999AA10123456784");
        assert_ne!(a, b);
    }
}
