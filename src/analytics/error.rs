//! [`AnalyticsError`]: why a batch, a configuration or a snapshot was refused.

use arrow::datatypes::DataType;
use arrow::error::ArrowError;

use crate::range::{LedgerRange, RangeError};
use crate::resilience::{Classify, FailureClass, InvalidSetting};

/// Why the analytics engine refused a batch, a configuration or a snapshot.
///
/// Every input check runs before the engine's state changes, so after any of these errors
/// except [`AnalyticsError::Arrow`] the engine is exactly as it was before the call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyticsError {
    #[error("analytics config: {0}")]
    InvalidConfig(#[from] InvalidSetting),
    /// The batch does not start right after the last ingested ledger, or its `ledgers` table
    /// skips or repeats a ledger.
    #[error("ledger batch is not contiguous: expected ledger {expected}, found {found}")]
    NotContiguous { expected: u32, found: u32 },
    /// The last ingested ledger is `u32::MAX`: nothing can follow it.
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error("ledger batch is empty: its `ledgers` table has no rows")]
    EmptyBatch,
    #[error("table `{table}` has no column `{column}`")]
    MissingColumn { table: &'static str, column: &'static str },
    #[error("table `{table}`, column `{column}` is {found}, expected {expected}")]
    ColumnType { table: &'static str, column: &'static str, expected: &'static str, found: DataType },
    #[error("table `{table}`, column `{column}`: row {row} is null, the column must have a value there")]
    NullValue { table: &'static str, column: &'static str, row: usize },
    /// Event time must not go backwards: Stellar ledgers close at increasing times, and a window
    /// may already have been emitted for the earlier time.
    #[error(
        "ledger {sequence} closed at {closed_at_micros} µs since the epoch, before the watermark \
         {watermark_micros} µs (close times must not decrease)"
    )]
    CloseTimeRegressed { sequence: u32, closed_at_micros: i64, watermark_micros: i64 },
    /// The `operations` rows are not grouped by ledger in the order of the `ledgers` table.
    #[error(
        "operations row {row} belongs to ledger {ledger_sequence}, out of ledger order or outside \
         the batch's ledgers {range}"
    )]
    OperationOutOfOrder { row: usize, ledger_sequence: u32, range: LedgerRange },
    /// The snapshot bytes cannot be decoded, or decode to an impossible state.
    #[error("analytics snapshot is unusable: {reason}")]
    BadSnapshot { reason: String },
    /// The snapshot was taken under a different configuration: its open window was aggregated
    /// with other settings, so continuing would match neither the old nor the new settings.
    #[error(
        "analytics snapshot was taken with `{key}` = {snapshot}, the config has {config}; \
         restore with the snapshot's setting or start the analytics state afresh"
    )]
    ConfigChanged { key: &'static str, snapshot: String, config: String },
    /// Building an output table failed: the builders and the schema disagree, a bug in
    /// ledgerflow. The engine's state has advanced; restore it from the last snapshot.
    #[error("internal error building analytics table `{table}`: {source}")]
    Arrow {
        table: &'static str,
        #[source]
        source: ArrowError,
    },
}

impl AnalyticsError {
    pub(crate) fn bad_snapshot(reason: impl Into<String>) -> Self {
        AnalyticsError::BadSnapshot { reason: reason.into() }
    }
}

impl Classify for AnalyticsError {
    /// Every analytics failure repeats on the same input: the engine is pure computation over
    /// the batch, its configuration and its snapshot.
    fn class(&self) -> FailureClass {
        match self {
            AnalyticsError::Range(error) => error.class(),
            _ => FailureClass::Permanent,
        }
    }
}
