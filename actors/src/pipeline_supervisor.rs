//! PipelineSupervisor: the root of a stream's actor tree (design §2). It starts the
//! CheckpointActor and the stage supervisors, tells the source where to start, and owns the
//! stream epoch: when any stage supervisor has restarted its worker, it rewinds the stream to
//! the checkpoint (new epoch, fetcher restarted at the first uncommitted ledger; every stage
//! resets itself when it first sees the new epoch). It ends the run when the archive reports
//! the end marker committed, or when a supervisor escalates a permanent failure.
//!
//! Input: `PipelineMsg` from its children and from the service (drain on a signal).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ledgerflow::checkpoint::{CheckpointStore, StreamId};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::analytics_actor::{AnalyticsArgs, AnalyticsMsg, AnalyticsSupervisor};
use crate::archive_actor::{ArchiveArgs, ArchiveMsg, ArchiveSupervisor};
use crate::checkpoint_actor::{CheckpointActor, CheckpointArgs, CheckpointMsg};
use crate::convert_supervisor::{ConvertArgsTemplate, ConvertSupervisor, ConvertSupervisorArgs};
use crate::credit::Credits;
use crate::envelope::Epoch;
use crate::service::StreamPlan;
use crate::source_supervisor::{SourceMsg, SourceSupervisor, SourceSupervisorArgs};
use crate::stage_supervisor::StageSupervisorArgs;
use crate::stats::{PipelineStats, Stage, StatsSnapshot};
use crate::supervision::Supervision;

