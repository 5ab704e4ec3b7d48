//! [`SyntheticLedgers`]: the generated ledgers in order, from the first or from any ledger.

use std::sync::Arc;

use super::config::{GeneratorConfig, GeneratorError};
use super::ledger::GeneratedLedger;
use super::universe::Universe;

/// The ledgers of a [`GeneratorConfig`], in order; endless when `ledger_count` is `None`.
///
/// Start from the first ledger ([`new`](Self::new)), resume where a previous run stopped in
/// O(1) when its last header hash is known ([`resume`](Self::resume)), or start anywhere and
/// let the chain be recomputed ([`starting_at`](Self::starting_at)). Cloning shares the
/// account pool and assets.
#[derive(Clone)]
pub struct SyntheticLedgers {
    universe: Arc<Universe>,
    /// Next sequence to generate (a `u64` so the stream can end after ledger `u32::MAX`).
    next_sequence: u64,
    /// Last sequence to generate, inclusive; `first_sequence - 1` for an empty stream.
    last_sequence: u64,
    /// Header hash of ledger `next_sequence - 1`.
    previous_header_hash: [u8; 32],
}

impl std::fmt::Debug for SyntheticLedgers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticLedgers")
            .field("seed", &self.universe.config.seed)
            .field("next_sequence", &self.next_sequence)
            .field("last_sequence", &self.last_sequence)
            .field("previous_header_hash", &hex::encode(self.previous_header_hash))
            .finish()
    }
}

impl SyntheticLedgers {
    /// The stream from its first ledger.
    pub fn new(config: GeneratorConfig) -> Result<Self, GeneratorError> {
        config.validate()?;
        let first = config.first_sequence;
        let last_sequence = config.last_sequence().map_or(u64::from(u32::MAX), u64::from);
        let universe = Arc::new(Universe::new(config));
        Ok(SyntheticLedgers {
            previous_header_hash: universe.genesis_previous_hash,
            universe,
            next_sequence: u64::from(first),
            last_sequence,
        })
    }

    /// The stream from ledger `sequence`, given the header hash of ledger `sequence - 1` (for
    /// example from a checkpoint or the last ledger written). O(1). A wrong hash gives ledgers
    /// whose chain does not link to the earlier ones; nothing else changes, as ledger bodies
    /// depend only on (config, sequence).
    pub fn resume(
        config: GeneratorConfig,
        sequence: u32,
        previous_header_hash: [u8; 32],
    ) -> Result<Self, GeneratorError> {
        let mut ledgers = Self::new(config)?;
        ledgers.check_start(sequence)?;
        ledgers.next_sequence = u64::from(sequence);
        ledgers.previous_header_hash = previous_header_hash;
        Ok(ledgers)
    }

    /// The stream from ledger `sequence`, recomputing the header chain from the first ledger:
    /// about the cost of generating the skipped ledgers, spread over all cores.
    pub fn starting_at(config: GeneratorConfig, sequence: u32) -> Result<Self, GeneratorError> {
        let mut ledgers = Self::new(config)?;
        ledgers.check_start(sequence)?;
        ledgers.skip_to(u64::from(sequence));
        Ok(ledgers)
    }

    fn check_start(&self, sequence: u32) -> Result<(), GeneratorError> {
        let first = self.universe.config.first_sequence;
        if sequence < first {
            return Err(GeneratorError::BeforeFirst { sequence, first });
        }
        if u64::from(sequence) > self.last_sequence + 1 {
            return Err(GeneratorError::AfterLast { sequence, last: self.last_sequence as u32 });
        }
        Ok(())
    }

    /// Advances to ledger `target` (clamped to one past the last) without materializing the
    /// ledgers in between; no-op when the stream is already there or past it.
    fn skip_to(&mut self, target: u64) {
        let target = target.min(self.last_sequence + 1);
        if target <= self.next_sequence {
            return;
        }
        // Past ledger u32::MAX the stream is exhausted and needs no hash.
        if let Ok(to) = u32::try_from(target) {
            self.previous_header_hash =
                self.universe.advance_chain(self.next_sequence as u32, self.previous_header_hash, to);
        }
        self.next_sequence = target;
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.universe.config
    }

    /// Sequence of the next ledger; `None` when the stream is exhausted.
    pub fn next_sequence(&self) -> Option<u32> {
        (self.next_sequence <= self.last_sequence).then_some(self.next_sequence as u32)
    }

    /// Header hash of the ledger before the next one (the genesis link before the first):
    /// what [`resume`](Self::resume) needs to continue from here.
    pub fn previous_header_hash(&self) -> [u8; 32] {
        self.previous_header_hash
    }

    /// Sequence of the last ledger of the stream (`u32::MAX` when endless); one less than the
    /// first when the stream is empty.
    pub fn last_sequence(&self) -> u32 {
        self.last_sequence as u32
    }

    /// Ledger `sequence`, chained to `previous_header_hash`, without touching the stream: for
    /// callers that generate ledgers out of order or fan them out themselves.
    pub fn ledger(
        &self,
        sequence: u32,
        previous_header_hash: [u8; 32],
    ) -> Result<GeneratedLedger, GeneratorError> {
        self.check_start(sequence)?;
        if u64::from(sequence) > self.last_sequence {
            return Err(GeneratorError::AfterLast { sequence, last: self.last_sequence as u32 });
        }
        Ok(self.universe.ledger(sequence, previous_header_hash))
    }
}

impl Iterator for SyntheticLedgers {
    type Item = GeneratedLedger;

    fn next(&mut self) -> Option<GeneratedLedger> {
        if self.next_sequence > self.last_sequence {
            return None;
        }
        let ledger = self.universe.ledger(self.next_sequence as u32, self.previous_header_hash);
        self.previous_header_hash = ledger.header_hash();
        self.next_sequence += 1;
        Some(ledger)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = (self.last_sequence + 1).saturating_sub(self.next_sequence);
        let remaining = usize::try_from(remaining).unwrap_or(usize::MAX);
        (remaining, Some(remaining))
    }

    /// Skips `n` ledgers through the chain only (no `LedgerCloseMeta` is assembled for them).
    fn nth(&mut self, n: usize) -> Option<GeneratedLedger> {
        self.skip_to(self.next_sequence.saturating_add(n as u64));
        self.next()
    }
}

impl ExactSizeIterator for SyntheticLedgers {}

impl std::iter::FusedIterator for SyntheticLedgers {}
