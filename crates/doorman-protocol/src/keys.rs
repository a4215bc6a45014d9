//! Keys: the issuer's signing keys (Ed25519 by default, P-256 supported), the lock's
//! device key (Ed25519), the driver handheld's key (P-256), and the public halves a
//! lock trusts.
//!
//! Secret key types never print their secret in `Debug` and are wiped on drop by
//! the underlying crates.

use core::fmt;

use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

/// A COSE signature algorithm this protocol accepts (RFC 9053 identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// EdDSA with Ed25519, COSE `alg` -8.
    EdDSA,
    /// ECDSA with P-256 and SHA-256, COSE `alg` -7; signature is `r || s`, 64 bytes.
    ES256,
}

impl Algorithm {
    /// The COSE algorithm identifier.
    pub const fn cose_id(self) -> i64 {
        match self {
            Algorithm::EdDSA => -8,
            Algorithm::ES256 => -7,
        }
    }

    /// The algorithm for a COSE identifier, if this protocol accepts it.
    pub const fn from_cose_id(id: i64) -> Option<Self> {
        match id {
            -8 => Some(Algorithm::EdDSA),
            -7 => Some(Algorithm::ES256),
            _ => None,
        }
    }
}

/// Identifies a trusted key: 8 bytes, carried as the COSE `kid` header.
///
/// [`PublicKey::derived_key_id`] gives the default: the first 8 bytes of SHA-256 over
/// the public key's bytes (32-byte Ed25519 key, or 65-byte uncompressed SEC1 P-256
/// point).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// The key material was not a valid key for its algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyError;

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid key material")
    }
}

/// A public signature key as a lock stores it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PublicKey {
    /// 32-byte Ed25519 public key.
    Ed25519([u8; 32]),
    /// 65-byte uncompressed SEC1 P-256 point (`04 || x || y`): stored uncompressed so
    /// verification never pays for a square root.
    P256([u8; 65]),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({:?}, ", self.algorithm())?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl PublicKey {
    /// Validates and stores a public key. For P-256 both compressed (33 bytes) and
    /// uncompressed (65 bytes) SEC1 encodings are accepted; Ed25519 keys of small
    /// order are refused.
    pub fn from_bytes(alg: Algorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        match alg {
            Algorithm::EdDSA => {
                let raw = <[u8; 32]>::try_from(bytes).map_err(|_| KeyError)?;
                let vk = ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| KeyError)?;
                if vk.is_weak() {
                    return Err(KeyError);
                }
                Ok(PublicKey::Ed25519(raw))
            }
            Algorithm::ES256 => {
                let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| KeyError)?;
                let point = vk.to_encoded_point(false);
                let raw = <[u8; 65]>::try_from(point.as_bytes()).map_err(|_| KeyError)?;
                Ok(PublicKey::P256(raw))
            }
        }
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Ed25519(_) => Algorithm::EdDSA,
            PublicKey::P256(_) => Algorithm::ES256,
        }
    }

    /// The stored bytes (32 or 65).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            PublicKey::Ed25519(k) => k,
            PublicKey::P256(k) => k,
        }
    }

    /// The default key id: SHA-256 of [`Self::as_bytes`], first 8 bytes.
    pub fn derived_key_id(&self) -> KeyId {
        let digest = Sha256::digest(self.as_bytes());
        let mut kid = [0u8; 8];
        for (d, s) in kid.iter_mut().zip(digest.iter()) {
            *d = *s;
        }
        KeyId(kid)
    }

    /// Checks a 64-byte signature over `msg`. Ed25519 uses the strict check
    /// (canonical `S`, no small-order `R` or key).
    pub(crate) fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(raw) => {
                let Ok(sig) = <[u8; 64]>::try_from(sig) else {
                    return false;
                };
                let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(raw) else {
                    return false;
                };
                vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig)).is_ok()
            }
            PublicKey::P256(raw) => verify_p256(raw, msg, sig),
        }
    }
}

pub(crate) fn verify_p256(sec1: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(vk) = p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1) else {
        return false;
    };
    let Ok(sig) = p256::ecdsa::Signature::from_slice(sig) else {
        return false;
    };
    vk.verify(msg, &sig).is_ok()
}

/// What a trusted key may sign. A lock refuses a message signed by a key whose usage
/// does not cover it, so an online issuing key cannot rewrite the trust anchors.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyUsage(u8);

impl KeyUsage {
    /// Access credentials.
    pub const CREDENTIALS: KeyUsage = KeyUsage(1);
    /// Revocation bundles.
    pub const REVOCATION: KeyUsage = KeyUsage(2);
    /// Key updates (changes to the trust anchors): give this to an offline root key.
    pub const KEY_UPDATE: KeyUsage = KeyUsage(4);
    /// What an online issuer key needs: credentials and revocation bundles.
    pub const ISSUER: KeyUsage = KeyUsage(1 | 2);
    /// Everything.
    pub const ALL: KeyUsage = KeyUsage(1 | 2 | 4);

