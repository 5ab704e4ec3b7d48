//! Value encodings shared by the tables: strkeys, assets, timestamps, enum names.
//!
//! Strkeys are encoded on the stack (`heapless::String`), so appending an account to a column
//! allocates nothing, and [`StrkeyCache`] remembers the strkeys of recently seen accounts and
//! contracts, so most rows do not encode them at all.

use stellar_xdr::{
    AccountId, AlphaNum4, AlphaNum12, Asset, AssetCode, ChangeTrustAsset, ContractId, MuxedAccount,
    ScAddress, TrustLineAsset, Uint256,
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

/// Strkeys of recently seen accounts (G) and contracts (C), one per [`super::TableBuilder`]
/// and shared by all its tables.
///
/// Encoding a strkey (base32 + CRC16) costs more than the rest of a typical row, and the same
/// accounts and contracts recur within a row (source, issuer, event addresses) and across rows
/// (market makers, popular issuers, token contracts). Each kind has a two-way set-associative
/// table of a fixed number of slots, allocated on first use: memory is bounded (8192 + 2048
/// slots of 96 bytes, under 1 MB) whatever the input, and keys chosen to collide only cost
/// misses, never more than encoding. A slot
/// holds the full 32-byte key next to its strkey and a hit compares the whole key, so the
/// cache never changes a value.
#[derive(Default)]
pub struct StrkeyCache {
    accounts: Vec<CachedStrkey>,
    contracts: Vec<CachedStrkey>,
}

/// A key and its strkey; an empty strkey marks a vacant slot.
#[derive(Clone)]
struct CachedStrkey {
    key: [u8; 32],
    strkey: heapless::String<56>,
}

impl StrkeyCache {
    const ACCOUNT_SLOTS: usize = 1 << 13;
    const CONTRACT_SLOTS: usize = 1 << 11;

    /// G-strkey of an ed25519 public key.
    pub fn account(&mut self, key: &[u8; 32]) -> &str {
        cached(&mut self.accounts, Self::ACCOUNT_SLOTS, key, |key| {
            stellar_strkey::ed25519::PublicKey(*key).to_string()
        })
    }

    /// C-strkey of a contract id.
    pub fn contract(&mut self, id: &[u8; 32]) -> &str {
        cached(&mut self.contracts, Self::CONTRACT_SLOTS, id, |id| stellar_strkey::Contract(*id).to_string())
    }

    /// Writes the strkey of any address, as its `Display` does; G and C from the cache.
    pub fn write_sc_address(
        &mut self,
        out: &mut impl std::fmt::Write,
        address: &ScAddress,
    ) -> std::fmt::Result {
        match address {
            ScAddress::Account(account) => out.write_str(self.account(account_key(account))),
            ScAddress::Contract(id) => out.write_str(self.contract(&id.0.0)),
            other => write!(out, "{other}"),
        }
    }

    /// G-strkey of an ed25519 key, owned.
    pub fn strkey(&mut self, key: &[u8; 32]) -> AccountStrkey {
        let mut strkey = AccountStrkey::new();
        // A G-strkey is 56 characters: it always fits.
        let _ = strkey.push_str(self.account(key));
        strkey
    }

    pub fn account_id(&mut self, account: &AccountId) -> AccountStrkey {
        self.strkey(account_key(account))
    }

    /// [`muxed_parts`] with the G address from the cache.
    pub fn muxed(&mut self, account: &MuxedAccount) -> MuxedParts {
        match account {
            MuxedAccount::Ed25519(key) => {
                MuxedParts { account: self.strkey(&key.0), muxed: None, muxed_id: None }
            }
            MuxedAccount::MuxedEd25519(m) => MuxedParts {
                account: self.strkey(&m.ed25519.0),
                muxed: Some(
                    stellar_strkey::ed25519::MuxedAccount { ed25519: m.ed25519.0, id: m.id }.to_string(),
                ),
                muxed_id: Some(m.id),
            },
        }
    }

    /// [`asset_parts`] with the issuer from the cache.
    pub fn asset(&mut self, asset: &Asset) -> AssetParts {
        match asset {
            Asset::Native => AssetParts::NATIVE,
            Asset::CreditAlphanum4(a) => self.credit("credit_alphanum4", &a.asset_code.0, &a.issuer),
            Asset::CreditAlphanum12(a) => self.credit("credit_alphanum12", &a.asset_code.0, &a.issuer),
        }
    }

    /// [`change_trust_asset_parts`] with the issuer from the cache.
    pub fn change_trust_asset(&mut self, asset: &ChangeTrustAsset) -> AssetParts {
        match asset {
            ChangeTrustAsset::Native => AssetParts::NATIVE,
            ChangeTrustAsset::CreditAlphanum4(a) => {
                self.credit("credit_alphanum4", &a.asset_code.0, &a.issuer)
            }
            ChangeTrustAsset::CreditAlphanum12(a) => {
                self.credit("credit_alphanum12", &a.asset_code.0, &a.issuer)
            }
            ChangeTrustAsset::PoolShare(_) => change_trust_asset_parts(asset),
        }
    }

    /// [`trust_line_asset_parts`] with the issuer from the cache.
    pub fn trust_line_asset(&mut self, asset: &TrustLineAsset) -> AssetParts {
        match asset {
            TrustLineAsset::Native => AssetParts::NATIVE,
            TrustLineAsset::CreditAlphanum4(a) => self.credit("credit_alphanum4", &a.asset_code.0, &a.issuer),
            TrustLineAsset::CreditAlphanum12(a) => {
                self.credit("credit_alphanum12", &a.asset_code.0, &a.issuer)
            }
            TrustLineAsset::PoolShare(_) => trust_line_asset_parts(asset),
        }
    }

    /// An allow-trust asset: the code with the operation source as issuer.
    pub fn allow_trust_asset(&mut self, code: &AssetCode, issuer: &MuxedAccount) -> AssetParts {
        let issuer = muxed_key(issuer);
        let (asset_type, code) = match code {
            AssetCode::CreditAlphanum4(c) => ("credit_alphanum4", asset_code(&c.0)),
            AssetCode::CreditAlphanum12(c) => ("credit_alphanum12", asset_code(&c.0)),
        };
        AssetParts { asset_type, code: Some(code), issuer: Some(self.strkey(issuer)) }
    }

    fn credit(&mut self, asset_type: &'static str, code: &[u8], issuer: &AccountId) -> AssetParts {
        AssetParts { asset_type, code: Some(asset_code(code)), issuer: Some(self.account_id(issuer)) }
    }
}

/// The strkey of `key`, from the cache or encoded and stored. `slots` (`len` of them, a power
/// of two, allocated on first use) form pairs: a key may live in either slot of its pair, the
/// most recently used first. A hit in the second slot swaps the two; a miss moves the first to
/// the second and stores the new key first. Two hot keys that share a pair so both stay.
fn cached<'c>(
    slots: &'c mut Vec<CachedStrkey>,
    len: usize,
    key: &[u8; 32],
    encode: impl FnOnce(&[u8; 32]) -> heapless::String<56>,
) -> &'c str {
    debug_assert!(len.is_power_of_two() && len >= 2);
    if slots.len() != len {
        slots.clear();
        slots.resize(len, CachedStrkey { key: [0; 32], strkey: heapless::String::new() });
    }
    // Keys are hashes or public keys, so their first bytes are uniform; the multiply spreads
    // them over the high bits, which pick the pair.
    let mut head = [0u8; 8];
    head.copy_from_slice(&key[..8]);
    let hash = u64::from_le_bytes(head).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let first = (hash >> 32) as usize & (len - 1) & !1;
    // In bounds: `slots` has exactly `len` entries, `len` is even and `first + 1 < len`.
    let pair = &mut slots[first..first + 2];
    let hit = |slot: &CachedStrkey| !slot.strkey.is_empty() && slot.key == *key;
    if !hit(&pair[0]) {
        if hit(&pair[1]) {
            pair.swap(0, 1);
        } else {
            pair.swap(0, 1);
            pair[0] = CachedStrkey { key: *key, strkey: encode(key) };
        }
    }
    pair[0].strkey.as_str()
}

