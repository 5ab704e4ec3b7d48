//! The analytics output tables: their names, schemas and builders, in one place so the column
//! order of a schema and of its builder cannot drift apart.
//!
//! Both tables carry `ledger_sequence` (UInt32) and `closed_at` (Timestamp µs, UTC): the archive
//! partitions and names files by those two columns, as for the ledger tables. In
//! `payment_volume` they name the ledger that closed the window (the emitting ledger), in
//! `high_value_payments` the ledger of the payment.

use std::fmt;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, Decimal128Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::AnalyticsError;
use super::input::{AssetRef, OperationColumns, optional};
use super::window::AssetTotals;
use crate::tables::field;

/// Precision of `amount_sum`: 38 digits hold any sum of up to 2^63 amounts of up to 2^63 stroops.
const AMOUNT_SUM_PRECISION: u8 = 38;

/// The tables the analytics engine produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnalyticsTable {
    /// One row per (window, asset) with at least one counted payment, written when the window
    /// closes.
    PaymentVolume,
    /// One row per counted payment strictly above the high-value threshold, written at once.
    HighValuePayments,
}

impl AnalyticsTable {
    pub const ALL: [AnalyticsTable; 2] = [AnalyticsTable::PaymentVolume, AnalyticsTable::HighValuePayments];

    pub fn name(self) -> &'static str {
        match self {
            AnalyticsTable::PaymentVolume => "payment_volume",
            AnalyticsTable::HighValuePayments => "high_value_payments",
        }
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            AnalyticsTable::PaymentVolume => payment_volume_schema(),
            AnalyticsTable::HighValuePayments => high_value_payments_schema(),
        }
    }
}

impl fmt::Display for AnalyticsTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Schema of `payment_volume`.
pub fn payment_volume_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            field::timestamp("window_start"),
            field::timestamp("window_end"),
            field::utf8("asset_type", false),
            field::utf8("asset_code", true),
            field::utf8("asset_issuer", true),
            field::int64("payment_count", false),
            Field::new("amount_sum", DataType::Decimal128(AMOUNT_SUM_PRECISION, 0), false),
            field::int64("amount_min", false),
            field::int64("amount_max", false),
            field::int64("high_value_count", false),
            field::uint32("ledger_sequence", false),
            field::timestamp("closed_at"),
        ]))
    });
    SCHEMA.clone()
}

/// Schema of `high_value_payments`.
pub fn high_value_payments_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            field::int64("operation_id", false),
            field::utf8("transaction_hash", false),
            field::uint32("ledger_sequence", false),
            field::timestamp("closed_at"),
            field::timestamp("window_start"),
            field::utf8("type_string", false),
            field::utf8("from", true),
            field::utf8("to", true),
            field::utf8("asset_type", false),
            field::utf8("asset_code", true),
            field::utf8("asset_issuer", true),
            field::int64("amount", false),
        ]))
    });
    SCHEMA.clone()
}

fn utc(builder: &mut TimestampMicrosecondBuilder) -> ArrayRef {
    Arc::new(builder.finish().with_timezone("UTC"))
}

fn finish(table: AnalyticsTable, columns: Vec<ArrayRef>) -> Result<RecordBatch, AnalyticsError> {
    RecordBatch::try_new(table.schema(), columns)
        .map_err(|source| AnalyticsError::Arrow { table: table.name(), source })
}

/// Rows of `payment_volume`, appended as windows close.
#[derive(Default)]
pub(crate) struct PaymentVolumeBuilder {
    window_start: TimestampMicrosecondBuilder,
    window_end: TimestampMicrosecondBuilder,
    asset_type: StringBuilder,
    asset_code: StringBuilder,
    asset_issuer: StringBuilder,
    payment_count: Int64Builder,
    amount_sum: Decimal128Builder,
    amount_min: Int64Builder,
    amount_max: Int64Builder,
    high_value_count: Int64Builder,
    ledger_sequence: UInt32Builder,
    closed_at: TimestampMicrosecondBuilder,
}

/// The ledger whose close time closed a window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmittingLedger {
    pub sequence: u32,
    pub closed_at_micros: i64,
}

impl PaymentVolumeBuilder {
    pub fn append(&mut self, window_start: i64, window_end: i64, totals: &AssetTotals, by: EmittingLedger) {
        self.window_start.append_value(window_start);
        self.window_end.append_value(window_end);
        self.asset_type.append_value(&totals.asset_type);
        self.asset_code.append_option(totals.asset_code.as_deref());
        self.asset_issuer.append_option(totals.asset_issuer.as_deref());
        self.payment_count.append_value(totals.payment_count);
        self.amount_sum.append_value(totals.amount_sum);
        self.amount_min.append_value(totals.amount_min);
        self.amount_max.append_value(totals.amount_max);
        self.high_value_count.append_value(totals.high_value_count);
        self.ledger_sequence.append_value(by.sequence);
        self.closed_at.append_value(by.closed_at_micros);
    }

