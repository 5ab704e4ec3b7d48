//! The `contract_events` table: one row per event emitted by an operation (contract and
//! system types), in apply order then emission order.
//!
//! Source: meta V4 `operations[i].events`; meta V3 `sorobanMeta.events` (the Soroban
//! transaction's single operation). Diagnostic events and meta V4 transaction-level fee events
//! are not rows here (see docs/schema.md for how this differs from stellar-etl).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use stellar_xdr::ContractEventBody;

use super::encode::{StrkeyCache, close_time_micros, hex32};
use super::field;
use super::sc_val;
use super::sizing::FinishSized as _;
use crate::ledger::{LedgerView, toid};

pub fn schema() -> SchemaRef {
    use field::*;
    Arc::new(Schema::new(vec![
        utf8("transaction_hash", false),
        int64("transaction_id", false),
        int64("operation_id", true),
        uint32("ledger_sequence", false),
        timestamp("closed_at"),
        int32("event_index", false),
        boolean("successful", false),
        boolean("in_successful_contract_call", false),
        utf8("contract_id", true),
        int32("type", false),
        utf8("type_string", false),
        list("topics", DataType::Binary, false),
        utf8("topics_decoded", false),
        binary("data", false),
        utf8("data_decoded", false),
    ]))
}

#[derive(Default)]
pub(crate) struct ContractEventsBuilder {
    transaction_hash: StringBuilder,
    transaction_id: Int64Builder,
    operation_id: Int64Builder,
    ledger_sequence: UInt32Builder,
    closed_at: TimestampMicrosecondBuilder,
    event_index: Int32Builder,
    successful: BooleanBuilder,
    in_successful_contract_call: BooleanBuilder,
    contract_id: StringBuilder,
    type_: Int32Builder,
    type_string: StringBuilder,
    topics: ListBuilder<BinaryBuilder>,
    topics_decoded: StringBuilder,
    data: BinaryBuilder,
    data_decoded: StringBuilder,
    xdr: Vec<u8>,
    json: Vec<u8>,
    type_name: String,
}

impl ContractEventsBuilder {
    pub(crate) fn append(&mut self, view: &LedgerView<'_>, strkeys: &mut StrkeyCache) {
        let sequence = view.sequence();
        let closed_at = close_time_micros(view.close_time());
        for tx in &view.transactions {
            // Hex of the hash only for transactions with events (most have none).
            let mut hash = None;
            let successful = tx.successful();
            for (event_index, (op_index, event)) in tx.operation_events().enumerate() {
                self.transaction_hash.append_value(hash.get_or_insert_with(|| hex32(tx.hash())).as_str());
                self.transaction_id.append_value(tx.id(sequence));
                self.operation_id.append_value(toid(sequence, tx.application_order, op_index + 1));
                self.ledger_sequence.append_value(sequence);
                self.closed_at.append_value(closed_at);
                self.event_index.append_value(event_index as i32);
                self.successful.append_value(successful);
                // Operation events are only emitted by calls that succeeded (stellar-etl sets
                // this to true for every non-diagnostic event).
                self.in_successful_contract_call.append_value(true);
                match &event.contract_id {
                    Some(id) => self.contract_id.append_value(strkeys.contract(&id.0.0)),
                    None => self.contract_id.append_null(),
                }
                self.type_.append_value(event.type_ as i32);
                self.type_name.clear();
                self.type_name.push_str("ContractEventType");
                self.type_name.push_str(event.type_.name());
                self.type_string.append_value(&self.type_name);

                let ContractEventBody::V0(body) = &event.body;
                self.json.clear();
                self.json.push(b'[');
                for (i, topic) in body.topics.iter().enumerate() {
                    sc_val::write_xdr(topic, &mut self.xdr);
                    self.topics.values().append_value(&self.xdr);
                    if i > 0 {
                        self.json.push(b',');
                    }
                    sc_val::write_json(topic, strkeys, &mut self.json);
                }
                self.json.push(b']');
                self.topics.append(true);
                self.topics_decoded.append_value(utf8(&self.json));

                sc_val::write_xdr(&body.data, &mut self.xdr);
                self.data.append_value(&self.xdr);
                self.json.clear();
                sc_val::write_json(&body.data, strkeys, &mut self.json);
                self.data_decoded.append_value(utf8(&self.json));
            }
        }
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.transaction_hash.finish_sized()),
            Arc::new(self.transaction_id.finish_sized()),
            Arc::new(self.operation_id.finish_sized()),
            Arc::new(self.ledger_sequence.finish_sized()),
            Arc::new(self.closed_at.finish_sized().with_timezone("UTC")),
            Arc::new(self.event_index.finish_sized()),
            Arc::new(self.successful.finish_sized()),
            Arc::new(self.in_successful_contract_call.finish_sized()),
            Arc::new(self.contract_id.finish_sized()),
            Arc::new(self.type_.finish_sized()),
            Arc::new(self.type_string.finish_sized()),
            Arc::new(self.topics.finish_sized()),
            Arc::new(self.topics_decoded.finish_sized()),
            Arc::new(self.data.finish_sized()),
            Arc::new(self.data_decoded.finish_sized()),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}

fn utf8(bytes: &[u8]) -> &str {
    // SEP-51 JSON is ASCII only (strings are `escape_bytes` text).
    std::str::from_utf8(bytes).unwrap_or("null")
}
