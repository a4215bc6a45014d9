#!/usr/bin/env bash
# Checks of doorman-protocol that `cargo test` cannot do by itself; .ci/run calls this.
#
#   1. The lock side builds with no std and no allocator (a #![no_std] staticlib with
#      panic = abort, its own panic handler and no global allocator).
#   2. The test vectors decode and verify with an independent COSE/CWT implementation
#      (pycose + cbor2 from PyPI): scripts/check_cose_interop.py.
#   3. Every cargo-fuzz target runs briefly. There is no nightly toolchain here, so
#      cargo-fuzz runs on stable with RUSTC_BOOTSTRAP=1.
#
# Environment: DOORMAN_FUZZ_SECONDS (default 15) per fuzz target.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FUZZ_SECONDS="${DOORMAN_FUZZ_SECONDS:-15}"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'ci-protocol: FAILED: %s\n' "$*" >&2; exit 1; }

step "no_std, no allocator: crates/doorman-protocol/no-std-check"
export CARGO_TARGET_DIR="$ROOT/target/no-std-check"
cargo build --release --manifest-path crates/doorman-protocol/no-std-check/Cargo.toml
lib="$CARGO_TARGET_DIR/release/libdoorman_no_std_check.a"
[ -f "$lib" ] || fail "no staticlib at $lib"
symbols="$(nm -g "$lib" 2>/dev/null || true)"
for f in doorman_lock_verify doorman_lock_apply_revocation doorman_lock_door_code; do
    grep -q " T $f\$" <<<"$symbols" || fail "$f missing from the staticlib"
done
if grep -qE ' [TU] (__rust_alloc|__rust_alloc_zeroed|__rust_realloc|__rg_alloc)$' <<<"$symbols"; then
    fail "the no_std build references an allocator"
fi
echo "ok: $(basename "$lib") built without std or an allocator"
unset CARGO_TARGET_DIR

step "COSE/CWT interop: pycose + cbor2"
# A virtualenv under target/ when possible (no system packages touched), else the
# interpreter's own site-packages.
PY=python3
venv="$ROOT/target/ci-protocol-venv"
if [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >/dev/null 2>&1; then
    PY="$venv/bin/python"
fi
# pycose 1.1 cannot read the tuples that cbor2 6 returns inside tags: keep cbor2 5.
"$PY" -m pip install --quiet --disable-pip-version-check "pycose==1.1.0" "cbor2>=5.6,<6"
"$PY" scripts/check_cose_interop.py

step "fuzz: every target for ${FUZZ_SECONDS}s"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
cd "$ROOT/fuzz"
cargo fuzz build
# Seed each corpus with real messages from the test vectors (whole messages, mode 0,
# and their payloads, mode 1, which the fuzz bodies sign with the fixture's key).
"$PY" - "$ROOT/crates/doorman-protocol/vectors" "$ROOT/fuzz/corpus" <<'PY'
import json, pathlib, sys
import cbor2

vectors, corpus = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def load(name):
    return json.loads((vectors / name).read_text())
def payload(message):
    return cbor2.loads(message).value[2]
seeds = {t: [] for t in ["credential", "presentation", "challenge", "revocation_bundle",
                         "key_update", "lock_event", "lock_state", "door_code_entry"]}
for name in ["credential-ed25519.json", "credential-es256.json", "credential-nonce-bound.json"]:
    cred = bytes.fromhex(load(name)["credential"])
    seeds["credential"] += [b"\0" + cred, b"\1" + payload(cred)]
p = load("presentation.json")
seeds["presentation"].append(bytes.fromhex(p["presentation"]))
seeds["presentation"] += [bytes.fromhex(c["presentation"]) for c in load("verdicts.json")["cases"]]
seeds["lock_state"] += [bytes.fromhex(p["lock_state_before"]), bytes.fromhex(p["lock_state_after"])]
ch = bytes.fromhex(load("challenge.json")["signed_challenge"])
seeds["challenge"] += [b"\0" + ch, b"\1" + payload(ch)]
b = bytes.fromhex(load("revocation-bundle.json")["bundle"])
seeds["revocation_bundle"] += [b"\0" + b, b"\1" + payload(b)]
k = bytes.fromhex(load("key-update.json")["key_update"])
seeds["key_update"] += [b"\0" + k, b"\1" + payload(k)]
for e in load("events.json")["events"]:
    ev = bytes.fromhex(e["event"])
    seeds["lock_event"] += [b"\0" + ev, b"\1" + payload(ev)]
seeds["door_code_entry"].append("".join(c["code"] + "0" for c in load("door-codes.json")["codes"]).encode())
for target, items in seeds.items():
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(items):
        (d / f"seed-{i}").write_bytes(data)
PY
targets="$(cargo fuzz list)"
[ -n "$targets" ] || fail "no fuzz targets"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in $targets; do
    if ! cargo fuzz run "$t" -- -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        fail "fuzz target $t failed (reproducer under fuzz/artifacts/$t)"
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    echo "ok: $t, ${runs:-?} runs in ${FUZZ_SECONDS}s"
done
echo
echo "ci-protocol: all checks passed"
