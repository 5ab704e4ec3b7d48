//! The ledgerflow service: a stream's supervised actor tree (ractor on tokio) and the
//! `ledgerflow` binary.
//!
//! ```text
//! PipelineSupervisor                 epoch, rewinds, end of stream
//!   |-- CheckpointActor              sled: resume point, ordered commits
//!   |-- SourceSupervisor             breaker + retry for the source
//!   |     `-- FetchActor             raw batches in order, credit-bounded read-ahead
//!   |-- ConvertSupervisor            dispatch, order restored
//!   |     `-- ConvertActor x N       XDR -> Arrow on blocking threads
//!   |-- AnalyticsSupervisor
//!   |     `-- AnalyticsActor         event-time windows, snapshot per batch
//!   `-- ArchiveSupervisor
//!         `-- ArchiveActor           Parquet: stage, commit, publish
//! ```
//!
//! Data, formats and storage are the `ledgerflow` library's; this crate only moves batches
//! between actors and decides what happens on failure. Design notes: `../shared/docs/design.md`.

/// The service's allocator: jemalloc. With glibc's malloc, every thread that frees decoded XDR
/// (converters, the archive's encoders, tokio's workers) grows an arena of its own, and the
/// process's peak RSS kept growing with the length of the run (509 MiB after 10k ledgers, 620
/// MiB after 100k in the end-to-end bench). Declared here so the binary, its tests and the
/// benches all run with it. It also serves C's `malloc` (the crate's unprefixed feature): zstd
/// allocates a compression context for every Parquet column chunk, and glibc mapped and unmapped
/// each one (10k ledgers: 337k page faults, 276k with jemalloc behind `malloc` too).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options (read at its start; `MALLOC_CONF` overrides them):
/// - a background thread returns pages freed more than five seconds ago, instead of keeping
///   them for ten. Peak RSS in the end-to-end bench (before the per-CPU arenas below): 484 MiB
///   with jemalloc's defaults, 391 MiB with a decay of one second, at the same throughput (a
///   decay of 0 halves the throughput). Five seconds instead of one, with the arenas below:
///   page faults per 10k ledgers about 200k -> 100-140k, 3% less CPU in paired runs, peak RSS
///   +35 MiB (10k ledgers: 312-345 MiB, 100k: 340 MiB);
/// - one arena per CPU, used by whichever thread runs there, instead of four per CPU assigned
///   to threads: a batch is allocated by a converter and freed by the archive's encoders on
///   other threads, and with per-thread arenas its pages sat unused in the converter's arena
///   until returned, then were faulted in again elsewhere. 10k ledgers: page faults 277k ->
///   108k, system time 1.3 -> 0.8 s, 3.7% less CPU in paired runs, peak RSS 300 -> 280 MiB.
///
/// A thin pointer to a C string, as jemalloc declares `malloc_conf`.
#[unsafe(export_name = "malloc_conf")]
pub static JEMALLOC_CONF: &u8 =
    &b"background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0,percpu_arena:percpu\0"[0];

pub mod analytics_actor;
pub mod archive_actor;
pub mod checkpoint_actor;
pub mod convert_actor;
pub mod convert_supervisor;
pub mod credit;
pub mod envelope;
pub mod failpoints;
pub mod fetch_actor;
pub mod http;
pub mod metrics;
pub mod pipeline_supervisor;
pub mod service;
pub mod source_supervisor;
pub mod stage_supervisor;
pub mod stats;
pub mod supervision;
pub mod telemetry;

pub use pipeline_supervisor::RunOutcome;
pub use service::{RunControl, RunHandle, ServiceError, StreamPlan, start};
