//! A SEP-54 store in object storage (S3, GCS, a `file://` directory) read through object_store:
//! the public data lakes and Galexie buckets.
//!
//! Keys are computed from ledger sequences with the manifest's [`Layout`], so reading ledger N
//! is one GET, never a listing. Listings are only for what a key cannot tell: the store's
//! first and last objects ([`ObjectDataStore::first_object`], [`ObjectDataStore::last_object`]),
//! asked once per stream and when a bounded stream meets a missing object. The newest objects
//! sort first (inverted hex prefixes), so the last object is in the first partition listed;
//! the listing of that one partition is read whole, since not every store lists in key order.

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::atomic::{AtomicU8, Ordering};

use super::layout::{EXTENSION, LEGACY_EXTENSION};
use super::{Layout, MANIFEST_FILE, Manifest, ObjectName};
use crate::decode::DecodeError;
use crate::resilience::{Classify, FailureClass};
use crate::storage::ObjectLocation;

/// A SEP-54 store at an object-storage location, its manifest read.
#[derive(Debug)]
pub struct ObjectDataStore {
    location: ObjectLocation,
    manifest: Manifest,
    layout: Layout,
    /// Which extension the store's objects use, once one was found: 0 unknown, 1 current
    /// (`.xdr.zst`), 2 legacy (`.xdr.zstd`). Until then a missing key is tried with both.
    extension: AtomicU8,
}

/// One object read: its bytes and key.
#[derive(Debug, Clone)]
pub struct FetchedObject {
    pub key: String,
    pub bytes: Bytes,
}

impl ObjectDataStore {
    /// Reads the store's `.config.json`.
    pub async fn open(location: ObjectLocation) -> Result<Self, OpenError> {
        let path = location.path(MANIFEST_FILE);
        let url = location.display(MANIFEST_FILE);
        let request = |source| OpenError::Request { url: url.clone(), source };
        let bytes = location.store().get(&path).await.map_err(request)?.bytes().await.map_err(request)?;
        let manifest = Manifest::parse(std::path::Path::new(&url), &bytes)?;
        Ok(Self::with_manifest(location, manifest))
    }

    /// A store whose manifest is known already.
    pub fn with_manifest(location: ObjectLocation, manifest: Manifest) -> Self {
        ObjectDataStore { layout: Layout::of(&manifest), manifest, location, extension: AtomicU8::new(0) }
    }

