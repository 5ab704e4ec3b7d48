//! The two-phase commit of design §3 on object storage (S3, GCS, or a local directory through
//! object_store's `LocalFileSystem`): the same steps, names and recovery as the local root, with
//! requests instead of filesystem calls.
//!
//! 1. *stage*: the file is encoded in memory as its rows arrive (at most
//!    `archive.max_file_bytes` of Arrow, so the encoded bytes are fewer) and `put` to
//!    `<prefix>/_staging/<relative path>` once cut. A PUT is
//!    atomic: the staging key is either absent or whole, so it needs no fsync; a crash before
//!    the commit leaves a staging key that recovery deletes.
//! 2. *commit*: unchanged, in sled, with the same relative paths.
//! 3. *publish*: `copy` the staging key to `<prefix>/<relative path>` (atomic too), then
//!    `delete` the staging key. Idempotent: staging gone and final present is
//!    [`PublishOutcome::AlreadyPublished`]; both present (a crash between copy and delete)
//!    copies again, the same bytes.
//!
//! [`ObjectArchive::recover`] lists `_staging/`, rolls the committed keys forward, deletes the
//! other staging keys, and deletes published keys ending beyond the high-water mark that the
//! checkpoint does not name. [`ObjectArchive::scan`] lists `<table>/` and keeps the keys that
//! parse as archive file names.
//!
//! The archive's steps are synchronous (the actor runs them on `spawn_blocking`, as it does
//! the local root's fsyncs); each request is driven with `Handle::block_on` on the calling
//! thread. Call them from a blocking thread or a plain thread, never from an async worker
//! (tokio panics there). Without a runtime in scope (`ledgerflow verify`, tests), the archive
//! starts a one-worker runtime of its own for its requests.
//!
//! Failpoints: `archive:before_publish`, `archive:after_publish` here; the stage failpoints
//! are in `Archive::stage`, shared with the local root.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::runtime::{Handle, Runtime};

use super::ArchiveError;
use super::commit::{PublishOutcome, RecoveryReport, committed_keys};
use super::layout::{DEAD_LETTER_DIR, FileKey, STAGING_DIR, staging_relative_path};
use super::verify::ArchivedFile;
use crate::storage::{ObjectLocation, StorageOptions};
use crate::tables::Table;

/// An archive below an object-storage location.
#[derive(Clone)]
pub(crate) struct ObjectArchive {
    location: ObjectLocation,
    requests: Requests,
}

/// Where the archive's requests run.
#[derive(Clone)]
enum Requests {
    /// The process's runtime (the service's): requests use its I/O driver and timers.
    Ambient(Handle),
    /// A runtime of the archive's own, for callers without one.
    Owned(Arc<OwnedRuntime>),
}

/// A runtime that shuts down without blocking when the last archive using it is dropped, so
/// dropping it on an async thread cannot panic.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Requests {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Requests::Ambient(handle) => handle.block_on(future),
            Requests::Owned(owned) => match &owned.0 {
                Some(runtime) => runtime.handle().block_on(future),
                None => unreachable!("the runtime is taken only on drop"),
            },
        }
    }
}

impl fmt::Debug for ObjectArchive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectArchive").field("url", &self.location.url().as_str()).finish_non_exhaustive()
    }
}

impl ObjectArchive {
    /// An archive below `location` whose requests run on `runtime`.
    pub(crate) fn new(location: ObjectLocation, runtime: Handle) -> Self {
        ObjectArchive { location, requests: Requests::Ambient(runtime) }
    }

