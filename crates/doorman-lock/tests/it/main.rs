//! The lock under attack, under power cuts, and under load: one test binary.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod attacks;
mod camera;
mod door;
mod fixture;
mod keypad;
mod model;
mod restart;
mod ring;
mod sizes;
mod time;
