//! SEP-54 ledger data stores: the layout Galexie writes and the public data lakes use.
//!
//! A store is a `.config.json` manifest ([`Manifest`]) and zstd-compressed
//! `LedgerCloseMetaBatch` objects at keys computed from ledger sequences ([`Layout`]).
//! [`LocalDataStore`] reads one from a directory, [`ObjectDataStore`] from object storage; [`DataStoreWriter`] writes one (the
//! synthetic generator uses it, so every reader is testable without a network).

mod layout;
mod local;
mod manifest;
mod object;
mod writer;

pub use layout::{Layout, ObjectName};
pub use local::LocalDataStore;
pub use manifest::{MANIFEST_FILE, Manifest};
pub use object::{Edge, FetchedObject, ObjectDataStore, OpenError};
pub use writer::{DataStoreWriter, WriteError};
