//! The `transactions` table: one row per transaction, failed ones included, in apply order
//! (stellar-etl `history_transactions`).
//!
//! Fee-bump rule (as stellar-etl): hash, fee account and `new_max_fee` are the outer
//! transaction's; account, sequence, `max_fee`, memo, bounds, operations and Soroban data the
//! inner one's.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use base64::Engine as _;
use stellar_xdr::{
    LedgerEntryChange, LedgerEntryChanges, LedgerEntryData, Memo, MuxedAccount, Preconditions,
    SorobanTransactionMetaExt, TransactionEnvelope, TransactionMeta, Uint256,
};

use super::encode::{Decimal, StrkeyCache, close_time_micros, hex32};
use super::sizing::FinishSized as _;
use super::{RawXdr, field};
use crate::ledger::{LedgerView, TxView};

pub fn schema() -> SchemaRef {
    use field::*;
    Arc::new(Schema::new(vec![
        int64("id", false),
        utf8("transaction_hash", false),
        uint32("ledger_sequence", false),
        int32("application_order", false),
        timestamp("closed_at"),
        utf8("account", false),
        utf8("account_muxed", true),
        int64("account_sequence", false),
        uint32("max_fee", false),
        int64("fee_charged", false),
        int32("operation_count", false),
        boolean("successful", false),
        utf8("transaction_result_code", false),
        utf8("memo_type", false),
        utf8("memo", false),
        utf8("time_bounds", false),
        utf8("ledger_bounds", false),
        int64("min_account_sequence", true),
        int64("min_account_sequence_age", true),
        int64("min_account_sequence_ledger_gap", true),
        list("extra_signers", DataType::Utf8, true),
        utf8("fee_account", true),
        utf8("fee_account_muxed", true),
        utf8("inner_transaction_hash", true),
        int64("new_max_fee", true),
        int64("resource_fee", false),
        uint32("soroban_resources_instructions", false),
        uint32("soroban_resources_disk_read_bytes", false),
        uint32("soroban_resources_write_bytes", false),
        int64("inclusion_fee_bid", false),
        int64("inclusion_fee_charged", false),
        int64("resource_fee_refund", false),
        int64("non_refundable_resource_fee_charged", false),
        int64("refundable_resource_fee_charged", false),
        int64("rent_fee_charged", false),
        int32("contract_event_count", false),
        binary("tx_envelope", true),
        binary("tx_result", true),
        binary("tx_meta", true),
        binary("tx_fee_meta", true),
    ]))
}

#[derive(Default)]
pub(crate) struct TransactionsBuilder {
    id: Int64Builder,
    transaction_hash: StringBuilder,
    ledger_sequence: UInt32Builder,
    application_order: Int32Builder,
    closed_at: TimestampMicrosecondBuilder,
    account: StringBuilder,
    account_muxed: StringBuilder,
    account_sequence: Int64Builder,
    max_fee: UInt32Builder,
    fee_charged: Int64Builder,
    operation_count: Int32Builder,
    successful: BooleanBuilder,
    transaction_result_code: StringBuilder,
    memo_type: StringBuilder,
    memo: StringBuilder,
    time_bounds: StringBuilder,
    ledger_bounds: StringBuilder,
    min_account_sequence: Int64Builder,
    min_account_sequence_age: Int64Builder,
    min_account_sequence_ledger_gap: Int64Builder,
    extra_signers: ListBuilder<StringBuilder>,
    fee_account: StringBuilder,
    fee_account_muxed: StringBuilder,
    inner_transaction_hash: StringBuilder,
    new_max_fee: Int64Builder,
    resource_fee: Int64Builder,
    soroban_resources_instructions: UInt32Builder,
    soroban_resources_disk_read_bytes: UInt32Builder,
    soroban_resources_write_bytes: UInt32Builder,
    inclusion_fee_bid: Int64Builder,
    inclusion_fee_charged: Int64Builder,
    resource_fee_refund: Int64Builder,
    non_refundable_resource_fee_charged: Int64Builder,
    refundable_resource_fee_charged: Int64Builder,
    rent_fee_charged: Int64Builder,
    contract_event_count: Int32Builder,
    tx_envelope: BinaryBuilder,
    tx_result: BinaryBuilder,
    tx_meta: BinaryBuilder,
    tx_fee_meta: BinaryBuilder,
    scratch: String,
}