pub enum PipelineMsg {
    /// A stage restarted its worker: replay from the checkpoint.
    Rewind(&'static str),
    /// A permanent failure: stop the stream with this error, the checkpoint intact.
    Fatal(String),
    /// The archive committed everything before `next` and the end marker of `epoch`.
    Finished {
        next: u32,
        epoch: Epoch,
    },
    /// Stop fetching, commit what is in flight, then stop (SIGINT/SIGTERM).
    Drain,
    Status(RpcReplyPort<StatsSnapshot>),
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    /// Every ledger before `next` is committed.
    Completed {
        next: u32,
    },
    Failed(String),
}

pub struct PipelineArgs {
    pub plan: StreamPlan,
    pub store: Arc<CheckpointStore>,
    pub stats: Arc<PipelineStats>,
    pub outcome: oneshot::Sender<RunOutcome>,
}

pub struct PipelineState {
    stream: StreamId,
    from: u32,
    epoch: Epoch,
    draining: bool,
    checkpoint: ActorRef<CheckpointMsg>,
    source: ActorRef<SourceMsg>,
    stats: Arc<PipelineStats>,
    outcome: Option<oneshot::Sender<RunOutcome>>,
    /// The children, by actor id, to name them in errors.
    children: Vec<(ractor::ActorId, &'static str)>,
}

pub struct PipelineSupervisor;

impl Actor for PipelineSupervisor {
    type Msg = PipelineMsg;
    type State = PipelineState;
    type Arguments = PipelineArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<PipelineMsg>,
        args: PipelineArgs,
    ) -> Result<PipelineState, ActorProcessingErr> {
        let PipelineArgs { plan, store, stats, outcome } = args;
        let config = &plan.config;
        let cell = myself.get_cell();
        let supervision = |stage: Stage, section: &ledgerflow::config::SupervisorConfig| {
            Supervision::new(stage, &section.retry, &section.breaker, stats.clone())
        };

        let (checkpoint, _) = Actor::spawn_linked(
            None,
            CheckpointActor,
            CheckpointArgs { store, stream: plan.stream.clone(), stats: stats.clone() },
            cell.clone(),
        )
        .await?;

        let credits = Credits::new(
            config.pipeline.max_in_flight_batches as usize,
            config.pipeline.max_in_flight_bytes as usize,
        );
        let _ = stats.credits.set(credits.clone());
        let archive_args = {
            let (checkpoint, pipeline, stats) = (checkpoint.clone(), myself.clone(), stats.clone());
            // `archive.url` or `archive.root`; an object store's requests run on this runtime
            // (its steps block on them from the archive worker's blocking threads).
            let archive = ledgerflow::archive::Archive::from_config(&config.archive)?;
            let rotation = config.archive.rotation_policy();
            let stream = plan.stream.clone();
            move || ArchiveArgs {
                archive: archive.clone(),
                rotation,
                stream: stream.clone(),
                checkpoint: checkpoint.clone(),
                pipeline: pipeline.clone(),
                stats: stats.clone(),
            }
        };
        let (archive, _) = Actor::spawn_linked(
            None,
            ArchiveSupervisor::default(),
            StageSupervisorArgs {
                worker_args: Box::new(archive_args),
                progress: {
                    let stats = stats.clone();
                    Box::new(move || stats.ledgers_committed.load(Ordering::Relaxed))
                },
                supervision: supervision(Stage::Archive, &config.resilience.archive)?,
                pipeline: myself.clone(),
            },
            cell.clone(),
        )
        .await?;

        let analytics_args = {
            let (checkpoint, stats, analytics) =
                (checkpoint.clone(), stats.clone(), config.analytics.clone());
            let archive: ActorRef<ArchiveMsg> = archive.clone();
            move || AnalyticsArgs {
                config: analytics.clone(),
                checkpoint: checkpoint.clone(),
                archive: archive.clone(),
                stats: stats.clone(),
            }
        };
        let (analytics, _) = Actor::spawn_linked(
            None,
            AnalyticsSupervisor::default(),
            StageSupervisorArgs {
                worker_args: Box::new(analytics_args),
                progress: {
                    let stats = stats.clone();
                    Box::new(move || stats.ledgers_analyzed.load(Ordering::Relaxed))
                },
                supervision: supervision(Stage::Analytics, &config.resilience.analytics)?,
                pipeline: myself.clone(),
            },
            cell.clone(),
        )
        .await?;
        let analytics: ActorRef<AnalyticsMsg> = analytics;
        let analytics_id = analytics.get_id();

        let (convert, _) = Actor::spawn_linked(
            None,
            ConvertSupervisor,
            ConvertSupervisorArgs {
                workers: config.convert.worker_count(),
                worker: ConvertArgsTemplate {
                    options: plan.convert_options.clone(),
                    limits: config.decode,
                    on_corrupt: config.pipeline.on_corrupt,
                    stats: stats.clone(),
                },
                supervision: supervision(Stage::Convert, &config.resilience.convert)?,
                analytics,
                pipeline: myself.clone(),
            },
            cell.clone(),
        )
        .await?;
        let convert_id = convert.get_id();

        let (source, _) = Actor::spawn_linked(
            None,
            SourceSupervisor,
            SourceSupervisorArgs {
                factory: plan.source.clone(),
                stream: plan.stream.clone(),
                last: plan.to,
                follow: plan.follow,
                poll_interval: plan.poll_interval,
                batch_ledgers: config.pipeline.batch_ledgers,
                max_batch_bytes: config.pipeline.max_batch_bytes as usize,
                credits,
                convert,
                pipeline: myself.clone(),
                supervision: supervision(Stage::Source, &config.resilience.source)?,
                stats: stats.clone(),
            },
            cell,
        )
        .await?;

        let children = vec![
            (checkpoint.get_id(), "checkpoint actor"),
            (archive.get_id(), "archive supervisor"),
            (analytics_id, "analytics supervisor"),
            (convert_id, "convert supervisor"),
            (source.get_id(), "source supervisor"),
        ];
        let mut state = PipelineState {
            children,
            stream: plan.stream.clone(),
            from: plan.from,
            epoch: 0,
            draining: false,
            checkpoint,
            source,
            stats,
            outcome: Some(outcome),
        };
        start_epoch(&mut state).await?;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<PipelineMsg>,
        message: PipelineMsg,
        state: &mut PipelineState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PipelineMsg::Rewind(reason) => {
                state.stats.rewinds.fetch_add(1, Ordering::Relaxed);
                warn!(stream = %state.stream, reason, "rewinding the stream to the checkpoint");
                start_epoch(state).await?;
                if state.draining {
                    state.source.cast(SourceMsg::Drain)?;
                }
            }
            PipelineMsg::Fatal(reason) => {
                error!(stream = %state.stream, error = %reason, "stream stopped");
                if let Ok(mut last) = state.stats.last_error.lock() {
                    *last = Some(reason.clone());
                }
                finish(&myself, state, RunOutcome::Failed(reason)).await;
            }
            PipelineMsg::Finished { next, epoch } => {
                if epoch == state.epoch {
                    info!(stream = %state.stream, next, "stream complete");
                    finish(&myself, state, RunOutcome::Completed { next }).await;
                }
            }
            PipelineMsg::Drain => {
                if !state.draining {
                    info!(stream = %state.stream, "draining: no new ledgers, committing what is in flight");
                    state.draining = true;
                    state.source.cast(SourceMsg::Drain)?;
                }
            }
            PipelineMsg::Status(reply) => {
                let _ = reply.send(state.stats.snapshot());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<PipelineMsg>,
        event: SupervisionEvent,
        state: &mut PipelineState,
    ) -> Result<(), ActorProcessingErr> {
        // Supervisors and the checkpoint actor do not fail by design; if one does, the stream
        // cannot go on safely.
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                let name = state.name_of(&cell);
                finish(&myself, state, RunOutcome::Failed(format!("{name} failed: {err}"))).await;
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) if state.outcome.is_some() => {
                let name = state.name_of(&cell);
                finish(
                    &myself,
                    state,
                    RunOutcome::Failed(format!("{name} stopped: {}", reason.unwrap_or_default())),
                )
                .await;
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<PipelineMsg>,
        state: &mut PipelineState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(outcome) = state.outcome.take() {
            let _ = outcome.send(RunOutcome::Failed("the pipeline stopped".into()));
        }
        Ok(())
    }
}

impl PipelineState {
    fn name_of(&self, cell: &ractor::ActorCell) -> String {
        let id = cell.get_id();
        self.children.iter().find(|(child, _)| *child == id).map_or_else(
            || cell.get_name().unwrap_or_else(|| format!("actor {id}")),
            |(_, name)| (*name).to_owned(),
        )
    }
}

/// Moves to the next epoch and starts the source at the first ledger not committed.
async fn start_epoch(state: &mut PipelineState) -> Result<(), ActorProcessingErr> {
    state.epoch += 1;
    ractor::call!(state.checkpoint, CheckpointMsg::SetEpoch, state.epoch)?;
    let checkpoint = ractor::call!(state.checkpoint, CheckpointMsg::Load)??;
    let next = checkpoint.and_then(|c| c.next_ledger()).unwrap_or(state.from).max(state.from);
    state.stats.checkpoint_ledger.store(next.saturating_sub(1), Ordering::Relaxed);
    info!(stream = %state.stream, epoch = state.epoch, next, "stream starting");
    state.source.cast(SourceMsg::Start { epoch: state.epoch, next })?;
    Ok(())
}

/// Stops the tree, waiting for every child (so the checkpoint store is closed), then reports.
async fn finish(myself: &ActorRef<PipelineMsg>, state: &mut PipelineState, outcome: RunOutcome) {
    myself.stop_children_and_wait(None, Some(std::time::Duration::from_secs(30))).await;
    if let Some(sender) = state.outcome.take() {
        let _ = sender.send(outcome);
    }
    myself.stop(None);
}
