//! The Parquet archive on a local filesystem or on object storage, written exactly once
//! across crashes (design §3, §4).
//!
//! It solves three problems for the ArchiveActor, which owns the timing and the messages:
//! - **Cutting files**: [`PartitionBuffer`] places the rows of each ledger batch in the open
//!   file of its table and cuts, at one ledger boundary for every table, a [`FileSet`]: one
//!   file per table for one UTC date and one ledger range. Files are cut on a date change, and
//!   by [`RotationPolicy`]: size, ledger count or age.
//! - **Encoding**: [`ArchiveSink`] encodes each table's rows into its open file as they
//!   arrive, with `ArrowWriter` ([`WriterOptions`]: [`Compression`], row-group size;
//!   statistics and key-value metadata always on), and stages each set when it is cut.
//! - **Committing**: a two-phase protocol with the checkpoint in the middle, and
//!   [`recover`] to finish or undo whatever a crash interrupted.
//!
//! # Protocol
//! 1. *stage*: [`ArchiveSink`] (or [`Archive::stage_batches`] for one whole file) closes each
//!    file of the set under `<root>/_staging/`, then fsyncs the file and its directory.
//! 2. *commit*: the checkpoint records, in one transaction, the set's last ledger (the
//!    high-water mark) and [`FileSet::relative_paths`], and flushes (the checkpoint module).
//! 3. *publish*: [`Archive::publish`] / [`publish_path`] rename each staged file into place
//!    and fsync the directories; publishing twice is harmless.
//!
//! At start-up, before the first push, [`recover`] takes the last commit's paths and
//! high-water mark: committed files still staged are published, other staged files are
//! deleted, published files ending beyond the high-water mark are deleted. The stream then
//! resumes at `high_water_mark + 1`; names are deterministic, so the replay rewrites the same
//! files. A crash anywhere, recovery included, leaves a state the next [`recover`] repairs.
//!
//! # Storage
//! [`ArchiveStore`] is where the tree lives: a local root (the steps above) or an
//! object-storage location (`archive.url`: `s3://`, `gs://`, `file://`), where stage is a
//! `put` of the file encoded in memory to the staging key, publish a `copy` to the final key
//! then a `delete` of the staging key, and recover and scan use `list`. Same names, same
//! checkpoint records, same failpoints.
//!
//! # Layout
//! `<root>/<table>/date=YYYY-MM-DD/<table>-<first>-<last>.parquet` with `first` and `last`
//! zero-padded to 10 digits so names sort by ledger ([`FileKey`] builds and parses them);
//! staging at `<root>/_staging/<same path>`. One root per stream.
//!
//! # Failpoints
//! With the `failpoints` feature: `archive:before_stage`, `archive:after_stage`,
//! `archive:before_publish`, `archive:after_publish`. Configured as `return` they fail the
//! step with [`ArchiveError::Injected`]; as `panic` they panic.
//!
//! # Verification
//! [`scan`] lists the published files by name; [`coverage`] finds the gaps and overlaps of a
//! table's files over an expected range (`ledgerflow verify`).

mod columns;
mod commit;
mod config;
mod durable;
mod error;
mod layout;
mod object;
mod rotation;
mod sink;
mod store;
#[cfg(test)]
mod test_support;
mod verify;
mod writer;

pub use commit::{Archive, PublishOutcome, RecoveryReport, StagedFile, publish_path, recover};
pub use config::{ArchiveConfig, Compression, ParseCompressionError};
pub use error::ArchiveError;
pub use layout::{
    DATE_PARTITION_PREFIX, DEAD_LETTER_DIR, EXTENSION, FileKey, SEQUENCE_DIGITS, STAGING_DIR, published_path,
    staging_path, staging_relative_path, table_from_name,
};
pub use rotation::{BufferStatus, CutFile, CutReason, FileSet, PartitionBuffer, RotationPolicy, Step};
pub use sink::{ArchiveSink, StagedSet};
pub use store::{ArchiveStore, Area, StoredFile};
pub use verify::{ArchivedFile, Coverage, Overlap, coverage, scan};
pub use writer::{META_DATE, META_FIRST_LEDGER, META_LAST_LEDGER, META_TABLE, META_WRITER, WriterOptions};
