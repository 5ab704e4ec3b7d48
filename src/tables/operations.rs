//! TEMPORARY scaffold (being written in this change).
use std::sync::Arc;
use arrow::array::{ArrayRef, UInt32Builder};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use crate::ledger::LedgerView;
use super::field;

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![field::uint32("ledger_sequence", false)]))
}

#[derive(Default)]
pub struct OperationsBuilder { seq: UInt32Builder }

impl OperationsBuilder {
    pub fn append(&mut self, view: &LedgerView<'_>) { self.seq.append_value(view.sequence()); }
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(schema(), vec![Arc::new(self.seq.finish()) as ArrayRef])
    }
}
