//! Counters the pipeline's actors update and the service reads (progress lines, `status`, the
//! end-to-end bench's per-stage time breakdown). Atomics only: updating them never blocks a
//! stage.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ledgerflow::resilience::BreakerState;
use serde::Serialize;

/// The supervised stages, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Source,
    Convert,
    Analytics,
    Archive,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Source, Stage::Convert, Stage::Analytics, Stage::Archive];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Source => "source",
            Stage::Convert => "convert",
            Stage::Analytics => "analytics",
            Stage::Archive => "archive",
        }
    }
}

#[derive(Debug, Default)]
pub struct StageStats {
    /// Nanoseconds spent working (not waiting), summed over workers.
    pub busy_ns: AtomicU64,
    pub restarts: AtomicU64,
    /// Restarts scheduled after a failure (a restart may still be pending).
    pub retries: AtomicU64,
    pub failures: AtomicU64,
    /// 0 closed, 1 open, 2 half-open.
    pub breaker: AtomicU8,
}

impl StageStats {
    pub fn add_busy(&self, elapsed: Duration) {
        self.busy_ns.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn set_breaker(&self, state: BreakerState) {
        let code = match state {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        };
        self.breaker.store(code, Ordering::Relaxed);
    }

    pub fn breaker_state(&self) -> &'static str {
        match self.breaker.load(Ordering::Relaxed) {
            0 => "closed",
            1 => "open",
            _ => "half_open",
        }
    }
}

#[derive(Debug)]
pub struct PipelineStats {
    pub started: Instant,
    /// The stream's Prometheus recorder and latency histograms.
    pub metrics: crate::metrics::Metrics,
    pub source: StageStats,
    pub convert: StageStats,
    pub analytics: StageStats,
    pub archive: StageStats,
    /// Time in the checkpoint commit (sled transaction + flush), and in fsync'd publishing.
    pub commit_ns: AtomicU64,
    pub ledgers_fetched: AtomicU64,
    pub ledgers_converted: AtomicU64,
    /// Ledgers through the analytics engine (replays count again).
    pub ledgers_analyzed: AtomicU64,
    pub xdr_bytes: AtomicU64,
    /// Raw bytes read from the source (still compressed for a data store).
    pub source_bytes: AtomicU64,
    /// Parquet bytes committed.
    pub bytes_archived: AtomicU64,
    /// Rows committed per table.
    pub rows_archived: Mutex<BTreeMap<&'static str, u64>>,
    /// Last ledger the source knows of (0: unknown), for the lag.
    pub source_tip: AtomicU32,
    /// The source had nothing newer at its last read (a live tail that caught up).
    pub caught_up: AtomicBool,
    pub ledgers_committed: AtomicU64,
    pub rows_committed: AtomicU64,
    pub files_published: AtomicU64,
    pub commits: AtomicU64,
    pub dead_letters: AtomicU64,
    pub rewinds: AtomicU64,
    /// Last committed ledger (0 before the first commit).
    pub checkpoint_ledger: AtomicU32,
    /// Highest ledger handed out by the source.
    pub source_ledger: AtomicU32,
    /// The fetcher's credits, once the tree is up (for the in-flight gauges).
    pub credits: std::sync::OnceLock<crate::credit::Credits>,
    pub last_error: Mutex<Option<String>>,
}

impl Default for PipelineStats {
    fn default() -> Self {
        PipelineStats::new("default")
    }
}

impl PipelineStats {
    /// Counters of the stream `stream` (the label of its metrics).
    pub fn new(stream: &str) -> Self {
        PipelineStats {
            started: Instant::now(),
            metrics: crate::metrics::Metrics::new(stream),
            source: StageStats::default(),
            convert: StageStats::default(),
            analytics: StageStats::default(),
            archive: StageStats::default(),
            commit_ns: AtomicU64::new(0),
            ledgers_fetched: AtomicU64::new(0),
            ledgers_converted: AtomicU64::new(0),
            ledgers_analyzed: AtomicU64::new(0),
            xdr_bytes: AtomicU64::new(0),
            source_bytes: AtomicU64::new(0),
            bytes_archived: AtomicU64::new(0),
            // Every table from the start, so each series exists (at 0) before the first commit.
            rows_archived: Mutex::new(ledgerflow::tables::Table::ALL.iter().map(|t| (t.name(), 0)).collect()),
            source_tip: AtomicU32::new(0),
            caught_up: AtomicBool::new(false),
            ledgers_committed: AtomicU64::new(0),
            rows_committed: AtomicU64::new(0),
            files_published: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            dead_letters: AtomicU64::new(0),
            rewinds: AtomicU64::new(0),
            checkpoint_ledger: AtomicU32::new(0),
            source_ledger: AtomicU32::new(0),
            credits: std::sync::OnceLock::new(),
            last_error: Mutex::new(None),
        }
    }

