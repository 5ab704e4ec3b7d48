//! The `ledgerflow` binary: parses the command line and runs one command.
//!
//! Commands live in `commands/`, one file each; this file only dispatches.

mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match cli.command.run() {
        Ok(code) => code,
        Err(err) => {
            // One line, naming what failed and where; the chain of causes joined by ": ".
            eprintln!("error: {}", commands::one_line(&err));
            ExitCode::FAILURE
        }
    }
}
