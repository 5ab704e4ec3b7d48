//! The data-store source and the archive on a real S3-compatible server (moto's, on 127.0.0.1),
//! driven through the real binary, with and without the faults of a proxy in front of it.
//!
//! Every run is compared with a run of the same ledgers from a local directory into a local
//! archive: the same ledgers exactly once, the same rows per ledger in every table, the same
//! analytics. `moto_server` comes from PyPI (`pip install 'moto[server]'`, done by `.ci/run`);
//! without it these tests fail under CI and are skipped elsewhere.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Result;
use ledgerflow_chaos::binary::{Finished, Ledgerflow};
use ledgerflow_chaos::fault_proxy::{Fault, FaultPlan, FaultProxy};
use ledgerflow_chaos::s3::MotoServer;
use ledgerflow_chaos::stream::{FIRST, Reference, StreamSpec, TestStream, ensure_success};
use ledgerflow_chaos::summary::{compare, summarize};
use tempfile::TempDir;

const LEDGERS: u32 = 60;
const TRANSACTIONS: u32 = 10;

fn bin() -> &'static Ledgerflow {
    static BIN: OnceLock<Ledgerflow> = OnceLock::new();
    BIN.get_or_init(|| Ledgerflow::locate().unwrap_or_else(|e| panic!("{e:#}")))
}

/// A generated store, uploaded to `lake/generated` on a fresh moto server, and the reference
/// run of the same store from its local directory.
struct Lake {
    moto: MotoServer,
    _dir: TempDir,
    spec: StreamSpec,
    reference: Reference,
}

fn lake(test: &str) -> Option<Lake> {
    let moto = MotoServer::start(test).unwrap_or_else(|e| panic!("{e:#}"))?;
    let dir = TempDir::new().unwrap();
    let store = dir.path().join("store");
    bin().generate(&store, LEDGERS, TRANSACTIONS, 11).unwrap_or_else(|e| panic!("{e:#}"));
    moto.create_bucket("lake").unwrap();
    moto.create_bucket("archive").unwrap();
    let uploaded = moto.upload_dir("lake", "generated", &store).unwrap();
    assert_eq!(uploaded, LEDGERS as usize + 1, "one object per ledger and the manifest");
    let spec = StreamSpec::datastore(&store, LEDGERS);
    let reference = Reference::run(bin(), &dir.path().join("reference"), &spec)
        .unwrap_or_else(|e| panic!("the local reference run: {e:#}"));
    Some(Lake { moto, _dir: dir, spec, reference })
}

/// Runs `spec` in `dir` with the S3 environment pointing at `endpoint`.
fn run_against(endpoint: &str, dir: &std::path::Path, spec: &StreamSpec) -> Result<(TestStream, Finished)> {
    let stream = TestStream::create(dir, spec)?;
    let env: Vec<(String, String)> = MotoServer::env(endpoint);
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let finished = bin().spawn_run(&stream.config_path, "", &env, &[])?.wait(Duration::from_secs(180))?;
    Ok((stream, finished))
}

#[test]
fn an_s3_data_store_is_read_completely_and_in_order() {
    let Some(lake) = lake("an_s3_data_store_is_read_completely_and_in_order") else { return };
    let dir = TempDir::new().unwrap();
    let spec = StreamSpec { source_url: Some("s3://lake/generated".into()), ..lake.spec.clone() };
    let (stream, finished) = run_against(&lake.moto.endpoint, dir.path(), &spec).unwrap();
    ensure_success(&finished, "the S3 source run").unwrap_or_else(|e| panic!("{e:#}"));
    let summary = summarize(stream.root()).unwrap();
    let comparison = compare(&lake.reference.summary, &summary, true);
    comparison.ensure_exact("the S3 source run").unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(summary.ranges()["ledgers"], vec![(FIRST, FIRST + LEDGERS - 1)]);
    assert_eq!(summary.rows("ledgers"), u64::from(LEDGERS));
    assert!(bin().verify(&stream.config_path).unwrap().ok());
}

#[test]
fn faults_between_ledgerflow_and_s3_end_with_the_same_archive() {
    let Some(lake) = lake("faults_between_ledgerflow_and_s3_end_with_the_same_archive") else { return };
    // One request in 4 is faulty, every fault of the list in turn (object_store retries a
    // couple itself; the rest reach the source supervisor, which restarts the fetcher).
    let proxy = FaultProxy::start(&lake.moto.endpoint, FaultPlan { every: 4, faults: Fault::all() }).unwrap();
    let dir = TempDir::new().unwrap();
    let spec = StreamSpec { source_url: Some("s3://lake/generated".into()), ..lake.spec.clone() };
    let (stream, finished) = run_against(&proxy.endpoint(), dir.path(), &spec).unwrap();
    ensure_success(&finished, "the faulty S3 source run").unwrap_or_else(|e| panic!("{e:#}"));
    let injected = proxy.injected();
    for fault in Fault::all() {
        assert!(
            injected.get(fault.name()).copied().unwrap_or(0) >= 1,
            "no {} injected: {injected:?}",
            fault.name()
        );
    }
    let summary = summarize(stream.root()).unwrap();
    compare(&lake.reference.summary, &summary, true)
        .ensure_exact("the faulty S3 source run")
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(bin().verify(&stream.config_path).unwrap().ok());
    eprintln!("faults injected: {injected:?} over {} requests", proxy.requests());
}