/// The ed25519 key of an account id.
pub fn account_key(account: &AccountId) -> &[u8; 32] {
    let stellar_xdr::PublicKey::PublicKeyTypeEd25519(key) = &account.0;
    &key.0
}

/// The ed25519 key of a (possibly muxed) account.
pub fn muxed_key(account: &MuxedAccount) -> &[u8; 32] {
    match account {
        MuxedAccount::Ed25519(key) => &key.0,
        MuxedAccount::MuxedEd25519(m) => &m.ed25519.0,
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
    // Digits into an array, then one checked copy: a third faster than 64 `push`es.
    let mut digits = [0u8; 64];
    for (pair, &b) in digits.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xF)];
    }
    let mut out = heapless::String::new();
    // 64 ASCII digits: valid UTF-8 that exactly fills the capacity.
    let _ = out.push_str(std::str::from_utf8(&digits).unwrap_or_default());
    out
}

/// An integer's decimal digits, on the stack: what `{value}` writes, without going through
/// `fmt`, whose machinery costs more than the digits on the hot paths.
pub struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    pub fn u64(mut value: u64) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        // u64::MAX has 20 digits: the loop ends on `value == 0` before running out of room.
        for digit in buf.iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
            start -= 1;
            if value == 0 {
                break;
            }
        }
        Decimal { buf, start }
    }

    pub fn i64(value: i64) -> Self {
        let mut decimal = Decimal::u64(value.unsigned_abs());
        // |i64::MIN| has 19 digits, so the sign always has room.
        if value < 0 && decimal.start > 0 {
            decimal.start -= 1;
            decimal.buf[decimal.start] = b'-';
        }
        decimal
    }

    pub fn as_str(&self) -> &str {
        // ASCII digits and `-` only.
        std::str::from_utf8(self.buf.get(self.start..).unwrap_or_default()).unwrap_or_default()
    }
}