    /// Adds a commit's rows per table and Parquet bytes.
    pub fn add_archived(&self, rows: impl IntoIterator<Item = (&'static str, u64)>, bytes: u64) {
        self.bytes_archived.fetch_add(bytes, Ordering::Relaxed);
        if let Ok(mut tables) = self.rows_archived.lock() {
            for (table, count) in rows {
                *tables.entry(table).or_default() += count;
            }
        }
    }

    /// Every breaker closed.
    pub fn breakers_closed(&self) -> bool {
        Stage::ALL.iter().all(|&stage| self.stage(stage).breaker.load(Ordering::Relaxed) == 0)
    }

    pub fn stage(&self, stage: Stage) -> &StageStats {
        match stage {
            Stage::Source => &self.source,
            Stage::Convert => &self.convert,
            Stage::Analytics => &self.analytics,
            Stage::Archive => &self.archive,
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            elapsed_secs: self.started.elapsed().as_secs_f64(),
            ledgers_fetched: load(&self.ledgers_fetched),
            ledgers_converted: load(&self.ledgers_converted),
            ledgers_committed: load(&self.ledgers_committed),
            source_bytes: load(&self.source_bytes),
            bytes_archived: load(&self.bytes_archived),
            rows_archived: self.rows_archived.lock().map(|t| t.clone()).unwrap_or_default(),
            source_lag_ledgers: {
                let known =
                    self.source_tip.load(Ordering::Relaxed).max(self.source_ledger.load(Ordering::Relaxed));
                known.saturating_sub(self.checkpoint_ledger.load(Ordering::Relaxed))
            },
            caught_up: self.caught_up.load(Ordering::Relaxed),
            rows_committed: load(&self.rows_committed),
            xdr_bytes: load(&self.xdr_bytes),
            files_published: load(&self.files_published),
            commits: load(&self.commits),
            dead_letters: load(&self.dead_letters),
            rewinds: load(&self.rewinds),
            checkpoint_ledger: self.checkpoint_ledger.load(Ordering::Relaxed),
            source_ledger: self.source_ledger.load(Ordering::Relaxed),
            in_flight_batches: self.credits.get().map_or(0, |c| c.batches_in_flight() as u64),
            in_flight_bytes: self.credits.get().map_or(0, |c| c.bytes_in_flight() as u64),
            commit_secs: load(&self.commit_ns) as f64 / 1e9,
            stages: Stage::ALL
                .iter()
                .map(|&stage| {
                    let s = self.stage(stage);
                    StageSnapshot {
                        stage,
                        busy_secs: load(&s.busy_ns) as f64 / 1e9,
                        restarts: load(&s.restarts),
                        retries: load(&s.retries),
                        failures: load(&s.failures),
                        breaker: s.breaker_state(),
                    }
                })
                .collect(),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// A copy of the counters, for `status` and reports.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub elapsed_secs: f64,
    pub ledgers_fetched: u64,
    pub ledgers_converted: u64,
    pub ledgers_committed: u64,
    pub source_bytes: u64,
    pub bytes_archived: u64,
    pub rows_archived: BTreeMap<&'static str, u64>,
    /// The source's last known ledger minus the last committed one.
    pub source_lag_ledgers: u32,
    pub caught_up: bool,
    pub rows_committed: u64,
    pub xdr_bytes: u64,
    pub files_published: u64,
    pub commits: u64,
    pub dead_letters: u64,
    pub rewinds: u64,
    pub checkpoint_ledger: u32,
    pub source_ledger: u32,
    pub in_flight_batches: u64,
    pub in_flight_bytes: u64,
    pub commit_secs: f64,
    pub stages: Vec<StageSnapshot>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageSnapshot {
    pub stage: Stage,
    pub busy_secs: f64,
    pub restarts: u64,
    pub retries: u64,
    pub failures: u64,
    pub breaker: &'static str,
}