#[test]
fn fixture_stores_in_s3_inspect_exactly_as_their_directories() {
    // Relative paths are relative to the workspace root, where `.ci/run` runs.
    let fixtures = std::env::var_os("LEDGERFLOW_FIXTURES")
        .map(|dir| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir));
    let Some(fixtures) = fixtures else {
        eprintln!(
            "fixture_stores_in_s3_inspect_exactly_as_their_directories: skipped (LEDGERFLOW_FIXTURES is not set)"
        );
        return;
    };
    let Some(moto) = MotoServer::start("fixture_stores_in_s3_inspect_exactly_as_their_directories").unwrap()
    else {
        return;
    };
    moto.create_bucket("fixtures").unwrap();
    for store in ["pubnet", "testnet", "testnet-2022-batched", "standalone-p23"] {
        let dir = fixtures.join("datastore").join(store);
        assert!(dir.join(".config.json").is_file(), "{} is missing", dir.display());
        moto.upload_dir("fixtures", store, &dir).unwrap();
        let inspect = |target: &str| {
            let output = bin()
                .command()
                .envs(MotoServer::env(&moto.endpoint))
                .args(["inspect", "--json", target])
                .output()
                .unwrap();
            assert!(output.status.success(), "inspect {target}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8(output.stdout).unwrap()
        };
        let local = inspect(dir.to_str().unwrap());
        let remote = inspect(&format!("s3://fixtures/{store}"));
        assert!(local.lines().count() >= 2, "{store}: {local}");
        assert_eq!(
            remote, local,
            "{store}: the S3 copy lists the same ledgers, in order, with the same values"
        );
    }
}

#[test]
fn an_s3_archive_from_an_s3_store_through_faults_equals_the_local_run() {
    let Some(lake) = lake("an_s3_archive_from_an_s3_store_through_faults_equals_the_local_run") else {
        return;
    };
    let proxy = FaultProxy::start(&lake.moto.endpoint, FaultPlan { every: 5, faults: Fault::all() }).unwrap();
    let dir = TempDir::new().unwrap();
    let spec = StreamSpec {
        source_url: Some("s3://lake/generated".into()),
        archive_url: Some("s3://archive/ledgerflow".into()),
        ..lake.spec.clone()
    };
    let (stream, finished) = run_against(&proxy.endpoint(), dir.path(), &spec).unwrap();
    ensure_success(&finished, "the S3-to-S3 run").unwrap_or_else(|e| panic!("{e:#}"));
    let injected = proxy.injected();
    assert!(injected.values().sum::<u64>() >= 6, "faults injected: {injected:?}");
    // Nothing but the checkpoint is left on local disk; the bucket holds the hive tree.
    let local: Vec<String> = std::fs::read_dir(stream.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(local, vec!["_checkpoint".to_owned()]);
    let keys = lake.moto.keys("archive", "ledgerflow").unwrap();
    assert!(keys.iter().all(|k| !k.starts_with("_staging/")), "staging keys left: {keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("ledgers/date=")), "{keys:?}");
    let copy = dir.path().join("downloaded");
    lake.moto.download_dir("archive", "ledgerflow", &copy).unwrap();
    let summary = summarize(&copy).unwrap();
    compare(&lake.reference.summary, &summary, true)
        .ensure_exact("the S3 archive")
        .unwrap_or_else(|e| panic!("{e:#}"));
    // `ledgerflow verify` reads the bucket itself (straight to the server, no faults).
    let output = bin()
        .command()
        .envs(MotoServer::env(&lake.moto.endpoint))
        .args(["verify", "--json", "--config"])
        .arg(&stream.config_path)
        .output()
        .unwrap();
    assert!(output.status.success(), "verify: {}", String::from_utf8_lossy(&output.stdout));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ledger_rows"], u64::from(LEDGERS));
}

#[test]
fn kill9_at_each_commit_step_of_an_s3_archive_then_a_restart_equals_the_local_run() {
    use ledgerflow_chaos::faults::{COMMIT_STEPS, failpoints_env};
    use ledgerflow_chaos::procfs::in_failpoint_sleep;
    let Some(lake) = lake("kill9_at_each_commit_step_of_an_s3_archive_then_a_restart_equals_the_local_run")
    else {
        return;
    };
    let env: Vec<(String, String)> = MotoServer::env(&lake.moto.endpoint);
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    for (index, failpoint) in COMMIT_STEPS.iter().enumerate() {
        let dir = TempDir::new().unwrap();
        let prefix = format!("kill-{index}");
        let spec = StreamSpec {
            source_url: Some("s3://lake/generated".into()),
            archive_url: Some(format!("s3://archive/{prefix}")),
            ..lake.spec.clone()
        };
        let stream = TestStream::create(dir.path(), &spec).unwrap();
        // The second time the step runs: one commit is in the bucket already.
        let armed = failpoints_env(&[(failpoint, "1*off->sleep(60000)".to_owned())]);
        let mut running = bin().spawn_run(&stream.config_path, &armed, &env, &[]).unwrap();
        assert!(
            running.poll_until(Duration::from_secs(60), in_failpoint_sleep).unwrap(),
            "{failpoint} never fired"
        );
        let (killed, _) = running.kill9().unwrap();
        assert!(killed, "{failpoint}: the run ended before the kill");
        let finished = bin()
            .spawn_run(&stream.config_path, "", &env, &[])
            .unwrap()
            .wait(Duration::from_secs(180))
            .unwrap();
        ensure_success(&finished, &format!("the restart after a kill at {failpoint}"))
            .unwrap_or_else(|e| panic!("{e:#}"));
        let keys = lake.moto.keys("archive", &prefix).unwrap();
        assert!(keys.iter().all(|k| !k.starts_with("_staging/")), "{failpoint}: staging keys left: {keys:?}");
        let copy = dir.path().join("downloaded");
        lake.moto.download_dir("archive", &prefix, &copy).unwrap();
        compare(&lake.reference.summary, &summarize(&copy).unwrap(), true)
            .ensure_exact(&format!("the S3 archive after a kill at {failpoint}"))
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
}
