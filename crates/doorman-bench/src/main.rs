//! `doorman-bench`: `doorman bench`'s one table with every row measured
//! (the default, or `all`), or `protocol` in detail.
//!
//! `cargo run --release -p doorman-bench [-- [all] --quick --database postgres://...]`:
//! the table's options work with or without `all`.

use clap::{Parser, Subcommand};
use doorman_cli::bench_table::TableArgs;

#[derive(Parser)]
#[command(
    name = "doorman-bench",
    about = "doorman's benchmarks: ratios against baselines measured in the same run",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    which: Option<Which>,
    /// Without a command: the table's options (as `all` takes them).
    #[command(flatten)]
    table: TableArgs,
}

#[derive(Subcommand)]
enum Which {
    /// Every figure in one table (the default).
    All(TableArgs),
    /// The lock's verify, sizes and token formats, in detail.
    Protocol,
    /// A bench server (started by `all`).
    #[command(hide = true)]
    ServeChild {
        #[arg(long)]
        database: String,
        #[arg(long)]
        key_file: std::path::PathBuf,
        #[arg(long)]
        data_dir: std::path::PathBuf,
    },
}

/// The same allocator as the `doorman` binary, whose servers this one's
/// `serve-child` stands in for.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.which.unwrap_or(Which::All(cli.table)) {
        Which::Protocol => {
            doorman_bench::protocol::run();
            Ok(())
        }
        Which::ServeChild { database, key_file, data_dir } => {
            runtime.block_on(doorman_cli::bench::serve_child(&database, &key_file, &data_dir))
        }
        Which::All(args) => {
            let args = TableArgs {
                database: args.database.or_else(|| std::env::var(doorman_cli::bench_table::POSTGRES_ENV).ok()),
                ..args
            };
            eprintln!("measuring the lock and the token formats ...");
            let protocol = doorman_bench::table_rows().map_err(|e| anyhow::anyhow!("{e}"))?;
            let exe = std::env::current_exe()?;
            let options = args.options(vec![exe.into_os_string(), "serve-child".into()]);
            runtime
                .block_on(doorman_cli::bench_table::run(
                    &options,
                    Some(protocol),
                    &mut std::io::stdout(),
                    &mut std::io::stderr(),
                ))
                .map(drop)
        }
    }
}
