//! Decoding the ledger stream: framings, limits and the ledger iterator.
//!
//! Four framings carry `LedgerCloseMeta` (V0, V1, V2):
//!
//! | [`Framing`] | bytes |
//! |---|---|
//! | `Xdr` | one raw XDR `LedgerCloseMeta`, or several back to back |
//! | `Base64` | base64 of one `LedgerCloseMeta` per line |
//! | `Batch` | uncompressed XDR `LedgerCloseMetaBatch` |
//! | `DataStoreObject` | SEP-54 object: zstd frame of a `LedgerCloseMetaBatch` (`.xdr.zst`, `.xdr.zstd`) |
//!
//! [`Framing::detect`] picks one from the name and the first bytes. [`DecodeLimits`] bounds the
//! bytes read from an object, the bytes after decompression, and XDR length and depth per
//! ledger: exceeding a limit is an error before anything larger is allocated. [`LedgerIter`]
//! yields ledgers one at a time, so the ledgers before a corrupt one are delivered.

mod error;
mod framing;
mod reader;

pub use error::DecodeError;
pub use framing::Framing;
pub use reader::{DecodedLedger, LedgerIter, declared_content_size, decode_ledger, read_object, read_path};

/// Bounds on what one object may cost to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeLimits {
    /// Largest object accepted, in bytes, both as stored and after zstd decompression.
    pub max_object_bytes: u64,
    /// Largest single `LedgerCloseMeta`, in XDR bytes.
    pub max_ledger_bytes: usize,
    /// Deepest XDR nesting accepted (guards the stack against hostile input).
    pub max_xdr_depth: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_object_bytes: 1 << 30, max_ledger_bytes: 256 << 20, max_xdr_depth: 500 }
    }
}

impl DecodeLimits {
    pub(crate) fn xdr(&self, remaining: usize) -> stellar_xdr::Limits {
        stellar_xdr::Limits { depth: self.max_xdr_depth, len: self.max_ledger_bytes.min(remaining) }
    }
}
