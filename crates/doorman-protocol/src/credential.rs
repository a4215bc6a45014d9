//! The access credential: a COSE_Sign1 (RFC 9052) over a CWT claims set (RFC 8392),
//! bound to the driver handheld's key with a `cnf` claim (RFC 8747).
//!
//! ```text
//! claims = {
//!    1: iss   tstr (<= 64 bytes)
//!    3: aud   tstr, the lock id as 22 base64url characters
//!    4: exp   uint, 5: nbf uint, 6: iat uint      (unix seconds)
//!    7: cti   bstr(16)
//!    8: cnf   { 1: COSE_Key { 1: 2 (EC2), -1: 1 (P-256), -2: x bstr(32), -3: y bool (sign bit) | bstr(32) } }
//!   -65537: doorman [ delivery_hash bstr(16), lock_sequence uint (>= 1), revocation_epoch uint,
//!                     max_uses uint (1..=255), ? challenge_nonce bstr(16) ]
//! }
//! ```
//!
//! The private claim label -65537 is the first label of the CWT registry's private-use
//! range (below -65536). Its members share one label because each private label costs
//! 5 bytes and the credential must stay within 260 bytes.

use crate::cbor::{FixedBytes, Malformed, Reader, Writer};
use crate::cose::{decode_sign1, encode_issuer_sign1};
use crate::ids::{CredentialId, DeliveryHash, LockId, Nonce, AUDIENCE_LEN};
use crate::keys::{Algorithm, HandheldPublicKey, IssuerSigner, KeyId};
use crate::EncodeError;

/// CWT `iss`.
pub const CLAIM_ISS: i64 = 1;
/// CWT `aud`.
pub const CLAIM_AUD: i64 = 3;
/// CWT `exp`.
pub const CLAIM_EXP: i64 = 4;
/// CWT `nbf`.
pub const CLAIM_NBF: i64 = 5;
/// CWT `iat`.
pub const CLAIM_IAT: i64 = 6;
/// CWT `cti`.
pub const CLAIM_CTI: i64 = 7;
/// CWT `cnf` (RFC 8747).
pub const CLAIM_CNF: i64 = 8;
/// The doorman private claim (private-use range of the CWT claims registry).
pub const CLAIM_DOORMAN: i64 = -65537;

/// Longest issuer text accepted.
pub const MAX_ISSUER_LEN: usize = 64;
/// Longest credential a lock accepts (with the longest issuer text it is under 330).
pub const MAX_CREDENTIAL_LEN: usize = 384;

/// An encoded credential.
pub type Credential = FixedBytes<MAX_CREDENTIAL_LEN>;

/// What a credential says. Used both to issue one and as the result of decoding one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialClaims<'a> {
    /// `iss`: who issued it (informational; trust comes from the key id).
    pub issuer: &'a str,
    /// `aud`: the one lock it opens.
    pub lock_id: LockId,
    /// `nbf`, unix seconds.
    pub not_before: u64,
    /// `exp`, unix seconds; not valid at or after this instant.
    pub expires_at: u64,
    /// `iat`, unix seconds.
    pub issued_at: u64,
    /// `cti`: 16 random bytes.
    pub credential_id: CredentialId,
    /// `cnf`: the handheld key that must sign the lock's challenge.
    pub handheld_key: HandheldPublicKey,
    /// Salted hash of the delivery (see [`crate::delivery_hash`]).
    pub delivery_hash: DeliveryHash,
    /// This lock's sequence number for the credential, from 1, never reused; the lock's
    /// replay window is keyed by it.
    pub lock_sequence: u64,
    /// The lock's revocation epoch when the credential was issued.
    pub revocation_epoch: u64,
    /// How many times it may open the lock (1 for a delivery).
    pub max_uses: u8,
    /// When set, only valid against the challenge that carried this nonce: required by
    /// a lock that lost its clock.
    pub challenge_nonce: Option<Nonce>,
}

