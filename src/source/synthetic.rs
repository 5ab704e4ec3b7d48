//! The synthetic generator as a source: each ledger is generated and encoded as raw XDR, so the
//! pipeline decodes it like any real ledger.

use std::time::{Duration, Instant};

use stellar_xdr::{Limits, WriteXdr};

use super::{LedgerSource, RawBatch, RawObject, SourceError, SourceRead};
use crate::decode::Framing;
use crate::generator::{GeneratorConfig, SyntheticLedgers};
use crate::network::Network;
use crate::range::LedgerRange;

/// Generates the ledgers of a [`GeneratorConfig`] on demand, from any ledger (the header chain
/// is recomputed when the stream resumes mid-way).
pub struct SyntheticSource {
    config: GeneratorConfig,
    /// The generator positioned at the next ledger it expects to hand out.
    ledgers: Option<SyntheticLedgers>,
    /// Follow mode: ledgers close one per `cadence`, starting with the first one read.
    cadence: Option<Duration>,
    /// The first ledger read and when: the tip moves on from there.
    anchor: Option<(u32, Instant)>,
}

impl SyntheticSource {
    pub fn new(config: GeneratorConfig) -> Result<Self, SourceError> {
        config.validate()?;
        Ok(SyntheticSource { config, ledgers: None, cadence: None, anchor: None })
    }

    /// A live-like source: the first ledger read is available at once, each next one a
    /// `cadence` later (Stellar closes a ledger about every 5 s).
    pub fn following(config: GeneratorConfig, cadence: Duration) -> Result<Self, SourceError> {
        Ok(SyntheticSource { cadence: Some(cadence), ..Self::new(config)? })
    }

    /// The last ledger closed by now, in follow mode.
    fn closed_tip(&mut self, next: u32) -> Option<u32> {
        let cadence = self.cadence?;
        Some(closed_by_now(*self.anchor.get_or_insert((next, Instant::now())), cadence))
    }

    fn positioned_at(&mut self, next: u32) -> Result<&mut SyntheticLedgers, SourceError> {
        let positioned = self.ledgers.as_ref().is_some_and(|l| l.next_sequence() == Some(next));
        if !positioned {
            self.ledgers = Some(SyntheticLedgers::starting_at(self.config.clone(), next)?);
        }
        Ok(self.ledgers.as_mut().expect("positioned above"))
    }
}

/// The last ledger closed by now when `anchor.0` closed at `anchor.1`, one per `cadence`.
fn closed_by_now((first, since): (u32, Instant), cadence: Duration) -> u32 {
    let closed = since.elapsed().as_nanos() / cadence.as_nanos().max(1);
    first.saturating_add(u32::try_from(closed).unwrap_or(u32::MAX))
}

impl LedgerSource for SyntheticSource {
    fn network(&self) -> Network {
        self.config.network.clone()
    }

    fn first_available(&mut self) -> Result<Option<u32>, SourceError> {
        Ok(Some(self.config.first_sequence))
    }

    fn read_within(
        &mut self,
        next: u32,
        last: Option<u32>,
        max_ledgers: u32,
        max_bytes: usize,
    ) -> Result<SourceRead, SourceError> {
        let end = match (self.config.last_sequence(), last) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if next < self.config.first_sequence || end.is_some_and(|end| next > end) {
            return Ok(SourceRead::End);
        }
        let end = match self.closed_tip(next) {
            Some(tip) if tip < next => return Ok(SourceRead::NotYet),
            Some(tip) => Some(end.map_or(tip, |end| end.min(tip))),
            None => end,
        };
        let ledgers = self.positioned_at(next)?;
        let mut objects = Vec::new();
        let mut bytes = 0usize;
        let mut last_generated = next;
        for _ in 0..max_ledgers.max(1) {
            if end.is_some_and(|end| ledgers.next_sequence().is_none_or(|n| n > end)) {
                break;
            }
            let Some(ledger) = ledgers.next() else { break };
            let sequence = ledger.expected.sequence;
            let xdr = ledger
                .meta
                .to_xdr(Limits::none())
                .map_err(|source| SourceError::Encode { sequence, source })?;
            bytes += xdr.len();
            last_generated = sequence;
            objects.push(RawObject {
                name: format!("synthetic ledger {sequence}"),
                bytes: xdr,
                framing: Framing::Xdr,
                holds: Some(LedgerRange::single(sequence)),
            });
            if bytes >= max_bytes {
                break;
            }
        }
        if objects.is_empty() {
            return Ok(SourceRead::End);
        }
        let range = LedgerRange::new(next, last_generated).expect("generated in increasing order");
        Ok(SourceRead::Batch(RawBatch { range, objects }))
    }

    fn tip(&self) -> Option<u32> {
        match self.cadence {
            Some(cadence) => self.anchor.map(|anchor| closed_by_now(anchor, cadence)),
            None => self.config.last_sequence(),
        }
    }
}
