//! Deterministic synthetic ledgers: the embedded default source, and the fixture every reader,
//! table and pipeline test can use without a network.
//!
//! [`SyntheticLedgers`] yields protocol 23 `LedgerCloseMeta::V2` ledgers of a
//! [`GeneratorConfig`]; the same config gives byte-identical ledgers on every machine (ChaCha8
//! and integer arithmetic only). Each ledger comes with the [`ExpectedCounts`] the generator
//! tallied while deciding its content. [`write_store`] writes a range as a SEP-54 store.
//!
//! # What a ledger holds
//! A `GeneralizedTransactionSet::V1` with a classic phase (one V0 component, sorted by hash)
//! and a Soroban phase (parallel stages of clusters). `tx_processing` is in apply order: the
//! classic transactions shuffled, then the Soroban ones stage by stage. Transaction meta is V4:
//! each operation's CAP-67 events (`transfer` on the asset's SAC for payments, path payments
//! and create_account; the contract's events for Soroban calls) and a `fee` event per
//! transaction. The mix is described in `transaction.rs`: native and credit payments (USDC,
//! EURC, AQUA, a 12-character code), path payments, create_account, change_trust, offers,
//! multi-operation and fee-bump transactions, ~7% failures with real operation codes,
//! muxed accounts, memos, time bounds, and Soroban `transfer`/`swap`/`deposit` calls. Amounts
//! are long-tailed (`amounts.rs`). Metas carry the ledger entry changes stellar-core writes
//! (`changes.rs`): the fee charged and refunded, the sequence bump, and the accounts, trust
//! lines and offers each operation changes or creates, so a ledger has a real one's shape and
//! its fee columns real values. Signatures are random bytes.
//!
//! # Seeking and the header chain
//! Each ledger's content is a function of (config, sequence) alone: its RNG is the seed's
//! ChaCha8 key on stream `sequence`, its close time `first_close_time + 5 s * (sequence -
//! first) ± 2 s`, its offer ids `sequence << 20` onwards. Only two header fields link ledgers:
//! `previous_ledger_hash` (also in the tx set) and `scp_value.tx_set_hash`, which covers it.
//! The chain is real: `previous_ledger_hash` of ledger N is `sha256(xdr(header of N-1))`, and
//! for the first ledger a hash of (seed, first_sequence). So ledger N's hash depends on every
//! ledger before it, and resuming has two costs:
//! - [`SyntheticLedgers::resume`] takes the previous header hash (a checkpoint can keep it,
//!   or read it from the last ledger written): O(1).
//! - [`SyntheticLedgers::starting_at`] (and `Iterator::nth`) recompute the chain: every
//!   skipped ledger's body is built, on all cores, and only its header hash is kept; sealing
//!   (two SHA-256 over the tx set and header) is the only sequential part.
//!
//! A chain whose hashes could be computed without earlier ledgers would have to break the
//! link somewhere; readers that verify `previous_ledger_hash` would then see gaps. The
//! generator keeps the chain whole and makes recomputing it cheap instead.

mod amounts;
mod changes;
mod config;
mod events;
mod hashing;
mod ledger;
mod store;
mod stream;
mod transaction;
mod universe;

pub use config::{
    GeneratorConfig, GeneratorError, MAX_ACCOUNT_POOL_SIZE, MAX_TRANSACTIONS_PER_LEDGER, MIN_PROTOCOL_VERSION,
};
pub use ledger::{ExpectedCounts, GeneratedLedger};
pub use store::{StoreSummary, write_store};
pub use stream::SyntheticLedgers;
pub use universe::{AQUA_ISSUER, EURC_ISSUER, LONG_ASSET_CODE, LONG_ASSET_ISSUER, USDC_ISSUER};

#[cfg(test)]
mod tests;
