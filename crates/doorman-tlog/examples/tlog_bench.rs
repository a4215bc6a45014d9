//! Transparency log benchmark: proof generation and verification at 10^8
//! entries (target: at most 100 µs each), compared with a real in-memory tree
//! of 10^6 entries and with proofs served from tiles.
//!
//! ```text
//! cargo run --release -p doorman-tlog --example tlog_bench -- [--size N] [--real N] [--iterations N]
//! ```
//!
//! How 10^8 is measured honestly: nobody keeps 200 million stored hashes in
//! a benchmark's memory, so the large tree is a [`PeriodicTree`], a genuine
//! RFC 6962 tree whose entries repeat every 2^16 (see its documentation).
//! Every stored-hash read is an array lookup, as in an in-memory store, and
//! everything else (planning, folding the right-edge subtrees, verifying) is
//! the real work over the real tree shape of that size: the same code path
//! and the same number of reads and hashes as a store holding all 10^8
//! entries. What it leaves out is the store's own latency (SQL, disk), which
//! the service benchmarks measure.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use doorman_tlog::{
    consistency_plan, inclusion_plan, leaf_hash, new_tiles, node_hash, prove_consistency, prove_inclusion, read_tile,
    tree_hash, verify_consistency, verify_inclusion, HashReader, MemoryTree, PeriodicTree, TileHashReader,
};

const TARGET: Duration = Duration::from_micros(100);

struct Options {
    size: u64,
    real: u64,
    iterations: u64,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options { size: 100_000_000, real: 1_000_000, iterations: 20_000 };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?.replace('_', "");
        let value: u64 = value.parse().map_err(|_| format!("{flag}: not a number"))?;
        match flag.as_str() {
            "--size" => options.size = value,
            "--real" => options.real = value,
            "--iterations" => options.iterations = value.max(1),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if options.size < 2 || options.real < 2 {
        return Err("sizes must be at least 2".into());
    }
    Ok(options)
}

// Benchmarks are the one place that reads the clock.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// Deterministic pseudo-random numbers (splitmix64), so runs are comparable.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }
}

