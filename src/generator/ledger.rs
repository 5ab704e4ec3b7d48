//! One ledger: its transactions in set order and in apply order, its header, and the chain.
//!
//! A ledger is built in two steps. [`Universe::body`] depends only on (config, sequence): the
//! transactions, the transaction set without its `previous_ledger_hash`, `tx_processing`, and
//! every header field but the two that depend on the previous ledger. [`LedgerBody::seal`]
//! then writes the previous header's hash into the tx set and the header, and hashes both.
//! Bodies can therefore be built in parallel and in any order; only sealing is sequential,
//! and [`Universe::advance_chain`] uses that to recompute the chain on all cores.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stellar_xdr::{
    DependentTxCluster, ExtensionPoint, GeneralizedTransactionSet, Hash, LedgerCloseMeta, LedgerCloseMetaExt,
    LedgerCloseMetaExtV1, LedgerCloseMetaV2, LedgerCloseValueSignature, LedgerHeader, LedgerHeaderExt,
    LedgerHeaderHistoryEntry, LedgerHeaderHistoryEntryExt, Limits, OperationType, ParallelTxExecutionStage,
    ParallelTxsComponent, Signature, StellarValue, StellarValueExt, TimePoint, TransactionEnvelope,
    TransactionPhase, TransactionResultMetaV1, TransactionSetV1, TxSetComponent,
    TxSetComponentTxsMaybeDiscountedFee, VecM, WriteXdr,
};

use super::hashing::{result_set_hash, tx_set_hash_from_phases, xdr_sha256};
use super::transaction::{BASE_FEE, BuiltTransaction, TransactionBuilder};
use super::universe::Universe;

/// What the generator decided to put in one ledger, tallied as it decided (not read back from
/// the XDR), so a reader's output can be checked against it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedCounts {
    pub sequence: u32,
    /// `scpValue.closeTime`, unix seconds.
    pub close_time: u64,
    pub transactions: u32,
    /// `txSUCCESS`, or a fee bump whose inner transaction succeeded.
    pub successful_transactions: u32,
    pub failed_transactions: u32,
    pub fee_bump_transactions: u32,
    /// Transactions with Soroban data (`invoke_host_function`).
    pub soroban_transactions: u32,
    /// All operations, failed transactions' included.
    pub operations: u32,
    /// Operations of successful transactions.
    pub successful_operations: u32,
    /// All operations by type, failed transactions' included.
    pub operations_by_type: BTreeMap<OperationType, u32>,
    /// Events emitted by operations (meta V4 `operations[i].events`); failed transactions emit none.
    pub contract_events: u32,
    /// Transaction-level CAP-67 `fee` events (meta V4 `events`).
    pub transaction_events: u32,
    /// Sum of `feeCharged` over the ledger's transactions, in stroops.
    pub fee_charged: i64,
    /// Sum of the Soroban transactions' inclusion fees: what `fee_processing` charged the fee
    /// account beyond the resource fee, in stroops.
    pub inclusion_fee_charged: i64,
    /// Sum of the Soroban transactions' resource-fee refunds (`post_tx_apply_fee_processing`).
    pub resource_fee_refund: i64,
    /// Transaction hashes in apply order (`tx_processing` order); the outer hash of a fee bump.
    pub transaction_hashes: Vec<[u8; 32]>,
}

impl ExpectedCounts {
    /// Operations of one type (0 when none).
    pub fn operations_of(&self, operation_type: OperationType) -> u32 {
        self.operations_by_type.get(&operation_type).copied().unwrap_or(0)
    }
}

/// A generated ledger and what it holds.
#[derive(Debug, Clone)]
pub struct GeneratedLedger {
    pub meta: LedgerCloseMeta,
    pub expected: ExpectedCounts,
}

impl GeneratedLedger {
    /// Hash of this ledger's header: the next ledger's `previous_ledger_hash`.
    pub fn header_hash(&self) -> [u8; 32] {
        crate::ledger::header_entry(&self.meta).hash.0
    }
}