impl CredentialClaims<'_> {
    fn check(&self) -> Result<(), EncodeError> {
        if self.issuer.len() > MAX_ISSUER_LEN
            || self.lock_sequence == 0
            || self.max_uses == 0
            || self.expires_at <= self.not_before
        {
            return Err(EncodeError::InvalidInput);
        }
        Ok(())
    }
}

fn encode_claims(c: &CredentialClaims<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    c.check()?;
    let aud = c.lock_id.audience();
    let aud = core::str::from_utf8(&aud).map_err(|_| EncodeError::InvalidInput)?;
    let mut w = Writer::new(out);
    // Keys in deterministic order (RFC 8949 §4.2.1): positive labels, then the negative one.
    w.map(8)?;
    w.i64(CLAIM_ISS)?.str(c.issuer)?;
    w.i64(CLAIM_AUD)?.str(aud)?;
    w.i64(CLAIM_EXP)?.u64(c.expires_at)?;
    w.i64(CLAIM_NBF)?.u64(c.not_before)?;
    w.i64(CLAIM_IAT)?.u64(c.issued_at)?;
    w.i64(CLAIM_CTI)?.bytes(&c.credential_id.0)?;
    w.i64(CLAIM_CNF)?.map(1)?.u64(1)?;
    w.map(4)?
        .u64(1)?
        .u64(2)?
        .i64(-1)?
        .u64(1)?
        .i64(-2)?
        .bytes(&c.handheld_key.x())?
        .i64(-3)?
        .bool(c.handheld_key.y_is_odd())?;
    w.i64(CLAIM_DOORMAN)?;
    w.array(if c.challenge_nonce.is_some() { 5 } else { 4 })?
        .bytes(&c.delivery_hash.0)?
        .u64(c.lock_sequence)?
        .u64(c.revocation_epoch)?
        .u64(u64::from(c.max_uses))?;
    if let Some(nonce) = &c.challenge_nonce {
        w.bytes(&nonce.0)?;
    }
    Ok(w.len())
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), Malformed> {
    if slot.is_some() {
        return Err(Malformed);
    }
    *slot = Some(value);
    Ok(())
}

fn decode_cose_key(r: &mut Reader<'_>) -> Result<HandheldPublicKey, Malformed> {
    let n = r.map()?;
    if !(4..=5).contains(&n) {
        return Err(Malformed);
    }
    let (mut kty, mut crv, mut x, mut y_odd, mut alg) = (None, None, None, None, None);
    for _ in 0..n {
        match r.i64()? {
            1 => set_once(&mut kty, r.u64()?)?,
            3 => set_once(&mut alg, r.i64()?)?,
            -1 => set_once(&mut crv, r.u64()?)?,
            -2 => set_once(&mut x, r.bytes_fixed::<32>()?)?,
            -3 => {
                // RFC 9053 §7.1.1: y is the coordinate or, compressed, its sign bit.
                let odd = if r.datatype()? == minicbor::data::Type::Bool {
                    r.bool()?
                } else {
                    let y = r.bytes_fixed::<32>()?;
                    y.last().is_some_and(|b| b & 1 == 1)
                };
                set_once(&mut y_odd, odd)?;
            }
            _ => return Err(Malformed),
        }
    }
    if kty != Some(2) || crv != Some(1) || alg.is_some_and(|a| a != Algorithm::ES256.cose_id()) {
        return Err(Malformed);
    }
    Ok(HandheldPublicKey::from_x_and_sign(&x.ok_or(Malformed)?, y_odd.ok_or(Malformed)?))
}

