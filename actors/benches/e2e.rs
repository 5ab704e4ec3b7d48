//! End-to-end benchmark: N synthetic ledgers (or real ones, `--replay`) through the whole actor
//! tree (fetch, convert, analytics, Parquet archive, sled checkpoints) on a temp dir, against
//! the decode-only rate of the same ledgers.
//!
//!     cargo bench -p ledgerflow-actors --bench e2e -- --ledgers 10000 [--compression zstd(1)]
//!         [--max-in-flight-batches N] [--batch-ledgers N] [--max-batch-mib M]
//!         [--max-file-mib M] [--replay STORE]
//!
//! `--replay STORE` runs real ledgers instead of synthetic ones: the ledgers of the SEP-54 store
//! `STORE` (e.g. `$LEDGERFLOW_FIXTURES/datastore/pubnet`), cycled to `--ledgers` and renumbered
//! into one contiguous range (sequence and close time, 5 s apart; nothing else changes), so the
//! pipeline sees real transaction sets and metas at real sizes.
//!
//! Prints ledgers/s, rows/s, XDR MB/s, peak RSS (VmHWM), the output/raw size ratio and where
//! the time went per stage (busy time summed over workers, from the pipeline's counters).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ledgerflow::config::Config;
use ledgerflow::datastore::{DataStoreWriter, LocalDataStore, Manifest};
use ledgerflow::decode::{DecodeLimits, decode_ledger};
use ledgerflow::generator::SyntheticLedgers;
use ledgerflow_actors::{RunOutcome, StreamPlan};
use stellar_xdr::{LedgerCloseMeta, Limits, WriteXdr};

