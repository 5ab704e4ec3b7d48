//! One ledger, joined: the transactions of a `LedgerCloseMeta` in apply order, each with its
//! envelope, result and meta.
//!
//! A `LedgerCloseMeta` keeps envelopes in the transaction set (hash order, or parallel stages
//! since protocol 23) and results and meta in `tx_processing` (apply order). They are joined by
//! transaction hash, which needs the network passphrase ([`crate::network`]). Every table and
//! summary reads ledgers through [`LedgerView`], so the join, the TOIDs and the success rules
//! live here once.

use stellar_xdr::{
    ContractEvent, DiagnosticEvent, FeeBumpTransactionInnerTx, GeneralizedTransactionSet,
    InnerTransactionResultResult, LedgerCloseMeta, LedgerEntryChanges, LedgerHeader,
    LedgerHeaderHistoryEntry, Memo, MuxedAccount, Operation, OperationResult, Preconditions,
    SorobanTransactionData, TransactionEnvelope, TransactionEvent, TransactionExt, TransactionMeta,
    TransactionPhase, TransactionResultCode, TransactionResultPair, TransactionResultResult, TxSetComponent,
};

use crate::decode::DecodeError;
use crate::network::Network;

/// Total order id (stellar-etl `internal/toid`): `ledger << 32 | tx_order << 12 | op_index`.
///
/// `tx_order` is the 1-based apply order; `op_index` is 1-based for operations and events
/// (0 for ledgers and transactions), so ids never collide across tables.
pub fn toid(ledger_sequence: u32, tx_order: u32, op_index: u32) -> i64 {
    ((i64::from(ledger_sequence)) << 32)
        | ((i64::from(tx_order) & 0xF_FFFF) << 12)
        | (i64::from(op_index) & 0xFFF)
}

/// Sequence number recorded in the header of `meta`.
pub fn ledger_sequence(meta: &LedgerCloseMeta) -> u32 {
    header_entry(meta).header.ledger_seq
}

/// The header history entry (hash + header) of `meta`.
pub fn header_entry(meta: &LedgerCloseMeta) -> &LedgerHeaderHistoryEntry {
    match meta {
        LedgerCloseMeta::V0(v0) => &v0.ledger_header,
        LedgerCloseMeta::V1(v1) => &v1.ledger_header,
        LedgerCloseMeta::V2(v2) => &v2.ledger_header,
    }
}

/// Every envelope in the transaction set of `meta`, in set order (not apply order).
pub fn envelopes_in_tx_set(meta: &LedgerCloseMeta) -> Vec<&TransactionEnvelope> {
    match meta {
        LedgerCloseMeta::V0(v0) => v0.tx_set.txs.iter().collect(),
        LedgerCloseMeta::V1(v1) => generalized_envelopes(&v1.tx_set),
        LedgerCloseMeta::V2(v2) => generalized_envelopes(&v2.tx_set),
    }
}

fn generalized_envelopes(set: &GeneralizedTransactionSet) -> Vec<&TransactionEnvelope> {
    let GeneralizedTransactionSet::V1(v1) = set;
    let mut envelopes = Vec::new();
    for phase in v1.phases.iter() {
        match phase {
            TransactionPhase::V0(components) => {
                for component in components.iter() {
                    let TxSetComponent::TxsetCompTxsMaybeDiscountedFee(c) = component;
                    envelopes.extend(c.txs.iter());
                }
            }
            TransactionPhase::V1(parallel) => {
                for stage in parallel.execution_stages.iter() {
                    for cluster in stage.0.iter() {
                        envelopes.extend(cluster.0.iter());
                    }
                }
            }
        }
    }
    envelopes
}

/// A decoded ledger with its transactions joined and in apply order.
#[derive(Debug)]
pub struct LedgerView<'a> {
    pub meta: &'a LedgerCloseMeta,
    pub header_entry: &'a LedgerHeaderHistoryEntry,
    pub transactions: Vec<TxView<'a>>,
}

/// One transaction: envelope from the set, result and meta from `tx_processing`.
#[derive(Debug)]
pub struct TxView<'a> {
    /// 1-based position in apply order (stellar-etl `application_order`).
    pub application_order: u32,
    pub envelope: &'a TransactionEnvelope,
    pub result: &'a TransactionResultPair,
    pub fee_processing: &'a LedgerEntryChanges,
    pub meta: &'a TransactionMeta,
    /// LCM V2 only: fee refunds applied after all transactions (protocol 23+).
    pub post_tx_apply_fee_processing: Option<&'a LedgerEntryChanges>,
}

