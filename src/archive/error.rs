//! What can go wrong in the archive, and whether retrying can help.
//!
//! The supervisor above the archive worker reads [`ArchiveError::is_transient`]: a transient
//! error (disk full, EIO, an interrupted call) is worth a restart after a backoff delay; a
//! permanent one (a batch that breaks the range contract, an unknown file name in a commit, a
//! committed file that vanished, a bad setting) will fail the same way again and escalates.
//! Object-storage requests are classified by [`crate::storage::class_of`].

use std::io;
use std::path::PathBuf;

use parquet::errors::ParquetError;

use crate::range::LedgerRange;
use crate::resilience::{Classify, FailureClass};
use crate::tables::Table;

/// Errors of the Parquet archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A filesystem call failed; `op` names the call ("create", "fsync", "rename", ...).
    #[error("archive: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The Parquet encoder rejected the rows (schema mismatch, unsupported type): a bug in
    /// ledgerflow or in its input, not a storage problem.
    #[error("archive: encoding {} as parquet: {source}", path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: ParquetError,
    },
    /// A relative path is not `<table>/date=YYYY-MM-DD/<table>-<first>-<last>.parquet`.
    #[error("archive: `{path}` is not an archive file name: {reason}")]
    BadFileName { path: String, reason: &'static str },
    /// A record batch breaks the contract the archive relies on (columns, order, dates).
    #[error("archive: table {table}: {reason}")]
    InvalidBatch { table: Table, reason: String },
    /// A ledger batch that does not follow the previous one, or whose close date is unknown.
    #[error("archive: ledger batch {range}: {reason}")]
    BadLedgerBatch { range: LedgerRange, reason: String },
    /// The checkpoint lists files that are neither staged nor published: they were deleted
    /// behind ledgerflow's back, and the ledgers they held are lost from the archive.
    #[error("archive: committed files are neither staged nor published: {}", paths.join(", "))]
    CommittedFileMissing { paths: Vec<String> },
    /// The checkpoint lists a file whose range ends after the checkpoint's high-water mark,
    /// which the commit protocol never produces.
    #[error(
        "archive: committed file {path} ends at ledger {last}, after the high-water mark {}",
        high_water_mark.map_or_else(|| "(none)".to_string(), |h| h.to_string())
    )]
    InconsistentCheckpoint { path: String, last: u32, high_water_mark: Option<u32> },
    /// `publish` was asked for a file that was never staged and is not published either.
    #[error("archive: {relative_path} is neither staged nor published")]
    NotStaged { relative_path: String },
    /// A setting is out of range.
    #[error("{key} = {value} is invalid; allowed: {allowed}")]
    InvalidConfig { key: &'static str, value: String, allowed: &'static str },
    /// An object-storage request failed; `op` names it ("put", "copy", "delete", "head",
    /// "get", "list") and `location` the object or prefix, as a URL. Classified like
    /// object_store's own errors ([`crate::storage::class_of`]): 5xx, 429, timeouts and
    /// dropped connections are transient; permission and authentication errors permanent.
    #[error("archive: {op} {location}: {source}")]
    ObjectStore {
        op: &'static str,
        location: String,
        #[source]
        source: object_store::Error,
    },
    /// The object-storage location `archive.url` could not be opened (URL, options).
    #[error("archive: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// A failpoint (`fail` crate, feature `failpoints`) returned an error on purpose.
    #[error("archive: failpoint {0} injected an error")]
    Injected(&'static str),
}

impl ArchiveError {
    /// Whether the same operation may succeed if retried later: storage errors such as ENOSPC,
    /// EIO or EINTR are transient; encode, contract, naming and configuration errors are
    /// permanent. Injected errors count as transient: they stand for a crash or a storage
    /// hiccup, and chaos tests expect the supervisor to restart the worker.
    pub fn is_transient(&self) -> bool {
        match self {
            ArchiveError::Io { source, .. } => io_error_is_transient(source),
            ArchiveError::ObjectStore { source, .. } => crate::storage::class_of(source).is_transient(),
            ArchiveError::Injected(_) => true,
            ArchiveError::Storage(source) => source.is_transient(),
            ArchiveError::Encode { .. }
            | ArchiveError::BadFileName { .. }
            | ArchiveError::InvalidBatch { .. }
            | ArchiveError::BadLedgerBatch { .. }
            | ArchiveError::CommittedFileMissing { .. }
            | ArchiveError::InconsistentCheckpoint { .. }
            | ArchiveError::NotStaged { .. }
            | ArchiveError::InvalidConfig { .. } => false,
        }
    }

