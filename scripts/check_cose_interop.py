#!/usr/bin/env python3
"""Check doorman's protocol test vectors with independent implementations.

pycose verifies every COSE_Sign1 (credentials, challenge, revocation bundle, key
update, events), cbor2 decodes the CWT claims and payloads, `cryptography` checks the
handheld's ES256 proof of possession, the HKDF per-lock door-code secret, and the
P-256 point carried compressed in `cnf`; `hmac` recomputes the HOTP door codes. A small
verifier written from docs/PROTOCOL.md alone then re-derives every verdict in
verdicts.json from the persisted lock state, the challenge and the presentation.

Usage: python3 scripts/check_cose_interop.py [vectors-dir]
Needs: pip install pycose cbor2   (cryptography comes with pycose)
"""

import base64
import hashlib
import hmac
import json
import pathlib
import struct
import sys

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pycose.keys import EC2Key, OKPKey
from pycose.keys.curves import P256, Ed25519
from pycose.messages import Sign1Message

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "crates/doorman-protocol/vectors"

CLAIM_ISS, CLAIM_AUD, CLAIM_EXP, CLAIM_NBF, CLAIM_IAT, CLAIM_CTI, CLAIM_CNF = 1, 3, 4, 5, 6, 7, 8
CLAIM_DOORMAN = -65537
checks = 0


def ok(condition, what):
    global checks
    if not condition:
        raise SystemExit(f"FAIL: {what}")
    checks += 1


def load(name):
    return json.loads((VECTORS / name).read_text())


def h(s):
    return bytes.fromhex(s)


def cose_key(alg, public):
    """A pycose key for a stored public key: 32-byte Ed25519 or 65-byte SEC1 P-256."""
    if alg == -8:
        return OKPKey(crv=Ed25519, x=public)
    if alg == -7:
        ok(len(public) == 65 and public[0] == 4, "P-256 key is an uncompressed point")
        return EC2Key(crv=P256, x=public[1:33], y=public[33:])
    raise SystemExit(f"unexpected alg {alg}")


def verify_sign1(message, alg, public, aad=b"", kid=None):
    """pycose: decode a tagged COSE_Sign1, check its headers and signature; return it."""
    msg = Sign1Message.decode(message)
    phdr = {getattr(k, "identifier", k): v for k, v in msg.phdr.items()}
    alg_id = phdr.get(1)
    alg_id = getattr(alg_id, "identifier", alg_id)
    ok(alg_id == alg, f"protected alg {alg_id} == {alg}")
    ok(phdr.get(4) == kid, f"protected kid {phdr.get(4)!r} == {kid!r}")
    ok(len(msg.uhdr) == 0, "unprotected header is empty")
    msg.key = cose_key(alg, public)
    msg.external_aad = aad
    ok(msg.verify_signature(), "COSE signature verifies")
    # The same library must refuse the message once a signature byte changes.
    bad = Sign1Message.decode(message)
    bad.key, bad.external_aad = cose_key(alg, public), aad
    sig = bytearray(bad.signature)
    sig[5] ^= 1
    bad.signature = bytes(sig)
    try:
        refused = not bad.verify_signature()
    except Exception:  # pycose raises on some invalid signatures
        refused = True
    ok(refused, "altered signature is refused")
    return msg


