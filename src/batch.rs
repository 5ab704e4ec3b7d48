//! A raw batch made into tables: decode every object, keep the ledgers of the batch's range,
//! check they are all there and in order, convert them; corrupt ledgers follow the
//! [`OnCorrupt`] policy.
//!
//! This is the convert stage's work, kept here so it is plain library code: the actor only
//! runs it on a blocking thread.

use serde::{Deserialize, Serialize};

use crate::decode::{DecodeError, DecodeLimits, read_object};
use crate::range::LedgerRange;
use crate::resilience::{Classify, FailureClass};
use crate::source::{RawBatch, RawObject};
use crate::tables::{ConvertError, ConvertOptions, LedgerTables, TableBuilder};

/// What to do with a ledger that fails to decode or convert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCorrupt {
    /// Stop the stream with the error; the checkpoint stays at the last good commit.
    #[default]
    Fail,
    /// Keep the raw bytes and the error under `<archive root>/_dead_letter/`, record the
    /// ledgers in the checkpoint, count them, and go on.
    DeadLetter,
}

impl OnCorrupt {
    pub const fn as_str(self) -> &'static str {
        match self {
            OnCorrupt::Fail => "fail",
            OnCorrupt::DeadLetter => "dead_letter",
        }
    }
}

impl std::fmt::Display for OnCorrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Ledgers set aside under [`OnCorrupt::DeadLetter`], with the object that held them.
#[derive(Debug, Clone)]
pub struct DeadLetterRecord {
    /// The ledgers lost (a whole object when the object itself is unreadable).
    pub ledgers: LedgerRange,
    pub object: String,
    pub error: String,
    pub bytes: Vec<u8>,
}

/// The tables of a batch's range, and what was set aside.
#[derive(Debug)]
pub struct ConvertedBatch {
    pub range: LedgerRange,
    pub tables: LedgerTables,
    pub dead_letters: Vec<DeadLetterRecord>,
    /// XDR bytes decoded.
    pub xdr_bytes: usize,
}

/// Why a batch could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("{object}: holds ledger {found} where ledger {expected} comes next")]
    OutOfOrder { object: String, expected: u32, found: u32 },
    #[error("batch {range}: the source's objects end before ledger {missing}")]
    Incomplete { range: LedgerRange, missing: u32 },
}

impl Classify for BatchError {
    fn class(&self) -> FailureClass {
        match self {
            BatchError::Decode(err) => err.class(),
            BatchError::Convert(err) => err.class(),
            BatchError::OutOfOrder { .. } | BatchError::Incomplete { .. } => FailureClass::Permanent,
        }
    }
}

/// Decodes and converts `raw` (consumed: its bytes are decoded in place).
pub fn convert_batch(
    raw: RawBatch,
    options: &ConvertOptions,
    limits: &DecodeLimits,
    on_corrupt: OnCorrupt,
) -> Result<ConvertedBatch, BatchError> {
    convert_batch_with(raw, &mut TableBuilder::new(options.clone()), limits, on_corrupt)
}

/// [`convert_batch`] into a builder kept from batch to batch (a converter's own): its buffers
/// come sized like the last batch and its strkey cache warm. On error the builder is replaced
/// by an empty one, so no row of a failed batch is left in it.
pub fn convert_batch_with(
    raw: RawBatch,
    builder: &mut TableBuilder,
    limits: &DecodeLimits,
    on_corrupt: OnCorrupt,
) -> Result<ConvertedBatch, BatchError> {
    let result = convert_into(raw, builder, limits, on_corrupt);
    if result.is_err() {
        *builder = TableBuilder::new(builder.options().clone());
    }
    result
}

