//! `ledgerflow validate`: load and check a configuration, print it resolved.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Configuration file (TOML); `LEDGERFLOW_*` variables apply too.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the resolved configuration as TOML.
    #[arg(long)]
    pub print: bool,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let config = super::run::load_config(args.config.as_deref())?;
    if args.print {
        print!("{}", config.to_toml_string()?);
    }
    eprintln!("configuration is valid");
    Ok(ExitCode::SUCCESS)
}
