//! One transaction at a time: what it does, whether it fails, its envelope, result and meta.
//!
//! Every random choice is drawn from the ledger's RNG here, in a fixed order, and the
//! [`ExpectedCounts`] are tallied at the same moment the choice is made.
//!
//! The mix (per 1,000 transactions): 270 native payments, 200 credit payments (USDC most),
//! 60 path_payment_strict_send, 50 path_payment_strict_receive, 40 create_account,
//! 50 change_trust, 80 manage_sell_offer, 50 manage_buy_offer, 60 multi-operation (2-5 ops),
//! 140 Soroban invoke_host_function (SAC `transfer`, AMM `swap`, vault `deposit`).
//! 6% of classic and 10% of Soroban transactions fail with a real operation code, 6% of
//! classic and 3% of Soroban transactions are fee bumps, 5% of sources are muxed.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use stellar_xdr::{
    Asset, ChangeTrustAsset, ChangeTrustOp, ChangeTrustResult, ClaimAtom, ClaimOfferAtom,
    ContractDataDurability, ContractEvent, ContractId, CreateAccountOp, CreateAccountResult,
    DecoratedSignature, ExtensionPoint, FeeBumpTransaction, FeeBumpTransactionEnvelope,
    FeeBumpTransactionExt, FeeBumpTransactionInnerTx, Hash, HostFunction, InnerTransactionResult,
    InnerTransactionResultExt, InnerTransactionResultPair, InnerTransactionResultResult, InvokeContractArgs,
    InvokeHostFunctionOp, InvokeHostFunctionResult, LedgerEntryChanges, LedgerFootprint, LedgerKey,
    LedgerKeyAccount, LedgerKeyContractData, ManageBuyOfferOp, ManageBuyOfferResult,
    ManageOfferSuccessResult, ManageOfferSuccessResultOffer, ManageSellOfferOp, ManageSellOfferResult, Memo,
    MuxedAccount, MuxedAccountMed25519, OfferEntry, OfferEntryExt, Operation, OperationBody, OperationMetaV2,
    OperationResult, OperationResultTr, PathPaymentStrictReceiveOp, PathPaymentStrictReceiveResult,
    PathPaymentStrictReceiveResultSuccess, PathPaymentStrictSendOp, PathPaymentStrictSendResult,
    PathPaymentStrictSendResultSuccess, PaymentOp, PaymentResult, Preconditions, Price, ScAddress, ScSymbol,
    ScVal, ScVec, SequenceNumber, Signature, SignatureHint, SimplePaymentResult, SorobanResources,
    SorobanTransactionData, SorobanTransactionDataExt, SorobanTransactionMetaExt,
    SorobanTransactionMetaExtV1, SorobanTransactionMetaV2, TimeBounds, TimePoint, Transaction,
    TransactionEnvelope, TransactionEventStage, TransactionExt, TransactionMeta, TransactionMetaV4,
    TransactionResult, TransactionResultExt, TransactionResultMetaV1, TransactionResultPair,
    TransactionResultResult, TransactionV1Envelope, Uint256, VecM,
};

use super::amounts::{convert, offer_price, scale, stroops_for_value, value_micro_usd};
use super::changes::{Effect, EntryBook};
use super::events::{self, contract_event, i128_val};
use super::hashing::{fee_bump_hash, transaction_hash};
use super::ledger::ExpectedCounts;
use super::universe::{AssetId, Universe, account_address, account_id};

/// Base fee in stroops, as in the header.
pub(super) const BASE_FEE: u32 = 100;

/// A transaction ready for the ledger: the envelope goes to the tx set, the rest to
/// `tx_processing`.
pub(super) struct BuiltTransaction {
    pub envelope: TransactionEnvelope,
    pub hash: [u8; 32],
    pub processing: TransactionResultMetaV1,
    pub soroban: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxKind {
    PaymentNative,
    PaymentCredit,
    PathPaymentStrictSend,
    PathPaymentStrictReceive,
    CreateAccount,
    ChangeTrust,
    ManageSellOffer,
    ManageBuyOffer,
    MultiOperation,
    InvokeHostFunction,
}

/// Weights per 1,000 transactions.
const KIND_WEIGHTS: [(TxKind, u32); 10] = [
    (TxKind::PaymentNative, 270),
    (TxKind::PaymentCredit, 200),
    (TxKind::PathPaymentStrictSend, 60),
    (TxKind::PathPaymentStrictReceive, 50),
    (TxKind::CreateAccount, 40),
    (TxKind::ChangeTrust, 50),
    (TxKind::ManageSellOffer, 80),
    (TxKind::ManageBuyOffer, 50),
    (TxKind::MultiOperation, 60),
    (TxKind::InvokeHostFunction, 140),
];

/// An operation with the result it has when applied, and the events it then emits and the
/// entries it then changes.
struct BuiltOperation {
    operation: Operation,
    success: OperationResultTr,
    events: Vec<ContractEvent>,
    effects: Vec<Effect>,
}

/// Soroban fee accounting, decided with the transaction.
struct SorobanFees {
    resource_fee: i64,
    non_refundable: i64,
    refundable: i64,
    rent: i64,
    refund: i64,
    return_value: ScVal,
}

/// What `finish` needs to assemble a transaction.
struct TxParts {
    index: u32,
    source_key: Uint256,
    source: MuxedAccount,
    operations: Vec<BuiltOperation>,
    fee_bid: u32,
    memo: Memo,
    cond: Preconditions,
    ext: TransactionExt,
    soroban: Option<SorobanFees>,
}

/// Builds the transactions of one ledger.
pub(super) struct TransactionBuilder<'u> {
    universe: &'u Universe,
    pub rng: ChaCha8Rng,
    sequence: u32,
    close_time: u64,
    /// Offers before this ledger have ids below `offer_id_base` (path payments cross them).
    offer_id_base: i64,
    /// Next id for an offer created in this ledger; the header's `idPool` is the last one.
    pub next_offer_id: i64,
    pub expected: ExpectedCounts,
    /// The entries the ledger's transactions have touched, for their metas' changes.
    book: EntryBook<'u>,
}