    /// An [`ArchiveError::Io`] for `op` on `path`, for `map_err`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ArchiveError {
        let path = path.into();
        move |source| ArchiveError::Io { op, path, source }
    }

    /// Splits a Parquet error: an I/O failure underneath the encoder (the file could not be
    /// written) is an [`ArchiveError::Io`], so it is classified like any other storage error.
    pub(crate) fn from_parquet(path: impl Into<PathBuf>, source: ParquetError) -> ArchiveError {
        let path = path.into();
        match source {
            ParquetError::External(inner) => match inner.downcast::<io::Error>() {
                Ok(io_error) => ArchiveError::Io { op: "write", path, source: *io_error },
                Err(other) => ArchiveError::Encode { path, source: ParquetError::External(other) },
            },
            source => ArchiveError::Encode { path, source },
        }
    }
}

impl Classify for ArchiveError {
    fn class(&self) -> FailureClass {
        if ArchiveError::is_transient(self) { FailureClass::Transient } else { FailureClass::Permanent }
    }
}

/// Storage errors that retrying cannot fix: they need an operator (permissions, a read-only
/// mount, a path that is not a directory) or point at a bug (invalid input).
fn io_error_is_transient(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    !matches!(
        error.kind(),
        PermissionDenied
            | InvalidInput
            | InvalidData
            | InvalidFilename
            | Unsupported
            | NotADirectory
            | IsADirectory
            | ReadOnlyFilesystem
            | DirectoryNotEmpty
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_are_transient_and_contract_errors_permanent() {
        let io = |kind| ArchiveError::Io { op: "write", path: "x".into(), source: io::Error::from(kind) };
        assert!(io(io::ErrorKind::StorageFull).is_transient());
        assert!(io(io::ErrorKind::Interrupted).is_transient());
        assert!(
            ArchiveError::Io { op: "write", path: "x".into(), source: io::Error::from_raw_os_error(5) }
                .is_transient(),
            "EIO"
        );
        assert!(!io(io::ErrorKind::PermissionDenied).is_transient());
        assert!(ArchiveError::Injected("archive:after_stage").is_transient());
        let encode = ArchiveError::Encode { path: "x".into(), source: ParquetError::General("bad".into()) };
        assert!(!encode.is_transient());
        assert!(!ArchiveError::BadFileName { path: "x".into(), reason: "r" }.is_transient());
        assert_eq!(Classify::class(&encode), FailureClass::Permanent);
        assert_eq!(Classify::class(&io(io::ErrorKind::StorageFull)), FailureClass::Transient);
    }

    #[test]
    fn object_store_errors_are_classified_like_object_store_classifies_them() {
        let object = |source| ArchiveError::ObjectStore { op: "put", location: "s3://b/k".into(), source };
        let unavailable = object(object_store::Error::Generic { store: "S3", source: "503".into() });
        assert!(unavailable.is_transient());
        assert_eq!(unavailable.to_string(), "archive: put s3://b/k: Generic S3 error: 503");
        let denied = object(object_store::Error::PermissionDenied { path: "k".into(), source: "403".into() });
        assert!(!denied.is_transient());
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(unavailable);
        assert_eq!(FailureClass::of(boxed.as_ref()), Some(FailureClass::Transient));
    }

    #[test]
    fn io_errors_under_the_encoder_are_io_errors() {
        let source = ParquetError::External(Box::new(io::Error::from(io::ErrorKind::StorageFull)));
        let error = ArchiveError::from_parquet("f.parquet", source);
        assert!(matches!(error, ArchiveError::Io { op: "write", .. }), "{error:?}");
        assert!(error.is_transient());
        let error = ArchiveError::from_parquet("f.parquet", ParquetError::General("schema".into()));
        assert!(matches!(error, ArchiveError::Encode { .. }));
    }

    #[test]
    fn messages_name_the_path_and_the_failure() {
        let error = ArchiveError::Io {
            op: "fsync",
            path: "/a/b.parquet".into(),
            source: io::Error::from(io::ErrorKind::StorageFull),
        };
        let message = error.to_string();
        assert!(message.contains("fsync /a/b.parquet"), "{message}");
        let error = ArchiveError::InconsistentCheckpoint { path: "p".into(), last: 9, high_water_mark: None };
        assert!(error.to_string().contains("(none)"));
    }
}
