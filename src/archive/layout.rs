//! Where archive files live (design §4), and the parser that reads a path back.
//!
//! A published file is `<root>/<table>/date=YYYY-MM-DD/<table>-<first>-<last>.parquet`: hive
//! style, so DuckDB, Spark and pyarrow read `date` as a column. `first` and `last` are the
//! inclusive ledger range of the file's rows, zero-padded to [`SEQUENCE_DIGITS`] digits: every
//! `u32` fits in 10 digits, so within a partition the names sort by ledger. `date` is the UTC
//! close date of those ledgers. The name depends only on (table, date, range), so a replay after
//! a crash writes the same names.
//!
//! A staged file sits at the same relative path under `<root>/_staging/`. Paths handed to the
//! checkpoint are relative, `/`-separated, and parse back with [`FileKey::parse`], which accepts
//! only the canonical form (no `..`, no extra components), so a path read from the checkpoint
//! can never point outside the archive root.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};

use super::ArchiveError;
use crate::range::LedgerRange;
use crate::tables::Table;

/// Directory under the root that holds staged (written, fsynced, not yet published) files.
pub const STAGING_DIR: &str = "_staging";
/// Directory under the root that holds dead letters: the raw bytes and error of ledgers the
/// stream set aside (`pipeline.on_corrupt = "dead_letter"`), named in the checkpoint.
pub const DEAD_LETTER_DIR: &str = "_dead_letter";
/// Digits of the zero-padded ledger numbers in a file name (`u32::MAX` has 10).
pub const SEQUENCE_DIGITS: usize = 10;
/// File name extension of archive files.
pub const EXTENSION: &str = "parquet";
/// Prefix of a hive date partition directory.
pub const DATE_PARTITION_PREFIX: &str = "date=";

/// What identifies one archive file: its table, UTC close date and inclusive ledger range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey {
    pub table: Table,
    /// UTC close date of every ledger in the file.
    pub date: NaiveDate,
    /// The ledgers whose rows the file holds.
    pub range: LedgerRange,
}

impl FileKey {
    /// A key; fails when the year has more than four digits (the name could not hold it).
    pub fn new(table: Table, date: NaiveDate, range: LedgerRange) -> Result<Self, ArchiveError> {
        if !(0..=9999).contains(&date.year()) {
            return Err(ArchiveError::InvalidBatch {
                table,
                reason: format!("close date {date} is outside years 0000..=9999"),
            });
        }
        Ok(FileKey { table, date, range })
    }

    /// First ledger of the range.
    pub fn first(&self) -> u32 {
        self.range.first()
    }

    /// Last ledger of the range.
    pub fn last(&self) -> u32 {
        self.range.last()
    }

    /// `<table>/date=YYYY-MM-DD`.
    pub fn partition_dir(&self) -> String {
        format!("{}/{DATE_PARTITION_PREFIX}{}", self.table.name(), format_date(self.date))
    }

    /// `<table>-<first>-<last>.parquet`, ledgers zero-padded to [`SEQUENCE_DIGITS`].
    pub fn file_name(&self) -> String {
        format!(
            "{}-{:0width$}-{:0width$}.{EXTENSION}",
            self.table.name(),
            self.first(),
            self.last(),
            width = SEQUENCE_DIGITS
        )
    }

    /// `<table>/date=YYYY-MM-DD/<table>-<first>-<last>.parquet`, the form the checkpoint records.
    pub fn relative_path(&self) -> String {
        format!("{}/{}", self.partition_dir(), self.file_name())
    }

    /// Parses a relative path written by [`FileKey::relative_path`]; only that exact form is
    /// accepted, so `parse(p)?.relative_path() == p`.
    pub fn parse(relative_path: &str) -> Result<Self, ArchiveError> {
        let bad = |reason| ArchiveError::BadFileName { path: relative_path.to_string(), reason };
        let mut parts = relative_path.split('/');
        let (Some(table_dir), Some(date_dir), Some(file_name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected <table>/date=YYYY-MM-DD/<table>-<first>-<last>.parquet"));
        };
        let table = table_from_name(table_dir).ok_or(bad("unknown table directory"))?;
        let date = date_dir
            .strip_prefix(DATE_PARTITION_PREFIX)
            .and_then(parse_date)
            .ok_or(bad("partition directory is not date=YYYY-MM-DD"))?;
        let stem = file_name
            .strip_suffix(EXTENSION)
            .and_then(|s| s.strip_suffix('.'))
            .ok_or(bad("file name does not end in .parquet"))?;
        let range = stem
            .strip_prefix(table.name())
            .and_then(|s| s.strip_prefix('-'))
            .ok_or(bad("file name does not start with its directory's table name"))?;
        let (first, last) = range.split_once('-').ok_or(bad("file name has no <first>-<last> range"))?;
        let first = parse_sequence(first).ok_or(bad("first ledger is not 10 digits"))?;
        let last = parse_sequence(last).ok_or(bad("last ledger is not 10 digits"))?;
        let range = LedgerRange::new(first, last).map_err(|_| bad("first ledger is after the last"))?;
        Ok(FileKey { table, date, range })
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.relative_path())
    }
}

/// The table whose [`Table::name`] is `name`.
pub fn table_from_name(name: &str) -> Option<Table> {
    Table::ALL.into_iter().find(|table| table.name() == name)
}

