//! The `ledgerflow` binary as a user runs it: `inspect` on real ledgers (JSON contract, bad
//! input) and `generate` -> `inspect` round trips.

use std::process::Output;

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

mod support;

use support::fixtures;

fn ledgerflow(args: &[&str]) -> Output {
    cargo_bin_cmd!("ledgerflow").args(args).output().expect("run ledgerflow")
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
        .collect()
}

const KEYS: [&str; 9] = [
    "sequence",
    "protocol_version",
    "closed_at",
    "transactions",
    "successful_transactions",
    "failed_transactions",
    "operations",
    "contract_events",
    "transaction_hashes",
];

#[test]
fn inspect_json_matches_the_independent_decoder_on_every_fixture() {
    let Some(root) = fixtures("inspect_json_matches_the_independent_decoder_on_every_fixture") else {
        return;
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(root.join("expected/index.json")).unwrap()).unwrap();
    for entry in index.as_array().unwrap() {
        let file = root.join(entry["file"].as_str().unwrap());
        let expected: Value =
            serde_json::from_slice(&std::fs::read(root.join(entry["expected"].as_str().unwrap())).unwrap())
                .unwrap();
        // No --network: stores carry it in .config.json, raw files are detected from the hashes.
        let output = ledgerflow(&["inspect", "--json", file.to_str().unwrap()]);
        assert!(output.status.success(), "{}: {}", file.display(), String::from_utf8_lossy(&output.stderr));
        let lines = json_lines(&output);
        let text = String::from_utf8(output.stdout.clone()).unwrap();
        assert!(text.lines().all(|l| l.starts_with("{\"sequence\":")), "keys in contract order");
        let expected_ledgers = expected["ledgers"].as_array().unwrap();
        assert_eq!(lines.len(), expected_ledgers.len(), "{}", file.display());
        for (line, want) in lines.iter().zip(expected_ledgers) {
            let mut keys: Vec<&str> = line.as_object().unwrap().keys().map(String::as_str).collect();
            let mut want_keys = KEYS.to_vec();
            keys.sort_unstable();
            want_keys.sort_unstable();
            assert_eq!(keys, want_keys, "exactly these keys");
            assert_eq!(line["sequence"], want["ledger_sequence"]);
            assert_eq!(line["protocol_version"], want["protocol_version"]);
            assert_eq!(line["closed_at"], want["closed_at"]);
            assert_eq!(line["transactions"], want["tx_count"]);
            assert_eq!(line["successful_transactions"], want["tx_successful"]);
            assert_eq!(line["failed_transactions"], want["tx_failed"]);
            assert_eq!(line["operations"], want["operation_count"]);
            assert_eq!(line["contract_events"], want["contract_event_count"]);
            let hashes: Vec<&Value> =
                want["transactions"].as_array().unwrap().iter().map(|t| &t["hash"]).collect();
            assert_eq!(line["transaction_hashes"].as_array().unwrap().iter().collect::<Vec<_>>(), hashes);
        }
    }
}

#[test]
fn inspect_store_lists_every_ledger_in_order() {
    let Some(root) = fixtures("inspect_store_lists_every_ledger_in_order") else { return };
    let output =
        ledgerflow(&["inspect", "--json", root.join("datastore/testnet-2022-batched").to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let sequences: Vec<u64> = json_lines(&output).iter().map(|l| l["sequence"].as_u64().unwrap()).collect();
    assert_eq!(sequences, (1410048..=1410111).collect::<Vec<u64>>());
    let human = ledgerflow(&["inspect", root.join("datastore/standalone-p23").to_str().unwrap()]);
    let text = String::from_utf8(human.stdout).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().nth(1).unwrap().contains("events   1000"), "{text}");
}

#[test]
fn inspect_corrupt_batch_prints_earlier_ledgers_then_one_line_error() {
    let Some(root) = fixtures("inspect_corrupt_batch_prints_earlier_ledgers_then_one_line_error") else {
        return;
    };
    let object = root
        .join("datastore/testnet-2022-batched/FFEA7BFF--1410048-1410111/FFEA7BEF--1410064-1410079.xdr.zst");
    let xdr = zstd::decode_all(&std::fs::read(object).unwrap()[..]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cut.xdr");
    std::fs::write(&bad, &xdr[..xdr.len() * 2 / 3]).unwrap();
    let output = ledgerflow(&["inspect", "--json", "--network", "testnet", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    let printed = json_lines(&output);
    assert!(!printed.is_empty() && printed.len() < 16, "{} ledgers printed before the error", printed.len());
    for (i, line) in printed.iter().enumerate() {
        assert_eq!(line["sequence"].as_u64(), Some(1410064 + i as u64));
    }
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let next = 1410064 + printed.len() as u64;
    assert!(
        stderr
            .starts_with(&format!("error: {}: ledger {next}: malformed LedgerCloseMeta XDR", bad.display())),
        "{stderr}"
    );
}

#[test]
fn inspect_names_missing_and_non_ledger_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.xdr");
    let output = ledgerflow(&["inspect", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with(&format!("error: {}: cannot read:", missing.display())), "{stderr}");

    let text = dir.path().join("notes.xdr.zst");
    std::fs::write(&text, b"hello, not zstd").unwrap();
    let output = ledgerflow(&["inspect", text.to_str().unwrap()]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with(&format!("error: {}: zstd decompression failed", text.display())), "{stderr}");

    let output = ledgerflow(&["inspect", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("not a SEP-54 data store (no .config.json)"), "{stderr}");
}
