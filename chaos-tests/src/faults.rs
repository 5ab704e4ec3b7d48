//! What the scenarios inject.
//!
//! - Failpoints: [`FAILPOINTS`] lists every one the binary has, in stream order;
//!   [`failpoints_env`] writes the `FAILPOINTS=name=action;...` value fail-rs reads (actions:
//!   `return`, `panic`, `sleep(ms)`, `N*action`, `P%action`, `->` chains, `off`).
//! - Source damage on a SEP-54 store (one ledger per object, as `ledgerflow generate` writes
//!   it): [`StoreObject`] locates the object of a ledger and truncates it, flips bytes in it or
//!   deletes it, keeping the original bytes so [`StoreObject::restore`] repairs it;
//!   [`object_sizes`] gives each object's stored and decompressed size, so a
//!   `decode.max_object_bytes` below some of them names exactly the oversized ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ledgerflow::datastore::LocalDataStore;

/// Every failpoint of the binary, in stream order; the commit steps; the one in each worker.
/// Their one home is the service crate.
pub use ledgerflow_actors::failpoints::{COMMIT_STEPS, NAMES as FAILPOINTS, WORKERS};

/// The `FAILPOINTS` value arming `(name, action)` pairs.
pub fn failpoints_env(points: &[(&str, String)]) -> String {
    points.iter().map(|(name, action)| format!("{name}={action}")).collect::<Vec<_>>().join(";")
}

/// One object of a SEP-54 store, with its original bytes kept for [`StoreObject::restore`].
#[derive(Debug)]
pub struct StoreObject {
    pub sequence: u32,
    pub path: PathBuf,
    original: Vec<u8>,
}

impl StoreObject {
    /// The object holding ledger `sequence` in the store at `root`.
    pub fn of(root: &Path, sequence: u32) -> Result<Self> {
        let store = LocalDataStore::open(root).with_context(|| format!("open store {}", root.display()))?;
        let path = store
            .object_path(sequence)
            .with_context(|| format!("store {} has no object for ledger {sequence}", root.display()))?;
        let original = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        Ok(StoreObject { sequence, path, original })
    }

    /// The object's file name without its extension (`FFF0BDBF--1000000`), as errors name it.
    pub fn key_name(path: &Path) -> String {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.split('.').next().unwrap_or(name).to_owned()
    }

    pub fn len(&self) -> usize {
        self.original.len()
    }

    pub fn is_empty(&self) -> bool {
        self.original.is_empty()
    }

    /// Cuts the object to `keep` bytes (a partial upload, a torn write).
    pub fn truncate(&self, keep: usize) -> Result<()> {
        if keep >= self.original.len() {
            bail!("cannot truncate {} ({} bytes) to {keep}", self.path.display(), self.original.len());
        }
        self.write(&self.original[..keep])
    }

    /// Inverts `count` bytes from `offset` on (bit rot).
    pub fn flip(&self, offset: usize, count: usize) -> Result<()> {
        let mut bytes = self.original.clone();
        let end = (offset + count).min(bytes.len());
        if offset >= end {
            bail!("offset {offset} is past the end of {}", self.path.display());
        }
        for byte in &mut bytes[offset..end] {
            *byte = !*byte;
        }
        self.write(&bytes)
    }

    /// Deletes the object (a hole in the store).
    pub fn delete(&self) -> Result<()> {
        std::fs::remove_file(&self.path).with_context(|| format!("delete {}", self.path.display()))
    }

    /// Puts the original bytes back.
    pub fn restore(&self) -> Result<()> {
        self.write(&self.original)
    }

    fn write(&self, bytes: &[u8]) -> Result<()> {
        std::fs::write(&self.path, bytes).with_context(|| format!("write {}", self.path.display()))
    }
}

/// Per ledger (one per object), the object's stored and decompressed sizes in bytes.
pub fn object_sizes(root: &Path) -> Result<BTreeMap<u32, (u64, u64)>> {
    let store = LocalDataStore::open(root).with_context(|| format!("open store {}", root.display()))?;
    let mut sizes = BTreeMap::new();
    for (name, path) in store.objects().context("list store objects")? {
        if name.first != name.last {
            bail!(
                "{}: holds ledgers {}-{}; the scenarios need one ledger per object",
                path.display(),
                name.first,
                name.last
            );
        }
        let stored = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        let decompressed =
            zstd::decode_all(&stored[..]).with_context(|| format!("decompress {}", path.display()))?;
        sizes.insert(name.first, (stored.len() as u64, decompressed.len() as u64));
    }
    Ok(sizes)
}
