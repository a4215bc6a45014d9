#!/usr/bin/env python3
"""Checks that `cargo run` (the doorman binary) and `cargo test --workspace`
build every crate they share with the same features.

Cargo compiles a crate once per feature set. When the tests turn on a feature
that the binary's build did not (a dev-dependency asking for `syn/visit`, say),
that crate and everything built on it is compiled again, so a newcomer's
`cargo test --workspace` after `cargo run -- demo` rebuilt most of the tree.
`crates/doorman-hack` turns those features on for the binary's build too; this
script says which crates still differ, and exits 1 if any does.
"""
import subprocess
import sys


def feature_sets(args):
    out = subprocess.run(
        ["cargo", "tree", "--locked", "--prefix", "none", "--format", "{p} [{f}]", *args],
        check=True, capture_output=True, text=True,
    ).stdout
    sets = {}
    for line in out.splitlines():
        line = line.replace(" (*)", "").strip()
        if not line or "[" not in line:
            continue
        name = line[: line.rfind(" [")]
        features = line[line.rfind("[") + 1 : line.rfind("]")]
        # a path dependency's name carries its folder: keep the crate and version
        name = name.split(" (")[0]
        sets.setdefault(name, set()).add(features)
    return sets


def main():
    binary = feature_sets(["-p", "doorman-cli", "-e", "normal,build"])
    tests = feature_sets(["--workspace", "-e", "normal,build,dev"])
    differ = sorted(k for k in binary if k in tests and binary[k] != tests[k])
    for k in differ:
        print(f"{k}:\n  cargo run:  {sorted(binary[k])}\n  cargo test: {sorted(tests[k])}")
    extra = len([k for k in tests if k not in binary])
    if differ:
        print(f"{len(differ)} crates are built with other features by the tests: add them to crates/doorman-hack")
        return 1
    print(f"ok: the tests build {extra} crates more than the binary and rebuild none of its {len(binary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
