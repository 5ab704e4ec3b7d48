//! `ledgerflow generate`: write synthetic ledgers as a SEP-54 store (filled in below).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many ledgers to write.
    #[arg(long)]
    pub ledgers: u32,
    /// Directory of the store to create.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(_args: GenerateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("generate: waiting for the generator module")
}
