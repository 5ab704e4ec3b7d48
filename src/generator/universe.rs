//! What every generated ledger shares: the account pool, the assets and their Stellar Asset
//! Contracts (SACs), the Soroban contracts, the validator, and the genesis link of the chain.
//!
//! Built once per [`super::GeneratorConfig`] from its seed and network, then only read.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stellar_xdr::{
    AccountId, AlphaNum4, AlphaNum12, Asset, AssetCode4, AssetCode12, ContractId, ContractIdPreimage, Hash,
    HashIdPreimage, HashIdPreimageContractId, NodeId, PublicKey, ScAddress, ScString, ScSymbol, ScVal,
    Uint256,
};

use super::GeneratorConfig;
use super::hashing::{labelled, xdr_sha256};

/// Issuer of the `USDC` asset: the pubnet USDC issuer's key, so queries written for pubnet
/// (`USDC:GA5Z...`) match synthetic data too.
pub const USDC_ISSUER: &str = "GA5ZSEJYB37JRC5AVCIA5MOP4RHTM335X2KGX3IHOJAPP5RE34K4KZVN";
/// Issuer of the `EURC` asset (the pubnet EURC issuer's key).
pub const EURC_ISSUER: &str = "GDHU6WRG4IEQXM5NZ4BMPKOXHW76MZM4Y2IEMFDVXBSDP6SJY4ITNPP2";
/// Issuer of the `AQUA` asset (the pubnet AQUA issuer's key).
pub const AQUA_ISSUER: &str = "GBNZILSTVQZ4R7IKQDGHYGY2QXL5QOFJYQMXPKWRRM5PAV7Y4M67AQUA";
/// Code of the generator's 12-character (`credit_alphanum12`) asset.
pub const LONG_ASSET_CODE: &str = "LEDGERFLOW12";
/// Issuer of [`LONG_ASSET_CODE`]: `sha256("ledgerflow synthetic issuer LEDGERFLOW12")`.
pub const LONG_ASSET_ISSUER: &str = "GCM3C6VUV3Z6QZDE3PD2FRUAXPZWBVSRZJWVFOPBPEECRT2SLSQZTPRB";

/// The assets, by index into [`Universe::assets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum AssetId {
    Native = 0,
    Usdc = 1,
    Eurc = 2,
    Aqua = 3,
    Long = 4,
}

pub(super) const ALL_ASSETS: [AssetId; 5] =
    [AssetId::Native, AssetId::Usdc, AssetId::Eurc, AssetId::Aqua, AssetId::Long];

/// One asset and what events and conversions need of it.
pub(super) struct AssetInfo {
    pub asset: Asset,
    /// CAP-67 asset topic: `native` or `CODE:ISSUER`.
    pub topic: ScVal,
    /// The asset's Stellar Asset Contract on the configured network.
    pub sac: ContractId,
    /// Rough price, in micro-USD per whole unit, for amounts that look consistent.
    pub price_micro_usd: i64,
}

/// Symbols used as event topics and function names, built once.
pub(super) struct Symbols {
    pub transfer: ScSymbol,
    pub fee: ScSymbol,
    pub swap: ScSymbol,
    pub deposit: ScSymbol,
}

pub(super) struct Universe {
    pub config: GeneratorConfig,
    pub network_id: [u8; 32],
    pub accounts: Vec<Uint256>,
    pub assets: [AssetInfo; 5],
    /// A constant-product pool contract (`swap`).
    pub amm: ContractId,
    /// A yield vault contract (`deposit`).
    pub vault: ContractId,
    pub validator: NodeId,
    pub symbols: Symbols,
    /// `previous_ledger_hash` of the first ledger: stands for the hash of a ledger before it.
    pub genesis_previous_hash: [u8; 32],
}

/// RNG stream of the account pool; ledger streams are their sequence (< 2^32), so never collide.
const ACCOUNT_STREAM: u64 = 1 << 32;

