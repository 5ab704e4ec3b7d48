//! ArchiveActor: buffers converted batches into Parquet files per table and date, and makes
//! them durable by the two-phase commit of design §3, then acknowledges the ledgers (their
//! credits return to the fetcher).
//!
//! For each set of files the rotation policy cuts: (1) stage: encode under `_staging/` and
//! make it durable (fsync on a local root, a put on an object store); (2) commit: the
//! CheckpointActor records the files, the new high-water mark, the analytics snapshot and dead
//! letters in one sled transaction and flushes; (3) publish: move into
//! `<table>/date=YYYY-MM-DD/` (rename and fsync, or copy and delete), then mark the commit
//! published. The archive's storage (`archive.root` or `archive.url`) is the library's concern:
//! every step runs on a blocking thread here, whichever it is. A crash between
//! (1) and (2) leaves staging files that recovery deletes; between (2) and (3), committed files
//! that recovery publishes. Commits end only where a batch ends, because the analytics snapshot
//! exists only there. Each batch is encoded into the open files as it arrives (the library's
//! `ArchiveSink`), on a blocking thread while the next batches convert, and its credit returns
//! once it is encoded: no batch is held after that, so memory stays flat.
//!
//! On start and on a new stream epoch it recovers the archive to exactly the checkpoint.
//! Input: `ArchiveWorkerMsg`. Output: `PipelineMsg::Finished` at the end of a bounded or
//! drained stream. Failpoints: `archive:before_commit` here; `archive:before_stage`,
//! `archive:after_stage`, `archive:before_publish`, `archive:after_publish` in the library.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ledgerflow::analytics::AnalyticsTable;
use ledgerflow::archive::{
    Archive, ArchiveError, ArchiveSink, DEAD_LETTER_DIR, RotationPolicy, StagedFile, StagedSet,
};
use ledgerflow::batch::DeadLetterRecord;
use ledgerflow::checkpoint::{Commit, DeadLetter, StreamId};
use ledgerflow::range::LedgerRange;
use ledgerflow::tables::Table;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{Instrument, debug, info, warn};

use crate::analytics_actor::AnalyzedBatch;
use crate::checkpoint_actor::{CheckpointMsg, CommitRefused};
use crate::envelope::{Epoch, Item};
use crate::pipeline_supervisor::PipelineMsg;
use crate::stage_supervisor::{StageMsg, StageSupervisor, StageWorker};
use crate::stats::PipelineStats;
use crate::telemetry::TraceContext;

#[allow(clippy::large_enum_variant)] // one message per batch; boxing would add an allocation per batch
pub enum ArchiveWorkerMsg {
    Item(Item<AnalyzedBatch>),
    /// Timer: cut files that reached `max_file_age` (a slow stream still commits).
    Tick,
}

/// The archive stage's supervisor.
pub type ArchiveSupervisor = StageSupervisor<ArchiveActor>;
/// What the archive stage receives.
pub type ArchiveMsg = StageMsg<AnalyzedBatch>;

impl StageWorker for ArchiveActor {
    type Input = AnalyzedBatch;
    const STAGE: &'static str = "archive worker restarted";
    fn deliver(item: Item<AnalyzedBatch>) -> ArchiveWorkerMsg {
        ArchiveWorkerMsg::Item(item)
    }
}

pub struct ArchiveArgs {
    pub archive: Archive,
    pub rotation: RotationPolicy,
    pub stream: StreamId,
    pub checkpoint: ActorRef<CheckpointMsg>,
    pub pipeline: ActorRef<PipelineMsg>,
    pub stats: Arc<PipelineStats>,
}

/// A batch encoded but not yet committed: the analytics snapshot a commit ending with it
/// records.
struct Held {
    range: LedgerRange,
    snapshot: Vec<u8>,
    /// The batch's trace: a commit that ends with this batch is a span of it.
    trace: TraceContext,
}

pub struct ArchiveState {
    args: ArchiveArgs,
    epoch: Option<Epoch>,
    /// Taken while a step runs on a blocking thread; always back when a handler returns `Ok`
    /// (a failed step fails the worker, and its successor starts a new sink).
    sink: Option<ArchiveSink>,
    /// Last committed ledger.
    high_water_mark: Option<u32>,
    held: VecDeque<Held>,
    staged: Vec<StagedFile>,
    staged_rows: u64,
    /// Last ledger covered by `staged`.
    staged_through: Option<u32>,
    dead_letters: Vec<DeadLetterRecord>,
}

#[derive(Default)]
pub struct ArchiveActor;

