//! The real binary on Stellar RPC (`source.kind = "rpc"`), against the in-process fake RPC
//! (`ledgerflow::source::rpc::fake`) serving the ledgers of a `ledgerflow generate` store: through
//! HTTP faults (500, 502, 503 and 429 with `Retry-After`, a truncated body, a dropped
//! connection, a slow body) and a kill -9 mid-stream, the run ends with `ledgerflow verify`
//! exiting 0 and the archive equal to the data store's uninterrupted reference run (the same
//! ledgers exactly once, the same rows per ledger in every table, the same analytics rows).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use ledgerflow::network::SYNTHETIC_PASSPHRASE;
use ledgerflow::source::rpc::fake::{FakeRpc, Fault, ledgers_of_file};
use ledgerflow_chaos::binary::Ledgerflow;
use ledgerflow_chaos::stream::{FIRST, RUN_TIMEOUT, Reference, StreamSpec, ensure_success};
use ledgerflow_chaos::summary::{compare, summarize};
use tempfile::TempDir;

const LEDGERS: u32 = 60;

fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(objects(&path));
        } else if path.to_string_lossy().ends_with(".xdr.zst") {
            found.push(path);
        }
    }
    found
}

/// The config of `spec` for `dir` with its source replaced by the RPC at `url`.
fn rpc_config(spec: &StreamSpec, dir: &Path, store: &Path, url: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let datastore = format!("kind = \"datastore\"\npath = {:?}\n", store.display().to_string());
    let toml = spec.toml(dir);
    anyhow::ensure!(toml.contains(&datastore), "the spec's source section changed: {toml}");
    let toml = toml
        .replace(&datastore, &format!("kind = \"rpc\"\nrpc_url = {url:?}\nrpc_ledgers_per_request = 4\n"))
        + &format!("\n[stream]\nto = {}\n", spec.last());
    let path = dir.join("ledgerflow.toml");
    std::fs::write(&path, toml)?;
    Ok(path)
}

#[test]
fn the_binary_on_rpc_through_http_faults_and_kill9_equals_the_data_store_reference() -> Result<()> {
    let bin = Ledgerflow::locate()?;
    let dir = TempDir::new()?;
    let store = dir.path().join("store");
    bin.generate(&store, LEDGERS, 10, 7)?;
    let spec = StreamSpec::datastore(&store, LEDGERS);
    let reference = Reference::run(&bin, &dir.path().join("reference"), &spec)?;

    let mut ledgers = Vec::new();
    for object in objects(&store) {
        ledgers.extend(ledgers_of_file(&object)?.into_iter().map(|(_, xdr)| xdr));
    }
    assert_eq!(ledgers.len() as u32, LEDGERS);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let rpc = runtime.block_on(FakeRpc::start(ledgers, SYNTHETIC_PASSPHRASE))?;
    rpc.push_faults([
        Fault::None,
        Fault::status(500),
        Fault::retry_after(503, "1"),
        Fault::None,
        Fault::retry_after(429, "0"),
        Fault::TruncatedBody,
        Fault::DropConnection,
        Fault::None,
        Fault::SlowBody { chunks: 3, delay: Duration::from_millis(20) },
        Fault::status(502),
    ]);
    let config = rpc_config(&spec, &dir.path().join("rpc"), &store, &rpc.url())?;

    // First run: killed once the first fault has been retried.
    let running = bin.spawn_run(&config, "", &[], &[])?;
    let retried = running.wait_for(RUN_TIMEOUT, |line| line.contains("worker failed, restarting"));
    let (killed, first) = running.kill9()?;
    anyhow::ensure!(retried, "no retry seen before the kill; log tail:\n{}", first.tail(20));
    // The kill lands while the source waits out the 503's `Retry-After: 1`.
    assert!(killed, "the first run had ended before the kill");
    // Then to the end.
    let finished = bin.run(&config, "", RUN_TIMEOUT)?;
    ensure_success(&finished, "the run after kill -9")?;
    assert_eq!(rpc.faults_pending(), 0, "every fault was served");
    assert_eq!(rpc.faults_injected(), 7);

    let verify = bin.verify(&config)?;
    anyhow::ensure!(verify.ok(), "ledgerflow verify failed: {:#}", verify.report);
    let actual = summarize(&dir.path().join("rpc/data")).context("read the archive back")?;
    compare(&reference.summary, &actual, true).ensure_exact("rpc through faults and kill -9")?;
    assert_eq!(actual.ranges()["ledgers"], vec![(FIRST, FIRST + LEDGERS - 1)]);
    Ok(())
}
