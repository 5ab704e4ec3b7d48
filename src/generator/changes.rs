//! Ledger entry changes: the `State` / `Updated` / `Created` entries that real transaction meta
//! carries for every entry a transaction touches.
//!
//! Real metas are mostly these changes (an account entry is about 150 bytes of XDR, and a
//! payment touches four before its operation does anything), and columns are derived from
//! them: `inclusion_fee_charged` from the fee account's balance in `fee_processing`,
//! `resource_fee_refund` from it in `post_tx_apply_fee_processing`. So the generator writes
//! them as stellar-core does for protocol 23:
//! - `fee_processing`: the fee account, charged the fee up front;
//! - `tx_changes_before`: the source account, its sequence number bumped (with the
//!   `seq_ledger` / `seq_time` extension protocol 19 added);
//! - each successful operation's `changes`: the accounts (native) and trust lines (credit
//!   assets) whose balances it moves, the accounts, trust lines and offers it creates, and the
//!   sub-entry counts those creations raise;
//! - `post_tx_apply_fee_processing`: the fee account again, when a Soroban transaction is
//!   refunded part of its resource fee.
//!
//! The [`EntryBook`] holds one ledger's entries. An entry's state when the ledger first meets
//! it is a function of its key and the ledger sequence alone (no draw from the ledger's RNG,
//! so the rest of the content does not depend on this module), and from then on each change
//! starts where the one before left it. Every `Updated` is therefore its `State` plus exactly
//! what the transaction did, and balances chain through a ledger's transactions in generation
//! order; they do not chain across ledgers (each ledger is a function of its sequence), so the
//! changes are realistic in shape and size, not a ledger state to replay. Balances start
//! above the largest amount the generator draws, so no debit overdraws one.

use std::collections::HashMap;

use stellar_xdr::{
    AccountEntry, AccountEntryExt, AccountEntryExtensionV1, AccountEntryExtensionV1Ext,
    AccountEntryExtensionV2, AccountEntryExtensionV2Ext, AccountEntryExtensionV3, Asset, ExtensionPoint,
    LedgerEntry, LedgerEntryChange, LedgerEntryChanges, LedgerEntryData, LedgerEntryExt, Liabilities,
    OfferEntry, SequenceNumber, String32, Thresholds, TimePoint, TrustLineAsset, TrustLineEntry,
    TrustLineEntryExt, Uint256, VecM,
};

use super::amounts::MAX_AMOUNT;
use super::universe::{AssetId, Universe, account_id};

/// `AUTHORIZED_FLAG`: what an issuer without auth requirements gives every trust line.
const TRUSTLINE_AUTHORIZED: u32 = 1;

/// What an operation does to ledger entries; [`EntryBook::apply`] turns a list into changes.
#[derive(Debug)]
pub(super) enum Effect {
    /// `holder`'s balance of `asset` moves by `delta` stroops: its account entry for the
    /// native asset, else its trust line.
    Balance { holder: Uint256, asset: AssetId, delta: i64 },
    /// A new account funded with `balance`.
    NewAccount { key: Uint256, balance: i64 },
    /// A new trust line of `holder` to `asset`; one more sub-entry on its account.
    NewTrustline { holder: Uint256, asset: AssetId, limit: i64 },
    /// An offer left on the book; one more sub-entry on its seller's account.
    NewOffer(OfferEntry),
}

#[derive(Debug, Clone, Copy)]
struct AccountState {
    balance: i64,
    seq_num: i64,
    num_sub_entries: u32,
    last_modified: u32,
    /// Ledger and close time of the last sequence bump (`AccountEntryExtensionV3`).
    seq_ledger: u32,
    seq_time: u64,
}

#[derive(Debug, Clone, Copy)]
struct TrustlineState {
    balance: i64,
    limit: i64,
    last_modified: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum EntryKey {
    Account([u8; 32]),
    Trustline([u8; 32], AssetId),
}

/// One ledger's account and trust-line entries, as the ledger's transactions leave them.
pub(super) struct EntryBook<'u> {
    universe: &'u Universe,
    sequence: u32,
    close_time: u64,
    accounts: HashMap<[u8; 32], AccountState>,
    trustlines: HashMap<([u8; 32], AssetId), TrustlineState>,
}

impl<'u> EntryBook<'u> {
    pub fn new(universe: &'u Universe, sequence: u32, close_time: u64) -> Self {
        EntryBook { universe, sequence, close_time, accounts: HashMap::new(), trustlines: HashMap::new() }
    }

    /// `fee_processing`: `fee` charged to `account` before the transactions are applied.
    pub fn charge_fee(&mut self, account: &Uint256, fee: i64) -> LedgerEntryChanges {
        self.account_change(account, |state| state.balance -= fee)
    }

