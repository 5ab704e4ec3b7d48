//! Command-line interface of `ledgerflow`.

mod checkpoint;
mod generate;
mod inspect;
mod run;
mod validate;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ledgerflow::network::Network;

/// Ingest the Stellar ledger stream into Arrow tables and Parquet, exactly once.
#[derive(Debug, Parser)]
#[command(name = "ledgerflow", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest the configured stream (default: 10,000 synthetic ledgers into ./ledgerflow-data).
    Run(run::RunArgs),
    /// Check a configuration file and the environment overrides.
    Validate(validate::ValidateArgs),
    /// Show or reset a stream's checkpoint.
    Checkpoint(checkpoint::CheckpointArgs),
    /// Check the archive against the checkpoint: gaps, duplicates, dead letters (exit 1 on any gap or duplicate).
    Verify(verify::VerifyArgs),
    /// Write deterministic synthetic ledgers as a SEP-54 data store directory.
    Generate(generate::GenerateArgs),
    /// Print per-ledger counts of a ledger file or a SEP-54 data store directory.
    Inspect(inspect::InspectArgs),
}

impl Command {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Run(args) => run::run(args),
            Command::Validate(args) => validate::run(args),
            Command::Checkpoint(args) => checkpoint::run(args),
            Command::Verify(args) => verify::run(args),
            Command::Generate(args) => generate::run(args),
            Command::Inspect(args) => inspect::run(args),
        }
    }
}

/// A network given on the command line: a well-known name or a passphrase.
pub(crate) fn parse_network(value: &str) -> Result<Network, String> {
    if value.trim().is_empty() {
        return Err("a network name or passphrase must not be empty".into());
    }
    Ok(Network::from_name_or_passphrase(value))
}

/// An error and its causes on one line, each cause once (thiserror messages often embed their
/// source, so a cause already contained in the text so far is skipped).
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}