    pub fn finish(&mut self) -> Result<RecordBatch, AnalyticsError> {
        let table = AnalyticsTable::PaymentVolume;
        let amount_sum = self
            .amount_sum
            .finish()
            .with_precision_and_scale(AMOUNT_SUM_PRECISION, 0)
            .map_err(|source| AnalyticsError::Arrow { table: table.name(), source })?;
        finish(
            table,
            vec![
                utc(&mut self.window_start),
                utc(&mut self.window_end),
                Arc::new(self.asset_type.finish()),
                Arc::new(self.asset_code.finish()),
                Arc::new(self.asset_issuer.finish()),
                Arc::new(self.payment_count.finish()),
                Arc::new(amount_sum),
                Arc::new(self.amount_min.finish()),
                Arc::new(self.amount_max.finish()),
                Arc::new(self.high_value_count.finish()),
                Arc::new(self.ledger_sequence.finish()),
                utc(&mut self.closed_at),
            ],
        )
    }
}

/// Rows of `high_value_payments`, copied from the `operations` arrays as payments are folded.
#[derive(Default)]
pub(crate) struct HighValuePaymentsBuilder {
    operation_id: Int64Builder,
    transaction_hash: StringBuilder,
    ledger_sequence: UInt32Builder,
    closed_at: TimestampMicrosecondBuilder,
    window_start: TimestampMicrosecondBuilder,
    type_string: StringBuilder,
    from: StringBuilder,
    to: StringBuilder,
    asset_type: StringBuilder,
    asset_code: StringBuilder,
    asset_issuer: StringBuilder,
    amount: Int64Builder,
}

impl HighValuePaymentsBuilder {
    /// Appends operations row `row`, a counted payment of `asset` in ledger `sequence`.
    pub fn append(
        &mut self,
        operations: &OperationColumns<'_>,
        row: usize,
        asset: AssetRef<'_>,
        sequence: u32,
        closed_at_micros: i64,
        window_start: i64,
    ) {
        self.operation_id.append_value(operations.id.value(row));
        self.transaction_hash.append_value(operations.transaction_hash.value(row));
        self.ledger_sequence.append_value(sequence);
        self.closed_at.append_value(closed_at_micros);
        self.window_start.append_value(window_start);
        self.type_string.append_value(operations.type_string.value(row));
        self.from.append_option(optional(operations.from, row));
        self.to.append_option(optional(operations.to, row));
        self.asset_type.append_value(asset.asset_type);
        self.asset_code.append_option(asset.asset_code);
        self.asset_issuer.append_option(asset.asset_issuer);
        self.amount.append_value(operations.amount.value(row));
    }

    pub fn finish(&mut self) -> Result<RecordBatch, AnalyticsError> {
        finish(
            AnalyticsTable::HighValuePayments,
            vec![
                Arc::new(self.operation_id.finish()),
                Arc::new(self.transaction_hash.finish()),
                Arc::new(self.ledger_sequence.finish()),
                utc(&mut self.closed_at),
                utc(&mut self.window_start),
                Arc::new(self.type_string.finish()),
                Arc::new(self.from.finish()),
                Arc::new(self.to.finish()),
                Arc::new(self.asset_type.finish()),
                Arc::new(self.asset_code.finish()),
                Arc::new(self.asset_issuer.finish()),
                Arc::new(self.amount.finish()),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_tables_match_their_schemas_and_carry_the_archive_columns() {
        let volume = PaymentVolumeBuilder::default().finish().unwrap();
        let high_value = HighValuePaymentsBuilder::default().finish().unwrap();
        assert_eq!(volume.num_rows(), 0);
        assert_eq!(high_value.num_rows(), 0);
        for (table, batch) in
            [(AnalyticsTable::PaymentVolume, volume), (AnalyticsTable::HighValuePayments, high_value)]
        {
            assert_eq!(batch.schema(), table.schema(), "{table}");
            let schema = table.schema();
            assert_eq!(schema.field_with_name("ledger_sequence").unwrap().data_type(), &DataType::UInt32);
            assert_eq!(
                schema.field_with_name("closed_at").unwrap().data_type(),
                &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()))
            );
        }
        assert_eq!(AnalyticsTable::ALL.map(AnalyticsTable::name), ["payment_volume", "high_value_payments"]);
    }
}
