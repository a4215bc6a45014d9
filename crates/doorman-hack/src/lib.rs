//! No code: see this crate's `Cargo.toml`. The doorman binary depends on it
//! so that its build and `cargo test --workspace` compile every shared crate
//! with the same features (checked by `scripts/check-feature-sets.py`).
#![no_std]