/// Everything of a ledger that does not depend on the previous ledger.
pub(super) struct LedgerBody {
    /// `previous_ledger_hash` and `scp_value.tx_set_hash` still zero.
    header: LedgerHeader,
    /// `previous_ledger_hash` still zero.
    tx_set: TransactionSetV1,
    tx_processing: Vec<TransactionResultMetaV1>,
    expected: ExpectedCounts,
}

/// The part of a body that the chain needs: the phases' XDR and the header template.
pub(super) struct ChainLink {
    header: LedgerHeader,
    phases_xdr: Vec<u8>,
}

/// Stellar's (pubnet) total lumens, 105,443,902,087.3472865 XLM.
const TOTAL_COINS: i64 = 1_054_439_020_873_472_865;
/// Ledgers close `CLOSE_INTERVAL_SECONDS` apart, each off by up to `CLOSE_JITTER_SECONDS`.
const CLOSE_INTERVAL_SECONDS: u64 = 5;
const CLOSE_JITTER_SECONDS: u64 = 2;
/// Most Soroban clusters per execution stage.
const MAX_CLUSTERS_PER_STAGE: u32 = 4;

impl Universe {
    /// The ledger's own RNG: the seed's ChaCha8 key, stream `sequence`. Ledgers never share
    /// a stream, so any ledger can be built without building the ones before it.
    fn ledger_rng(&self, sequence: u32) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(u64::from(sequence));
        rng
    }

    /// Builds the body of ledger `sequence`.
    pub fn body(&self, sequence: u32) -> LedgerBody {
        let mut rng = self.ledger_rng(sequence);
        // Close time: a 5 s grid from the first ledger, each ledger off by -2..=+2 s (the
        // first exactly on time), so consecutive closes are 1 to 9 s apart, strictly
        // increasing, and computable for any ledger alone.
        let offset = u64::from(sequence - self.config.first_sequence) * CLOSE_INTERVAL_SECONDS;
        let jitter = rng.random_range(0..=2 * CLOSE_JITTER_SECONDS);
        let close_time = if sequence == self.config.first_sequence {
            self.config.first_close_time
        } else {
            self.config.first_close_time + offset + jitter - CLOSE_JITTER_SECONDS
        };
        let mean = self.config.transactions_per_ledger;
        let spread = mean * 3 / 10;
        let count = rng.random_range(mean - spread..=mean + spread);

        let mut builder = TransactionBuilder::new(self, rng, sequence, close_time);
        let mut classic = Vec::with_capacity(count as usize);
        let mut soroban = Vec::new();
        for index in 0..count {
            let built = builder.transaction(index);
            if built.soroban { soroban.push(built) } else { classic.push(built) }
        }
        let TransactionBuilder { mut rng, next_offer_id, mut expected, .. } = builder;

        // Classic phase: one component, sorted by hash as stellar-core sorts it; applied in a
        // shuffled order (stellar-core derives its apply order from the set hash).
        classic.sort_unstable_by_key(|built| built.hash);
        let mut apply_order: Vec<u32> = (0..classic.len() as u32).collect();
        for i in (1..apply_order.len()).rev() {
            let j = rng.random_range(0..=i as u32) as usize;
            apply_order.swap(i, j);
        }
        let mut classic_processing: Vec<Option<TransactionResultMetaV1>> = Vec::with_capacity(classic.len());
        let mut classic_hashes = Vec::with_capacity(classic.len());
        let classic_envelopes: Vec<TransactionEnvelope> = classic
            .into_iter()
            .map(|built| {
                classic_processing.push(Some(built.processing));
                classic_hashes.push(built.hash);
                built.envelope
            })
            .collect();
        let mut tx_processing = Vec::with_capacity(count as usize);
        for &position in &apply_order {
            let processing = classic_processing[position as usize].take().expect("each position once");
            expected.transaction_hashes.push(classic_hashes[position as usize]);
            tx_processing.push(processing);
        }

        // Soroban phase: stages of independent clusters, each cluster sorted by hash, applied
        // stage by stage, cluster by cluster.
        let stages = self.soroban_stages(&mut rng, soroban);
        let mut execution_stages = Vec::with_capacity(stages.len());
        for stage in stages {
            let mut clusters = Vec::with_capacity(stage.len());
            for cluster in stage {
                let mut envelopes = Vec::with_capacity(cluster.len());
                for built in cluster {
                    expected.transaction_hashes.push(built.hash);
                    tx_processing.push(built.processing);
                    envelopes.push(built.envelope);
                }
                clusters.push(DependentTxCluster(envelopes.try_into().expect("cluster fits")));
            }
            execution_stages.push(ParallelTxExecutionStage(clusters.try_into().expect("stage fits")));
        }

        let classic_phase = if classic_envelopes.is_empty() {
            TransactionPhase::V0(VecM::default())
        } else {
            TransactionPhase::V0(
                vec![TxSetComponent::TxsetCompTxsMaybeDiscountedFee(TxSetComponentTxsMaybeDiscountedFee {
                    base_fee: Some(i64::from(BASE_FEE)),
                    txs: classic_envelopes.try_into().expect("set fits"),
                })]
                .try_into()
                .expect("one component"),
            )
        };
        let soroban_phase = TransactionPhase::V1(ParallelTxsComponent {
            base_fee: (!execution_stages.is_empty()).then_some(i64::from(BASE_FEE)),
            execution_stages: execution_stages.try_into().expect("stages fit"),
        });
        let tx_set = TransactionSetV1 {
            previous_ledger_hash: Hash([0; 32]),
            phases: vec![classic_phase, soroban_phase].try_into().expect("two phases"),
        };

        let signature: [u8; 64] = rng.random();
        let header = LedgerHeader {
            ledger_version: self.config.protocol_version,
            previous_ledger_hash: Hash([0; 32]),
            scp_value: StellarValue {
                tx_set_hash: Hash([0; 32]),
                close_time: TimePoint(close_time),
                upgrades: VecM::default(),
                ext: StellarValueExt::Signed(LedgerCloseValueSignature {
                    node_id: self.validator.clone(),
                    signature: Signature(signature.to_vec().try_into().expect("64 bytes")),
                }),
            },
            tx_set_result_hash: Hash(result_set_hash(tx_processing.iter().map(|t| &t.result))),
            bucket_list_hash: Hash(rng.random()),
            ledger_seq: sequence,
            total_coins: TOTAL_COINS,
            // Grows by a fixed amount per ledger rather than by the fees charged, so that a
            // header needs no earlier ledger.
            fee_pool: 1_000_000_000_000 + i64::from(sequence) * 10_000,
            inflation_seq: 0,
            id_pool: (next_offer_id - 1) as u64,
            base_fee: BASE_FEE,
            base_reserve: 5_000_000,
            max_tx_set_size: (mean * 2).max(1_000),
            skip_list: [Hash([0; 32]), Hash([0; 32]), Hash([0; 32]), Hash([0; 32])],
            ext: LedgerHeaderExt::V0,
        };
        LedgerBody { header, tx_set, tx_processing, expected }
    }

    /// Groups Soroban transactions into 1 stage (up to 8 transactions) or 2, each of up to 4
    /// non-empty clusters sorted by hash.
    fn soroban_stages(
        &self,
        rng: &mut ChaCha8Rng,
        transactions: Vec<BuiltTransaction>,
    ) -> Vec<Vec<Vec<BuiltTransaction>>> {
        if transactions.is_empty() {
            return Vec::new();
        }
        let stage_count = if transactions.len() <= 8 { 1 } else { 2 };
        let mut stages: Vec<Vec<Vec<BuiltTransaction>>> =
            (0..stage_count).map(|_| (0..MAX_CLUSTERS_PER_STAGE).map(|_| Vec::new()).collect()).collect();
        for built in transactions {
            let stage = rng.random_range(0..stage_count) as usize;
            let cluster = rng.random_range(0..MAX_CLUSTERS_PER_STAGE) as usize;
            stages[stage][cluster].push(built);
        }
        for stage in &mut stages {
            stage.retain(|cluster| !cluster.is_empty());
            for cluster in stage.iter_mut() {
                cluster.sort_unstable_by_key(|built| built.hash);
            }
        }
        stages.retain(|stage| !stage.is_empty());
        stages
    }

    /// The ledger `sequence` whose previous ledger's header hashes to `previous_header_hash`.
    pub fn ledger(&self, sequence: u32, previous_header_hash: [u8; 32]) -> GeneratedLedger {
        self.body(sequence).seal(previous_header_hash)
    }

    /// What the chain needs of ledger `sequence`.
    pub fn chain_link(&self, sequence: u32) -> ChainLink {
        let body = self.body(sequence);
        let phases_xdr = body.tx_set.phases.to_xdr(Limits::none()).expect("phases are valid XDR");
        ChainLink { header: body.header, phases_xdr }
    }

    /// The header hash of ledger `to - 1`, given that ledger `from`'s previous ledger hashes
    /// to `previous_header_hash` (`to >= from`). Builds the bodies of `from..to` on all cores
    /// and seals them in order: about the cost of generating those ledgers, divided by the
    /// number of cores.
    pub fn advance_chain(&self, from: u32, mut previous_header_hash: [u8; 32], to: u32) -> [u8; 32] {
        const LEDGERS_PER_WORKER: u64 = 32;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16) as u64;
        let (mut next, end) = (u64::from(from), u64::from(to));
        while next < end {
            let chunk = (end - next).min(workers * LEDGERS_PER_WORKER);
            let links: Vec<ChainLink> = if workers == 1 || chunk < 4 {
                (next..next + chunk).map(|sequence| self.chain_link(sequence as u32)).collect()
            } else {
                let per_worker = chunk.div_ceil(workers);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = (0..workers)
                        .map(|worker| next + worker * per_worker)
                        .filter(|start| *start < next + chunk)
                        .map(|start| {
                            let stop = (start + per_worker).min(next + chunk);
                            scope.spawn(move || {
                                (start..stop)
                                    .map(|sequence| self.chain_link(sequence as u32))
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .flat_map(|handle| handle.join().expect("chain worker panicked"))
                        .collect()
                })
            };
            for link in links {
                previous_header_hash = link.seal_hash(previous_header_hash);
            }
            next += chunk;
        }
        previous_header_hash
    }
}