impl TransactionsBuilder {
    pub(crate) fn append(&mut self, view: &LedgerView<'_>, raw: Option<&RawXdr>, strkeys: &mut StrkeyCache) {
        let sequence = view.sequence();
        let closed_at = close_time_micros(view.close_time());
        for (index, tx) in view.transactions.iter().enumerate() {
            self.append_tx(sequence, closed_at, tx, strkeys);
            let raw_tx = raw.and_then(|raw| raw.transactions.get(index));
            self.tx_envelope.append_option(raw_tx.map(|r| &r.envelope));
            self.tx_result.append_option(raw_tx.map(|r| &r.result));
            self.tx_meta.append_option(raw_tx.map(|r| &r.meta));
            self.tx_fee_meta.append_option(raw_tx.map(|r| &r.fee_meta));
        }
    }

    fn append_tx(&mut self, sequence: u32, closed_at: i64, tx: &TxView<'_>, strkeys: &mut StrkeyCache) {
        self.id.append_value(tx.id(sequence));
        self.transaction_hash.append_value(hex32(tx.hash()));
        self.ledger_sequence.append_value(sequence);
        self.application_order.append_value(tx.application_order as i32);
        self.closed_at.append_value(closed_at);

        let source = tx.source_account();
        self.append_account(&source, strkeys, Column::Account);
        self.account_sequence.append_value(tx.account_sequence());
        self.max_fee.append_value(tx.max_fee());
        self.fee_charged.append_value(tx.fee_charged());
        self.operation_count.append_value(tx.operations().len() as i32);
        self.successful.append_value(tx.successful());
        self.scratch.clear();
        self.scratch.push_str("TransactionResultCode");
        self.scratch.push_str(tx.result_code().name());
        self.transaction_result_code.append_value(&self.scratch);

        self.append_memo(tx.memo());
        self.append_preconditions(&tx.preconditions());

        let fee_source = match tx.envelope {
            TransactionEnvelope::TxFeeBump(bump) => {
                self.append_account(&bump.tx.fee_source, strkeys, Column::FeeAccount);
                self.new_max_fee.append_value(bump.tx.fee);
                Some(&bump.tx.fee_source)
            }
            _ => {
                self.fee_account.append_null();
                self.fee_account_muxed.append_null();
                self.new_max_fee.append_null();
                None
            }
        };
        self.inner_transaction_hash.append_option(tx.inner_transaction_hash().map(hex32));

        self.append_soroban_fees(tx, fee_source.unwrap_or(&source));
        self.contract_event_count.append_value(tx.operation_events().count() as i32);
    }

    /// `account` / `account_muxed` or `fee_account` / `fee_account_muxed`: the G address from
    /// the cache, the M address only for a muxed account.
    fn append_account(&mut self, account: &MuxedAccount, strkeys: &mut StrkeyCache, column: Column) {
        let (g, m) = match column {
            Column::Account => (&mut self.account, &mut self.account_muxed),
            Column::FeeAccount => (&mut self.fee_account, &mut self.fee_account_muxed),
        };
        match account {
            MuxedAccount::Ed25519(key) => {
                g.append_value(strkeys.account(&key.0));
                m.append_null();
            }
            MuxedAccount::MuxedEd25519(muxed) => {
                g.append_value(strkeys.account(&muxed.ed25519.0));
                let strkey = stellar_strkey::ed25519::MuxedAccount { ed25519: muxed.ed25519.0, id: muxed.id };
                m.append_value(strkey.to_string());
            }
        }
    }

    fn append_memo(&mut self, memo: &Memo) {
        let b64 = &base64::engine::general_purpose::STANDARD;
        self.scratch.clear();
        let memo_type = match memo {
            Memo::None => "MemoTypeMemoNone",
            Memo::Text(text) => {
                // Memo text is bytes on chain, not validated UTF-8; invalid sequences become
                // U+FFFD, as in stellar-etl's JSON output.
                self.scratch.push_str(&String::from_utf8_lossy(text.as_slice()));
                "MemoTypeMemoText"
            }
            Memo::Id(id) => {
                self.scratch.push_str(Decimal::u64(*id).as_str());
                "MemoTypeMemoId"
            }
            Memo::Hash(hash) => {
                b64.encode_string(hash.0, &mut self.scratch);
                "MemoTypeMemoHash"
            }
            Memo::Return(hash) => {
                b64.encode_string(hash.0, &mut self.scratch);
                "MemoTypeMemoReturn"
            }
        };
        self.memo_type.append_value(memo_type);
        self.memo.append_value(&self.scratch);
    }

