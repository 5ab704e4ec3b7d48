use std::path::PathBuf;

use crate::resilience::{Classify, FailureClass};

/// Why a ledger could not be decoded or joined. Every variant names the object (file or store
/// key) and, when known, the ledger sequence. All are permanent: the same bytes fail again,
/// except [`DecodeError::Io`], which may succeed on retry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("{object}: cannot read: {source}")]
    Io {
        object: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{object}: larger than the limit of {limit} bytes{}", if *.decompressed { " once decompressed" } else { "" })]
    TooLarge { object: String, limit: u64, decompressed: bool },
    #[error("{object}: zstd decompression failed: {source}")]
    Zstd {
        object: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{object}: line {line}: invalid base64: {source}")]
    Base64 {
        object: String,
        line: usize,
        #[source]
        source: base64::DecodeError,
    },
    #[error("{object}: {}malformed {what} XDR at byte {offset}: {source}", ledger_prefix(*.sequence))]
    Xdr {
        object: String,
        /// The ledger being decoded: known from a batch header, or the one after the previous
        /// ledger of a stream.
        sequence: Option<u32>,
        what: &'static str,
        offset: u64,
        #[source]
        source: stellar_xdr::Error,
    },
    #[error("{object}: {count} unexpected bytes after the last ledger{}", after_ledger(*.last_sequence))]
    TrailingBytes { object: String, last_sequence: Option<u32>, count: u64 },
    #[error("{object}: batch header declares ledgers {start}-{end} but the batch holds {count} ledgers")]
    BatchHeader { object: String, start: u32, end: u32, count: u32 },
    #[error("{object}: ledger {found} where the batch needs ledger {expected}")]
    Sequence { object: String, expected: u32, found: u32 },
    #[error("{object}: {reason}")]
    Format { object: String, reason: String },
    #[error("{path}: invalid data store manifest: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error(
        "ledger {sequence}: the transaction set holds {in_set} transactions but tx_processing holds {processed}"
    )]
    TxSetMismatch { sequence: u32, in_set: usize, processed: usize },
    #[error("ledger {sequence}: cannot hash transaction {index} of the set: {source}")]
    TxHash {
        sequence: u32,
        index: usize,
        #[source]
        source: stellar_xdr::Error,
    },
    #[error(
        "ledger {sequence}: transaction {hash} (apply order {application_order}) matches no envelope of the set under network {network}{}",
        match .detected { Some(n) => format!("; the hashes match {n}, select it with --network"), None => String::new() }
    )]
    TxNotInSet {
        sequence: u32,
        application_order: u32,
        hash: String,
        network: String,
        detected: Option<String>,
    },
}

fn ledger_prefix(sequence: Option<u32>) -> String {
    sequence.map_or_else(String::new, |s| format!("ledger {s}: "))
}

fn after_ledger(sequence: Option<u32>) -> String {
    sequence.map_or_else(String::new, |s| format!(" ({s})"))
}

impl DecodeError {
    /// The ledger sequence the error is about, when known.
    pub fn sequence(&self) -> Option<u32> {
        match self {
            DecodeError::Xdr { sequence, .. } => *sequence,
            DecodeError::Sequence { expected, .. } => Some(*expected),
            DecodeError::TxSetMismatch { sequence, .. }
            | DecodeError::TxHash { sequence, .. }
            | DecodeError::TxNotInSet { sequence, .. } => Some(*sequence),
            _ => None,
        }
    }
}

impl Classify for DecodeError {
    /// Transient when retrying the same read may succeed (I/O); permanent when the bytes are bad.
    fn class(&self) -> FailureClass {
        match self {
            DecodeError::Io { .. } => FailureClass::Transient,
            _ => FailureClass::Permanent,
        }
    }
}
