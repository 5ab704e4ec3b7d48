//! A local SEP-54 data store as a source: objects are located by the key layout of the
//! store's `.config.json`, read whole (compressed) and handed on; the convert stage
//! decompresses and decodes them.

use std::path::{Path, PathBuf};

use super::{LedgerSource, RawBatch, RawObject, SourceError, SourceRead};
use crate::datastore::{LocalDataStore, ObjectName};
use crate::decode::Framing;
use crate::network::Network;
use crate::range::LedgerRange;

pub struct DataStoreSource {
    store: LocalDataStore,
    network: Network,
    /// Follow mode: a missing object means "not yet", not "the end".
    follow: bool,
    /// Last ledger of the store's last object, as of the last listing (the first read's, and
    /// whenever a read finds nothing new), or of the last batch read if later.
    tip: Option<u32>,
}

impl DataStoreSource {
    /// Opens the store at `root`; `network` overrides the manifest's passphrase.
    pub fn open(root: &Path, network: Option<Network>, follow: bool) -> Result<Self, SourceError> {
        let store = LocalDataStore::open(root)?;
        let network = network.unwrap_or_else(|| store.manifest().network());
        Ok(DataStoreSource { store, network, follow, tip: None })
    }

    fn read_object(&self, path: &Path) -> Result<RawObject, SourceError> {
        let bytes =
            std::fs::read(path).map_err(|source| SourceError::Io { path: path.to_owned(), source })?;
        let holds = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(ObjectName::parse)
            .and_then(|n| LedgerRange::new(n.first, n.last).ok());
        Ok(RawObject { name: path.display().to_string(), bytes, framing: Framing::DataStoreObject, holds })
    }

    fn last_object_start(&mut self) -> Result<Option<u32>, SourceError> {
        let last = self.store.objects()?.last().map(|(name, _)| (name.first, name.last));
        self.tip = last.map(|(_, end)| end).or(self.tip);
        Ok(last.map(|(start, _)| start))
    }
}

impl LedgerSource for DataStoreSource {
    fn network(&self) -> Network {
        self.network.clone()
    }

    fn first_available(&mut self) -> Result<Option<u32>, SourceError> {
        let objects = self.store.objects()?;
        self.tip = self.tip.max(objects.last().map(|(name, _)| name.last));
        Ok(objects.first().map(|(name, _)| name.first))
    }

    fn read_within(
        &mut self,
        next: u32,
        last: Option<u32>,
        max_ledgers: u32,
        max_bytes: usize,
    ) -> Result<SourceRead, SourceError> {
        if self.tip.is_none() {
            self.last_object_start()?; // one listing per source, for the lag
        }
        let layout = self.store.layout();
        let mut objects = Vec::new();
        let mut bytes = 0usize;
        let mut cursor = next;
        let mut covered_last = None;
        let limit = last.unwrap_or(u32::MAX).min(next.saturating_add(max_ledgers.max(1) - 1));
        loop {
            let Some(path) = self.store.object_path(cursor) else {
                if covered_last.is_some() {
                    break;
                }
                // Nothing at `next`: the tip in follow mode, else past the end of the store
                // (or a hole in it, which is an error: ledgers must not be skipped silently).
                if self.follow {
                    self.last_object_start()?; // refreshes the tip
                    return Ok(SourceRead::NotYet);
                }
                return match self.last_object_start()? {
                    Some(start) if start > cursor => Err(SourceError::Missing {
                        root: PathBuf::from(self.store.root()),
                        sequence: cursor,
                        key: layout.object_key(cursor),
                    }),
                    _ => Ok(SourceRead::End),
                };
            };
            let object = self.read_object(&path)?;
            bytes += object.xdr_bytes();
            objects.push(object);
            let object_end = layout.batch_end(cursor);
            covered_last = Some(object_end.min(limit));
            if object_end >= limit || bytes >= max_bytes {
                break;
            }
            cursor = object_end + 1;
        }
        let range = LedgerRange::new(next, covered_last.unwrap_or(next)).expect("objects cover next onwards");
        self.tip = self.tip.max(Some(range.last()));
        Ok(SourceRead::Batch(RawBatch { range, objects }))
    }

    fn tip(&self) -> Option<u32> {
        self.tip
    }
}
