//! The two columns the archive reads: the ledger sequence and the close time.
//!
//! Everything else in a batch is opaque to the archive. The sequence column is `sequence` in
//! the `ledgers` table and `ledger_sequence` elsewhere (either name is accepted in any table);
//! the close time is `closed_at`, a timestamp whose UTC date names the partition.

use arrow::array::{Array, AsArray, UInt32Array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;

use super::ArchiveError;
use crate::tables::Table;

/// Names the sequence column may have, in lookup order.
const SEQUENCE_COLUMNS: [&str; 2] = ["ledger_sequence", "sequence"];
/// Name of the close-time column.
pub(crate) const CLOSED_AT_COLUMN: &str = "closed_at";

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;
/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// A UTC day as days since 1970-01-01 (cheap to compare per row; converted to a date once per
/// partition).
pub(crate) type Day = i64;

/// The UTC date of `day`, when it has a four-digit year (the file name format).
pub(crate) fn date_of_day(table: Table, day: Day) -> Result<NaiveDate, ArchiveError> {
    i32::try_from(day + UNIX_EPOCH_DAYS_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .filter(|date| (0..=9999).contains(&chrono::Datelike::year(date)))
        .ok_or_else(|| ArchiveError::InvalidBatch {
            table,
            reason: format!("close time on day {day} since 1970 is outside years 0000..=9999"),
        })
}

/// Days since 1970-01-01 of `date`.
pub(crate) fn day_of_date(date: NaiveDate) -> Day {
    i64::from(chrono::Datelike::num_days_from_ce(&date)) - UNIX_EPOCH_DAYS_FROM_CE
}

/// A run of rows of one ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LedgerRun {
    pub sequence: u32,
    pub day: Day,
}

/// The sequence column of a batch, and one [`LedgerRun`] per ledger in row order, checked:
/// no nulls, sequences non-decreasing, all rows of a ledger on one day, days non-decreasing.
pub(crate) struct LedgerColumns {
    pub sequences: UInt32Array,
    pub runs: Vec<LedgerRun>,
}

impl LedgerColumns {
    pub fn read(table: Table, batch: &RecordBatch) -> Result<Self, ArchiveError> {
        let invalid = |reason: String| ArchiveError::InvalidBatch { table, reason };
        let sequences = sequence_column(table, batch)?;
        let closed_at = batch
            .column_by_name(CLOSED_AT_COLUMN)
            .ok_or_else(|| invalid(format!("no `{CLOSED_AT_COLUMN}` column")))?;
        let micros = match closed_at.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => closed_at.clone(),
            DataType::Timestamp(_, zone) => {
                let target = DataType::Timestamp(TimeUnit::Microsecond, zone.clone());
                cast_with_options(closed_at, &target, &CastOptions { safe: false, ..Default::default() })
                    .map_err(|e| invalid(format!("`{CLOSED_AT_COLUMN}` out of range: {e}")))?
            }
            other => return Err(invalid(format!("`{CLOSED_AT_COLUMN}` is {other}, not a timestamp"))),
        };
        if micros.null_count() > 0 {
            return Err(invalid(format!("`{CLOSED_AT_COLUMN}` has nulls")));
        }
        let micros = micros.as_primitive::<TimestampMicrosecondType>().values();
        let mut runs: Vec<LedgerRun> = Vec::new();
        for (&sequence, &micros) in sequences.values().iter().zip(micros.iter()) {
            let day = micros.div_euclid(MICROS_PER_DAY);
            match runs.last() {
                Some(run) if run.sequence == sequence => {
                    if run.day != day {
                        return Err(invalid(format!("ledger {sequence} has rows closed on two dates")));
                    }
                }
                Some(run) if run.sequence > sequence => {
                    return Err(invalid(format!(
                        "rows are not ordered by ledger: {sequence} after {}",
                        run.sequence
                    )));
                }
                Some(run) if run.day > day => {
                    return Err(invalid(format!(
                        "close dates go backwards: ledger {sequence} closed a day before ledger {}",
                        run.sequence
                    )));
                }
                _ => runs.push(LedgerRun { sequence, day }),
            }
        }
        Ok(LedgerColumns { sequences, runs })
    }

    /// Rows `start..end` holding the ledgers `first..=last` (rows are ordered by ledger).
    pub fn rows_of(&self, first: u64, last: u64) -> std::ops::Range<usize> {
        let values = self.sequences.values();
        let start = values.partition_point(|&s| u64::from(s) < first);
        let end = values.partition_point(|&s| u64::from(s) <= last);
        start..end
    }
}