/// An archive worker whose batch does not follow the last one: a bug upstream or a stale
/// state; transient, so the supervisor rewinds the stream.
#[derive(Debug, thiserror::Error)]
#[error("archive expected ledger {expected} next but got batch {got}")]
struct OutOfSequence {
    expected: u32,
    got: LedgerRange,
}

impl ledgerflow::resilience::Classify for OutOfSequence {
    fn class(&self) -> ledgerflow::resilience::FailureClass {
        ledgerflow::resilience::FailureClass::Transient
    }
}

impl Actor for ArchiveActor {
    type Msg = ArchiveWorkerMsg;
    type State = ArchiveState;
    type Arguments = ArchiveArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ArchiveWorkerMsg>,
        args: ArchiveArgs,
    ) -> Result<ArchiveState, ActorProcessingErr> {
        let tick = (args.rotation.max_file_age / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        myself.send_interval(tick, || ArchiveWorkerMsg::Tick);
        let sink = ArchiveSink::new(args.archive.clone(), args.rotation);
        Ok(ArchiveState {
            args,
            epoch: None,
            sink: Some(sink),
            high_water_mark: None,
            held: VecDeque::new(),
            staged: Vec::new(),
            staged_rows: 0,
            staged_through: None,
            dead_letters: Vec::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ArchiveWorkerMsg>,
        message: ArchiveWorkerMsg,
        state: &mut ArchiveState,
    ) -> Result<(), ActorProcessingErr> {
        let item = match message {
            ArchiveWorkerMsg::Tick => {
                let now = Instant::now();
                if state.epoch.is_some() && sink(state).buffer().due(now) {
                    let span = tracing::info_span!("archive.age_cut");
                    if let Some(set) = with_sink(state, span, move |sink| sink.poll(now)).await? {
                        add_staged(state, set);
                        commit_staged(state).await?;
                    }
                }
                return Ok(());
            }
            ArchiveWorkerMsg::Item(item) => item,
        };
        let epoch = item.epoch();
        if state.epoch.is_some_and(|current| epoch < current) {
            return Ok(()); // stale: a rewind discarded it
        }
        if state.epoch != Some(epoch) {
            reset(state, epoch).await?;
        }
        match item {
            Item::Batch(envelope) => {
                let range = envelope.range;
                let expected = sink(state).buffer().next_ledger().or(state.high_water_mark.map(|h| h + 1));
                if let Some(expected) = expected
                    && expected != range.first()
                {
                    return Err(OutOfSequence { expected, got: range }.into());
                }
                let AnalyzedBatch { converted, analytics, snapshot } = envelope.payload;
                let span = tracing::info_span!("archive", first = range.first(), last = range.last());
                envelope.trace.adopt(&span);
                let started = Instant::now();
                let tables = converted.tables;
                let inputs = [
                    (Table::Ledgers, tables.ledgers),
                    (Table::Transactions, tables.transactions),
                    (Table::Operations, tables.operations),
                    (Table::ContractEvents, tables.contract_events),
                    (Table::Analytics(AnalyticsTable::PaymentVolume), analytics.payment_volume),
                    (Table::Analytics(AnalyticsTable::HighValuePayments), analytics.high_value_payments),
                ];
                let now = Instant::now();
                let sets = with_sink(state, span.clone(), move |sink| {
                    let inputs: Vec<_> = inputs.iter().map(|(table, batch)| (*table, batch)).collect();
                    sink.push(range, &inputs, now)
                })
                .await?;
                let trace = envelope.trace;
                state.held.push_back(Held { range, snapshot, trace });
                // Encoded: the batch's credit returns to the fetcher now. What the open files
                // hold is the encoders' state, bounded by the row-group size and the rotation
                // policy (bytes per table, ledgers, age), so memory stays flat, and a live tail
                // of one-ledger batches still fills files up to `max_file_age` instead of
                // cutting one every few ledgers.
                drop(envelope.credit);
                state.dead_letters.extend(converted.dead_letters);
                for set in sets {
                    add_staged(state, set);
                }
                // A set cut inside this batch (by ledger count, or a batch larger than a file)
                // can only commit at a batch end, where an analytics snapshot exists: cut the
                // rest of the batch too, so the commit happens now and staged files never pile
                // up. A set cut before this batch ends where the last one did: it commits now.
                if state.staged_through.is_some_and(|through| held_batch_ending_at(state, through).is_none())
                    && let Some(set) = with_sink(state, span, ArchiveSink::flush).await?
                {
                    add_staged(state, set);
                }
                state.args.stats.metrics.observe(crate::metrics::LatencyStage::Archive, started.elapsed());
                commit_staged(state).await?;
            }
            Item::End(end) => {
                let span = tracing::info_span!("archive.flush", next = end.next);
                if let Some(set) = with_sink(state, span, ArchiveSink::flush).await? {
                    add_staged(state, set);
                }
                commit_staged(state).await?;
                info!(next = end.next, high_water_mark = ?state.high_water_mark, "archive drained");
                state.args.pipeline.cast(PipelineMsg::Finished { next: end.next, epoch })?;
            }
        }
        Ok(())
    }
}

/// Brings the archive to exactly the checkpoint (design §3 recovery) and opens a new sink
/// that starts after it.
async fn reset(state: &mut ArchiveState, epoch: Epoch) -> Result<(), ActorProcessingErr> {
    // The open files go first: recovery deletes what they wrote.
    state.sink = None;
    let checkpoint = ractor::call!(state.args.checkpoint, CheckpointMsg::Load)??;
    let (pending, high_water_mark) = match &checkpoint {
        Some(c) => (c.pending.clone(), Some(c.last_ledger)),
        None => (Vec::new(), None),
    };
    let archive = state.args.archive.clone();
    let had_pending = !pending.is_empty();
    let report = tokio::task::spawn_blocking(move || archive.recover(&pending, high_water_mark)).await??;
    if had_pending {
        ractor::call!(state.args.checkpoint, CheckpointMsg::MarkPublished)??;
    }
    if !report.rolled_forward.is_empty()
        || !report.deleted_staged.is_empty()
        || !report.deleted_beyond_high_water_mark.is_empty()
    {
        info!(
            rolled_forward = report.rolled_forward.len(),
            deleted_staged = report.deleted_staged.len(),
            deleted_beyond_high_water_mark = report.deleted_beyond_high_water_mark.len(),
            "archive recovered to the checkpoint"
        );
    }
    let mut sink = ArchiveSink::new(state.args.archive.clone(), state.args.rotation);
    if let Some(mark) = high_water_mark {
        sink = sink.with_next_ledger(mark + 1);
    }
    state.sink = Some(sink);
    state.epoch = Some(epoch);
    state.high_water_mark = high_water_mark;
    state.held.clear();
    state.staged.clear();
    state.staged_rows = 0;
    state.staged_through = None;
    state.dead_letters.clear();
    Ok(())
}

/// The sink, between steps.
fn sink(state: &ArchiveState) -> &ArchiveSink {
    state.sink.as_ref().expect("the sink is back after every step that succeeded")
}

/// Runs `step` on the sink on a blocking thread (encoding is CPU work, staging is I/O), in
/// `span`, and counts its time as the archive's busy time.
async fn with_sink<T: Send + 'static>(
    state: &mut ArchiveState,
    span: tracing::Span,
    step: impl FnOnce(ArchiveSink) -> Result<(ArchiveSink, T), ArchiveError> + Send + 'static,
) -> Result<T, ActorProcessingErr> {
    let sink = state.sink.take().expect("the sink is back after every step that succeeded");
    let started = Instant::now();
    let (sink, value) = tokio::task::spawn_blocking(move || span.in_scope(|| step(sink))).await??;
    state.args.stats.archive.add_busy(started.elapsed());
    state.sink = Some(sink);
    Ok(value)
}

/// Step 1 is done for `set`: its files wait for the commit.
fn add_staged(state: &mut ArchiveState, set: StagedSet) {
    state.staged_rows += set.files.iter().map(|f| f.rows).sum::<u64>();
    state.staged.extend(set.files);
    state.staged_through = Some(set.range.last());
}

/// The held batch that ends at `ledger`: a commit through `ledger` records its snapshot.
fn held_batch_ending_at(state: &ArchiveState, ledger: u32) -> Option<&Held> {
    state.held.iter().find(|held| held.range.last() == ledger)
}

/// Steps 2 and 3 for everything staged, when it ends where a batch ends.
async fn commit_staged(state: &mut ArchiveState) -> Result<(), ActorProcessingErr> {
    let Some(through) = state.staged_through else { return Ok(()) };
    let Some((snapshot, trace)) =
        held_batch_ending_at(state, through).map(|h| (h.snapshot.clone(), h.trace.clone()))
    else {
        return Ok(()); // mid-batch: wait for the rest of the batch
    };
    let first = state
        .high_water_mark
        .map_or_else(|| state.held.front().map_or(through, |h| h.range.first()), |mark| mark + 1);
    let range = LedgerRange::new(first, through)?;
    let span = tracing::info_span!("archive.commit", first, last = through, files = state.staged.len());
    trace.adopt(&span);
    let checkpoint_trace = TraceContext::of(&span);
    commit_range(state, range, snapshot, checkpoint_trace).instrument(span).await
}

async fn commit_range(
    state: &mut ArchiveState,
    range: LedgerRange,
    snapshot: Vec<u8>,
    trace: TraceContext,
) -> Result<(), ActorProcessingErr> {
    let through = range.last();
    fail::fail_point!("archive:before_commit", |_| Err(
        ArchiveError::Injected("archive:before_commit").into()
    ));

    let dead_letters = write_dead_letters(state, range).await?;
    let files: Vec<String> = state.staged.iter().map(|f| f.relative_path.clone()).collect();
    let commit =
        Commit { stream: state.args.stream.clone(), range, files, analytics_state: snapshot, dead_letters };
    let epoch = state.epoch.unwrap_or_default();
    match ractor::call!(state.args.checkpoint, CheckpointMsg::Commit, epoch, commit, trace)? {
        Ok(ack) => debug!(commits = ack.commits, "committed"),
        Err(CommitRefused::Stale { got, current }) => {
            // A rewind happened meanwhile: this worker's state is discarded with its epoch.
            warn!(got, current, "commit refused as stale");
            state.staged.clear();
            state.staged_through = None;
            return Ok(());
        }
        Err(CommitRefused::Store(err)) => return Err(err.into()),
    }

    let archive = state.args.archive.clone();
    let staged = std::mem::take(&mut state.staged);
    let published = staged.len() as u64;
    let per_table: Vec<(&'static str, u64)> = staged.iter().map(|f| (f.key.table.name(), f.rows)).collect();
    let bytes: u64 = staged.iter().map(|f| f.bytes).sum();
    tokio::task::spawn_blocking(move || -> Result<(), ArchiveError> {
        for file in &staged {
            archive.publish(file)?;
        }
        Ok(())
    })
    .await??;
    ractor::call!(state.args.checkpoint, CheckpointMsg::MarkPublished)??;

    let stats = &state.args.stats;
    stats.ledgers_committed.fetch_add(range.len(), Ordering::Relaxed);
    stats.rows_committed.fetch_add(state.staged_rows, Ordering::Relaxed);
    stats.files_published.fetch_add(published, Ordering::Relaxed);
    stats.add_archived(per_table, bytes);
    stats.commits.fetch_add(1, Ordering::Relaxed);
    stats.checkpoint_ledger.store(through, Ordering::Relaxed);
    state.staged_rows = 0;
    state.staged_through = None;
    state.high_water_mark = Some(through);
    // Acknowledge: the committed batches' credits return to the fetcher.
    while state.held.front().is_some_and(|h| h.range.last() <= through) {
        state.held.pop_front();
    }
    Ok(())
}

/// Writes the raw bytes and error of every dead letter in `range` under `_dead_letter/` of the
/// archive (durably: before the commit that names them), and returns their checkpoint records.
async fn write_dead_letters(
    state: &mut ArchiveState,
    range: LedgerRange,
) -> Result<Vec<DeadLetter>, ActorProcessingErr> {
    let (mine, rest): (Vec<_>, Vec<_>) =
        std::mem::take(&mut state.dead_letters).into_iter().partition(|d| d.ledgers.last() <= range.last());
    state.dead_letters = rest;
    if mine.is_empty() {
        return Ok(Vec::new());
    }
    state.args.stats.dead_letters.fetch_add(mine.iter().map(|d| d.ledgers.len()).sum(), Ordering::Relaxed);
    let archive = state.args.archive.clone();
    // The dead-letter events belong to the commit's span (and so to the batch's trace).
    let span = tracing::Span::current();
    let records = tokio::task::spawn_blocking(move || -> Result<Vec<DeadLetter>, ArchiveError> {
        let _entered = span.enter();
        let mut records = Vec::new();
        let mut files = Vec::new();
        let mut kept = Vec::new();
        for dead in mine {
            let name = format!("{:010}-{:010}", dead.ledgers.first(), dead.ledgers.last());
            let bytes_path = format!("{DEAD_LETTER_DIR}/{name}.xdr");
            let text = format!("object: {}\nledgers: {}\nerror: {}\n", dead.object, dead.ledgers, dead.error);
            for sequence in dead.ledgers.iter() {
                records.push(DeadLetter { sequence, reason: dead.error.clone(), path: bytes_path.clone() });
            }
            files.push((format!("{name}.xdr"), dead.bytes));
            files.push((format!("{name}.error.txt"), text.into_bytes()));
            kept.push((dead.ledgers, dead.error));
        }
        archive.store().write_dead_letters(files)?;
        for (ledgers, error) in kept {
            warn!(first = ledgers.first(), last = ledgers.last(), error = %error, "ledgers dead-lettered");
        }
        Ok(records)
    })
    .await??;
    Ok(records)
}
