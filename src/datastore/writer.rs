use std::io::Write;
use std::path::{Path, PathBuf};

use stellar_xdr::{LedgerCloseMeta, LedgerCloseMetaBatch, Limits, WriteXdr};

use super::{Layout, MANIFEST_FILE, Manifest};
use crate::ledger::ledger_sequence;

/// Why a store could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ledger {found} does not follow ledger {previous}: a batch must be contiguous")]
    NotContiguous { previous: u32, found: u32 },
    #[error("ledger {sequence}: cannot encode XDR: {source}")]
    Xdr {
        sequence: u32,
        #[source]
        source: stellar_xdr::Error,
    },
}

/// Writes ledgers as a SEP-54 store: the manifest, then one zstd `LedgerCloseMetaBatch` per
/// `ledgers_per_batch` ledgers, each written to a temporary name and renamed into place, so
/// a reader never sees half an object.
pub struct DataStoreWriter {
    root: PathBuf,
    layout: Layout,
    pending: Vec<LedgerCloseMeta>,
    compression_level: i32,
}

impl DataStoreWriter {
    /// Creates `root` and writes its manifest.
    pub fn create(root: &Path, manifest: &Manifest) -> Result<Self, WriteError> {
        let io = |source| WriteError::Io { path: root.to_owned(), source };
        std::fs::create_dir_all(root).map_err(io)?;
        let manifest_json = serde_json::to_vec_pretty(manifest).expect("a manifest always serializes");
        std::fs::write(root.join(MANIFEST_FILE), manifest_json).map_err(io)?;
        Ok(DataStoreWriter {
            root: root.to_owned(),
            layout: Layout::of(manifest),
            pending: Vec::new(),
            compression_level: zstd::DEFAULT_COMPRESSION_LEVEL,
        })
    }

    /// Adds the next ledger; writes the batch once it is complete. A ledger that starts a new
    /// batch flushes an incomplete previous one (a store may begin or end mid-batch).
    pub fn push(&mut self, ledger: LedgerCloseMeta) -> Result<(), WriteError> {
        let sequence = ledger_sequence(&ledger);
        if let Some(previous) = self.pending.last().map(ledger_sequence) {
            if previous.checked_add(1) != Some(sequence) {
                return Err(WriteError::NotContiguous { previous, found: sequence });
            }
            if self.layout.batch_start(sequence) != self.layout.batch_start(previous) {
                self.flush()?;
            }
        }
        self.pending.push(ledger);
        if sequence == self.layout.batch_end(sequence) {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending ledgers, if any, as one object.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        let (Some(first), Some(last)) =
            (self.pending.first().map(ledger_sequence), self.pending.last().map(ledger_sequence))
        else {
            return Ok(());
        };
        let batch = LedgerCloseMetaBatch {
            start_sequence: first,
            end_sequence: last,
            ledger_close_metas: std::mem::take(&mut self.pending)
                .try_into()
                .expect("a batch holds at most u32::MAX ledgers"),
        };
        let xdr =
            batch.to_xdr(Limits::none()).map_err(|source| WriteError::Xdr { sequence: first, source })?;
        let path = self.root.join(self.layout.object_key(first));
        let io = |source| WriteError::Io { path: path.clone(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let tmp = path.with_extension("zst.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        // With a content checksum (as Galexie's frames may omit), so a reader detects bit rot
        // anywhere in the object, not only where it breaks the XDR.
        let mut compressor = zstd::bulk::Compressor::new(self.compression_level).map_err(io)?;
        compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true)).map_err(io)?;
        let compressed = compressor.compress(&xdr).map_err(io)?;
        file.write_all(&compressed).map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    /// Flushes the last batch and returns the store root.
    pub fn finish(mut self) -> Result<PathBuf, WriteError> {
        self.flush()?;
        Ok(self.root)
    }
}