    /// From the wire bits; unknown bits are refused.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !7 == 0 {
            Some(KeyUsage(bits))
        } else {
            None
        }
    }

    /// The wire bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True if every bit of `other` is allowed.
    pub const fn contains(self, other: KeyUsage) -> bool {
        self.0 & other.0 == other.0
    }
}

impl fmt::Debug for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        f.write_str("KeyUsage(")?;
        for (bit, name) in [(1, "credentials"), (2, "revocation"), (4, "key-update")] {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// A key a lock trusts, by id, with what it may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedKey {
    /// The COSE `kid` a message must carry to be checked with this key.
    pub kid: KeyId,
    /// The public key.
    pub key: PublicKey,
    /// What the key may sign.
    pub usage: KeyUsage,
}

/// Something that produces 64-byte COSE signatures.
pub(crate) trait CoseSigner {
    fn algorithm(&self) -> Algorithm;
    fn sign64(&self, msg: &[u8]) -> [u8; 64];
}

impl CoseSigner for ed25519_dalek::SigningKey {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
    fn sign64(&self, msg: &[u8]) -> [u8; 64] {
        self.sign(msg).to_bytes()
    }
}

impl CoseSigner for p256::ecdsa::SigningKey {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
    fn sign64(&self, msg: &[u8]) -> [u8; 64] {
        let sig: p256::ecdsa::Signature = self.sign(msg);
        let mut out = [0u8; 64];
        for (d, s) in out.iter_mut().zip(sig.to_bytes().iter()) {
            *d = *s;
        }
        out
    }
}

enum IssuerSecret {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// The service's key for signing credentials, revocation bundles and key updates.
pub struct IssuerSigningKey {
    kid: KeyId,
    secret: IssuerSecret,
}

impl fmt::Debug for IssuerSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl IssuerSigningKey {
    /// An Ed25519 key (the default) from its 32-byte secret; kid derived from the public key.
    pub fn from_ed25519_secret(secret: &[u8; 32]) -> Self {
        let sk = ed25519_dalek::SigningKey::from_bytes(secret);
        let public = PublicKey::Ed25519(sk.verifying_key().to_bytes());
        Self { kid: public.derived_key_id(), secret: IssuerSecret::Ed25519(sk) }
    }

    /// A P-256 key from its 32-byte big-endian scalar; kid derived from the public key.
    pub fn from_p256_secret(secret: &[u8; 32]) -> Result<Self, KeyError> {
        let sk = p256::ecdsa::SigningKey::from_slice(secret).map_err(|_| KeyError)?;
        let mut key = Self { kid: KeyId([0; 8]), secret: IssuerSecret::P256(sk) };
        key.kid = key.public_key().derived_key_id();
        Ok(key)
    }

    /// A fresh Ed25519 key.
    pub fn generate_ed25519(rng: &mut impl CryptoRngCore) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let key = Self::from_ed25519_secret(&secret);
        zeroize::Zeroize::zeroize(&mut secret);
        key
    }

    /// A fresh P-256 key.
    pub fn generate_p256(rng: &mut impl CryptoRngCore) -> Self {
        let sk = p256::ecdsa::SigningKey::random(rng);
        let mut key = Self { kid: KeyId([0; 8]), secret: IssuerSecret::P256(sk) };
        key.kid = key.public_key().derived_key_id();
        key
    }

    /// Replaces the derived key id with one chosen by the operator.
    #[must_use]
    pub fn with_key_id(mut self, kid: KeyId) -> Self {
        self.kid = kid;
        self
    }

    /// The key id put in the protected header of everything this key signs.
    pub fn key_id(&self) -> KeyId {
        self.kid
    }

    /// EdDSA or ES256.
    pub fn algorithm(&self) -> Algorithm {
        match &self.secret {
            IssuerSecret::Ed25519(_) => Algorithm::EdDSA,
            IssuerSecret::P256(_) => Algorithm::ES256,
        }
    }

    /// The public key, as a lock stores it.
    pub fn public_key(&self) -> PublicKey {
        match &self.secret {
            IssuerSecret::Ed25519(sk) => PublicKey::Ed25519(sk.verifying_key().to_bytes()),
            IssuerSecret::P256(sk) => {
                let point = sk.verifying_key().to_encoded_point(false);
                let mut raw = [0u8; 65];
                for (d, s) in raw.iter_mut().zip(point.as_bytes().iter()) {
                    *d = *s;
                }
                PublicKey::P256(raw)
            }
        }
    }

    /// The trust anchor a lock needs to accept what this key signs for `usage`.
    pub fn trusted_key(&self, usage: KeyUsage) -> TrustedKey {
        TrustedKey { kid: self.kid, key: self.public_key(), usage }
    }
}

/// A signer that failed (a hardware module that did not answer, a key service
/// that refused): nothing was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignError;

/// Whatever signs as an issuer key: an [`IssuerSigningKey`] held in memory, or
/// something that keeps the private key elsewhere (an HSM, a cloud KMS) and
/// only hands back signatures. Everything the service signs for locks
/// (credentials, revocation bundles, key updates, time statements) takes one.
pub trait IssuerSigner {
    /// The key id put in the protected header.
    fn key_id(&self) -> KeyId;
    /// EdDSA or ES256.
    fn algorithm(&self) -> Algorithm;
    /// The 64-byte signature of `msg` (Ed25519, or ES256 as `r || s`).
    fn try_sign64(&self, msg: &[u8]) -> Result<[u8; 64], SignError>;
}

