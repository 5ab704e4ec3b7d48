//! The input columns the engine reads, downcast once per batch, and the checks a batch must
//! pass before the engine's state changes.

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, Int64Array, PrimitiveArray, StringArray,
};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType, UInt32Type};
use arrow::record_batch::RecordBatch;

use super::AnalyticsError;

const LEDGERS: &str = "ledgers";
const OPERATIONS: &str = "operations";

/// Operation types whose `amount` is a payment's destination amount.
const PAYMENT_TYPES: [&str; 3] = ["payment", "path_payment_strict_send", "path_payment_strict_receive"];

/// `sequence` and `closed_at` of the `ledgers` table, without nulls.
pub(crate) struct LedgerColumns<'a> {
    pub sequence: &'a [u32],
    pub closed_at_micros: &'a [i64],
}

impl<'a> LedgerColumns<'a> {
    pub fn read(batch: &'a RecordBatch) -> Result<Self, AnalyticsError> {
        let sequence = primitive::<UInt32Type>(batch, LEDGERS, "sequence", "UInt32")?;
        let closed_at = primitive::<TimestampMicrosecondType>(batch, LEDGERS, "closed_at", "Timestamp(µs)")?;
        no_nulls(sequence, LEDGERS, "sequence")?;
        no_nulls(closed_at, LEDGERS, "closed_at")?;
        Ok(LedgerColumns { sequence: sequence.values(), closed_at_micros: closed_at.values() })
    }
}

/// The columns of the `operations` table the engine reads.
pub(crate) struct OperationColumns<'a> {
    pub id: &'a Int64Array,
    pub transaction_hash: &'a StringArray,
    pub ledger_sequence: &'a [u32],
    pub type_string: &'a StringArray,
    pub successful: &'a BooleanArray,
    pub amount: &'a Int64Array,
    pub asset_type: &'a StringArray,
    pub asset_code: &'a StringArray,
    pub asset_issuer: &'a StringArray,
    pub from: &'a StringArray,
    pub to: &'a StringArray,
}

/// An asset as the `operations` row spells it, borrowed from the arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AssetRef<'a> {
    pub asset_type: &'a str,
    pub asset_code: Option<&'a str>,
    pub asset_issuer: Option<&'a str>,
}

impl<'a> OperationColumns<'a> {
    pub fn read(batch: &'a RecordBatch) -> Result<Self, AnalyticsError> {
        let ledger_sequence = primitive::<UInt32Type>(batch, OPERATIONS, "ledger_sequence", "UInt32")?;
        let columns = OperationColumns {
            id: primitive::<Int64Type>(batch, OPERATIONS, "id", "Int64")?,
            transaction_hash: utf8(batch, "transaction_hash")?,
            ledger_sequence: ledger_sequence.values(),
            type_string: utf8(batch, "type_string")?,
            successful: {
                let array = column(batch, OPERATIONS, "successful")?;
                array
                    .as_boolean_opt()
                    .ok_or_else(|| wrong_type(array, OPERATIONS, "successful", "Boolean"))?
            },
            amount: primitive::<Int64Type>(batch, OPERATIONS, "amount", "Int64")?,
            asset_type: utf8(batch, "asset_type")?,
            asset_code: utf8(batch, "asset_code")?,
            asset_issuer: utf8(batch, "asset_issuer")?,
            from: utf8(batch, "from")?,
            to: utf8(batch, "to")?,
        };
        no_nulls(ledger_sequence, OPERATIONS, "ledger_sequence")?;
        no_nulls(columns.id, OPERATIONS, "id")?;
        no_nulls(columns.transaction_hash, OPERATIONS, "transaction_hash")?;
        no_nulls(columns.type_string, OPERATIONS, "type_string")?;
        no_nulls(columns.successful, OPERATIONS, "successful")?;
        Ok(columns)
    }

    pub fn len(&self) -> usize {
        self.ledger_sequence.len()
    }

    /// Whether row `row` is a counted payment: a successful payment or path payment with an
    /// amount (path payments of failed transactions have none, or one that never moved).
    /// Bitmap reads first; the type string is compared only for successful rows with an amount.
    #[inline]
    pub fn is_counted_payment(&self, row: usize) -> bool {
        self.successful.value(row)
            && self.amount.is_valid(row)
            && PAYMENT_TYPES.contains(&self.type_string.value(row))
    }

    /// The asset of a counted payment row. Meaningful once
    /// [`OperationColumns::check_payment_asset`] passed for the row (a null reads as the empty string).
    #[inline]
    pub fn asset(&self, row: usize) -> AssetRef<'a> {
        AssetRef {
            asset_type: self.asset_type.value(row),
            asset_code: optional(self.asset_code, row),
            asset_issuer: optional(self.asset_issuer, row),
        }
    }

    /// Every counted payment names its asset type.
    pub fn check_payment_asset(&self, row: usize) -> Result<(), AnalyticsError> {
        if self.asset_type.is_null(row) {
            return Err(AnalyticsError::NullValue { table: OPERATIONS, column: "asset_type", row });
        }
        Ok(())
    }
}

/// The value of a nullable string column.
#[inline]
pub(crate) fn optional(array: &StringArray, row: usize) -> Option<&str> {
    array.is_valid(row).then(|| array.value(row))
}

fn column<'a>(
    batch: &'a RecordBatch,
    table: &'static str,
    name: &'static str,
) -> Result<&'a ArrayRef, AnalyticsError> {
    batch.column_by_name(name).ok_or(AnalyticsError::MissingColumn { table, column: name })
}

fn wrong_type(
    array: &ArrayRef,
    table: &'static str,
    name: &'static str,
    expected: &'static str,
) -> AnalyticsError {
    AnalyticsError::ColumnType { table, column: name, expected, found: array.data_type().clone() }
}

fn primitive<'a, T: ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    table: &'static str,
    name: &'static str,
    expected: &'static str,
) -> Result<&'a PrimitiveArray<T>, AnalyticsError> {
    let array = column(batch, table, name)?;
    array.as_primitive_opt::<T>().ok_or_else(|| wrong_type(array, table, name, expected))
}

fn utf8<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a StringArray, AnalyticsError> {
    let array = column(batch, OPERATIONS, name)?;
    array.as_string_opt::<i32>().ok_or_else(|| wrong_type(array, OPERATIONS, name, "Utf8"))
}

fn no_nulls(array: &dyn Array, table: &'static str, column: &'static str) -> Result<(), AnalyticsError> {
    match array.nulls().filter(|nulls| nulls.null_count() > 0) {
        None => Ok(()),
        Some(nulls) => {
            let row = nulls.iter().position(|valid| !valid).unwrap_or_default();
            Err(AnalyticsError::NullValue { table, column, row })
        }
    }
}
