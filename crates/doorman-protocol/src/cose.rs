//! COSE_Sign1 (RFC 9052 §4.2) in the one shape this protocol uses.
//!
//! ```text
//! COSE_Sign1 = #6.18([ protected: bstr .cbor {1: alg, ?4: kid}, unprotected: {}, payload: bstr, signature: bstr(64) ])
//! Sig_structure = [ "Signature1", protected, external_aad, payload ]
//! ```
//!
//! Everything a verifier relies on is in the protected header; the unprotected header
//! must be empty so that nothing unsigned can change how a message is read. Each
//! message type has its own `external_aad` (a domain tag), so a signature made for one
//! type can never verify as another.

use crate::cbor::{Malformed, Reader, Writer};
use crate::keys::{Algorithm, CoseSigner, IssuerSigner, KeyId, PublicKey};
use crate::EncodeError;

/// CBOR tag of a COSE_Sign1 message.
pub const TAG_COSE_SIGN1: u64 = 18;

/// Length of "Signature1" array header, context string and the bstr headers, plus slack:
/// what a Sig_structure needs on top of its protected header, aad and payload.
pub(crate) const SIG_STRUCTURE_OVERHEAD: usize = 32;

/// A decoded, not yet verified, COSE_Sign1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sign1<'a> {
    pub(crate) protected: &'a [u8],
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<KeyId>,
    pub(crate) payload: &'a [u8],
    pub(crate) signature: &'a [u8],
}

pub(crate) fn decode_sign1(bytes: &[u8]) -> Result<Sign1<'_>, Malformed> {
    let mut r = Reader::new(bytes);
    if r.tag()? != TAG_COSE_SIGN1 {
        return Err(Malformed);
    }
    r.array_of(4)?;
    let protected = r.bytes()?;
    if r.map()? != 0 {
        return Err(Malformed);
    }
    let payload = r.bytes()?;
    let signature = r.bytes()?;
    if signature.len() != 64 {
        return Err(Malformed);
    }
    r.finish()?;
    let (alg, kid) = decode_protected(protected)?;
    Ok(Sign1 { protected, alg, kid, payload, signature })
}

fn decode_protected(protected: &[u8]) -> Result<(Algorithm, Option<KeyId>), Malformed> {
    let mut r = Reader::new(protected);
    let n = r.map()?;
    if n == 0 || n > 2 {
        return Err(Malformed);
    }
    let mut alg = None;
    let mut kid = None;
    for _ in 0..n {
        match r.i64()? {
            1 if alg.is_none() => {
                alg = Some(Algorithm::from_cose_id(r.i64()?).ok_or(Malformed)?);
            }
            4 if kid.is_none() => kid = Some(KeyId(r.bytes_fixed::<8>()?)),
            _ => return Err(Malformed),
        }
    }
    r.finish()?;
    Ok((alg.ok_or(Malformed)?, kid))
}

/// Writes the Sig_structure into `buf` and returns it.
pub(crate) fn sig_structure<'b>(
    buf: &'b mut [u8],
    protected: &[u8],
    aad: &[u8],
    payload: &[u8],
) -> Result<&'b [u8], EncodeError> {
    let mut w = Writer::new(buf);
    w.array(4)?.str("Signature1")?.bytes(protected)?.bytes(aad)?.bytes(payload)?;
    let n = w.len();
    buf.get(..n).ok_or(EncodeError::BufferTooSmall)
}

/// Verifies `msg` with `key`, building the Sig_structure in `scratch`.
///
/// `false` also when `scratch` is too small, which callers size so that it never is
/// for a message they accepted the length of.
pub(crate) fn verify_sign1(msg: &Sign1<'_>, aad: &[u8], key: &PublicKey, scratch: &mut [u8]) -> bool {
    if key.algorithm() != msg.alg {
        return false;
    }
    match sig_structure(scratch, msg.protected, aad, msg.payload) {
        Ok(tbs) => key.verify(tbs, msg.signature),
        Err(_) => false,
    }
}

/// Signs `payload` and writes the tagged COSE_Sign1 into `out`; returns its length.
///
/// `out` doubles as the scratch space for the Sig_structure, which is never longer
/// than the message for the domain tags used here.
pub(crate) fn encode_sign1(
    out: &mut [u8],
    signer: &impl CoseSigner,
    kid: Option<KeyId>,
    aad: &[u8],
    payload: &[u8],
) -> Result<usize, EncodeError> {
    encode_sign1_by(out, signer.algorithm(), kid, aad, payload, |tbs| Ok(signer.sign64(tbs)))
}

/// [`encode_sign1`] for an issuer signer, whose signing may fail.
pub(crate) fn encode_issuer_sign1(
    out: &mut [u8],
    signer: &(impl IssuerSigner + ?Sized),
    aad: &[u8],
    payload: &[u8],
) -> Result<usize, EncodeError> {
    encode_sign1_by(out, signer.algorithm(), Some(signer.key_id()), aad, payload, |tbs| {
        signer.try_sign64(tbs).map_err(|_| EncodeError::SignerFailed)
    })
}

fn encode_sign1_by(
    out: &mut [u8],
    alg: Algorithm,
    kid: Option<KeyId>,
    aad: &[u8],
    payload: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<[u8; 64], EncodeError>,
) -> Result<usize, EncodeError> {
    let mut protected_buf = [0u8; 16];
    let protected_len = {
        let mut w = Writer::new(&mut protected_buf);
        match kid {
            Some(kid) => {
                w.map(2)?.u64(1)?.i64(alg.cose_id())?.u64(4)?.bytes(&kid.0)?;
            }
            None => {
                w.map(1)?.u64(1)?.i64(alg.cose_id())?;
            }
        }
        w.len()
    };
    let protected = protected_buf.get(..protected_len).ok_or(EncodeError::BufferTooSmall)?;
    let signature = {
        let tbs = sig_structure(out, protected, aad, payload)?;
        sign(tbs)?
    };
    let mut w = Writer::new(out);
    w.tag(TAG_COSE_SIGN1)?.array(4)?.bytes(protected)?.map(0)?.bytes(payload)?.bytes(&signature)?;
    Ok(w.len())
}
