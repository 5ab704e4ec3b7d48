//! `ledgerflow generate`: write deterministic synthetic ledgers as a SEP-54 data store, the
//! layout Galexie writes, so every reader can be exercised without a network.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ledgerflow::generator::{GeneratorConfig, write_store};
use ledgerflow::network::Network;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many ledgers to write.
    #[arg(long)]
    pub ledgers: u32,
    /// Directory of the store to create (its `.config.json` and objects are overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of every random choice; the same seed gives byte-identical ledgers.
    #[arg(long, default_value_t = GeneratorConfig::default().seed)]
    pub seed: u64,
    /// Sequence of the first ledger.
    #[arg(long, default_value_t = GeneratorConfig::default().first_sequence)]
    pub first_ledger: u32,
    /// Mean transactions per ledger (each ledger varies within ±30%).
    #[arg(long, default_value_t = GeneratorConfig::default().transactions_per_ledger)]
    pub transactions_per_ledger: u32,
    /// Ledgers per store object (Galexie's `ledgersPerBatch`).
    #[arg(long, default_value_t = 1)]
    pub ledgers_per_batch: u32,
    /// Objects per partition folder (Galexie's `batchesPerPartition`).
    #[arg(long, default_value_t = 64000)]
    pub batches_per_partition: u32,
    /// Network passphrase or name the transaction hashes are computed under.
    #[arg(long, default_value = "synthetic", value_parser = super::parse_network)]
    pub network: Network,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let config = GeneratorConfig {
        seed: args.seed,
        first_sequence: args.first_ledger,
        ledger_count: Some(args.ledgers),
        transactions_per_ledger: args.transactions_per_ledger,
        network: args.network,
        ..GeneratorConfig::default()
    };
    let summary = write_store(&config, &args.out, args.ledgers_per_batch, args.batches_per_partition)?;
    let range = match (summary.first_sequence, summary.last_sequence) {
        (Some(first), Some(last)) => format!("ledgers {first}-{last}"),
        _ => "no ledgers".to_owned(),
    };
    println!(
        "wrote {range} ({} objects): {} transactions ({} failed), {} operations, {} contract events to {}",
        summary.objects,
        summary.transactions,
        summary.failed_transactions,
        summary.operations,
        summary.contract_events,
        summary.root.display()
    );
    Ok(ExitCode::SUCCESS)
}