/// Close time (unix seconds) as Arrow `Timestamp(µs, UTC)`, saturating far-future values.
pub fn close_time_micros(close_time: u64) -> i64 {
    i64::try_from(close_time).unwrap_or(i64::MAX).saturating_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

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
    fn colliding_keys_evict_each_other_and_never_read_stale() {
        let mut cache = StrkeyCache::default();
        // Same first 8 bytes: same slot in both tables.
        let (a, b) = ([1; 32], {
            let mut b = [1; 32];
            b[31] = 2;
            b
        });
        for _ in 0..3 {
            for key in [a, b, a, a, b] {
                assert_eq!(cache.account(&key), stellar_strkey::ed25519::PublicKey(key).to_string().as_str());
                assert_eq!(cache.contract(&key), stellar_strkey::Contract(key).to_string().as_str());
            }
        }
        assert_eq!(cache.accounts.len(), StrkeyCache::ACCOUNT_SLOTS);
        assert_eq!(cache.contracts.len(), StrkeyCache::CONTRACT_SLOTS);
    }

    proptest::proptest! {
        #[test]
        fn cached_strkeys_are_fresh_encodings(
            keys in proptest::collection::vec(
                (proptest::prop_oneof![
                    proptest::prelude::any::<[u8; 32]>(),
                    // A few keys sharing their slot.
                    (0u8..4).prop_map(|n| { let mut k = [0xa5; 32]; k[20] = n; k }),
                ], proptest::prelude::any::<bool>()),
                1..200,
            )
        ) {
            let mut cache = StrkeyCache::default();
            for (key, contract) in keys {
                if contract {
                    let expected = stellar_strkey::Contract(key).to_string();
                    proptest::prop_assert_eq!(cache.contract(&key), expected.as_str());
                } else {
                    let expected = stellar_strkey::ed25519::PublicKey(key).to_string();
                    proptest::prop_assert_eq!(cache.account(&key), expected.as_str());
                    proptest::prop_assert_eq!(cache.strkey(&key), expected);
                }
            }
        }
    }

    #[test]
    fn decimals_match_display() {
        for v in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            assert_eq!(Decimal::u64(v).as_str(), v.to_string());
        }
        for v in [0, -1, 1, -10, 10, i64::from(i32::MIN), i64::MIN, i64::MIN + 1, i64::MAX] {
            assert_eq!(Decimal::i64(v).as_str(), v.to_string());
        }
    }

    proptest::proptest! {
        #[test]
        fn any_decimal_matches_display(u in proptest::prelude::any::<u64>(), i in proptest::prelude::any::<i64>()) {
            let (unsigned, signed) = (Decimal::u64(u), Decimal::i64(i));
            proptest::prop_assert_eq!(unsigned.as_str(), u.to_string());
            proptest::prop_assert_eq!(signed.as_str(), i.to_string());
        }
    }

    #[test]
    fn asset_codes_drop_padding() {
        assert_eq!(asset_code(b"USDC").as_str(), "USDC");
        assert_eq!(asset_code(b"AB\0\0").as_str(), "AB");
        assert_eq!(asset_code(b"LONGCODE\0\0\0\0").as_str(), "LONGCODE");
    }
}