fn convert_into(
    raw: RawBatch,
    builder: &mut TableBuilder,
    limits: &DecodeLimits,
    on_corrupt: OnCorrupt,
) -> Result<ConvertedBatch, BatchError> {
    let range = raw.range;
    let mut dead_letters = Vec::new();
    let mut xdr_bytes = 0usize;
    let mut expected = range.first();
    for object in raw.objects {
        if expected > range.last() {
            break;
        }
        let RawObject { name, bytes, framing, holds } = object;
        // Copy kept only when dead letters may need the bytes after a failure.
        let kept = (on_corrupt == OnCorrupt::DeadLetter).then(|| bytes.clone());
        let failure = match read_object(name.clone(), bytes, Some(framing), limits) {
            Err(err) => Some(BatchError::from(err)),
            Ok(ledgers) => {
                let mut failure = None;
                for ledger in ledgers {
                    let ledger = match ledger {
                        Ok(ledger) => ledger,
                        Err(err) => {
                            failure = Some(BatchError::from(err));
                            break;
                        }
                    };
                    if ledger.sequence < expected {
                        continue; // before the range: the stream resumed mid-object
                    }
                    if ledger.sequence > range.last() {
                        break;
                    }
                    if ledger.sequence != expected {
                        return Err(BatchError::OutOfOrder {
                            object: name,
                            expected,
                            found: ledger.sequence,
                        });
                    }
                    xdr_bytes += ledger.xdr_bytes;
                    match builder.push(&ledger.meta) {
                        Ok(()) => expected += 1,
                        Err(err) if on_corrupt == OnCorrupt::DeadLetter => {
                            let ledgers = LedgerRange::single(expected);
                            dead_letters.push(DeadLetterRecord {
                                ledgers,
                                object: name.clone(),
                                error: err.to_string(),
                                bytes: kept.clone().unwrap_or_default(),
                            });
                            expected += 1;
                        }
                        Err(err) => return Err(err.into()),
                    }
                    if expected > range.last() {
                        break;
                    }
                }
                failure
            }
        };
        let Some(failure) = failure else { continue };
        if on_corrupt == OnCorrupt::Fail || failure.class() == FailureClass::Transient {
            return Err(failure);
        }
        // The rest of this object is unreadable: set aside what it holds of the range.
        let object_last = holds.map_or(range.last(), |h| h.last()).min(range.last());
        let lost = LedgerRange::new(expected, object_last.max(expected)).expect("expected <= object_last");
        dead_letters.push(DeadLetterRecord {
            ledgers: lost,
            object: name,
            error: failure.to_string(),
            bytes: kept.unwrap_or_default(),
        });
        expected = lost.last() + 1;
    }
    if expected <= range.last() {
        return Err(BatchError::Incomplete { range, missing: expected });
    }
    Ok(ConvertedBatch { range, tables: builder.finish()?, dead_letters, xdr_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::GeneratorConfig;
    use crate::source::{LedgerSource, SourceRead, SyntheticSource};

    fn synthetic_batch(first: u32, count: u32) -> (RawBatch, GeneratorConfig) {
        let config =
            GeneratorConfig { ledger_count: Some(50), transactions_per_ledger: 10, ..Default::default() };
        let mut source = SyntheticSource::new(config.clone()).unwrap();
        let SourceRead::Batch(batch) = source.read(first, None, count, usize::MAX).unwrap() else { panic!() };
        (batch, config)
    }

    fn options(config: &GeneratorConfig) -> ConvertOptions {
        ConvertOptions { network: config.network.clone(), keep_raw_xdr: false }
    }

    #[test]
    fn converts_exactly_the_range() {
        let (batch, config) = synthetic_batch(config_first() + 3, 5);
        let converted =
            convert_batch(batch, &options(&config), &DecodeLimits::default(), OnCorrupt::Fail).unwrap();
        assert_eq!(converted.tables.ledgers.num_rows(), 5);
        assert_eq!(converted.range, LedgerRange::new(config_first() + 3, config_first() + 7).unwrap());
        assert!(converted.dead_letters.is_empty());
    }

    fn config_first() -> u32 {
        GeneratorConfig::default().first_sequence
    }

    #[test]
    fn a_corrupt_ledger_fails_or_is_dead_lettered_by_policy() {
        let (mut batch, config) = synthetic_batch(config_first(), 4);
        batch.objects[2].bytes.truncate(100);
        let err = convert_batch(batch.clone(), &options(&config), &DecodeLimits::default(), OnCorrupt::Fail)
            .unwrap_err();
        assert_eq!(err.class(), FailureClass::Permanent);
        assert!(err.to_string().contains(&format!("ledger {}", config_first() + 2)), "{err}");

        let converted =
            convert_batch(batch, &options(&config), &DecodeLimits::default(), OnCorrupt::DeadLetter).unwrap();
        assert_eq!(converted.tables.ledgers.num_rows(), 3, "the three good ledgers");
        assert_eq!(converted.dead_letters.len(), 1);
        assert_eq!(converted.dead_letters[0].ledgers, LedgerRange::single(config_first() + 2));
        assert_eq!(converted.dead_letters[0].bytes.len(), 100);
    }

    #[test]
    fn a_missing_ledger_is_an_error() {
        let (mut batch, config) = synthetic_batch(config_first(), 4);
        batch.objects.remove(1);
        let err = convert_batch(batch, &options(&config), &DecodeLimits::default(), OnCorrupt::DeadLetter)
            .unwrap_err();
        assert!(matches!(err, BatchError::OutOfOrder { found, .. } if found == config_first() + 2), "{err}");
    }
}
