//! The `details` column of `operations`: stellar-etl's per-type JSON object
//! (`extractOperationDetails`, stellar-etl-columns.md §4), written without `serde_json::Value`.
//!
//! A row's values are written once into a reused scratch buffer and recorded as
//! `(key, byte range)`; the object is then emitted with its keys sorted, as Go's
//! `encoding/json` sorts map keys. Nested objects are Go structs (`price_r`, `path`,
//! `claimants`, predicates) or `map[string]string` (`parameters`) and keep Go's field order.
//! Amounts are written as exact decimals of stroops ÷ 10^7 (Go prints the float64 nearest to
//! the same value). The helpers shared with the typed columns of `operations` (results, pool
//! deltas, footprints, prices) live here too, so both read the same facts the same way.
//! Nothing here panics on any decodable input: missing results or meta give stellar-etl's
//! failed-transaction values instead of its errors.

use std::fmt::Write as _;

use arrow::array::StringBuilder;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use stellar_xdr::{
    AccountId, Asset, ChangeTrustAsset, ClaimAtom, ClaimPredicate, ClaimableBalanceId, Claimant, ContractId,
    ContractIdPreimage, HostFunction, LedgerEntry, LedgerEntryChange, LedgerEntryData, LedgerEntryExt,
    LedgerKey, Limited, Limits, LiquidityPoolEntry, LiquidityPoolEntryBody, LiquidityPoolParameters,
    ManageBuyOfferResult, ManageOfferSuccessResultOffer, ManageSellOfferResult, MuxedAccount, Operation,
    OperationBody, OperationResult, OperationResultTr, PathPaymentStrictReceiveResult,
    PathPaymentStrictSendResult, PoolId, Price, ScAddress, ScVal, SignerKey, TransactionMeta, TrustLineAsset,
    WriteXdr,
};

use super::encode::{AssetParts, Decimal, MuxedParts, StrkeyCache, account_key, muxed_key};
use super::sc_val;
use crate::ledger::TxView;

/// One operation and what its details are derived from.
pub struct OpContext<'a> {
    pub tx: &'a TxView<'a>,
    /// 0-based position of the operation in its transaction.
    pub index: usize,
    pub op: &'a Operation,
    /// Operation source, else the (inner) transaction source.
    pub source: &'a MuxedAccount,
    /// `source` split into G / M strkeys (computed once for the columns and the details).
    pub source_parts: &'a MuxedParts,
    /// The transaction succeeded (stellar-etl `Successful()`).
    pub successful: bool,
}

impl<'a> OpContext<'a> {
    /// Inner result of this operation (`opINNER`), if the transaction has one for it.
    pub fn result(&self) -> Option<&'a OperationResultTr> {
        operation_result_tr(self.tx, self.index)
    }
}

/// Inner result (`tr`) of operation `index`: absent when the transaction has no operation
/// results (neither txSUCCESS nor txFAILED), when the list is shorter than the operations, or
/// when the operation failed before running (`opBAD_AUTH`, ...).
pub fn operation_result_tr<'a>(tx: &TxView<'a>, index: usize) -> Option<&'a OperationResultTr> {
    match tx.operation_results()?.get(index)? {
        OperationResult::OpInner(tr) => Some(tr),
        _ => None,
    }
}

/// Amount sent by a successful strict-receive path payment, in the send asset (Go
/// `PathPaymentStrictReceiveResult.SendAmount`: the leading run of claims buying the first
/// claim's asset, or the last payment when nothing was crossed).
pub fn strict_receive_send_amount(result: Option<&OperationResultTr>) -> Option<i64> {
    let Some(OperationResultTr::PathPaymentStrictReceive(PathPaymentStrictReceiveResult::Success(success))) =
        result
    else {
        return None;
    };
    let Some(first) = success.offers.first() else {
        return Some(success.last.amount);
    };
    let sent = claim_bought(first).0;
    let mut total: i64 = 0;
    for claim in success.offers.iter() {
        let (asset, amount) = claim_bought(claim);
        if asset != sent {
            break;
        }
        total = total.wrapping_add(amount);
    }
    Some(total)
}

fn claim_bought(claim: &ClaimAtom) -> (&Asset, i64) {
    match claim {
        ClaimAtom::V0(c) => (&c.asset_bought, c.amount_bought),
        ClaimAtom::OrderBook(c) => (&c.asset_bought, c.amount_bought),
        ClaimAtom::LiquidityPool(c) => (&c.asset_bought, c.amount_bought),
    }
}

/// Amount received by a successful strict-send path payment, in the destination asset.
pub fn strict_send_dest_amount(result: Option<&OperationResultTr>) -> Option<i64> {
    match result {
        Some(OperationResultTr::PathPaymentStrictSend(PathPaymentStrictSendResult::Success(s))) => {
            Some(s.last.amount)
        }
        _ => None,
    }
}

/// Id of the offer a manage/passive offer operation left on the book (created or updated).
pub fn resulting_offer_id(result: Option<&OperationResultTr>) -> Option<i64> {
    let offer = match result? {
        OperationResultTr::ManageSellOffer(ManageSellOfferResult::Success(s))
        | OperationResultTr::CreatePassiveSellOffer(ManageSellOfferResult::Success(s)) => &s.offer,
        OperationResultTr::ManageBuyOffer(ManageBuyOfferResult::Success(s)) => &s.offer,
        _ => return None,
    };
    match offer {
        ManageOfferSuccessResultOffer::Created(entry) | ManageOfferSuccessResultOffer::Updated(entry) => {
            Some(entry.offer_id)
        }
        ManageOfferSuccessResultOffer::Deleted => None,
    }
}

/// Ledger entry changes of operation `index` (empty for failed transactions and when the meta
/// has fewer operations).
pub fn operation_changes(meta: &TransactionMeta, index: usize) -> &[LedgerEntryChange] {
    let changes = match meta {
        TransactionMeta::V0(ops) => ops.get(index).map(|o| &o.changes),
        TransactionMeta::V1(m) => m.operations.get(index).map(|o| &o.changes),
        TransactionMeta::V2(m) => m.operations.get(index).map(|o| &o.changes),
        TransactionMeta::V3(m) => m.operations.get(index).map(|o| &o.changes),
        TransactionMeta::V4(m) => m.operations.get(index).map(|o| &o.changes),
    };
    changes.map_or(&[], |c| c.0.as_slice())
}

/// The changes as (before, after) pairs, like Go `ingest.Change`: `created` has no before,
/// `removed` no after; `state` entries only supply the before of the change that follows.
fn change_pairs(
    changes: &[LedgerEntryChange],
) -> impl Iterator<Item = (Option<&LedgerEntry>, Option<&LedgerEntry>)> {
    changes.iter().enumerate().filter_map(|(i, change)| {
        let state = || match i.checked_sub(1).and_then(|p| changes.get(p)) {
            Some(LedgerEntryChange::State(entry)) => Some(entry),
            _ => None,
        };
        match change {
            LedgerEntryChange::Created(entry) | LedgerEntryChange::Restored(entry) => {
                Some((None, Some(entry)))
            }
            LedgerEntryChange::Updated(entry) => Some((state(), Some(entry))),
            LedgerEntryChange::Removed(_) => state().map(|pre| (Some(pre), None)),
            LedgerEntryChange::State(_) => None,
        }
    })
}