def es256_verify(sec1, message, raw_signature):
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sec1)
    r = int.from_bytes(raw_signature[:32], "big")
    s = int.from_bytes(raw_signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def ed25519_verify(public, message, signature):
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        return True
    except InvalidSignature:
        return False


def b64url_lock_id(aud):
    return base64.urlsafe_b64decode(aud + "==")


def check_credentials(keys):
    lock_id = h(keys["lock_id"])
    for name in ["credential-ed25519.json", "credential-es256.json", "credential-nonce-bound.json"]:
        v = load(name)
        cred = h(v["credential"])
        ok(len(cred) == v["size"] and len(cred) <= 260, f"{name}: {len(cred)} bytes <= 260")
        issuer = v["issuer"]
        msg = verify_sign1(cred, issuer["alg"], h(issuer["public_key"]), b"", h(issuer["kid"]))
        claims = cbor2.loads(msg.payload)
        want = v["claims"]
        ok(claims[CLAIM_ISS] == want["1_iss"], "iss")
        ok(claims[CLAIM_AUD] == want["3_aud"] and len(claims[CLAIM_AUD]) == 22, "aud")
        ok(b64url_lock_id(claims[CLAIM_AUD]) == lock_id, "aud is base64url of the lock id")
        for label, key in [(CLAIM_EXP, "4_exp"), (CLAIM_NBF, "5_nbf"), (CLAIM_IAT, "6_iat")]:
            ok(claims[label] == want[key], key)
        ok(claims[CLAIM_CTI] == h(want["7_cti"]), "cti")
        cose_key_map = claims[CLAIM_CNF][1]
        ok(cose_key_map[1] == 2 and cose_key_map[-1] == 1, "cnf COSE_Key is EC2 / P-256")
        x, y_odd = cose_key_map[-2], cose_key_map[-3]
        ok(isinstance(y_odd, bool) and x == h(want["8_cnf"]["x"]), "cnf x and sign bit")
        point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes([3 if y_odd else 2]) + x)
        uncompressed = point.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        ok(uncompressed == h(v["handheld_public_key_uncompressed"]), "cnf decompresses to the handheld key")
        dm = claims[CLAIM_DOORMAN]
        wd = want["-65537_doorman"]
        ok(dm[0] == h(wd["delivery_hash"]) and dm[1] == wd["lock_sequence"], "private claim: hash, sequence")
        ok(dm[2] == wd["revocation_epoch"] and dm[3] == wd["max_uses"], "private claim: epoch, uses")
        nonce = dm[4].hex() if len(dm) == 5 else None
        ok(nonce == wd["challenge_nonce"], "private claim: challenge nonce")
        ok(set(claims) == {1, 3, 4, 5, 6, 7, 8, CLAIM_DOORMAN}, "no other claims")
    d = keys["delivery"]
    mac = hmac.new(h(d["salt"]), b"doorman/delivery/v1" + d["reference"].encode(), hashlib.sha256).digest()
    ok(mac[:16].hex() == d["delivery_hash"], "delivery hash = HMAC-SHA256(salt, tag || reference)[:16]")


def possession_input(challenge_payload, credential):
    return cbor2.dumps(["doorman/presentation/v1", challenge_payload, hashlib.sha256(credential).digest()])


def check_challenge_and_presentation(keys):
    c = load("challenge.json")
    device = h(keys["lock_device_ed25519"]["public_key"])
    msg = verify_sign1(h(c["signed_challenge"]), -8, device, b"doorman/challenge/v1")
    ok(msg.payload == h(c["payload"]), "challenge payload")
    f = cbor2.loads(msg.payload)
    want = c["fields"]
    ok(f[0] == h(want["lock_id"]) and f[1] == h(want["nonce"]) and f[2] == want["counter"], "challenge fields")
    ok(f[3:7] == [want["lock_time"], want["revocation_sequence"], want["key_update_sequence"], want["event_counter"]], "challenge numbers")
    ok(f[7] is want["clock_lost"], "challenge clock flag")

    p = load("presentation.json")
    counter, credential, signature = cbor2.loads(h(p["presentation"]))
    ok(counter == want["counter"] and credential == h(p["credential"]), "presentation parts")
    inp = possession_input(h(p["challenge_payload"]), credential)
    ok(es256_verify(h(p["handheld_public_key"]), inp, signature), "handheld ES256 proof of possession")
    ok(not es256_verify(h(p["handheld_public_key"]), inp[:-1] + bytes([inp[-1] ^ 1]), signature), "proof is bound to the credential hash")


