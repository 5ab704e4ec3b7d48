//! [`Analytics`]: the engine that folds ledger batches into windows.

use std::fmt;

use arrow::record_batch::RecordBatch;

use super::config::AnalyticsConfig;
use super::input::{LedgerColumns, OperationColumns};
use super::schema::{EmittingLedger, HighValuePaymentsBuilder, PaymentVolumeBuilder};
use super::window::{OpenWindow, window_end, window_start};
use super::{AnalyticsError, snapshot};
use crate::range::LedgerRange;
use crate::tables::LedgerTables;

/// What one ingested batch produced. Either table may be empty.
#[derive(Clone)]
pub struct AnalyticsOutput {
    /// The ledgers of the batch.
    pub range: LedgerRange,
    /// Rows of the windows that the batch's ledgers closed, by window then asset.
    pub payment_volume: RecordBatch,
    /// Rows of the batch's high-value payments, in operation order.
    pub high_value_payments: RecordBatch,
}

/// Prints the range and row counts, not the rows.
impl fmt::Debug for AnalyticsOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnalyticsOutput")
            .field("range", &self.range)
            .field("payment_volume_rows", &self.payment_volume.num_rows())
            .field("high_value_payments_rows", &self.high_value_payments.num_rows())
            .finish()
    }
}

/// The last ingested ledger; its close time is the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LastLedger {
    pub sequence: u32,
    pub closed_at_micros: i64,
}

/// Event-time tumbling windows over a contiguous ledger stream (see the [module
/// docs](super)).
///
/// Feed it every batch in order with [`ingest`](Self::ingest); persist
/// [`snapshot`](Self::snapshot) with each commit and [`restore`](Self::restore) from it after a
/// restart.
#[derive(Debug)]
pub struct Analytics {
    config: AnalyticsConfig,
    last: Option<LastLedger>,
    open_window: Option<OpenWindow>,
    /// Reused lookup key of the asset map, so known assets cost no allocation.
    key_scratch: String,
}

impl Analytics {
    /// An engine that has seen no ledger: it accepts a first batch starting anywhere.
    pub fn new(config: AnalyticsConfig) -> Result<Self, AnalyticsError> {
        config.validate()?;
        Ok(Analytics { config, last: None, open_window: None, key_scratch: String::new() })
    }

    /// The engine whose state [`snapshot`](Self::snapshot) wrote. `config` must equal the
    /// snapshot's settings ([`AnalyticsError::ConfigChanged`] otherwise): the open window was
    /// aggregated under them.
    pub fn restore(config: AnalyticsConfig, snapshot: &[u8]) -> Result<Self, AnalyticsError> {
        config.validate()?;
        let state = snapshot::decode(&config, snapshot)?;
        Ok(Analytics { config, last: state.last, open_window: state.open_window, key_scratch: String::new() })
    }