fn arg(name: &str, default: u64) -> u64 {
    text_arg(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Resets the peak RSS to the current RSS (`clear_refs` 5, Linux 4.0+), so the peak printed
/// after the run is the pipeline's, not the store writer's or the decode loop's before it.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// RSS sampled every 50 ms on a thread until `stop` is set: the highest sample in each tenth
/// of the run, so memory that grows with the run shows apart from spikes.
struct RssTimeline {
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<Vec<(f64, f64)>>,
}

impl RssTimeline {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::spawn(move || {
            let started = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                samples.push((started.elapsed().as_secs_f64(), rss_mib()));
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        });
        RssTimeline { stop, sampler }
    }

    /// The highest RSS of each tenth of the run, in MiB.
    fn finish(self) -> Vec<f64> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.sampler.join().expect("the RSS sampler");
        let end = samples.last().map_or(0.0, |(at, _)| *at).max(f64::MIN_POSITIVE);
        let mut tenths = vec![0.0f64; 10];
        for (at, rss) in samples {
            let tenth = ((at / end * 10.0) as usize).min(9);
            tenths[tenth] = tenths[tenth].max(rss);
        }
        tenths
    }
}

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat`.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // utime and stime are fields 14 and 15 of stat(5), 11 and 12 after the command; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| if e.path().is_dir() { dir_bytes(&e.path()) } else { e.metadata().map_or(0, |m| m.len()) })
        .sum()
}

/// The decode-only sample: the first 500 ledgers, or fewer once they hold 64 MiB of XDR (it is
/// in memory while it is decoded, and counts in the peak RSS).
const SAMPLE_LEDGERS: usize = 500;
const SAMPLE_BYTES: usize = 64 << 20;

/// The decode-only sample of `ledgers`, as XDR: the first [`SAMPLE_LEDGERS`], fewer once they
/// hold [`SAMPLE_BYTES`].
fn sample_of(ledgers: impl Iterator<Item = LedgerCloseMeta>) -> Vec<Vec<u8>> {
    let mut bytes = 0;
    ledgers
        .take(SAMPLE_LEDGERS)
        .map(|meta| meta.to_xdr(Limits::none()).expect("encode"))
        .take_while(|xdr| {
            let under = bytes < SAMPLE_BYTES;
            bytes += xdr.len();
            under
        })
        .collect()
}

/// The ledgers of the SEP-54 store `source`, in order and cycled without end, each renumbered:
/// sequence `first + i`, close time 5 s after the previous one.
fn replayed(source: &Path, first: u32) -> (Manifest, impl Iterator<Item = LedgerCloseMeta> + Clone) {
    let store = LocalDataStore::open(source).expect("--replay: a SEP-54 store");
    let limits = DecodeLimits::default();
    let mut originals = Vec::new();
    for (_, path) in store.objects().expect("--replay: list the store") {
        for ledger in store.read(&path, &limits).expect("--replay: read an object") {
            originals.push(ledger.expect("--replay: a ledger that decodes").meta);
        }
    }
    assert!(!originals.is_empty(), "--replay: {} holds no ledgers", source.display());
    let base_close_time = ledgerflow::ledger::header_entry(&originals[0]).header.scp_value.close_time.0;
    let ledgers = originals.into_iter().cycle().zip(0u32..).map(move |(mut meta, i)| {
        let header = match &mut meta {
            LedgerCloseMeta::V0(v) => &mut v.ledger_header.header,
            LedgerCloseMeta::V1(v) => &mut v.ledger_header.header,
            LedgerCloseMeta::V2(v) => &mut v.ledger_header.header,
        };
        header.ledger_seq = first + i;
        header.scp_value.close_time.0 = base_close_time + 5 * u64::from(i);
        meta
    });
    (Manifest::new(&store.manifest().network(), 1, 64000), ledgers)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes every bench target
    }
    let ledgers = arg("--ledgers", 10_000) as u32;
    let transactions = arg("--transactions-per-ledger", 100) as u32;
    let dir = tempfile::tempdir().expect("temp dir");

    let mut config = Config::default();
    config.archive.root = dir.path().join("data");
    config.source.ledgers = ledgers;
    config.source.transactions_per_ledger = transactions;
    config.service.progress = ledgerflow::config::ProgressMode::Off;
    if let Some(batches) = text_arg("--max-in-flight-batches") {
        config.pipeline.max_in_flight_batches = batches.parse().expect("--max-in-flight-batches: a number");
    }
    if let Some(ledgers) = text_arg("--batch-ledgers") {
        config.pipeline.batch_ledgers = ledgers.parse().expect("--batch-ledgers: a number");
    }
    if let Some(mib) = text_arg("--max-batch-mib") {
        config.pipeline.max_batch_bytes = mib.parse::<u64>().expect("--max-batch-mib: a number") << 20;
    }
    if let Some(mib) = text_arg("--max-file-mib") {
        config.archive.max_file_bytes = mib.parse::<u64>().expect("--max-file-mib: a number") << 20;
    }
    if let Some(codec) = text_arg("--compression") {
        config.archive.compression =
            codec.parse().expect("--compression: zstd, zstd(N), snappy, lz4, gzip, none");
    }
    config.validate().expect("valid config");
    let mut generator = config.generator_config().expect("synthetic");

    // The ledgers as a SEP-54 store (the layout Galexie writes), read by the data-store source:
    // the pipeline is measured as it runs on real stores, without the generator's own cost.
    let store = dir.path().join("store");
    generator.ledger_count = Some(ledgers);
    let started = Instant::now();
    let replay = text_arg("--replay").map(PathBuf::from);
    let sample = match &replay {
        Some(source) => {
            let (manifest, replay_ledgers) = replayed(source, generator.first_sequence);
            let count = ledgers as usize;
            let mut writer = DataStoreWriter::create(&store, &manifest).expect("create the store");
            for meta in replay_ledgers.clone().take(count) {
                writer.push(meta).expect("write the store");
            }
            writer.finish().expect("finish the store");
            sample_of(replay_ledgers.take(count))
        }
        None => {
            ledgerflow::generator::write_store(&generator, &store, 1, 64000).expect("write the store");
            sample_of(SyntheticLedgers::new(generator.clone()).expect("generator").map(|l| l.meta))
        }
    };
    let kind = match &replay {
        Some(source) => format!("real ledgers replayed from {}", source.display()),
        None => format!("synthetic ledgers (~{transactions} txs each)"),
    };
    eprintln!("store of {ledgers} ledgers written in {:.1} s", started.elapsed().as_secs_f64());
    config.source.kind = ledgerflow::config::SourceKind::Datastore;
    config.source.path = Some(store);
    config.stream.to = Some(generator.first_sequence + ledgers - 1);
    config.validate().expect("valid config");

    // Decode-only ceiling: one core decoding the sample of the same ledgers.
    let limits = DecodeLimits::default();
    let sample_bytes: usize = sample.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed().as_secs_f64() < 2.0 {
        for xdr in &sample {
            std::hint::black_box(decode_ledger(xdr, &limits).expect("decodes"));
        }
        rounds += 1;
    }
    let decode_secs = started.elapsed().as_secs_f64() / f64::from(rounds);
    let decode_rate = sample.len() as f64 / decode_secs;
    drop(sample);
    let setup_peak = peak_rss_mib();
    let peak_reset = reset_peak_rss();
    let timeline = RssTimeline::start();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (outcome, snapshot, secs, cpu) = runtime.block_on(async {
        let plan = StreamPlan::new(config.clone()).await.expect("plan");
        let started = Instant::now();
        let cpu_before = cpu_secs();
        let handle = ledgerflow_actors::start(plan).await.expect("start");
        let control = handle.control();
        let outcome = handle.wait().await;
        let secs = started.elapsed().as_secs_f64();
        (outcome, control.status(), secs, cpu_secs() - cpu_before)
    });
    assert!(matches!(outcome, RunOutcome::Completed { .. }), "{outcome:?}");
    let tenths = timeline.finish();
    let output = dir_bytes(&config.archive.root) - dir_bytes(&config.checkpoint_path());
    let compression = format!("{:?}", config.archive.compression);
    let rate = f64::from(ledgers) / secs;
    println!("end-to-end: {ledgers} {kind} from a SEP-54 store, 2 cores, {compression}");
    println!("  wall time              {secs:>10.2} s");
    println!("  ledgers/s              {rate:>10.0}");
    println!("  rows/s                 {:>10.0}", snapshot.rows_committed as f64 / secs);
    println!("  XDR MB/s               {:>10.1}", snapshot.xdr_bytes as f64 / secs / 1e6);
    let peak_of = if peak_reset {
        format!("the run; writing the store and decode-only before it: {setup_peak:.1}")
    } else {
        "the whole process: clear_refs unavailable".to_owned()
    };
    println!("  peak RSS               {:>10.1} MiB ({peak_of})", peak_rss_mib());
    let tenths: Vec<String> = tenths.iter().map(|mib| format!("{mib:.0}")).collect();
    println!("  RSS by tenth of the run {} MiB (highest sample every 50 ms)", tenths.join(" "));
    println!(
        "  output / raw XDR       {:>10.3} ({output} / {} bytes)",
        output as f64 / snapshot.xdr_bytes as f64,
        snapshot.xdr_bytes
    );
    println!(
        "  decode-only, 1 core    {decode_rate:>10.0} ledgers/s ({:.0} MB/s); end-to-end = {:.0}% of it",
        sample_bytes as f64 / decode_secs / 1e6,
        100.0 * rate / decode_rate
    );
    println!(
        "  CPU                    {cpu:>10.2} core-s ({:.2} core-ms per ledger; {:.0}% of 2 cores busy)",
        1000.0 * cpu / f64::from(ledgers),
        100.0 * cpu / (2.0 * secs)
    );
    println!(
        "  2-core ceiling at this CPU cost {:>6.0} ledgers/s = {:.0}% of decode-only",
        2.0 * f64::from(ledgers) / cpu,
        100.0 * 2.0 * f64::from(ledgers) / cpu / decode_rate
    );
    println!("  commits                {:>10}   rewinds {}", snapshot.commits, snapshot.rewinds);
    println!("  busy time per stage (s, summed over workers; 2 cores = {:.1} core-s available):", 2.0 * secs);
    for stage in &snapshot.stages {
        println!(
            "    {:<10} {:>8.2}  ({:>4.0}% of wall)",
            stage.stage.name(),
            stage.busy_secs,
            100.0 * stage.busy_secs / secs
        );
    }
    println!(
        "    {:<10} {:>8.2}  ({:>4.0}% of wall)",
        "commit",
        snapshot.commit_secs,
        100.0 * snapshot.commit_secs / secs
    );
}
