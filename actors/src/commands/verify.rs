//! `ledgerflow verify`: read the archive (`archive.url` when set, else `archive.root`) and the
//! checkpoint; list gaps, duplicated ledgers per table and dead letters. Exit 1 on any gap or
//! duplicate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ledgerflow::checkpoint::CheckpointStore;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let config = super::run::load_config(args.config.as_deref())?;
    let store = CheckpointStore::open(config.checkpoint_path())?;
    let checkpoint = store.load(&config.stream.id)?;
    // No runtime here: an object-store archive runs its requests on one of its own.
    let archive = ledgerflow::archive::ArchiveStore::from_config(&config.archive)?;
    let report = ledgerflow::verify::verify_store(&archive, checkpoint.as_ref())?;
    let tables: Vec<_> = report
        .tables
        .iter()
        .map(|c| {
            serde_json::json!({
                "table": c.table.name(),
                "files": c.files,
                "gaps": c.gaps.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
                "overlaps": c.overlaps.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>(),
            })
        })
        .collect();
    let json = serde_json::json!({
        "stream": config.stream.id.to_string(),
        "archive": archive.to_string(),
        "range": report.range.map(|r| r.to_string()),
        "ok": report.is_ok(),
        "ledger_rows": report.ledger_rows,
        "pending_publish": report.pending_publish,
        "missing_ledgers": report.missing_ledgers,
        "duplicated_ledgers": report.duplicated_ledgers,
        "dead_letters": report.dead_letters.iter().map(|(s, r, p)| serde_json::json!({"sequence": s, "reason": r, "path": p})).collect::<Vec<_>>(),
        "tables": tables,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "stream {}: archive {}, range {}",
            config.stream.id,
            archive,
            report.range.map_or("none".into(), |r| r.to_string())
        );
        for c in &report.tables {
            println!(
                "  {:<20} files {:>5}  gaps {:>3}  overlaps {:>3}",
                c.table.name(),
                c.files,
                c.gaps.len(),
                c.overlaps.len()
            );
            for gap in &c.gaps {
                println!("    gap {gap}");
            }
            for overlap in &c.overlaps {
                println!("    overlap {overlap:?}");
            }
        }
        println!(
            "  ledgers rows {}, missing {:?}, duplicated {:?}",
            report.ledger_rows, report.missing_ledgers, report.duplicated_ledgers
        );
        for path in &report.pending_publish {
            println!("  committed, publish pending (the next start publishes it): {path}");
        }
        for (sequence, reason, path) in &report.dead_letters {
            println!("  dead letter {sequence}: {reason} ({path})");
        }
        println!("{}", if report.is_ok() { "ok" } else { "FAILED" });
    }
    Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
