//! What travels between the pipeline's actors: a payload, the stream epoch it belongs to, and
//! the credit it holds.
//!
//! The epoch implements "restart from the last acknowledged ledger" for every stage at once:
//! when a supervisor restarts a worker, the pipeline bumps the epoch and the fetcher resumes
//! from the checkpoint. A stage that sees a newer epoch resets itself from the checkpoint
//! before processing; anything of an older epoch is dropped (with its credit). Nothing of an
//! older epoch can be committed: the checkpoint actor refuses it.

use ledgerflow::range::LedgerRange;

use crate::credit::Credit;
use crate::telemetry::TraceContext;

/// A stream incarnation: bumped on every rewind.
pub type Epoch = u64;

/// A batch in flight.
#[derive(Debug)]
pub struct Envelope<T> {
    pub epoch: Epoch,
    /// Position in the epoch's order (0, 1, 2, ...); end-of-stream markers take one too.
    pub position: u64,
    pub range: LedgerRange,
    pub payload: T,
    pub credit: Credit,
    /// The W3C context of the batch's root span (opened by the fetcher): every stage opens its
    /// span as a child of it, so a batch is one trace across actors.
    pub trace: TraceContext,
}

/// The end of a bounded stream (or of a drained one): every ledger before `next` has been sent.
#[derive(Debug, Clone, Copy)]
pub struct EndOfStream {
    pub epoch: Epoch,
    pub position: u64,
    /// First ledger not sent.
    pub next: u32,
}

/// What a stage passes on: a batch or the end marker, in order.
#[derive(Debug)]
pub enum Item<T> {
    Batch(Envelope<T>),
    End(EndOfStream),
}

impl<T> Item<T> {
    pub fn epoch(&self) -> Epoch {
        match self {
            Item::Batch(e) => e.epoch,
            Item::End(e) => e.epoch,
        }
    }

    pub fn position(&self) -> u64 {
        match self {
            Item::Batch(e) => e.position,
            Item::End(e) => e.position,
        }
    }
}