impl<'a> LedgerView<'a> {
    /// Joins `meta` under `network`. Fails when a processed transaction has no envelope in the
    /// set with that hash (wrong passphrase, or a corrupt ledger); the error says which network
    /// the hashes do match, when one of the well-known ones does.
    pub fn new(meta: &'a LedgerCloseMeta, network: &Network) -> Result<Self, DecodeError> {
        let header_entry = header_entry(meta);
        let sequence = header_entry.header.ledger_seq;
        let envelopes = envelopes_in_tx_set(meta);
        let processed: Vec<Processed<'a>> = match meta {
            LedgerCloseMeta::V0(v0) => v0
                .tx_processing
                .iter()
                .map(|t| (&t.result, &t.fee_processing, &t.tx_apply_processing, None))
                .collect(),
            LedgerCloseMeta::V1(v1) => v1
                .tx_processing
                .iter()
                .map(|t| (&t.result, &t.fee_processing, &t.tx_apply_processing, None))
                .collect(),
            LedgerCloseMeta::V2(v2) => v2
                .tx_processing
                .iter()
                .map(|t| {
                    (
                        &t.result,
                        &t.fee_processing,
                        &t.tx_apply_processing,
                        Some(&t.post_tx_apply_fee_processing),
                    )
                })
                .collect(),
        };
        if envelopes.len() != processed.len() {
            return Err(DecodeError::TxSetMismatch {
                sequence,
                in_set: envelopes.len(),
                processed: processed.len(),
            });
        }
        let transactions = if processed.is_empty() {
            Vec::new()
        } else {
            join_by_hash(sequence, meta, &envelopes, processed, network)?
        };
        Ok(LedgerView { meta, header_entry, transactions })
    }

    pub fn sequence(&self) -> u32 {
        self.header_entry.header.ledger_seq
    }

    pub fn header(&self) -> &'a LedgerHeader {
        &self.header_entry.header
    }

    /// Close time in unix seconds (`scpValue.closeTime`).
    pub fn close_time(&self) -> u64 {
        self.header_entry.header.scp_value.close_time.0
    }

    /// `LedgerCloseMeta` union arm: 0, 1 or 2.
    pub fn meta_version(&self) -> u8 {
        match self.meta {
            LedgerCloseMeta::V0(_) => 0,
            LedgerCloseMeta::V1(_) => 1,
            LedgerCloseMeta::V2(_) => 2,
        }
    }
}

type Processed<'a> =
    (&'a TransactionResultPair, &'a LedgerEntryChanges, &'a TransactionMeta, Option<&'a LedgerEntryChanges>);

/// The hash of `envelope` under `network_id`: SHA-256 of its `TransactionSignaturePayload`
/// XDR, the same bytes `TransactionEnvelope::hash` hashes. That one clones the whole
/// transaction and serializes it into a fresh buffer first; this serializes the borrowed
/// transaction into `scratch` (reused across calls) and hashes it in one pass (one hash per
/// transaction is on the convert hot path; feeding the hasher field by field cost twice as
/// much as the hashing). V0 envelopes (protocol < 13) go through stellar-xdr, which converts
/// them to a `Transaction`.
pub fn transaction_hash_with(
    envelope: &TransactionEnvelope,
    network_id: [u8; 32],
    scratch: &mut Vec<u8>,
) -> Result<[u8; 32], stellar_xdr::Error> {
    use sha2::Digest as _;
    use stellar_xdr::{EnvelopeType, Limited, Limits, WriteXdr as _};
    scratch.clear();
    scratch.extend_from_slice(&network_id);
    let mut out = Limited::new(&mut *scratch, Limits::none());
    match envelope {
        TransactionEnvelope::TxV0(_) => return envelope.hash(network_id),
        TransactionEnvelope::Tx(e) => {
            (EnvelopeType::Tx as i32).write_xdr(&mut out)?;
            e.tx.write_xdr(&mut out)?;
        }
        TransactionEnvelope::TxFeeBump(e) => {
            (EnvelopeType::TxFeeBump as i32).write_xdr(&mut out)?;
            e.tx.write_xdr(&mut out)?;
        }
    }
    Ok(sha2::Sha256::digest(scratch.as_slice()).into())
}

/// [`transaction_hash_with`] with a buffer of its own.
pub fn transaction_hash(
    envelope: &TransactionEnvelope,
    network_id: [u8; 32],
) -> Result<[u8; 32], stellar_xdr::Error> {
    transaction_hash_with(envelope, network_id, &mut Vec::new())
}

