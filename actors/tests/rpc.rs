//! The real actor tree reading Stellar RPC (`source.kind = "rpc"`) and handing over from a data
//! store to RPC, against the in-process fake RPC (`ledgerflow::source::rpc::fake`) serving the
//! 64 real testnet ledgers 1410048..=1410111 of `datastore/testnet-2022-batched` (241
//! transactions, 286 operations). Faults (500, 503 and 429 with `Retry-After`, a slow body, a
//! truncated body, a dropped connection) are retried and leave the archive equal to a
//! fault-free run's.

mod support;

use std::path::Path;

use ledgerflow::config::{Config, SourceKind};
use ledgerflow::network::TESTNET_PASSPHRASE;
use ledgerflow::source::rpc::fake::{FakeRpc, Fault, ledgers_of_file};
use ledgerflow_actors::RunOutcome;
use support::*;

const FIRST: u32 = 1_410_048;
const LAST: u32 = 1_410_111;
const STORE: &str = "datastore/testnet-2022-batched";
const PARTITION: &str = "FFEA7BFF--1410048-1410111";
/// The store's four 16-ledger objects, in ledger order.
const OBJECTS: [&str; 4] = [
    "FFEA7BFF--1410048-1410063.xdr.zst",
    "FFEA7BEF--1410064-1410079.xdr.zst",
    "FFEA7BDF--1410080-1410095.xdr.zst",
    "FFEA7BCF--1410096-1410111.xdr.zst",
];

/// The fixture ledgers of `objects`, each as its own `LedgerCloseMeta` XDR.
fn ledgers(fixtures: &Path, objects: &[&str]) -> Vec<Vec<u8>> {
    objects
        .iter()
        .flat_map(|object| {
            let path = fixture(fixtures, &format!("{STORE}/{PARTITION}/{object}"));
            ledgers_of_file(&path).unwrap_or_else(|e| panic!("{object}: {e}"))
        })
        .map(|(_, xdr)| xdr)
        .collect()
}

fn fixture(root: &Path, relative: &str) -> std::path::PathBuf {
    let path = root.join(relative);
    assert!(path.exists(), "fixture {} is missing", path.display());
    path
}

/// A copy of the batched store holding only `objects`.
fn store_of(fixtures: &Path, objects: &[&str], into: &Path) -> std::path::PathBuf {
    let root = into.join("store");
    std::fs::create_dir_all(root.join(PARTITION)).unwrap();
    std::fs::copy(fixture(fixtures, &format!("{STORE}/.config.json")), root.join(".config.json")).unwrap();
    for object in objects {
        let relative = format!("{PARTITION}/{object}");
        std::fs::copy(fixture(fixtures, &format!("{STORE}/{relative}")), root.join(relative)).unwrap();
    }
    root
}

fn stream(root: &Path) -> Config {
    let mut config = config(root, 64);
    config.stream.from = Some(FIRST);
    config.stream.to = Some(LAST);
    config
}

fn rpc_config(root: &Path, rpc: &FakeRpc) -> Config {
    let mut config = stream(root);
    config.source.kind = SourceKind::Rpc;
    config.source.rpc_url = Some(rpc.url());
    config.source.rpc_ledgers_per_request = 4;
    config.validate().expect("valid");
    config
}

