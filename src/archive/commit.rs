//! Two-phase commit of Parquet files (design §3): stage, (commit), publish, recover.
//!
//! 1. [`Archive::stage`] closes a file encoded as its rows arrived (a `.partial` file under
//!    `_staging/`), fsyncs it, renames it to `<root>/_staging/<relative path>` and fsyncs the
//!    directory. A crash here leaves staging files nobody committed: `recover` deletes them.
//! 2. The caller asks the checkpoint to commit, in one transaction, the new high-water mark and
//!    the relative paths of the staged files ([`super::FileSet::relative_paths`]). The commit is
//!    the only point where files become part of the archive; it happens after the fsyncs so
//!    the checkpoint never names a file that is not durable.
//! 3. [`publish_path`] renames each staged file into `<root>/<relative path>`, creating the
//!    partition directory, and fsyncs the directories. Idempotent: a file whose staging copy is
//!    gone and whose published copy exists is already published.
//!
//! On start, [`recover`] gets the last commit's paths and high-water mark and rolls forward
//! every committed file still in staging, deletes every other staging file, and deletes every
//! published file whose range ends beyond the high-water mark (the protocol never publishes
//! before committing, but a file there would duplicate ledgers the replay writes again).
//! Names are deterministic, so the replay from `high_water_mark + 1` rewrites what was lost.
//!
//! One archive root per stream: recovery treats every file beyond the stream's checkpoint as
//! its own.
//!
//! [`Archive`] runs the same protocol on an object-storage location ([`ArchiveStore`]:
//! `object.rs` holds those steps); the free functions here are the local root's.
//!
//! Failpoints (feature `failpoints`), each returning [`ArchiveError::Injected`] when configured
//! with `return` (or panicking with `panic`): `archive:before_stage`, `archive:after_stage`
//! (file and directory fsynced), `archive:before_publish`, `archive:after_publish` (renamed and
//! fsynced).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;

use super::ArchiveError;
use super::durable::{create_dir_all_durable, exists, remove_file_if_exists, sync_dir};
use super::layout::{FileKey, STAGING_DIR, published_path, staging_path};
use super::store::{ArchiveStore, StagingFile};
use super::verify::{ArchivedFile, read_dir_sorted, scan};
use super::writer::WriterOptions;
use crate::tables::Table;

/// An archive: where its files live (a local root or an object-storage location) and how
/// they are encoded.
#[derive(Debug, Clone)]
pub struct Archive {
    store: ArchiveStore,
    options: WriterOptions,
}

/// A file written and fsynced under `_staging`, not yet visible (step 1 done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    pub key: FileKey,
    /// What the checkpoint records and [`publish_path`] takes.
    pub relative_path: String,
    pub rows: u64,
    /// Encoded size.
    pub bytes: u64,
}

/// What [`publish_path`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Renamed from staging into place now.
    Published,
    /// Already in place (a retry, or a second recovery).
    AlreadyPublished,
}

/// What [`recover`] did, as relative paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Committed files found in staging and published now.
    pub rolled_forward: Vec<String>,
    /// Committed files that were already published.
    pub already_published: Vec<String>,
    /// Staging files no commit names, deleted (relative to `_staging`).
    pub deleted_staged: Vec<String>,
    /// Published files ending beyond the high-water mark, deleted.
    pub deleted_beyond_high_water_mark: Vec<String>,
}

impl RecoveryReport {
    /// Whether recovery changed anything on disk.
    pub fn changed_anything(&self) -> bool {
        !(self.rolled_forward.is_empty()
            && self.deleted_staged.is_empty()
            && self.deleted_beyond_high_water_mark.is_empty())
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rolled forward {}, already published {}, deleted {} staged, deleted {} beyond the high-water mark",
            self.rolled_forward.len(),
            self.already_published.len(),
            self.deleted_staged.len(),
            self.deleted_beyond_high_water_mark.len()
        )
    }
}

impl Archive {
    /// An archive at the local directory `root`, creating the root and its staging directory.
    pub fn open(root: impl Into<PathBuf>, options: WriterOptions) -> Result<Self, ArchiveError> {
        Archive::on_store(ArchiveStore::local(root), options)
    }

