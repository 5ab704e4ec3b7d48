//! `ledgerflow checkpoint show|reset --stream ID`: read or delete a stream's checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ledgerflow::checkpoint::{CheckpointStore, StreamId};

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    #[command(subcommand)]
    pub action: CheckpointAction,
    /// Configuration file (locates the checkpoint store).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CheckpointAction {
    /// Print the stream's checkpoint as JSON.
    Show {
        #[arg(long, default_value = "default")]
        stream: String,
    },
    /// Delete the stream's checkpoint (its archive files stay; the next run starts over and
    /// recovery removes files past the new checkpoint).
    Reset {
        #[arg(long)]
        stream: String,
    },
}

pub fn run(args: CheckpointArgs) -> anyhow::Result<ExitCode> {
    let config = super::run::load_config(args.config.as_deref())?;
    let store = CheckpointStore::open(config.checkpoint_path())?;
    match args.action {
        CheckpointAction::Show { stream } => {
            let stream: StreamId = stream.parse()?;
            match store.load(&stream)? {
                Some(checkpoint) => {
                    let json = serde_json::json!({
                        "stream": stream.to_string(),
                        "first_ledger": checkpoint.first_ledger,
                        "last_ledger": checkpoint.last_ledger,
                        "commits": checkpoint.commits,
                        "files": checkpoint.files.len(),
                        "pending": checkpoint.pending,
                        "analytics_state_bytes": checkpoint.analytics_state.len(),
                        "dead_letters": checkpoint.dead_letters.iter().map(|d| serde_json::json!({
                            "sequence": d.sequence, "reason": d.reason, "path": d.path,
                        })).collect::<Vec<_>>(),
                    });
                    println!("{}", serde_json::to_string_pretty(&json)?);
                }
                None => println!("{{\"stream\": \"{stream}\", \"checkpoint\": null}}"),
            }
        }
        CheckpointAction::Reset { stream } => {
            let stream: StreamId = stream.parse()?;
            let existed = store.reset(&stream)?;
            eprintln!("{}", if existed { "checkpoint deleted" } else { "no checkpoint for that stream" });
        }
    }
    Ok(ExitCode::SUCCESS)
}