    pub fn location(&self) -> &ObjectLocation {
        &self.location
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The object holding `sequence`, or `None` when there is none (yet).
    pub async fn fetch(&self, sequence: u32) -> Result<Option<FetchedObject>, object_store::Error> {
        let known = self.extension.load(Ordering::Relaxed);
        let candidates: &[(u8, &str)] = match known {
            1 => &[(1, EXTENSION)],
            2 => &[(2, LEGACY_EXTENSION)],
            _ => &[(1, EXTENSION), (2, LEGACY_EXTENSION)],
        };
        for &(tag, extension) in candidates {
            let key = self.layout.object_key_with(sequence, extension);
            match self.location.store().get(&self.location.path(&key)).await {
                Ok(result) => {
                    let bytes = result.bytes().await?;
                    self.extension.store(tag, Ordering::Relaxed);
                    return Ok(Some(FetchedObject { key: self.location.display(&key), bytes }));
                }
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Every object of the store, by first ledger, with its key (a full listing: for
    /// `ledgerflow inspect`, not for streams, which compute keys).
    pub async fn objects(&self) -> Result<Vec<(ObjectName, String)>, object_store::Error> {
        let root = self.location.prefix();
        let root = (!root.as_ref().is_empty()).then_some(root);
        let mut objects: Vec<(ObjectName, String)> = self
            .location
            .store()
            .list(root)
            .try_filter_map(|meta| async move {
                Ok(meta
                    .location
                    .filename()
                    .and_then(ObjectName::parse)
                    .map(|name| (name, meta.location.to_string())))
            })
            .try_collect()
            .await?;
        objects.sort_by_key(|(name, _)| name.first);
        Ok(objects)
    }

    /// The bytes of the object at `key` (a full key, as [`ObjectDataStore::objects`] gives).
    pub async fn fetch_key(&self, key: &str) -> Result<Bytes, object_store::Error> {
        self.location.store().get(&object_store::path::Path::from(key)).await?.bytes().await
    }

    /// The object with the highest ledgers, by listing.
    pub async fn last_object(&self) -> Result<Option<ObjectName>, object_store::Error> {
        self.edge_object(Edge::Last).await
    }

    /// The object with the lowest ledgers, by listing.
    pub async fn first_object(&self) -> Result<Option<ObjectName>, object_store::Error> {
        self.edge_object(Edge::First).await
    }

    /// The first or last object of the store, by listing.
    pub async fn edge_object(&self, edge: Edge) -> Result<Option<ObjectName>, object_store::Error> {
        let store = self.location.store();
        let root = self.location.prefix();
        let root = (!root.as_ref().is_empty()).then_some(root);
        let top = store.list_with_delimiter(root).await?;
        // Partition folders hold the objects when batches_per_partition > 1; a store written
        // without partitions has its objects at the root. Partition names start with the
        // inverted hex of their first ledger, so the smallest name holds the newest ledgers.
        let mut partitions: Vec<(u32, object_store::path::Path)> = top
            .common_prefixes
            .into_iter()
            .filter_map(|prefix| {
                let name = prefix.filename()?.to_owned();
                let (hex, _) = name.split_once("--")?;
                let inverted = u32::from_str_radix(hex, 16).ok().filter(|_| hex.len() == 8)?;
                Some((u32::MAX - inverted, prefix))
            })
            .collect();
        partitions.sort_by_key(|(start, _)| *start);
        let mut best =
            pick(edge, top.objects.iter().filter_map(|meta| ObjectName::parse(meta.location.filename()?)));
        // Look into the partitions from the edge inwards until one holds an object (a
        // partition may be empty while a writer is starting it).
        if matches!(edge, Edge::Last) {
            partitions.reverse();
        }
        for (_, partition) in &partitions {
            let names: Vec<ObjectName> = store
                .list(Some(partition))
                .try_filter_map(
                    |meta| async move { Ok(meta.location.filename().and_then(ObjectName::parse)) },
                )
                .try_collect()
                .await?;
            if let Some(found) = pick(edge, names.into_iter()) {
                best = pick(edge, best.into_iter().chain([found]));
                break;
            }
        }
        Ok(best)
    }
}

/// Which end of a store a listing looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The object with the lowest ledgers.
    First,
    /// The object with the highest ledgers.
    Last,
}

fn pick(edge: Edge, names: impl Iterator<Item = ObjectName>) -> Option<ObjectName> {
    match edge {
        Edge::First => names.min_by_key(|name| name.first),
        Edge::Last => names.max_by_key(|name| name.last),
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("{url}: cannot read the store's manifest: {source}")]
    Request {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error(transparent)]
    Manifest(#[from] DecodeError),
}

impl Classify for OpenError {
    fn class(&self) -> FailureClass {
        match self {
            // No manifest at all is a wrong URL, not a hiccup.
            OpenError::Request { source: object_store::Error::NotFound { .. }, .. } => {
                FailureClass::Permanent
            }
            OpenError::Request { source, .. } => crate::storage::class_of(source),
            OpenError::Manifest(_) => FailureClass::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;
    use crate::network::Network;

    async fn store_with(layout: (u32, u32), starts: &[u32], legacy: bool) -> ObjectDataStore {
        let memory = Arc::new(InMemory::new());
        let location = ObjectLocation::from_store("memory:///lake", memory.clone(), "lake/pubnet");
        let manifest = Manifest::new(&Network::pubnet(), layout.0, layout.1);
        let json = serde_json::to_vec(&manifest).unwrap();
        memory.put(&location.path(MANIFEST_FILE), json.into()).await.unwrap();
        let layout = Layout::of(&manifest);
        for &start in starts {
            let extension = if legacy { LEGACY_EXTENSION } else { EXTENSION };
            let key = layout.object_key_with(start, extension);
            memory.put(&location.path(&key), vec![start as u8; 3].into()).await.unwrap();
        }
        ObjectDataStore::open(location).await.unwrap()
    }

    #[tokio::test]
    async fn fetches_by_computed_key_and_finds_the_edges() {
        let store = store_with((1, 4), &[5, 6, 7, 8, 9, 10], false).await;
        let object = store.fetch(9).await.unwrap().unwrap();
        assert_eq!(object.key, "memory:///lake/FFFFFFF7--8-11/FFFFFFF6--9.xdr.zst");
        assert_eq!(&object.bytes[..], &[9, 9, 9]);
        assert!(store.fetch(11).await.unwrap().is_none());
        assert_eq!(store.first_object().await.unwrap(), Some(ObjectName { first: 5, last: 5 }));
        assert_eq!(store.last_object().await.unwrap(), Some(ObjectName { first: 10, last: 10 }));
        let all = store.objects().await.unwrap();
        assert_eq!(all.iter().map(|(n, _)| n.first).collect::<Vec<_>>(), vec![5, 6, 7, 8, 9, 10]);
        assert_eq!(all[0].1, "lake/pubnet/FFFFFFFB--4-7/FFFFFFFA--5.xdr.zst");
        assert_eq!(&store.fetch_key(&all[1].1).await.unwrap()[..], &[6, 6, 6]);
    }

    #[tokio::test]
    async fn legacy_extensions_and_unpartitioned_stores() {
        let store = store_with((8, 1), &[0, 8, 16], true).await;
        let object = store.fetch(17).await.unwrap().unwrap();
        assert!(object.key.ends_with("FFFFFFEF--16-23.xdr.zstd"), "{}", object.key);
        assert_eq!(store.last_object().await.unwrap(), Some(ObjectName { first: 16, last: 23 }));
        assert_eq!(store.first_object().await.unwrap(), Some(ObjectName { first: 0, last: 7 }));
        let empty = store_with((1, 64), &[], false).await;
        assert_eq!(empty.last_object().await.unwrap(), None);
        assert!(empty.fetch(3).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_bad_manifest_names_the_store() {
        let memory = Arc::new(InMemory::new());
        let location = ObjectLocation::from_store("memory:///lake", memory.clone(), "lake");
        memory.put(&location.path(MANIFEST_FILE), b"{\"ledgersPerBatch\":0}".to_vec().into()).await.unwrap();
        let error = ObjectDataStore::open(location.clone()).await.unwrap_err();
        assert!(error.to_string().contains("memory:///lake/.config.json"), "{error}");
        assert!(matches!(error, OpenError::Manifest(_)) && !error.is_transient(), "{error}");
        let missing =
            ObjectDataStore::open(ObjectLocation::from_store("memory:///x", Arc::new(InMemory::new()), "x"))
                .await
                .unwrap_err();
        assert!(
            missing.to_string().starts_with("memory:///x/.config.json: cannot read the store's manifest"),
            "{missing}"
        );
        assert!(!missing.is_transient());
    }
}
