//! Every real ledger in the fixtures, decoded and converted, against the figures of an
//! independent decoder (py-stellar-sdk) in `fixtures/expected/`: per-ledger counts, every
//! transaction hash in apply order, per-transaction result, fee and counts, and table contents.

mod support;

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType, UInt32Type};
use ledgerflow::datastore::LocalDataStore;
use ledgerflow::decode::{DecodeLimits, read_path};
use ledgerflow::ledger::LedgerView;
use ledgerflow::summary::LedgerSummary;
use ledgerflow::tables::{ConvertOptions, TableBuilder};
use serde_json::Value;
use support::{code_key, expected_entries, fixture, fixtures, network};

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("expected a number, got {v}"))
}

#[test]
fn every_fixture_file_is_listed_in_the_index() {
    let Some(root) = fixtures("every_fixture_file_is_listed_in_the_index") else { return };
    let listed: Vec<String> =
        expected_entries(&root).iter().map(|e| e["file"].as_str().unwrap().to_owned()).collect();
    let mut found = Vec::new();
    for dir in ["raw", "datastore"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().unwrap() != ".config.json" {
                    found.push(path.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
    }
    found.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(found, listed_sorted);
}

#[test]
fn summaries_match_the_independent_decoder() {
    let Some(root) = fixtures("summaries_match_the_independent_decoder") else { return };
    let mut ledgers_checked = 0;
    let mut hashes_checked = 0;
    for entry in expected_entries(&root) {
        let file = entry["file"].as_str().unwrap();
        let detail = &entry["detail"];
        let decoded: Vec<_> = read_path(&fixture(&root, file), None, &DecodeLimits::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let expected_ledgers = detail["ledgers"].as_array().unwrap();
        assert_eq!(decoded.len(), expected_ledgers.len(), "{file}: ledger count");
        assert_eq!(decoded.len() as u64, u(&entry["ledger_count"]), "{file}: ledger count (index)");
        for (ledger, expected) in decoded.iter().zip(expected_ledgers) {
            let seq = ledger.sequence;
            let view = LedgerView::new(&ledger.meta, &network(expected["network"].as_str().unwrap()))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let summary = LedgerSummary::of(&view);
            assert_eq!(u64::from(summary.sequence), u(&expected["ledger_sequence"]), "{file}");
            assert_eq!(u64::from(summary.protocol_version), u(&expected["protocol_version"]), "{file} {seq}");
            assert_eq!(summary.closed_at, expected["closed_at"].as_str().unwrap(), "{file} {seq}");
            assert_eq!(
                u64::from(view.meta_version()),
                u(&expected["ledger_close_meta_version"]),
                "{file} {seq}"
            );
            assert_eq!(u64::from(summary.transactions), u(&expected["tx_count"]), "{file} {seq}");
            assert_eq!(
                u64::from(summary.successful_transactions),
                u(&expected["tx_successful"]),
                "{file} {seq}"
            );
            assert_eq!(u64::from(summary.failed_transactions), u(&expected["tx_failed"]), "{file} {seq}");
            assert_eq!(u64::from(summary.operations), u(&expected["operation_count"]), "{file} {seq}");
            assert_eq!(
                u64::from(summary.contract_events),
                u(&expected["contract_event_count"]),
                "{file} {seq}"
            );

            let diagnostic: usize = view.transactions.iter().map(|t| t.diagnostic_events().len()).sum();
            let tx_level: usize = view.transactions.iter().map(|t| t.transaction_events().len()).sum();
            let fee_bumps = view.transactions.iter().filter(|t| t.is_fee_bump()).count();
            assert_eq!(
                diagnostic as u64,
                u(&expected["diagnostic_event_count"]),
                "{file} {seq} diagnostic events"
            );
            assert_eq!(
                tx_level as u64,
                u(&expected["transaction_level_event_count"]),
                "{file} {seq} tx-level events"
            );
            assert_eq!(fee_bumps as u64, u(&expected["fee_bump_tx_count"]), "{file} {seq} fee bumps");

            let mut meta_versions: BTreeMap<String, u64> = BTreeMap::new();
            for tx in &view.transactions {
                *meta_versions.entry(tx.meta_version().to_string()).or_default() += 1;
            }
            let expected_versions: BTreeMap<String, u64> = expected["transaction_meta_versions"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), u(v)))
                .collect();
            assert_eq!(meta_versions, expected_versions, "{file} {seq} meta versions");

            let expected_txs = expected["transactions"].as_array().unwrap();
            assert_eq!(summary.transaction_hashes.len(), expected_txs.len());
            for ((tx, hash), expected_tx) in
                view.transactions.iter().zip(&summary.transaction_hashes).zip(expected_txs)
            {
                assert_eq!(
                    hash,
                    expected_tx["hash"].as_str().unwrap(),
                    "{file} {seq} apply order {}",
                    tx.application_order
                );
                assert_eq!(tx.successful(), expected_tx["successful"].as_bool().unwrap(), "{file} {hash}");
                assert_eq!(
                    code_key(tx.result_code().name()),
                    code_key(expected_tx["result_code"].as_str().unwrap()),
                    "{file} {hash}"
                );
                assert_eq!(tx.fee_charged() as u64, u(&expected_tx["fee_charged"]), "{file} {hash}");
                assert_eq!(tx.operations().len() as u64, u(&expected_tx["operation_count"]), "{file} {hash}");
                assert_eq!(
                    tx.operation_events().count() as u64,
                    u(&expected_tx["contract_events"]),
                    "{file} {hash}"
                );
                hashes_checked += 1;
            }
            ledgers_checked += 1;
        }
    }
    // The fixture README: 7 pubnet + 2 testnet + 64 batched + 3 standalone ledgers in stores,
    // plus the raw copies (5 base64, 1 batch, 16 lcm-xdr).
    assert_eq!(ledgers_checked, 98);
    assert!(hashes_checked > 1500, "{hashes_checked} transaction hashes checked");
}

#[test]
fn tables_match_the_independent_decoder() {
    let Some(root) = fixtures("tables_match_the_independent_decoder") else { return };
    for entry in expected_entries(&root) {
        let file = entry["file"].as_str().unwrap();
        let detail = &entry["detail"];
        let net = network(entry["networks"][0].as_str().unwrap());
        let mut builder = TableBuilder::new(ConvertOptions { network: net, keep_raw_xdr: true });
        for ledger in read_path(&fixture(&root, file), None, &DecodeLimits::default()).unwrap() {
            builder.push(&ledger.unwrap().meta).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let tables = builder.finish().unwrap();
        let expected_ledgers = detail["ledgers"].as_array().unwrap();

        // ledgers
        let l = &tables.ledgers;
        assert_eq!(l.num_rows(), expected_ledgers.len(), "{file}");
        let col = |name: &str| l.column_by_name(name).unwrap_or_else(|| panic!("ledgers.{name}"));
        for (i, expected) in expected_ledgers.iter().enumerate() {
            assert_eq!(
                u64::from(col("sequence").as_primitive::<UInt32Type>().value(i)),
                u(&expected["ledger_sequence"])
            );
            assert_eq!(
                col("ledger_hash").as_string::<i32>().value(i),
                expected["ledger_hash"].as_str().unwrap()
            );
            assert_eq!(
                col("previous_ledger_hash").as_string::<i32>().value(i),
                expected["previous_ledger_hash"].as_str().unwrap()
            );
            assert_eq!(
                col("closed_at").as_primitive::<TimestampMicrosecondType>().value(i) as u64,
                u(&expected["close_time_unix"]) * 1_000_000
            );
            assert_eq!(
                u64::from(col("base_fee").as_primitive::<UInt32Type>().value(i)),
                u(&expected["base_fee"])
            );
            // stellar-etl: transaction_count counts successful transactions only.
            assert_eq!(
                col("transaction_count").as_primitive::<Int32Type>().value(i) as u64,
                u(&expected["tx_successful"])
            );
            assert_eq!(
                col("failed_transaction_count").as_primitive::<Int32Type>().value(i) as u64,
                u(&expected["tx_failed"])
            );
            let successful_ops: u64 =
                expected["operations_successful_txs_by_type"].as_object().unwrap().values().map(u).sum();
            assert_eq!(
                col("operation_count").as_primitive::<Int32Type>().value(i) as u64,
                successful_ops,
                "{file}"
            );
            assert_eq!(
                col("tx_set_operation_count").as_primitive::<Int32Type>().value(i) as u64,
                u(&expected["operation_count"])
            );
            assert!(!col("ledger_header").is_null(i), "raw header kept");
        }

        // transactions: every hash in apply order, result, fee
        let t = &tables.transactions;
        let expected_txs: Vec<&Value> =
            expected_ledgers.iter().flat_map(|l| l["transactions"].as_array().unwrap()).collect();
        assert_eq!(t.num_rows(), expected_txs.len(), "{file}");
        let tcol = |name: &str| t.column_by_name(name).unwrap_or_else(|| panic!("transactions.{name}"));
        for (i, expected) in expected_txs.iter().enumerate() {
            let hash = tcol("transaction_hash").as_string::<i32>().value(i);
            assert_eq!(hash, expected["hash"].as_str().unwrap(), "{file} row {i}");
            assert_eq!(
                tcol("successful").as_boolean().value(i),
                expected["successful"].as_bool().unwrap(),
                "{hash}"
            );
            assert_eq!(
                tcol("fee_charged").as_primitive::<Int64Type>().value(i) as u64,
                u(&expected["fee_charged"]),
                "{hash}"
            );
            assert_eq!(
                tcol("operation_count").as_primitive::<Int32Type>().value(i) as u64,
                u(&expected["operation_count"]),
                "{hash}"
            );
            let code = tcol("transaction_result_code").as_string::<i32>().value(i);
            let code = code.strip_prefix("TransactionResultCode").expect("Go enum name");
            assert_eq!(code_key(code), code_key(expected["result_code"].as_str().unwrap()), "{hash}");
            assert!(!tcol("tx_envelope").is_null(i) && !tcol("tx_meta").is_null(i), "raw xdr kept");
        }
        let fee_bumps = tcol("fee_account").len() - tcol("fee_account").null_count();
        let expected_fee_bumps: u64 = expected_ledgers.iter().map(|l| u(&l["fee_bump_tx_count"])).sum();
        assert_eq!(fee_bumps as u64, expected_fee_bumps, "{file} fee bumps");

        // operations: rows per type, all transactions and successful ones
        let o = &tables.operations;
        let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
        let mut successful_by_type: BTreeMap<String, u64> = BTreeMap::new();
        let types = o.column_by_name("type_string").unwrap().as_string::<i32>();
        let successful = o.column_by_name("successful").unwrap().as_boolean();
        for i in 0..o.num_rows() {
            *by_type.entry(types.value(i).to_ascii_uppercase()).or_default() += 1;
            if successful.value(i) {
                *successful_by_type.entry(types.value(i).to_ascii_uppercase()).or_default() += 1;
            }
        }
        let sum_maps = |key: &str| {
            let mut total: BTreeMap<String, u64> = BTreeMap::new();
            for l in expected_ledgers {
                for (k, v) in l[key].as_object().unwrap() {
                    *total.entry(k.clone()).or_default() += u(v);
                }
            }
            total
        };
        assert_eq!(by_type, sum_maps("operations_by_type"), "{file} operations by type");
        assert_eq!(
            successful_by_type,
            sum_maps("operations_successful_txs_by_type"),
            "{file} successful operations by type"
        );

        // contract events by type
        let e = &tables.contract_events;
        let mut events_by_type: BTreeMap<String, u64> = BTreeMap::new();
        let etypes = e.column_by_name("type_string").unwrap().as_string::<i32>();
        for i in 0..e.num_rows() {
            let name = etypes.value(i).strip_prefix("ContractEventType").unwrap().to_ascii_uppercase();
            *events_by_type.entry(name).or_default() += 1;
        }
        assert_eq!(events_by_type, sum_maps("contract_events_by_type"), "{file} contract events by type");
        assert_eq!(e.num_rows() as u64, u(&entry["contract_event_count"]), "{file}");
    }
}

#[test]
fn data_stores_read_in_order_and_complete() {
    let Some(root) = fixtures("data_stores_read_in_order_and_complete") else { return };
    let expected = expected_entries(&root);
    for (store, first, last, count) in [
        ("pubnet", 6154623, 60659332, 7),
        ("testnet", 997, 998, 2),
        ("testnet-2022-batched", 1410048, 1410111, 64),
        ("standalone-p23", 84, 88, 3),
    ] {
        let store_dir = fixture(&root, &format!("datastore/{store}"));
        let data_store = LocalDataStore::open(&store_dir).unwrap();
        let network = data_store.manifest().network();
        let mut sequences = Vec::new();
        let mut hashes = Vec::new();
        for (name, path) in data_store.objects().unwrap() {
            let ledgers: Vec<_> =
                data_store.read(&path, &DecodeLimits::default()).unwrap().collect::<Result<_, _>>().unwrap();
            assert_eq!(ledgers.first().map(|l| l.sequence), Some(name.first), "{}", path.display());
            assert_eq!(ledgers.last().map(|l| l.sequence), Some(name.last), "{}", path.display());
            assert_eq!(
                data_store.object_path(name.first).as_deref(),
                Some(path.as_path()),
                "layout computes the key"
            );
            for ledger in ledgers {
                let view = LedgerView::new(&ledger.meta, &network).unwrap();
                sequences.push(ledger.sequence);
                hashes.extend(LedgerSummary::of(&view).transaction_hashes);
            }
        }
        assert_eq!(sequences.len(), count, "{store}");
        assert_eq!((sequences[0], *sequences.last().unwrap()), (first, last), "{store}");
        assert!(sequences.windows(2).all(|w| w[0] < w[1]), "{store}: in order");
        let expected_hashes: Vec<String> = expected
            .iter()
            .filter(|e| e["file"].as_str().unwrap().starts_with(&format!("datastore/{store}/")))
            .flat_map(|e| e["detail"]["ledgers"].as_array().unwrap().clone())
            .map(|l| (u(&l["ledger_sequence"]), l))
            .collect::<BTreeMap<_, _>>()
            .into_values()
            .flat_map(|l| {
                l["transactions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["hash"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(hashes, expected_hashes, "{store}");
    }
}