    /// `post_tx_apply_fee_processing`: `refund` returned to `account` after all transactions.
    pub fn refund_fee(&mut self, account: &Uint256, refund: i64) -> LedgerEntryChanges {
        self.account_change(account, |state| state.balance += refund)
    }

    /// `tx_changes_before`: the source account's sequence number set to the transaction's.
    pub fn bump_sequence(&mut self, account: &Uint256, seq_num: i64) -> LedgerEntryChanges {
        let (sequence, close_time) = (self.sequence, self.close_time);
        self.account_change(account, |state| {
            state.seq_num = seq_num;
            state.seq_ledger = sequence;
            state.seq_time = close_time;
        })
    }

    /// An operation's `changes`: `State` then `Updated` for each existing entry it touches,
    /// in the order it first touches them, and `Created` for each entry it creates.
    pub fn apply(&mut self, effects: &[Effect]) -> LedgerEntryChanges {
        // Entries touched so far, each with its state before the operation.
        let mut touched: Vec<(EntryKey, LedgerEntry)> = Vec::with_capacity(effects.len() + 1);
        let mut created: Vec<(usize, LedgerEntry)> = Vec::new();
        for effect in effects {
            match effect {
                Effect::Balance { holder, asset: AssetId::Native, delta } => {
                    self.touch(&mut touched, EntryKey::Account(holder.0));
                    self.account_mut(holder).balance += delta;
                }
                Effect::Balance { holder, asset, delta } => {
                    self.touch(&mut touched, EntryKey::Trustline(holder.0, *asset));
                    self.trustline_mut(holder, *asset).balance += delta;
                }
                Effect::NewAccount { key, balance } => {
                    let state = AccountState {
                        balance: *balance,
                        // An account's first sequence number is its creation ledger << 32.
                        seq_num: i64::from(self.sequence) << 32,
                        num_sub_entries: 0,
                        last_modified: self.sequence,
                        seq_ledger: 0,
                        seq_time: 0,
                    };
                    self.accounts.insert(key.0, state);
                    created.push((touched.len(), self.account_entry(key, &state)));
                }
                Effect::NewTrustline { holder, asset, limit } => {
                    self.touch(&mut touched, EntryKey::Account(holder.0));
                    self.account_mut(holder).num_sub_entries += 1;
                    let state = TrustlineState { balance: 0, limit: *limit, last_modified: self.sequence };
                    self.trustlines.insert((holder.0, *asset), state);
                    created.push((touched.len(), self.trustline_entry(holder, *asset, &state)));
                }
                Effect::NewOffer(offer) => {
                    let stellar_xdr::PublicKey::PublicKeyTypeEd25519(seller) = &offer.seller_id.0;
                    self.touch(&mut touched, EntryKey::Account(seller.0));
                    self.account_mut(seller).num_sub_entries += 1;
                    let entry = LedgerEntry {
                        last_modified_ledger_seq: self.sequence,
                        data: LedgerEntryData::Offer(offer.clone()),
                        ext: LedgerEntryExt::V0,
                    };
                    created.push((touched.len(), entry));
                }
            }
        }
        let mut changes = Vec::with_capacity(2 * touched.len() + created.len());
        let mut created = created.into_iter().peekable();
        for (position, (key, before)) in touched.into_iter().enumerate() {
            while let Some((_, entry)) = created.next_if(|(at, _)| *at <= position) {
                changes.push(LedgerEntryChange::Created(entry));
            }
            changes.push(LedgerEntryChange::State(before));
            changes.push(LedgerEntryChange::Updated(self.entry(key)));
        }
        changes.extend(created.map(|(_, entry)| LedgerEntryChange::Created(entry)));
        LedgerEntryChanges(changes.try_into().expect("a few changes per operation"))
    }

    /// `State` and `Updated` of one account around `update`.
    fn account_change(
        &mut self,
        account: &Uint256,
        update: impl FnOnce(&mut AccountState),
    ) -> LedgerEntryChanges {
        let state = self.account_mut(account);
        let before = *state;
        update(state);
        let after = *state;
        let changes = vec![
            LedgerEntryChange::State(self.account_entry(account, &before)),
            LedgerEntryChange::Updated(self.account_entry(account, &after)),
        ];
        LedgerEntryChanges(changes.try_into().expect("two changes"))
    }

    /// Records `key`'s state before the operation the first time the operation touches it,
    /// and marks it modified in this ledger.
    fn touch(&mut self, touched: &mut Vec<(EntryKey, LedgerEntry)>, key: EntryKey) {
        if touched.iter().any(|(seen, _)| *seen == key) {
            return;
        }
        let before = self.entry(key);
        touched.push((key, before));
        match key {
            EntryKey::Account(k) => self.account_mut(&Uint256(k)).last_modified = self.sequence,
            EntryKey::Trustline(k, asset) => {
                let sequence = self.sequence;
                self.trustline_mut(&Uint256(k), asset).last_modified = sequence;
            }
        }
    }