/// Decodes a CWT claims set in this profile. Every claim is required, unknown claims
/// are refused: a new claim means a new profile.
pub(crate) fn decode_claims(payload: &[u8]) -> Result<CredentialClaims<'_>, Malformed> {
    let mut r = Reader::new(payload);
    if r.map()? != 8 {
        return Err(Malformed);
    }
    let (mut iss, mut aud, mut exp, mut nbf, mut iat, mut cti, mut cnf, mut dm) =
        (None, None, None, None, None, None, None, None);
    for _ in 0..8 {
        match r.i64()? {
            CLAIM_ISS => {
                let s = r.str()?;
                if s.len() > MAX_ISSUER_LEN {
                    return Err(Malformed);
                }
                set_once(&mut iss, s)?;
            }
            CLAIM_AUD => {
                let s = r.str()?;
                if s.len() != AUDIENCE_LEN {
                    return Err(Malformed);
                }
                set_once(&mut aud, LockId::from_audience(s).ok_or(Malformed)?)?;
            }
            CLAIM_EXP => set_once(&mut exp, r.u64()?)?,
            CLAIM_NBF => set_once(&mut nbf, r.u64()?)?,
            CLAIM_IAT => set_once(&mut iat, r.u64()?)?,
            CLAIM_CTI => set_once(&mut cti, CredentialId(r.bytes_fixed::<16>()?))?,
            CLAIM_CNF => {
                if r.map()? != 1 || r.i64()? != 1 {
                    return Err(Malformed);
                }
                set_once(&mut cnf, decode_cose_key(&mut r)?)?;
            }
            CLAIM_DOORMAN => {
                let n = r.array()?;
                if !(4..=5).contains(&n) {
                    return Err(Malformed);
                }
                let dh = DeliveryHash(r.bytes_fixed::<16>()?);
                let seq = r.u64()?;
                let epoch = r.u64()?;
                let uses = r.u8()?;
                let nonce = if n == 5 { Some(Nonce(r.bytes_fixed::<16>()?)) } else { None };
                if seq == 0 || uses == 0 {
                    return Err(Malformed);
                }
                set_once(&mut dm, (dh, seq, epoch, uses, nonce))?;
            }
            _ => return Err(Malformed),
        }
    }
    r.finish()?;
    let (delivery_hash, lock_sequence, revocation_epoch, max_uses, challenge_nonce) = dm.ok_or(Malformed)?;
    Ok(CredentialClaims {
        issuer: iss.ok_or(Malformed)?,
        lock_id: aud.ok_or(Malformed)?,
        not_before: nbf.ok_or(Malformed)?,
        expires_at: exp.ok_or(Malformed)?,
        issued_at: iat.ok_or(Malformed)?,
        credential_id: cti.ok_or(Malformed)?,
        handheld_key: cnf.ok_or(Malformed)?,
        delivery_hash,
        lock_sequence,
        revocation_epoch,
        max_uses,
        challenge_nonce,
    })
}

/// Signs `claims` with `key` into `out` (kid in the protected header, empty
/// `external_aad`, so any COSE/CWT library can verify it); returns the length.
pub fn issue_credential_into(
    key: &(impl IssuerSigner + ?Sized),
    claims: &CredentialClaims<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut payload = [0u8; MAX_CREDENTIAL_LEN];
    let n = encode_claims(claims, &mut payload)?;
    let payload = payload.get(..n).ok_or(EncodeError::BufferTooSmall)?;
    encode_issuer_sign1(out, key, &[], payload)
}

/// Signs `claims` with `key`.
pub fn issue_credential(
    key: &(impl IssuerSigner + ?Sized),
    claims: &CredentialClaims<'_>,
) -> Result<Credential, EncodeError> {
    Credential::fill_with(|buf| issue_credential_into(key, claims, buf))
}

/// A credential decoded *without* checking its signature: for the handheld (which
/// credential opens which lock) and for tools. A lock never acts on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnverifiedCredential<'a> {
    /// The signature algorithm named in the protected header.
    pub algorithm: Algorithm,
    /// The issuer key id.
    pub key_id: KeyId,
    /// The claims.
    pub claims: CredentialClaims<'a>,
}

/// Decodes a credential without verifying it.
pub fn inspect_credential(bytes: &[u8]) -> Result<UnverifiedCredential<'_>, Malformed> {
    if bytes.len() > MAX_CREDENTIAL_LEN {
        return Err(Malformed);
    }
    let msg = decode_sign1(bytes)?;
    Ok(UnverifiedCredential {
        algorithm: msg.alg,
        key_id: msg.kid.ok_or(Malformed)?,
        claims: decode_claims(msg.payload)?,
    })
}