/// A pool's state and its reserve/share deltas caused by one operation.
pub struct PoolDelta<'a> {
    pub pool: &'a LiquidityPoolEntry,
    pub reserve_a: i64,
    pub reserve_b: i64,
    pub total_pool_shares: i64,
}

/// Reserve deltas of pool `pool_id` in the changes of operation `index` (Go
/// `getLiquidityPoolAndProductDelta`).
pub fn pool_delta<'a>(tx: &TxView<'a>, index: usize, pool_id: &PoolId) -> Option<PoolDelta<'a>> {
    let pool_of = |entry: Option<&'a LedgerEntry>| match entry.map(|e| &e.data) {
        Some(LedgerEntryData::LiquidityPool(pool)) => Some(pool),
        _ => None,
    };
    for (pre, post) in change_pairs(operation_changes(tx.meta, index)) {
        let (pre, post) = (pool_of(pre), pool_of(post));
        let Some(pool) = post.or(pre) else { continue };
        if pre.is_some_and(|p| p.liquidity_pool_id != *pool_id)
            || post.is_some_and(|p| p.liquidity_pool_id != *pool_id)
        {
            continue;
        }
        let reserves = |p: Option<&LiquidityPoolEntry>| match p.map(|p| &p.body) {
            Some(LiquidityPoolEntryBody::LiquidityPoolConstantProduct(cp)) => {
                (cp.reserve_a, cp.reserve_b, cp.total_pool_shares)
            }
            None => (0, 0, 0),
        };
        let (a0, b0, s0) = reserves(pre);
        let (a1, b1, s1) = reserves(post);
        return Some(PoolDelta {
            pool,
            reserve_a: a1.wrapping_sub(a0),
            reserve_b: b1.wrapping_sub(b0),
            total_pool_shares: s1.wrapping_sub(s0),
        });
    }
    None
}

/// Pool id of a change-trust pool-share line: sha256 of the `LiquidityPoolParameters` XDR.
pub fn pool_share_id(params: &LiquidityPoolParameters) -> Option<[u8; 32]> {
    let mut hasher = HashWriter(Sha256::new());
    params.write_xdr(&mut Limited::new(&mut hasher, Limits::none())).ok()?;
    Some(hasher.0.finalize().into())
}

/// `io::Write` into a sha256, so XDR is hashed without an intermediate buffer.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// stellar-etl's `contract_id` for create/extend/restore: the contract of the first
/// ContractData key in the read-write footprint, else in the read-only one.
pub fn footprint_contract_id<'a>(tx: &TxView<'a>) -> Option<&'a ContractId> {
    let footprint = &tx.soroban_data()?.resources.footprint;
    footprint.read_write.iter().chain(footprint.read_only.iter()).find_map(|key| match key {
        LedgerKey::ContractData(data) => match &data.contract {
            ScAddress::Contract(id) => Some(id),
            _ => None,
        },
        _ => None,
    })
}

/// stellar-etl's offer price: n/d rounded half away from zero to 7 decimals (big.Rat
/// `FloatString(7)`), as the nearest float64. `None` when d is 0 (Go panics there).
pub fn stellar_etl_price(price: &Price) -> Option<f64> {
    if price.d == 0 {
        return None;
    }
    let negative = (price.n < 0) != (price.d < 0) && price.n != 0;
    let n = u64::from(price.n.unsigned_abs());
    let d = u64::from(price.d.unsigned_abs());
    // n < 2^31, so n * 10^7 < 2^55 fits; the 7-decimal value is q / 10^7.
    let scaled = n * 10_000_000;
    let mut q = scaled / d;
    if 2 * (scaled % d) >= d {
        q += 1;
    }
    let value = if q < (1 << 53) {
        // q is exact in f64, so one correctly rounded division gives the float nearest to
        // q / 10^7, as Go's ParseFloat of the decimal string does.
        q as f64 / 1e7
    } else {
        let mut s = heapless::String::<32>::new();
        let _ = write!(s, "{}.{:07}", q / 10_000_000, q % 10_000_000);
        s.parse().unwrap_or(f64::NAN)
    };
    Some(if negative { -value } else { value })
}

/// Writes the details JSON of operations into a reused buffer.
#[derive(Default)]
pub struct DetailsWriter {
    /// Values of the row being built, back to back.
    values: String,
    /// `(key, start, end)` of each value in `values`.
    fields: Vec<(&'static str, usize, usize)>,
    /// Scratch for XDR encodings (Soroban parameters and footprint keys).
    xdr: Vec<u8>,
    /// Base64 of each Soroban parameter, written to two keys.
    encoded: Vec<String>,
}

impl DetailsWriter {
    /// Appends the details object of `cx` to `out` as its next value, written straight into
    /// the builder's buffer.
    pub fn write(&mut self, cx: &OpContext<'_>, accounts: &mut StrkeyCache, out: &mut StringBuilder) {
        self.values.clear();
        self.fields.clear();
        self.fill(cx, accounts);
        self.fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        debug_assert!(self.fields.windows(2).all(|w| w[0].0 != w[1].0), "duplicate details key");
        // Writing to a builder cannot fail.
        let _ = out.write_char('{');
        for (i, &(key, start, end)) in self.fields.iter().enumerate() {
            if i > 0 {
                let _ = out.write_char(',');
            }
            let _ = out.write_char('"');
            let _ = out.write_str(key);
            let _ = out.write_str("\":");
            let _ = out.write_str(self.values.get(start..end).unwrap_or("null"));
        }
        let _ = out.write_char('}');
        out.append_value("");
    }

