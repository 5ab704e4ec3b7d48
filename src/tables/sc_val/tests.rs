//! [`write_json`] against `serde_json::to_writer` and [`write_xdr`] against stellar-xdr's
//! `write_xdr`, the writers they replace: exact values for each arm, every `ScVal` of the
//! fixture and generated ledgers, and proptest values (nested vectors and maps, integer extremes,
//! strings with quotes, backslashes, control characters and non-UTF-8 bytes, every address kind,
//! keys that collide in the strkey cache).

use std::path::PathBuf;

use proptest::prelude::*;
use stellar_xdr::{
    AccountId, ClaimableBalanceId, ContractEvent, ContractEventBody, ContractExecutable, ContractId,
    Duration, Hash, HostFunction, Int128Parts, Int256Parts, LedgerCloseMeta, LedgerEntryChange,
    LedgerEntryData, LedgerKey, Limited, Limits, MuxedContract, MuxedEd25519Account, OperationBody, PoolId,
    PublicKey, ScBytes, ScContractInstance, ScError, ScErrorCode, ScMap, ScMapEntry, ScNonceKey, ScString,
    ScSymbol, ScVec, TimePoint, UInt128Parts, UInt256Parts, Uint256, WriteXdr,
};

use super::*;
use crate::decode::{DecodeLimits, read_path};
use crate::generator::{GeneratorConfig, SyntheticLedgers};
use crate::ledger::LedgerView;
use crate::network::Network;

/// What the tables wrote before: serde_json's bytes, `null` when serde fails.
fn serde_form(value: &ScVal) -> String {
    let mut buf = Vec::new();
    if serde_json::to_writer(&mut buf, value).is_err() {
        buf = b"null".to_vec();
    }
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

fn fast_form(value: &ScVal, strkeys: &mut StrkeyCache) -> String {
    // Written after other bytes, as in a reused buffer: only the appended part counts.
    let mut buf = b"[prefix]".to_vec();
    write_json(value, strkeys, &mut buf);
    String::from_utf8(buf.split_off(8)).expect("SEP-51 JSON is ASCII")
}

/// What the tables wrote before: stellar-xdr's XDR, nothing when it fails.
fn reference_xdr(value: &ScVal) -> Vec<u8> {
    let mut buf = Vec::new();
    if value.write_xdr(&mut Limited::new(&mut buf, Limits::none())).is_err() {
        buf.clear();
    }
    buf
}

fn fast_xdr(value: &ScVal) -> Vec<u8> {
    // A reused buffer holds the previous value: `write_xdr` must replace it.
    let mut buf = b"previous value".to_vec();
    write_xdr(value, &mut buf);
    buf
}

/// Checks `values` with one cache (so later values hit what earlier ones stored); returns
/// how many were compared.
fn assert_same<'v>(what: &str, values: impl IntoIterator<Item = &'v ScVal>) -> usize {
    let mut strkeys = StrkeyCache::default();
    let mut count = 0;
    for value in values {
        assert_eq!(fast_form(value, &mut strkeys), serde_form(value), "{what}: {value:?}");
        assert_eq!(fast_xdr(value), reference_xdr(value), "{what}: XDR of {value:?}");
        count += 1;
    }
    count
}

fn string(bytes: &[u8]) -> ScVal {
    ScVal::String(ScString(bytes.to_vec().try_into().expect("short string")))
}

fn symbol(text: &str) -> ScVal {
    ScVal::Symbol(ScSymbol(text.as_bytes().to_vec().try_into().expect("short symbol")))
}

