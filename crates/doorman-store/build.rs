//! Rebuilds the crate when a migration is added or changed: the migrations
//! are embedded at compile time (`sqlx::migrate!`), and without this Cargo
//! would not notice a new file.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