    fn fill(&mut self, cx: &OpContext<'_>, accounts: &mut StrkeyCache) {
        let mut o = Obj { values: &mut self.values, fields: &mut self.fields, accounts };
        let source = cx.source_parts;
        match &cx.op.body {
            OperationBody::CreateAccount(op) => {
                o.muxed(FUNDER, source);
                o.account("account", &op.destination);
                o.amount("starting_balance", op.starting_balance);
            }
            OperationBody::Payment(op) => {
                o.muxed(FROM, source);
                o.muxed_account(TO, &op.destination);
                o.amount("amount", op.amount);
                o.asset(ASSET, &op.asset);
            }
            OperationBody::PathPaymentStrictReceive(op) => {
                o.muxed(FROM, source);
                o.muxed_account(TO, &op.destination);
                o.amount("amount", op.dest_amount);
                let sent = cx.successful.then(|| strict_receive_send_amount(cx.result())).flatten();
                match sent {
                    Some(sent) => o.amount("source_amount", sent),
                    None => o.raw("source_amount", "\"0.0000000\""),
                }
                o.amount("source_max", op.send_max);
                o.asset(ASSET, &op.dest_asset);
                o.asset(SOURCE_ASSET, &op.send_asset);
                o.path(&op.path);
            }
            OperationBody::PathPaymentStrictSend(op) => {
                o.muxed(FROM, source);
                o.muxed_account(TO, &op.destination);
                let received = cx.successful.then(|| strict_send_dest_amount(cx.result())).flatten();
                match received {
                    Some(received) => o.amount("amount", received),
                    None => o.raw("amount", "\"0.0000000\""),
                }
                o.amount("source_amount", op.send_amount);
                o.field("destination_min", |w| push_stroops_7dp_string(w, op.dest_min));
                o.asset(ASSET, &op.dest_asset);
                o.asset(SOURCE_ASSET, &op.send_asset);
                o.path(&op.path);
            }
            OperationBody::ManageSellOffer(op) => {
                o.int("offer_id", op.offer_id);
                o.amount("amount", op.amount);
                o.price(PRICE, &op.price);
                o.asset(BUYING_ASSET, &op.buying);
                o.asset(SELLING_ASSET, &op.selling);
            }
            OperationBody::ManageBuyOffer(op) => {
                o.int("offer_id", op.offer_id);
                o.amount("amount", op.buy_amount);
                o.price(PRICE, &op.price);
                o.asset(BUYING_ASSET, &op.buying);
                o.asset(SELLING_ASSET, &op.selling);
            }
            OperationBody::CreatePassiveSellOffer(op) => {
                o.amount("amount", op.amount);
                o.price(PRICE, &op.price);
                o.asset(BUYING_ASSET, &op.buying);
                o.asset(SELLING_ASSET, &op.selling);
            }
            OperationBody::SetOptions(op) => {
                if let Some(dest) = &op.inflation_dest {
                    o.account("inflation_dest", dest);
                }
                if let Some(flags) = op.set_flags.filter(|&f| f > 0) {
                    o.account_flags("set_flags", "set_flags_s", flags);
                }
                if let Some(flags) = op.clear_flags.filter(|&f| f > 0) {
                    o.account_flags("clear_flags", "clear_flags_s", flags);
                }
                let optional_u32 = [
                    ("master_key_weight", op.master_weight),
                    ("low_threshold", op.low_threshold),
                    ("med_threshold", op.med_threshold),
                    ("high_threshold", op.high_threshold),
                ];
                for (key, value) in optional_u32 {
                    if let Some(value) = value {
                        o.uint(key, u64::from(value));
                    }
                }
                if let Some(domain) = &op.home_domain {
                    o.bytes_text("home_domain", domain.0.as_slice());
                }
                if let Some(signer) = &op.signer {
                    o.signer_key("signer_key", &signer.key);
                    o.uint("signer_weight", u64::from(signer.weight));
                }
            }
            OperationBody::ChangeTrust(op) => {
                match &op.line {
                    ChangeTrustAsset::PoolShare(params) => {
                        o.plain("asset_type", "liquidity_pool_shares");
                        // Go computes the id with xdr.NewPoolId, which also rejects unordered
                        // assets; the hash is the same for ordered ones.
                        if let Some(id) = pool_share_id(params) {
                            o.pool_id(&id);
                        }
                    }
                    line => {
                        let parts = o.accounts.change_trust_asset(line);
                        o.asset_parts(ASSET, &parts);
                        match &parts.issuer {
                            Some(issuer) => o.plain("trustee", issuer),
                            None => o.null("trustee"),
                        }
                    }
                }
                o.muxed(TRUSTOR, source);
                o.amount("limit", op.limit);
            }
            OperationBody::AllowTrust(op) => {
                let parts = o.accounts.allow_trust_asset(&op.asset, cx.source);
                o.asset_parts(ASSET, &parts);
                o.muxed(TRUSTEE, source);
                o.account("trustor", &op.trustor);
                o.boolean("authorize", op.authorize & 1 != 0);
                if op.authorize & 2 != 0 {
                    o.boolean("authorize_to_maintain_liabilities", true);
                }
                if op.authorize & 4 != 0 {
                    o.boolean("clawback_enabled", true);
                }
            }
            OperationBody::AccountMerge(destination) => {
                o.muxed(ACCOUNT, source);
                o.muxed_account(INTO, destination);
            }
            OperationBody::Inflation => {}
            OperationBody::ManageData(op) => {
                o.bytes_text("name", op.data_name.0.as_slice());
                match &op.data_value {
                    Some(value) => o.field("value", |w| {
                        w.push('"');
                        base64::engine::general_purpose::STANDARD.encode_string(value.0.as_slice(), w);
                        w.push('"');
                    }),
                    None => o.null("value"),
                }
            }
            OperationBody::BumpSequence(op) => {
                o.field("bump_to", |w| {
                    let _ = write!(w, "\"{}\"", op.bump_to.0);
                });
            }
            OperationBody::CreateClaimableBalance(op) => {
                o.field_with_accounts("asset", |w, accounts| push_canonical_asset(w, accounts, &op.asset));
                o.amount("amount", op.amount);
                o.field_with_accounts("claimants", |w, accounts| {
                    push_claimants(w, accounts, op.claimants.as_slice())
                });
            }
            OperationBody::ClaimClaimableBalance(op) => {
                o.balance_id("balance_id", "balance_id_strkey", &op.balance_id);
                o.muxed(CLAIMANT, source);
            }
            OperationBody::BeginSponsoringFutureReserves(op) => {
                o.account("sponsored_id", &op.sponsored_id);
            }
            OperationBody::EndSponsoringFutureReserves => {
                if let Some(begin_source) = initiating_begin_sponsor(cx) {
                    o.muxed_account(BEGIN_SPONSOR, &begin_source);
                }
            }
            OperationBody::RevokeSponsorship(op) => match op {
                stellar_xdr::RevokeSponsorshipOp::LedgerEntry(key) => o.revoked_ledger_key(key),
                stellar_xdr::RevokeSponsorshipOp::Signer(signer) => {
                    o.account("signer_account_id", &signer.account_id);
                    o.signer_key("signer_key", &signer.signer_key);
                }
            },
            OperationBody::Clawback(op) => {
                o.asset(ASSET, &op.asset);
                o.muxed_account(FROM, &op.from);
                o.amount("amount", op.amount);
            }
            OperationBody::ClawbackClaimableBalance(op) => {
                o.balance_id("balance_id", "balance_id_strkey", &op.balance_id);
            }
            OperationBody::SetTrustLineFlags(op) => {
                o.account("trustor", &op.trustor);
                o.asset(ASSET, &op.asset);
                if op.set_flags > 0 {
                    o.trust_line_flags("set_flags", "set_flags_s", op.set_flags);
                }
                if op.clear_flags > 0 {
                    o.trust_line_flags("clear_flags", "clear_flags_s", op.clear_flags);
                }
            }
            OperationBody::LiquidityPoolDeposit(op) => {
                o.pool_id(&op.liquidity_pool_id.0.0);
                // Failed transactions (and, defensively, a missing pool change) keep Go's zero
                // values: the zero Asset is native and the amounts are 0.
                let delta =
                    cx.successful.then(|| pool_delta(cx.tx, cx.index, &op.liquidity_pool_id)).flatten();
                let (asset_a, asset_b) = pool_assets(delta.as_ref());
                let (deposit_a, deposit_b, shares) =
                    delta.as_ref().map_or((0, 0, 0), |d| (d.reserve_a, d.reserve_b, d.total_pool_shares));
                o.asset(RESERVE_A_ASSET, asset_a);
                o.amount("reserve_a_max_amount", op.max_amount_a);
                o.amount("reserve_a_deposit_amount", deposit_a);
                o.asset(RESERVE_B_ASSET, asset_b);
                o.amount("reserve_b_max_amount", op.max_amount_b);
                o.amount("reserve_b_deposit_amount", deposit_b);
                o.price(MIN_PRICE, &op.min_price);
                o.price(MAX_PRICE, &op.max_price);
                o.amount("shares_received", shares);
            }
            OperationBody::LiquidityPoolWithdraw(op) => {
                o.pool_id(&op.liquidity_pool_id.0.0);
                let delta =
                    cx.successful.then(|| pool_delta(cx.tx, cx.index, &op.liquidity_pool_id)).flatten();
                let (asset_a, asset_b) = pool_assets(delta.as_ref());
                let (received_a, received_b) = delta
                    .as_ref()
                    .map_or((0, 0), |d| (d.reserve_a.wrapping_neg(), d.reserve_b.wrapping_neg()));
                o.asset(RESERVE_A_ASSET, asset_a);
                o.amount("reserve_a_min_amount", op.min_amount_a);
                o.amount("reserve_a_withdraw_amount", received_a);
                o.asset(RESERVE_B_ASSET, asset_b);
                o.amount("reserve_b_min_amount", op.min_amount_b);
                o.amount("reserve_b_withdraw_amount", received_b);
                o.amount("shares", op.amount);
            }
            OperationBody::InvokeHostFunction(op) => {
                let (function, kind) = match &op.host_function {
                    HostFunction::InvokeContract(_) => {
                        ("HostFunctionTypeHostFunctionTypeInvokeContract", "invoke_contract")
                    }
                    HostFunction::CreateContract(_) => {
                        ("HostFunctionTypeHostFunctionTypeCreateContract", "create_contract")
                    }
                    HostFunction::UploadContractWasm(_) => {
                        ("HostFunctionTypeHostFunctionTypeUploadContractWasm", "upload_wasm")
                    }
                    HostFunction::CreateContractV2(_) => {
                        ("HostFunctionTypeHostFunctionTypeCreateContractV2", "create_contract_v2")
                    }
                };
                o.plain("function", function);
                o.plain("type", kind);
                o.ledger_key_hashes(cx.tx, &mut self.xdr);
                o.null("contract_code_hash");
                match &op.host_function {
                    HostFunction::InvokeContract(args) => {
                        o.field_with_accounts("contract_id", |w, strkeys| {
                            w.push('"');
                            let _ = strkeys.write_sc_address(w, &args.contract_address);
                            w.push('"');
                        });
                        let head = [
                            ScVal::Address(args.contract_address.clone()),
                            ScVal::Symbol(args.function_name.clone()),
                        ];
                        let params = head.iter().chain(args.args.iter());
                        o.parameters(params, &mut self.xdr, &mut self.encoded);
                    }
                    HostFunction::CreateContract(args) => {
                        o.footprint_contract_id(cx.tx);
                        o.contract_preimage(&args.contract_id_preimage);
                    }
                    HostFunction::UploadContractWasm(_) => {}
                    HostFunction::CreateContractV2(args) => {
                        o.footprint_contract_id(cx.tx);
                        o.contract_preimage(&args.contract_id_preimage);
                        o.parameters(args.constructor_args.iter(), &mut self.xdr, &mut self.encoded);
                    }
                }
            }
            OperationBody::ExtendFootprintTtl(op) => {
                o.plain("type", "extend_footprint_ttl");
                o.uint("extend_to", u64::from(op.extend_to));
                o.ledger_key_hashes(cx.tx, &mut self.xdr);
                o.footprint_contract_id(cx.tx);
                o.null("contract_code_hash");
            }
            OperationBody::RestoreFootprint(_) => {
                o.plain("type", "restore_footprint");
                o.ledger_key_hashes(cx.tx, &mut self.xdr);
                o.footprint_contract_id(cx.tx);
                o.null("contract_code_hash");
            }
        }
        if let Some(sponsor) = sponsor(cx) {
            o.account("sponsor", sponsor);
        }
    }
}

/// Assets of a pool from its entry, or Go's zero values (native) without one.
fn pool_assets<'a>(delta: Option<&PoolDelta<'a>>) -> (&'a Asset, &'a Asset) {
    static NATIVE: Asset = Asset::Native;
    match delta.map(|d| &d.pool.body) {
        Some(LiquidityPoolEntryBody::LiquidityPoolConstantProduct(cp)) => {
            (&cp.params.asset_a, &cp.params.asset_b)
        }
        None => (&NATIVE, &NATIVE),
    }
}

