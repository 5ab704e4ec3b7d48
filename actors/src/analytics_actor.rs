//! AnalyticsActor: feeds each converted batch, in order, to the event-time window engine
//! (library `analytics`) and passes the batch on with the windows it closed and the engine's
//! state snapshot after it, which the archive commits with the batch's ledgers.
//!
//! On a new stream epoch (a rewind) or at start it restores the engine from the checkpoint's
//! snapshot, so a restarted stream produces the same results as an uninterrupted one.
//! Input: `AnalyticsWorkerMsg::Item`. Output: `ArchiveMsg::Item` to the ArchiveSupervisor.
//! Failpoint: `analytics:before`.

use std::sync::Arc;
use std::time::Instant;

use ledgerflow::analytics::{Analytics, AnalyticsConfig, AnalyticsOutput};
use ledgerflow::batch::ConvertedBatch;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::archive_actor::ArchiveMsg;
use crate::checkpoint_actor::CheckpointMsg;
use crate::envelope::{Envelope, Epoch, Item};
use crate::stage_supervisor::{StageMsg, StageSupervisor, StageWorker};
use crate::stats::PipelineStats;

/// A converted batch with what the analytics made of it.
#[derive(Debug)]
pub struct AnalyzedBatch {
    pub converted: ConvertedBatch,
    pub analytics: AnalyticsOutput,
    /// Engine state after this batch: what a commit ending here records.
    pub snapshot: Vec<u8>,
}

pub enum AnalyticsWorkerMsg {
    Item(Item<ConvertedBatch>),
}

/// The analytics stage's supervisor.
pub type AnalyticsSupervisor = StageSupervisor<AnalyticsActor>;
/// What the analytics stage receives.
pub type AnalyticsMsg = StageMsg<ConvertedBatch>;

impl StageWorker for AnalyticsActor {
    type Input = ConvertedBatch;
    const STAGE: &'static str = "analytics worker restarted";
    fn deliver(item: Item<ConvertedBatch>) -> AnalyticsWorkerMsg {
        AnalyticsWorkerMsg::Item(item)
    }
}

pub struct AnalyticsArgs {
    pub config: AnalyticsConfig,
    pub checkpoint: ActorRef<CheckpointMsg>,
    pub archive: ActorRef<ArchiveMsg>,
    pub stats: Arc<PipelineStats>,
}

pub struct AnalyticsState {
    args: AnalyticsArgs,
    engine: Option<Analytics>,
    epoch: Option<Epoch>,
}

#[derive(Default)]
pub struct AnalyticsActor;

impl Actor for AnalyticsActor {
    type Msg = AnalyticsWorkerMsg;
    type State = AnalyticsState;
    type Arguments = AnalyticsArgs;

    async fn pre_start(
        &self,
        _: ActorRef<AnalyticsWorkerMsg>,
        args: AnalyticsArgs,
    ) -> Result<AnalyticsState, ActorProcessingErr> {
        Ok(AnalyticsState { args, engine: None, epoch: None })
    }

    async fn handle(
        &self,
        _myself: ActorRef<AnalyticsWorkerMsg>,
        message: AnalyticsWorkerMsg,
        state: &mut AnalyticsState,
    ) -> Result<(), ActorProcessingErr> {
        let AnalyticsWorkerMsg::Item(item) = message;
        let epoch = item.epoch();
        if state.epoch.is_some_and(|current| epoch < current) {
            return Ok(()); // stale: a rewind discarded it
        }
        if state.epoch != Some(epoch) || state.engine.is_none() {
            state.engine = Some(restore(&state.args).await?);
            state.epoch = Some(epoch);
        }
        match item {
            Item::End(end) => state.args.archive.cast(ArchiveMsg::Item(Item::End(end)))?,
            Item::Batch(envelope) => {
                fail::fail_point!("analytics:before", |_| Err(Box::new(crate::convert_actor::InjectedFault(
                    "analytics:before"
                )) as ActorProcessingErr));
                let Envelope { epoch, position, range, payload, credit, trace } = envelope;
                let started = Instant::now();
                let engine = state.engine.as_mut().expect("restored above");
                let span = tracing::info_span!("analytics", first = range.first(), last = range.last());
                trace.adopt(&span);
                let analytics = match span.in_scope(|| engine.ingest_range(range, &payload.tables)) {
                    Ok(output) => output,
                    Err(err) => {
                        // The engine is unchanged on error, but this batch is lost: fail so the
                        // supervisor decides (a rewind replays it).
                        state.engine = None;
                        return Err(err.into());
                    }
                };
                let snapshot = span.in_scope(|| engine.snapshot());
                let elapsed = started.elapsed();
                state.args.stats.analytics.add_busy(elapsed);
                state
                    .args
                    .stats
                    .ledgers_analyzed
                    .fetch_add(range.len(), std::sync::atomic::Ordering::Relaxed);
                state.args.stats.metrics.observe(crate::metrics::LatencyStage::Analytics, elapsed);
                let analyzed = AnalyzedBatch { converted: payload, analytics, snapshot };
                let envelope = Envelope { epoch, position, range, payload: analyzed, credit, trace };
                state.args.archive.cast(ArchiveMsg::Item(Item::Batch(envelope)))?;
            }
        }
        Ok(())
    }
}

/// The engine as of the checkpoint: its snapshot, or a fresh engine before the first commit.
async fn restore(args: &AnalyticsArgs) -> Result<Analytics, ActorProcessingErr> {
    let checkpoint = ractor::call!(args.checkpoint, CheckpointMsg::Load)??;
    let engine = match checkpoint {
        Some(checkpoint) if !checkpoint.analytics_state.is_empty() => {
            Analytics::restore(args.config.clone(), &checkpoint.analytics_state)?
        }
        _ => Analytics::new(args.config.clone())?,
    };
    Ok(engine)
}
