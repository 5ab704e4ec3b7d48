//! ledgerflow: the Stellar ledger stream as Arrow tables.
//!
//! This crate is the library under the `ledgerflow` service: data, formats, storage and
//! resilience primitives, and no actors (the supervised actor tree lives in `actors/`).
//!
//! # Layout
//! - [`network`]: network passphrases, transaction-hash network ids, detection.
//! - [`decode`]: framings of `LedgerCloseMeta` (raw XDR, base64, batches, SEP-54 objects),
//!   limits, and the ledger iterator; [`decode::DecodeError`].
//! - [`datastore`]: SEP-54 data stores: manifest, key layout, local reader and writer.
//! - [`ledger`]: [`ledger::LedgerView`], a ledger's transactions joined in apply order; TOIDs.
//! - [`tables`]: Arrow record batches for `ledgers`, `transactions`, `operations` and
//!   `contract_events`, with stellar-etl column names (see `docs/schema.md`).
//! - [`summary`]: per-ledger counts and hashes (what `ledgerflow inspect` prints).
//! - [`generator`]: deterministic synthetic ledgers, the embedded default source.
//! - [`analytics`]: event-time tumbling windows over the tables (payment volume, high-value
//!   payments), with state snapshots for exactly-once results.
//! - [`source`]: where raw ledger batches come from (synthetic generator, SEP-54 directory).
//! - [`batch`]: a raw batch decoded and converted, with the `on_corrupt` policy.
//! - [`verify`]: an archive checked against its checkpoint (gaps, duplicates, dead letters).
//! - [`range`]: inclusive, contiguous ledger ranges.
//! - [`resilience`]: failure classes, retry policies and circuit breakers (the supervisors'
//!   primitives).
//! - [`checkpoint`]: per-stream progress in sled, committed atomically with the files it makes
//!   visible.
//! - [`config`]: the service configuration: TOML, `LEDGERFLOW_*` environment, validation.
//! - [`archive`]: Parquet files in a hive layout, written by two-phase commit.
//! - [`storage`]: object-storage locations (S3, GCS, local) opened through object_store.

pub mod analytics;
pub mod archive;
pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod datastore;
pub mod decode;
pub mod generator;
pub mod ledger;
pub mod network;
pub mod range;
pub mod resilience;
pub mod source;
pub mod storage;
pub mod summary;
pub mod tables;
pub mod verify;
