use std::path::PathBuf;

use crate::range::LedgerRange;
use crate::resilience::{Classify, FailureClass};

use super::StreamId;

/// Why the checkpoint store could not answer. Every variant names the stream, the key or the
/// path involved. The class ([`Classify`]): sled I/O errors and injected failures are transient
/// (restart the CheckpointActor, which reopens the store: after a failed log write sled 0.34
/// keeps a global error and refuses further writes on that handle); everything else is
/// permanent: a refused commit is a bug upstream, and undecodable data does not heal by itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    #[error("cannot open the checkpoint store at {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
    /// A sled operation failed: `operation` names it and the stream, e.g. `commit of stream
    /// pubnet`.
    #[error("checkpoint store: {operation} failed: {source}")]
    Storage {
        operation: String,
        #[source]
        source: sled::Error,
    },
    #[error(
        "stream {stream}: commit of ledgers {range} does not follow the checkpoint: expected first ledger {expected}, found {}",
        .range.first()
    )]
    NotContiguous { stream: StreamId, expected: u32, range: LedgerRange },
    #[error(
        "stream {stream}: the checkpoint ends at ledger {last_ledger}, the last sequence number; nothing can follow it"
    )]
    NothingFollows { stream: StreamId, last_ledger: u32 },
    #[error("stream {stream}: commit of ledgers {range}: file path `{path}` is refused: {reason}")]
    InvalidFilePath { stream: StreamId, range: LedgerRange, path: String, reason: &'static str },
    #[error(
        "stream {stream}: commit of ledgers {range}: dead letter for ledger {sequence} is outside the range"
    )]
    DeadLetterOutsideRange { stream: StreamId, range: LedgerRange, sequence: u32 },
    /// A stored value or key is not what this module writes.
    #[error("checkpoint tree {tree}, key `{key}`: corrupt: {reason}")]
    Corrupt { tree: &'static str, key: String, reason: String },
    #[error("checkpoint tree {tree}, key `{key}`: cannot decode: {source}")]
    Decode {
        tree: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("stream {stream}: cannot encode {what}: {source}")]
    Encode {
        stream: StreamId,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// Returned by an armed failpoint (`fail` crate, feature `failpoints`): the name of the
    /// failpoint.
    #[error("injected failure at failpoint {0}")]
    Injected(&'static str),
}

impl Classify for CheckpointError {
    fn class(&self) -> FailureClass {
        match self {
            CheckpointError::Open { source, .. } | CheckpointError::Storage { source, .. } => {
                if matches!(source, sled::Error::Io(_)) {
                    FailureClass::Transient
                } else {
                    FailureClass::Permanent
                }
            }
            CheckpointError::Injected(_) => FailureClass::Transient,
            CheckpointError::NotContiguous { .. }
            | CheckpointError::NothingFollows { .. }
            | CheckpointError::InvalidFilePath { .. }
            | CheckpointError::DeadLetterOutsideRange { .. }
            | CheckpointError::Corrupt { .. }
            | CheckpointError::Decode { .. }
            | CheckpointError::Encode { .. } => FailureClass::Permanent,
        }
    }
}

impl CheckpointError {
    pub(super) fn storage(operation: &str, stream: Option<&StreamId>, source: sled::Error) -> Self {
        let operation = match stream {
            Some(stream) => format!("{operation} of stream {stream}"),
            None => operation.to_owned(),
        };
        CheckpointError::Storage { operation, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let io = sled::Error::Io(std::io::Error::other("disk gone"));
        assert_eq!(CheckpointError::storage("flush", None, io).class(), FailureClass::Transient);
        let corruption = sled::Error::Corruption { at: None, bt: () };
        assert_eq!(CheckpointError::storage("flush", None, corruption).class(), FailureClass::Permanent);
        assert_eq!(CheckpointError::Injected("checkpoint:after_flush").class(), FailureClass::Transient);
        let stream = StreamId::new("s").unwrap();
        let range = LedgerRange::new(5, 9).unwrap();
        let refused = CheckpointError::NotContiguous { stream, expected: 4, range };
        assert_eq!(refused.class(), FailureClass::Permanent);
        assert_eq!(
            refused.to_string(),
            "stream s: commit of ledgers 5-9 does not follow the checkpoint: expected first ledger 4, found 5"
        );
        let corrupt = CheckpointError::Corrupt { tree: "t", key: "k".into(), reason: "short".into() };
        assert_eq!(corrupt.class(), FailureClass::Permanent);
    }
}
