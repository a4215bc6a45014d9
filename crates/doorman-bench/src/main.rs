//! doorman benchmarks: each prints ratios measured in the same run.
//!
//! `cargo run --release -p doorman-bench -- protocol`

mod protocol;

fn main() {
    let which = std::env::args().nth(1);
    match which.as_deref() {
        Some("protocol") => protocol::run(),
        _ => {
            eprintln!("usage: doorman-bench protocol");
            std::process::exit(2);
        }
    }
}
