use sha2::{Digest, Sha256};
use stellar_xdr::{
    Asset, ContractEventBody, FeeBumpTransactionInnerTx, GeneralizedTransactionSet, HostFunction,
    InnerTransactionResultResult, LedgerCloseMeta, LedgerCloseMetaV2, LedgerEntryChange, LedgerEntryChanges,
    LedgerEntryData, Limits, ManageOfferSuccessResultOffer, Memo, MuxedAccount, OperationBody,
    OperationResult, OperationResultTr, OperationType, PathPaymentStrictReceiveResult,
    PathPaymentStrictSendResult, PaymentResult, Preconditions, ReadXdr, ScAddress, ScVal,
    TransactionEnvelope, TransactionMeta, TransactionPhase, TransactionResultResult, TransactionResultSet,
    WriteXdr,
};

use super::*;
use crate::datastore::LocalDataStore;
use crate::decode::DecodeLimits;
use crate::ledger::LedgerView;
use crate::network::Network;

fn config(ledgers: u32) -> GeneratorConfig {
    GeneratorConfig { ledger_count: Some(ledgers), ..GeneratorConfig::default() }
}

fn generate(config: GeneratorConfig) -> Vec<GeneratedLedger> {
    SyntheticLedgers::new(config).expect("valid config").collect()
}

fn xdr(meta: &LedgerCloseMeta) -> Vec<u8> {
    meta.to_xdr(Limits::none()).expect("generated ledgers encode")
}