impl<'u> TransactionBuilder<'u> {
    pub fn new(universe: &'u Universe, rng: ChaCha8Rng, sequence: u32, close_time: u64) -> Self {
        let offer_id_base = i64::from(sequence) << 20;
        TransactionBuilder {
            universe,
            rng,
            sequence,
            close_time,
            offer_id_base,
            next_offer_id: offer_id_base + 1,
            expected: ExpectedCounts { sequence, close_time, ..ExpectedCounts::default() },
            book: EntryBook::new(universe, sequence, close_time),
        }
    }

    /// The next transaction; `index` is its position in generation order (0-based).
    pub fn transaction(&mut self, index: u32) -> BuiltTransaction {
        let mut roll = self.rng.random_range(0..1_000u32);
        let mut kind = TxKind::PaymentNative;
        for (candidate, weight) in KIND_WEIGHTS {
            if roll < weight {
                kind = candidate;
                break;
            }
            roll -= weight;
        }
        match kind {
            TxKind::InvokeHostFunction => self.soroban_transaction(index),
            kind => self.classic_transaction(kind, index),
        }
    }

    fn classic_transaction(&mut self, kind: TxKind, index: u32) -> BuiltTransaction {
        let source_key = self.account();
        let source = self.maybe_muxed(&source_key, 20);
        let operations = match kind {
            TxKind::PaymentNative => vec![self.payment(&source_key, AssetId::Native)],
            TxKind::PaymentCredit => {
                let asset = self.credit_asset();
                vec![self.payment(&source_key, asset)]
            }
            TxKind::PathPaymentStrictSend => vec![self.path_payment(&source_key, true)],
            TxKind::PathPaymentStrictReceive => vec![self.path_payment(&source_key, false)],
            TxKind::CreateAccount => vec![self.create_account(&source_key)],
            TxKind::ChangeTrust => vec![self.change_trust(&source_key)],
            TxKind::ManageSellOffer => vec![self.offer(&source_key, false)],
            TxKind::ManageBuyOffer => vec![self.offer(&source_key, true)],
            TxKind::MultiOperation => self.multi_operation(&source_key),
            TxKind::InvokeHostFunction => {
                unreachable!("Soroban transactions are built by soroban_transaction")
            }
        };
        let operation_count = operations.len() as u32;
        let fee_bid = BASE_FEE * operation_count * self.fee_multiplier();
        let memo = self.memo();
        let cond = self.preconditions();
        self.finish(TxParts {
            index,
            source_key,
            source,
            operations,
            fee_bid,
            memo,
            cond,
            ext: TransactionExt::V0,
            soroban: None,
        })
    }

    fn soroban_transaction(&mut self, index: u32) -> BuiltTransaction {
        let source_key = self.account();
        let roll = self.rng.random_range(0..100u32);
        let (operation, footprint, return_value) = match roll {
            0..50 => self.sac_transfer(&source_key),
            50..80 => self.swap(&source_key),
            _ => self.deposit(&source_key),
        };
        let resource_fee = i64::from(self.rng.random_range(30_000..600_000u32));
        let non_refundable = resource_fee * 2 / 5;
        let refundable = (resource_fee - non_refundable) * i64::from(self.rng.random_range(10..=90u32)) / 100;
        let rent = refundable / 4;
        let inclusion_bid = self.rng.random_range(BASE_FEE..=5_000u32);
        let resources = SorobanResources {
            footprint,
            instructions: self.rng.random_range(500_000..60_000_000u32),
            disk_read_bytes: self.rng.random_range(0..20_000u32),
            write_bytes: self.rng.random_range(100..10_000u32),
        };
        let cond = self.time_bounds();
        let data = SorobanTransactionData { ext: SorobanTransactionDataExt::V0, resources, resource_fee };
        self.finish(TxParts {
            index,
            source: MuxedAccount::Ed25519(source_key.clone()),
            source_key,
            operations: vec![operation],
            fee_bid: resource_fee as u32 + inclusion_bid,
            memo: Memo::None,
            cond,
            ext: TransactionExt::V1(data),
            soroban: Some(SorobanFees {
                resource_fee,
                non_refundable,
                refundable,
                rent,
                refund: resource_fee - non_refundable - refundable,
                return_value,
            }),
        })
    }