fn join_by_hash<'a>(
    sequence: u32,
    meta: &LedgerCloseMeta,
    envelopes: &[&'a TransactionEnvelope],
    processed: Vec<Processed<'a>>,
    network: &Network,
) -> Result<Vec<TxView<'a>>, DecodeError> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let network_id = network.id();
    // (hash, index in `envelopes`), sorted by hash: a ledger holds a few hundred transactions
    // at most, and a sorted vector is searched faster than a SipHash map is built.
    let mut by_hash: Vec<([u8; 32], usize)> = SCRATCH.with(|scratch| {
        let scratch = &mut scratch.borrow_mut();
        envelopes
            .iter()
            .enumerate()
            .map(|(index, envelope)| {
                transaction_hash_with(envelope, network_id, scratch)
                    .map(|hash| (hash, index))
                    .map_err(|source| DecodeError::TxHash { sequence, index, source })
            })
            .collect::<Result<_, _>>()
    })?;
    by_hash.sort_unstable();
    // Each envelope joins one result at most, like a removal from a map.
    let mut taken = vec![false; envelopes.len()];
    let mut transactions = Vec::with_capacity(processed.len());
    for (position, (result, fee_processing, tx_meta, post)) in processed.into_iter().enumerate() {
        let wanted = &result.transaction_hash.0;
        let at = by_hash.partition_point(|(hash, _)| hash < wanted);
        let found = by_hash[at..]
            .iter()
            .take_while(|(hash, _)| hash == wanted)
            .map(|&(_, index)| index)
            .find(|&index| !taken[index]);
        let Some(index) = found else {
            return Err(DecodeError::TxNotInSet {
                sequence,
                application_order: position as u32 + 1,
                hash: hex::encode(result.transaction_hash.0),
                network: network.to_string(),
                detected: Network::detect(meta)
                    .filter(|detected| detected != network)
                    .map(|detected| detected.to_string()),
            });
        };
        taken[index] = true;
        transactions.push(TxView {
            application_order: position as u32 + 1,
            envelope: envelopes[index],
            result,
            fee_processing,
            meta: tx_meta,
            post_tx_apply_fee_processing: post,
        });
    }
    Ok(transactions)
}