impl Universe {
    pub fn new(config: GeneratorConfig) -> Self {
        let network_id = config.network.id();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(ACCOUNT_STREAM);
        let accounts = (0..config.account_pool_size).map(|_| Uint256(rng.random())).collect();
        let validator = NodeId(PublicKey::PublicKeyTypeEd25519(Uint256(rng.random())));
        let asset = |id: AssetId| -> AssetInfo {
            let (asset, price_micro_usd) = match id {
                AssetId::Native => (Asset::Native, 100_000),
                AssetId::Usdc => (alphanum4("USDC", USDC_ISSUER), 1_000_000),
                AssetId::Eurc => (alphanum4("EURC", EURC_ISSUER), 1_080_000),
                AssetId::Aqua => (alphanum4("AQUA", AQUA_ISSUER), 800),
                AssetId::Long => (alphanum12(LONG_ASSET_CODE, LONG_ASSET_ISSUER), 2_500_000),
            };
            let topic = match id {
                AssetId::Native => "native".to_owned(),
                AssetId::Usdc => format!("USDC:{USDC_ISSUER}"),
                AssetId::Eurc => format!("EURC:{EURC_ISSUER}"),
                AssetId::Aqua => format!("AQUA:{AQUA_ISSUER}"),
                AssetId::Long => format!("{LONG_ASSET_CODE}:{LONG_ASSET_ISSUER}"),
            };
            AssetInfo { sac: sac_id(network_id, &asset), asset, topic: string(&topic), price_micro_usd }
        };
        Universe {
            assets: ALL_ASSETS.map(asset),
            amm: ContractId(Hash(labelled("contract amm", 0, 0))),
            vault: ContractId(Hash(labelled("contract vault", 0, 0))),
            symbols: Symbols {
                transfer: symbol_name("transfer"),
                fee: symbol_name("fee"),
                swap: symbol_name("swap"),
                deposit: symbol_name("deposit"),
            },
            genesis_previous_hash: labelled("genesis", config.seed, u64::from(config.first_sequence)),
            network_id,
            accounts,
            validator,
            config,
        }
    }

    pub fn asset(&self, id: AssetId) -> &AssetInfo {
        &self.assets[id as usize]
    }
}

/// Contract id of an asset's SAC: `sha256(xdr(HashIdPreimage::ContractId { network_id,
/// FromAsset(asset) }))`, as stellar-core derives it.
fn sac_id(network_id: [u8; 32], asset: &Asset) -> ContractId {
    let preimage = HashIdPreimage::ContractId(HashIdPreimageContractId {
        network_id: Hash(network_id),
        contract_id_preimage: ContractIdPreimage::Asset(asset.clone()),
    });
    ContractId(Hash(xdr_sha256(&preimage)))
}

fn issuer(strkey: &str) -> AccountId {
    let key = stellar_strkey::ed25519::PublicKey::from_string(strkey)
        .expect("issuer constants are valid G strkeys");
    AccountId(PublicKey::PublicKeyTypeEd25519(Uint256(key.0)))
}

fn alphanum4(code: &str, issuer_strkey: &str) -> Asset {
    let mut bytes = [0u8; 4];
    bytes[..code.len()].copy_from_slice(code.as_bytes());
    Asset::CreditAlphanum4(AlphaNum4 { asset_code: AssetCode4(bytes), issuer: issuer(issuer_strkey) })
}

fn alphanum12(code: &str, issuer_strkey: &str) -> Asset {
    let mut bytes = [0u8; 12];
    bytes[..code.len()].copy_from_slice(code.as_bytes());
    Asset::CreditAlphanum12(AlphaNum12 { asset_code: AssetCode12(bytes), issuer: issuer(issuer_strkey) })
}

pub(super) fn symbol_name(name: &str) -> ScSymbol {
    ScSymbol(name.try_into().expect("symbols are short identifiers"))
}

pub(super) fn symbol(name: &str) -> ScVal {
    ScVal::Symbol(symbol_name(name))
}

pub(super) fn string(value: &str) -> ScVal {
    ScVal::String(ScString(value.try_into().expect("strings are short")))
}

pub(super) fn account_address(key: &Uint256) -> ScAddress {
    ScAddress::Account(AccountId(PublicKey::PublicKeyTypeEd25519(key.clone())))
}

pub(super) fn account_id(key: &Uint256) -> AccountId {
    AccountId(PublicKey::PublicKeyTypeEd25519(key.clone()))
}
