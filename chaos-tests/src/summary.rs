//! Reads an archive back and compares it with the reference run.
//!
//! [`summarize`] reads every published Parquet file (listed by the library's
//! `archive::scan`) into an [`ArchiveSummary`]: per table, rows per ledger; for the analytics
//! tables (`payment_volume`, `high_value_payments`), every row as text. It does not depend on
//! how the stream was cut into files, so a run killed and restarted twenty times compares equal
//! to one that never stopped. [`compare`] turns two summaries into a [`Comparison`]: ledgers
//! lost, ledgers duplicated, ledgers whose row counts differ, analytics equal or not.
//! [`library_verify`] runs the library's `verify` against the stream's checkpoint (read with
//! the library, once the process is gone).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMicrosecondType, UInt32Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use ledgerflow::checkpoint::{Checkpoint, CheckpointStore};
use ledgerflow::config::Config;
use ledgerflow::tables::Table;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// What an archive holds, independent of how it was cut into files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Per table, rows per ledger sequence.
    pub rows_per_ledger: BTreeMap<&'static str, BTreeMap<u32, u64>>,
    /// Per analytics table, every row formatted as `col|col|...`, sorted.
    pub analytics_rows: BTreeMap<&'static str, Vec<String>>,
}

impl ArchiveSummary {
    pub fn rows(&self, table: &str) -> u64 {
        self.rows_per_ledger.get(table).map_or(0, |m| m.values().sum())
    }

    /// The ledgers of the `ledgers` table.
    pub fn ledgers(&self) -> BTreeSet<u32> {
        self.rows_per_ledger.get("ledgers").map(|m| m.keys().copied().collect()).unwrap_or_default()
    }

    /// Per table, the covered ledgers as maximal contiguous ranges.
    pub fn ranges(&self) -> BTreeMap<&'static str, Vec<(u32, u32)>> {
        self.rows_per_ledger
            .iter()
            .map(|(table, rows)| {
                let mut ranges: Vec<(u32, u32)> = Vec::new();
                for &sequence in rows.keys() {
                    match ranges.last_mut() {
                        Some((_, last)) if *last + 1 == sequence => *last = sequence,
                        _ => ranges.push((sequence, sequence)),
                    }
                }
                (*table, ranges)
            })
            .collect()
    }

    /// The same archive without the given ledgers' rows (the reference of a run that
    /// dead-letters them). Analytics rows are left as they are.
    pub fn without_ledgers(&self, ledgers: &BTreeSet<u32>) -> ArchiveSummary {
        let mut copy = self.clone();
        for rows in copy.rows_per_ledger.values_mut() {
            rows.retain(|s, _| !ledgers.contains(s));
        }
        copy
    }

    /// The same archive restricted to ledgers `..= last` (the reference of a run that stopped
    /// there). Analytics rows are left as they are.
    pub fn through(&self, last: u32) -> ArchiveSummary {
        let mut copy = self.clone();
        for rows in copy.rows_per_ledger.values_mut() {
            rows.retain(|s, _| *s <= last);
        }
        copy
    }
}

/// Reads every published file of every table under `root`.
pub fn summarize(root: &Path) -> Result<ArchiveSummary> {
    let files =
        ledgerflow::archive::scan(root).with_context(|| format!("scan archive {}", root.display()))?;
    let mut summary = ArchiveSummary::default();
    for table in Table::ALL {
        let column = if table == Table::Ledgers { "sequence" } else { "ledger_sequence" };
        let mut per_ledger = BTreeMap::new();
        let mut rows = Vec::new();
        for file in files.iter().filter(|f| f.key.table == table) {
            for batch in read_file(&file.path)? {
                let sequences = batch
                    .column_by_name(column)
                    .and_then(|c| c.as_primitive_opt::<UInt32Type>())
                    .with_context(|| format!("{}: no UInt32 column {column}", file.path.display()))?;
                for sequence in sequences.iter().flatten() {
                    *per_ledger.entry(sequence).or_insert(0u64) += 1;
                }
                if matches!(table, Table::Analytics(_)) {
                    rows.extend(format_rows(&batch)?);
                }
            }
        }
        rows.sort();
        summary.rows_per_ledger.insert(table.name(), per_ledger);
        if matches!(table, Table::Analytics(_)) {
            summary.analytics_rows.insert(table.name(), rows);
        }
    }
    Ok(summary)
}

fn read_file(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .with_context(|| format!("{}: not a readable Parquet file", path.display()))?;
    reader.map(|b| b.with_context(|| format!("{}: bad record batch", path.display()))).collect()
}

fn format_rows(batch: &RecordBatch) -> Result<Vec<String>> {
    let options = FormatOptions::default();
    // Timestamps print as UTC micros without their zone (zone names need chrono-tz).
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Timestamp(_, Some(_)) => Arc::new(
                c.as_primitive::<TimestampMicrosecondType>().clone().with_timezone_opt(None::<String>),
            ) as ArrayRef,
            _ => c.clone(),
        })
        .collect();
    let formatters = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .context("format analytics rows")?;
    Ok((0..batch.num_rows())
        .map(|row| formatters.iter().map(|f| f.value(row).to_string()).collect::<Vec<_>>().join("|"))
        .collect())
}

