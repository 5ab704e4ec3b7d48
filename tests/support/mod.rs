//! Shared helpers of the integration tests: the real-ledger fixtures.
//!
//! `LEDGERFLOW_FIXTURES` names the fixture directory (`.ci/run` sets it to
//! `../shared/fixtures`). Unset: fixture tests print that they were skipped and pass. Set: a
//! missing file fails the test.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The fixture root, or `None` (after saying the test is skipped) when the variable is unset.
pub fn fixtures(test: &str) -> Option<PathBuf> {
    match std::env::var_os("LEDGERFLOW_FIXTURES") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("expected/index.json").is_file(),
                "LEDGERFLOW_FIXTURES={} has no expected/index.json",
                dir.display()
            );
            Some(dir)
        }
        None => {
            eprintln!("{test}: skipped (LEDGERFLOW_FIXTURES is not set)");
            None
        }
    }
}

/// A fixture file that must exist.
pub fn fixture(root: &std::path::Path, relative: &str) -> PathBuf {
    let path = root.join(relative);
    assert!(path.exists(), "fixture {} is missing", path.display());
    path
}

/// `expected/index.json`, each entry with its expected file loaded under `"detail"`.
pub fn expected_entries(root: &std::path::Path) -> Vec<Value> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(root.join("expected/index.json")).expect("read index.json"))
            .expect("parse index.json");
    index
        .as_array()
        .expect("index.json is an array")
        .iter()
        .map(|entry| {
            let detail_path = fixture(root, entry["expected"].as_str().expect("expected path"));
            let detail: Value =
                serde_json::from_slice(&std::fs::read(&detail_path).expect("read expected file"))
                    .expect("parse expected file");
            let mut entry = entry.clone();
            entry["detail"] = detail;
            entry
        })
        .collect()
}

/// Network name used by the expected files -> passphrase.
pub fn network(name: &str) -> ledgerflow::network::Network {
    ledgerflow::network::Network::from_name_or_passphrase(name)
}

/// `txFEE_BUMP_INNER_SUCCESS` -> `TxFeeBumpInnerSuccess` comparison key.
pub fn code_key(code: &str) -> String {
    code.replace('_', "").to_ascii_lowercase()
}