/// Source of the nearest earlier begin-sponsoring operation whose sponsored id is this
/// operation's source (stellar-etl `findInitatingBeginSponsoringOp`); successful transactions
/// only, as their sandwich structure is known to be valid.
fn initiating_begin_sponsor(cx: &OpContext<'_>) -> Option<MuxedAccount> {
    if !cx.successful {
        return None;
    }
    let sponsoree = muxed_key(cx.source);
    let operations = cx.tx.operations();
    let earlier = operations.get(..cx.index)?;
    earlier.iter().rev().find_map(|op| match &op.body {
        OperationBody::BeginSponsoringFutureReserves(begin)
            if account_key(&begin.sponsored_id) == sponsoree =>
        {
            Some(op.source_account.clone().unwrap_or_else(|| cx.tx.source_account()))
        }
        _ => None,
    })
}

/// stellar-etl `getSponsor`: the sponsor of a ledger entry (or, for set_options, of the
/// signer) that this operation created. Go scans the changes sorted by ledger key, so with
/// several candidates the one with the smallest key XDR wins.
fn sponsor<'a>(cx: &OpContext<'a>) -> Option<&'a AccountId> {
    let changes = operation_changes(cx.tx.meta, cx.index);
    if changes.is_empty() {
        return None;
    }
    let signer_key = match &cx.op.body {
        OperationBody::SetOptions(op) => op.signer.as_ref().map(|s| &s.key),
        _ => None,
    };
    let mut best: Option<(&'a LedgerEntry, &'a AccountId)> = None;
    let mut best_key: Option<Vec<u8>> = None;
    for (pre, post) in change_pairs(changes) {
        let Some(post) = post else { continue };
        let candidate = signer_key
            .and_then(|key| new_signer_sponsor(key, pre, post))
            .or_else(|| if pre.is_none() { entry_sponsor(post) } else { None });
        let Some(candidate) = candidate else { continue };
        match best {
            None => best = Some((post, candidate)),
            Some((best_entry, _)) => {
                let key_xdr = |entry: &LedgerEntry| entry.to_key().to_xdr(Limits::none()).ok();
                if best_key.is_none() {
                    best_key = key_xdr(best_entry);
                }
                let this_key = key_xdr(post);
                if let (Some(this), Some(current)) = (&this_key, &best_key)
                    && this < current
                {
                    best = Some((post, candidate));
                    best_key = this_key;
                }
            }
        }
    }
    best.map(|(_, sponsor)| sponsor)
}

fn entry_sponsor(entry: &LedgerEntry) -> Option<&AccountId> {
    match &entry.ext {
        LedgerEntryExt::V1(v1) => v1.sponsoring_id.0.as_ref(),
        LedgerEntryExt::V0 => None,
    }
}

/// Sponsor of `signer` in the account after the change, unless it had the same sponsor before.
fn new_signer_sponsor<'a>(
    signer: &SignerKey,
    pre: Option<&'a LedgerEntry>,
    post: &'a LedgerEntry,
) -> Option<&'a AccountId> {
    let sponsor_of = |entry: &'a LedgerEntry| -> Option<&'a AccountId> {
        let LedgerEntryData::Account(account) = &entry.data else { return None };
        let position = account.signers.iter().position(|s| s.key == *signer)?;
        let stellar_xdr::AccountEntryExt::V1(v1) = &account.ext else { return None };
        let stellar_xdr::AccountEntryExtensionV1Ext::V2(v2) = &v1.ext else { return None };
        v2.signer_sponsoring_i_ds.get(position)?.0.as_ref()
    };
    let LedgerEntryData::Account(_) = &post.data else { return None };
    let after = sponsor_of(post)?;
    match pre.and_then(sponsor_of) {
        Some(before) if before == after => None,
        _ => Some(after),
    }
}