    /// An archive on `store` (a local root is created with its staging directory; an object
    /// store needs nothing before its first put).
    pub fn on_store(store: ArchiveStore, options: WriterOptions) -> Result<Self, ArchiveError> {
        options.compression.validate("archive.compression")?;
        if options.max_row_group_rows == 0 {
            return Err(ArchiveError::InvalidConfig {
                key: "archive.max_row_group_rows",
                value: "0".into(),
                allowed: "1 or more rows",
            });
        }
        store.prepare()?;
        Ok(Archive { store, options })
    }

    /// An archive as configured (`archive.url` when set, else `archive.root`); the
    /// configuration is validated first.
    pub fn from_config(config: &super::ArchiveConfig) -> Result<Self, ArchiveError> {
        config.validate()?;
        Archive::on_store(ArchiveStore::from_config(config)?, config.writer_options())
    }

    /// Where the files live.
    pub fn store(&self) -> &ArchiveStore {
        &self.store
    }

    pub fn options(&self) -> &WriterOptions {
        &self.options
    }

    /// Opens a file of `table` on `date` from ledger `first` for step 1 (rows are encoded as
    /// they are written; see [`ArchiveStore::create`]).
    pub(crate) fn create(
        &self,
        table: Table,
        schema: &SchemaRef,
        date: NaiveDate,
        first: u32,
    ) -> Result<StagingFile, ArchiveError> {
        self.store.create(table, schema, date, first, &self.options)
    }

    /// Step 1: closes `file` as `key` and makes it durable under `_staging` (a local root
    /// fsyncs the file and its directory; an object store's put is atomic). Replaces a
    /// staging file of the same name (a replay writes the same names). Safe to call from
    /// several threads at once for different files.
    pub(crate) fn stage(&self, file: StagingFile, key: &FileKey) -> Result<StagedFile, ArchiveError> {
        fail::fail_point!("archive:before_stage", |_| Err(ArchiveError::Injected("archive:before_stage")));
        let stats = file.stage(key)?;
        fail::fail_point!("archive:after_stage", |_| Err(ArchiveError::Injected("archive:after_stage")));
        Ok(StagedFile { key: *key, relative_path: key.relative_path(), rows: stats.rows, bytes: stats.bytes })
    }