#[test]
fn each_arm_is_written_like_stellar_xdr() {
    let account = ScAddress::Account(AccountId(PublicKey::PublicKeyTypeEd25519(Uint256([7; 32]))));
    let g = stellar_strkey::ed25519::PublicKey([7; 32]).to_string();
    let c = stellar_strkey::Contract([9; 32]).to_string();
    let cases: Vec<(ScVal, String)> = vec![
        (ScVal::Bool(true), r#"{"bool":true}"#.into()),
        (ScVal::Void, r#""void""#.into()),
        (ScVal::LedgerKeyContractInstance, r#""ledger_key_contract_instance""#.into()),
        (ScVal::U32(u32::MAX), r#"{"u32":4294967295}"#.into()),
        (ScVal::I32(i32::MIN), r#"{"i32":-2147483648}"#.into()),
        (ScVal::U64(u64::MAX), r#"{"u64":"18446744073709551615"}"#.into()),
        (ScVal::I64(i64::MIN), r#"{"i64":"-9223372036854775808"}"#.into()),
        (ScVal::Timepoint(TimePoint(0)), r#"{"timepoint":"0"}"#.into()),
        (ScVal::Duration(Duration(60)), r#"{"duration":"60"}"#.into()),
        (ScVal::U128(UInt128Parts { hi: u64::MAX, lo: u64::MAX }), format!(r#"{{"u128":"{}"}}"#, u128::MAX)),
        (ScVal::I128(Int128Parts { hi: i64::MIN, lo: 0 }), format!(r#"{{"i128":"{}"}}"#, i128::MIN)),
        (ScVal::I128(Int128Parts { hi: -1, lo: u64::MAX }), r#"{"i128":"-1"}"#.into()),
        (ScVal::Bytes(ScBytes(vec![0x00, 0xab, 0xff].try_into().unwrap())), r#"{"bytes":"00abff"}"#.into()),
        (symbol("transfer"), r#"{"symbol":"transfer"}"#.into()),
        (string(b""), r#"{"string":""}"#.into()),
        (
            string(b"a\"b\\c\0\t\n\r\x01\x7f\xc3\xa9~"),
            r#"{"string":"a\"b\\\\c\\0\\t\\n\\r\\x01\\x7f\\xc3\\xa9~"}"#.into(),
        ),
        (ScVal::Vec(None), r#"{"vec":null}"#.into()),
        (ScVal::Map(None), r#"{"map":null}"#.into()),
        (
            ScVal::Vec(Some(ScVec(vec![ScVal::U32(1), ScVal::Address(account.clone())].try_into().unwrap()))),
            format!(r#"{{"vec":[{{"u32":1}},{{"address":"{g}"}}]}}"#),
        ),
        (
            ScVal::Map(Some(ScMap(
                vec![ScMapEntry {
                    key: symbol("to"),
                    val: ScVal::Address(ScAddress::Contract(ContractId(Hash([9; 32])))),
                }]
                .try_into()
                .unwrap(),
            ))),
            format!(r#"{{"map":[{{"key":{{"symbol":"to"}},"val":{{"address":"{c}"}}}}]}}"#),
        ),
    ];
    let mut strkeys = StrkeyCache::default();
    for (value, expected) in &cases {
        assert_eq!(serde_form(value), *expected, "serde form of {value:?}");
        assert_eq!(fast_form(value, &mut strkeys), *expected, "fast form of {value:?}");
        assert_eq!(fast_xdr(value), reference_xdr(value), "XDR of {value:?}");
    }
}

/// Every `ScVal` a ledger carries where the tables could meet one: event topics and data
/// (operation, transaction and diagnostic events), contract call and constructor arguments,
/// contract data keys and values in footprints and in ledger entry changes.
fn ledger_sc_vals<'a>(view: &LedgerView<'a>) -> Vec<&'a ScVal> {
    let mut values = Vec::new();
    let event = |event: &'a ContractEvent, values: &mut Vec<&'a ScVal>| {
        let ContractEventBody::V0(body) = &event.body;
        values.extend(body.topics.iter());
        values.push(&body.data);
    };
    for tx in &view.transactions {
        for (_, e) in tx.operation_events() {
            event(e, &mut values);
        }
        for e in tx.transaction_events() {
            event(&e.event, &mut values);
        }
        for e in tx.diagnostic_events() {
            event(&e.event, &mut values);
        }
        for op in tx.operations() {
            if let OperationBody::InvokeHostFunction(op) = &op.body {
                match &op.host_function {
                    HostFunction::InvokeContract(args) => values.extend(args.args.iter()),
                    HostFunction::CreateContractV2(args) => values.extend(args.constructor_args.iter()),
                    HostFunction::CreateContract(_) | HostFunction::UploadContractWasm(_) => {}
                }
            }
        }
        if let Some(data) = tx.soroban_data() {
            let footprint = &data.resources.footprint;
            for key in footprint.read_only.iter().chain(footprint.read_write.iter()) {
                if let LedgerKey::ContractData(key) = key {
                    values.push(&key.key);
                }
            }
        }
        for index in 0..tx.operations().len() {
            for change in crate::tables::details::operation_changes(tx.meta, index) {
                let entry = match change {
                    LedgerEntryChange::Created(entry)
                    | LedgerEntryChange::Updated(entry)
                    | LedgerEntryChange::State(entry)
                    | LedgerEntryChange::Restored(entry) => entry,
                    LedgerEntryChange::Removed(LedgerKey::ContractData(key)) => {
                        values.push(&key.key);
                        continue;
                    }
                    LedgerEntryChange::Removed(_) => continue,
                };
                if let LedgerEntryData::ContractData(data) = &entry.data {
                    values.push(&data.key);
                    values.push(&data.val);
                }
            }
        }
    }
    values
}

#[test]
fn matches_stellar_xdr_on_every_sc_val_of_the_fixture_ledgers() {
    let test = "matches_stellar_xdr_on_every_sc_val_of_the_fixture_ledgers";
    let Some(root) = std::env::var_os("LEDGERFLOW_FIXTURES").map(PathBuf::from) else {
        eprintln!("{test}: skipped (LEDGERFLOW_FIXTURES is not set)");
        return;
    };
    let index_path = root.join("expected/index.json");
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&index_path).unwrap_or_else(|e| panic!("{}: {e}", index_path.display())),
    )
    .expect("parse index.json");
    let entries = index.as_array().expect("index.json is an array");
    assert!(!entries.is_empty(), "index.json lists no files");
    let (mut ledgers, mut values) = (0, 0);
    for entry in entries {
        let file = entry["file"].as_str().expect("file");
        let path = root.join(file);
        assert!(path.is_file(), "fixture {} is missing", path.display());
        let network = entry["networks"][0].as_str().map(Network::from_name_or_passphrase);
        for ledger in
            read_path(&path, None, &DecodeLimits::default()).unwrap_or_else(|e| panic!("{file}: {e}"))
        {
            let ledger = ledger.unwrap_or_else(|e| panic!("{file}: {e}"));
            let network = network.clone().unwrap_or_else(|| panic!("{file}: no network in the index"));
            let view = LedgerView::new(&ledger.meta, &network).unwrap_or_else(|e| panic!("{file}: {e}"));
            values += assert_same(file, ledger_sc_vals(&view));
            ledgers += 1;
        }
    }
    eprintln!("{test}: {values} ScVals of {ledgers} ledgers compared");
    assert!(values > 1000, "the fixtures carry Soroban values: only {values} found");
}

#[test]
fn matches_stellar_xdr_on_every_sc_val_of_generated_ledgers() {
    let config = GeneratorConfig { ledger_count: Some(20), ..GeneratorConfig::default() };
    let network = config.network.clone();
    let metas: Vec<LedgerCloseMeta> =
        SyntheticLedgers::new(config).expect("valid config").map(|ledger| ledger.meta).collect();
    let mut values = 0;
    for meta in &metas {
        let view = LedgerView::new(meta, &network).expect("generated ledgers join");
        values += assert_same("generated", ledger_sc_vals(&view));
    }
    assert!(values > 1000, "generated ledgers carry events: only {values} ScVals found");
}

/// 32-byte keys: arbitrary ones, and a few sharing their first 8 bytes (so the same cache
/// slot) but differing after, which evict each other.
fn key() -> impl Strategy<Value = [u8; 32]> {
    let colliding = (0u8..4).prop_map(|n| {
        let mut key = [0x5a; 32];
        key[31] = n;
        key
    });
    prop_oneof![any::<[u8; 32]>(), colliding]
}

fn address() -> impl Strategy<Value = ScAddress> {
    prop_oneof![
        3 => key().prop_map(|k| ScAddress::Account(AccountId(PublicKey::PublicKeyTypeEd25519(Uint256(k))))),
        3 => key().prop_map(|k| ScAddress::Contract(ContractId(Hash(k)))),
        1 => (key(), any::<u64>())
            .prop_map(|(k, id)| ScAddress::MuxedAccount(MuxedEd25519Account { id, ed25519: Uint256(k) })),
        1 => key().prop_map(|k| ScAddress::ClaimableBalance(ClaimableBalanceId::ClaimableBalanceIdTypeV0(Hash(k)))),
        1 => key().prop_map(|k| ScAddress::LiquidityPool(PoolId(Hash(k)))),
        1 => (key(), any::<u64>())
            .prop_map(|(k, id)| ScAddress::MuxedContract(MuxedContract { id, contract_id: ContractId(Hash(k)) })),
    ]
}

/// Bytes biased towards the ones that need escaping.
fn text(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let special = prop::sample::select(vec![
        b'"', b'\\', b'/', 0, b'\t', b'\n', b'\r', 0x01, 0x1f, b' ', b'~', 0x7f, 0x80, 0xc3, 0xa9, 0xff,
    ]);
    prop::collection::vec(prop_oneof![3 => b'a'..=b'z', 2 => special, 1 => any::<u8>()], 0..=max_len)
}

fn u64_edge() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), 0..1000u64, Just(u64::MAX), Just(u64::MAX - 1)]
}

fn i64_edge() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), -1000..1000i64, Just(i64::MIN), Just(i64::MAX)]
}

fn u128_edge() -> impl Strategy<Value = u128> {
    prop_oneof![
        any::<u128>(),
        any::<u64>().prop_map(u128::from),
        Just(u128::MAX),
        Just(u128::from(u64::MAX)),
        Just(u128::from(u64::MAX) + 1),
        Just(0),
    ]
}

fn i128_edge() -> impl Strategy<Value = i128> {
    prop_oneof![
        any::<i128>(),
        any::<i64>().prop_map(i128::from),
        Just(i128::MIN),
        Just(i128::MAX),
        Just(-1),
        Just(0),
        Just(-i128::from(u64::MAX) - 1),
    ]
}

fn sc_error() -> impl Strategy<Value = ScError> {
    let code = prop::sample::select(ScErrorCode::VARIANTS.to_vec());
    prop_oneof![
        any::<u32>().prop_map(ScError::Contract),
        code.clone().prop_map(ScError::WasmVm),
        code.clone().prop_map(ScError::Context),
        code.clone().prop_map(ScError::Storage),
        code.clone().prop_map(ScError::Object),
        code.clone().prop_map(ScError::Crypto),
        code.clone().prop_map(ScError::Events),
        code.clone().prop_map(ScError::Budget),
        code.clone().prop_map(ScError::Value),
        code.prop_map(ScError::Auth),
    ]
}

fn numbers() -> impl Strategy<Value = ScVal> {
    prop_oneof![
        any::<u32>().prop_map(ScVal::U32),
        any::<i32>().prop_map(ScVal::I32),
        u64_edge().prop_map(ScVal::U64),
        i64_edge().prop_map(ScVal::I64),
        u64_edge().prop_map(|t| ScVal::Timepoint(TimePoint(t))),
        u64_edge().prop_map(|d| ScVal::Duration(Duration(d))),
        u128_edge().prop_map(|v| ScVal::U128(UInt128Parts { hi: (v >> 64) as u64, lo: v as u64 })),
        i128_edge().prop_map(|v| ScVal::I128(Int128Parts { hi: (v >> 64) as i64, lo: v as u64 })),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(hi_hi, hi_lo, lo_hi, lo_lo)| {
            ScVal::U256(UInt256Parts { hi_hi, hi_lo, lo_hi, lo_lo })
        }),
        (any::<i64>(), any::<u64>(), any::<u64>(), any::<u64>())
            .prop_map(|(hi_hi, hi_lo, lo_hi, lo_lo)| ScVal::I256(Int256Parts { hi_hi, hi_lo, lo_hi, lo_lo })),
    ]
}

fn leaf() -> impl Strategy<Value = ScVal> {
    prop_oneof![
        any::<bool>().prop_map(ScVal::Bool),
        Just(ScVal::Void),
        Just(ScVal::LedgerKeyContractInstance),
        Just(ScVal::Vec(None)),
        Just(ScVal::Map(None)),
        sc_error().prop_map(ScVal::Error),
        numbers(),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| ScVal::Bytes(ScBytes(b.try_into().unwrap()))),
        text(40).prop_map(|s| ScVal::String(ScString(s.try_into().unwrap()))),
        text(32).prop_map(|s| ScVal::Symbol(ScSymbol(s.try_into().unwrap()))),
        text(20).prop_map(|s| ScVal::ExecutableTag(ScString(s.try_into().unwrap()))),
        address().prop_map(ScVal::Address),
        i64_edge().prop_map(|nonce| ScVal::LedgerKeyNonce(ScNonceKey { nonce })),
    ]
}

fn sc_val() -> impl Strategy<Value = ScVal> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        let entries = prop::collection::vec((inner.clone(), inner.clone()), 0..6).prop_map(|pairs| {
            pairs.into_iter().map(|(key, val)| ScMapEntry { key, val }).collect::<Vec<_>>()
        });
        let executable = prop_oneof![
            any::<[u8; 32]>().prop_map(|h| ContractExecutable::Wasm(Hash(h))),
            Just(ContractExecutable::StellarAsset),
        ];
        prop_oneof![
            prop::collection::vec(inner, 0..6).prop_map(|v| ScVal::Vec(Some(ScVec(v.try_into().unwrap())))),
            entries.clone().prop_map(|e| ScVal::Map(Some(ScMap(e.try_into().unwrap())))),
            (executable, prop::option::of(entries)).prop_map(|(executable, storage)| {
                ScVal::ContractInstance(ScContractInstance {
                    executable,
                    storage: storage.map(|e| ScMap(e.try_into().unwrap())),
                })
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn matches_stellar_xdr_on_any_sc_val(values in prop::collection::vec(sc_val(), 1..8)) {
        let mut strkeys = StrkeyCache::default();
        for value in &values {
            prop_assert_eq!(fast_form(value, &mut strkeys), serde_form(value), "{:?}", value);
            prop_assert_eq!(fast_xdr(value), reference_xdr(value), "XDR of {:?}", value);
        }
    }
}
