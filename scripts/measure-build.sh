#!/usr/bin/env bash
# What a newcomer waits for on a fresh clone: the build of `cargo run -- demo`
# (`cargo build`), then what `cargo test --workspace` builds on top of it.
# Usage: scripts/measure-build.sh [REV]   (default HEAD; a fresh clone of this
# repository at REV in a temporary folder, with its own target folder)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rev="$(git -C "$repo" rev-parse "${1:-HEAD}")"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
git clone -q "$repo" "$dir/doorman" && cd "$dir/doorman" && git checkout -q "$rev"
unset CARGO_TARGET_DIR CARGO_BUILD_BUILD_DIR
start=$(date +%s); cargo build -q; first=$(( $(date +%s) - start ))
cargo run -q -- demo > /dev/null
start=$(date +%s); cargo test -q --workspace --no-run 2>/dev/null; second=$(( $(date +%s) - start ))
echo "${rev:0:10}: cargo run -- demo builds in ${first} s; cargo test --workspace then builds in ${second} s"
