//! Listing the published archive and checking that it covers a ledger range exactly once
//! (what `ledgerflow verify` reports).
//!
//! [`scan`] reads only names, not file contents: it lists every file under
//! `<root>/<table>/date=YYYY-MM-DD/` whose relative path parses as an archive file name, and
//! ignores everything else (staging, hidden and foreign files). [`coverage`] then finds, for one
//! table and an expected range, the ledgers no file covers and the ledgers two files cover.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::ArchiveError;
use super::layout::{FileKey, join_relative};
use crate::range::LedgerRange;
use crate::tables::Table;

/// A published archive file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedFile {
    pub key: FileKey,
    /// `/`-separated path below the root (the form the checkpoint records).
    pub relative_path: String,
    /// Full path.
    pub path: PathBuf,
    pub bytes: u64,
}

/// Every published file under `root`, ordered by table, date and range. A missing root is an
/// empty archive.
pub fn scan(root: &Path) -> Result<Vec<ArchivedFile>, ArchiveError> {
    let mut files = Vec::new();
    for table in Table::ALL {
        let table_dir = root.join(table.name());
        for partition in read_dir_sorted(&table_dir)? {
            let Some(partition_name) = utf8_name(&partition) else { continue };
            if !partition.is_dir() {
                continue;
            }
            for file in read_dir_sorted(&partition)? {
                let Some(file_name) = utf8_name(&file) else { continue };
                let relative_path = format!("{}/{partition_name}/{file_name}", table.name());
                let Ok(key) = FileKey::parse(&relative_path) else { continue };
                let metadata = fs::metadata(&file).map_err(ArchiveError::io("stat", &file))?;
                if !metadata.is_file() {
                    continue;
                }
                files.push(ArchivedFile {
                    key,
                    path: join_relative(root, &relative_path),
                    relative_path,
                    bytes: metadata.len(),
                });
            }
        }
    }
    files.sort_by_key(|file| file.key);
    Ok(files)
}

/// The entries of `dir`, sorted; a missing directory has none.
pub(crate) fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, ArchiveError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(ArchiveError::io("read directory", dir)(error)),
    };
    let mut paths = entries
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ArchiveError::io("read directory", dir))?;
    paths.sort();
    Ok(paths)
}

fn utf8_name(path: &Path) -> Option<&str> {
    path.file_name().and_then(|name| name.to_str())
}

/// Ledgers that two files both cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub range: LedgerRange,
    /// Relative paths of the two files.
    pub files: [String; 2],
}

/// How one table's files cover an expected ledger range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub table: Table,
    pub expected: LedgerRange,
    /// Files of the table with at least one ledger inside the expected range.
    pub files: usize,
    /// Ledgers no file covers.
    pub gaps: Vec<LedgerRange>,
    pub overlaps: Vec<Overlap>,
    /// Files of the table with ledgers outside the expected range (their part inside still
    /// counts).
    pub outside: Vec<String>,
}

impl Coverage {
    /// Every ledger of the expected range is in exactly one file.
    pub fn is_exact(&self) -> bool {
        self.gaps.is_empty() && self.overlaps.is_empty()
    }
}

/// How `table`'s files among `files` cover `expected`.
pub fn coverage(files: &[ArchivedFile], table: Table, expected: LedgerRange) -> Coverage {
    let (first, last) = (expected.first(), expected.last());
    let mut report =
        Coverage { table, expected, files: 0, gaps: Vec::new(), overlaps: Vec::new(), outside: Vec::new() };
    let mut inside: Vec<&ArchivedFile> = Vec::new();
    for file in files.iter().filter(|f| f.key.table == table) {
        if file.key.first() < first || file.key.last() > last {
            report.outside.push(file.relative_path.clone());
        }
        if file.key.last() >= first && file.key.first() <= last {
            inside.push(file);
        }
    }
    inside.sort_by_key(|f| f.key.range);
    report.files = inside.len();
    // Ledgers are u64 here so `last + 1` exists for `u32::MAX`.
    let mut next_uncovered = u64::from(first);
    let mut furthest: Option<(u32, &str)> = None;
    for file in inside {
        let file_first = file.key.first().max(first);
        let file_last = file.key.last().min(last);
        if u64::from(file_first) > next_uncovered {
            report.gaps.extend(ledger_range(next_uncovered, u64::from(file_first) - 1));
        }
        if let Some((end, path)) = furthest
            && file_first <= end
        {
            report.overlaps.extend(
                ledger_range(u64::from(file_first), u64::from(file_last.min(end)))
                    .map(|range| Overlap { range, files: [path.to_string(), file.relative_path.clone()] }),
            );
        }
        if furthest.is_none_or(|(end, _)| file_last > end) {
            furthest = Some((file_last, &file.relative_path));
        }
        next_uncovered = next_uncovered.max(u64::from(file_last) + 1);
    }
    if next_uncovered <= u64::from(last) {
        report.gaps.extend(ledger_range(next_uncovered, u64::from(last)));
    }
    report
}