    fn entry(&mut self, key: EntryKey) -> LedgerEntry {
        match key {
            EntryKey::Account(k) => {
                let key = Uint256(k);
                let state = *self.account_mut(&key);
                self.account_entry(&key, &state)
            }
            EntryKey::Trustline(k, asset) => {
                let key = Uint256(k);
                let state = *self.trustline_mut(&key, asset);
                self.trustline_entry(&key, asset, &state)
            }
        }
    }

    fn account_mut(&mut self, key: &Uint256) -> &mut AccountState {
        let sequence = self.sequence;
        self.accounts.entry(key.0).or_insert_with(|| {
            let h = mix(&key.0, u64::from(sequence));
            let last_modified = sequence.saturating_sub(1 + (h % 100_000) as u32).max(1);
            AccountState {
                balance: MAX_AMOUNT + (h >> 8) as i64 % MAX_AMOUNT,
                seq_num: (i64::from(last_modified / 2) << 32) | ((h >> 40) & 0xffff) as i64,
                num_sub_entries: (h % 7) as u32,
                last_modified,
                seq_ledger: last_modified,
                seq_time: 0,
            }
        })
    }

    fn trustline_mut(&mut self, holder: &Uint256, asset: AssetId) -> &mut TrustlineState {
        let sequence = self.sequence;
        self.trustlines.entry((holder.0, asset)).or_insert_with(|| {
            let h = mix(&holder.0, (u64::from(sequence) << 8) | asset as u64);
            TrustlineState {
                balance: MAX_AMOUNT + (h >> 8) as i64 % MAX_AMOUNT,
                limit: i64::MAX,
                last_modified: sequence.saturating_sub(1 + (h % 100_000) as u32).max(1),
            }
        })
    }

    fn account_entry(&self, key: &Uint256, state: &AccountState) -> LedgerEntry {
        let v3 = AccountEntryExtensionV3 {
            ext: ExtensionPoint::V0,
            seq_ledger: state.seq_ledger,
            seq_time: TimePoint(state.seq_time),
        };
        let v2 = AccountEntryExtensionV2 {
            num_sponsored: 0,
            num_sponsoring: 0,
            signer_sponsoring_i_ds: VecM::default(),
            ext: AccountEntryExtensionV2Ext::V3(v3),
        };
        let account = AccountEntry {
            account_id: account_id(key),
            balance: state.balance,
            seq_num: SequenceNumber(state.seq_num),
            num_sub_entries: state.num_sub_entries,
            inflation_dest: None,
            flags: 0,
            home_domain: String32::default(),
            thresholds: Thresholds([1, 0, 0, 0]),
            signers: VecM::default(),
            ext: AccountEntryExt::V1(AccountEntryExtensionV1 {
                liabilities: Liabilities { buying: 0, selling: 0 },
                ext: AccountEntryExtensionV1Ext::V2(v2),
            }),
        };
        LedgerEntry {
            last_modified_ledger_seq: state.last_modified,
            data: LedgerEntryData::Account(account),
            ext: LedgerEntryExt::V0,
        }
    }

    fn trustline_entry(&self, holder: &Uint256, asset: AssetId, state: &TrustlineState) -> LedgerEntry {
        let asset = match &self.universe.asset(asset).asset {
            Asset::CreditAlphanum4(a) => TrustLineAsset::CreditAlphanum4(a.clone()),
            Asset::CreditAlphanum12(a) => TrustLineAsset::CreditAlphanum12(a.clone()),
            Asset::Native => unreachable!("the native balance is in the account entry, not a trust line"),
        };
        let line = TrustLineEntry {
            account_id: account_id(holder),
            asset,
            balance: state.balance,
            limit: state.limit,
            flags: TRUSTLINE_AUTHORIZED,
            ext: TrustLineEntryExt::V0,
        };
        LedgerEntry {
            last_modified_ledger_seq: state.last_modified,
            data: LedgerEntryData::Trustline(line),
            ext: LedgerEntryExt::V0,
        }
    }
}

/// A 64-bit hash of a key and a salt (splitmix64 over its words): an entry's starting state
/// in a ledger, the same on every machine.
fn mix(key: &[u8; 32], salt: u64) -> u64 {
    let mut h = salt ^ 0x9E37_79B9_7F4A_7C15;
    for word in key.chunks_exact(8) {
        h ^= u64::from_le_bytes(word.try_into().expect("8 bytes"));
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    h
}
