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
use stellar_xdr::{ContractEventBody, Limited, Limits, ScVal, WriteXdr};

use super::encode::{close_time_micros, contract_strkey, hex32};
use super::field;
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
    pub(crate) fn append(&mut self, view: &LedgerView<'_>) {
        let sequence = view.sequence();
        let closed_at = close_time_micros(view.close_time());
        for tx in &view.transactions {
            let hash = hex32(tx.hash());
            let successful = tx.successful();
            for (event_index, (op_index, event)) in tx.operation_events().enumerate() {
                self.transaction_hash.append_value(&hash);
                self.transaction_id.append_value(tx.id(sequence));
                self.operation_id.append_value(toid(sequence, tx.application_order, op_index + 1));
                self.ledger_sequence.append_value(sequence);
                self.closed_at.append_value(closed_at);
                self.event_index.append_value(event_index as i32);
                self.successful.append_value(successful);
                // Operation events are only emitted by calls that succeeded (stellar-etl sets
                // this to true for every non-diagnostic event).
                self.in_successful_contract_call.append_value(true);
                self.contract_id.append_option(event.contract_id.as_ref().map(contract_strkey));
                self.type_.append_value(event.type_ as i32);
                self.type_name.clear();
                self.type_name.push_str("ContractEventType");
                self.type_name.push_str(event.type_.name());
                self.type_string.append_value(&self.type_name);

                let ContractEventBody::V0(body) = &event.body;
                self.json.clear();
                self.json.push(b'[');
                for (i, topic) in body.topics.iter().enumerate() {
                    encode_xdr(topic, &mut self.xdr);
                    self.topics.values().append_value(&self.xdr);
                    if i > 0 {
                        self.json.push(b',');
                    }
                    encode_json(topic, &mut self.json);
                }
                self.json.push(b']');
                self.topics.append(true);
                self.topics_decoded.append_value(utf8(&self.json));

                encode_xdr(&body.data, &mut self.xdr);
                self.data.append_value(&self.xdr);
                self.json.clear();
                encode_json(&body.data, &mut self.json);
                self.data_decoded.append_value(utf8(&self.json));
            }
        }
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.transaction_hash.finish()),
            Arc::new(self.transaction_id.finish()),
            Arc::new(self.operation_id.finish()),
            Arc::new(self.ledger_sequence.finish()),
            Arc::new(self.closed_at.finish().with_timezone("UTC")),
            Arc::new(self.event_index.finish()),
            Arc::new(self.successful.finish()),
            Arc::new(self.in_successful_contract_call.finish()),
            Arc::new(self.contract_id.finish()),
            Arc::new(self.type_.finish()),
            Arc::new(self.type_string.finish()),
            Arc::new(self.topics.finish()),
            Arc::new(self.topics_decoded.finish()),
            Arc::new(self.data.finish()),
            Arc::new(self.data_decoded.finish()),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}

/// XDR of `value` into the reused `buf`. A decoded value always re-encodes; should it not,
/// the cell is left empty rather than aborting the stream.
fn encode_xdr(value: &ScVal, buf: &mut Vec<u8>) {
    buf.clear();
    if value.write_xdr(&mut Limited::new(&mut *buf, Limits::none())).is_err() {
        buf.clear();
    }
}

/// SEP-51 JSON (stellar-xdr's serde form) of `value`, appended to `buf`; `null` if it cannot
/// be represented.
fn encode_json(value: &ScVal, buf: &mut Vec<u8>) {
    let start = buf.len();
    if serde_json::to_writer(&mut *buf, value).is_err() {
        buf.truncate(start);
        buf.extend_from_slice(b"null");
    }
}

fn utf8(bytes: &[u8]) -> &str {
    // serde_json writes UTF-8 only.
    std::str::from_utf8(bytes).unwrap_or("null")
}
