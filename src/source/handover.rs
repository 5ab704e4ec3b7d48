//! The hand-over from a data store to Stellar RPC (`source.kind = "datastore"` with
//! `source.rpc_url`): history from the store, the live tail from RPC.
//!
//! A read goes to the store until the store has nothing at `next` (`End` or `NotYet`: its tip);
//! from then on this source reads from RPC, starting at exactly that `next`. The seam is a
//! ledger sequence: batches are contiguous (design §1), so the last ledger from the store is
//! `next - 1` and the first from RPC is `next`, with no gap and no duplicate, whatever the two
//! sources hold around it (an RPC's window usually reaches back before the store's tip).
//!
//! No state outlives the source: a restarted stream makes a new one and resumes at its
//! checkpoint, so the switch is derived again from `next` alone (a store that has grown since
//! is read up to its new tip first). Once on RPC the source stays on RPC, even if the store
//! catches up; only a read behind the seam (which a stream never makes) goes back to the store.

use tracing::info;

use super::{LedgerSource, RpcSource, SourceError, SourceRead};
use crate::network::Network;

pub struct HandoverSource {
    store: Box<dyn LedgerSource>,
    rpc: RpcSource,
    /// The first ledger read from RPC, once the stream has crossed over.
    seam: Option<u32>,
}

impl HandoverSource {
    /// Reads `store` to its tip, then `rpc`. The stream's network is the store's.
    pub fn new(store: Box<dyn LedgerSource>, rpc: RpcSource) -> Self {
        HandoverSource { store, rpc, seam: None }
    }

    /// The first ledger read from RPC, once the stream has crossed over.
    pub fn seam(&self) -> Option<u32> {
        self.seam
    }

    /// Crosses over at `next`, once the RPC is known to serve the store's network.
    fn hand_over(&mut self, next: u32) -> Result<(), SourceError> {
        let store = self.store.network();
        let rpc = self.rpc.fetch_network()?;
        if rpc != store {
            return Err(SourceError::NetworkMismatch {
                rpc: self.rpc.origin().to_owned(),
                sequence: next,
                rpc_passphrase: rpc.passphrase().to_owned(),
                store_passphrase: store.passphrase().to_owned(),
            });
        }
        info!(seam = next, store_tip = ?self.store.tip(), rpc = %self.rpc.origin(), "data store at its tip, handing over to rpc");
        self.seam = Some(next);
        Ok(())
    }
}

impl LedgerSource for HandoverSource {
    fn network(&self) -> Network {
        self.store.network()
    }

    /// The store's first ledger; the RPC's oldest when the store is empty.
    fn first_available(&mut self) -> Result<Option<u32>, SourceError> {
        match self.store.first_available()? {
            Some(first) => Ok(Some(first)),
            None => self.rpc.first_available(),
        }
    }

    fn read_within(
        &mut self,
        next: u32,
        last: Option<u32>,
        max_ledgers: u32,
        max_bytes: usize,
    ) -> Result<SourceRead, SourceError> {
        if self.seam.is_some_and(|seam| next < seam) {
            self.seam = None;
        }
        if self.seam.is_none() {
            match self.store.read(next, last, max_ledgers, max_bytes)? {
                SourceRead::Batch(batch) => return Ok(SourceRead::Batch(batch)),
                SourceRead::End | SourceRead::NotYet => self.hand_over(next)?,
            }
        }
        self.rpc.read(next, last, max_ledgers, max_bytes)
    }

    fn tip(&self) -> Option<u32> {
        match self.seam {
            Some(_) => self.rpc.tip(),
            None => self.store.tip(),
        }
    }
}