/// Key names of an account written as stellar-etl's `X`, `X_muxed`, `X_muxed_id`.
struct MuxedKeys(&'static str, &'static str, &'static str);

const FUNDER: MuxedKeys = MuxedKeys("funder", "funder_muxed", "funder_muxed_id");
const FROM: MuxedKeys = MuxedKeys("from", "from_muxed", "from_muxed_id");
const TO: MuxedKeys = MuxedKeys("to", "to_muxed", "to_muxed_id");
const TRUSTOR: MuxedKeys = MuxedKeys("trustor", "trustor_muxed", "trustor_muxed_id");
const TRUSTEE: MuxedKeys = MuxedKeys("trustee", "trustee_muxed", "trustee_muxed_id");
const ACCOUNT: MuxedKeys = MuxedKeys("account", "account_muxed", "account_muxed_id");
const INTO: MuxedKeys = MuxedKeys("into", "into_muxed", "into_muxed_id");
const CLAIMANT: MuxedKeys = MuxedKeys("claimant", "claimant_muxed", "claimant_muxed_id");
const BEGIN_SPONSOR: MuxedKeys = MuxedKeys("begin_sponsor", "begin_sponsor_muxed", "begin_sponsor_muxed_id");

/// Key names of an asset group: `P_asset_type`, `P_asset_code`, `P_asset_issuer`.
struct AssetKeys(&'static str, &'static str, &'static str);

const ASSET: AssetKeys = AssetKeys("asset_type", "asset_code", "asset_issuer");
const SOURCE_ASSET: AssetKeys = AssetKeys("source_asset_type", "source_asset_code", "source_asset_issuer");
const BUYING_ASSET: AssetKeys = AssetKeys("buying_asset_type", "buying_asset_code", "buying_asset_issuer");
const SELLING_ASSET: AssetKeys =
    AssetKeys("selling_asset_type", "selling_asset_code", "selling_asset_issuer");
const RESERVE_A_ASSET: AssetKeys =
    AssetKeys("reserve_a_asset_type", "reserve_a_asset_code", "reserve_a_asset_issuer");
const RESERVE_B_ASSET: AssetKeys =
    AssetKeys("reserve_b_asset_type", "reserve_b_asset_code", "reserve_b_asset_issuer");

/// Key names of a price: `P_price` and `P_price_r`.
struct PriceKeys(&'static str, &'static str);

const PRICE: PriceKeys = PriceKeys("price", "price_r");
const MIN_PRICE: PriceKeys = PriceKeys("min_price", "min_price_r");
const MAX_PRICE: PriceKeys = PriceKeys("max_price", "max_price_r");

/// The object being built: values go to `values`, their places to `fields`.
struct Obj<'w> {
    values: &'w mut String,
    fields: &'w mut Vec<(&'static str, usize, usize)>,
    accounts: &'w mut StrkeyCache,
}

