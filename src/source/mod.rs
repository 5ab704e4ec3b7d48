//! Ledger sources: where the raw bytes of a stream come from.
//!
//! A [`LedgerSource`] hands out [`RawBatch`]es: a contiguous [`LedgerRange`] and the objects
//! (still encoded, maybe compressed) that hold it. Decoding is left to the convert stage, which
//! runs in parallel; a source only does I/O (or, for the synthetic generator, produces bytes).
//!
//! - [`SyntheticSource`]: the embedded default, the deterministic generator.
//! - [`DataStoreSource`]: a local SEP-54 directory (what `ledgerflow generate` and Galexie
//!   write), bounded or followed as new objects appear.
//! - [`RemoteDataStoreSource`]: a SEP-54 store in object storage (S3, GCS), fetched ahead in
//!   parallel with adaptive concurrency and a byte-bounded read-ahead.

mod datastore;
mod remote;
mod synthetic;

use std::path::PathBuf;

pub use datastore::DataStoreSource;
pub use remote::{RemoteDataStoreSource, RemoteStore};
pub use synthetic::SyntheticSource;

use crate::decode::{DecodeError, Framing};
use crate::network::Network;
use crate::range::LedgerRange;
use crate::resilience::{Classify, FailureClass};

/// One object's bytes as read from the source.
#[derive(Debug, Clone)]
pub struct RawObject {
    /// Where it came from (path or key), for errors and dead letters.
    pub name: String,
    pub bytes: Vec<u8>,
    pub framing: Framing,
    /// The ledgers the object holds, when the source knows (a store object's name, a single
    /// generated ledger): a corrupt object then dead-letters exactly those ledgers.
    pub holds: Option<LedgerRange>,
}

/// The objects holding the ledgers of `range`, in order. Objects may hold ledgers outside the
/// range (a resumed stream starts mid-object); the convert stage keeps only `range`.
#[derive(Debug, Clone)]
pub struct RawBatch {
    pub range: LedgerRange,
    pub objects: Vec<RawObject>,
}

impl RawBatch {
    /// Bytes held, the unit of the pipeline's in-flight byte budget.
    pub fn bytes(&self) -> usize {
        self.objects.iter().map(|o| o.bytes.len()).sum()
    }
}

/// What a read returned.
#[derive(Debug)]
pub enum SourceRead {
    Batch(RawBatch),
    /// The next ledger does not exist yet (follow mode): ask again later.
    NotYet,
    /// The source has no ledger at or after the one asked for, and never will.
    End,
}

/// A stream of raw ledger batches.
pub trait LedgerSource: Send {
    /// The network whose passphrase the ledgers' transaction hashes use.
    fn network(&self) -> Network;

    /// The first ledger the source can give, when it knows (used when the stream does not say
    /// where to start).
    fn first_available(&mut self) -> Result<Option<u32>, SourceError>;

    /// Reads ledgers from `next`: at most `max_ledgers` ledgers and, beyond the first object,
    /// at most `max_bytes` bytes, never past `last` (inclusive) when given.
    fn read(
        &mut self,
        next: u32,
        last: Option<u32>,
        max_ledgers: u32,
        max_bytes: usize,
    ) -> Result<SourceRead, SourceError>;

    /// The last ledger the source knows it holds, when it can tell without more I/O (for the
    /// stream's lag); `None` when unknown.
    fn tip(&self) -> Option<u32> {
        None
    }
}

/// Why a source could not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("ledger {sequence} is missing from the data store at {root} (expected object {key})")]
    Missing { root: PathBuf, sequence: u32, key: String },
    #[error("synthetic source: {0}")]
    Generator(#[from] crate::generator::GeneratorError),
    #[error("synthetic source: cannot encode ledger {sequence}: {source}")]
    Encode {
        sequence: u32,
        #[source]
        source: stellar_xdr::Error,
    },
    #[error("{what}: {source}")]
    Store {
        /// The object or listing the request was for.
        what: String,
        #[source]
        source: object_store::Error,
    },
    #[error(transparent)]
    Open(#[from] crate::datastore::OpenError),
    #[error("source fault injected at {0}")]
    Injected(&'static str),
}

impl Classify for SourceError {
    fn class(&self) -> FailureClass {
        match self {
            SourceError::Io { .. } | SourceError::Injected(_) => FailureClass::Transient,
            SourceError::Decode(err) => err.class(),
            SourceError::Store { source, .. } => crate::storage::class_of(source),
            SourceError::Open(err) => err.class(),
            SourceError::Missing { .. } | SourceError::Generator(_) | SourceError::Encode { .. } => {
                FailureClass::Permanent
            }
        }
    }
}
