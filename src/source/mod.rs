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
//! - [`RpcSource`]: Stellar RPC `getLedgers`, a live tail within the RPC's retention window.
//! - [`HandoverSource`]: a data store up to its tip, then RPC from the next ledger on.

mod datastore;
mod handover;
mod remote;
pub mod rpc;
mod synthetic;

use std::path::PathBuf;
use std::time::Duration;

pub use datastore::DataStoreSource;
pub use handover::HandoverSource;
pub use remote::{RemoteDataStoreSource, RemoteStore};
pub use rpc::{RpcOptions, RpcSource};
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

impl RawObject {
    /// Bytes of XDR the object holds: what it costs once decoded and converted, and the unit
    /// of batch sizes and of the pipeline's in-flight byte budget. A data-store object is a
    /// zstd frame that declares its content size in its header (Galexie's objects and
    /// `ledgerflow generate`'s do, [`crate::decode::declared_content_size`]): that size, not
    /// the compressed one, which is 5 to 20 times smaller (a batch cut by compressed bytes held
    /// many times the memory it was allowed). An object that does not declare it counts its
    /// compressed bytes; any other framing, its bytes.
    pub fn xdr_bytes(&self) -> usize {
        if self.framing == Framing::DataStoreObject
            && let Some(size) = crate::decode::declared_content_size(&self.bytes)
        {
            return usize::try_from(size).unwrap_or(usize::MAX);
        }
        self.bytes.len()
    }
}

impl RawBatch {
    /// Bytes read from the source (still compressed for a data store).
    pub fn bytes(&self) -> usize {
        self.objects.iter().map(|o| o.bytes.len()).sum()
    }

    /// Bytes of XDR the batch holds ([`RawObject::xdr_bytes`]): the unit of batch sizes and of
    /// the pipeline's in-flight byte budget.
    pub fn xdr_bytes(&self) -> usize {
        self.objects.iter().map(RawObject::xdr_bytes).fold(0, usize::saturating_add)
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
    /// at most `max_bytes` bytes, never past `last` (inclusive) when given. `End` once `next`
    /// is past `last`; otherwise [`LedgerSource::read_within`].
    fn read(
        &mut self,
        next: u32,
        last: Option<u32>,
        max_ledgers: u32,
        max_bytes: usize,
    ) -> Result<SourceRead, SourceError> {
        if last.is_some_and(|last| next > last) {
            return Ok(SourceRead::End);
        }
        self.read_within(next, last, max_ledgers, max_bytes)
    }

    /// What [`LedgerSource::read`] does when `next` is not past `last`: each source's own read.
    fn read_within(
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
    #[error("source.rpc_url {url:?} is not a URL: {source}")]
    RpcUrl {
        url: String,
        #[source]
        source: url::ParseError,
    },
    /// No answer: refused, reset or dropped connection, timeout, truncated body.
    #[error("rpc {rpc}: {method} failed: {source}")]
    RpcTransport {
        rpc: String,
        method: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("rpc {rpc}: {method} answered HTTP {status}{}{}", retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default(), if body.is_empty() { String::new() } else { format!(": {body}") })]
    RpcStatus {
        rpc: String,
        method: &'static str,
        status: u16,
        /// The server's `Retry-After`, at most [`rpc::MAX_RETRY_AFTER`].
        retry_after: Option<Duration>,
        /// The start of the body, for the error message.
        body: String,
    },
    #[error("rpc {rpc}: {method} returned JSON-RPC error {code}: {message}")]
    RpcError { rpc: String, method: &'static str, code: i64, message: String },
    /// A successful HTTP answer that is not the JSON-RPC answer expected.
    #[error("rpc {rpc}: {method} answered with something other than its JSON-RPC result: {source}")]
    RpcMalformed {
        rpc: String,
        method: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "ledger {sequence} is older than the RPC's retention window: {rpc} holds ledgers {oldest} to {latest}; \
         start at {oldest} or later (stream.from), or read the older ledgers from a data store: \
         source.kind = \"datastore\" with source.path, and source.rpc_url to hand over to RPC at the store's tip"
    )]
    BeforeRetention { rpc: String, sequence: u32, oldest: u32, latest: u32 },
    #[error("rpc {rpc}: getLedgers skipped or reordered ledgers: expected ledger {expected}, got {}", got.map_or_else(|| "none".to_owned(), |got| format!("ledger {got}")))]
    RpcGap { rpc: String, expected: u32, got: Option<u32> },
    #[error("rpc {rpc}: ledger {sequence}: metadataXdr is not base64: {source}")]
    RpcBase64 {
        rpc: String,
        sequence: u32,
        #[source]
        source: base64::DecodeError,
    },
    #[error(
        "hand-over to rpc {rpc} at ledger {sequence}: the RPC serves network {rpc_passphrase:?}, \
         the data store {store_passphrase:?}"
    )]
    NetworkMismatch { rpc: String, sequence: u32, rpc_passphrase: String, store_passphrase: String },
}

impl SourceError {
    /// How long the server asked to be left alone (`Retry-After` of a 429 or 503): the
    /// supervisor waits at least this long before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SourceError::RpcStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
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
            SourceError::RpcTransport { source, .. } if source.is_builder() => FailureClass::Permanent,
            // A dropped connection, a timeout, a truncated body; a 200 that is not JSON-RPC (a
            // proxy's page); a gap (behind a load balancer, instances lag each other): a later
            // attempt reads again from the checkpoint.
            SourceError::RpcTransport { .. }
            | SourceError::RpcMalformed { .. }
            | SourceError::RpcGap { .. } => FailureClass::Transient,
            SourceError::RpcStatus { status: 408 | 429 | 500..=599, .. } => FailureClass::Transient,
            SourceError::RpcError { code, .. } if rpc::permanent_rpc_code(*code) => FailureClass::Permanent,
            SourceError::RpcError { .. } => FailureClass::Transient,
            SourceError::RpcUrl { .. }
            | SourceError::RpcStatus { .. }
            | SourceError::BeforeRetention { .. }
            | SourceError::RpcBase64 { .. }
            | SourceError::NetworkMismatch { .. } => FailureClass::Permanent,
        }
    }
}