/// Writes the previous hash and the tx set hash into a header template.
fn link_header(header: &mut LedgerHeader, previous_header_hash: [u8; 32], tx_set_hash: [u8; 32]) {
    header.previous_ledger_hash = Hash(previous_header_hash);
    header.scp_value.tx_set_hash = Hash(tx_set_hash);
}

impl LedgerBody {
    /// The complete ledger, chained to the previous header hash.
    pub fn seal(self, previous_header_hash: [u8; 32]) -> GeneratedLedger {
        let LedgerBody { mut header, mut tx_set, tx_processing, expected } = self;
        tx_set.previous_ledger_hash = Hash(previous_header_hash);
        let tx_set = GeneralizedTransactionSet::V1(tx_set);
        link_header(&mut header, previous_header_hash, xdr_sha256(&tx_set));
        let hash = xdr_sha256(&header);
        let sequence = header.ledger_seq;
        let meta = LedgerCloseMeta::V2(LedgerCloseMetaV2 {
            ext: LedgerCloseMetaExt::V1(LedgerCloseMetaExtV1 {
                ext: ExtensionPoint::V0,
                soroban_fee_write1_kb: 3_500,
            }),
            ledger_header: LedgerHeaderHistoryEntry {
                hash: Hash(hash),
                header,
                ext: LedgerHeaderHistoryEntryExt::V0,
            },
            tx_set,
            tx_processing: tx_processing.try_into().expect("tx_processing fits"),
            upgrades_processing: VecM::default(),
            scp_info: VecM::default(),
            total_byte_size_of_live_soroban_state: 500_000_000 + u64::from(sequence) * 64,
            evicted_keys: VecM::default(),
        });
        GeneratedLedger { meta, expected }
    }
}

impl ChainLink {
    /// The header hash this ledger gets when chained to `previous_header_hash`; equal to
    /// `seal(previous_header_hash).header_hash()`.
    pub fn seal_hash(mut self, previous_header_hash: [u8; 32]) -> [u8; 32] {
        let tx_set_hash = tx_set_hash_from_phases(&previous_header_hash, &self.phases_xdr);
        link_header(&mut self.header, previous_header_hash, tx_set_hash);
        xdr_sha256(&self.header)
    }
}