    /// Decides failure and fee bump, assembles envelope, result and meta, and tallies.
    fn finish(&mut self, parts: TxParts) -> BuiltTransaction {
        let TxParts { index, source_key, source, operations, fee_bid, memo, cond, ext, soroban } = parts;
        let operation_count = operations.len() as u32;
        let fail_per_mille = if soroban.is_some() { 100 } else { 60 };
        let failing = self
            .rng
            .random_ratio(fail_per_mille, 1_000)
            .then(|| self.rng.random_range(0..operation_count) as usize);
        let fee_bump = self.rng.random_ratio(if soroban.is_some() { 30 } else { 60 }, 1_000);
        let failed = failing.is_some();

        let mut ops = Vec::with_capacity(operations.len());
        let mut results = Vec::with_capacity(operations.len());
        let mut op_events = Vec::with_capacity(operations.len());
        let mut op_effects = Vec::with_capacity(operations.len());
        for (position, built) in operations.into_iter().enumerate() {
            *self.expected.operations_by_type.entry(built.operation.body.discriminant()).or_default() += 1;
            let result =
                if failing == Some(position) { self.failure(&built.operation.body) } else { built.success };
            results.push(OperationResult::OpInner(result));
            op_events.push(built.events);
            op_effects.push(built.effects);
            ops.push(built.operation);
        }

        let seq_num = ((u64::from(self.sequence) << 32) | u64::from(index + 1)) as i64;
        let tx = Transaction {
            source_account: source,
            fee: fee_bid,
            seq_num: SequenceNumber(seq_num),
            cond,
            memo,
            operations: ops.try_into().expect("at most 5 operations"),
            ext,
        };
        let network_id = &self.universe.network_id;
        let inner_hash = transaction_hash(network_id, &tx);
        let inner = TransactionV1Envelope { tx, signatures: self.signatures(&source_key) };
        let op_results: VecM<OperationResult> = results.try_into().expect("one result per operation");

        // Fees: the inclusion fee is the base fee per operation (one more for a fee bump);
        // Soroban transactions pay their resource fee up front and get a refund after all
        // transactions (CAP-67 `fee` events with stages BeforeAllTxs and AfterAllTxs).
        let inclusion = i64::from(BASE_FEE) * (i64::from(operation_count) + i64::from(fee_bump));
        let (upfront, refund) = match &soroban {
            None => (inclusion, 0),
            Some(fees) => (inclusion + fees.resource_fee, fees.refund),
        };
        let fee_charged = upfront - refund;

        let (envelope, hash, result, fee_source_key) = if fee_bump {
            let fee_source_key = self.other_account(&source_key);
            let multiplier = i64::from(self.rng.random_range(1..=20u32));
            let fee_source = self.maybe_muxed(&fee_source_key, 20);
            let fee_bump_tx = FeeBumpTransaction {
                fee_source,
                fee: i64::from(inner.tx.fee) + i64::from(BASE_FEE) * multiplier,
                inner_tx: FeeBumpTransactionInnerTx::Tx(inner),
                ext: FeeBumpTransactionExt::V0,
            };
            let hash = fee_bump_hash(network_id, &fee_bump_tx);
            let inner_result = InnerTransactionResult {
                fee_charged: 0,
                result: if failed {
                    InnerTransactionResultResult::TxFailed(op_results)
                } else {
                    InnerTransactionResultResult::TxSuccess(op_results)
                },
                ext: InnerTransactionResultExt::V0,
            };
            let pair =
                InnerTransactionResultPair { transaction_hash: Hash(inner_hash), result: inner_result };
            let result = if failed {
                TransactionResultResult::TxFeeBumpInnerFailed(pair)
            } else {
                TransactionResultResult::TxFeeBumpInnerSuccess(pair)
            };
            let signatures = self.signatures(&fee_source_key);
            let envelope =
                TransactionEnvelope::TxFeeBump(FeeBumpTransactionEnvelope { tx: fee_bump_tx, signatures });
            (envelope, hash, result, fee_source_key)
        } else {
            let result = if failed {
                TransactionResultResult::TxFailed(op_results)
            } else {
                TransactionResultResult::TxSuccess(op_results)
            };
            (TransactionEnvelope::Tx(inner), inner_hash, result, source_key.clone())
        };

        // Entry changes in the order stellar-core makes them: the fee charged before any
        // transaction is applied, then the sequence bump, the operations, and last the refund.
        let fee_processing = self.book.charge_fee(&fee_source_key, upfront);
        let tx_changes_before = self.book.bump_sequence(&source_key, seq_num);

        // A failed transaction's operations leave no meta and emit no events.
        let operation_events = if failed { 0 } else { op_events.iter().map(|e| e.len() as u32).sum() };
        let operations_meta: Vec<OperationMetaV2> = if failed {
            Vec::new()
        } else {
            op_events
                .into_iter()
                .zip(&op_effects)
                .map(|(events, effects)| OperationMetaV2 {
                    ext: ExtensionPoint::V0,
                    changes: self.book.apply(effects),
                    events: events.try_into().expect("a few events per operation"),
                })
                .collect()
        };
        let post_tx_apply_fee_processing =
            if refund > 0 { self.book.refund_fee(&fee_source_key, refund) } else { empty_changes() };
        let fee_address = account_address(&fee_source_key);
        let mut tx_events = Vec::with_capacity(2);
        if refund > 0 {
            tx_events.push(events::fee(
                self.universe,
                fee_address.clone(),
                upfront,
                TransactionEventStage::BeforeAllTxs,
            ));
            tx_events.push(events::fee(
                self.universe,
                fee_address,
                -refund,
                TransactionEventStage::AfterAllTxs,
            ));
        } else {
            tx_events.push(events::fee(
                self.universe,
                fee_address,
                upfront,
                TransactionEventStage::BeforeAllTxs,
            ));
        }
        let is_soroban = soroban.is_some();
        let soroban_meta = soroban.map(|fees| SorobanTransactionMetaV2 {
            ext: SorobanTransactionMetaExt::V1(SorobanTransactionMetaExtV1 {
                ext: ExtensionPoint::V0,
                total_non_refundable_resource_fee_charged: fees.non_refundable,
                total_refundable_resource_fee_charged: fees.refundable,
                rent_fee_charged: fees.rent,
            }),
            return_value: (!failed).then_some(fees.return_value),
        });

        let expected = &mut self.expected;
        expected.transactions += 1;
        expected.operations += operation_count;
        if failed {
            expected.failed_transactions += 1;
        } else {
            expected.successful_transactions += 1;
            expected.successful_operations += operation_count;
        }
        expected.fee_bump_transactions += u32::from(fee_bump);
        expected.soroban_transactions += u32::from(is_soroban);
        expected.contract_events += operation_events;
        expected.transaction_events += tx_events.len() as u32;
        expected.fee_charged += fee_charged;
        if is_soroban {
            expected.inclusion_fee_charged += inclusion;
            expected.resource_fee_refund += refund;
        }

        let meta = TransactionMeta::V4(TransactionMetaV4 {
            ext: ExtensionPoint::V0,
            tx_changes_before,
            operations: operations_meta.try_into().expect("one meta per operation"),
            tx_changes_after: empty_changes(),
            soroban_meta,
            events: tx_events.try_into().expect("at most two fee events"),
            diagnostic_events: VecM::default(),
        });
        let processing = TransactionResultMetaV1 {
            ext: ExtensionPoint::V0,
            result: TransactionResultPair {
                transaction_hash: Hash(hash),
                result: TransactionResult { fee_charged, result, ext: TransactionResultExt::V0 },
            },
            fee_processing,
            tx_apply_processing: meta,
            post_tx_apply_fee_processing,
        };
        BuiltTransaction { envelope, hash, processing, soroban: is_soroban }
    }