    /// The state after the last ingested ledger: the open window's totals, the last ledger and
    /// its close time, and the settings they were computed with. Equal states give equal bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        snapshot::encode(&self.config, self.last, self.open_window.as_ref())
    }

    pub fn config(&self) -> &AnalyticsConfig {
        &self.config
    }

    /// The last ingested ledger, `None` before the first batch.
    pub fn last_ledger(&self) -> Option<u32> {
        self.last.map(|last| last.sequence)
    }

    /// The largest close time seen (µs since the epoch), `None` before the first batch.
    pub fn watermark_micros(&self) -> Option<i64> {
        self.last.map(|last| last.closed_at_micros)
    }

    /// Start (µs) of the window still open, `None` when no payment was counted since the last
    /// window closed.
    pub fn open_window_start_micros(&self) -> Option<i64> {
        self.open_window.as_ref().map(|window| window.start_micros)
    }

    /// Folds the ledgers of `tables` (a contiguous range, in order, following the last ingested
    /// ledger) into the windows: emits the windows their close times close and the high-value
    /// payments they hold.
    ///
    /// Every check runs before the state changes: a refused batch leaves the engine as it was,
    /// so the caller may correct the batch and call again.
    pub fn ingest(&mut self, tables: &LedgerTables) -> Result<AnalyticsOutput, AnalyticsError> {
        self.ingest_checked(tables, None)
    }

    /// [`ingest`](Self::ingest) of a batch that covers `range`, where some ledgers of the range
    /// may have no rows (set aside as dead letters): ledgers must lie in `range`, in order, and
    /// `range` must follow the last ingested range. Afterwards the engine stands at
    /// `range.last()`, so the next batch follows the range, not its last ledger with rows.
    pub fn ingest_range(
        &mut self,
        range: LedgerRange,
        tables: &LedgerTables,
    ) -> Result<AnalyticsOutput, AnalyticsError> {
        self.ingest_checked(tables, Some(range))
    }

    fn ingest_checked(
        &mut self,
        tables: &LedgerTables,
        covered: Option<LedgerRange>,
    ) -> Result<AnalyticsOutput, AnalyticsError> {
        let ledgers = LedgerColumns::read(&tables.ledgers)?;
        let operations = OperationColumns::read(&tables.operations)?;
        if let Some(range) = covered
            && ledgers.sequence.is_empty()
        {
            // Every ledger of the range was set aside: nothing to fold, the position moves on.
            if let Some(previous) = self.last {
                range.check_follows(&LedgerRange::single(previous.sequence)).map_err(not_contiguous)?;
            }
            let empty = self.empty_output(range)?;
            let closed_at_micros = self.last.map_or(i64::MIN, |l| l.closed_at_micros);
            self.last = Some(LastLedger { sequence: range.last(), closed_at_micros });
            return Ok(empty);
        }
        let plan = self.check(&ledgers, &operations, covered)?;

        let window_micros = self.config.window_micros();
        let threshold = self.config.high_value_threshold_stroops;
        let mut payment_volume = PaymentVolumeBuilder::default();
        let mut high_value_payments = HighValuePaymentsBuilder::default();
        let Analytics { config, last, open_window, key_scratch } = self;
        for (index, (&sequence, &closed_at_micros)) in
            ledgers.sequence.iter().zip(ledgers.closed_at_micros).enumerate()
        {
            // The watermark moves to this ledger's close time first: a ledger closing exactly
            // at a window's end closes that window, and its own payments start the next one.
            if let Some(window) = open_window
                .take_if(|window| window_end(window.start_micros, window_micros) <= closed_at_micros)
            {
                let start = window.start_micros;
                let end = window_end(start, window_micros);
                let by = EmittingLedger { sequence, closed_at_micros };
                for totals in window.into_sorted_totals() {
                    payment_volume.append(start, end, &totals, by);
                }
            }
            *last = Some(LastLedger { sequence, closed_at_micros });

            let current_window_start = window_start(closed_at_micros, window_micros);
            for row in plan.operation_rows(index) {
                if !operations.is_counted_payment(row) {
                    continue;
                }
                let window = open_window.get_or_insert_with(|| OpenWindow::new(current_window_start));
                debug_assert_eq!(
                    window.start_micros, current_window_start,
                    "payments fall in the watermark's window"
                );
                let asset = operations.asset(row);
                let totals = window.totals_mut(asset, key_scratch, config);
                if !totals.selected {
                    continue;
                }
                let amount = operations.amount.value(row);
                let high_value = amount > threshold;
                totals.add(amount, high_value);
                if high_value {
                    high_value_payments.append(
                        &operations,
                        row,
                        asset,
                        sequence,
                        closed_at_micros,
                        current_window_start,
                    );
                }
            }
        }
        if let (Some(range), Some(last)) = (covered, last.as_mut()) {
            last.sequence = range.last();
        }
        Ok(AnalyticsOutput {
            range: covered.unwrap_or(plan.range),
            payment_volume: payment_volume.finish()?,
            high_value_payments: high_value_payments.finish()?,
        })
    }

    fn empty_output(&self, range: LedgerRange) -> Result<AnalyticsOutput, AnalyticsError> {
        Ok(AnalyticsOutput {
            range,
            payment_volume: PaymentVolumeBuilder::default().finish()?,
            high_value_payments: HighValuePaymentsBuilder::default().finish()?,
        })
    }

    /// Checks the batch against the state and itself: ledgers contiguous and following the last
    /// ingested one, close times not decreasing, operation rows grouped by ledger in order,
    /// counted payments with an asset type. Reads only.
    fn check(
        &self,
        ledgers: &LedgerColumns<'_>,
        operations: &OperationColumns<'_>,
        covered: Option<LedgerRange>,
    ) -> Result<BatchPlan, AnalyticsError> {
        let (&first, &last) =
            ledgers.sequence.first().zip(ledgers.sequence.last()).ok_or(AnalyticsError::EmptyBatch)?;
        match covered {
            None => {
                if let Some(previous) = self.last {
                    LedgerRange::single(first)
                        .check_follows(&LedgerRange::single(previous.sequence))
                        .map_err(not_contiguous)?;
                }
                for pair in ledgers.sequence.windows(2) {
                    LedgerRange::single(pair[1])
                        .check_follows(&LedgerRange::single(pair[0]))
                        .map_err(not_contiguous)?;
                }
            }
            Some(covered) => {
                if let Some(previous) = self.last {
                    covered.check_follows(&LedgerRange::single(previous.sequence)).map_err(not_contiguous)?;
                }
                // Gaps are the dead letters; order and bounds still hold.
                let outside = |s: u32| !covered.contains(s);
                if outside(first) || outside(last) || ledgers.sequence.windows(2).any(|p| p[1] <= p[0]) {
                    return Err(AnalyticsError::NotContiguous { expected: covered.first(), found: first });
                }
            }
        }
        let range = LedgerRange::new(first, last)?;
        let contiguous = u64::from(last - first) + 1 == ledgers.sequence.len() as u64;

        let mut watermark = self.last.map(|last| last.closed_at_micros);
        for (&sequence, &closed_at_micros) in ledgers.sequence.iter().zip(ledgers.closed_at_micros) {
            if let Some(watermark_micros) = watermark
                && closed_at_micros < watermark_micros
            {
                return Err(AnalyticsError::CloseTimeRegressed {
                    sequence,
                    closed_at_micros,
                    watermark_micros,
                });
            }
            watermark = Some(closed_at_micros);
        }

        // bounds[i]..bounds[i + 1] are the operation rows of the batch's i-th ledger.
        let ledger_count = ledgers.sequence.len();
        let mut bounds = Vec::with_capacity(ledger_count + 1);
        bounds.push(0);
        let mut current = 0usize;
        for (row, &ledger_sequence) in operations.ledger_sequence.iter().enumerate() {
            let position = if contiguous {
                range.contains(ledger_sequence).then(|| (ledger_sequence - first) as usize)
            } else {
                ledgers.sequence.binary_search(&ledger_sequence).ok()
            };
            let index = position
                .filter(|index| *index >= current)
                .ok_or(AnalyticsError::OperationOutOfOrder { row, ledger_sequence, range })?;
            while current < index {
                bounds.push(row);
                current += 1;
            }
            if operations.is_counted_payment(row) {
                operations.check_payment_asset(row)?;
            }
        }
        bounds.resize(ledger_count + 1, operations.len());
        Ok(BatchPlan { range, bounds })
    }
}

/// A checked batch: its range and where each ledger's operation rows are.
struct BatchPlan {
    range: LedgerRange,
    bounds: Vec<usize>,
}

impl BatchPlan {
    fn operation_rows(&self, ledger_index: usize) -> std::ops::Range<usize> {
        self.bounds[ledger_index]..self.bounds[ledger_index + 1]
    }
}

fn not_contiguous(error: crate::range::RangeError) -> AnalyticsError {
    match error {
        crate::range::RangeError::NotContiguous { expected, found } => {
            AnalyticsError::NotContiguous { expected, found }
        }
        other => AnalyticsError::Range(other),
    }
}