impl Obj<'_> {
    fn field(&mut self, key: &'static str, write: impl FnOnce(&mut String)) {
        let start = self.values.len();
        write(self.values);
        self.fields.push((key, start, self.values.len()));
    }

    /// [`Obj::field`] for values that name accounts.
    fn field_with_accounts(&mut self, key: &'static str, write: impl FnOnce(&mut String, &mut StrkeyCache)) {
        let start = self.values.len();
        write(self.values, self.accounts);
        self.fields.push((key, start, self.values.len()));
    }

    fn raw(&mut self, key: &'static str, json: &str) {
        self.field(key, |w| w.push_str(json));
    }

    fn null(&mut self, key: &'static str) {
        self.raw(key, "null");
    }

    fn boolean(&mut self, key: &'static str, value: bool) {
        self.raw(key, if value { "true" } else { "false" });
    }

    /// A string that needs no escaping (strkeys, hex, fixed names).
    fn plain(&mut self, key: &'static str, value: &str) {
        self.field(key, |w| {
            w.push('"');
            w.push_str(value);
            w.push('"');
        });
    }

    fn bytes_text(&mut self, key: &'static str, bytes: &[u8]) {
        self.field(key, |w| push_json_bytes(w, bytes));
    }

    fn int(&mut self, key: &'static str, value: i64) {
        self.field(key, |w| w.push_str(Decimal::i64(value).as_str()));
    }

    fn uint(&mut self, key: &'static str, value: u64) {
        self.field(key, |w| w.push_str(Decimal::u64(value).as_str()));
    }

    fn amount(&mut self, key: &'static str, stroops: i64) {
        self.field(key, |w| push_stroops_decimal(w, stroops));
    }

    fn account(&mut self, key: &'static str, account: &AccountId) {
        self.g_address(key, account_key(account));
    }

    /// The G-strkey of `ed25519` as a string value, straight from the cache.
    fn g_address(&mut self, key: &'static str, ed25519: &[u8; 32]) {
        let start = self.values.len();
        self.values.push('"');
        self.values.push_str(self.accounts.account(ed25519));
        self.values.push('"');
        self.fields.push((key, start, self.values.len()));
    }

    fn muxed_account(&mut self, keys: MuxedKeys, account: &MuxedAccount) {
        match account {
            MuxedAccount::Ed25519(key) => self.g_address(keys.0, &key.0),
            MuxedAccount::MuxedEd25519(_) => {
                let parts = self.accounts.muxed(account);
                self.muxed(keys, &parts);
            }
        }
    }

    fn muxed(&mut self, keys: MuxedKeys, parts: &MuxedParts) {
        self.plain(keys.0, &parts.account);
        if let (Some(muxed), Some(id)) = (&parts.muxed, parts.muxed_id) {
            self.plain(keys.1, muxed);
            self.uint(keys.2, id);
        }
    }

    fn asset(&mut self, keys: AssetKeys, asset: &Asset) {
        let parts = self.accounts.asset(asset);
        self.asset_parts(keys, &parts);
    }

    fn asset_parts(&mut self, keys: AssetKeys, parts: &AssetParts) {
        self.plain(keys.0, parts.asset_type);
        if let (Some(code), Some(issuer)) = (&parts.code, &parts.issuer) {
            self.field(keys.1, |w| push_json_str(w, code));
            self.plain(keys.2, issuer);
        }
    }

    fn price(&mut self, keys: PriceKeys, price: &Price) {
        self.field(keys.0, |w| match stellar_etl_price(price) {
            Some(value) => push_go_float(w, value),
            None => w.push_str("null"),
        });
        self.field(keys.1, |w| {
            w.push_str("{\"n\":");
            w.push_str(Decimal::i64(i64::from(price.n)).as_str());
            w.push_str(",\"d\":");
            w.push_str(Decimal::i64(i64::from(price.d)).as_str());
            w.push('}');
        });
    }

    fn pool_id(&mut self, id: &[u8; 32]) {
        self.field("liquidity_pool_id", |w| push_hex_str(w, id));
        self.plain("liquidity_pool_id_strkey", &stellar_strkey::LiquidityPool(*id).to_string());
    }

    fn balance_id(&mut self, key: &'static str, strkey_key: &'static str, id: &ClaimableBalanceId) {
        self.field(key, |w| {
            w.push('"');
            push_balance_id_hex(w, id);
            w.push('"');
        });
        let ClaimableBalanceId::ClaimableBalanceIdTypeV0(hash) = id;
        let strkey = stellar_strkey::ClaimableBalance::V0(hash.0).to_string();
        self.plain(strkey_key, &strkey);
    }

    fn signer_key(&mut self, key: &'static str, signer: &SignerKey) {
        self.field(key, |w| {
            w.push('"');
            let _ = write!(w, "{signer}");
            w.push('"');
        });
    }

    fn path(&mut self, path: &[Asset]) {
        self.field_with_accounts("path", |w, accounts| {
            if path.is_empty() {
                w.push_str("null");
                return;
            }
            w.push('[');
            for (i, asset) in path.iter().enumerate() {
                if i > 0 {
                    w.push(',');
                }
                // Go struct Path{asset_code, asset_issuer, asset_type}, "" for native.
                let parts = accounts.asset(asset);
                w.push_str("{\"asset_code\":");
                push_json_str(w, parts.code.as_deref().unwrap_or(""));
                w.push_str(",\"asset_issuer\":\"");
                w.push_str(parts.issuer.as_deref().unwrap_or(""));
                w.push_str("\",\"asset_type\":\"");
                w.push_str(parts.asset_type);
                w.push_str("\"}");
            }
            w.push(']');
        });
    }

    fn account_flags(&mut self, key: &'static str, names_key: &'static str, flags: u32) {
        const NAMES: [(u32, &str); 4] = [
            (1, "auth_required"),
            (2, "auth_revocable"),
            (4, "auth_immutable"),
            (8, "auth_clawback_enabled"),
        ];
        // Go builds these with make(), so no known bit gives [] rather than null.
        self.flag_lists(key, names_key, flags, &NAMES, "[]");
    }

    fn trust_line_flags(&mut self, key: &'static str, names_key: &'static str, flags: u32) {
        const NAMES: [(u32, &str); 3] =
            [(1, "authorized"), (2, "authorized_to_maintain_liabilities"), (4, "clawback_enabled")];
        // Go appends to nil slices here, so no known bit gives null.
        self.flag_lists(key, names_key, flags, &NAMES, "null");
    }

    fn flag_lists(
        &mut self,
        key: &'static str,
        names_key: &'static str,
        flags: u32,
        names: &[(u32, &str)],
        empty: &str,
    ) {
        let known = || names.iter().filter(move |(bit, _)| flags & bit != 0);
        let any = known().next().is_some();
        self.field(key, |w| {
            if !any {
                w.push_str(empty);
                return;
            }
            w.push('[');
            for (i, (bit, _)) in known().enumerate() {
                if i > 0 {
                    w.push(',');
                }
                let _ = write!(w, "{bit}");
            }
            w.push(']');
        });
        self.field(names_key, |w| {
            if !any {
                w.push_str(empty);
                return;
            }
            w.push('[');
            for (i, (_, name)) in known().enumerate() {
                if i > 0 {
                    w.push(',');
                }
                w.push('"');
                w.push_str(name);
                w.push('"');
            }
            w.push(']');
        });
    }

    /// stellar-etl `addLedgerKeyToDetails` (+ the `_strkey` keys of its current version).
    fn revoked_ledger_key(&mut self, key: &LedgerKey) {
        match key {
            LedgerKey::Account(k) => self.account("account_id", &k.account_id),
            LedgerKey::ClaimableBalance(k) => {
                self.balance_id("claimable_balance_id", "claimable_balance_id_strkey", &k.balance_id)
            }
            LedgerKey::Data(k) => {
                self.account("data_account_id", &k.account_id);
                self.bytes_text("data_name", k.data_name.0.as_slice());
            }
            LedgerKey::Offer(k) => self.int("offer_id", k.offer_id),
            LedgerKey::Trustline(k) => {
                self.account("trustline_account_id", &k.account_id);
                match &k.asset {
                    TrustLineAsset::PoolShare(id) => {
                        self.field("trustline_liquidity_pool_id", |w| push_hex_str(w, &id.0.0));
                        let strkey = stellar_strkey::LiquidityPool(id.0.0).to_string();
                        self.plain("trustline_liquidity_pool_id_strkey", &strkey);
                    }
                    asset => {
                        let parts = self.accounts.trust_line_asset(asset);
                        self.field("trustline_asset", |w| push_canonical_parts(w, &parts));
                    }
                }
            }
            LedgerKey::LiquidityPool(k) => self.pool_id(&k.liquidity_pool_id.0.0),
            LedgerKey::ContractData(_)
            | LedgerKey::ContractCode(_)
            | LedgerKey::ConfigSetting(_)
            | LedgerKey::Ttl(_) => {}
        }
    }

    /// `ledger_key_hash`: hex sha256 of each footprint key XDR, read-only first; null if none.
    fn ledger_key_hashes(&mut self, tx: &TxView<'_>, xdr: &mut Vec<u8>) {
        let footprint = tx.soroban_data().map(|data| &data.resources.footprint);
        let keys = footprint.into_iter().flat_map(|f| f.read_only.iter().chain(f.read_write.iter()));
        self.field("ledger_key_hash", |w| {
            let mut count = 0;
            for key in keys {
                xdr.clear();
                if key.write_xdr(&mut Limited::new(&mut *xdr, Limits::none())).is_err() {
                    continue;
                }
                w.push(if count == 0 { '[' } else { ',' });
                let digest: [u8; 32] = Sha256::digest(xdr.as_slice()).into();
                push_hex_str(w, &digest);
                count += 1;
            }
            w.push_str(if count == 0 { "null" } else { "]" });
        });
    }

    /// `contract_id` of create/extend/restore; "" when the footprint names no contract.
    fn footprint_contract_id(&mut self, tx: &TxView<'_>) {
        self.field_with_accounts("contract_id", |w, strkeys| {
            w.push('"');
            if let Some(id) = footprint_contract_id(tx) {
                w.push_str(strkeys.contract(&id.0.0));
            }
            w.push('"');
        });
    }

    fn contract_preimage(&mut self, preimage: &ContractIdPreimage) {
        match preimage {
            ContractIdPreimage::Address(from) => {
                self.plain("from", "address");
                self.field_with_accounts("address", |w, strkeys| {
                    w.push('"');
                    let _ = strkeys.write_sc_address(w, &from.address);
                    w.push('"');
                });
            }
            ContractIdPreimage::Asset(asset) => {
                self.plain("from", "asset");
                self.field_with_accounts("asset", |w, accounts| push_canonical_asset(w, accounts, asset));
            }
        }
    }

    /// `parameters` ({type, value: base64 XDR}), `parameters_json` (base64 XDR) and
    /// `parameters_json_decoded` (stellar-xdr serde JSON, what go-stellar-xdr-json returns).
    fn parameters<'v>(
        &mut self,
        params: impl Iterator<Item = &'v ScVal> + Clone,
        xdr: &mut Vec<u8>,
        encoded: &mut Vec<String>,
    ) {
        let mut count = 0;
        for param in params.clone() {
            if encoded.len() <= count {
                encoded.push(String::new());
            }
            let slot = &mut encoded[count];
            slot.clear();
            // Empty only when encoding failed: an ScVal's XDR has at least its discriminant.
            sc_val::write_xdr(param, xdr);
            if xdr.is_empty() {
                slot.push_str("n/a");
            } else {
                base64::engine::general_purpose::STANDARD.encode_string(xdr.as_slice(), slot);
            }
            count += 1;
        }
        let encoded = &encoded[..count];
        self.field("parameters", |w| {
            w.push('[');
            for (i, (param, value)) in params.clone().zip(encoded).enumerate() {
                if i > 0 {
                    w.push(',');
                }
                w.push_str("{\"type\":\"");
                w.push_str(sc_val_go_arm(param));
                w.push_str("\",\"value\":\"");
                w.push_str(value);
                w.push_str("\"}");
            }
            w.push(']');
        });
        self.field("parameters_json", |w| {
            w.push('[');
            for (i, value) in encoded.iter().enumerate() {
                if i > 0 {
                    w.push(',');
                }
                w.push('"');
                w.push_str(value);
                w.push('"');
            }
            w.push(']');
        });
        self.field_with_accounts("parameters_json_decoded", |w, strkeys| {
            w.push('[');
            for (i, param) in params.enumerate() {
                if i > 0 {
                    w.push(',');
                }
                xdr.clear();
                sc_val::write_json(param, strkeys, xdr);
                // SEP-51 JSON is ASCII.
                w.push_str(std::str::from_utf8(xdr).unwrap_or("null"));
            }
            w.push(']');
        });
    }
}