    // Operations.

    fn payment(&mut self, from_key: &Uint256, asset: AssetId) -> BuiltOperation {
        let to_key = self.other_account(from_key);
        let muxed_id = if self.rng.random_ratio(1, 40) { Some(self.rng.random::<u64>()) } else { None };
        let destination = match muxed_id {
            Some(id) => MuxedAccount::MuxedEd25519(MuxedAccountMed25519 { id, ed25519: to_key.clone() }),
            None => MuxedAccount::Ed25519(to_key.clone()),
        };
        let amount = self.amount(asset);
        let event = events::transfer(
            self.universe,
            asset,
            account_address(from_key),
            account_address(&to_key),
            amount,
            muxed_id,
        );
        BuiltOperation {
            operation: Operation {
                source_account: None,
                body: OperationBody::Payment(PaymentOp { destination, asset: self.asset(asset), amount }),
            },
            success: OperationResultTr::Payment(PaymentResult::Success),
            events: vec![event],
            effects: vec![
                Effect::Balance { holder: from_key.clone(), asset, delta: -amount },
                Effect::Balance { holder: to_key, asset, delta: amount },
            ],
        }
    }

    /// A path payment through zero or one intermediate asset, crossing one offer per hop.
    fn path_payment(&mut self, from_key: &Uint256, strict_send: bool) -> BuiltOperation {
        let send = self.any_asset_except(&[]);
        let dest = self.any_asset_except(&[send]);
        let mut hops = vec![send];
        if self.rng.random_bool(0.5) {
            hops.push(self.any_asset_except(&[send, dest]));
        }
        hops.push(dest);
        let to_key = self.other_account(from_key);
        let from = account_address(from_key);

        let mut amounts = vec![self.amount(send)];
        let mut claims = Vec::with_capacity(hops.len() - 1);
        let mut events = Vec::with_capacity(2 * hops.len() - 1);
        // The sender pays the send asset, each crossed offer's seller is paid what it bought
        // and gives what it sold, the destination receives the last hop's asset.
        let mut effects = Vec::with_capacity(2 * hops.len());
        effects.push(Effect::Balance { holder: from_key.clone(), asset: send, delta: -amounts[0] });
        for (position, pair) in hops.windows(2).enumerate() {
            let (bought, sold) = (pair[0], pair[1]);
            let slippage_bps = self.rng.random_range(0..=50u32);
            let amount_bought = amounts[position];
            let amount_sold = convert(
                amount_bought,
                self.universe.asset(bought).price_micro_usd,
                self.universe.asset(sold).price_micro_usd,
                slippage_bps,
            );
            amounts.push(amount_sold);
            let seller_key = self.other_account(from_key);
            let offer_id = self.rng.random_range(1..self.offer_id_base);
            claims.push(ClaimAtom::OrderBook(ClaimOfferAtom {
                seller_id: account_id(&seller_key),
                offer_id,
                asset_sold: self.asset(sold),
                amount_sold,
                asset_bought: self.asset(bought),
                amount_bought,
            }));
            effects.push(Effect::Balance { holder: seller_key.clone(), asset: bought, delta: amount_bought });
            effects.push(Effect::Balance { holder: seller_key.clone(), asset: sold, delta: -amount_sold });
            let seller = account_address(&seller_key);
            events.push(events::transfer(
                self.universe,
                bought,
                from.clone(),
                seller.clone(),
                amount_bought,
                None,
            ));
            events.push(events::transfer(self.universe, sold, seller, from.clone(), amount_sold, None));
        }
        let sent = amounts[0];
        let received = amounts[amounts.len() - 1];
        effects.push(Effect::Balance { holder: to_key.clone(), asset: dest, delta: received });
        events.push(events::transfer(self.universe, dest, from, account_address(&to_key), received, None));

        let path: VecM<Asset, 5> = hops[1..hops.len() - 1]
            .iter()
            .map(|id| self.asset(*id))
            .collect::<Vec<_>>()
            .try_into()
            .expect("at most one intermediate asset");
        let destination = MuxedAccount::Ed25519(to_key.clone());
        let offers: VecM<ClaimAtom> = claims.try_into().expect("one claim per hop");
        let last = SimplePaymentResult {
            destination: account_id(&to_key),
            asset: self.asset(dest),
            amount: received,
        };
        let (body, success) = if strict_send {
            (
                OperationBody::PathPaymentStrictSend(PathPaymentStrictSendOp {
                    send_asset: self.asset(send),
                    send_amount: sent,
                    destination,
                    dest_asset: self.asset(dest),
                    dest_min: scale(received, 9_900),
                    path,
                }),
                OperationResultTr::PathPaymentStrictSend(PathPaymentStrictSendResult::Success(
                    PathPaymentStrictSendResultSuccess { offers, last },
                )),
            )
        } else {
            (
                OperationBody::PathPaymentStrictReceive(PathPaymentStrictReceiveOp {
                    send_asset: self.asset(send),
                    send_max: scale(sent, 10_100),
                    destination,
                    dest_asset: self.asset(dest),
                    dest_amount: received,
                    path,
                }),
                OperationResultTr::PathPaymentStrictReceive(PathPaymentStrictReceiveResult::Success(
                    PathPaymentStrictReceiveResultSuccess { offers, last },
                )),
            )
        };
        BuiltOperation { operation: Operation { source_account: None, body }, success, events, effects }
    }

