//! The `ledgers` table: one row per ledger (stellar-etl `history_ledgers`).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use base64::Engine as _;
use stellar_xdr::{LedgerCloseMeta, LedgerCloseMetaExt, Limits, StellarValueExt, WriteXdr};

use super::encode::{account_id_strkey, close_time_micros, hex32};
use super::sizing::FinishSized as _;
use super::{RawXdr, field};
use crate::ledger::{LedgerView, toid};

pub fn schema() -> SchemaRef {
    use field::*;
    Arc::new(Schema::new(vec![
        uint32("sequence", false),
        int64("id", false),
        utf8("ledger_hash", false),
        utf8("previous_ledger_hash", false),
        timestamp("closed_at"),
        uint32("protocol_version", false),
        int32("ledger_close_meta_version", false),
        int32("transaction_count", false),
        int32("successful_transaction_count", false),
        int32("failed_transaction_count", false),
        int32("operation_count", false),
        int32("tx_set_operation_count", false),
        int32("contract_event_count", false),
        int64("total_coins", false),
        int64("fee_pool", false),
        uint32("base_fee", false),
        uint32("base_reserve", false),
        uint32("max_tx_set_size", false),
        int64("soroban_fee_write_1kb", false),
        utf8("node_id", false),
        utf8("signature", false),
        uint64("total_byte_size_of_live_soroban_state", false),
        list("evicted_ledger_keys_type", DataType::Utf8, false),
        list("evicted_ledger_keys_hash", DataType::Utf8, false),
        binary("ledger_header", true),
    ]))
}

#[derive(Default)]
pub(crate) struct LedgersBuilder {
    sequence: UInt32Builder,
    id: Int64Builder,
    ledger_hash: StringBuilder,
    previous_ledger_hash: StringBuilder,
    closed_at: TimestampMicrosecondBuilder,
    protocol_version: UInt32Builder,
    ledger_close_meta_version: Int32Builder,
    transaction_count: Int32Builder,
    successful_transaction_count: Int32Builder,
    failed_transaction_count: Int32Builder,
    operation_count: Int32Builder,
    tx_set_operation_count: Int32Builder,
    contract_event_count: Int32Builder,
    total_coins: Int64Builder,
    fee_pool: Int64Builder,
    base_fee: UInt32Builder,
    base_reserve: UInt32Builder,
    max_tx_set_size: UInt32Builder,
    soroban_fee_write_1kb: Int64Builder,
    node_id: StringBuilder,
    signature: StringBuilder,
    total_byte_size_of_live_soroban_state: UInt64Builder,
    evicted_ledger_keys_type: ListBuilder<StringBuilder>,
    evicted_ledger_keys_hash: ListBuilder<StringBuilder>,
    ledger_header: BinaryBuilder,
    scratch: String,
}