/// Go's union arm name of an ScVal (`ArmForSwitch`), stellar-etl's parameter `type`.
fn sc_val_go_arm(value: &ScVal) -> &'static str {
    match value {
        ScVal::Bool(_) => "B",
        ScVal::Void => "",
        ScVal::Error(_) => "Error",
        ScVal::U32(_) => "U32",
        ScVal::I32(_) => "I32",
        ScVal::U64(_) => "U64",
        ScVal::I64(_) => "I64",
        ScVal::Timepoint(_) => "Timepoint",
        ScVal::Duration(_) => "Duration",
        ScVal::U128(_) => "U128",
        ScVal::I128(_) => "I128",
        ScVal::U256(_) => "U256",
        ScVal::I256(_) => "I256",
        ScVal::Bytes(_) => "Bytes",
        ScVal::String(_) => "Str",
        ScVal::Symbol(_) => "Sym",
        ScVal::Vec(_) => "Vec",
        ScVal::Map(_) => "Map",
        ScVal::Address(_) => "Address",
        ScVal::ContractInstance(_) => "Instance",
        ScVal::LedgerKeyContractInstance => "",
        ScVal::LedgerKeyNonce(_) => "NonceKey",
        // Newer than the Go SDK stellar-etl builds on; named like the other arms.
        ScVal::ExecutableTag(_) => "ExecutableTag",
    }
}

/// `native` or `CODE:ISSUER` (Go `Asset.StringCanonical`), as a JSON string.
fn push_canonical_asset(out: &mut String, accounts: &mut StrkeyCache, asset: &Asset) {
    push_canonical_parts(out, &accounts.asset(asset));
}

fn push_canonical_parts(out: &mut String, parts: &AssetParts) {
    match (&parts.code, &parts.issuer) {
        (Some(code), Some(issuer)) => {
            let mut canonical = heapless::String::<{ 12 + 1 + 56 }>::new();
            let _ = canonical.push_str(code);
            let _ = canonical.push(':');
            let _ = canonical.push_str(issuer);
            push_json_str(out, &canonical);
        }
        _ => out.push_str("\"native\""),
    }
}

/// Claimants as Go `[]Claimant{destination, predicate}`; null when there are none.
fn push_claimants(out: &mut String, accounts: &mut StrkeyCache, claimants: &[Claimant]) {
    if claimants.is_empty() {
        out.push_str("null");
        return;
    }
    out.push('[');
    for (i, Claimant::ClaimantTypeV0(claimant)) in claimants.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"destination\":\"");
        out.push_str(&accounts.account_id(&claimant.destination));
        out.push_str("\",\"predicate\":");
        push_predicate(out, &claimant.predicate);
        out.push('}');
    }
    out.push(']');
}

/// A claim predicate as Go's `claimPredicateJSON` (fields in struct order, empty ones omitted).
fn push_predicate(out: &mut String, predicate: &ClaimPredicate) {
    let list = |out: &mut String, key: &str, items: &[ClaimPredicate]| {
        out.push_str(key);
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_predicate(out, item);
        }
        out.push_str("]}");
    };
    match predicate {
        ClaimPredicate::Unconditional => out.push_str("{\"unconditional\":true}"),
        ClaimPredicate::And(items) => list(out, "{\"and\":", items.as_slice()),
        ClaimPredicate::Or(items) => list(out, "{\"or\":", items.as_slice()),
        ClaimPredicate::Not(inner) => {
            out.push_str("{\"not\":");
            match inner {
                Some(inner) => push_predicate(out, inner),
                None => out.push_str("null"),
            }
            out.push('}');
        }
        ClaimPredicate::BeforeAbsoluteTime(epoch) => {
            out.push_str("{\"abs_before\":\"");
            push_rfc3339(out, *epoch);
            let _ = write!(out, "\",\"abs_before_epoch\":\"{epoch}\"}}");
        }
        ClaimPredicate::BeforeRelativeTime(seconds) => {
            let _ = write!(out, "{{\"rel_before\":\"{seconds}\"}}");
        }
    }
}

/// Unix seconds as RFC 3339 UTC (`2006-01-02T15:04:05Z`), proleptic Gregorian; years past
/// 9999 get a `+` prefix like Go's `iso8601Time`.
fn push_rfc3339(out: &mut String, epoch: i64) {
    let epoch = i128::from(epoch);
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    if year > 9999 {
        out.push('+');
    }
    if year < 0 {
        let _ = write!(out, "-{:04}", -year);
    } else {
        let _ = write!(out, "{year:04}");
    }
    let _ = write!(out, "-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60);
}

/// Hex of the `ClaimableBalanceID` XDR: the 4-byte type (0) then the hash (72 chars).
pub fn push_balance_id_hex(out: &mut String, id: &ClaimableBalanceId) {
    let ClaimableBalanceId::ClaimableBalanceIdTypeV0(hash) = id;
    out.push_str("00000000");
    push_hex(out, &hash.0);
}

fn push_hex_str(out: &mut String, bytes: &[u8]) {
    out.push('"');
    push_hex(out, bytes);
    out.push('"');
}

/// Lower-case hex of `bytes`.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
}