/// The archive is the 64 fixture ledgers exactly once, with the independent decoder's counts.
fn assert_the_fixture_ledgers(config: &Config) -> ArchiveSummary {
    assert_complete(&verify(config), FIRST, LAST);
    let summary = summarize(&config.archive.root);
    assert_eq!(summary.rows_per_ledger["ledgers"].len(), 64);
    assert!(summary.rows_per_ledger["ledgers"].values().all(|&rows| rows == 1));
    assert_eq!(summary.rows("transactions"), 241);
    assert_eq!(summary.rows("operations"), 286);
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_stream_through_every_fault_equals_a_fault_free_run() {
    let Some(fixtures) = fixtures("an_rpc_stream_through_every_fault_equals_a_fault_free_run") else {
        return;
    };
    let rpc = FakeRpc::start(ledgers(&fixtures, &OBJECTS), TESTNET_PASSPHRASE).await.expect("fake rpc");

    let dir = tempfile::tempdir().unwrap();
    let reference = rpc_config(&dir.path().join("reference"), &rpc);
    let outcome = run(reference.clone()).await;
    assert!(matches!(outcome, RunOutcome::Completed { next: 1_410_112 }), "{outcome:?}");
    let expected = assert_the_fixture_ledgers(&reference);

    let faulty = rpc_config(&dir.path().join("faulty"), &rpc);
    let faults = [
        Fault::None,
        Fault::status(500),
        Fault::retry_after(503, "1"),
        Fault::None,
        Fault::None,
        Fault::retry_after(429, "0"),
        Fault::SlowBody { chunks: 3, delay: std::time::Duration::from_millis(20) },
        Fault::TruncatedBody,
        Fault::None,
        Fault::DropConnection,
        Fault::status(502),
    ];
    rpc.push_faults(faults);
    let (outcome, status) = run_with_status(faulty.clone()).await;
    assert!(matches!(outcome, RunOutcome::Completed { next: 1_410_112 }), "{outcome:?}");
    assert_eq!(rpc.faults_pending(), 0, "every fault was served");
    assert_eq!(rpc.faults_injected(), 7);
    // Batches of 6 ledgers are read in two pages (4 + 2). A fault on a read's first page fails
    // the read (the 503, the 429, the 502: the supervisor restarts the fetcher, after the
    // Retry-After); on a second page it only ends that batch early (the 500, the truncated
    // body, the dropped connection); the slow body is only slow.
    let source = status.stages.iter().find(|s| s.stage == ledgerflow_actors::stats::Stage::Source).unwrap();
    assert_eq!(source.failures, 3, "{:?}", status.stages);
    assert_eq!(source.restarts, source.failures);
    assert_eq!(assert_the_fixture_ledgers(&faulty), expected);
}

/// Runs the stream to its end; its outcome and its counters.
async fn run_with_status(config: Config) -> (RunOutcome, ledgerflow_actors::stats::StatsSnapshot) {
    let plan = ledgerflow_actors::StreamPlan::new(config).await.expect("plan");
    let handle = ledgerflow_actors::start(plan).await.expect("start");
    let control = handle.control();
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(120), handle.wait())
        .await
        .expect("run finishes in time");
    (outcome, control.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_before_the_rpc_window_stops_the_stream_naming_the_oldest_ledger() {
    let Some(fixtures) = fixtures("a_start_before_the_rpc_window_stops_the_stream_naming_the_oldest_ledger")
    else {
        return;
    };
    let rpc = FakeRpc::start(ledgers(&fixtures, &OBJECTS[2..]), TESTNET_PASSPHRASE).await.expect("fake rpc");
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(rpc_config(dir.path(), &rpc)).await;
    let RunOutcome::Failed(reason) = outcome else {
        panic!("the stream cannot start at {FIRST}: {outcome:?}")
    };
    assert!(reason.contains("ledger 1410048 is older than the RPC's retention window"), "{reason}");
    assert!(reason.contains("holds ledgers 1410080 to 1410111"), "{reason}");
    assert!(reason.contains("source.kind = \"datastore\""), "{reason}");
}

/// The store holds 1410048..=1410095, the RPC 1410080..=1410111 (16 ledgers of overlap): the
/// stream reads the store to its tip, then RPC from 1410096 exactly, through faults after the
/// seam (each restart derives the hand-over again from the checkpoint).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_hands_over_from_the_data_store_to_rpc_at_the_stores_tip_with_no_gap_or_duplicate() {
    let Some(fixtures) =
        fixtures("a_stream_hands_over_from_the_data_store_to_rpc_at_the_stores_tip_with_no_gap_or_duplicate")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The reference: the whole store, no RPC.
    let mut reference = stream(&dir.path().join("reference"));
    reference.source.kind = SourceKind::Datastore;
    reference.source.path = Some(store_of(&fixtures, &OBJECTS, &dir.path().join("full")));
    let outcome = run(reference.clone()).await;
    assert!(matches!(outcome, RunOutcome::Completed { next: 1_410_112 }), "{outcome:?}");
    let expected = assert_the_fixture_ledgers(&reference);

    let rpc = FakeRpc::start(ledgers(&fixtures, &OBJECTS[2..]), TESTNET_PASSPHRASE).await.expect("fake rpc");
    rpc.push_faults([Fault::None, Fault::status(500), Fault::DropConnection]);
    let mut handover = stream(&dir.path().join("handover"));
    handover.source.kind = SourceKind::Datastore;
    handover.source.path = Some(store_of(&fixtures, &OBJECTS[..3], &dir.path().join("partial")));
    handover.source.rpc_url = Some(rpc.url());
    handover.validate().expect("valid");
    let outcome = run(handover.clone()).await;
    assert!(matches!(outcome, RunOutcome::Completed { next: 1_410_112 }), "{outcome:?}");
    assert_eq!(rpc.faults_injected(), 2);
    assert_eq!(assert_the_fixture_ledgers(&handover), expected);
    // The seam: RPC was first asked for 1410096, the ledger after the store's last, and never
    // for one the store holds.
    let asked = rpc.get_ledgers_params();
    assert_eq!(asked[0]["startLedger"], 1_410_096, "{asked:?}");
    assert!(
        asked.iter().filter_map(|p| p["startLedger"].as_u64()).all(|start| start >= 1_410_096),
        "{asked:?}"
    );
}