    fn create_account(&mut self, from_key: &Uint256) -> BuiltOperation {
        let new_key = Uint256(self.rng.random());
        let whole_units = match self.rng.random_range(0..100u32) {
            0..70 => self.rng.random_range(1..=10i64),
            70..95 => self.rng.random_range(10..=1_000i64),
            _ => self.rng.random_range(1_000..=100_000i64),
        };
        let starting_balance = whole_units * 10_000_000 + i64::from(self.rng.random_range(0..10_000_000u32));
        let event = events::transfer(
            self.universe,
            AssetId::Native,
            account_address(from_key),
            account_address(&new_key),
            starting_balance,
            None,
        );
        BuiltOperation {
            operation: Operation {
                source_account: None,
                body: OperationBody::CreateAccount(CreateAccountOp {
                    destination: account_id(&new_key),
                    starting_balance,
                }),
            },
            success: OperationResultTr::CreateAccount(CreateAccountResult::Success),
            events: vec![event],
            effects: vec![
                Effect::Balance {
                    holder: from_key.clone(),
                    asset: AssetId::Native,
                    delta: -starting_balance,
                },
                Effect::NewAccount { key: new_key, balance: starting_balance },
            ],
        }
    }

    fn change_trust(&mut self, source_key: &Uint256) -> BuiltOperation {
        let asset = self.credit_asset();
        let line = match self.asset(asset) {
            Asset::CreditAlphanum4(a) => ChangeTrustAsset::CreditAlphanum4(a),
            Asset::CreditAlphanum12(a) => ChangeTrustAsset::CreditAlphanum12(a),
            Asset::Native => unreachable!("credit_asset never picks native"),
        };
        let limit = if self.rng.random_ratio(4, 5) { i64::MAX } else { scale(self.amount(asset), 100_000) };
        BuiltOperation {
            operation: Operation {
                source_account: None,
                body: OperationBody::ChangeTrust(ChangeTrustOp { line, limit }),
            },
            success: OperationResultTr::ChangeTrust(ChangeTrustResult::Success),
            events: Vec::new(),
            effects: vec![Effect::NewTrustline { holder: source_key.clone(), asset, limit }],
        }
    }