    /// Step 1 for a whole file at once: `batches` (all of `schema`, every row belonging to
    /// `key`: ledger in range, close date = partition date, ordered by ledger) encoded and
    /// staged as `key`. [`super::ArchiveSink`] stages files as the stream flows instead.
    pub fn stage_batches(
        &self,
        key: &FileKey,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<StagedFile, ArchiveError> {
        let key = FileKey::new(key.table, key.date, key.range)?;
        let mut file = self.create(key.table, schema, key.date, key.first())?;
        for batch in batches {
            file.write(batch)?;
        }
        self.stage(file, &key)
    }

    /// Step 3 for a staged file; call only after the checkpoint committed it.
    pub fn publish(&self, staged: &StagedFile) -> Result<PublishOutcome, ArchiveError> {
        self.store.publish(&staged.relative_path)
    }

    /// [`recover`] on this archive's store.
    pub fn recover(
        &self,
        committed: &[String],
        high_water_mark: Option<u32>,
    ) -> Result<RecoveryReport, ArchiveError> {
        self.store.recover(committed, high_water_mark)
    }

    /// [`scan`] of this archive's store.
    pub fn scan(&self) -> Result<Vec<ArchivedFile>, ArchiveError> {
        self.store.scan()
    }
}

/// Step 3: renames `<root>/_staging/<relative_path>` to `<root>/<relative_path>` and makes the
/// rename durable. Call only for a file the checkpoint has committed.
pub fn publish_path(root: &Path, relative_path: &str) -> Result<PublishOutcome, ArchiveError> {
    fail::fail_point!("archive:before_publish", |_| Err(ArchiveError::Injected("archive:before_publish")));
    let key = FileKey::parse(relative_path)?;
    let staged = staging_path(root, &key);
    let published = published_path(root, &key);
    let outcome = if exists(&staged)? {
        let published_dir = parent(&published);
        create_dir_all_durable(published_dir)?;
        fs::rename(&staged, &published).map_err(ArchiveError::io("rename", &staged))?;
        // The destination entry makes the file visible; the source is synced too so the old
        // staging entry cannot come back and be published a second time.
        sync_dir(published_dir)?;
        sync_dir(parent(&staged))?;
        PublishOutcome::Published
    } else if exists(&published)? {
        PublishOutcome::AlreadyPublished
    } else {
        return Err(ArchiveError::NotStaged { relative_path: relative_path.to_string() });
    };
    fail::fail_point!("archive:after_publish", |_| Err(ArchiveError::Injected("archive:after_publish")));
    Ok(outcome)
}

/// Brings the archive at `root` in line with the checkpoint: `committed` are the relative paths
/// of the last commit and `high_water_mark` its last ledger (`None`: nothing committed yet).
///
/// Rolls forward the committed files still in staging, deletes every other staging file and
/// every published file (not committed) whose range ends beyond the high-water mark. Safe to
/// run again after a crash part-way. Fails with [`ArchiveError::CommittedFileMissing`], after
/// doing everything else, when a committed file is neither staged nor published.
pub fn recover(
    root: &Path,
    committed: &[String],
    high_water_mark: Option<u32>,
) -> Result<RecoveryReport, ArchiveError> {
    let committed_keys = committed_keys(committed, high_water_mark)?;
    let mut report = RecoveryReport::default();
    let mut dirs_to_sync = BTreeSet::new();
    let staging_root = root.join(STAGING_DIR);
    for (relative_path, path) in list_files(&staging_root)? {
        if committed_keys.contains_key(&relative_path) {
            publish_path(root, &relative_path)?;
            report.rolled_forward.push(relative_path);
        } else {
            if remove_file_if_exists(&path)? {
                dirs_to_sync.insert(parent(&path).to_path_buf());
            }
            report.deleted_staged.push(relative_path);
        }
    }

    let mut missing = Vec::new();
    for (relative_path, key) in &committed_keys {
        if report.rolled_forward.contains(relative_path) {
            continue;
        }
        if exists(&published_path(root, key))? {
            report.already_published.push(relative_path.clone());
        } else {
            missing.push(relative_path.clone());
        }
    }

    for file in scan(root)? {
        if committed_keys.contains_key(&file.relative_path)
            || high_water_mark.is_some_and(|m| file.key.last() <= m)
        {
            continue;
        }
        if remove_file_if_exists(&file.path)? {
            dirs_to_sync.insert(parent(&file.path).to_path_buf());
        }
        report.deleted_beyond_high_water_mark.push(file.relative_path);
    }

    for dir in &dirs_to_sync {
        sync_dir(dir)?;
    }
    remove_empty_dirs_below(&staging_root)?;
    if !missing.is_empty() {
        return Err(ArchiveError::CommittedFileMissing { paths: missing });
    }
    Ok(report)
}

/// The last commit's files by relative path, checked whole before recovery touches a file:
/// each parses as an archive file name and ends at or before the high-water mark.
pub(crate) fn committed_keys(
    committed: &[String],
    high_water_mark: Option<u32>,
) -> Result<BTreeMap<String, FileKey>, ArchiveError> {
    let mut keys = BTreeMap::new();
    for path in committed {
        let key = FileKey::parse(path)?;
        if high_water_mark.is_none_or(|mark| key.last() > mark) {
            return Err(ArchiveError::InconsistentCheckpoint {
                path: path.clone(),
                last: key.last(),
                high_water_mark,
            });
        }
        keys.insert(key.relative_path(), key);
    }
    Ok(keys)
}

/// Every file below `dir` as (`/`-separated path relative to `dir`, full path), sorted.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, ArchiveError> {
    let mut files = Vec::new();
    let mut pending = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, dir)) = pending.pop() {
        for path in read_dir_sorted(&dir)? {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let file_type = fs::symlink_metadata(&path).map_err(ArchiveError::io("stat", &path))?.file_type();
            if file_type.is_dir() {
                pending.push((relative, path));
            } else {
                files.push((relative, path));
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Removes the empty directories below `dir` (not `dir` itself), deepest first.
fn remove_empty_dirs_below(dir: &Path) -> Result<(), ArchiveError> {
    for path in read_dir_sorted(dir)? {
        if !fs::symlink_metadata(&path).map_err(ArchiveError::io("stat", &path))?.is_dir() {
            continue;
        }
        remove_empty_dirs_below(&path)?;
        if read_dir_sorted(&path)?.is_empty() {
            match fs::remove_dir(&path) {
                Ok(()) => {}
                // Another writer staged into it meanwhile, or removed it: both fine.
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::NotFound
                    ) => {}
                Err(error) => return Err(ArchiveError::io("remove directory", &path)(error)),
            }
        }
    }
    Ok(())
}

/// The directory holding an archive path (archive paths always have one).
fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::archive::Compression;
    use crate::archive::test_support::{
        MemorySet, batch_of, date, micros_on, range, serial, set_of, stage_set,
    };

    fn archive(root: &Path, compression: Compression) -> Archive {
        Archive::open(root, WriterOptions { compression, max_row_group_rows: 3 }).unwrap()
    }

    /// All three steps, the checkpoint being the returned paths and mark.
    fn commit_set(archive: &Archive, set: &MemorySet) -> (Vec<String>, Option<u32>) {
        let staged = stage_set(archive, set).unwrap();
        for file in &staged {
            assert_eq!(archive.publish(file).unwrap(), PublishOutcome::Published);
        }
        (set.relative_paths(), Some(set.range.last()))
    }

    fn published(root: &Path) -> Vec<String> {
        list_files(root)
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| !p.starts_with("_staging/"))
            .collect()
    }

    fn staging_files(root: &Path) -> Vec<String> {
        list_files(&root.join(STAGING_DIR)).unwrap().into_iter().map(|(p, _)| p).collect()
    }

    fn sorted(mut paths: Vec<String>) -> Vec<String> {
        paths.sort();
        paths
    }

    #[test]
    fn staged_file_reads_back_identical_with_the_requested_codec() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        for compression in [
            Compression::Zstd(5),
            Compression::Snappy,
            Compression::Lz4,
            Compression::Gzip(1),
            Compression::None,
        ] {
            let archive = archive(dir.path(), compression);
            let key = FileKey::new(Table::Transactions, date(0), range(10, 13)).unwrap();
            let rows: Vec<(u32, i64)> =
                (10..=13).flat_map(|s| [(s, micros_on(0, 5)), (s, micros_on(0, 5))]).collect();
            let batch = batch_of(Table::Transactions, &rows);
            let staged = archive
                .stage_batches(&key, &batch.schema(), &[batch.slice(0, 3), batch.slice(3, 5)])
                .unwrap();
            assert_eq!(
                staged.relative_path,
                "transactions/date=1970-01-01/transactions-0000000010-0000000013.parquet"
            );
            assert_eq!((staged.rows, staged.key), (8, key));
            let path = staging_path(dir.path(), &key);
            assert_eq!(staged.bytes, fs::metadata(&path).unwrap().len());
            assert!(!published_path(dir.path(), &key).exists(), "staging is not visible");

            let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
            let codec = builder.metadata().row_group(0).column(0).compression();
            assert_eq!(
                parquet::basic::CompressionCodec::from(codec),
                compression.to_parquet().unwrap().into()
            );
            assert_eq!(builder.metadata().num_row_groups(), 3, "max_row_group_rows = 3");
            let read: Vec<RecordBatch> = builder.build().unwrap().collect::<Result<_, _>>().unwrap();
            assert_eq!(arrow::compute::concat_batches(&batch.schema(), &read).unwrap(), batch);
            fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn publish_moves_the_file_and_is_idempotent() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let archive = archive(dir.path(), Compression::default());
        let set = set_of(1, 10, 0);
        let staged = stage_set(&archive, &set).unwrap();
        assert_eq!(sorted(staging_files(dir.path())), sorted(set.relative_paths()));
        for file in &staged {
            assert_eq!(archive.publish(file).unwrap(), PublishOutcome::Published);
            assert_eq!(archive.publish(file).unwrap(), PublishOutcome::AlreadyPublished);
        }
        assert!(staging_files(dir.path()).is_empty());
        assert_eq!(sorted(published(dir.path())), sorted(set.relative_paths()));
        let scanned: Vec<FileKey> = archive.scan().unwrap().into_iter().map(|f| f.key).collect();
        assert_eq!(scanned.len(), Table::LEDGER_TABLES.len());
        assert!(scanned.iter().all(|k| (k.range.first(), k.range.last(), k.date) == (1, 10, date(0))));

        let never = "ledgers/date=1970-01-01/ledgers-0000000011-0000000020.parquet";
        assert!(matches!(publish_path(dir.path(), never), Err(ArchiveError::NotStaged { .. })));
        assert!(matches!(publish_path(dir.path(), "../etc/passwd"), Err(ArchiveError::BadFileName { .. })));
    }

    #[test]
    fn stage_rejects_rows_that_do_not_match_the_name() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let archive = archive(dir.path(), Compression::default());
        let key = FileKey::new(Table::Ledgers, date(0), range(1, 1)).unwrap();
        let batch = batch_of(Table::Ledgers, &[(2, micros_on(0, 0))]);
        let error = archive.stage_batches(&key, &batch.schema(), &[batch]).unwrap_err();
        assert!(matches!(error, ArchiveError::InvalidBatch { .. }), "{error}");
        assert!(staging_files(dir.path()).is_empty());
    }

    #[test]
    fn recover_rolls_forward_deletes_and_leaves_the_rest() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let archive = archive(root, Compression::default());
        // Commit 1 is complete. Commit 2 is recorded but only half published.
        let (first_commit, _) = commit_set(&archive, &set_of(1, 10, 0));
        let second = set_of(11, 20, 1);
        let staged_second = stage_set(&archive, &second).unwrap();
        archive.publish(&staged_second[0]).unwrap();
        archive.publish(&staged_second[2]).unwrap();
        // Staged but never committed: ledgers 21..=30.
        stage_set(&archive, &set_of(21, 30, 1)).unwrap();
        // Published without a commit (impossible in the protocol): ledgers 31..=35.
        let rogue = set_of(31, 35, 1);
        for file in stage_set(&archive, &rogue).unwrap() {
            archive.publish(&file).unwrap();
        }
        // A file straddling the mark is beyond it too, and garbage in staging goes.
        let straddling = set_of(15, 25, 1);
        archive.publish(&straddling.files[1].stage(&archive).unwrap()).unwrap();
        fs::write(root.join(STAGING_DIR).join("partial.tmp"), b"x").unwrap();
        // Files that are not archive files are left alone.
        fs::write(root.join("ledgers").join("README"), b"x").unwrap();

        let report = archive.recover(&second.relative_paths(), Some(20)).unwrap();
        assert_eq!(
            sorted(report.rolled_forward.clone()),
            sorted(vec![second.relative_paths()[1].clone(), second.relative_paths()[3].clone()])
        );
        assert_eq!(
            sorted(report.already_published.clone()),
            sorted(vec![second.relative_paths()[0].clone(), second.relative_paths()[2].clone()])
        );
        let mut deleted_staged = set_of(21, 30, 1).relative_paths();
        deleted_staged.push("partial.tmp".into());
        assert_eq!(sorted(report.deleted_staged.clone()), sorted(deleted_staged));
        let mut beyond = rogue.relative_paths();
        beyond.push(straddling.files[1].key.relative_path());
        assert_eq!(sorted(report.deleted_beyond_high_water_mark.clone()), sorted(beyond));
        assert!(report.changed_anything());
        assert_eq!(
            report.to_string(),
            "rolled forward 2, already published 2, deleted 5 staged, deleted 5 beyond the high-water mark"
        );

        let mut expected = first_commit.clone();
        expected.extend(second.relative_paths());
        expected.push("ledgers/README".into());
        assert_eq!(sorted(published(root)), sorted(expected));
        assert!(staging_files(root).is_empty());
        assert!(read_dir_sorted(&root.join(STAGING_DIR)).unwrap().is_empty(), "empty staging dirs removed");

        // A second recovery finds nothing to do.
        let again = archive.recover(&second.relative_paths(), Some(20)).unwrap();
        assert!(!again.changed_anything(), "{again:?}");
        assert_eq!(again.already_published.len(), Table::LEDGER_TABLES.len());
    }

    #[test]
    fn recover_with_nothing_committed_empties_the_archive() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let archive = archive(dir.path(), Compression::default());
        commit_set(&archive, &set_of(1, 3, 0));
        stage_set(&archive, &set_of(4, 5, 0)).unwrap();
        let report = archive.recover(&[], None).unwrap();
        assert_eq!(
            (report.deleted_beyond_high_water_mark.len(), report.deleted_staged.len()),
            (Table::LEDGER_TABLES.len(), Table::LEDGER_TABLES.len())
        );
        assert!(published(dir.path()).is_empty());
        // A fresh root with no staging directory at all is fine too.
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(recover(empty.path(), &[], None).unwrap(), RecoveryReport::default());
    }

    #[test]
    fn recover_rejects_inconsistent_checkpoints_before_touching_files() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let archive = archive(dir.path(), Compression::default());
        let set = set_of(1, 10, 0);
        stage_set(&archive, &set).unwrap();
        let error = archive.recover(&set.relative_paths(), Some(9)).unwrap_err();
        assert!(matches!(error, ArchiveError::InconsistentCheckpoint { last: 10, .. }), "{error}");
        assert!(matches!(
            archive.recover(&set.relative_paths(), None),
            Err(ArchiveError::InconsistentCheckpoint { .. })
        ));
        assert!(matches!(
            archive.recover(&["x.parquet".into()], Some(9)),
            Err(ArchiveError::BadFileName { .. })
        ));
        assert_eq!(staging_files(dir.path()).len(), 4, "nothing deleted");
    }

    #[test]
    fn recover_reports_committed_files_that_vanished() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let archive = archive(dir.path(), Compression::default());
        let set = set_of(1, 10, 0);
        let staged_files = stage_set(&archive, &set).unwrap();
        fs::remove_file(staging_path(dir.path(), &staged_files[3].key)).unwrap();
        let error = archive.recover(&set.relative_paths(), Some(10)).unwrap_err();
        let ArchiveError::CommittedFileMissing { paths } = &error else { panic!("{error:?}") };
        assert_eq!(paths, &vec![set.relative_paths()[3].clone()]);
        assert!(!error.is_transient());
        // Everything else was still rolled forward.
        assert_eq!(published(dir.path()).len(), 3);
    }

    #[test]
    fn open_validates_options() {
        let dir = tempfile::tempdir().unwrap();
        let options = WriterOptions { compression: Compression::Zstd(99), max_row_group_rows: 1 };
        assert!(matches!(Archive::open(dir.path(), options), Err(ArchiveError::InvalidConfig { .. })));
        let options = WriterOptions { compression: Compression::None, max_row_group_rows: 0 };
        assert!(matches!(Archive::open(dir.path(), options), Err(ArchiveError::InvalidConfig { .. })));
        let config = crate::archive::ArchiveConfig { root: dir.path().join("a"), ..Default::default() };
        let archive = Archive::from_config(&config).unwrap();
        assert_eq!(archive.store().local_root(), Some(config.root.as_path()));
        assert!(config.root.join(STAGING_DIR).is_dir());
    }
}

