//! Helpers of the pipeline tests: a small fast stream configuration, running the real actor
//! tree in-process, and a content summary of an archive (read back from the Parquet files).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt32Type;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use ledgerflow::archive::{ArchiveStore, Area, StoredFile};
use ledgerflow::config::Config;
use ledgerflow::tables::Table;
use ledgerflow_actors::{RunOutcome, StreamPlan};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A stream of `ledgers` synthetic ledgers into `root`, sized so it makes several batches and
/// several commits, with fast retries.
pub fn config(root: &Path, ledgers: u32) -> Config {
    let mut config = Config::default();
    config.archive.root = root.join("data");
    config.source.ledgers = ledgers;
    config.source.transactions_per_ledger = 12;
    config.pipeline.batch_ledgers = 6;
    config.pipeline.max_in_flight_batches = 3;
    config.archive.max_ledgers_per_file = 15;
    config.convert.workers = 2;
    config.service.progress = ledgerflow::config::ProgressMode::Off;
    for section in [
        &mut config.resilience.source,
        &mut config.resilience.convert,
        &mut config.resilience.analytics,
        &mut config.resilience.archive,
    ] {
        section.retry.initial_interval_ms = 5;
        section.retry.max_interval_ms = 50;
        section.breaker.failure_threshold = 1000;
        section.breaker.cool_down_ms = 100;
    }
    config.analytics.window_secs = 30;
    config.analytics.high_value_threshold_stroops = 5_000_000_000;
    config.validate().expect("test config is valid");
    config
}

/// Escalates the first failure of any stage: a failure then stops the stream where it
/// happened, as a crash would.
pub fn crash_on_first_failure(config: &mut Config) {
    for section in [
        &mut config.resilience.source,
        &mut config.resilience.convert,
        &mut config.resilience.analytics,
        &mut config.resilience.archive,
    ] {
        section.retry.max_elapsed_time_ms = Some(1);
    }
}

/// Runs the stream to its end in this process.
pub async fn run(config: Config) -> RunOutcome {
    let plan = StreamPlan::new(config).await.expect("plan");
    let handle = ledgerflow_actors::start(plan).await.expect("start");
    tokio::time::timeout(std::time::Duration::from_secs(120), handle.wait())
        .await
        .expect("run finishes in time")
}

/// What an archive holds, independent of how it was cut into files: per table, rows per
/// ledger; for the analytics tables, every row.
#[derive(Debug, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub rows_per_ledger: BTreeMap<&'static str, BTreeMap<u32, u64>>,
    pub analytics_rows: BTreeMap<&'static str, Vec<String>>,
}

impl ArchiveSummary {
    pub fn rows(&self, table: &str) -> u64 {
        self.rows_per_ledger.get(table).map_or(0, |m| m.values().sum())
    }
}

/// The summary of the local directory `root`, read file by file.
pub fn summarize(root: &Path) -> ArchiveSummary {
    summarize_tables(|table| read_table(root, table.name()))
}

/// The summary of the configured archive (`archive.url` or `archive.root`), read through the
/// library's store (scan, then each file's bytes), on a thread of its own: an object store's
/// requests block, which an async test thread must not.
pub fn summarize_archive(config: &Config) -> ArchiveSummary {
    on_a_plain_thread(|| {
        let store = ArchiveStore::from_config(&config.archive).expect("archive store");
        let files = store.scan().expect("scan");
        summarize_tables(|table| {
            files
                .iter()
                .filter(|f| f.key.table == table)
                .flat_map(|file| match store.open_file(&file.key, Area::Published).expect("open") {
                    StoredFile::Local(reader) => read_batches(reader),
                    StoredFile::Object(bytes) => read_batches(bytes),
                })
                .collect()
        })
    })
}

fn read_batches<R: parquet::file::reader::ChunkReader + 'static>(reader: R) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(reader)
        .expect("parquet")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

/// Runs `work` on a new thread, outside the test's runtime, and returns its result.
fn on_a_plain_thread<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().expect("the thread finishes"))
}

