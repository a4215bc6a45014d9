#!/usr/bin/env python3
"""Every test THREATS.md names must exist: a `fn NAME` in the workspace's Rust
sources (tests, scenarios, proptest cases). Run by .ci/run; CI runs the tests."""
import pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent
rows = [l for l in (root / "THREATS.md").read_text().splitlines() if l.startswith("|")]
named = set()
for row in rows:
    cells = [c.strip() for c in row.strip("|").split("|")]
    if len(cells) >= 3:
        named.update(re.findall(r"`([a-z0-9_]+)`", cells[-1]))
defined = set()
for path in list(root.glob("crates/**/*.rs")) + list(root.glob("fuzz/**/*.rs")):
    defined.update(re.findall(r"\bfn\s+([a-z0-9_]+)", path.read_text(errors="replace")))
missing = sorted(named - defined)
if missing:
    print("THREATS.md names tests that do not exist:", *missing, sep="\n  ")
    sys.exit(1)
print(f"THREATS.md: {len(named)} tests named, all exist")