impl IssuerSigner for IssuerSigningKey {
    fn key_id(&self) -> KeyId {
        self.kid
    }
    fn algorithm(&self) -> Algorithm {
        IssuerSigningKey::algorithm(self)
    }
    fn try_sign64(&self, msg: &[u8]) -> Result<[u8; 64], SignError> {
        Ok(CoseSigner::sign64(self, msg))
    }
}

impl CoseSigner for IssuerSigningKey {
    fn algorithm(&self) -> Algorithm {
        IssuerSigningKey::algorithm(self)
    }
    fn sign64(&self, msg: &[u8]) -> [u8; 64] {
        match &self.secret {
            IssuerSecret::Ed25519(sk) => sk.sign64(msg),
            IssuerSecret::P256(sk) => sk.sign64(msg),
        }
    }
}

/// The lock's own Ed25519 device key: signs challenges and events.
pub struct LockDeviceKey(ed25519_dalek::SigningKey);

impl fmt::Debug for LockDeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LockDeviceKey").field(&self.public_key()).finish()
    }
}

impl LockDeviceKey {
    /// From its 32-byte secret.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self(ed25519_dalek::SigningKey::from_bytes(secret))
    }

    /// A fresh key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(ed25519_dalek::SigningKey::generate(rng))
    }

    /// The public half, registered with the service when the lock is provisioned.
    pub fn public_key(&self) -> LockDevicePublicKey {
        LockDevicePublicKey(self.0.verifying_key().to_bytes())
    }

    pub(crate) fn signer(&self) -> &ed25519_dalek::SigningKey {
        &self.0
    }
}

/// The public half of a lock's device key (32-byte Ed25519).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockDevicePublicKey(pub [u8; 32]);

impl fmt::Debug for LockDevicePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockDevicePublicKey(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl LockDevicePublicKey {
    pub(crate) fn as_public_key(&self) -> PublicKey {
        PublicKey::Ed25519(self.0)
    }
}

/// The driver handheld's P-256 key (what phone secure hardware holds). It proves
/// possession of a credential by signing the lock's challenge.
pub struct HandheldKey(p256::ecdsa::SigningKey);

impl fmt::Debug for HandheldKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HandheldKey").field(&self.public_key()).finish()
    }
}

impl HandheldKey {
    /// From its 32-byte big-endian scalar.
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self, KeyError> {
        p256::ecdsa::SigningKey::from_slice(secret).map(Self).map_err(|_| KeyError)
    }

    /// A fresh key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        Self(p256::ecdsa::SigningKey::random(rng))
    }

    /// The public half, put in a credential's `cnf` claim.
    pub fn public_key(&self) -> HandheldPublicKey {
        let point = self.0.verifying_key().to_encoded_point(true);
        let mut raw = [0u8; 33];
        for (d, s) in raw.iter_mut().zip(point.as_bytes().iter()) {
            *d = *s;
        }
        HandheldPublicKey(raw)
    }

    pub(crate) fn signer(&self) -> &p256::ecdsa::SigningKey {
        &self.0
    }
}

/// A handheld's P-256 public key as a compressed SEC1 point (`02|03 || x`, 33 bytes).
///
/// In a credential it travels as an RFC 9052 COSE_Key with `y` as the sign bit, which
/// is what keeps a credential within 260 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandheldPublicKey(pub(crate) [u8; 33]);

impl fmt::Debug for HandheldPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HandheldPublicKey(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl HandheldPublicKey {
    /// From a SEC1 point, compressed or uncompressed; checked to be on the curve.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| KeyError)?;
        let point = vk.to_encoded_point(true);
        <[u8; 33]>::try_from(point.as_bytes()).map(Self).map_err(|_| KeyError)
    }

    /// From the COSE_Key parts: the x coordinate and the sign bit of y. Not checked
    /// here: the point is validated when a signature is verified with it.
    pub(crate) fn from_x_and_sign(x: &[u8; 32], y_odd: bool) -> Self {
        let mut raw = [0u8; 33];
        let (prefix, rest) = raw.split_at_mut(1);
        for p in prefix.iter_mut() {
            *p = if y_odd { 0x03 } else { 0x02 };
        }
        rest.copy_from_slice(x);
        Self(raw)
    }

    /// The compressed SEC1 bytes.
    pub fn as_sec1_bytes(&self) -> &[u8; 33] {
        &self.0
    }

    /// The x coordinate.
    pub fn x(&self) -> [u8; 32] {
        let mut x = [0u8; 32];
        if let Some(rest) = self.0.get(1..) {
            x.copy_from_slice(rest);
        }
        x
    }

    /// True if y is odd (the COSE_Key `y` boolean).
    pub fn y_is_odd(&self) -> bool {
        self.0.first() == Some(&0x03)
    }
}
