//! Prometheus metrics of one stream (served on `/metrics`, design §6).
//!
//! The pipeline's counters live in [`PipelineStats`] as atomics the actors bump without
//! blocking; at each scrape [`Metrics::render`] copies them into the exporter's recorder and
//! renders the text format. Batch latencies are the exception: they are histograms, observed
//! where each stage finishes a batch ([`Metrics::observe`]). The recorder is this stream's own
//! (never installed globally), so several streams or test runs in one process do not mix.
//!
//! Every series carries a `stream` label. Names: `ledgerflow_*_total` counters,
//! `ledgerflow_batch_stage_seconds{stage}` histograms, gauges for positions, credits, breakers
//! and memory. The README lists them.

use std::sync::atomic::Ordering;
use std::time::Duration;

use metrics::{Histogram, Unit, with_local_recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::stats::{PipelineStats, Stage};

/// Where a batch's time is measured (the discriminant indexes [`LatencyStage::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyStage {
    Fetch,
    Convert,
    Analytics,
    Archive,
    Checkpoint,
}

impl LatencyStage {
    pub const ALL: [LatencyStage; 5] = [
        LatencyStage::Fetch,
        LatencyStage::Convert,
        LatencyStage::Analytics,
        LatencyStage::Archive,
        LatencyStage::Checkpoint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LatencyStage::Fetch => "fetch",
            LatencyStage::Convert => "convert",
            LatencyStage::Analytics => "analytics",
            LatencyStage::Archive => "archive",
            LatencyStage::Checkpoint => "checkpoint",
        }
    }
}

/// Seconds; from a cheap in-memory analytics step to a slow object-store upload.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

pub const STAGE_SECONDS: &str = "ledgerflow_batch_stage_seconds";

