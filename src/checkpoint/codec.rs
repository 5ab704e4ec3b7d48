//! Value encodings of the checkpoint trees. Every value starts with a format version byte, so
//! a later format can be read next to this one; a value with an unknown version, a wrong length
//! or undecodable content is a permanent error that names its tree and key.
//!
//! Version 1:
//! - progress: 18 bytes, big-endian: version, `first_ledger: u32`, `last_ledger: u32`,
//!   `commits: u64`, flags (bit 0: the files of the last commit are pending publication; the
//!   other bits are zero). Fixed binary: it is read and written by every commit.
//! - commit record: version, then the JSON of [`CommitRecord`].
//! - analytics: version, then the opaque snapshot bytes.

use serde::{Deserialize, Serialize};

use crate::range::LedgerRange;

use super::keys;
use super::{CheckpointError, DeadLetter, StreamId};

const VERSION: u8 = 1;
const PENDING_FLAG: u8 = 0b1;

/// The high-water mark of a stream and what recovery needs with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Progress {
    pub first_ledger: u32,
    pub last_ledger: u32,
    /// Commits so far; the records are numbered `0..commits`.
    pub commits: u64,
    /// Whether the files of the last commit are not yet marked published.
    pub pending: bool,
}

impl Progress {
    const LEN: usize = 18;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut value = [0u8; Self::LEN];
        value[0] = VERSION;
        value[1..5].copy_from_slice(&self.first_ledger.to_be_bytes());
        value[5..9].copy_from_slice(&self.last_ledger.to_be_bytes());
        value[9..17].copy_from_slice(&self.commits.to_be_bytes());
        value[17] = if self.pending { PENDING_FLAG } else { 0 };
        value
    }

    pub fn decode(value: &[u8], key: &[u8]) -> Result<Progress, CheckpointError> {
        let corrupt = |reason: String| CheckpointError::Corrupt {
            tree: keys::PROGRESS_TREE,
            key: keys::display(key),
            reason,
        };
        let version = *value.first().ok_or_else(|| corrupt("empty value".into()))?;
        if version != VERSION {
            return Err(corrupt(format!(
                "unknown format version {version}, this build reads version {VERSION}"
            )));
        }
        let value: &[u8; Self::LEN] = value
            .try_into()
            .map_err(|_| corrupt(format!("{} bytes, version {VERSION} has {}", value.len(), Self::LEN)))?;
        let [_, f0, f1, f2, f3, l0, l1, l2, l3, c0, c1, c2, c3, c4, c5, c6, c7, flags] = *value;
        let progress = Progress {
            first_ledger: u32::from_be_bytes([f0, f1, f2, f3]),
            last_ledger: u32::from_be_bytes([l0, l1, l2, l3]),
            commits: u64::from_be_bytes([c0, c1, c2, c3, c4, c5, c6, c7]),
            pending: flags & PENDING_FLAG != 0,
        };
        if flags & !PENDING_FLAG != 0 {
            return Err(corrupt(format!("unknown flags {flags:#010b}")));
        }
        if progress.first_ledger > progress.last_ledger {
            return Err(corrupt(format!(
                "first ledger {} is after the last ledger {}",
                progress.first_ledger, progress.last_ledger
            )));
        }
        if progress.commits == 0 {
            return Err(corrupt("zero commits".into()));
        }
        Ok(progress)
    }
}

/// What one commit added, kept per commit so that a commit never rewrites earlier ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CommitRecord {
    pub range: LedgerRange,
    pub files: Vec<String>,
    pub dead_letters: Vec<DeadLetter>,
}

impl CommitRecord {
    pub fn encode(&self, stream: &StreamId) -> Result<Vec<u8>, CheckpointError> {
        let mut value = vec![VERSION];
        serde_json::to_writer(&mut value, self).map_err(|source| CheckpointError::Encode {
            stream: stream.clone(),
            what: "commit record",
            source,
        })?;
        Ok(value)
    }

    pub fn decode(value: &[u8], key: &[u8]) -> Result<CommitRecord, CheckpointError> {
        let body = versioned_body(keys::COMMITS_TREE, value, key)?;
        serde_json::from_slice(body).map_err(|source| CheckpointError::Decode {
            tree: keys::COMMITS_TREE,
            key: keys::display(key),
            source,
        })
    }
}

pub(super) fn encode_analytics(state: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(state.len() + 1);
    value.push(VERSION);
    value.extend_from_slice(state);
    value
}

pub(super) fn decode_analytics(value: &[u8], key: &[u8]) -> Result<Vec<u8>, CheckpointError> {
    versioned_body(keys::ANALYTICS_TREE, value, key).map(<[u8]>::to_vec)
}

fn versioned_body<'a>(tree: &'static str, value: &'a [u8], key: &[u8]) -> Result<&'a [u8], CheckpointError> {
    match value.split_first() {
        Some((&VERSION, body)) => Ok(body),
        Some((version, _)) => Err(CheckpointError::Corrupt {
            tree,
            key: keys::display(key),
            reason: format!("unknown format version {version}, this build reads version {VERSION}"),
        }),
        None => Err(CheckpointError::Corrupt { tree, key: keys::display(key), reason: "empty value".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trips_and_rejects_damage() {
        let progress = Progress { first_ledger: 3, last_ledger: u32::MAX, commits: 1 << 40, pending: true };
        let value = progress.encode();
        assert_eq!(Progress::decode(&value, b"s").unwrap(), progress);

        let error = |value: &[u8]| Progress::decode(value, b"s").unwrap_err().to_string();
        assert!(error(&[]).contains("empty value"));
        assert!(error(&value[..17]).contains("17 bytes"));
        let mut future = value;
        future[0] = 2;
        assert!(error(&future).contains("unknown format version 2"), "{}", error(&future));
        let mut flags = value;
        flags[17] = 0b10;
        assert!(error(&flags).contains("unknown flags"));
        let inverted = Progress { first_ledger: 9, last_ledger: 8, commits: 1, pending: false }.encode();
        assert!(error(&inverted).contains("after the last ledger"));
        let none = Progress { first_ledger: 1, last_ledger: 1, commits: 0, pending: false }.encode();
        assert!(error(&none).contains("zero commits"));
        assert!(error(&[]).contains("checkpoint.progress, key `s`"));
    }

    #[test]
    fn records_and_analytics_round_trip_and_name_the_key() {
        let stream = StreamId::new("s").unwrap();
        let record = CommitRecord {
            range: LedgerRange::new(1, 2).unwrap(),
            files: vec!["ledgers/a.parquet".into()],
            dead_letters: vec![DeadLetter {
                sequence: 2,
                reason: "bad xdr".into(),
                path: "dead/2.xdr".into(),
            }],
        };
        let value = record.encode(&stream).unwrap();
        assert_eq!(value[0], VERSION);
        assert_eq!(CommitRecord::decode(&value, b"s/0").unwrap(), record);
        let garbage = CommitRecord::decode(&[VERSION, b'{'], b"s/00000000000000000000").unwrap_err();
        assert!(matches!(garbage, CheckpointError::Decode { .. }));
        assert!(garbage.to_string().contains("key `s/00000000000000000000`"), "{garbage}");

        assert_eq!(decode_analytics(&encode_analytics(b"state"), b"s").unwrap(), b"state");
        assert_eq!(decode_analytics(&encode_analytics(b""), b"s").unwrap(), b"");
        assert!(decode_analytics(&[7, 1], b"s").is_err());
    }
}
