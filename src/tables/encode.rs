//! Value encodings shared by the tables: strkeys, assets, timestamps, enum names.
//!
//! Strkeys are encoded on the stack (`heapless::String`), so appending an account to a column
//! allocates nothing.

use stellar_xdr::{
    AlphaNum4, AlphaNum12, Asset, ChangeTrustAsset, ContractId, MuxedAccount, ScAddress, TrustLineAsset,
    Uint256,
};

/// A G... account strkey (56 chars), on the stack.
pub type AccountStrkey = heapless::String<56>;
/// An M... muxed account strkey (69 chars), on the stack.
pub type MuxedStrkey = heapless::String<69>;
/// A C... contract strkey (56 chars), on the stack.
pub type ContractStrkey = heapless::String<56>;

/// G-strkey of an ed25519 public key.
pub fn account_strkey(key: &Uint256) -> AccountStrkey {
    stellar_strkey::ed25519::PublicKey(key.0).to_string()
}

/// C-strkey of a contract id.
pub fn contract_strkey(id: &ContractId) -> ContractStrkey {
    stellar_strkey::Contract(id.0.0).to_string()
}

/// An account as stellar-etl splits it: the G address always; the M address and its id only
/// when the account is muxed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuxedParts {
    pub account: AccountStrkey,
    pub muxed: Option<MuxedStrkey>,
    pub muxed_id: Option<u64>,
}

pub fn muxed_parts(account: &MuxedAccount) -> MuxedParts {
    match account {
        MuxedAccount::Ed25519(key) => {
            MuxedParts { account: account_strkey(key), muxed: None, muxed_id: None }
        }
        MuxedAccount::MuxedEd25519(m) => MuxedParts {
            account: account_strkey(&m.ed25519),
            muxed: Some(stellar_strkey::ed25519::MuxedAccount { ed25519: m.ed25519.0, id: m.id }.to_string()),
            muxed_id: Some(m.id),
        },
    }
}

/// Strkey of any `ScAddress` (G, C, M, B or L). Allocates: only for events and Soroban ops.
pub fn sc_address_strkey(address: &ScAddress) -> String {
    address.to_string()
}

/// An asset as `asset_type`, `asset_code`, `asset_issuer` (code and issuer absent for native).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetParts {
    /// `native`, `credit_alphanum4`, `credit_alphanum12` (or `liquidity_pool_shares`).
    pub asset_type: &'static str,
    pub code: Option<heapless::String<12>>,
    pub issuer: Option<AccountStrkey>,
}

impl AssetParts {
    pub const NATIVE: AssetParts = AssetParts { asset_type: "native", code: None, issuer: None };

    /// `native` or `CODE:ISSUER`, stellar-etl's canonical asset string.
    pub fn canonical(&self) -> String {
        match (&self.code, &self.issuer) {
            (Some(code), Some(issuer)) => format!("{code}:{issuer}"),
            _ => "native".to_owned(),
        }
    }
}

fn alphanum4(a: &AlphaNum4) -> AssetParts {
    AssetParts {
        asset_type: "credit_alphanum4",
        code: Some(asset_code(&a.asset_code.0)),
        issuer: Some(account_id_strkey(&a.issuer)),
    }
}

fn alphanum12(a: &AlphaNum12) -> AssetParts {
    AssetParts {
        asset_type: "credit_alphanum12",
        code: Some(asset_code(&a.asset_code.0)),
        issuer: Some(account_id_strkey(&a.issuer)),
    }
}

pub fn asset_parts(asset: &Asset) -> AssetParts {
    match asset {
        Asset::Native => AssetParts::NATIVE,
        Asset::CreditAlphanum4(a) => alphanum4(a),
        Asset::CreditAlphanum12(a) => alphanum12(a),
    }
}

/// Change-trust assets: pool shares have type `liquidity_pool_shares` and no code/issuer.
pub fn change_trust_asset_parts(asset: &ChangeTrustAsset) -> AssetParts {
    match asset {
        ChangeTrustAsset::Native => AssetParts::NATIVE,
        ChangeTrustAsset::CreditAlphanum4(a) => alphanum4(a),
        ChangeTrustAsset::CreditAlphanum12(a) => alphanum12(a),
        ChangeTrustAsset::PoolShare(_) => {
            AssetParts { asset_type: "liquidity_pool_shares", code: None, issuer: None }
        }
    }
}

pub fn trust_line_asset_parts(asset: &TrustLineAsset) -> AssetParts {
    match asset {
        TrustLineAsset::Native => AssetParts::NATIVE,
        TrustLineAsset::CreditAlphanum4(a) => alphanum4(a),
        TrustLineAsset::CreditAlphanum12(a) => alphanum12(a),
        TrustLineAsset::PoolShare(_) => {
            AssetParts { asset_type: "liquidity_pool_shares", code: None, issuer: None }
        }
    }
}

pub fn account_id_strkey(account: &stellar_xdr::AccountId) -> AccountStrkey {
    let stellar_xdr::PublicKey::PublicKeyTypeEd25519(key) = &account.0;
    account_strkey(key)
}

/// Asset code without its NUL padding. Codes are ASCII alphanumerics on chain; any other byte
/// is kept as its Unicode scalar so the value stays lossless for ASCII and never panics.
pub fn asset_code(bytes: &[u8]) -> heapless::String<12> {
    let mut code = heapless::String::new();
    for &b in bytes.iter().take_while(|&&b| b != 0) {
        // At most 12 bytes, and the code is ASCII for any valid asset; a non-ASCII byte is
        // replaced so the string stays within capacity.
        let c = if b.is_ascii() { b as char } else { '?' };
        let _ = code.push(c);
    }
    code
}

/// Lower-case hex of a 32-byte hash, on the stack.
pub fn hex32(bytes: &[u8; 32]) -> heapless::String<64> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = heapless::String::new();
    for &b in bytes {
        // Capacity is exactly 64: two digits per byte never overflow it.
        let _ = out.push(DIGITS[usize::from(b >> 4)] as char);
        let _ = out.push(DIGITS[usize::from(b & 0xF)] as char);
    }
    out
}

/// Close time (unix seconds) as Arrow `Timestamp(µs, UTC)`, saturating far-future values.
pub fn close_time_micros(close_time: u64) -> i64 {
    i64::try_from(close_time).unwrap_or(i64::MAX).saturating_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn muxed_accounts_split_like_stellar_etl() {
        let key = Uint256([7; 32]);
        let plain = muxed_parts(&MuxedAccount::Ed25519(key.clone()));
        assert!(plain.account.starts_with('G') && plain.muxed.is_none());
        let muxed = muxed_parts(&MuxedAccount::MuxedEd25519(stellar_xdr::MuxedAccountMed25519 {
            id: 42,
            ed25519: key,
        }));
        assert_eq!(muxed.account, plain.account);
        assert!(muxed.muxed.as_deref().is_some_and(|m| m.starts_with('M') && m.len() == 69));
        assert_eq!(muxed.muxed_id, Some(42));
    }

    #[test]
    fn asset_codes_drop_padding() {
        assert_eq!(asset_code(b"USDC").as_str(), "USDC");
        assert_eq!(asset_code(b"AB\0\0").as_str(), "AB");
        assert_eq!(asset_code(b"LONGCODE\0\0\0\0").as_str(), "LONGCODE");
    }
}