    /// Opens `url` (no request yet). Requests run on the runtime in scope, or on a runtime of
    /// the archive's own when there is none.
    pub(crate) fn open(url: &str, options: &StorageOptions) -> Result<Self, ArchiveError> {
        let location = ObjectLocation::open(url, "archive.url", options)?;
        let requests = match Handle::try_current() {
            Ok(handle) => Requests::Ambient(handle),
            Err(_) => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("ledgerflow-archive-io")
                    .enable_all()
                    .build()
                    .map_err(ArchiveError::io("start a runtime for", url))?;
                Requests::Owned(Arc::new(OwnedRuntime(Some(runtime))))
            }
        };
        Ok(ObjectArchive { location, requests })
    }

    pub(crate) fn location(&self) -> &ObjectLocation {
        &self.location
    }

    fn store(&self) -> &Arc<dyn ObjectStore> {
        self.location.store()
    }

    /// Runs one request for the object (or prefix) `relative`, naming both in its error.
    fn request<T>(
        &self,
        op: &'static str,
        relative: &str,
        future: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T, ArchiveError> {
        self.requests.block_on(future).map_err(|source| ArchiveError::ObjectStore {
            op,
            location: self.location.display(relative),
            source,
        })
    }

    /// Step 1 for a file encoded in memory: puts it at `key`'s staging key.
    pub(crate) fn put_staged(&self, key: &FileKey, encoded: Vec<u8>) -> Result<(), ArchiveError> {
        self.put(&staging_relative_path(key), encoded)
    }

    /// Puts `bytes` at `relative`, replacing any object there (atomic: absent or whole).
    fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<(), ArchiveError> {
        let path = self.location.path(relative);
        let payload = PutPayload::from(Bytes::from(bytes));
        self.request("put", relative, self.store().put(&path, payload))?;
        Ok(())
    }

    /// Step 3: copies the staging key into place, then deletes it. Call only for a file the
    /// checkpoint has committed.
    pub(crate) fn publish(&self, relative_path: &str) -> Result<PublishOutcome, ArchiveError> {
        fail::fail_point!("archive:before_publish", |_| Err(ArchiveError::Injected(
            "archive:before_publish"
        )));
        let key = FileKey::parse(relative_path)?;
        let published = key.relative_path();
        let staged = staging_relative_path(&key);
        let (from, to) = (self.location.path(&staged), self.location.path(&published));
        let outcome = match self.requests.block_on(self.store().copy(&from, &to)) {
            // The final key is whole now; the staging key is a leftover the next publish or
            // recovery would copy again (same bytes), so deleting it is the last step.
            Ok(()) => {
                self.delete(&staged)?;
                PublishOutcome::Published
            }
            Err(object_store::Error::NotFound { .. }) => {
                if self.size(&published)?.is_some() {
                    PublishOutcome::AlreadyPublished
                } else {
                    return Err(ArchiveError::NotStaged { relative_path: relative_path.to_string() });
                }
            }
            Err(source) => {
                return Err(ArchiveError::ObjectStore {
                    op: "copy",
                    location: self.location.display(&staged),
                    source,
                });
            }
        };
        fail::fail_point!("archive:after_publish", |_| Err(ArchiveError::Injected("archive:after_publish")));
        Ok(outcome)
    }

    /// Brings the objects in line with the checkpoint, as `commit::recover` does for a local
    /// root: rolls forward the committed staging keys, deletes the other staging keys and the
    /// published keys (not committed) ending beyond the high-water mark. Safe to run again
    /// after a crash part-way; fails with [`ArchiveError::CommittedFileMissing`], after doing
    /// everything else, when a committed file is neither staged nor published.
    pub(crate) fn recover(
        &self,
        committed: &[String],
        high_water_mark: Option<u32>,
    ) -> Result<RecoveryReport, ArchiveError> {
        let committed_keys = committed_keys(committed, high_water_mark)?;
        let mut report = RecoveryReport::default();
        for (relative_path, _) in self.list(STAGING_DIR)? {
            if committed_keys.contains_key(&relative_path) {
                self.publish(&relative_path)?;
                report.rolled_forward.push(relative_path);
            } else {
                self.delete(&format!("{STAGING_DIR}/{relative_path}"))?;
                report.deleted_staged.push(relative_path);
            }
        }

        let rolled_forward: BTreeSet<&String> = report.rolled_forward.iter().collect();
        let mut missing = Vec::new();
        let mut already_published = Vec::new();
        for relative_path in committed_keys.keys().filter(|p| !rolled_forward.contains(p)) {
            if self.size(relative_path)?.is_some() {
                already_published.push(relative_path.clone());
            } else {
                missing.push(relative_path.clone());
            }
        }
        report.already_published = already_published;

        for file in self.scan()? {
            if committed_keys.contains_key(&file.relative_path)
                || high_water_mark.is_some_and(|m| file.key.last() <= m)
            {
                continue;
            }
            self.delete(&file.relative_path)?;
            report.deleted_beyond_high_water_mark.push(file.relative_path);
        }
        if !missing.is_empty() {
            return Err(ArchiveError::CommittedFileMissing { paths: missing });
        }
        Ok(report)
    }

    /// Every published file, ordered by table, date and range. `path` is the object's URL.
    pub(crate) fn scan(&self) -> Result<Vec<ArchivedFile>, ArchiveError> {
        let mut files = Vec::new();
        for table in Table::ALL {
            for (below_table, bytes) in self.list(table.name())? {
                let relative_path = format!("{}/{below_table}", table.name());
                let Ok(key) = FileKey::parse(&relative_path) else { continue };
                files.push(ArchivedFile {
                    key,
                    path: PathBuf::from(self.location.display(&relative_path)),
                    relative_path,
                    bytes,
                });
            }
        }
        files.sort_by_key(|file| file.key);
        Ok(files)
    }

    /// The size of the object `relative`, `None` when there is none.
    pub(crate) fn size(&self, relative: &str) -> Result<Option<u64>, ArchiveError> {
        match self.requests.block_on(self.store().head(&self.location.path(relative))) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(ArchiveError::ObjectStore {
                op: "head",
                location: self.location.display(relative),
                source,
            }),
        }
    }

    /// The bytes of the object `relative`.
    pub(crate) fn read(&self, relative: &str) -> Result<Bytes, ArchiveError> {
        let path = self.location.path(relative);
        let store = self.store().clone();
        self.request("get", relative, async move { store.get(&path).await?.bytes().await })
    }

    /// Puts each `(file name, bytes)` under `_dead_letter/`.
    pub(crate) fn write_dead_letters(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), ArchiveError> {
        for (name, bytes) in files {
            self.put(&format!("{DEAD_LETTER_DIR}/{name}"), bytes)?;
        }
        Ok(())
    }

    /// Deletes `relative`; an object already gone counts as deleted (recovery may run twice).
    fn delete(&self, relative: &str) -> Result<(), ArchiveError> {
        match self.requests.block_on(self.store().delete(&self.location.path(relative))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(ArchiveError::ObjectStore {
                op: "delete",
                location: self.location.display(relative),
                source,
            }),
        }
    }

    /// Every object below the directory `relative_dir`, as (`/`-separated path below it, size),
    /// sorted.
    fn list(&self, relative_dir: &str) -> Result<Vec<(String, u64)>, ArchiveError> {
        let dir = self.location.path(relative_dir);
        let objects: Vec<object_store::ObjectMeta> =
            self.request("list", relative_dir, self.store().list(Some(&dir)).try_collect())?;
        let mut found: Vec<(String, u64)> = objects
            .into_iter()
            .filter_map(|meta| {
                let below = meta.location.prefix_match(&dir)?.map(|part| part.as_ref().to_owned());
                let below: Vec<String> = below.collect();
                (!below.is_empty()).then(|| (below.join("/"), meta.size))
            })
            .collect();
        found.sort();
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::archive::test_support::{
        MemorySet, ObjectFixture, contents, object_fixtures, object_keys, range, runtime, serial, set_of,
        stage_set,
    };
    use crate::archive::{
        Archive, ArchiveStore, Area, Compression, StagedFile, StoredFile, WriterOptions, coverage,
    };

    fn options() -> WriterOptions {
        WriterOptions { compression: Compression::default(), max_row_group_rows: 3 }
    }

    fn archive_on(fixture: &ObjectFixture, runtime: &Runtime) -> Archive {
        let store = ArchiveStore::object(fixture.location.clone(), runtime.handle().clone());
        Archive::on_store(store, options()).unwrap()
    }

    fn sorted(mut paths: Vec<String>) -> Vec<String> {
        paths.sort();
        paths
    }

    /// Stage, commit (the returned checkpoint), publish.
    fn commit_set(archive: &Archive, set: &MemorySet) -> Vec<StagedFile> {
        let staged = stage_set(archive, set).unwrap();
        for file in &staged {
            assert_eq!(archive.publish(file).unwrap(), PublishOutcome::Published);
        }
        staged
    }

    #[test]
    fn stage_puts_what_the_local_root_writes_and_publish_copies_it_into_place() {
        let _serial = serial();
        let runtime = runtime();
        let local_dir = tempfile::tempdir().unwrap();
        let local = Archive::open(local_dir.path(), options()).unwrap();
        let set = set_of(1, 10, 0);
        let local_staged = stage_set(&local, &set).unwrap();
        for fixture in object_fixtures() {
            let name = fixture.name;
            let archive = archive_on(&fixture, &runtime);
            let staged = stage_set(&archive, &set).unwrap();
            assert_eq!(staged, local_staged, "{name}: same names, rows and sizes as the local root");
            assert_eq!(contents(&archive), (Vec::new(), sorted(set.relative_paths())), "{name}");
            for file in &staged {
                // Byte for byte what the local root fsynced.
                let local_bytes =
                    std::fs::read(crate::archive::staging_path(local_dir.path(), &file.key)).unwrap();
                let StoredFile::Object(bytes) = archive.store().open_file(&file.key, Area::Staging).unwrap()
                else {
                    panic!("{name}: an object store reads objects")
                };
                assert_eq!(bytes.as_ref(), local_bytes.as_slice(), "{name}: {}", file.relative_path);
                let read = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
                let rows: usize = read.map(|b| b.unwrap().num_rows()).sum();
                assert_eq!(rows as u64, file.rows, "{name}");
                assert_eq!(archive.store().size_of(&file.key, Area::Published).unwrap(), None, "{name}");
            }

            for file in &staged {
                assert_eq!(archive.publish(file).unwrap(), PublishOutcome::Published, "{name}");
                assert_eq!(archive.publish(file).unwrap(), PublishOutcome::AlreadyPublished, "{name}");
            }
            assert_eq!(contents(&archive), (sorted(set.relative_paths()), Vec::new()), "{name}");
            let scanned = archive.scan().unwrap();
            assert_eq!(
                scanned.iter().map(|f| (f.key, f.bytes)).collect::<Vec<_>>(),
                sorted_by_key(staged.iter().map(|f| (f.key, f.bytes)).collect()),
                "{name}"
            );
            assert_eq!(
                scanned[0].path,
                PathBuf::from(fixture.location.display(&scanned[0].relative_path)),
                "{name}: a scanned object's path is its URL"
            );

            let never = "ledgers/date=1970-01-01/ledgers-0000000011-0000000020.parquet";
            let error = archive.store().publish(never).unwrap_err();
            assert!(matches!(error, ArchiveError::NotStaged { .. }), "{name}: {error}");
            let error = archive.store().publish("../etc/passwd").unwrap_err();
            assert!(matches!(error, ArchiveError::BadFileName { .. }), "{name}: {error}");
        }
    }

    fn sorted_by_key(mut pairs: Vec<(FileKey, u64)>) -> Vec<(FileKey, u64)> {
        pairs.sort();
        pairs
    }

    #[test]
    fn recover_rolls_forward_deletes_and_leaves_the_rest() {
        let _serial = serial();
        let runtime = runtime();
        for fixture in object_fixtures() {
            let name = fixture.name;
            let archive = archive_on(&fixture, &runtime);
            let put = |relative: &str| {
                let path = fixture.location.path(relative);
                let payload = PutPayload::from_static(b"x");
                runtime.block_on(fixture.location.store().put(&path, payload)).unwrap();
            };
            // Commit 1 is complete. Commit 2 is recorded but only half published.
            let first = set_of(1, 10, 0);
            commit_set(&archive, &first);
            let second = set_of(11, 20, 1);
            let staged_second = stage_set(&archive, &second).unwrap();
            archive.publish(&staged_second[0]).unwrap();
            archive.publish(&staged_second[2]).unwrap();
            // Staged but never committed: ledgers 21..=30.
            stage_set(&archive, &set_of(21, 30, 1)).unwrap();
            // Published without a commit (impossible in the protocol): ledgers 31..=35.
            let rogue = set_of(31, 35, 1);
            commit_set(&archive, &rogue);
            // A file straddling the mark is beyond it too, and garbage in staging goes.
            let straddling = set_of(15, 25, 1);
            archive.publish(&straddling.files[1].stage(&archive).unwrap()).unwrap();
            put("_staging/partial.tmp");
            // Objects that are not archive files are left alone.
            put("ledgers/README");

            let report = archive.recover(&second.relative_paths(), Some(20)).unwrap();
            let paths = second.relative_paths();
            assert_eq!(
                sorted(report.rolled_forward.clone()),
                sorted(vec![paths[1].clone(), paths[3].clone()])
            );
            assert_eq!(
                sorted(report.already_published.clone()),
                sorted(vec![paths[0].clone(), paths[2].clone()])
            );
            let mut deleted_staged = set_of(21, 30, 1).relative_paths();
            deleted_staged.push("partial.tmp".into());
            assert_eq!(sorted(report.deleted_staged.clone()), sorted(deleted_staged), "{name}");
            let mut beyond = rogue.relative_paths();
            beyond.push(straddling.files[1].key.relative_path());
            assert_eq!(sorted(report.deleted_beyond_high_water_mark.clone()), sorted(beyond), "{name}");
            assert_eq!(
                report.to_string(),
                "rolled forward 2, already published 2, deleted 5 staged, deleted 5 beyond the high-water mark"
            );

            let mut expected = first.relative_paths();
            expected.extend(second.relative_paths());
            expected.push("ledgers/README".into());
            assert_eq!(contents(&archive), (sorted(expected), Vec::new()), "{name}");

            // A second recovery finds nothing to do.
            let again = archive.recover(&second.relative_paths(), Some(20)).unwrap();
            assert!(!again.changed_anything(), "{name}: {again:?}");
            assert_eq!(again.already_published.len(), Table::LEDGER_TABLES.len());
        }
    }

    /// The crash states between the protocol's steps, each made by hand, then recovery and the
    /// replay a restarted worker does: the archive ends with every ledger exactly once.
    #[test]
    fn a_crash_between_any_two_steps_recovers_and_the_replay_completes_the_archive() {
        let _serial = serial();
        let runtime = runtime();
        for fixture in object_fixtures() {
            for crash in ["after stage", "after commit", "between copy and delete", "published beyond"] {
                let context = format!("{}: crash {crash}", fixture.name);
                // A fresh store per crash: a prefix of its own.
                let location = ObjectLocation::from_store(
                    fixture.location.url().as_str(),
                    fixture.location.store().clone(),
                    &format!("{}/{}", fixture.location.prefix(), crash.replace(' ', "-")),
                );
                let archive = Archive::on_store(
                    ArchiveStore::object(location.clone(), runtime.handle().clone()),
                    options(),
                )
                .unwrap();
                commit_set(&archive, &set_of(1, 10, 0));
                let mut committed = (set_of(1, 10, 0).relative_paths(), Some(10));
                let next = set_of(11, 20, 1);
                let staged = stage_set(&archive, &next).unwrap();
                match crash {
                    "after stage" => {}
                    "after commit" => committed = (next.relative_paths(), Some(20)),
                    "between copy and delete" => {
                        committed = (next.relative_paths(), Some(20));
                        for file in &staged {
                            let from = location.path(&staging_relative_path(&file.key));
                            let to = location.path(&file.relative_path);
                            runtime.block_on(location.store().copy(&from, &to)).unwrap();
                        }
                    }
                    "published beyond" => {
                        for file in &staged {
                            archive.publish(file).unwrap();
                        }
                    }
                    _ => unreachable!(),
                }
                let report = archive.recover(&committed.0, committed.1).unwrap();
                let (published, staging) = contents(&archive);
                assert!(staging.is_empty(), "{context}: {report}");
                let mut expected = set_of(1, 10, 0).relative_paths();
                if committed.1 == Some(20) {
                    assert_eq!(
                        sorted(report.rolled_forward.clone()),
                        sorted(next.relative_paths()),
                        "{context}"
                    );
                    expected.extend(next.relative_paths());
                } else if crash == "after stage" {
                    assert_eq!(
                        sorted(report.deleted_staged.clone()),
                        sorted(next.relative_paths()),
                        "{context}"
                    );
                } else {
                    assert_eq!(
                        sorted(report.deleted_beyond_high_water_mark.clone()),
                        sorted(next.relative_paths()),
                        "{context}"
                    );
                }
                assert_eq!(published, sorted(expected), "{context}");

                // The replay from the checkpoint writes the same names and completes the archive.
                let resume = committed.1.map_or(1, |mark| mark + 1);
                for set in [set_of(11, 20, 1), set_of(21, 30, 2)].iter().filter(|s| s.range.first() >= resume)
                {
                    commit_set(&archive, set);
                }
                let files = archive.scan().unwrap();
                for table in Table::LEDGER_TABLES {
                    let coverage = coverage(&files, table, range(1, 30));
                    assert!(coverage.is_exact() && coverage.outside.is_empty(), "{context}: {coverage:?}");
                }
            }
        }
    }

    #[test]
    fn recover_reports_committed_files_that_vanished() {
        let _serial = serial();
        let runtime = runtime();
        let fixture = object_fixtures().remove(0);
        let archive = archive_on(&fixture, &runtime);
        let set = set_of(1, 10, 0);
        let staged = stage_set(&archive, &set).unwrap();
        let gone = fixture.location.path(&staging_relative_path(&staged[3].key));
        runtime.block_on(fixture.location.store().delete(&gone)).unwrap();
        let error = archive.recover(&set.relative_paths(), Some(10)).unwrap_err();
        let ArchiveError::CommittedFileMissing { paths } = &error else { panic!("{error:?}") };
        assert_eq!(paths, &vec![set.relative_paths()[3].clone()]);
        assert!(!error.is_transient());
        assert_eq!(contents(&archive).0.len(), 3, "everything else was rolled forward");
        let error = archive.recover(&set.relative_paths(), Some(9)).unwrap_err();
        assert!(matches!(error, ArchiveError::InconsistentCheckpoint { last: 10, .. }), "{error}");
    }

    #[test]
    fn scan_lists_archive_files_only() {
        let runtime = runtime();
        for fixture in object_fixtures() {
            let archive = archive_on(&fixture, &runtime);
            for (relative, bytes) in [
                ("ledgers/date=1970-01-01/ledgers-0000000001-0000000010.parquet", 7),
                ("ledgers/date=1970-01-02/ledgers-0000000011-0000000020.parquet", 3),
                ("contract_events/date=1970-01-01/contract_events-0000000001-0000000010.parquet", 1),
                // Foreign, staged and misplaced objects are not archive files.
                ("ledgers/date=1970-01-01/notes.txt", 1),
                ("ledgers/date=1970-01-01/ledgers-0000000001-0000000010.parquet.tmp", 1),
                ("_staging/ledgers/date=1970-01-01/ledgers-0000000021-0000000030.parquet", 1),
                ("operations/date=1970-01-01/ledgers-0000000001-0000000010.parquet", 1),
                ("operations/stray.parquet", 1),
                ("ledgers_old/date=1970-01-01/ledgers-0000000001-0000000010.parquet", 1),
            ] {
                let payload = PutPayload::from(vec![b'p'; bytes]);
                runtime
                    .block_on(fixture.location.store().put(&fixture.location.path(relative), payload))
                    .unwrap();
            }
            let found = archive.scan().unwrap();
            let names: Vec<(&str, u64)> = found.iter().map(|f| (f.relative_path.as_str(), f.bytes)).collect();
            assert_eq!(
                names,
                vec![
                    ("ledgers/date=1970-01-01/ledgers-0000000001-0000000010.parquet", 7),
                    ("ledgers/date=1970-01-02/ledgers-0000000011-0000000020.parquet", 3),
                    ("contract_events/date=1970-01-01/contract_events-0000000001-0000000010.parquet", 1),
                ],
                "{}",
                fixture.name
            );
        }
    }

    #[test]
    fn dead_letters_are_kept_under_their_directory() {
        let runtime = runtime();
        let dir = tempfile::tempdir().unwrap();
        let local = ArchiveStore::local(dir.path());
        let files =
            || vec![("a.xdr".to_string(), b"raw".to_vec()), ("a.error.txt".to_string(), b"why".to_vec())];
        local.write_dead_letters(files()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("_dead_letter/a.xdr")).unwrap(), b"raw");
        assert_eq!(std::fs::read(dir.path().join("_dead_letter/a.error.txt")).unwrap(), b"why");
        for fixture in object_fixtures() {
            let store = ArchiveStore::object(fixture.location.clone(), runtime.handle().clone());
            store.write_dead_letters(files()).unwrap();
            assert_eq!(
                object_keys(&fixture.location),
                vec!["_dead_letter/a.error.txt", "_dead_letter/a.xdr"]
            );
            let path = fixture.location.path("_dead_letter/a.xdr");
            let bytes = runtime.block_on(async { fixture.location.store().get(&path).await?.bytes().await });
            assert_eq!(bytes.unwrap().as_ref(), b"raw", "{}", fixture.name);
        }
    }

    #[test]
    fn file_urls_open_outside_a_runtime_and_go_through_the_object_store() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("bucket");
        let config = crate::archive::ArchiveConfig {
            root: dir.path().join("state"),
            url: Some(format!("file://{}", bucket.display())),
            ..Default::default()
        };
        // No runtime here: the archive runs its requests on one of its own.
        let archive = Archive::from_config(&config).unwrap();
        assert_eq!(archive.store().local_root(), None);
        assert_eq!(archive.store().to_string(), format!("file://{}", bucket.display()));
        assert!(!config.root.exists(), "the local root is only for the checkpoint");
        let set = set_of(1, 5, 0);
        commit_set(&archive, &set);
        let mut on_disk =
            crate::archive::scan(&bucket).unwrap().into_iter().map(|f| f.relative_path).collect();
        on_disk = sorted(on_disk);
        assert_eq!(on_disk, sorted(set.relative_paths()), "the bucket holds the same tree as a local root");
        assert!(!bucket.join("_staging/ledgers/date=1970-01-01").read_dir().unwrap().any(|_| true));
        drop(archive);
    }

    #[test]
    fn s3_urls_go_through_the_same_steps_and_an_unreachable_endpoint_is_transient() {
        let runtime = runtime();
        let _entered = runtime.enter();
        let config = crate::archive::ArchiveConfig {
            url: Some("s3://bucket/some/prefix".into()),
            storage_options: [
                ("aws_endpoint", "http://127.0.0.1:9"),
                ("aws_allow_http", "true"),
                ("aws_region", "us-east-1"),
                ("aws_skip_signature", "true"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..Default::default()
        };
        let store = ArchiveStore::from_config(&config).unwrap();
        assert_eq!(
            store.object_location().map(|l| l.prefix().as_ref().to_owned()),
            Some("some/prefix".into())
        );
        let error = store.scan().unwrap_err();
        let ArchiveError::ObjectStore { op, location, .. } = &error else { panic!("{error:?}") };
        assert_eq!((*op, location.as_str()), ("list", "s3://bucket/some/prefix/ledgers"));
        assert!(error.is_transient(), "{error}");
        let error = ArchiveStore::from_config(&crate::archive::ArchiveConfig {
            url: Some("s3://bucket/p".into()),
            storage_options: [("aws_secret_access_key".to_string(), "x".to_string())].into_iter().collect(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(error, ArchiveError::Storage(_)) && !error.is_transient(), "{error}");
    }
}
