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