/// `first..=last` computed in `u64`; both ends are known to lie within the expected range.
fn ledger_range(first: u64, last: u64) -> Option<LedgerRange> {
    LedgerRange::new(u32::try_from(first).ok()?, u32::try_from(last).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::test_support::{date, range};

    fn file(table: Table, day: i64, first: u32, last: u32) -> ArchivedFile {
        let key = FileKey::new(table, date(day), range(first, last)).unwrap();
        ArchivedFile { relative_path: key.relative_path(), path: key.relative_path().into(), key, bytes: 0 }
    }

    #[test]
    fn scan_lists_archive_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let keep = [
            file(Table::Ledgers, 0, 1, 10),
            file(Table::Ledgers, 1, 11, 20),
            file(Table::ContractEvents, 0, 1, 10),
        ];
        for f in &keep {
            let path = join_relative(root, &f.relative_path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, b"parquet").unwrap();
        }
        // Foreign, staged and misplaced files are not archive files.
        fs::write(root.join("ledgers/date=1970-01-01/notes.txt"), b"x").unwrap();
        fs::write(root.join("ledgers/date=1970-01-01/ledgers-0000000001-0000000010.parquet.tmp"), b"x")
            .unwrap();
        fs::create_dir_all(root.join("_staging/ledgers/date=1970-01-01")).unwrap();
        fs::write(root.join("_staging/ledgers/date=1970-01-01/ledgers-0000000021-0000000030.parquet"), b"x")
            .unwrap();
        fs::create_dir_all(root.join("operations/date=1970-01-01")).unwrap();
        fs::write(root.join("operations/date=1970-01-01/ledgers-0000000001-0000000010.parquet"), b"x")
            .unwrap();
        fs::write(root.join("operations/stray.parquet"), b"x").unwrap();

        let found = scan(root).unwrap();
        let names: Vec<&str> = found.iter().map(|f| f.relative_path.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "ledgers/date=1970-01-01/ledgers-0000000001-0000000010.parquet",
                "ledgers/date=1970-01-02/ledgers-0000000011-0000000020.parquet",
                "contract_events/date=1970-01-01/contract_events-0000000001-0000000010.parquet",
            ]
        );
        assert_eq!(found[0].bytes, 7);
        assert_eq!(found[0].path, root.join("ledgers/date=1970-01-01/ledgers-0000000001-0000000010.parquet"));
        assert!(scan(&root.join("missing")).unwrap().is_empty());
    }

    #[test]
    fn coverage_of_a_complete_archive_is_exact() {
        let files = [
            file(Table::Ledgers, 0, 1, 10),
            file(Table::Ledgers, 1, 11, 20),
            file(Table::Operations, 0, 1, 5),
        ];
        let report = coverage(&files, Table::Ledgers, range(1, 20));
        assert!(report.is_exact(), "{report:?}");
        assert_eq!(report.files, 2);
        assert!(report.outside.is_empty());
        let report = coverage(&files, Table::Operations, range(1, 20));
        assert_eq!(report.gaps, vec![range(6, 20)]);
    }

    #[test]
    fn coverage_finds_gaps_overlaps_and_outside_files() {
        let files = [
            file(Table::Ledgers, 0, 5, 10), // gap 1..=4 before it
            file(Table::Ledgers, 0, 11, 20),
            file(Table::Ledgers, 0, 15, 16), // inside 11..=20: duplicate rows
            file(Table::Ledgers, 1, 11, 20), // the same range on another date: duplicate
            file(Table::Ledgers, 1, 26, 40), // gap 21..=25; ends past the range
            file(Table::Ledgers, 2, 50, 60), // entirely outside
        ];
        let report = coverage(&files, Table::Ledgers, range(1, 30));
        assert_eq!(report.gaps, vec![range(1, 4), range(21, 25)]);
        let overlaps: Vec<LedgerRange> = report.overlaps.iter().map(|o| o.range).collect();
        assert_eq!(overlaps, vec![range(11, 20), range(15, 16)]);
        assert_eq!(report.overlaps[1].files[1], files[2].relative_path);
        assert_eq!(report.outside, vec![files[4].relative_path.clone(), files[5].relative_path.clone()]);
        assert_eq!(report.files, 5);
        assert!(!report.is_exact());
    }

    #[test]
    fn coverage_handles_the_top_of_the_ledger_space_and_no_files() {
        let files = [file(Table::Ledgers, 0, u32::MAX - 1, u32::MAX)];
        assert!(coverage(&files, Table::Ledgers, range(u32::MAX - 1, u32::MAX)).is_exact());
        let report = coverage(&[], Table::Ledgers, range(1, 2));
        assert_eq!(report.gaps, vec![range(1, 2)]);
    }
}