impl LedgersBuilder {
    pub(crate) fn append(&mut self, view: &LedgerView<'_>, raw: Option<&RawXdr>) {
        let header = view.header();
        let sequence = view.sequence();
        self.sequence.append_value(sequence);
        self.id.append_value(toid(sequence, 0, 0));
        self.ledger_hash.append_value(hex32(&view.header_entry.hash.0));
        self.previous_ledger_hash.append_value(hex32(&header.previous_ledger_hash.0));
        self.closed_at.append_value(close_time_micros(view.close_time()));
        self.protocol_version.append_value(header.ledger_version);
        self.ledger_close_meta_version.append_value(i32::from(view.meta_version()));

        let (mut successful, mut failed, mut successful_ops, mut all_ops, mut events) =
            (0i32, 0i32, 0i32, 0i32, 0i32);
        for tx in &view.transactions {
            let ops = tx.operations().len() as i32;
            all_ops += ops;
            if tx.successful() {
                successful += 1;
                successful_ops += ops;
            } else {
                failed += 1;
            }
            events += tx.operation_events().count() as i32;
        }
        self.transaction_count.append_value(successful);
        self.successful_transaction_count.append_value(successful);
        self.failed_transaction_count.append_value(failed);
        self.operation_count.append_value(successful_ops);
        self.tx_set_operation_count.append_value(all_ops);
        self.contract_event_count.append_value(events);

        self.total_coins.append_value(header.total_coins);
        self.fee_pool.append_value(header.fee_pool);
        self.base_fee.append_value(header.base_fee);
        self.base_reserve.append_value(header.base_reserve);
        self.max_tx_set_size.append_value(header.max_tx_set_size);

        let (ext, live_soroban_state, evicted) = match view.meta {
            LedgerCloseMeta::V0(_) => (None, 0, &[][..]),
            LedgerCloseMeta::V1(v1) => {
                (Some(&v1.ext), v1.total_byte_size_of_live_soroban_state, v1.evicted_keys.as_slice())
            }
            LedgerCloseMeta::V2(v2) => {
                (Some(&v2.ext), v2.total_byte_size_of_live_soroban_state, v2.evicted_keys.as_slice())
            }
        };
        self.soroban_fee_write_1kb.append_value(match ext {
            Some(LedgerCloseMetaExt::V1(v1)) => v1.soroban_fee_write1_kb,
            _ => 0,
        });

        let signature = match &header.scp_value.ext {
            StellarValueExt::Signed(signature) => Some(signature),
            StellarValueExt::SignedMs(signed) => Some(&signed.lc_value_signature),
            StellarValueExt::Basic | StellarValueExt::EmptyTxSet(_) | StellarValueExt::EmptyTxSetMs(_) => {
                None
            }
        };
        match signature {
            Some(signature) => {
                self.node_id
                    .append_value(account_id_strkey(&stellar_xdr::AccountId(signature.node_id.0.clone())));
                self.scratch.clear();
                base64::engine::general_purpose::STANDARD
                    .encode_string(signature.signature.as_slice(), &mut self.scratch);
                self.signature.append_value(&self.scratch);
            }
            None => {
                self.node_id.append_value("");
                self.signature.append_value("");
            }
        }
        self.total_byte_size_of_live_soroban_state.append_value(live_soroban_state);

        for key in evicted {
            self.scratch.clear();
            self.scratch.push_str("LedgerEntryType");
            self.scratch.push_str(key.discriminant().name());
            self.evicted_ledger_keys_type.values().append_value(&self.scratch);
            // stellar-etl's "hash" is the base64 XDR of the key. Encoding cannot fail for a
            // decoded value; an empty string marks the impossible case instead of panicking.
            let encoded = key.to_xdr(Limits::none()).unwrap_or_default();
            self.scratch.clear();
            base64::engine::general_purpose::STANDARD.encode_string(&encoded, &mut self.scratch);
            self.evicted_ledger_keys_hash.values().append_value(&self.scratch);
        }
        self.evicted_ledger_keys_type.append(true);
        self.evicted_ledger_keys_hash.append(true);

        self.ledger_header.append_option(raw.map(|raw| &raw.header));
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.sequence.finish_sized()),
            Arc::new(self.id.finish_sized()),
            Arc::new(self.ledger_hash.finish_sized()),
            Arc::new(self.previous_ledger_hash.finish_sized()),
            Arc::new(self.closed_at.finish_sized().with_timezone("UTC")),
            Arc::new(self.protocol_version.finish_sized()),
            Arc::new(self.ledger_close_meta_version.finish_sized()),
            Arc::new(self.transaction_count.finish_sized()),
            Arc::new(self.successful_transaction_count.finish_sized()),
            Arc::new(self.failed_transaction_count.finish_sized()),
            Arc::new(self.operation_count.finish_sized()),
            Arc::new(self.tx_set_operation_count.finish_sized()),
            Arc::new(self.contract_event_count.finish_sized()),
            Arc::new(self.total_coins.finish_sized()),
            Arc::new(self.fee_pool.finish_sized()),
            Arc::new(self.base_fee.finish_sized()),
            Arc::new(self.base_reserve.finish_sized()),
            Arc::new(self.max_tx_set_size.finish_sized()),
            Arc::new(self.soroban_fee_write_1kb.finish_sized()),
            Arc::new(self.node_id.finish_sized()),
            Arc::new(self.signature.finish_sized()),
            Arc::new(self.total_byte_size_of_live_soroban_state.finish_sized()),
            Arc::new(self.evicted_ledger_keys_type.finish_sized()),
            Arc::new(self.evicted_ledger_keys_hash.finish_sized()),
            Arc::new(self.ledger_header.finish_sized()),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}