/// `YYYY-MM-DD`, four-digit year.
pub(crate) fn format_date(date: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// Strict `YYYY-MM-DD` (exactly 4-2-2 digits), the inverse of [`format_date`].
fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        let digits = text.get(range)?;
        digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse::<u32>().ok())?
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
}

/// Exactly [`SEQUENCE_DIGITS`] ASCII digits that fit a `u32`.
fn parse_sequence(text: &str) -> Option<u32> {
    if text.len() != SEQUENCE_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `root` joined with a `/`-separated relative path, one component at a time.
pub(crate) fn join_relative(root: &Path, relative_path: &str) -> PathBuf {
    relative_path.split('/').fold(root.to_path_buf(), |path, component| path.join(component))
}

/// Where a published file lives: `<root>/<relative path>`.
pub fn published_path(root: &Path, key: &FileKey) -> PathBuf {
    join_relative(root, &key.relative_path())
}

/// A staged file's path relative to the root: `_staging/<relative path>` (an object store's
/// staging key below the location's prefix).
pub fn staging_relative_path(key: &FileKey) -> String {
    format!("{STAGING_DIR}/{}", key.relative_path())
}

/// Where a staged file lives: `<root>/_staging/<relative path>`.
pub fn staging_path(root: &Path, key: &FileKey) -> PathBuf {
    join_relative(&root.join(STAGING_DIR), &key.relative_path())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    fn range(first: u32, last: u32) -> LedgerRange {
        LedgerRange::new(first, last).expect("valid test range")
    }

    #[test]
    fn relative_path_is_hive_style_and_zero_padded() {
        let key =
            FileKey::new(Table::ContractEvents, date(2024, 3, 9), range(51_000_000, 51_000_719)).unwrap();
        assert_eq!(
            key.relative_path(),
            "contract_events/date=2024-03-09/contract_events-0051000000-0051000719.parquet"
        );
        assert_eq!(FileKey::parse(&key.relative_path()).unwrap(), key);
        let root = Path::new("/archive");
        assert_eq!(
            staging_path(root, &key),
            Path::new("/archive/_staging/contract_events/date=2024-03-09")
                .join("contract_events-0051000000-0051000719.parquet")
        );
        assert_eq!(
            published_path(root, &key),
            Path::new(
                "/archive/contract_events/date=2024-03-09/contract_events-0051000000-0051000719.parquet"
            )
        );
    }

    #[test]
    fn names_sort_by_ledger() {
        let name = |first, last| {
            FileKey::new(Table::Ledgers, date(2024, 1, 1), range(first, last)).unwrap().file_name()
        };
        assert!(name(9, 99) < name(100, 100));
        assert!(name(4_000_000_000, u32::MAX) > name(999_999_999, 1_000_000_000));
        assert_eq!(name(0, u32::MAX), "ledgers-0000000000-4294967295.parquet");
    }

    #[test]
    fn parse_rejects_non_canonical_paths() {
        for path in [
            "ledgers/date=2024-01-01/ledgers-1-2.parquet",
            "ledgers/date=2024-01-01/ledgers-0000000002-0000000001.parquet",
            "ledgers/date=2024-01-01/transactions-0000000001-0000000002.parquet",
            "ledgers/date=2024-1-01/ledgers-0000000001-0000000002.parquet",
            "ledgers/date=2024-02-30/ledgers-0000000001-0000000002.parquet",
            "ledgers/2024-01-01/ledgers-0000000001-0000000002.parquet",
            "nope/date=2024-01-01/nope-0000000001-0000000002.parquet",
            "../ledgers/date=2024-01-01/ledgers-0000000001-0000000002.parquet",
            "ledgers/date=2024-01-01/../ledgers-0000000001-0000000002.parquet",
            "/ledgers/date=2024-01-01/ledgers-0000000001-0000000002.parquet",
            "ledgers/date=2024-01-01/ledgers-0000000001-0000000002.parquet.tmp",
            "ledgers/date=2024-01-01/ledgers-0000000001-4294967296.parquet",
            "ledgers/date=2024-01-01/ledgers-+000000001-0000000002.parquet",
            "_staging/ledgers/date=2024-01-01/ledgers-0000000001-0000000002.parquet",
        ] {
            let error = FileKey::parse(path).expect_err(path);
            assert!(matches!(error, ArchiveError::BadFileName { .. }), "{path}: {error}");
        }
    }

    #[test]
    fn new_rejects_five_digit_years() {
        assert!(FileKey::new(Table::Ledgers, date(10_000, 1, 1), range(1, 1)).is_err());
        assert!(FileKey::new(Table::Ledgers, date(9_999, 12, 31), range(1, 1)).is_ok());
    }

    proptest! {
        #[test]
        fn layout_round_trips(
            table in 0..Table::ALL.len(),
            days in 0i64..3_000_000,
            first in any::<u32>(),
            len in any::<u32>(),
        ) {
            let date = NaiveDate::from_ymd_opt(0, 1, 1).unwrap() + chrono::Duration::days(days);
            prop_assume!(date.year() <= 9999);
            let last = first.saturating_add(len);
            let key = FileKey::new(Table::ALL[table], date, range(first, last)).unwrap();
            let path = key.relative_path();
            prop_assert_eq!(FileKey::parse(&path).unwrap(), key);
        }
    }
}