    fn append_preconditions(&mut self, preconditions: &Preconditions) {
        let (time_bounds, v2) = match preconditions {
            Preconditions::None => (None, None),
            Preconditions::Time(bounds) => (Some(bounds), None),
            Preconditions::V2(v2) => (v2.time_bounds.as_ref(), Some(v2)),
        };
        self.scratch.clear();
        if let Some(bounds) = time_bounds {
            self.scratch.push('[');
            self.scratch.push_str(Decimal::u64(bounds.min_time.0).as_str());
            self.scratch.push(',');
            if bounds.max_time.0 != 0 {
                self.scratch.push_str(Decimal::u64(bounds.max_time.0).as_str());
            }
            self.scratch.push(')');
        }
        self.time_bounds.append_value(&self.scratch);
        self.scratch.clear();
        if let Some(bounds) = v2.and_then(|v2| v2.ledger_bounds.as_ref()) {
            self.scratch.push('[');
            self.scratch.push_str(Decimal::u64(u64::from(bounds.min_ledger)).as_str());
            self.scratch.push(',');
            self.scratch.push_str(Decimal::u64(u64::from(bounds.max_ledger)).as_str());
            self.scratch.push(')');
        }
        self.ledger_bounds.append_value(&self.scratch);
        match v2 {
            Some(v2) => {
                self.min_account_sequence.append_option(v2.min_seq_num.as_ref().map(|s| s.0));
                self.min_account_sequence_age
                    .append_value(i64::try_from(v2.min_seq_age.0).unwrap_or(i64::MAX));
                self.min_account_sequence_ledger_gap.append_value(i64::from(v2.min_seq_ledger_gap));
                for signer in v2.extra_signers.iter() {
                    self.extra_signers.values().append_value(signer.to_string());
                }
                self.extra_signers.append(true);
            }
            None => {
                self.min_account_sequence.append_null();
                self.min_account_sequence_age.append_null();
                self.min_account_sequence_ledger_gap.append_null();
                self.extra_signers.append(false);
            }
        }
    }

