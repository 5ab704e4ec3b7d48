//! Where the Parquet tree lives: a local directory (`archive.root`) or an object-storage
//! location (`archive.url`: `s3://`, `gs://`, `file://`), behind one set of protocol steps
//! (design §3). The steps and names are the same on both; only the calls differ:
//!
//! | step    | local root (`commit.rs`)                         | object store (`object.rs`)           |
//! |---------|--------------------------------------------------|--------------------------------------|
//! | stage   | encode to a `.partial` file, fsync, rename, fsync | encode in memory, `put` staging key |
//! | publish | rename + fsync both directories                  | `copy` to the final key, `delete`    |
//! | recover | list `_staging/`, roll forward, trim             | the same with `list` and `delete`    |
//! | scan    | read `<table>/date=*/` directories               | `list` `<table>/`                    |
//!
//! The object-store steps block the calling thread on their requests: call every method from
//! a blocking thread (`spawn_blocking`) or a plain thread, as the local root's fsyncs need.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use chrono::NaiveDate;
use tokio::runtime::Handle;

use super::ArchiveError;
use super::commit::{PublishOutcome, RecoveryReport, publish_path, recover};
use super::durable::{create_dir_all_durable, sync_dir};
use super::layout::{
    DEAD_LETTER_DIR, FileKey, SEQUENCE_DIGITS, published_path, staging_path, staging_relative_path,
};
use super::object::ObjectArchive;
use super::verify::{ArchivedFile, scan};
use super::writer::{FileEncoder, FileStats, WriterOptions};
use crate::range::LedgerRange;
use crate::storage::ObjectLocation;
use crate::tables::Table;

/// The storage below an archive: a local root or an object-storage location.
#[derive(Debug, Clone)]
pub struct ArchiveStore(Backend);

#[derive(Debug, Clone)]
enum Backend {
    Local(PathBuf),
    Object(ObjectArchive),
}

/// Which copy of a file: the staged one (written, not yet published) or the published one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Staging,
    Published,
}

/// An archive file opened for reading: Parquet readers take either.
#[derive(Debug)]
pub enum StoredFile {
    /// A local file, read in place.
    Local(File),
    /// An object's bytes, fetched whole (files are bounded by `archive.max_file_bytes`).
    Object(Bytes),
}

impl ArchiveStore {
    /// The local directory `root` (no I/O).
    pub fn local(root: impl Into<PathBuf>) -> Self {
        ArchiveStore(Backend::Local(root.into()))
    }

    /// Objects below `location`, requested on `runtime` (tests: `object_store::memory::InMemory`
    /// or `LocalFileSystem` through [`ObjectLocation::from_store`]).
    pub fn object(location: ObjectLocation, runtime: Handle) -> Self {
        ArchiveStore(Backend::Object(ObjectArchive::new(location, runtime)))
    }

    /// `archive.url` when set (opened without a request: requests run on the runtime in scope,
    /// or on one of the store's own outside any runtime), else `archive.root`. Creates nothing.
    pub fn from_config(config: &super::ArchiveConfig) -> Result<Self, ArchiveError> {
        Ok(match &config.url {
            Some(url) => ArchiveStore(Backend::Object(ObjectArchive::open(url, &config.storage_options)?)),
            None => ArchiveStore::local(&config.root),
        })
    }

    /// The local root, `None` for an object store.
    pub fn local_root(&self) -> Option<&Path> {
        match &self.0 {
            Backend::Local(root) => Some(root),
            Backend::Object(_) => None,
        }
    }

    /// The object-storage location, `None` for a local root.
    pub fn object_location(&self) -> Option<&ObjectLocation> {
        match &self.0 {
            Backend::Local(_) => None,
            Backend::Object(object) => Some(object.location()),
        }
    }

    /// Creates what a local root needs before the first stage (the root and `_staging/`,
    /// durably); an object store needs nothing.
    pub(crate) fn prepare(&self) -> Result<(), ArchiveError> {
        match &self.0 {
            Backend::Local(root) => create_dir_all_durable(&root.join(super::STAGING_DIR)),
            Backend::Object(_) => Ok(()),
        }
    }