/// `s` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\r`, `\t` or
/// `\u00XX`. (Go also escapes `<`, `>`, `&`, U+2028 and U+2029; the JSON value is the same.)
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        // Only ASCII bytes are escaped, so these slice bounds are char boundaries.
        out.push_str(&s[plain_from..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        plain_from = i + 1;
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

/// Bytes that should be text (home domains, data names): invalid UTF-8 becomes U+FFFD, as
/// Go's encoder does.
pub fn push_json_bytes(out: &mut String, bytes: &[u8]) {
    push_json_str(out, &String::from_utf8_lossy(bytes));
}

/// Stroops as an exact decimal amount of XLM units (÷ 10^7), trailing zeros trimmed:
/// `12.5`, `0.0000001`, `-3`. A valid JSON number equal to stellar-etl's float.
pub fn push_stroops_decimal(out: &mut String, stroops: i64) {
    let negative = stroops < 0;
    let magnitude = stroops.unsigned_abs();
    let units = magnitude / 10_000_000;
    let mut fraction = magnitude % 10_000_000;
    if negative {
        out.push('-');
    }
    out.push_str(Decimal::u64(units).as_str());
    if fraction != 0 {
        // Seven digits, zero-padded, then trailing zeros trimmed.
        let mut digits = [b'0'; 7];
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        let kept = digits.iter().rposition(|&d| d != b'0').map_or(0, |last| last + 1);
        out.push('.');
        out.push_str(std::str::from_utf8(digits.get(..kept).unwrap_or_default()).unwrap_or_default());
    }
}

/// Stroops as Go `amount.String`: a JSON string with exactly 7 decimals, e.g. `"1.5000000"`.
pub fn push_stroops_7dp_string(out: &mut String, stroops: i64) {
    let magnitude = stroops.unsigned_abs();
    out.push('"');
    if stroops < 0 {
        out.push('-');
    }
    out.push_str(Decimal::u64(magnitude / 10_000_000).as_str());
    out.push('.');
    let mut fraction = magnitude % 10_000_000;
    let mut digits = [b'0'; 7];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (fraction % 10) as u8;
        fraction /= 10;
    }
    out.push_str(std::str::from_utf8(&digits).unwrap_or_default());
    out.push('"');
}

/// A float as Go's `encoding/json` writes it: shortest round-trip digits, fixed notation
/// unless |f| < 1e-6 or >= 1e21 (then `1e-7`, `1.5e+21`). Non-finite values become null.
pub fn push_go_float(out: &mut String, value: f64) {
    if !value.is_finite() {
        out.push_str("null");
        return;
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let start = out.len();
        let _ = write!(out, "{value:e}");
        if let Some(e) = out[start..].find('e') {
            let exponent_at = start + e + 1;
            if out.as_bytes().get(exponent_at) != Some(&b'-') {
                out.insert(exponent_at, '+');
            }
        }
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        f(&mut out);
        out
    }

    #[test]
    fn stroops_are_exact_decimals() {
        assert_eq!(s(|o| push_stroops_decimal(o, 0)), "0");
        assert_eq!(s(|o| push_stroops_decimal(o, 1)), "0.0000001");
        assert_eq!(s(|o| push_stroops_decimal(o, 10_000_000)), "1");
        assert_eq!(s(|o| push_stroops_decimal(o, 125_000_000)), "12.5");
        assert_eq!(s(|o| push_stroops_decimal(o, -30_000_001)), "-3.0000001");
        assert_eq!(s(|o| push_stroops_decimal(o, i64::MIN)), "-922337203685.4775808");
        assert_eq!(s(|o| push_stroops_decimal(o, i64::MAX)), "922337203685.4775807");
        assert_eq!(s(|o| push_stroops_7dp_string(o, 0)), "\"0.0000000\"");
        assert_eq!(s(|o| push_stroops_7dp_string(o, -15_000_000)), "\"-1.5000000\"");
    }

    #[test]
    fn floats_follow_go_encoding_json() {
        assert_eq!(s(|o| push_go_float(o, 100.0)), "100");
        assert_eq!(s(|o| push_go_float(o, 0.5)), "0.5");
        assert_eq!(s(|o| push_go_float(o, 1e-7)), "1e-7");
        assert_eq!(s(|o| push_go_float(o, 1.5e-10)), "1.5e-10");
        assert_eq!(s(|o| push_go_float(o, 1e21)), "1e+21");
        assert_eq!(s(|o| push_go_float(o, 0.000001)), "0.000001");
        assert_eq!(s(|o| push_go_float(o, -0.0)), "-0");
        assert_eq!(s(|o| push_go_float(o, f64::NAN)), "null");
    }

    #[test]
    fn prices_round_to_seven_decimals_like_big_rat() {
        let p = |n, d| stellar_etl_price(&Price { n, d });
        assert_eq!(p(1, 3), Some(0.3333333));
        assert_eq!(p(2, 3), Some(0.6666667));
        assert_eq!(p(1, 20_000_000), Some(1e-7)); // 0.00000005 rounds half away from zero
        assert_eq!(p(-1, 20_000_000), Some(-1e-7));
        assert_eq!(p(1, -3), Some(-0.3333333));
        assert_eq!(p(i32::MAX, 1), Some(2147483647.0));
        assert_eq!(p(i32::MAX, 3), Some(715827882.3333333));
        assert_eq!(p(i32::MIN, 1), Some(-2147483648.0));
        assert_eq!(p(1, 0), None);
        assert!(p(-1, 1_000_000_000).is_some_and(|v| v == 0.0 && v.is_sign_negative()));
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(s(|o| push_json_str(o, "a\"b\\c")), r#""a\"b\\c""#);
        assert_eq!(s(|o| push_json_str(o, "x\ny\u{1}z")), r#""x\ny\u0001z""#);
        assert_eq!(s(|o| push_json_str(o, "héllo <&>")), "\"héllo <&>\"");
        assert_eq!(s(|o| push_json_bytes(o, b"ok\xff")), "\"ok\u{fffd}\"");
    }

    #[test]
    fn rfc3339_matches_go_for_ordinary_and_far_dates() {
        assert_eq!(s(|o| push_rfc3339(o, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(s(|o| push_rfc3339(o, 1_700_000_000)), "2023-11-14T22:13:20Z");
        assert_eq!(s(|o| push_rfc3339(o, -1)), "1969-12-31T23:59:59Z");
        assert_eq!(s(|o| push_rfc3339(o, 253_402_300_800)), "+10000-01-01T00:00:00Z");
        // Never panics at the extremes.
        assert!(s(|o| push_rfc3339(o, i64::MAX)).starts_with('+'));
        assert!(s(|o| push_rfc3339(o, i64::MIN)).starts_with('-'));
    }

    #[test]
    fn predicates_use_go_field_names_and_order() {
        let predicate = ClaimPredicate::And(
            vec![
                ClaimPredicate::Not(Some(Box::new(ClaimPredicate::BeforeRelativeTime(3600)))),
                ClaimPredicate::Or(
                    vec![ClaimPredicate::Unconditional, ClaimPredicate::BeforeAbsoluteTime(0)]
                        .try_into()
                        .unwrap(),
                ),
            ]
            .try_into()
            .unwrap(),
        );
        assert_eq!(
            s(|o| push_predicate(o, &predicate)),
            r#"{"and":[{"not":{"rel_before":"3600"}},{"or":[{"unconditional":true},{"abs_before":"1970-01-01T00:00:00Z","abs_before_epoch":"0"}]}]}"#
        );
    }

    #[test]
    fn balance_ids_and_sc_val_arms() {
        assert_eq!(sc_val_go_arm(&ScVal::Bool(true)), "B");
        assert_eq!(sc_val_go_arm(&ScVal::LedgerKeyContractInstance), "");
        assert_eq!(
            s(|o| push_balance_id_hex(
                o,
                &ClaimableBalanceId::ClaimableBalanceIdTypeV0(stellar_xdr::Hash([0xab; 32]))
            )),
            format!("00000000{}", "ab".repeat(32))
        );
    }
}