fn summarize_tables(read: impl Fn(Table) -> Vec<RecordBatch>) -> ArchiveSummary {
    let mut rows_per_ledger = BTreeMap::new();
    let mut analytics_rows = BTreeMap::new();
    for table in Table::ALL {
        let mut per_ledger = BTreeMap::new();
        let mut rows = Vec::new();
        for batch in read(table) {
            let column = if table == Table::Ledgers { "sequence" } else { "ledger_sequence" };
            let sequences =
                batch.column_by_name(column).expect("sequence column").as_primitive::<UInt32Type>();
            for sequence in sequences.iter().flatten() {
                *per_ledger.entry(sequence).or_insert(0u64) += 1;
            }
            if matches!(table, Table::Analytics(_)) {
                rows.extend(format_rows(&batch));
            }
        }
        rows.sort();
        rows_per_ledger.insert(table.name(), per_ledger);
        if matches!(table, Table::Analytics(_)) {
            analytics_rows.insert(table.name(), rows);
        }
    }
    ArchiveSummary { rows_per_ledger, analytics_rows }
}

/// Every batch of every published Parquet file of `table`.
pub fn read_table(root: &Path, table: &str) -> Vec<RecordBatch> {
    let mut files: Vec<_> = walk(&root.join(table))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files.iter().flat_map(|path| read_batches(std::fs::File::open(path).expect("open parquet"))).collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

fn format_rows(batch: &RecordBatch) -> Vec<String> {
    let options = FormatOptions::default();
    // Timestamps print as UTC micros without their zone (zone names need chrono-tz).
    let columns: Vec<arrow::array::ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            arrow::datatypes::DataType::Timestamp(_, Some(_)) => std::sync::Arc::new(
                c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .clone()
                    .with_timezone_opt(None::<String>),
            ) as arrow::array::ArrayRef,
            _ => c.clone(),
        })
        .collect();
    let formatters: Vec<_> =
        columns.iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter")).collect();
    (0..batch.num_rows())
        .map(|row| formatters.iter().map(|f| f.value(row).to_string()).collect::<Vec<_>>().join("|"))
        .collect()
}

/// The checkpoint of the stream, read with the library.
pub fn checkpoint(config: &Config) -> Option<ledgerflow::checkpoint::Checkpoint> {
    let store = ledgerflow_actors::service::open_store(&config.checkpoint_path()).expect("open checkpoint");
    store.load(&config.stream.id).expect("load checkpoint")
}

/// The library's verify of the configured archive (`archive.url` or `archive.root`) against
/// the checkpoint.
pub fn verify(config: &Config) -> ledgerflow::verify::VerifyReport {
    let checkpoint = checkpoint(config);
    on_a_plain_thread(|| {
        let store = ArchiveStore::from_config(&config.archive).expect("archive store");
        ledgerflow::verify::verify_store(&store, checkpoint.as_ref()).expect("verify")
    })
}

/// Asserts `report` is complete over exactly `first..=last`.
pub fn assert_complete(report: &ledgerflow::verify::VerifyReport, first: u32, last: u32) {
    assert!(report.is_ok(), "{report:#?}");
    let range = report.range.expect("something committed");
    assert_eq!((range.first(), range.last()), (first, last));
    assert_eq!(report.ledger_rows, u64::from(last - first + 1));
}

/// The fixture root (`LEDGERFLOW_FIXTURES`, relative to the workspace root), or `None` after
/// saying the test is skipped when the variable is unset.
pub fn fixtures(test: &str) -> Option<std::path::PathBuf> {
    match std::env::var_os("LEDGERFLOW_FIXTURES") {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            let dir = if dir.is_relative() {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
            } else {
                dir
            };
            assert!(dir.join("expected/index.json").is_file(), "no fixtures at {}", dir.display());
            Some(dir)
        }
        None => {
            eprintln!("{test}: skipped (LEDGERFLOW_FIXTURES is not set)");
            None
        }
    }
}