    /// Opens a file of `table` on `date` from ledger `first` for step 1: rows are encoded as
    /// they are written to it, and [`StagingFile::stage`] makes it durable under its name once
    /// its last ledger is known. Local: a `.partial` file beside the staging name (recovery
    /// deletes it, as any file under `_staging/` no commit names); object store: in memory.
    pub(crate) fn create(
        &self,
        table: Table,
        schema: &SchemaRef,
        date: NaiveDate,
        first: u32,
        options: &WriterOptions,
    ) -> Result<StagingFile, ArchiveError> {
        // A token per file keeps two writers of the same range (a worker restarted while its
        // predecessor's thread still runs) off each other's partial file.
        static TOKEN: AtomicU64 = AtomicU64::new(0);
        let token = TOKEN.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{}-{first:0width$}.{}-{token}.partial",
            table.name(),
            std::process::id(),
            width = SEQUENCE_DIGITS
        );
        let partition = FileKey::new(table, date, LedgerRange::single(first))?.partition_dir();
        Ok(StagingFile(match &self.0 {
            Backend::Local(root) => {
                let dir = root.join(super::STAGING_DIR).join(&partition);
                create_dir_all_durable(&dir)?;
                let path = dir.join(&name);
                let file = File::create(&path).map_err(ArchiveError::io("create", &path))?;
                let partial = RemoveOnDrop(Some(path.clone()));
                let encoder = FileEncoder::new(file, path, table, schema, date, first, options)?;
                Staging::Local { encoder, partial, root: root.clone() }
            }
            Backend::Object(object) => {
                let url = object.location().display(&format!("{}/{partition}/{name}", super::STAGING_DIR));
                let encoder = FileEncoder::new(Vec::new(), url.into(), table, schema, date, first, options)?;
                Staging::Object { encoder, object: object.clone() }
            }
        }))
    }

    /// Step 3 for `relative_path`; call only after the checkpoint committed it.
    pub fn publish(&self, relative_path: &str) -> Result<PublishOutcome, ArchiveError> {
        match &self.0 {
            Backend::Local(root) => publish_path(root, relative_path),
            Backend::Object(object) => object.publish(relative_path),
        }
    }

    /// Recovery at start (design §3): see [`recover`] (the local root) and `object.rs`.
    pub fn recover(
        &self,
        committed: &[String],
        high_water_mark: Option<u32>,
    ) -> Result<RecoveryReport, ArchiveError> {
        match &self.0 {
            Backend::Local(root) => recover(root, committed, high_water_mark),
            Backend::Object(object) => object.recover(committed, high_water_mark),
        }
    }

    /// Every published file, ordered by table, date and range (names only, no content read).
    pub fn scan(&self) -> Result<Vec<ArchivedFile>, ArchiveError> {
        match &self.0 {
            Backend::Local(root) => scan(root),
            Backend::Object(object) => object.scan(),
        }
    }

    /// Where `key`'s copy in `area` is, for messages: a local path or the object's URL.
    pub fn path_of(&self, key: &FileKey, area: Area) -> PathBuf {
        match &self.0 {
            Backend::Local(root) => local_path(root, key, area),
            Backend::Object(object) => PathBuf::from(object.location().display(&relative(key, area))),
        }
    }

    /// The size of `key`'s copy in `area`, `None` when there is none.
    pub fn size_of(&self, key: &FileKey, area: Area) -> Result<Option<u64>, ArchiveError> {
        match &self.0 {
            Backend::Local(root) => {
                let path = local_path(root, key, area);
                match std::fs::metadata(&path) {
                    Ok(metadata) => Ok(Some(metadata.len())),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(error) => Err(ArchiveError::io("stat", &path)(error)),
                }
            }
            Backend::Object(object) => object.size(&relative(key, area)),
        }
    }

    /// Opens `key`'s copy in `area` for reading.
    pub fn open_file(&self, key: &FileKey, area: Area) -> Result<StoredFile, ArchiveError> {
        match &self.0 {
            Backend::Local(root) => {
                let path = local_path(root, key, area);
                File::open(&path).map(StoredFile::Local).map_err(ArchiveError::io("open", &path))
            }
            Backend::Object(object) => object.read(&relative(key, area)).map(StoredFile::Object),
        }
    }

    /// Writes each `(file name, bytes)` under `_dead_letter/`, durably (local: each file and the
    /// directory fsynced; object store: one put each). The checkpoint then names them by
    /// `_dead_letter/<file name>`.
    pub fn write_dead_letters(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), ArchiveError> {
        match &self.0 {
            Backend::Local(root) => {
                let dir = root.join(DEAD_LETTER_DIR);
                create_dir_all_durable(&dir)?;
                for (name, bytes) in files {
                    let path = dir.join(name);
                    write_synced(&path, &bytes)?;
                }
                sync_dir(&dir)
            }
            Backend::Object(object) => object.write_dead_letters(files),
        }
    }
}