/// The parts of a transaction that a fee bump wraps.
pub enum InnerTx<'a> {
    V0(&'a stellar_xdr::TransactionV0),
    V1(&'a stellar_xdr::Transaction),
}

impl<'a> TxView<'a> {
    /// Transaction hash as recorded in the result (the outer hash for fee bumps).
    pub fn hash(&self) -> &'a [u8; 32] {
        &self.result.transaction_hash.0
    }

    /// TOID of the transaction.
    pub fn id(&self, ledger_sequence: u32) -> i64 {
        toid(ledger_sequence, self.application_order, 0)
    }

    pub fn is_fee_bump(&self) -> bool {
        matches!(self.envelope, TransactionEnvelope::TxFeeBump(_))
    }

    /// The transaction itself: the inner one for a fee bump.
    pub fn inner(&self) -> InnerTx<'a> {
        match self.envelope {
            TransactionEnvelope::TxV0(e) => InnerTx::V0(&e.tx),
            TransactionEnvelope::Tx(e) => InnerTx::V1(&e.tx),
            TransactionEnvelope::TxFeeBump(e) => {
                let FeeBumpTransactionInnerTx::Tx(inner) = &e.tx.inner_tx;
                InnerTx::V1(&inner.tx)
            }
        }
    }

    /// Operations of the (inner) transaction.
    pub fn operations(&self) -> &'a [Operation] {
        match self.inner() {
            InnerTx::V0(tx) => tx.operations.as_slice(),
            InnerTx::V1(tx) => tx.operations.as_slice(),
        }
    }

    /// Source account of the (inner) transaction, as a muxed account (V0 envelopes carry a
    /// bare ed25519 key).
    pub fn source_account(&self) -> MuxedAccount {
        match self.inner() {
            InnerTx::V0(tx) => MuxedAccount::Ed25519(tx.source_account_ed25519.clone()),
            InnerTx::V1(tx) => tx.source_account.clone(),
        }
    }

    /// Sequence number of the (inner) transaction.
    pub fn account_sequence(&self) -> i64 {
        match self.inner() {
            InnerTx::V0(tx) => tx.seq_num.0,
            InnerTx::V1(tx) => tx.seq_num.0,
        }
    }

    /// `fee` of the (inner) transaction: its max fee in stroops.
    pub fn max_fee(&self) -> u32 {
        match self.inner() {
            InnerTx::V0(tx) => tx.fee,
            InnerTx::V1(tx) => tx.fee,
        }
    }

    pub fn memo(&self) -> &'a Memo {
        match self.inner() {
            InnerTx::V0(tx) => &tx.memo,
            InnerTx::V1(tx) => &tx.memo,
        }
    }

    /// Preconditions of the (inner) transaction; V0 envelopes only have time bounds.
    pub fn preconditions(&self) -> Preconditions {
        match self.inner() {
            InnerTx::V0(tx) => match &tx.time_bounds {
                Some(bounds) => Preconditions::Time(bounds.clone()),
                None => Preconditions::None,
            },
            InnerTx::V1(tx) => tx.cond.clone(),
        }
    }

    /// Soroban resources and fee of the (inner) transaction, if it is a Soroban transaction.
    pub fn soroban_data(&self) -> Option<&'a SorobanTransactionData> {
        match self.inner() {
            InnerTx::V0(_) => None,
            InnerTx::V1(tx) => match &tx.ext {
                TransactionExt::V0 => None,
                TransactionExt::V1(data) => Some(data),
            },
        }
    }

    /// `txSUCCESS`, or a fee bump whose inner transaction succeeded.
    pub fn successful(&self) -> bool {
        matches!(
            self.result.result.result,
            TransactionResultResult::TxSuccess(_) | TransactionResultResult::TxFeeBumpInnerSuccess(_)
        )
    }

    /// Result code of the outer result (`TxFeeBumpInnerSuccess` for a successful fee bump).
    pub fn result_code(&self) -> TransactionResultCode {
        self.result.result.result.discriminant()
    }

    pub fn fee_charged(&self) -> i64 {
        self.result.result.fee_charged
    }

    /// Operation results, present only when the (inner) code is txSUCCESS or txFAILED.
    pub fn operation_results(&self) -> Option<&'a [OperationResult]> {
        match &self.result.result.result {
            TransactionResultResult::TxSuccess(r) | TransactionResultResult::TxFailed(r) => {
                Some(r.as_slice())
            }
            TransactionResultResult::TxFeeBumpInnerSuccess(inner)
            | TransactionResultResult::TxFeeBumpInnerFailed(inner) => match &inner.result.result {
                InnerTransactionResultResult::TxSuccess(r) | InnerTransactionResultResult::TxFailed(r) => {
                    Some(r.as_slice())
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Hash of the inner transaction of a fee bump.
    pub fn inner_transaction_hash(&self) -> Option<&'a [u8; 32]> {
        match &self.result.result.result {
            TransactionResultResult::TxFeeBumpInnerSuccess(inner)
            | TransactionResultResult::TxFeeBumpInnerFailed(inner) => Some(&inner.transaction_hash.0),
            _ => None,
        }
    }

    /// Events emitted by operations, with the 0-based index of the emitting operation:
    /// meta V4 `operations[i].events`, meta V3 `sorobanMeta.events` (attributed to operation 0,
    /// a Soroban transaction's only operation). Meta V0–V2 have none. Not diagnostic events,
    /// not the transaction-level (fee) events of meta V4.
    pub fn operation_events(&self) -> impl Iterator<Item = (u32, &'a ContractEvent)> + 'a {
        let (v4, v3): (Option<_>, Option<_>) = match self.meta {
            TransactionMeta::V4(m) => (Some(m.operations.as_slice()), None),
            TransactionMeta::V3(m) => (None, m.soroban_meta.as_ref().map(|s| s.events.as_slice())),
            _ => (None, None),
        };
        let from_v4 = v4.into_iter().flat_map(|ops| {
            ops.iter()
                .enumerate()
                .flat_map(|(index, op)| op.events.iter().map(move |event| (index as u32, event)))
        });
        let from_v3 = v3.into_iter().flat_map(|events| events.iter().map(|event| (0u32, event)));
        from_v4.chain(from_v3)
    }

    /// Transaction-level events of meta V4 (CAP-67 fee events).
    pub fn transaction_events(&self) -> &'a [TransactionEvent] {
        match self.meta {
            TransactionMeta::V4(m) => m.events.as_slice(),
            _ => &[],
        }
    }

    /// Diagnostic events (meta V4 `diagnosticEvents`, meta V3 `sorobanMeta.diagnosticEvents`).
    pub fn diagnostic_events(&self) -> &'a [DiagnosticEvent] {
        match self.meta {
            TransactionMeta::V4(m) => m.diagnostic_events.as_slice(),
            TransactionMeta::V3(m) => m.soroban_meta.as_ref().map_or(&[], |s| s.diagnostic_events.as_slice()),
            _ => &[],
        }
    }

    /// Version of the transaction meta union (0–4).
    pub fn meta_version(&self) -> u8 {
        match self.meta {
            TransactionMeta::V0(_) => 0,
            TransactionMeta::V1(_) => 1,
            TransactionMeta::V2(_) => 2,
            TransactionMeta::V3(_) => 3,
            TransactionMeta::V4(_) => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_transaction_hashes_equal_stellar_xdrs() {
        use crate::generator::{GeneratorConfig, SyntheticLedgers};
        let config = GeneratorConfig { ledger_count: Some(20), ..GeneratorConfig::default() };
        let network_id = config.network.id();
        let (mut v1, mut fee_bumps) = (0, 0);
        for ledger in SyntheticLedgers::new(config).unwrap() {
            let LedgerCloseMeta::V2(meta) = &ledger.meta else { panic!("the generator writes V2") };
            let GeneralizedTransactionSet::V1(set) = &meta.tx_set;
            for phase in set.phases.iter() {
                let envelopes: Vec<&TransactionEnvelope> = match phase {
                    TransactionPhase::V0(components) => components
                        .iter()
                        .flat_map(|TxSetComponent::TxsetCompTxsMaybeDiscountedFee(c)| c.txs.iter())
                        .collect(),
                    TransactionPhase::V1(parallel) => parallel
                        .execution_stages
                        .iter()
                        .flat_map(|s| s.iter())
                        .flat_map(|c| c.iter())
                        .collect(),
                };
                for envelope in envelopes {
                    match envelope {
                        TransactionEnvelope::TxFeeBump(_) => fee_bumps += 1,
                        _ => v1 += 1,
                    }
                    assert_eq!(
                        transaction_hash(envelope, network_id).unwrap(),
                        envelope.hash(network_id).unwrap()
                    );
                }
            }
        }
        assert!(v1 > 1000 && fee_bumps > 10, "{v1} transactions, {fee_bumps} fee bumps");
    }

    #[test]
    fn results_join_the_envelope_of_their_hash_once() {
        use crate::generator::{GeneratorConfig, SyntheticLedgers};
        let config = GeneratorConfig { ledger_count: Some(5), ..GeneratorConfig::default() };
        let network = config.network.clone();
        let mut ledgers = SyntheticLedgers::new(config).unwrap();
        for ledger in ledgers.by_ref().take(4) {
            let view = LedgerView::new(&ledger.meta, &network).unwrap();
            assert_eq!(view.transactions.len(), envelopes_in_tx_set(&ledger.meta).len());
            for (position, tx) in view.transactions.iter().enumerate() {
                assert_eq!(tx.application_order as usize, position + 1);
                assert_eq!(&tx.envelope.hash(network.id()).unwrap(), tx.hash());
            }
        }

        let mut meta = ledgers.next().unwrap().meta;
        let sequence = ledger_sequence(&meta);
        let wrong = Network::new("not the network of these ledgers");
        match LedgerView::new(&meta, &wrong) {
            Err(DecodeError::TxNotInSet { sequence: s, application_order: 1, network, .. }) => {
                assert_eq!((s, network), (sequence, wrong.to_string()));
            }
            other => panic!("{other:?}"),
        }
        // Two results naming the first transaction: the second finds no envelope left.
        let LedgerCloseMeta::V2(v2) = &mut meta else { panic!("the generator writes V2") };
        let mut processing = v2.tx_processing.to_vec();
        let first = processing[0].result.transaction_hash.clone();
        processing[2].result.transaction_hash = first.clone();
        v2.tx_processing = processing.try_into().unwrap();
        match LedgerView::new(&meta, &network) {
            Err(DecodeError::TxNotInSet { application_order: 3, hash, .. }) => {
                assert_eq!(hash, hex::encode(first.0))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn toid_layout_matches_stellar_etl() {
        assert_eq!(toid(1, 0, 0), 1 << 32);
        assert_eq!(toid(60659332, 1, 0), (60659332i64 << 32) | (1 << 12));
        assert_eq!(toid(60659332, 3, 2), (60659332i64 << 32) | (3 << 12) | 2);
    }
}
