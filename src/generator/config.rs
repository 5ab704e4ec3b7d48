//! What to generate ([`GeneratorConfig`]) and what can go wrong ([`GeneratorError`]).

use crate::datastore::WriteError;
use crate::network::Network;

/// Most transactions a generated ledger may average. Offer ids leave room for 2^20 new offers
/// per ledger; this bound (at most 5 operations per transaction, +30% variance) keeps well below.
pub const MAX_TRANSACTIONS_PER_LEDGER: u32 = 100_000;
/// Largest account pool.
pub const MAX_ACCOUNT_POOL_SIZE: u32 = 1_000_000;
/// First protocol whose ledgers the generator can write (TransactionMeta V4, CAP-67 events).
pub const MIN_PROTOCOL_VERSION: u32 = 23;

/// A synthetic ledger stream. The same config always gives byte-identical ledgers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Seed of every random choice: account keys, the transaction mix, amounts, signatures.
    pub seed: u64,
    /// Sequence of the first ledger (at least 1).
    pub first_sequence: u32,
    /// Number of ledgers; `None` for an endless stream (up to ledger `u32::MAX`).
    pub ledger_count: Option<u32>,
    /// Mean transactions per ledger; each ledger draws uniformly within ±30% of it.
    pub transactions_per_ledger: u32,
    /// Network whose passphrase the transaction hashes are computed under.
    pub network: Network,
    /// Close time of the first ledger, unix seconds; later ledgers close 5 s ± 2 s apart.
    pub first_close_time: u64,
    /// `ledgerVersion` written in every header (23 or later).
    pub protocol_version: u32,
    /// Number of accounts that send and receive (keys derived from `seed`).
    pub account_pool_size: u32,
}

impl Default for GeneratorConfig {
    /// Seed 42, ledgers 1,000,000 to 1,000,999 on the synthetic network, ~100 transactions per
    /// ledger, protocol 23, closing from 2026-01-01T00:00:00Z, 1,000 accounts.
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            first_sequence: 1_000_000,
            ledger_count: Some(1_000),
            transactions_per_ledger: 100,
            network: Network::synthetic(),
            first_close_time: 1_767_225_600,
            protocol_version: MIN_PROTOCOL_VERSION,
            account_pool_size: 1_000,
        }
    }
}

impl GeneratorConfig {
    /// Checks every field; the error names the field, its value and what is allowed.
    pub fn validate(&self) -> Result<(), GeneratorError> {
        let invalid =
            |key, value: String, allowed| Err(GeneratorError::InvalidConfig { key, value, allowed });
        if self.first_sequence == 0 {
            return invalid("first_sequence", "0".into(), "at least 1");
        }
        if let Some(count) = self.ledger_count
            && u64::from(self.first_sequence) + u64::from(count) - 1 > u64::from(u32::MAX)
        {
            return invalid(
                "ledger_count",
                count.to_string(),
                "first_sequence + ledger_count - 1 <= u32::MAX",
            );
        }
        if self.transactions_per_ledger > MAX_TRANSACTIONS_PER_LEDGER {
            return invalid(
                "transactions_per_ledger",
                self.transactions_per_ledger.to_string(),
                "at most 100000",
            );
        }
        if !(2..=MAX_ACCOUNT_POOL_SIZE).contains(&self.account_pool_size) {
            return invalid("account_pool_size", self.account_pool_size.to_string(), "2 to 1000000");
        }
        if self.protocol_version < MIN_PROTOCOL_VERSION {
            return invalid("protocol_version", self.protocol_version.to_string(), "23 or later");
        }
        if self.first_close_time > u64::MAX / 2 {
            return invalid("first_close_time", self.first_close_time.to_string(), "a unix time below 2^63");
        }
        Ok(())
    }

    /// Sequence of the last ledger; `None` for an endless stream. For `ledger_count == Some(0)`
    /// this is `first_sequence - 1` (an empty range).
    pub fn last_sequence(&self) -> Option<u32> {
        self.ledger_count.map(|count| {
            (u64::from(self.first_sequence) + u64::from(count)).saturating_sub(1).min(u64::from(u32::MAX))
                as u32
        })
    }
}

/// Why the generator cannot do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeneratorError {
    #[error("generator config: `{key}` is {value}, allowed: {allowed}")]
    InvalidConfig { key: &'static str, value: String, allowed: &'static str },
    #[error("ledger {sequence} is before the first generated ledger {first}")]
    BeforeFirst { sequence: u32, first: u32 },
    #[error(
        "ledger {sequence} is past the last generated ledger {last} (the stream may start at {last} + 1, empty)"
    )]
    AfterLast { sequence: u32, last: u32 },
    #[error("ledger_count is None (an endless stream): a store needs a ledger count")]
    Unbounded,
    #[error("store layout: `{key}` is 0, must be at least 1")]
    InvalidLayout { key: &'static str },
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl GeneratorError {
    /// True when retrying may succeed (an I/O error while writing a store); everything else
    /// is a configuration error that a retry repeats.
    pub fn is_transient(&self) -> bool {
        matches!(self, GeneratorError::Write(WriteError::Io { .. }))
    }
}