    /// A new offer that rests on the book (crosses nothing, so emits no events).
    fn offer(&mut self, from_key: &Uint256, buy: bool) -> BuiltOperation {
        let selling = self.any_asset_except(&[]);
        let buying = self.any_asset_except(&[selling]);
        let offer_id = self.next_offer_id;
        self.next_offer_id += 1;
        let selling_price = self.universe.asset(selling).price_micro_usd;
        let buying_price = self.universe.asset(buying).price_micro_usd;
        let (body, entry_amount, entry_price) = if buy {
            // A buy offer's price is of one unit of `buying` in `selling`; the resting offer
            // stores the amount and price of what it sells.
            let (n, d) = offer_price(&mut self.rng, buying_price, selling_price);
            let buy_amount = self.amount(buying);
            let amount = convert(buy_amount, i64::from(n), i64::from(d), 0);
            let body = OperationBody::ManageBuyOffer(ManageBuyOfferOp {
                selling: self.asset(selling),
                buying: self.asset(buying),
                buy_amount,
                price: Price { n, d },
                offer_id: 0,
            });
            (body, amount, Price { n: d, d: n })
        } else {
            let (n, d) = offer_price(&mut self.rng, selling_price, buying_price);
            let amount = self.amount(selling);
            let body = OperationBody::ManageSellOffer(ManageSellOfferOp {
                selling: self.asset(selling),
                buying: self.asset(buying),
                amount,
                price: Price { n, d },
                offer_id: 0,
            });
            (body, amount, Price { n, d })
        };
        let offer = OfferEntry {
            seller_id: account_id(from_key),
            offer_id,
            selling: self.asset(selling),
            buying: self.asset(buying),
            amount: entry_amount,
            price: entry_price,
            flags: 0,
            ext: OfferEntryExt::V0,
        };
        let effects = vec![Effect::NewOffer(offer.clone())];
        let created = ManageOfferSuccessResult {
            offers_claimed: VecM::default(),
            offer: ManageOfferSuccessResultOffer::Created(offer),
        };
        let success = if buy {
            OperationResultTr::ManageBuyOffer(ManageBuyOfferResult::Success(created))
        } else {
            OperationResultTr::ManageSellOffer(ManageSellOfferResult::Success(created))
        };
        BuiltOperation {
            operation: Operation { source_account: None, body },
            success,
            events: Vec::new(),
            effects,
        }
    }