# --- a verifier written from docs/PROTOCOL.md, to re-derive verdicts.json -------------

def parse_state(b):
    """The persisted lock state layout of docs/PROTOCOL.md."""
    ok(len(b) >= 8 and hashlib.sha256(b[:-8]).digest()[:8] == b[-8:], "state checksum")
    ok(b[:4] == b"DMLS" and b[4] == 1, "state magic and version")
    pos = 5
    def take(n):
        nonlocal pos
        out = b[pos:pos + n]
        pos += n
        return out
    def u64():
        return struct.unpack(">Q", take(8))[0]
    st = {"clock_lost": take(1)[0] & 1 == 1, "lock_id": take(16)}
    st["floor"], st["challenge_counter"], st["event_counter"] = u64(), u64(), u64()
    take(32)
    u64()
    st["keys"], st["retired"] = {}, set()
    for _ in range(8):
        state, usage, alg = take(3)
        kid, key = take(8), take(65)
        if state == 1:
            st["keys"][kid] = (usage, -8 if alg == 1 else -7, key[:32] if alg == 1 else key)
        elif state == 2:
            st["retired"].add(kid)
    u64()
    st["epoch"] = u64()
    count = take(1)[0]
    revoked = [take(16) + take(8) for _ in range(64)]
    st["revoked"] = {r[:16] for r in revoked[:count]}
    st["highest"] = u64()
    st["uses"] = take(128)
    return st


def verdict(st, challenge_payload, presentation, now, cfg):
    counter, credential, handheld_sig = cbor2.loads(presentation)
    tag = cbor2.loads(credential)
    ok(tag.tag == 18, "COSE_Sign1 tag")
    protected, _unprotected, payload, signature = tag.value
    phdr = cbor2.loads(protected)
    kid, alg = phdr[4], phdr[1]
    if kid not in st["keys"]:
        return "retired_key" if kid in st["retired"] else "unknown_key"
    usage, key_alg, key = st["keys"][kid]
    if not usage & 1 or key_alg != alg:
        return "key_not_allowed"
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    good = ed25519_verify(key, tbs, signature) if alg == -8 else es256_verify(key, tbs, signature)
    if not good:
        return "bad_signature"
    c = cbor2.loads(payload)
    if b64url_lock_id(c[CLAIM_AUD]) != st["lock_id"]:
        return "wrong_audience"
    if c[CLAIM_EXP] - c[CLAIM_NBF] > cfg["max_credential_lifetime_secs"]:
        return "lifetime_too_long"
    dm = c[CLAIM_DOORMAN]
    nonce = dm[4] if len(dm) == 5 else None
    ch = cbor2.loads(challenge_payload)
    trusted = not st["clock_lost"] and now >= st["floor"]
    skew = cfg["clock_skew_secs"]
    if trusted:
        if now + skew < c[CLAIM_NBF]:
            return "not_yet_valid"
        if now >= c[CLAIM_EXP] + skew:
            return "expired"
    elif nonce is None:
        return "nonce_required" if st["clock_lost"] else "clock_below_floor"
    if dm[2] < st["epoch"]:
        return "epoch_revoked"
    if c[CLAIM_CTI] in st["revoked"]:
        return "revoked"
    seq, max_uses = dm[1], dm[3]
    if seq <= st["highest"]:
        if st["highest"] - seq >= 128:
            return "replay_too_old"
        if st["uses"][seq % 128] >= max_uses:
            return "replayed"
    if counter != ch[2]:
        return "stale_challenge"
    if trusted and (now < ch[3] or now - ch[3] > cfg["challenge_ttl_secs"]):
        return "challenge_expired"
    if nonce is not None and nonce != ch[1]:
        return "nonce_mismatch"
    cnf = c[CLAIM_CNF][1]
    y = cnf[-3]
    sec1 = (bytes([3 if y else 2]) + cnf[-2]) if isinstance(y, bool) else b"\x04" + cnf[-2] + y
    if not es256_verify(sec1, possession_input(challenge_payload, credential), handheld_sig):
        return "bad_possession_proof"
    return "granted"


