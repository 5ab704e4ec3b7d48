//! Per-stream progress in sled, committed atomically with the files it makes visible: step 2 of
//! the two-phase file sink of design §3.
//!
//! # Protocol
//!
//! For each group of batches the archiver:
//! 1. writes each Parquet file under a staging name and fsyncs it;
//! 2. calls [`CheckpointStore::commit`] with the ledger range, the files' final relative paths,
//!    the analytics snapshot and the dead letters. In **one** sled transaction over three trees
//!    it checks that the range starts right after the high-water mark, then records the new
//!    high-water mark, appends a commit record (files, dead letters), marks that record's files
//!    as `pending`, and replaces the analytics snapshot; then it **flushes** sled, and only then
//!    returns (sled is not durable until flushed);
//! 3. publishes the files (rename into place), then calls [`CheckpointStore::mark_published`].
//!
//! # Why the order matters
//!
//! A crash (kill -9 included) can land between any two steps, and recovery
//! ([`CheckpointStore::load`] at start-up) must leave every ledger archived exactly once:
//! - before the transaction, or after it but before the flush: the commit is lost. That is fine:
//!   its files are still staged, recovery deletes staging files and any published file beyond
//!   the checkpoint, and the stream resumes at the old `last_ledger + 1` ([`resume_from`]),
//!   writing the same deterministic file names again;
//! - after the flush but before publishing: the commit is durable and its files are listed in
//!   [`Checkpoint::pending`]; recovery rolls them forward (publishes the staged files), then
//!   marks them published;
//! - after publishing but before `mark_published`: recovery finds the pending files already in
//!   place; publishing is idempotent.
//!
//! Publishing before the commit is durable would be the bug: a crash would leave a visible file
//! whose ledgers the checkpoint does not cover, and the replay would write them twice. Only the
//! last commit's files are pending, so each commit is published (and marked) before the next.
//!
//! An `Err` from `commit` does not say whether the commit happened (the failure may come after
//! the transaction or during the flush): the caller fails and the restart reads the checkpoint
//! again, or it retries the same commit, which is acknowledged without a second write
//! ([`CommitAck::replayed`]).
//!
//! # Storage
//!
//! Keys are built in `keys.rs` only: every key starts with the [`StreamId`], so streams share one
//! database and [`CheckpointStore::reset`] deletes one stream only. Values carry a format
//! version byte (`codec`); an undecodable value is a permanent [`CheckpointError`] naming its
//! tree and key. Failpoints (`fail` crate, our feature `failpoints`): [`BEFORE_COMMIT`],
//! [`AFTER_TRANSACTION`], [`AFTER_FLUSH`]; each returns [`CheckpointError::Injected`] when armed
//! with `return`, and `panic` works too.
//!
//! [`resume_from`]: CheckpointStore::resume_from

mod codec;
mod error;
mod keys;
mod store;
mod stream_id;

pub use error::CheckpointError;
pub use store::{
    AFTER_FLUSH, AFTER_TRANSACTION, BEFORE_COMMIT, Checkpoint, CheckpointStore, Commit, CommitAck, DeadLetter,
};
pub use stream_id::{InvalidStreamId, StreamId};

#[cfg(test)]
mod tests;
