//! Data-store read throughput from a local S3 server (moto's, on 127.0.0.1) with 1, 4 and 16
//! requests in flight at most, as the fetcher reads: computed keys, ordered delivery, the
//! byte-bounded read-ahead and the AIMD window (whose cap is the fetcher count here).
//!
//! Two rounds: straight to the server (loopback: the server's own speed), and through a proxy
//! that delays every reply by `--latency-ms` (default 30 ms, a cloud store's first-byte
//! latency), where parallelism is what makes the difference.
//!
//! `cargo bench -p ledgerflow-chaos --bench s3_read -- [--ledgers N] [--transactions N] [--latency-ms N]`
//! (needs `moto_server`: `pip install 'moto[server]'`).

use std::time::{Duration, Instant};

use ledgerflow::datastore::ObjectDataStore;
use ledgerflow::generator::{GeneratorConfig, write_store};
use ledgerflow::source::{LedgerSource, RemoteDataStoreSource, RemoteStore, SourceRead};
use ledgerflow::storage::{ObjectLocation, StorageOptions};
use ledgerflow_chaos::fault_proxy::{Fault, FaultPlan, FaultProxy};
use ledgerflow_chaos::s3::MotoServer;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo test --benches` asks for a listing
    }
    // Credentials come from the environment only (object_store reads them there); moto
    // accepts any. Set before any thread starts.
    for (key, value) in MotoServer::env("unused") {
        if key.starts_with("AWS_ACCESS") || key.starts_with("AWS_SECRET") {
            // SAFETY: single-threaded here, before the runtime and the server start.
            unsafe { std::env::set_var(key, value) };
        }
    }
    let ledgers = arg("--ledgers", 2_000) as u32;
    let transactions = arg("--transactions", 100) as u32;
    let latency = Duration::from_millis(arg("--latency-ms", 30));
    let Some(moto) = MotoServer::start("s3_read")? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let config = GeneratorConfig {
        ledger_count: Some(ledgers),
        transactions_per_ledger: transactions,
        ..GeneratorConfig::default()
    };
    let summary = write_store(&config, dir.path(), 1, 64_000)?;
    moto.create_bucket("bench")?;
    moto.upload_dir("bench", "pubnet", dir.path())?;
    let stored: u64 = ledgerflow_chaos::s3::files_below(dir.path())?
        .iter()
        .map(|(_, path)| std::fs::metadata(path).map_or(0, |m| m.len()))
        .sum();
    println!(
        "store: {} ledgers ({} transactions each), {} objects, {:.1} MiB compressed",
        summary.ledgers,
        transactions,
        summary.objects,
        stored as f64 / f64::from(1 << 20)
    );
    let proxy =
        FaultProxy::start(&moto.endpoint, FaultPlan { every: 1, faults: vec![Fault::Slow(latency)] })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    println!("| endpoint | fetchers (cap) | objects/s | MiB/s | ledgers/s | final window |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (label, endpoint) in [
        ("loopback".to_owned(), moto.endpoint.clone()),
        (format!("+{} ms", latency.as_millis()), proxy.endpoint()),
    ] {
        for cap in [1u32, 4, 16] {
            let options: StorageOptions = [
                ("aws_endpoint", endpoint.as_str()),
                ("aws_allow_http", "true"),
                ("aws_region", ledgerflow_chaos::s3::REGION),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            let location = ObjectLocation::open("s3://bench/pubnet", "bench", &options)?;
            let store = runtime.block_on(ObjectDataStore::open(location))?;
            let shared = RemoteStore::new(store, cap, 128 << 20);
            let mut source =
                RemoteDataStoreSource::new(shared.clone(), runtime.handle().clone(), None, false);
            let started = Instant::now();
            let (mut next, mut objects, mut bytes) = (config.first_sequence, 0u64, 0u64);
            loop {
                match source.read(next, None, 64, 64 << 20)? {
                    SourceRead::Batch(batch) => {
                        objects += batch.objects.len() as u64;
                        bytes += batch.bytes() as u64;
                        next = batch.range.last() + 1;
                    }
                    SourceRead::End => break,
                    SourceRead::NotYet => anyhow::bail!("a bounded store is never `not yet`"),
                }
            }
            let secs = started.elapsed().as_secs_f64();
            anyhow::ensure!(
                objects == u64::from(summary.objects),
                "read {objects} of {} objects",
                summary.objects
            );
            println!(
                "| {label} | {cap} | {:.0} | {:.1} | {:.0} | {} |",
                objects as f64 / secs,
                bytes as f64 / f64::from(1 << 20) / secs,
                f64::from(summary.ledgers) / secs,
                shared.concurrency()
            );
        }
    }
    Ok(())
}