/// One file of step 1 being written: see [`ArchiveStore::create`].
pub struct StagingFile(Staging);

enum Staging {
    Local { encoder: FileEncoder<File>, partial: RemoveOnDrop, root: PathBuf },
    Object { encoder: FileEncoder<Vec<u8>>, object: ObjectArchive },
}

/// A partial file, removed (best effort) when its writer is dropped before it was staged: a
/// failed write, a rewind, a shutdown. Whatever a crash leaves, recovery deletes.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    /// The file was renamed into its staging name: nothing to remove.
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl StagingFile {
    /// Checks `batch` against the file and encodes it (see [`FileEncoder`]). On error the
    /// file is unusable: drop it (recovery deletes what it left).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), ArchiveError> {
        match &mut self.0 {
            Staging::Local { encoder, .. } => encoder.write(batch),
            Staging::Object { encoder, .. } => encoder.write(batch),
        }
    }

    /// Closes the file as `key` and makes it durable under `_staging/` (local: fsync, rename
    /// to the staging name, fsync the directory; object store: one put of the staging key).
    pub(crate) fn stage(self, key: &FileKey) -> Result<FileStats, ArchiveError> {
        match self.0 {
            Staging::Local { encoder, partial, root } => {
                let (file, rows) = encoder.finish(key)?;
                file.sync_all().map_err(ArchiveError::io("fsync", partial.path()))?;
                let bytes = file.metadata().map_err(ArchiveError::io("stat", partial.path()))?.len();
                drop(file);
                let path = staging_path(&root, key);
                std::fs::rename(partial.path(), &path).map_err(ArchiveError::io("rename", partial.path()))?;
                partial.keep();
                // The bytes are synced; the name is durable once the directory is.
                sync_dir(path.parent().unwrap_or(Path::new(".")))?;
                Ok(FileStats { rows, bytes })
            }
            Staging::Object { encoder, object } => {
                let (encoded, rows) = encoder.finish(key)?;
                let bytes = encoded.len() as u64;
                object.put_staged(key, encoded)?;
                Ok(FileStats { rows, bytes })
            }
        }
    }
}

impl fmt::Debug for StagingFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Staging::Local { partial, .. } => f.debug_tuple("StagingFile").field(&partial.path()).finish(),
            Staging::Object { object, .. } => {
                f.debug_tuple("StagingFile").field(&object.location().url().as_str()).finish()
            }
        }
    }
}

impl fmt::Display for ArchiveStore {
    /// The root directory, or the location's URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Backend::Local(root) => write!(f, "{}", root.display()),
            Backend::Object(object) => f.write_str(object.location().url().as_str()),
        }
    }
}

/// `key`'s path in `area` below the local `root`.
fn local_path(root: &Path, key: &FileKey, area: Area) -> PathBuf {
    match area {
        Area::Staging => staging_path(root, key),
        Area::Published => published_path(root, key),
    }
}

/// `key`'s path in `area`, relative to the root.
fn relative(key: &FileKey, area: Area) -> String {
    match area {
        Area::Staging => staging_relative_path(key),
        Area::Published => key.relative_path(),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ArchiveError> {
    use std::io::Write;
    let mut file = File::create(path).map_err(ArchiveError::io("create", path))?;
    file.write_all(bytes).map_err(ArchiveError::io("write", path))?;
    file.sync_all().map_err(ArchiveError::io("fsync", path))
}