    /// 2 to 5 operations; one in eight has its own source account.
    fn multi_operation(&mut self, from_key: &Uint256) -> Vec<BuiltOperation> {
        let count = self.rng.random_range(2..=5u32);
        let mut operations = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let op_source =
                if self.rng.random_ratio(1, 8) { Some(self.other_account(from_key)) } else { None };
            let key = op_source.clone().unwrap_or_else(|| from_key.clone());
            let mut built = match self.rng.random_range(0..100u32) {
                0..40 => self.payment(&key, AssetId::Native),
                40..70 => {
                    let asset = self.credit_asset();
                    self.payment(&key, asset)
                }
                70..80 => self.change_trust(&key),
                80..92 => self.offer(&key, false),
                _ => self.create_account(&key),
            };
            built.operation.source_account = op_source.map(MuxedAccount::Ed25519);
            operations.push(built);
        }
        operations
    }

    /// `failure` replaces the result of the operation that makes a transaction fail.
    fn failure(&mut self, body: &OperationBody) -> OperationResultTr {
        let roll = self.rng.random_range(0..100u32);
        match body {
            OperationBody::Payment(_) => OperationResultTr::Payment(match roll {
                0..70 => PaymentResult::Underfunded,
                70..80 => PaymentResult::NoDestination,
                80..90 => PaymentResult::NoTrust,
                _ => PaymentResult::LineFull,
            }),
            OperationBody::PathPaymentStrictSend(_) => OperationResultTr::PathPaymentStrictSend(match roll {
                0..50 => PathPaymentStrictSendResult::UnderDestmin,
                50..80 => PathPaymentStrictSendResult::TooFewOffers,
                _ => PathPaymentStrictSendResult::Underfunded,
            }),
            OperationBody::PathPaymentStrictReceive(_) => {
                OperationResultTr::PathPaymentStrictReceive(match roll {
                    0..50 => PathPaymentStrictReceiveResult::OverSendmax,
                    50..80 => PathPaymentStrictReceiveResult::TooFewOffers,
                    _ => PathPaymentStrictReceiveResult::Underfunded,
                })
            }
            OperationBody::CreateAccount(_) => OperationResultTr::CreateAccount(match roll {
                0..40 => CreateAccountResult::AlreadyExist,
                40..80 => CreateAccountResult::Underfunded,
                _ => CreateAccountResult::LowReserve,
            }),
            OperationBody::ChangeTrust(_) => OperationResultTr::ChangeTrust(match roll {
                0..70 => ChangeTrustResult::LowReserve,
                _ => ChangeTrustResult::InvalidLimit,
            }),
            OperationBody::ManageSellOffer(_) => OperationResultTr::ManageSellOffer(match roll {
                0..60 => ManageSellOfferResult::Underfunded,
                60..75 => ManageSellOfferResult::CrossSelf,
                75..90 => ManageSellOfferResult::SellNoTrust,
                _ => ManageSellOfferResult::LowReserve,
            }),
            OperationBody::ManageBuyOffer(_) => OperationResultTr::ManageBuyOffer(match roll {
                0..60 => ManageBuyOfferResult::Underfunded,
                60..75 => ManageBuyOfferResult::CrossSelf,
                75..90 => ManageBuyOfferResult::SellNoTrust,
                _ => ManageBuyOfferResult::LowReserve,
            }),
            OperationBody::InvokeHostFunction(_) => OperationResultTr::InvokeHostFunction(match roll {
                0..70 => InvokeHostFunctionResult::Trapped,
                _ => InvokeHostFunctionResult::ResourceLimitExceeded,
            }),
            other => unreachable!("the generator never builds {:?} operations", other.discriminant()),
        }
    }

    // Soroban invocations: the operation, its footprint and its return value.

    fn sac_transfer(&mut self, from_key: &Uint256) -> (BuiltOperation, LedgerFootprint, ScVal) {
        let asset = match self.rng.random_range(0..100u32) {
            0..60 => AssetId::Usdc,
            60..80 => AssetId::Native,
            _ => AssetId::Eurc,
        };
        let to_key = self.other_account(from_key);
        let amount = self.amount(asset);
        let (from, to) = (account_address(from_key), account_address(&to_key));
        let sac = self.universe.asset(asset).sac.clone();
        let event = events::transfer(self.universe, asset, from.clone(), to.clone(), amount, None);
        let args = vec![ScVal::Address(from), ScVal::Address(to), i128_val(i128::from(amount))];
        let footprint = footprint(&sac, &[from_key, &to_key]);
        let effects = vec![
            Effect::Balance { holder: from_key.clone(), asset, delta: -amount },
            Effect::Balance { holder: to_key, asset, delta: amount },
        ];
        let operation =
            invoke(&sac, &self.universe.symbols.transfer, args, vec![event], effects, self.rng.random());
        (operation, footprint, ScVal::Void)
    }

    fn swap(&mut self, from_key: &Uint256) -> (BuiltOperation, LedgerFootprint, ScVal) {
        const TOKENS: [AssetId; 4] = [AssetId::Native, AssetId::Usdc, AssetId::Eurc, AssetId::Aqua];
        let token_in = TOKENS[self.rng.random_range(0..4u32) as usize];
        let token_out = loop {
            let candidate = TOKENS[self.rng.random_range(0..4u32) as usize];
            if candidate != token_in {
                break candidate;
            }
        };
        let amount_in = self.amount(token_in);
        let slippage_bps = self.rng.random_range(30..=100u32);
        let (price_in, price_out) =
            (self.universe.asset(token_in).price_micro_usd, self.universe.asset(token_out).price_micro_usd);
        let amount_out = convert(amount_in, price_in, price_out, slippage_bps);
        let user = account_address(from_key);
        let amm = self.universe.amm.clone();
        let pool = ScAddress::Contract(amm.clone());
        let events = vec![
            events::transfer(self.universe, token_in, user.clone(), pool.clone(), amount_in, None),
            events::transfer(self.universe, token_out, pool, user.clone(), amount_out, None),
            contract_event(
                &amm,
                vec![ScVal::Symbol(self.universe.symbols.swap.clone()), ScVal::Address(user.clone())],
                ScVal::Vec(Some(ScVec(
                    vec![i128_val(i128::from(amount_in)), i128_val(i128::from(amount_out))]
                        .try_into()
                        .expect("two values"),
                ))),
            ),
        ];
        let args = vec![
            ScVal::Address(user),
            ScVal::Address(ScAddress::Contract(self.universe.asset(token_in).sac.clone())),
            ScVal::Address(ScAddress::Contract(self.universe.asset(token_out).sac.clone())),
            i128_val(i128::from(amount_in)),
            i128_val(i128::from(scale(amount_out, 9_900))),
        ];
        let footprint = footprint(&amm, &[from_key]);
        // The user's side; the pool's balances are contract data this generator does not model.
        let effects = vec![
            Effect::Balance { holder: from_key.clone(), asset: token_in, delta: -amount_in },
            Effect::Balance { holder: from_key.clone(), asset: token_out, delta: amount_out },
        ];
        let operation = invoke(&amm, &self.universe.symbols.swap, args, events, effects, self.rng.random());
        (operation, footprint, i128_val(i128::from(amount_out)))
    }

    fn deposit(&mut self, from_key: &Uint256) -> (BuiltOperation, LedgerFootprint, ScVal) {
        let amount = self.amount(AssetId::Usdc);
        let user = account_address(from_key);
        let vault = self.universe.vault.clone();
        let events = vec![
            events::transfer(
                self.universe,
                AssetId::Usdc,
                user.clone(),
                ScAddress::Contract(vault.clone()),
                amount,
                None,
            ),
            contract_event(
                &vault,
                vec![ScVal::Symbol(self.universe.symbols.deposit.clone()), ScVal::Address(user.clone())],
                i128_val(i128::from(amount)),
            ),
        ];
        let args = vec![ScVal::Address(user), i128_val(i128::from(amount))];
        let footprint = footprint(&vault, &[from_key]);
        let effects =
            vec![Effect::Balance { holder: from_key.clone(), asset: AssetId::Usdc, delta: -amount }];
        let operation =
            invoke(&vault, &self.universe.symbols.deposit, args, events, effects, self.rng.random());
        (operation, footprint, i128_val(i128::from(scale(amount, 9_700))))
    }

    // Small draws.

    fn account(&mut self) -> Uint256 {
        let index = self.rng.random_range(0..self.universe.accounts.len() as u32);
        self.universe.accounts[index as usize].clone()
    }

    /// A pool account other than `not`.
    fn other_account(&mut self, not: &Uint256) -> Uint256 {
        let len = self.universe.accounts.len() as u32;
        let index = self.rng.random_range(0..len);
        let candidate = &self.universe.accounts[index as usize];
        if candidate != not {
            return candidate.clone();
        }
        self.universe.accounts[((index + 1) % len) as usize].clone()
    }

    /// `key`, muxed with a random id once in `one_in` times.
    fn maybe_muxed(&mut self, key: &Uint256, one_in: u32) -> MuxedAccount {
        if self.rng.random_ratio(1, one_in) {
            MuxedAccount::MuxedEd25519(MuxedAccountMed25519 { id: self.rng.random(), ed25519: key.clone() })
        } else {
            MuxedAccount::Ed25519(key.clone())
        }
    }

    fn asset(&self, id: AssetId) -> Asset {
        self.universe.asset(id).asset.clone()
    }

    /// A credit asset: USDC 60%, EURC 18%, AQUA 13%, the 12-character asset 9%.
    fn credit_asset(&mut self) -> AssetId {
        match self.rng.random_range(0..100u32) {
            0..60 => AssetId::Usdc,
            60..78 => AssetId::Eurc,
            78..91 => AssetId::Aqua,
            _ => AssetId::Long,
        }
    }

    /// Any asset (native 40%, else a credit asset) not in `except`.
    fn any_asset_except(&mut self, except: &[AssetId]) -> AssetId {
        loop {
            let candidate = if self.rng.random_ratio(2, 5) { AssetId::Native } else { self.credit_asset() };
            if !except.contains(&candidate) {
                return candidate;
            }
        }
    }

    /// A long-tailed amount of `asset`, in stroops.
    fn amount(&mut self, asset: AssetId) -> i64 {
        let value = value_micro_usd(&mut self.rng);
        stroops_for_value(value, self.universe.asset(asset).price_micro_usd)
    }

    /// Fee bid per operation, in base fees: mostly the minimum, sometimes a surge bid.
    fn fee_multiplier(&mut self) -> u32 {
        match self.rng.random_range(0..100u32) {
            0..50 => 1,
            50..85 => self.rng.random_range(2..=10u32),
            _ => 100,
        }
    }

    /// Text 30%, id 10%, hash 5%, none 55%.
    fn memo(&mut self) -> Memo {
        match self.rng.random_range(0..100u32) {
            0..30 => {
                let text = format!("ref {}", self.rng.random::<u32>());
                Memo::Text(text.try_into().expect("at most 14 characters"))
            }
            30..40 => Memo::Id(self.rng.random()),
            40..45 => Memo::Hash(Hash(self.rng.random())),
            _ => Memo::None,
        }
    }

    /// Time bounds 80% (as SDKs set them), none 20%.
    fn preconditions(&mut self) -> Preconditions {
        if self.rng.random_ratio(1, 5) { Preconditions::None } else { self.time_bounds() }
    }

    fn time_bounds(&mut self) -> Preconditions {
        let min_time = if self.rng.random_ratio(1, 8) {
            self.close_time.saturating_sub(self.rng.random_range(1..=60u64))
        } else {
            0
        };
        let max_time = self.close_time + self.rng.random_range(30..=300u64);
        Preconditions::Time(TimeBounds { min_time: TimePoint(min_time), max_time: TimePoint(max_time) })
    }

    /// One signature by `key`: its hint and 64 random bytes (nothing verifies them).
    fn signatures(&mut self, key: &Uint256) -> VecM<DecoratedSignature, 20> {
        let mut hint = [0u8; 4];
        hint.copy_from_slice(&key.0[28..]);
        let bytes: [u8; 64] = self.rng.random();
        let signature = DecoratedSignature {
            hint: SignatureHint(hint),
            signature: Signature(bytes.to_vec().try_into().expect("64 bytes")),
        };
        vec![signature].try_into().expect("one signature")
    }
}