/// How an archive differs from its reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Ledgers of the reference missing from the `ledgers` table.
    pub lost: Vec<u32>,
    /// Ledgers with more than one row in the `ledgers` table.
    pub duplicated: Vec<u32>,
    /// Ledgers not in the reference at all.
    pub extra: Vec<u32>,
    /// `(table, ledger, expected rows, actual rows)` for every other difference.
    pub rows_differ: Vec<(&'static str, u32, u64, u64)>,
    pub analytics_equal: bool,
    /// Ledgers compared (of the reference).
    pub ledgers: u64,
}

impl Comparison {
    pub fn is_exact(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.extra.is_empty()
            && self.rows_differ.is_empty()
            && self.analytics_equal
    }

    /// An error describing the differences, if any.
    pub fn ensure_exact(&self, what: &str) -> Result<()> {
        if self.is_exact() {
            return Ok(());
        }
        bail!(
            "{what}: the archive differs from the reference: lost {:?}, duplicated {:?}, extra {:?}, \
             rows differ (table, ledger, expected, actual) {:?}, analytics equal: {}",
            first(&self.lost),
            first(&self.duplicated),
            first(&self.extra),
            &self.rows_differ[..self.rows_differ.len().min(10)],
            self.analytics_equal
        )
    }
}

fn first(v: &[u32]) -> &[u32] {
    &v[..v.len().min(20)]
}

/// Compares `actual` with `expected`, row counts per ledger of every table and every
/// analytics row. `compare_analytics: false` skips the analytics rows (a dead-lettered ledger's
/// payments are not aggregated, so they cannot equal an uninterrupted run).
pub fn compare(expected: &ArchiveSummary, actual: &ArchiveSummary, compare_analytics: bool) -> Comparison {
    let empty = BTreeMap::new();
    let expected_ledgers = expected.rows_per_ledger.get("ledgers").unwrap_or(&empty);
    let actual_ledgers = actual.rows_per_ledger.get("ledgers").unwrap_or(&empty);
    let lost = expected_ledgers.keys().filter(|s| !actual_ledgers.contains_key(s)).copied().collect();
    let duplicated = actual_ledgers.iter().filter(|(_, n)| **n > 1).map(|(s, _)| *s).collect();
    let extra = actual_ledgers.keys().filter(|s| !expected_ledgers.contains_key(s)).copied().collect();
    let mut rows_differ = Vec::new();
    for table in Table::ALL {
        // Analytics rows are keyed by window, not by the ledgers aggregated: without the
        // analytics comparison they are not compared per ledger either.
        if !compare_analytics && matches!(table, Table::Analytics(_)) {
            continue;
        }
        let name = table.name();
        let e = expected.rows_per_ledger.get(name).unwrap_or(&empty);
        let a = actual.rows_per_ledger.get(name).unwrap_or(&empty);
        let sequences: BTreeSet<u32> = e.keys().chain(a.keys()).copied().collect();
        for sequence in sequences {
            let (ne, na) = (e.get(&sequence).copied().unwrap_or(0), a.get(&sequence).copied().unwrap_or(0));
            if ne != na && name != "ledgers" {
                rows_differ.push((name, sequence, ne, na));
            }
        }
    }
    Comparison {
        lost,
        duplicated,
        extra,
        rows_differ,
        analytics_equal: !compare_analytics || expected.analytics_rows == actual.analytics_rows,
        ledgers: expected_ledgers.len() as u64,
    }
}

/// The stream's checkpoint, read with the library (the process must be gone: sled locks the
/// database; a lock a killed process held is released by the kernel, one of a process that is
/// still exiting shortly after).
pub fn checkpoint(config: &Config) -> Result<Option<Checkpoint>> {
    let path = config.checkpoint_path();
    let deadline = Instant::now() + Duration::from_secs(10);
    let store = loop {
        match CheckpointStore::open(&path) {
            Ok(store) => break store,
            Err(err) if Instant::now() < deadline && ledgerflow::resilience::Classify::is_transient(&err) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(err) => return Err(err).with_context(|| format!("open checkpoint {}", path.display())),
        }
    };
    store.load(&config.stream.id).context("load checkpoint")
}

/// The library's `verify` of the archive (`archive.url` when set, else `archive.root`) against
/// the checkpoint.
pub fn library_verify(config: &Config) -> Result<ledgerflow::verify::VerifyReport> {
    let checkpoint = checkpoint(config)?;
    let store =
        ledgerflow::archive::ArchiveStore::from_config(&config.archive).context("open the archive")?;
    ledgerflow::verify::verify_store(&store, checkpoint.as_ref()).context("verify the archive")
}