/// Mean time per operation of `operation` over `iterations` calls.
fn per_op(iterations: u64, mut operation: impl FnMut(u64)) -> Duration {
    // Warm caches and branch predictors before measuring.
    for i in 0..iterations.min(1000) {
        operation(i);
    }
    let start = now();
    for i in 0..iterations {
        operation(i);
    }
    start.elapsed() / u32::try_from(iterations).unwrap_or(u32::MAX)
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

struct ProofFigures {
    inclusion_generate: Duration,
    inclusion_verify: Duration,
    consistency_generate: Duration,
    consistency_verify: Duration,
    inclusion_reads: f64,
    consistency_reads: f64,
}

impl ProofFigures {
    fn inclusion_total(&self) -> Duration {
        self.inclusion_generate + self.inclusion_verify
    }

    fn consistency_total(&self) -> Duration {
        self.consistency_generate + self.consistency_verify
    }
}

/// Measures proofs for random entries (inclusion in the tree of `size`) and
/// random older sizes (consistency with `size`).
fn measure_proofs<R: HashReader>(
    reader: &R,
    size: u64,
    iterations: u64,
    leaf_of: impl Fn(u64) -> doorman_tlog::Hash,
) -> Result<ProofFigures, String> {
    let root = tree_hash(reader, size).map_err(|e| e.to_string())?;
    let mut sequence = Sequence(7);
    let indexes: Vec<u64> = (0..iterations).map(|_| sequence.next(size)).collect();
    let olds: Vec<u64> = (0..iterations).map(|_| 1 + sequence.next(size - 1)).collect();
    let old_roots =
        olds.iter().map(|old| tree_hash(reader, *old)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let pick = |i: u64| usize::try_from(i).unwrap_or(0);

    let inclusion_proofs = indexes
        .iter()
        .map(|index| prove_inclusion(reader, *index, size))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let consistency_proofs = olds
        .iter()
        .map(|old| prove_consistency(reader, *old, size))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    // Check once, outside the timing, that every proof verifies.
    for (proof, index) in inclusion_proofs.iter().zip(&indexes) {
        proof.verify(&leaf_of(*index), &root).map_err(|e| format!("inclusion of {index}: {e}"))?;
    }
    for ((proof, old), old_root) in consistency_proofs.iter().zip(&olds).zip(&old_roots) {
        proof.verify(old_root, &root).map_err(|e| format!("consistency from {old}: {e}"))?;
    }

    let inclusion_generate = per_op(iterations, |i| {
        let index = indexes.get(pick(i)).copied().unwrap_or(0);
        black_box(prove_inclusion(reader, black_box(index), size).ok());
    });
    let inclusion_verify = per_op(iterations, |i| {
        if let (Some(proof), Some(index)) = (inclusion_proofs.get(pick(i)), indexes.get(pick(i))) {
            let leaf = leaf_of(*index);
            black_box(verify_inclusion(&leaf, *index, size, black_box(&proof.path), &root).ok());
        }
    });
    let consistency_generate = per_op(iterations, |i| {
        let old = olds.get(pick(i)).copied().unwrap_or(1);
        black_box(prove_consistency(reader, black_box(old), size).ok());
    });
    let consistency_verify = per_op(iterations, |i| {
        if let (Some(proof), Some(old), Some(old_root)) =
            (consistency_proofs.get(pick(i)), olds.get(pick(i)), old_roots.get(pick(i)))
        {
            black_box(verify_consistency(*old, size, old_root, &root, black_box(&proof.path)).ok());
        }
    });

    let mean_reads = |counts: Vec<usize>| counts.iter().sum::<usize>() as f64 / counts.len() as f64;
    let inclusion_reads = mean_reads(
        indexes.iter().filter_map(|index| inclusion_plan(*index, size).ok()).map(|plan| plan.nodes().len()).collect(),
    );
    let consistency_reads = mean_reads(
        olds.iter().filter_map(|old| consistency_plan(*old, size).ok()).map(|plan| plan.nodes().len()).collect(),
    );
    Ok(ProofFigures {
        inclusion_generate,
        inclusion_verify,
        consistency_generate,
        consistency_verify,
        inclusion_reads,
        consistency_reads,
    })
}

fn print_figures(label: &str, figures: &ProofFigures) {
    println!(
        "{label:<34} inclusion   gen {:>7.2} µs  verify {:>6.2} µs  total {:>7.2} µs  ({:.1} reads)",
        micros(figures.inclusion_generate),
        micros(figures.inclusion_verify),
        micros(figures.inclusion_total()),
        figures.inclusion_reads,
    );
    println!(
        "{:<34} consistency gen {:>7.2} µs  verify {:>6.2} µs  total {:>7.2} µs  ({:.1} reads)",
        "",
        micros(figures.consistency_generate),
        micros(figures.consistency_verify),
        micros(figures.consistency_total()),
        figures.consistency_reads,
    );
}

fn run(options: &Options) -> Result<(), String> {
    println!(
        "doorman-tlog benchmark: {} iterations per figure, target <= {} µs per proof (generate + verify)",
        options.iterations,
        TARGET.as_micros()
    );

    let a = leaf_hash(b"a");
    let b = leaf_hash(b"b");
    let hash_cost = per_op(options.iterations * 10, |_| {
        black_box(node_hash(black_box(&a), black_box(&b)));
    });
    println!("one SHA-256 node hash: {:.3} µs (the unit proofs are made of)", micros(hash_cost));

    // The real tree: appends, then proofs.
    let start = now();
    let mut real = MemoryTree::with_capacity(options.real);
    for i in 0..options.real {
        real.append(&i.to_be_bytes()).map_err(|e| e.to_string())?;
    }
    let build = start.elapsed();
    println!(
        "real in-memory tree: {} entries appended in {:.2} s ({:.0} appends/s, {} stored hashes)",
        options.real,
        build.as_secs_f64(),
        options.real as f64 / build.as_secs_f64(),
        real.stored_hashes().len()
    );
    let real_figures = measure_proofs(&real, options.real, options.iterations, |i| leaf_hash(&i.to_be_bytes()))?;

    // The same tree served as tiles, read back through a tile reader.
    let tiles: BTreeMap<_, _> = new_tiles(0, options.real)
        .into_iter()
        .map(|tile| read_tile(&real, tile).map(|bytes| (tile, bytes)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let tile_reader = TileHashReader::new(options.real, &tiles);
    let tile_figures =
        measure_proofs(&tile_reader, options.real, options.iterations / 10, |i| leaf_hash(&i.to_be_bytes()))?;

    // The large tree.
    let start = now();
    let periodic = PeriodicTree::new(16).ok_or("cannot build the periodic tree")?;
    println!("periodic tree: block of 2^16 entries built in {:.2} s", start.elapsed().as_secs_f64());
    let large_figures = measure_proofs(&periodic, options.size, options.iterations, |i| periodic.leaf_hash_at(i))?;

    println!();
    print_figures(&format!("real tree, {} entries", options.real), &real_figures);
    print_figures(&format!("tiles of it, {} entries", options.real), &tile_figures);
    print_figures(&format!("periodic tree, {} entries", options.size), &large_figures);
    println!();
    let ratio = |large: Duration, small: Duration| large.as_secs_f64() / small.as_secs_f64();
    println!(
        "ratio {} / {} entries: inclusion {:.2}x, consistency {:.2}x (log2 ratio {:.2}x)",
        options.size,
        options.real,
        ratio(large_figures.inclusion_total(), real_figures.inclusion_total()),
        ratio(large_figures.consistency_total(), real_figures.consistency_total()),
        (options.size as f64).log2() / (options.real as f64).log2(),
    );
    println!(
        "at {} entries, in node hashes: inclusion {:.0}, consistency {:.0}",
        options.size,
        ratio(large_figures.inclusion_total(), hash_cost),
        ratio(large_figures.consistency_total(), hash_cost),
    );
    let verdict = |total: Duration| if total <= TARGET { "meets" } else { "MISSES" };
    println!(
        "target <= {} µs at {} entries: inclusion {:.2} µs {}, consistency {:.2} µs {}",
        TARGET.as_micros(),
        options.size,
        micros(large_figures.inclusion_total()),
        verdict(large_figures.inclusion_total()),
        micros(large_figures.consistency_total()),
        verdict(large_figures.consistency_total()),
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    match parse_options().and_then(|options| run(&options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tlog bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