fn v2(meta: &LedgerCloseMeta) -> &LedgerCloseMetaV2 {
    match meta {
        LedgerCloseMeta::V2(v2) => v2,
        _ => panic!("the generator writes LedgerCloseMeta V2"),
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn asset_code(asset: &Asset) -> Option<String> {
    let code = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim_end_matches('\0').to_owned();
    match asset {
        Asset::Native => None,
        Asset::CreditAlphanum4(a) => Some(code(&a.asset_code.0)),
        Asset::CreditAlphanum12(a) => Some(code(&a.asset_code.0)),
    }
}

#[test]
fn same_config_gives_byte_identical_ledgers() {
    let first: Vec<Vec<u8>> = generate(config(12)).iter().map(|l| xdr(&l.meta)).collect();
    let second: Vec<Vec<u8>> = generate(config(12)).iter().map(|l| xdr(&l.meta)).collect();
    assert_eq!(first.len(), 12);
    assert!(first == second, "two runs differ");
    let other_seed = generate(GeneratorConfig { seed: 43, ..config(1) });
    assert_ne!(xdr(&other_seed[0].meta), first[0]);
}

#[test]
fn ledgers_round_trip_through_xdr() {
    for ledger in generate(config(6)) {
        let bytes = xdr(&ledger.meta);
        let decoded = LedgerCloseMeta::from_xdr(&bytes, Limits::none()).expect("decodes");
        assert!(decoded == ledger.meta, "ledger {} changed in a round trip", ledger.expected.sequence);
        assert!(xdr(&decoded) == bytes);
    }
}

#[test]
fn ledgers_join_and_match_expected_counts() {
    let network = Network::synthetic();
    for ledger in generate(config(15)) {
        let expected = &ledger.expected;
        let view = LedgerView::new(&ledger.meta, &network).expect("every transaction joins its envelope");
        assert_eq!(view.sequence(), expected.sequence);
        assert_eq!(view.close_time(), expected.close_time);
        assert_eq!(view.transactions.len() as u32, expected.transactions);
        let failed = view.transactions.iter().filter(|tx| !tx.successful()).count() as u32;
        assert_eq!(failed, expected.failed_transactions);
        assert_eq!(expected.successful_transactions + expected.failed_transactions, expected.transactions);
        let operations: u32 = view.transactions.iter().map(|tx| tx.operations().len() as u32).sum();
        assert_eq!(operations, expected.operations);
        let by_type: u32 = expected.operations_by_type.values().sum();
        assert_eq!(by_type, expected.operations);
        let events: u32 = view.transactions.iter().map(|tx| tx.operation_events().count() as u32).sum();
        assert_eq!(events, expected.contract_events);
        let tx_events: u32 = view.transactions.iter().map(|tx| tx.transaction_events().len() as u32).sum();
        assert_eq!(tx_events, expected.transaction_events);
        let fee_bumps = view.transactions.iter().filter(|tx| tx.is_fee_bump()).count() as u32;
        assert_eq!(fee_bumps, expected.fee_bump_transactions);
        let soroban = view.transactions.iter().filter(|tx| tx.soroban_data().is_some()).count() as u32;
        assert_eq!(soroban, expected.soroban_transactions);
        let fees: i64 = view.transactions.iter().map(|tx| tx.fee_charged()).sum();
        assert_eq!(fees, expected.fee_charged);
        let hashes: Vec<[u8; 32]> = view.transactions.iter().map(|tx| *tx.hash()).collect();
        assert_eq!(hashes, expected.transaction_hashes);
        for tx in &view.transactions {
            assert_eq!(tx.meta_version(), 4);
            assert!(tx.post_tx_apply_fee_processing.is_some());
            let results = tx.operation_results().expect("success or failed results");
            assert_eq!(results.len(), tx.operations().len());
            // The inner hash of a fee bump is its TransactionV1Envelope's hash.
            if let TransactionEnvelope::TxFeeBump(fee_bump) = tx.envelope {
                let FeeBumpTransactionInnerTx::Tx(inner) = &fee_bump.tx.inner_tx;
                assert_eq!(tx.inner_transaction_hash(), Some(&inner.hash(network.id()).unwrap()));
                assert_ne!(&fee_bump.tx.fee_source, &inner.tx.source_account);
            }
        }
    }
}

/// An account entry's (key, balance, sequence number) in a change.
fn account_of(change: &LedgerEntryChange) -> Option<([u8; 32], i64, i64)> {
    let entry = match change {
        LedgerEntryChange::State(e)
        | LedgerEntryChange::Updated(e)
        | LedgerEntryChange::Created(e)
        | LedgerEntryChange::Restored(e) => e,
        LedgerEntryChange::Removed(_) => return None,
    };
    let LedgerEntryData::Account(account) = &entry.data else { return None };
    let stellar_xdr::PublicKey::PublicKeyTypeEd25519(key) = &account.account_id.0;
    Some((key.0, account.balance, account.seq_num.0))
}

/// `[State(a), Updated(a')]` of one account: its key and the balance and sequence moves.
fn state_then_updated(changes: &LedgerEntryChanges) -> ([u8; 32], i64, i64) {
    let [before @ LedgerEntryChange::State(_), after @ LedgerEntryChange::Updated(_)] = changes.as_slice()
    else {
        panic!("expected [State, Updated], got {changes:?}");
    };
    let (key, balance, seq) = account_of(before).expect("an account entry");
    let (key_after, balance_after, seq_after) = account_of(after).expect("an account entry");
    assert_eq!(key, key_after, "State and Updated of the same account");
    (key, balance_after - balance, seq_after - seq)
}

fn ed25519(account: &MuxedAccount) -> [u8; 32] {
    match account {
        MuxedAccount::Ed25519(key) => key.0,
        MuxedAccount::MuxedEd25519(muxed) => muxed.ed25519.0,
    }
}

#[test]
fn metas_carry_the_entry_changes_stellar_core_writes() {
    let network = Network::synthetic();
    let (mut soroban_refunds, mut operation_changes) = (0, 0);
    for ledger in generate(config(10)) {
        let expected = &ledger.expected;
        let view = LedgerView::new(&ledger.meta, &network).expect("joins");
        let (mut inclusion, mut refunds) = (0, 0);
        for tx in &view.transactions {
            let fee_source = match tx.envelope {
                TransactionEnvelope::TxFeeBump(bump) => ed25519(&bump.tx.fee_source),
                _ => ed25519(&tx.source_account()),
            };
            // The fee account is charged up front: the fee charged plus any refund.
            let (key, charged, seq_moved) = state_then_updated(tx.fee_processing);
            assert_eq!(key, fee_source);
            assert_eq!(seq_moved, 0, "charging a fee leaves the sequence number");
            let refund = match tx.post_tx_apply_fee_processing {
                Some(changes) if !changes.is_empty() => {
                    let (key, refunded, _) = state_then_updated(changes);
                    assert_eq!(key, fee_source);
                    assert!(refunded > 0);
                    refunded
                }
                _ => 0,
            };
            assert_eq!(-charged - refund, tx.fee_charged(), "the fee account pays exactly fee_charged");
            if let Some(data) = tx.soroban_data() {
                inclusion += -charged - data.resource_fee;
                refunds += refund;
                soroban_refunds += usize::from(refund > 0);
            } else {
                assert_eq!(refund, 0, "only Soroban transactions are refunded");
            }

            let TransactionMeta::V4(meta) = tx.meta else { panic!("meta V4") };
            // The source account's sequence number becomes the transaction's.
            let (key, balance_moved, _) = state_then_updated(&meta.tx_changes_before);
            assert_eq!(key, ed25519(&tx.source_account()));
            assert_eq!(balance_moved, 0);
            let Some((_, _, bumped)) = account_of(&meta.tx_changes_before[1]) else { unreachable!() };
            assert_eq!(bumped, tx.account_sequence());
            assert!(meta.tx_changes_after.is_empty());

            if !tx.successful() {
                assert!(meta.operations.is_empty(), "a failed transaction's operations change nothing");
                continue;
            }
            for (op, op_meta) in tx.operations().iter().zip(meta.operations.iter()) {
                let changes = op_meta.changes.as_slice();
                assert!(!changes.is_empty(), "{:?} changes entries", op.body.discriminant());
                operation_changes += changes.len();
                // Each State is followed by the Updated of the same entry.
                for (at, change) in changes.iter().enumerate() {
                    if let LedgerEntryChange::State(before) = change {
                        let LedgerEntryChange::Updated(after) = &changes[at + 1] else {
                            panic!("State without Updated in {:?}", op.body.discriminant());
                        };
                        assert_eq!(before.data.discriminant(), after.data.discriminant());
                        assert_eq!(after.last_modified_ledger_seq, expected.sequence);
                    }
                }
                // A native payment moves the amount from one account to the other.
                if let OperationBody::Payment(payment) = &op.body
                    && payment.asset == Asset::Native
                {
                    let moves: Vec<i64> = changes
                        .chunks(2)
                        .map(|pair| account_of(&pair[1]).unwrap().1 - account_of(&pair[0]).unwrap().1)
                        .collect();
                    assert_eq!(moves.len(), 2);
                    assert!(moves.contains(&-payment.amount) && moves.contains(&payment.amount), "{moves:?}");
                }
            }
        }
        assert_eq!(inclusion, expected.inclusion_fee_charged);
        assert_eq!(refunds, expected.resource_fee_refund);
    }
    assert!(soroban_refunds > 50, "{soroban_refunds} refunds");
    assert!(operation_changes > 1_000, "{operation_changes} changes");
}

#[test]
fn header_chain_is_consistent() {
    let config = config(20);
    let ledgers = generate(config.clone());
    let mut previous_hash = None;
    for (offset, ledger) in ledgers.iter().enumerate() {
        let v2 = v2(&ledger.meta);
        let header = &v2.ledger_header.header;
        assert_eq!(header.ledger_seq, config.first_sequence + offset as u32);
        assert!(header.ledger_version >= 23);
        let header_hash = sha256(&header.to_xdr(Limits::none()).unwrap());
        assert_eq!(v2.ledger_header.hash.0, header_hash);
        assert_eq!(ledger.header_hash(), header_hash);
        assert_eq!(header.scp_value.tx_set_hash.0, sha256(&v2.tx_set.to_xdr(Limits::none()).unwrap()));
        let GeneralizedTransactionSet::V1(set) = &v2.tx_set;
        assert_eq!(set.previous_ledger_hash, header.previous_ledger_hash);
        let results = TransactionResultSet {
            results: v2
                .tx_processing
                .iter()
                .map(|t| t.result.clone())
                .collect::<Vec<_>>()
                .try_into()
                .unwrap(),
        };
        assert_eq!(header.tx_set_result_hash.0, sha256(&results.to_xdr(Limits::none()).unwrap()));
        if let Some(previous) = previous_hash {
            assert_eq!(header.previous_ledger_hash.0, previous);
        }
        previous_hash = Some(header_hash);
    }
}

#[test]
fn close_times_are_about_five_seconds_apart() {
    let config = config(200);
    let close_times: Vec<u64> = generate(config.clone()).iter().map(|l| l.expected.close_time).collect();
    assert_eq!(close_times[0], config.first_close_time);
    for pair in close_times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((1..=9).contains(&gap), "gap of {gap} s");
    }
    let mean = (close_times[199] - close_times[0]) as f64 / 199.0;
    assert!((mean - 5.0).abs() < 0.1, "mean gap {mean}");
}

#[test]
fn phases_are_protocol_23_and_apply_order_differs_from_set_order() {
    let network = Network::synthetic();
    let mut reordered = 0;
    for ledger in generate(config(5)) {
        let v2 = v2(&ledger.meta);
        let GeneralizedTransactionSet::V1(set) = &v2.tx_set;
        assert_eq!(set.phases.len(), 2);
        assert!(matches!(set.phases[0], TransactionPhase::V0(_)));
        let TransactionPhase::V1(parallel) = &set.phases[1] else { panic!("Soroban phase is parallel") };
        assert!(!parallel.execution_stages.is_empty());
        for stage in parallel.execution_stages.iter() {
            for cluster in stage.0.iter() {
                assert!(!cluster.0.is_empty());
                assert!(
                    cluster
                        .0
                        .iter()
                        .all(|e| matches!(e, TransactionEnvelope::Tx(_) | TransactionEnvelope::TxFeeBump(_)))
                );
            }
        }
        let set_order: Vec<[u8; 32]> = crate::ledger::envelopes_in_tx_set(&ledger.meta)
            .iter()
            .map(|envelope| envelope.hash(network.id()).unwrap())
            .collect();
        if set_order != ledger.expected.transaction_hashes {
            reordered += 1;
        }
    }
    assert_eq!(reordered, 5);
}

/// Everything the brief lists shows up in a modest sample.
#[test]
fn the_mix_contains_every_kind() {
    let network = Network::synthetic();
    let ledgers = generate(config(30));
    let usdc_issuer = stellar_strkey::ed25519::PublicKey::from_string(USDC_ISSUER).unwrap().0;
    let mut seen = std::collections::BTreeSet::new();
    let mut payment_amounts = Vec::new();
    for ledger in &ledgers {
        let view = LedgerView::new(&ledger.meta, &network).unwrap();
        for tx in &view.transactions {
            let results = tx.operation_results().unwrap();
            if tx.is_fee_bump() {
                seen.insert(if tx.successful() { "fee bump success" } else { "fee bump failed" });
            }
            if !tx.successful() {
                seen.insert("failed");
                assert!(matches!(
                    tx.result.result.result,
                    TransactionResultResult::TxFailed(_) | TransactionResultResult::TxFeeBumpInnerFailed(_)
                ));
                assert!(tx.fee_charged() > 0, "a failed transaction still pays its fee");
                assert_eq!(tx.operation_events().count(), 0);
                if let TransactionResultResult::TxFeeBumpInnerFailed(inner) = &tx.result.result.result {
                    assert!(matches!(inner.result.result, InnerTransactionResultResult::TxFailed(_)));
                }
            }
            if tx.operations().len() > 1 {
                seen.insert("multi-operation");
            }
            if matches!(tx.source_account(), MuxedAccount::MuxedEd25519(_)) {
                seen.insert("muxed source");
            }
            match tx.memo() {
                Memo::Text(_) => seen.insert("memo text"),
                Memo::Id(_) => seen.insert("memo id"),
                Memo::Hash(_) => seen.insert("memo hash"),
                _ => false,
            };
            if matches!(tx.preconditions(), Preconditions::Time(_)) {
                seen.insert("time bounds");
            }
            let events: Vec<_> = tx.operation_events().collect();
            for (index, (operation, result)) in tx.operations().iter().zip(results).enumerate() {
                let OperationResult::OpInner(result) = result else {
                    panic!("operations have inner results")
                };
                let op_events: Vec<_> =
                    events.iter().filter(|(i, _)| *i == index as u32).map(|(_, e)| *e).collect();
                assert_eq!(operation.body.discriminant(), result.discriminant());
                match (&operation.body, result) {
                    (OperationBody::Payment(p), OperationResultTr::Payment(PaymentResult::Success)) => {
                        payment_amounts.push(p.amount);
                        match &p.asset {
                            Asset::Native => seen.insert("payment native"),
                            Asset::CreditAlphanum4(a) if a.asset_code.0 == *b"USDC" => {
                                let stellar_xdr::PublicKey::PublicKeyTypeEd25519(issuer) = &a.issuer.0;
                                assert_eq!(issuer.0, usdc_issuer);
                                seen.insert("payment USDC")
                            }
                            Asset::CreditAlphanum12(_) => seen.insert("payment alphanum12"),
                            Asset::CreditAlphanum4(_) => seen.insert("payment other credit"),
                        };
                        // CAP-67: a payment emits a SAC transfer (failed transactions emit nothing).
                        if !tx.successful() {
                            continue;
                        }
                        assert_eq!(op_events.len(), 1);
                        let ContractEventBody::V0(body) = &op_events[0].body;
                        assert_eq!(body.topics.len(), 4);
                        assert_eq!(body.topics[0], crate::generator::universe::symbol("transfer"));
                        match &p.asset {
                            Asset::Native => {
                                assert_eq!(body.topics[3], crate::generator::universe::string("native"))
                            }
                            asset => {
                                let ScVal::String(topic) = &body.topics[3] else { panic!("asset topic") };
                                let topic = topic.0.to_utf8_string_lossy();
                                assert!(
                                    topic.starts_with(&format!("{}:G", asset_code(asset).unwrap())),
                                    "{topic}"
                                );
                            }
                        }
                        if let MuxedAccount::MuxedEd25519(_) = p.destination {
                            seen.insert("muxed destination");
                            assert!(matches!(body.data, ScVal::Map(_)));
                        } else {
                            assert!(matches!(body.data, ScVal::I128(_)));
                        }
                    }
                    (
                        OperationBody::PathPaymentStrictSend(op),
                        OperationResultTr::PathPaymentStrictSend(r),
                    ) => {
                        if let PathPaymentStrictSendResult::Success(success) = r {
                            seen.insert("path payment strict send");
                            assert!(success.last.amount >= op.dest_min);
                            assert_eq!(success.offers.len(), op.path.len() + 1);
                            if tx.successful() {
                                assert_eq!(op_events.len(), 2 * success.offers.len() + 1);
                            }
                        }
                    }
                    (
                        OperationBody::PathPaymentStrictReceive(op),
                        OperationResultTr::PathPaymentStrictReceive(r),
                    ) => {
                        if let PathPaymentStrictReceiveResult::Success(success) = r {
                            seen.insert("path payment strict receive");
                            assert_eq!(success.last.amount, op.dest_amount);
                        }
                    }
                    (OperationBody::CreateAccount(_), OperationResultTr::CreateAccount(_)) => {
                        seen.insert("create account");
                    }
                    (OperationBody::ChangeTrust(_), OperationResultTr::ChangeTrust(_)) => {
                        seen.insert("change trust");
                    }
                    (OperationBody::ManageSellOffer(_), OperationResultTr::ManageSellOffer(r)) => {
                        if let stellar_xdr::ManageSellOfferResult::Success(s) = r {
                            assert!(matches!(s.offer, ManageOfferSuccessResultOffer::Created(_)));
                            seen.insert("manage sell offer");
                        }
                    }
                    (OperationBody::ManageBuyOffer(_), OperationResultTr::ManageBuyOffer(r)) => {
                        if let stellar_xdr::ManageBuyOfferResult::Success(s) = r {
                            assert!(matches!(s.offer, ManageOfferSuccessResultOffer::Created(_)));
                            seen.insert("manage buy offer");
                        }
                    }
                    (OperationBody::InvokeHostFunction(op), OperationResultTr::InvokeHostFunction(_)) => {
                        let HostFunction::InvokeContract(args) = &op.host_function else {
                            panic!("invoke contract")
                        };
                        assert!(matches!(args.contract_address, ScAddress::Contract(_)));
                        seen.insert(match args.function_name.0.to_utf8_string_lossy().as_str() {
                            "transfer" => "invoke transfer",
                            "swap" => "invoke swap",
                            "deposit" => "invoke deposit",
                            other => panic!("unexpected function {other}"),
                        });
                        assert!(tx.soroban_data().is_some_and(|data| data.resource_fee > 0));
                        if tx.successful() {
                            assert!(!op_events.is_empty());
                            assert!(op_events.iter().all(|e| e.contract_id.is_some()));
                            seen.insert("invoke with events");
                        }
                    }
                    // Failure codes of failed transactions.
                    _ => assert!(!tx.successful()),
                }
                if let OperationResultTr::Payment(PaymentResult::Underfunded) = result {
                    seen.insert("payment underfunded");
                }
            }
        }
    }
    for kind in [
        "payment native",
        "payment USDC",
        "payment alphanum12",
        "payment other credit",
        "path payment strict send",
        "path payment strict receive",
        "create account",
        "change trust",
        "manage sell offer",
        "manage buy offer",
        "fee bump success",
        "fee bump failed",
        "failed",
        "payment underfunded",
        "multi-operation",
        "muxed source",
        "muxed destination",
        "memo text",
        "memo id",
        "memo hash",
        "time bounds",
        "invoke transfer",
        "invoke swap",
        "invoke deposit",
        "invoke with events",
    ] {
        assert!(seen.contains(kind), "no {kind} in 30 ledgers; seen {seen:?}");
    }
    // Long tail: most payments small, a few very large.
    payment_amounts.sort_unstable();
    let median = payment_amounts[payment_amounts.len() / 2];
    let max = *payment_amounts.last().unwrap();
    assert!(max > median * 10_000, "median {median}, max {max}");
    let failed: u32 = ledgers.iter().map(|l| l.expected.failed_transactions).sum();
    let total: u32 = ledgers.iter().map(|l| l.expected.transactions).sum();
    let rate = f64::from(failed) / f64::from(total);
    assert!((0.04..0.11).contains(&rate), "failure rate {rate}");
    let invokes: u32 =
        ledgers.iter().map(|l| l.expected.operations_of(OperationType::InvokeHostFunction)).sum();
    assert!(invokes > 0);
}

#[test]
fn starting_at_resume_and_nth_match_a_full_run() {
    let config = config(40);
    let full = generate(config.clone());
    let bytes: Vec<Vec<u8>> = full.iter().map(|l| xdr(&l.meta)).collect();
    for offset in [0usize, 1, 7, 39] {
        let sequence = config.first_sequence + offset as u32;
        let started: Vec<Vec<u8>> =
            SyntheticLedgers::starting_at(config.clone(), sequence).unwrap().map(|l| xdr(&l.meta)).collect();
        assert!(started == bytes[offset..], "starting_at({sequence}) differs");
        let previous = if offset == 0 {
            SyntheticLedgers::new(config.clone()).unwrap().previous_header_hash()
        } else {
            full[offset - 1].header_hash()
        };
        let mut resumed = SyntheticLedgers::resume(config.clone(), sequence, previous).unwrap();
        assert_eq!(resumed.next_sequence(), Some(sequence));
        assert!(xdr(&resumed.next().unwrap().meta) == bytes[offset]);
        let direct = resumed.ledger(sequence, previous).unwrap();
        assert!(xdr(&direct.meta) == bytes[offset]);
    }
    let mut ledgers = SyntheticLedgers::new(config.clone()).unwrap();
    assert_eq!(ledgers.len(), 40);
    assert!(xdr(&ledgers.nth(25).unwrap().meta) == bytes[25]);
    assert!(xdr(&ledgers.next().unwrap().meta) == bytes[26]);
    assert!(ledgers.nth(100).is_none());
    assert_eq!(ledgers.next_sequence(), None);
    // The end of the range is a valid (empty) start; past it is an error.
    let last = config.first_sequence + 40;
    assert_eq!(SyntheticLedgers::starting_at(config.clone(), last).unwrap().count(), 0);
    assert!(matches!(
        SyntheticLedgers::starting_at(config.clone(), last + 1),
        Err(GeneratorError::AfterLast { .. })
    ));
    assert!(matches!(
        SyntheticLedgers::resume(config.clone(), config.first_sequence - 1, [0; 32]),
        Err(GeneratorError::BeforeFirst { .. })
    ));
    assert_eq!(ledgers.last_sequence(), last - 1);
    assert!(matches!(ledgers.ledger(last, [0; 32]), Err(GeneratorError::AfterLast { .. })));
    assert!(matches!(
        ledgers.ledger(config.first_sequence - 1, [0; 32]),
        Err(GeneratorError::BeforeFirst { .. })
    ));
}

#[test]
fn chain_links_hash_like_sealed_ledgers() {
    let universe = universe::Universe::new(config(3));
    let previous = [7u8; 32];
    for sequence in 1_000_000..1_000_003 {
        let sealed = universe.ledger(sequence, previous).header_hash();
        assert_eq!(universe.chain_link(sequence).seal_hash(previous), sealed);
    }
}

#[test]
fn empty_and_endless_streams() {
    let empty = GeneratorConfig { transactions_per_ledger: 0, ..config(3) };
    let network = Network::synthetic();
    for ledger in generate(empty) {
        assert_eq!(ledger.expected.transactions, 0);
        let view = LedgerView::new(&ledger.meta, &network).unwrap();
        assert!(view.transactions.is_empty());
    }
    assert_eq!(generate(config(0)).len(), 0);
    let endless = GeneratorConfig { ledger_count: None, first_sequence: u32::MAX - 1, ..config(0) };
    let tail = generate(GeneratorConfig { transactions_per_ledger: 5, ..endless });
    assert_eq!(tail.iter().map(|l| l.expected.sequence).collect::<Vec<_>>(), vec![u32::MAX - 1, u32::MAX]);
}

#[test]
fn invalid_configs_are_rejected_with_the_key() {
    let cases = [
        (GeneratorConfig { first_sequence: 0, ..config(1) }, "first_sequence"),
        (GeneratorConfig { first_sequence: u32::MAX, ..config(2) }, "ledger_count"),
        (
            GeneratorConfig { transactions_per_ledger: MAX_TRANSACTIONS_PER_LEDGER + 1, ..config(1) },
            "transactions_per_ledger",
        ),
        (GeneratorConfig { account_pool_size: 1, ..config(1) }, "account_pool_size"),
        (GeneratorConfig { protocol_version: 22, ..config(1) }, "protocol_version"),
    ];
    for (config, expected_key) in cases {
        match SyntheticLedgers::new(config) {
            Err(GeneratorError::InvalidConfig { key, .. }) => assert_eq!(key, expected_key),
            other => panic!("{expected_key}: {other:?}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let unbounded = GeneratorConfig { ledger_count: None, ..config(1) };
    assert!(matches!(write_store(&unbounded, dir.path(), 1, 1), Err(GeneratorError::Unbounded)));
    assert!(matches!(write_store(&config(1), dir.path(), 0, 1), Err(GeneratorError::InvalidLayout { .. })));
}

#[test]
fn written_store_reads_back_in_order() {
    let config = GeneratorConfig { transactions_per_ledger: 20, ..config(21) };
    let expected: Vec<Vec<u8>> = generate(config.clone()).iter().map(|l| xdr(&l.meta)).collect();
    for (ledgers_per_batch, batches_per_partition) in [(1, 1), (8, 1), (8, 2)] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let summary = write_store(&config, &root, ledgers_per_batch, batches_per_partition).unwrap();
        assert_eq!(summary.root, root);
        assert_eq!(summary.ledgers, 21);
        assert_eq!(summary.first_sequence, Some(config.first_sequence));
        assert_eq!(summary.last_sequence, Some(config.first_sequence + 20));
        let store = LocalDataStore::open(&root).unwrap();
        assert_eq!(store.manifest().network(), config.network);
        let objects = store.objects().unwrap();
        assert_eq!(objects.len() as u32, summary.objects);
        let mut read = Vec::new();
        for (_, path) in &objects {
            for ledger in store.read(path, &DecodeLimits::default()).unwrap() {
                read.push(xdr(&ledger.unwrap().meta));
            }
        }
        assert!(read == expected, "store with {ledgers_per_batch} ledgers per batch differs");
    }
}

#[test]
fn assets_and_contracts_are_the_real_derivations() {
    for issuer in [USDC_ISSUER, EURC_ISSUER, AQUA_ISSUER, LONG_ASSET_ISSUER] {
        assert!(stellar_strkey::ed25519::PublicKey::from_string(issuer).is_ok(), "{issuer}");
    }
    let long_issuer = sha256(format!("ledgerflow synthetic issuer {LONG_ASSET_CODE}").as_bytes());
    assert_eq!(stellar_strkey::ed25519::PublicKey(long_issuer).to_string(), LONG_ASSET_ISSUER);
    // The native asset's SAC on pubnet has a well-known address.
    let universe = universe::Universe::new(GeneratorConfig { network: Network::pubnet(), ..config(1) });
    let native = &universe.asset(universe::AssetId::Native).sac;
    assert_eq!(
        stellar_strkey::Contract(native.0.0).to_string(),
        "CAS3J7GYLGXMF6TDJBBYYSE3HQ6BBSMLNUQ34T6TZMYMW2EVH34XOWMA"
    );
}

#[test]
fn streamed_hashes_equal_the_library_hashes() {
    let network = Network::synthetic();
    let ledger = generate(config(1)).remove(0);
    for envelope in crate::ledger::envelopes_in_tx_set(&ledger.meta) {
        let ours = match envelope {
            TransactionEnvelope::Tx(e) => hashing::transaction_hash(&network.id(), &e.tx),
            TransactionEnvelope::TxFeeBump(e) => hashing::fee_bump_hash(&network.id(), &e.tx),
            TransactionEnvelope::TxV0(_) => unreachable!("the generator writes no V0 envelopes"),
        };
        assert_eq!(ours, envelope.hash(network.id()).unwrap());
    }
}
