//! Event-time analytics over the ledger stream: payment volume per asset in tumbling windows,
//! and high-value payments (design §2, AnalyticsActor; issue "analytics actor, first version").
//!
//! # What is computed
//! A *counted payment* is an `operations` row of type `payment`, `path_payment_strict_send` or
//! `path_payment_strict_receive` that is `successful` and has an `amount`: the amount the
//! destination received, in stroops of the destination asset (`asset_type`, `asset_code`,
//! `asset_issuer`). Optionally only the assets listed in [`AnalyticsConfig::assets`] count.
//! - `payment_volume`: per window and asset, `payment_count`, `amount_sum` (Decimal128(38, 0):
//!   sums of credit assets can exceed `i64`, so totals are kept in `i128`), `amount_min`,
//!   `amount_max` and `high_value_count`. One row per (window, asset) with at least one counted
//!   payment, ordered by window then asset (type, code, issuer; absent before present).
//! - `high_value_payments`: every counted payment whose amount is strictly above
//!   [`AnalyticsConfig::high_value_threshold_stroops`], in operation order, with its window.
//!
//! Schemas are in [`schema`]. Both tables carry `ledger_sequence` and `closed_at`, which the
//! archive partitions by: for a `payment_volume` row, the ledger whose close time closed the
//! window (the *emitting* ledger); for a high-value payment, the ledger that holds it.
//!
//! # Event time and windows
//! Event time is the ledger's `closed_at` (from the `ledgers` table; every operation of a
//! ledger shares it). Windows are tumbling and aligned to the Unix epoch:
//! `[k * window_secs, (k + 1) * window_secs)`. The watermark is the largest close time seen;
//! the stream is ordered and Stellar close times increase, so nothing is late, and a batch
//! whose close times go backwards is refused ([`AnalyticsError::CloseTimeRegressed`]).
//!
//! A window is emitted when the watermark reaches its end: on the first ledger whose close time
//! is `>=` the window's end, before that ledger's own payments are folded in (they belong to a
//! later window). A window is therefore emitted by the same ledger however the stream is cut
//! into batches. Windows without a counted payment produce no row. High-value payments are
//! emitted in the batch of their ledger, without waiting for their window.
//!
//! # Snapshots and exactly-once results
//! [`Analytics::snapshot`] encodes the whole state: the last ingested ledger and its close time
//! (the watermark), the open window's per-asset totals, and the settings they depend on, in a
//! versioned binary format (documented in `analytics/snapshot.rs`). The checkpoint commits it
//! with the files of the same ledgers (design §3), and [`Analytics::restore`] rebuilds the
//! engine. The
//! contract: for any split of a ledger stream into batches, and any point at which the engine
//! is snapshotted, dropped and restored, the concatenated outputs are identical, row for row,
//! to those of one uninterrupted run. Restoring under other settings is refused
//! ([`AnalyticsError::ConfigChanged`]): the open window's totals were computed with the old ones.
//!
//! There is deliberately no `flush` of open windows at shutdown. A stopped stream resumes from
//! its snapshot with the window still open; emitting it early would write a partial row that
//! the resumed run writes again, complete, for the same window and asset: a duplicate that
//! disagrees with the uninterrupted run. A window is final only once a later ledger closes it.
//!
//! # Errors
//! Every input check (contiguity against the last ingested ledger, column presence and types,
//! row order) runs before the state changes, so a refused batch leaves the engine unchanged.
//! All [`AnalyticsError`]s are permanent: the same input fails again.

mod config;
mod engine;
mod error;
mod input;
pub mod schema;
mod snapshot;
mod window;

pub use config::{AnalyticsConfig, AssetSelector, MAX_WINDOW_SECS, ParseAssetSelectorError};
pub use engine::{Analytics, AnalyticsOutput};
pub use error::AnalyticsError;
pub use schema::AnalyticsTable;

#[cfg(test)]
mod tests;
