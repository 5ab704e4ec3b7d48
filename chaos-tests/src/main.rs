//! `ledgerflow-chaos`: the entry point of the long profile; parses the command line, runs
//! [`ledgerflow_chaos::long`] and prints its summary table. Exit 1 on any lost, duplicated or
//! differing ledger, any analytics mismatch, any failed expectation, or unmet targets.
//!
//!     cargo build --release -p ledgerflow-actors --features failpoints
//!     cargo run --release -p ledgerflow-chaos -- long [--seed S] [--kills 1000] [--faults 10000]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ledgerflow_chaos::long::{LongConfig, run};

/// Chaos experiments against the ledgerflow binary.
#[derive(Debug, Parser)]
#[command(name = "ledgerflow-chaos", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The long profile: at least --kills SIGKILLs and --faults injected faults, then a summary.
    Long {
        /// Seed of every random choice (default: CHAOS_SEED, else the clock); printed.
        #[arg(long, env = "CHAOS_SEED")]
        seed: Option<u64>,
        /// SIGKILLs that must land on a running process, at least.
        #[arg(long, default_value_t = 1000)]
        kills: u64,
        /// Faults to inject in total (kills, failpoint fires, damaged objects), at least.
        #[arg(long, default_value_t = 10_000)]
        faults: u64,
        /// Ledgers per stream.
        #[arg(long, default_value_t = 300)]
        ledgers: u32,
        /// Mean transactions per synthetic ledger.
        #[arg(long, default_value_t = 10)]
        transactions_per_ledger: u32,
        /// SIGKILLs per stream in a kill round.
        #[arg(long, default_value_t = 10)]
        kills_per_stream: u32,
        /// Give up after this many minutes (the run then fails: targets not met).
        #[arg(long, default_value_t = 25)]
        max_minutes: u64,
        /// Run the streams here instead of a temp directory.
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let Command::Long {
        seed,
        kills,
        faults,
        ledgers,
        transactions_per_ledger,
        kills_per_stream,
        max_minutes,
        work_dir,
    } = Cli::parse().command;
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    println!("seed {seed} (rerun with --seed {seed} or CHAOS_SEED={seed})");
    let config = LongConfig {
        seed,
        kills,
        faults,
        ledgers,
        transactions_per_ledger,
        kills_per_stream,
        max_duration: Duration::from_secs(max_minutes * 60),
        work_dir,
    };
    match run(&config) {
        Ok(report) => {
            println!("{}", report.table());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                println!("FAILED (seed {seed})");
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("error: {err:#} (seed {seed})");
            ExitCode::FAILURE
        }
    }
}