    /// Soroban resources and fee split. All zero for classic transactions.
    fn append_soroban_fees(&mut self, tx: &TxView<'_>, fee_source: &MuxedAccount) {
        let Some(data) = tx.soroban_data() else {
            for column in [
                &mut self.resource_fee,
                &mut self.inclusion_fee_bid,
                &mut self.inclusion_fee_charged,
                &mut self.resource_fee_refund,
                &mut self.non_refundable_resource_fee_charged,
                &mut self.refundable_resource_fee_charged,
                &mut self.rent_fee_charged,
            ] {
                column.append_value(0);
            }
            for column in [
                &mut self.soroban_resources_instructions,
                &mut self.soroban_resources_disk_read_bytes,
                &mut self.soroban_resources_write_bytes,
            ] {
                column.append_value(0);
            }
            return;
        };
        let resource_fee = data.resource_fee;
        self.resource_fee.append_value(resource_fee);
        self.soroban_resources_instructions.append_value(data.resources.instructions);
        self.soroban_resources_disk_read_bytes.append_value(data.resources.disk_read_bytes);
        self.soroban_resources_write_bytes.append_value(data.resources.write_bytes);

        let outer_fee = match tx.envelope {
            TransactionEnvelope::TxFeeBump(bump) => bump.tx.fee,
            _ => i64::from(tx.max_fee()),
        };
        self.inclusion_fee_bid.append_value(outer_fee.saturating_sub(resource_fee));

        // The fee account is charged its whole bid in fee processing and refunded after apply;
        // both show as balance changes of its account entry.
        let fee_account = match fee_source {
            MuxedAccount::Ed25519(key) => key,
            MuxedAccount::MuxedEd25519(m) => &m.ed25519,
        };
        let charged = balance_change(tx.fee_processing, fee_account).map_or(0, |delta| -delta);
        self.inclusion_fee_charged.append_value(charged.saturating_sub(resource_fee));
        let after = match tx.meta {
            TransactionMeta::V3(m) => Some(&m.tx_changes_after),
            TransactionMeta::V4(m) => Some(&m.tx_changes_after),
            _ => None,
        };
        let refund = after.and_then(|changes| balance_change(changes, fee_account)).unwrap_or(0)
            + tx.post_tx_apply_fee_processing
                .and_then(|changes| balance_change(changes, fee_account))
                .unwrap_or(0);
        self.resource_fee_refund.append_value(refund);

        let ext = match tx.meta {
            TransactionMeta::V3(m) => m.soroban_meta.as_ref().map(|s| &s.ext),
            TransactionMeta::V4(m) => m.soroban_meta.as_ref().map(|s| &s.ext),
            _ => None,
        };
        let (non_refundable, refundable, rent) = match ext {
            Some(SorobanTransactionMetaExt::V1(v1)) => (
                v1.total_non_refundable_resource_fee_charged,
                v1.total_refundable_resource_fee_charged,
                v1.rent_fee_charged,
            ),
            _ => (0, 0, 0),
        };
        self.non_refundable_resource_fee_charged.append_value(non_refundable);
        self.refundable_resource_fee_charged.append_value(refundable);
        self.rent_fee_charged.append_value(rent);
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish_sized()),
            Arc::new(self.transaction_hash.finish_sized()),
            Arc::new(self.ledger_sequence.finish_sized()),
            Arc::new(self.application_order.finish_sized()),
            Arc::new(self.closed_at.finish_sized().with_timezone("UTC")),
            Arc::new(self.account.finish_sized()),
            Arc::new(self.account_muxed.finish_sized()),
            Arc::new(self.account_sequence.finish_sized()),
            Arc::new(self.max_fee.finish_sized()),
            Arc::new(self.fee_charged.finish_sized()),
            Arc::new(self.operation_count.finish_sized()),
            Arc::new(self.successful.finish_sized()),
            Arc::new(self.transaction_result_code.finish_sized()),
            Arc::new(self.memo_type.finish_sized()),
            Arc::new(self.memo.finish_sized()),
            Arc::new(self.time_bounds.finish_sized()),
            Arc::new(self.ledger_bounds.finish_sized()),
            Arc::new(self.min_account_sequence.finish_sized()),
            Arc::new(self.min_account_sequence_age.finish_sized()),
            Arc::new(self.min_account_sequence_ledger_gap.finish_sized()),
            Arc::new(self.extra_signers.finish_sized()),
            Arc::new(self.fee_account.finish_sized()),
            Arc::new(self.fee_account_muxed.finish_sized()),
            Arc::new(self.inner_transaction_hash.finish_sized()),
            Arc::new(self.new_max_fee.finish_sized()),
            Arc::new(self.resource_fee.finish_sized()),
            Arc::new(self.soroban_resources_instructions.finish_sized()),
            Arc::new(self.soroban_resources_disk_read_bytes.finish_sized()),
            Arc::new(self.soroban_resources_write_bytes.finish_sized()),
            Arc::new(self.inclusion_fee_bid.finish_sized()),
            Arc::new(self.inclusion_fee_charged.finish_sized()),
            Arc::new(self.resource_fee_refund.finish_sized()),
            Arc::new(self.non_refundable_resource_fee_charged.finish_sized()),
            Arc::new(self.refundable_resource_fee_charged.finish_sized()),
            Arc::new(self.rent_fee_charged.finish_sized()),
            Arc::new(self.contract_event_count.finish_sized()),
            Arc::new(self.tx_envelope.finish_sized()),
            Arc::new(self.tx_result.finish_sized()),
            Arc::new(self.tx_meta.finish_sized()),
            Arc::new(self.tx_fee_meta.finish_sized()),
        ];
        RecordBatch::try_new(schema(), columns)
    }
}

/// Which account columns [`TransactionsBuilder::append_account`] fills.
enum Column {
    Account,
    FeeAccount,
}

/// Balance change of `account` across `changes`: the last `Updated` (or `Created`) balance
/// minus the `State` balance before it. `None` when the account does not appear.
fn balance_change(changes: &LedgerEntryChanges, account: &Uint256) -> Option<i64> {
    let mut before = None;
    let mut after = None;
    for change in changes.iter() {
        let (entry, is_state) = match change {
            LedgerEntryChange::State(entry) => (entry, true),
            LedgerEntryChange::Updated(entry)
            | LedgerEntryChange::Created(entry)
            | LedgerEntryChange::Restored(entry) => (entry, false),
            LedgerEntryChange::Removed(_) => continue,
        };
        let LedgerEntryData::Account(entry) = &entry.data else { continue };
        let stellar_xdr::PublicKey::PublicKeyTypeEd25519(key) = &entry.account_id.0;
        if key != account {
            continue;
        }
        if is_state {
            before.get_or_insert(entry.balance);
        } else {
            after = Some(entry.balance);
        }
    }
    Some(after?.saturating_sub(before?))
}