/// The sequence column as `UInt32` (integer columns of other widths are converted, and fail if
/// a value does not fit).
fn sequence_column(table: Table, batch: &RecordBatch) -> Result<UInt32Array, ArchiveError> {
    let invalid = |reason: String| ArchiveError::InvalidBatch { table, reason };
    let (name, column) = SEQUENCE_COLUMNS
        .iter()
        .find_map(|name| batch.column_by_name(name).map(|column| (*name, column)))
        .ok_or_else(|| invalid("no `ledger_sequence` or `sequence` column".into()))?;
    if column.null_count() > 0 {
        return Err(invalid(format!("`{name}` has nulls")));
    }
    match column.data_type() {
        DataType::UInt32 => Ok(column.as_primitive().clone()),
        DataType::Int32 | DataType::Int64 | DataType::UInt64 => {
            let cast = cast_with_options(
                column,
                &DataType::UInt32,
                &CastOptions { safe: false, ..Default::default() },
            )
            .map_err(|e| invalid(format!("`{name}` does not fit a u32: {e}")))?;
            Ok(cast.as_primitive().clone())
        }
        other => Err(invalid(format!("`{name}` is {other}, not an integer"))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, TimestampSecondArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::archive::test_support::{DAY_MICROS, batch_of, micros_on};

    #[test]
    fn runs_follow_ledgers_and_days() {
        let batch = batch_of(
            Table::Transactions,
            &[(7, micros_on(0, 10)), (7, micros_on(0, 10)), (8, micros_on(1, 1))],
        );
        let columns = LedgerColumns::read(Table::Transactions, &batch).unwrap();
        assert_eq!(columns.runs, vec![LedgerRun { sequence: 7, day: 0 }, LedgerRun { sequence: 8, day: 1 }]);
        assert_eq!(columns.rows_of(7, 7), 0..2);
        assert_eq!(columns.rows_of(8, 100), 2..3);
        assert_eq!(columns.rows_of(9, 9), 3..3);
    }

    #[test]
    fn rejects_unordered_rows_and_split_ledgers() {
        let unordered = batch_of(Table::Operations, &[(8, 0), (7, 0)]);
        assert!(LedgerColumns::read(Table::Operations, &unordered).is_err());
        let split = batch_of(Table::Operations, &[(7, DAY_MICROS - 1), (7, DAY_MICROS)]);
        let error = LedgerColumns::read(Table::Operations, &split).err().unwrap();
        assert!(error.to_string().contains("two dates"), "{error}");
        let backwards = batch_of(Table::Operations, &[(7, DAY_MICROS), (8, DAY_MICROS - 1)]);
        assert!(LedgerColumns::read(Table::Operations, &backwards).is_err());
    }

    #[test]
    fn accepts_other_integer_and_time_units() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("sequence", DataType::Int64, false),
            Field::new("closed_at", DataType::Timestamp(TimeUnit::Second, None), false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![5, 6])),
                Arc::new(TimestampSecondArray::from(vec![0, 86_400])),
            ],
        )
        .unwrap();
        let columns = LedgerColumns::read(Table::Ledgers, &batch).unwrap();
        assert_eq!(columns.runs, vec![LedgerRun { sequence: 5, day: 0 }, LedgerRun { sequence: 6, day: 1 }]);
    }

    #[test]
    fn days_and_dates_convert_both_ways() {
        let date = date_of_day(Table::Ledgers, 0).unwrap();
        assert_eq!(date, NaiveDate::from_ymd_opt(1970, 1, 1).unwrap());
        assert_eq!(day_of_date(NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()), 19_783);
        assert_eq!(
            date_of_day(Table::Ledgers, 19_783).unwrap(),
            NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
        );
        assert!(date_of_day(Table::Ledgers, 10_000_000).is_err());
        assert!(date_of_day(Table::Ledgers, i64::MAX / 2).is_err());
    }
}