fn empty_changes() -> LedgerEntryChanges {
    LedgerEntryChanges(VecM::default())
}

fn invoke(
    contract: &ContractId,
    function: &ScSymbol,
    args: Vec<ScVal>,
    events: Vec<ContractEvent>,
    effects: Vec<Effect>,
    success_hash: [u8; 32],
) -> BuiltOperation {
    BuiltOperation {
        operation: Operation {
            source_account: None,
            body: OperationBody::InvokeHostFunction(InvokeHostFunctionOp {
                host_function: HostFunction::InvokeContract(InvokeContractArgs {
                    contract_address: ScAddress::Contract(contract.clone()),
                    function_name: function.clone(),
                    args: args.try_into().expect("a few arguments"),
                }),
                auth: VecM::default(),
            }),
        },
        // Stands for sha256 of the return value and events; nothing checks it.
        success: OperationResultTr::InvokeHostFunction(InvokeHostFunctionResult::Success(Hash(success_hash))),
        events,
        effects,
    }
}

/// Reads the contract instance, writes the accounts.
fn footprint(contract: &ContractId, accounts: &[&Uint256]) -> LedgerFootprint {
    let instance = LedgerKey::ContractData(LedgerKeyContractData {
        contract: ScAddress::Contract(contract.clone()),
        key: ScVal::LedgerKeyContractInstance,
        durability: ContractDataDurability::Persistent,
    });
    let read_write: Vec<LedgerKey> = accounts
        .iter()
        .map(|key| LedgerKey::Account(LedgerKeyAccount { account_id: account_id(key) }))
        .collect();
    LedgerFootprint {
        read_only: vec![instance].try_into().expect("one key"),
        read_write: read_write.try_into().expect("two keys at most"),
    }
}