/// Crashes injected between every two steps of the protocol, followed by recovery: the
/// archive must end up holding exactly the committed files, and a replay must complete it.
#[cfg(all(test, feature = "failpoints"))]
mod failpoint_tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::time::Instant;

    use super::*;
    use crate::archive::RotationPolicy;
    use crate::archive::test_support::{
        Collector, MemorySet, contents, ledger_batch, micros_on, object_fixtures, range, refs, runtime,
        serial, stage_set,
    };

    const FAILPOINTS: [&str; 4] =
        ["archive:before_stage", "archive:after_stage", "archive:before_publish", "archive:after_publish"];

    /// What the checkpoint holds: the last commit's paths and high-water mark.
    #[derive(Debug, Default, Clone)]
    struct Checkpoint {
        committed: Vec<String>,
        high_water_mark: Option<u32>,
        /// Every path ever committed (what the archive must hold in the end).
        all_committed: Vec<String>,
    }

    /// Sets of 5 ledgers each, crossing midnight between ledgers 12 and 13.
    fn sets(first: u32, last: u32) -> Vec<MemorySet> {
        let policy =
            RotationPolicy { max_file_bytes: u64::MAX, max_ledgers_per_file: 5, ..Default::default() };
        let mut buffer = Collector::new(policy).with_next_ledger(first);
        let batch =
            ledger_batch(first, last, |s| if s <= 12 { micros_on(0, i64::from(s)) } else { micros_on(1, 0) });
        let mut sets = buffer.push(range(first, last), &refs(&batch), Instant::now()).unwrap();
        sets.extend(buffer.flush());
        sets
    }

    /// The ArchiveActor's loop for each set: stage all, commit, publish all. Stops at the first
    /// error, as a crashed worker would.
    fn run(archive: &Archive, sets: &[MemorySet], checkpoint: &mut Checkpoint) -> Result<(), ArchiveError> {
        for set in sets {
            let staged = stage_set(archive, set)?;
            checkpoint.committed = set.relative_paths();
            checkpoint.high_water_mark = Some(set.range.last());
            checkpoint.all_committed.extend(set.relative_paths());
            for file in &staged {
                archive.publish(file)?;
            }
        }
        Ok(())
    }

    fn assert_exactly_committed(archive: &Archive, checkpoint: &Checkpoint, context: &str) {
        let mut expected = checkpoint.all_committed.clone();
        expected.sort();
        let (published, staged) = contents(archive);
        assert_eq!(published, expected, "{context}");
        assert!(staged.is_empty(), "{context}: staging left");
    }

    /// The same scenario on every backend: a local root, and the object stores (in memory, and
    /// a directory through object_store's `LocalFileSystem`). Each call is a fresh archive.
    fn archives(runtime: &tokio::runtime::Runtime) -> Vec<(&'static str, Archive, Box<dyn std::any::Any>)> {
        let dir = tempfile::tempdir().unwrap();
        let mut archives: Vec<(&'static str, Archive, Box<dyn std::any::Any>)> =
            vec![("local root", Archive::open(dir.path(), WriterOptions::default()).unwrap(), Box::new(dir))];
        for fixture in object_fixtures() {
            let store = ArchiveStore::object(fixture.location.clone(), runtime.handle().clone());
            let archive = Archive::on_store(store, WriterOptions::default()).unwrap();
            archives.push((fixture.name, archive, Box::new(fixture)));
        }
        archives
    }

    #[test]
    fn a_crash_at_any_step_recovers_to_exactly_the_committed_files() {
        let _scenario = serial();
        let all_sets = sets(1, 20);
        assert_eq!(
            all_sets.iter().map(|s| (s.range.first(), s.range.last())).collect::<Vec<_>>(),
            vec![(1, 5), (6, 10), (11, 12), (13, 17), (18, 20)]
        );
        let runtime = runtime();
        for failpoint in FAILPOINTS {
            for passes in [0, 1, 3, 5, 9] {
                for (action, (backend, archive, _keep)) in ["return", "panic"]
                    .into_iter()
                    .flat_map(|a| archives(&runtime).into_iter().map(move |b| (a, b)))
                {
                    let context = format!("{backend}: {failpoint} after {passes} passes, {action}");
                    let mut checkpoint = Checkpoint::default();

                    fail::cfg(failpoint, &format!("{passes}*off->{action}")).unwrap();
                    let outcome =
                        catch_unwind(AssertUnwindSafe(|| run(&archive, &all_sets, &mut checkpoint)));
                    fail::remove(failpoint);
                    match (&outcome, action) {
                        (Ok(Err(ArchiveError::Injected(name))), "return") => assert_eq!(*name, failpoint),
                        (Err(_), "panic") => {}
                        _ => panic!("{context}: the failpoint did not fire: {outcome:?}"),
                    }

                    let report = archive.recover(&checkpoint.committed, checkpoint.high_water_mark).unwrap();
                    assert_exactly_committed(&archive, &checkpoint, &format!("{context}: {report}"));

                    // The restarted worker replays from the checkpoint and completes the archive.
                    let resume = checkpoint.high_water_mark.map_or(1, |mark| mark + 1);
                    let replay = if resume <= 20 { sets(resume, 20) } else { Vec::new() };
                    run(&archive, &replay, &mut checkpoint).unwrap();
                    assert_exactly_committed(&archive, &checkpoint, &context);
                    let files = archive.scan().unwrap();
                    for table in crate::tables::Table::LEDGER_TABLES {
                        let coverage = crate::archive::coverage(&files, table, range(1, 20));
                        assert!(
                            coverage.is_exact() && coverage.outside.is_empty(),
                            "{context}: {coverage:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_crash_during_recovery_is_recovered_by_the_next_recovery() {
        let _scenario = serial();
        let runtime = runtime();
        for (failpoint, (backend, archive, _keep)) in ["archive:before_publish", "archive:after_publish"]
            .into_iter()
            .flat_map(|f| archives(&runtime).into_iter().map(move |b| (f, b)))
        {
            let failpoint_on = format!("{backend}: {failpoint}");
            let mut checkpoint = Checkpoint::default();
            // Crash right after the commit of the first set, before any publish.
            fail::cfg("archive:before_publish", "return").unwrap();
            assert!(run(&archive, &sets(1, 5), &mut checkpoint).is_err());
            fail::remove("archive:before_publish");

            fail::cfg(failpoint, "2*off->return").unwrap();
            assert!(
                archive.recover(&checkpoint.committed, checkpoint.high_water_mark).is_err(),
                "{failpoint_on}"
            );
            fail::remove(failpoint);
            archive.recover(&checkpoint.committed, checkpoint.high_water_mark).unwrap();
            assert_exactly_committed(&archive, &checkpoint, &failpoint_on);
        }
    }
}
