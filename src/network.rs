//! Stellar networks: the passphrase that transaction hashes are computed under.
//!
//! A transaction hash is `sha256(network_id || envelope_type || tx)`, where `network_id =
//! sha256(passphrase)`. The ledger stream does not record which network it came from, so the
//! passphrase comes from configuration, from a SEP-54 store's `.config.json`, or is detected by
//! trying the well-known networks against a ledger's transaction hashes ([`Network::detect`]).

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use stellar_xdr::LedgerCloseMeta;

use crate::ledger::envelopes_in_tx_set;

/// Passphrase of the public network (pubnet, "mainnet").
pub const PUBNET_PASSPHRASE: &str = "Public Global Stellar Network ; September 2015";
/// Passphrase of the SDF test network.
pub const TESTNET_PASSPHRASE: &str = "Test SDF Network ; September 2015";
/// Passphrase of the SDF future network.
pub const FUTURENET_PASSPHRASE: &str = "Test SDF Future Network ; October 2022";
/// Passphrase of a stellar-core standalone network (quickstart, load tests).
pub const STANDALONE_PASSPHRASE: &str = "Standalone Network ; February 2017";
/// Passphrase of the ledgers that ledgerflow's synthetic generator writes. Distinct from every
/// real network so generated data can never be mistaken for, or mixed with, real ledgers.
pub const SYNTHETIC_PASSPHRASE: &str = "ledgerflow synthetic network ; 2026";

const WELL_KNOWN: [(&str, &str); 5] = [
    ("pubnet", PUBNET_PASSPHRASE),
    ("testnet", TESTNET_PASSPHRASE),
    ("futurenet", FUTURENET_PASSPHRASE),
    ("standalone", STANDALONE_PASSPHRASE),
    ("synthetic", SYNTHETIC_PASSPHRASE),
];

/// A network passphrase and its id (`sha256(passphrase)`), cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct Network {
    passphrase: Arc<str>,
    id: [u8; 32],
}

impl Network {
    /// A network from its passphrase.
    pub fn new(passphrase: &str) -> Self {
        let id: [u8; 32] = Sha256::digest(passphrase.as_bytes()).into();
        Network { passphrase: Arc::from(passphrase), id }
    }

    /// The public network.
    pub fn pubnet() -> Self {
        Self::new(PUBNET_PASSPHRASE)
    }

    /// The synthetic generator's network.
    pub fn synthetic() -> Self {
        Self::new(SYNTHETIC_PASSPHRASE)
    }

    /// `pubnet`, `testnet`, `futurenet`, `standalone`, `synthetic`, or else a passphrase.
    pub fn from_name_or_passphrase(value: &str) -> Self {
        WELL_KNOWN
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(value))
            .map_or_else(|| Self::new(value), |(_, passphrase)| Self::new(passphrase))
    }

    /// Every network ledgerflow knows by name.
    pub fn well_known() -> impl Iterator<Item = Network> {
        WELL_KNOWN.iter().map(|(_, passphrase)| Self::new(passphrase))
    }

    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    /// `sha256(passphrase)`, the prefix of every transaction signature payload.
    pub fn id(&self) -> [u8; 32] {
        self.id
    }

    /// The short name of a well-known network, if this is one.
    pub fn name(&self) -> Option<&'static str> {
        WELL_KNOWN.iter().find(|(_, passphrase)| *passphrase == &*self.passphrase).map(|(name, _)| *name)
    }

    /// Finds the well-known network under which the first transaction of `meta` hashes to the
    /// hash that `meta` records for it. `None` for a ledger without transactions (it cannot
    /// tell) or when no well-known passphrase matches.
    pub fn detect(meta: &LedgerCloseMeta) -> Option<Network> {
        let recorded = first_recorded_tx_hash(meta)?;
        let envelopes = envelopes_in_tx_set(meta);
        Self::well_known().find(|network| {
            envelopes.iter().any(|envelope| {
                crate::ledger::transaction_hash(envelope, network.id).is_ok_and(|hash| hash == recorded)
            })
        })
    }
}

fn first_recorded_tx_hash(meta: &LedgerCloseMeta) -> Option<[u8; 32]> {
    match meta {
        LedgerCloseMeta::V0(v0) => v0.tx_processing.first().map(|t| t.result.transaction_hash.0),
        LedgerCloseMeta::V1(v1) => v1.tx_processing.first().map(|t| t.result.transaction_hash.0),
        LedgerCloseMeta::V2(v2) => v2.tx_processing.first().map(|t| t.result.transaction_hash.0),
    }
}

impl Default for Network {
    /// Pubnet, as stellar-etl assumes.
    fn default() -> Self {
        Self::pubnet()
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Network({:?})", self.passphrase)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:?})", self.passphrase),
            None => write!(f, "{:?}", self.passphrase),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_id_is_sha256_of_passphrase() {
        // Known pubnet network id.
        assert_eq!(
            hex::encode(Network::pubnet().id()),
            "7ac33997544e3175d266bd022439b22cdb16508c01163f26e5cb2a3e1045a979"
        );
    }

    #[test]
    fn names_resolve_and_unknown_values_are_passphrases() {
        assert_eq!(Network::from_name_or_passphrase("TESTNET").passphrase(), TESTNET_PASSPHRASE);
        let custom = Network::from_name_or_passphrase("My Net ; 2024");
        assert_eq!(custom.passphrase(), "My Net ; 2024");
        assert_eq!(custom.name(), None);
        assert_eq!(Network::pubnet().name(), Some("pubnet"));
    }
}