def check_verdicts():
    v = load("verdicts.json")
    names = set()
    for case in v["cases"]:
        st = parse_state(h(case["lock_state"]))
        got = verdict(st, h(case["challenge_payload"]), h(case["presentation"]), case["now"], v["config"])
        ok(got == case["verdict"], f"verdict of {case['name']}: {got} == {case['verdict']}")
        names.add(got)
    ok({"granted", "wrong_audience", "expired", "bad_possession_proof"} <= names, "verdicts cover grants and refusals")
    p = load("presentation.json")
    ch = load("challenge.json")
    st = parse_state(h(p["lock_state_before"]))
    got = verdict(st, h(ch["payload"]), h(p["presentation"]), p["now"], v["config"])
    ok(got == p["verdict"] == "granted", "presentation.json is granted")


def check_bundle_key_update_events(keys):
    b = load("revocation-bundle.json")
    msg = verify_sign1(h(b["bundle"]), b["issuer"]["alg"], h(b["issuer"]["public_key"]), b"doorman/revocation/v1", h(b["issuer"]["kid"]))
    lock_id, seq, epoch, entries = cbor2.loads(msg.payload)
    ok(lock_id == h(b["lock_id"]) and seq == b["sequence"] and epoch == b["epoch"], "bundle header")
    ok([[e["cti"], e["exp"]] for e in b["revoked"]] == [[x[0].hex(), x[1]] for x in entries], "bundle entries")

    k = load("key-update.json")
    s = k["signer"]
    msg = verify_sign1(h(k["key_update"]), s["alg"], h(s["public_key"]), b"doorman/key-update/v1", h(s["kid"]))
    seq, ops = cbor2.loads(msg.payload)
    add, retire = ops
    ok(seq == k["sequence"] and add[0] == 0 and retire[0] == 1, "key update ops")
    ok(add[1].hex() == k["add"]["kid"] and add[2] == k["add"]["alg"] and add[3].hex() == k["add"]["public_key"], "key update add")
    ok(retire[1].hex() == k["retire"], "key update retire")

    e = load("events.json")
    device = h(e["lock_device_public_key"])
    prev = bytes(32)
    for i, ev in enumerate(e["events"]):
        raw = h(ev["event"])
        msg = verify_sign1(raw, -8, device, b"doorman/event/v1")
        fields = cbor2.loads(msg.payload)
        ok(fields[0] == h(e["lock_id"]) and fields[1] == i + 1 == ev["counter"], "event counter")
        ok(fields[3] == prev, "event links to the previous event's hash")
        ok(fields[5] == ev["kind"] and fields[2] == ev["time"], "event kind and time")
        prev = hashlib.sha256(raw).digest()
        ok(prev.hex() == ev["hash"], "event hash = SHA-256 of the signed event")


def check_door_codes():
    d = load("door-codes.json")
    secret = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"doorman/door-code/v1", info=h(d["lock_id"])).derive(h(d["master_secret"]))
    ok(secret.hex() == d["lock_secret"], "per-lock secret = HKDF-SHA256")
    for c in d["codes"]:
        counter = c["slot"] * d["codes_per_slot"] + c["index"]
        ok(counter == c["hotp_counter"], "HOTP counter")
        mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha256).digest()
        off = mac[-1] & 0x0F
        value = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** d["digits"]
        ok(f"{value:0{d['digits']}d}" == c["code"], f"door code for slot {c['slot']} index {c['index']}")


def main():
    keys = load("keys.json")
    check_credentials(keys)
    check_challenge_and_presentation(keys)
    check_verdicts()
    check_bundle_key_update_events(keys)
    check_door_codes()
    print(f"check_cose_interop: {checks} checks passed on {VECTORS}")


if __name__ == "__main__":
    main()
