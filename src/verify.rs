//! Checks an archive against its checkpoint: every table covers the checkpointed range with no
//! gap and no overlap (by file names), and the `ledgers` table holds every ledger of the range
//! exactly once (read from the Parquet files), except the dead letters, which it must not
//! hold. What `ledgerflow verify` reports, on a local root or an object store alike.

use std::collections::BTreeSet;
use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::UInt32Type;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::ChunkReader;

use crate::archive::{
    ArchiveError, ArchiveStore, ArchivedFile, Area, Coverage, FileKey, StoredFile, coverage,
};
use crate::checkpoint::Checkpoint;
use crate::range::LedgerRange;
use crate::tables::Table;

/// Why the archive could not be read for verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("{path}: cannot read: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable Parquet file: {source}")]
    Parquet {
        path: std::path::PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("the checkpoint's range is invalid: {0}")]
    Range(#[from] crate::range::RangeError),
}

/// What `verify` found.
#[derive(Debug)]
pub struct VerifyReport {
    /// The checkpointed range, `None` before the first commit.
    pub range: Option<LedgerRange>,
    pub tables: Vec<Coverage>,
    /// Ledgers of the range missing from the `ledgers` table (dead letters excluded).
    pub missing_ledgers: Vec<u32>,
    /// Ledgers found more than once in the `ledgers` table.
    pub duplicated_ledgers: Vec<u32>,
    /// Dead letters recorded in the checkpoint: `(sequence, reason, path)`.
    pub dead_letters: Vec<(u32, String, String)>,
    /// Rows of the `ledgers` table read.
    pub ledger_rows: u64,
    /// Files of the last commit still in staging (the process stopped between commit and
    /// publish; the next start publishes them). They count as present.
    pub pending_publish: Vec<String>,
}

impl VerifyReport {
    /// No gap, no overlap, no missing or duplicated ledger.
    pub fn is_ok(&self) -> bool {
        self.tables.iter().all(|c| c.gaps.is_empty() && c.overlaps.is_empty())
            && self.missing_ledgers.is_empty()
            && self.duplicated_ledgers.is_empty()
    }
}

/// Verifies the archive at the local directory `root` against `checkpoint` (`None`: nothing
/// committed, so the archive must hold no file).
pub fn verify(root: &Path, checkpoint: Option<&Checkpoint>) -> Result<VerifyReport, VerifyError> {
    verify_store(&ArchiveStore::local(root), checkpoint)
}

/// Verifies the archive on `store` (a local root or an object store: call from a blocking or
/// plain thread) against `checkpoint`.
pub fn verify_store(
    store: &ArchiveStore,
    checkpoint: Option<&Checkpoint>,
) -> Result<VerifyReport, VerifyError> {
    let files = store.scan()?;
    let Some(checkpoint) = checkpoint else {
        let tables = Table::ALL
            .iter()
            .filter(|t| files.iter().any(|f| f.key.table == **t))
            .map(|&t| coverage(&files, t, LedgerRange::single(0)))
            .collect();
        return Ok(VerifyReport {
            range: None,
            tables,
            missing_ledgers: Vec::new(),
            duplicated_ledgers: Vec::new(),
            dead_letters: Vec::new(),
            ledger_rows: 0,
            pending_publish: Vec::new(),
        });
    };
    let mut files = files;
    let mut pending_publish = Vec::new();
    for relative_path in &checkpoint.pending {
        let key = FileKey::parse(relative_path)?;
        if store.size_of(&key, Area::Published)?.is_none()
            && let Some(bytes) = store.size_of(&key, Area::Staging)?
        {
            let path = store.path_of(&key, Area::Staging);
            files.push(ArchivedFile { key, relative_path: relative_path.clone(), path, bytes });
            pending_publish.push(relative_path.clone());
        }
    }
    let range = LedgerRange::new(checkpoint.first_ledger, checkpoint.last_ledger)?;
    let tables = Table::ALL.iter().map(|&t| coverage(&files, t, range)).collect();
    let dead: BTreeSet<u32> = checkpoint.dead_letters.iter().map(|d| d.sequence).collect();

    let mut seen = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    let mut ledger_rows = 0u64;
    for file in files.iter().filter(|f| f.key.table == Table::Ledgers) {
        let area =
            if pending_publish.contains(&file.relative_path) { Area::Staging } else { Area::Published };
        let sequences = match store.open_file(&file.key, area)? {
            StoredFile::Local(reader) => ledger_sequences(reader, file),
            StoredFile::Object(bytes) => ledger_sequences(bytes, file),
        }?;
        ledger_rows += sequences.len() as u64;
        for sequence in sequences {
            if !seen.insert(sequence) {
                duplicated.insert(sequence);
            }
        }
    }
    let missing = range.iter().filter(|s| !seen.contains(s) && !dead.contains(s)).collect();
    Ok(VerifyReport {
        range: Some(range),
        tables,
        missing_ledgers: missing,
        duplicated_ledgers: duplicated.into_iter().collect(),
        dead_letters: checkpoint
            .dead_letters
            .iter()
            .map(|d| (d.sequence, d.reason.clone(), d.path.clone()))
            .collect(),
        ledger_rows,
        pending_publish,
    })
}

/// The `sequence` column of a `ledgers` file, read alone (projection).
fn ledger_sequences<R: ChunkReader + 'static>(
    reader: R,
    file: &ArchivedFile,
) -> Result<Vec<u32>, VerifyError> {
    let parquet = |source| VerifyError::Parquet { path: file.path.clone(), source };
    let builder = ParquetRecordBatchReaderBuilder::try_new(reader).map_err(parquet)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["sequence"]);
    let batches = builder.with_projection(mask).build().map_err(parquet)?;
    let mut sequences = Vec::new();
    for batch in batches {
        let batch = batch.map_err(|e| parquet(e.into()))?;
        let Some(column) = batch.column(0).as_primitive_opt::<UInt32Type>() else { continue };
        sequences.extend(column.iter().flatten());
    }
    Ok(sequences)
}