/// The stream's recorder and its latency histograms.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    stream: String,
    latency: Vec<Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("stream", &self.stream).finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(stream: &str) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(STAGE_SECONDS.to_owned()), &LATENCY_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        let stream = stream.to_owned();
        let latency = with_local_recorder(&recorder, || {
            describe();
            LatencyStage::ALL
                .iter()
                .map(|stage| metrics::histogram!(STAGE_SECONDS, "stream" => stream.clone(), "stage" => stage.name()))
                .collect()
        });
        Metrics { recorder, handle, stream, latency }
    }

    /// Records how long `stage` spent on one batch.
    pub fn observe(&self, stage: LatencyStage, elapsed: Duration) {
        self.latency[stage as usize].record(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of `stats` (version 0.0.4).
    pub fn render(&self, stats: &PipelineStats) -> String {
        let snapshot = stats.snapshot();
        let stream = self.stream.clone();
        with_local_recorder(&self.recorder, || {
            let counter = |name: &'static str, value: u64| {
                metrics::counter!(name, "stream" => stream.clone()).absolute(value);
            };
            counter("ledgerflow_ledgers_fetched_total", snapshot.ledgers_fetched);
            counter("ledgerflow_ledgers_converted_total", snapshot.ledgers_converted);
            counter("ledgerflow_ledgers_archived_total", snapshot.ledgers_committed);
            counter("ledgerflow_xdr_bytes_fetched_total", snapshot.xdr_bytes);
            counter("ledgerflow_bytes_archived_total", snapshot.bytes_archived);
            counter("ledgerflow_commits_total", snapshot.commits);
            counter("ledgerflow_dead_letters_total", snapshot.dead_letters);
            counter("ledgerflow_rewinds_total", snapshot.rewinds);
            for (table, rows) in &snapshot.rows_archived {
                metrics::counter!("ledgerflow_rows_archived_total", "stream" => stream.clone(), "table" => *table)
                    .absolute(*rows);
            }
            for stage in Stage::ALL {
                let s = stats.stage(stage);
                let labels = [("stream", stream.clone()), ("stage", stage.name().to_owned())];
                metrics::counter!("ledgerflow_retries_total", &labels)
                    .absolute(s.retries.load(Ordering::Relaxed));
                metrics::counter!("ledgerflow_restarts_total", &labels)
                    .absolute(s.restarts.load(Ordering::Relaxed));
                metrics::counter!("ledgerflow_failures_total", &labels)
                    .absolute(s.failures.load(Ordering::Relaxed));
                metrics::gauge!("ledgerflow_breaker_state", &labels)
                    .set(f64::from(s.breaker.load(Ordering::Relaxed)));
            }
            let gauge =
                |name: &'static str, value: f64| metrics::gauge!(name, "stream" => stream.clone()).set(value);
            gauge("ledgerflow_source_ledger", f64::from(snapshot.source_ledger));
            gauge("ledgerflow_checkpoint_ledger", f64::from(snapshot.checkpoint_ledger));
            gauge("ledgerflow_source_lag_ledgers", f64::from(snapshot.source_lag_ledgers));
            gauge("ledgerflow_in_flight_batches", snapshot.in_flight_batches as f64);
            gauge("ledgerflow_in_flight_bytes", snapshot.in_flight_bytes as f64);
            if let Some(rss) = resident_memory_bytes() {
                gauge("ledgerflow_process_resident_memory_bytes", rss as f64);
            }
        });
        self.handle.render()
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("ledgerflow_ledgers_fetched_total", Unit::Count, "Ledgers read from the source.");
    describe_counter!(
        "ledgerflow_ledgers_converted_total",
        Unit::Count,
        "Ledgers decoded and converted to Arrow."
    );
    describe_counter!(
        "ledgerflow_ledgers_archived_total",
        Unit::Count,
        "Ledgers committed: durable in the archive and recorded in the checkpoint."
    );
    describe_counter!("ledgerflow_rows_archived_total", Unit::Count, "Rows committed, per table.");
    describe_counter!(
        "ledgerflow_xdr_bytes_fetched_total",
        Unit::Bytes,
        "LedgerCloseMeta XDR bytes decoded."
    );
    describe_counter!("ledgerflow_bytes_archived_total", Unit::Bytes, "Parquet bytes committed.");
    describe_counter!("ledgerflow_commits_total", Unit::Count, "Checkpoint commits.");
    describe_counter!(
        "ledgerflow_dead_letters_total",
        Unit::Count,
        "Ledgers set aside under on_corrupt = dead_letter."
    );
    describe_counter!("ledgerflow_rewinds_total", Unit::Count, "Replays of the stream from the checkpoint.");
    describe_counter!(
        "ledgerflow_retries_total",
        Unit::Count,
        "Worker restarts scheduled after a failure, per stage."
    );
    describe_counter!("ledgerflow_restarts_total", Unit::Count, "Workers restarted, per stage.");
    describe_counter!("ledgerflow_failures_total", Unit::Count, "Worker failures, per stage.");
    describe_gauge!("ledgerflow_breaker_state", "Circuit breaker per stage: 0 closed, 1 open, 2 half-open.");
    describe_gauge!("ledgerflow_source_ledger", "Highest ledger handed out by the source.");
    describe_gauge!("ledgerflow_checkpoint_ledger", "Last committed ledger.");
    describe_gauge!(
        "ledgerflow_source_lag_ledgers",
        "Ledgers the source has (its last known ledger) beyond the last committed one."
    );
    describe_gauge!("ledgerflow_in_flight_batches", "Batches fetched and not yet committed (credits held).");
    describe_gauge!("ledgerflow_in_flight_bytes", Unit::Bytes, "XDR bytes fetched and not yet committed.");
    describe_gauge!(
        "ledgerflow_process_resident_memory_bytes",
        Unit::Bytes,
        "Resident set size of the process."
    );
    describe_histogram!(
        STAGE_SECONDS,
        Unit::Seconds,
        "Time a stage spent on one batch (checkpoint: one commit)."
    );
}

#[cfg(test)]
#[test]
fn latency_stages_index_their_histograms() {
    assert!(LatencyStage::ALL.iter().enumerate().all(|(i, stage)| *stage as usize == i));
}

/// `VmRSS` of this process, from `/proc/self/status` (Linux).
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
