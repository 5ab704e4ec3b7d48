//! Where the Parquet tree lives: a local directory (`archive.root`) or an object-storage
//! location (`archive.url`: `s3://`, `gs://`, `file://`), behind one set of protocol steps
//! (design §3). The steps and names are the same on both; only the calls differ:
//!
//! | step    | local root (`commit.rs`)             | object store (`object.rs`)           |
//! |---------|--------------------------------------|--------------------------------------|
//! | stage   | write + fsync file and directory     | encode in memory, `put` staging key  |
//! | publish | rename + fsync both directories      | `copy` to the final key, `delete`    |
//! | recover | list `_staging/`, roll forward, trim | the same with `list` and `delete`    |
//! | scan    | read `<table>/date=*/` directories   | `list` `<table>/`                    |
//!
//! The object-store steps block the calling thread on their requests: call every method from
//! a blocking thread (`spawn_blocking`) or a plain thread, as the local root's fsyncs need.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::runtime::Handle;

use super::ArchiveError;
use super::commit::{PublishOutcome, RecoveryReport, publish_path, recover};
use super::durable::{create_dir_all_durable, sync_dir};
use super::layout::{DEAD_LETTER_DIR, FileKey, published_path, staging_path, staging_relative_path};
use super::object::ObjectArchive;
use super::verify::{ArchivedFile, scan};
use crate::storage::ObjectLocation;

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

    /// Step 1 for rows already checked against `key`: the file under `_staging/`, durable.
    pub(crate) fn stage(
        &self,
        key: &FileKey,
        schema: &arrow::datatypes::SchemaRef,
        batches: &[arrow::record_batch::RecordBatch],
        options: &super::WriterOptions,
    ) -> Result<super::writer::FileStats, ArchiveError> {
        match &self.0 {
            Backend::Local(root) => {
                let path = staging_path(root, key);
                let dir = path.parent().unwrap_or(Path::new("."));
                create_dir_all_durable(dir)?;
                let stats = super::writer::write_file(&path, key, schema, batches, options)?;
                // The file's bytes are synced by write_file; its name is durable once the
                // directory is.
                sync_dir(dir)?;
                Ok(stats)
            }
            Backend::Object(object) => object.stage(key, schema, batches, options),
        }
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
