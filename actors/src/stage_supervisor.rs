//! StageSupervisor: the supervisor of a single-worker stage (analytics, archive). It owns the
//! stage's breaker and retry policy (design §2): items pass through it to the current worker;
//! when the worker fails, the failure is classified, the worker restarted after a backoff delay
//! (or after the breaker's cool-down, as its half-open probe) and the stream rewound to the
//! checkpoint, which replays what the dead worker held. A permanent failure stops the stream.
//! While the worker is down, items are dropped with their credits: the rewind replays them.
//!
//! `AnalyticsSupervisor` and `ArchiveSupervisor` are this actor for their workers.

use std::marker::PhantomData;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::envelope::{Epoch, Item};
use crate::pipeline_supervisor::PipelineMsg;
use crate::supervision::{Decision, Supervision};

/// A worker that consumes the items of one stage.
pub trait StageWorker: Actor + Default {
    /// What the stage consumes.
    type Input: Send + 'static;
    /// How an item is delivered to the worker.
    fn deliver(item: Item<Self::Input>) -> Self::Msg;
    /// Named in logs and rewind reasons.
    const STAGE: &'static str;
}

pub enum StageMsg<T> {
    Item(Item<T>),
    /// Restart the worker (sent to itself after the decided delay).
    Respawn,
}

pub struct StageSupervisorArgs<W: StageWorker> {
    /// Builds the worker's arguments, at start and at every restart.
    pub worker_args: Box<dyn Fn() -> W::Arguments + Send + Sync>,
    /// The stage's progress (ledgers it finished: analyzed, committed), which only grows. The
    /// breaker and the retry budget count a restart as recovered only once this moves: a
    /// worker that is handed batches but fails on each is not making progress.
    pub progress: Box<dyn Fn() -> u64 + Send + Sync>,
    pub supervision: Supervision,
    pub pipeline: ActorRef<PipelineMsg>,
}

pub struct StageSupervisorState<W: StageWorker> {
    args: StageSupervisorArgs<W>,
    worker: Option<ActorRef<W::Msg>>,
    /// Newest epoch seen.
    epoch: Epoch,
    /// Items of older epochs are dropped: after a failure in epoch `e` only the rewind's
    /// epoch may reach the restarted worker (an item of `e` would not follow its checkpoint).
    epoch_floor: Epoch,
    /// `progress` when last seen.
    progress_seen: u64,
}

pub struct StageSupervisor<W>(PhantomData<fn() -> W>);

impl<W> Default for StageSupervisor<W> {
    fn default() -> Self {
        StageSupervisor(PhantomData)
    }
}

impl<W: StageWorker> Actor for StageSupervisor<W> {
    type Msg = StageMsg<W::Input>;
    type State = StageSupervisorState<W>;
    type Arguments = StageSupervisorArgs<W>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: StageSupervisorArgs<W>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let progress_seen = (args.progress)();
        let mut state = StageSupervisorState { args, worker: None, epoch: 0, epoch_floor: 0, progress_seen };
        spawn_worker(&myself, &mut state).await?;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StageMsg::Item(item) => {
                state.epoch = state.epoch.max(item.epoch());
                if item.epoch() < state.epoch_floor {
                    return Ok(());
                }
                let progress = (state.args.progress)();
                if progress > state.progress_seen {
                    state.progress_seen = progress;
                    state.args.supervision.on_success();
                }
                let epoch = item.epoch();
                let delivered = match &state.worker {
                    Some(worker) => worker.send_message(W::deliver(item)).is_ok(),
                    None => false,
                };
                if !delivered {
                    // The worker is down (a restart is pending) or stopping (its failure is on
                    // the way): the item is dropped with its credit. Nothing more of its epoch
                    // may reach the next worker, which would see a gap: the rewind that
                    // follows the restart replays them in a newer epoch. (Another stage's
                    // rewind can start an epoch while this worker's restart is pending.)
                    state.epoch_floor = state.epoch_floor.max(epoch + 1);
                    tracing::debug!(stage = W::STAGE, epoch, "item for a stopped worker dropped");
                }
            }
            StageMsg::Respawn => {
                state.args.supervision.on_restart();
                spawn_worker(&myself, state).await?;
                state.args.pipeline.cast(PipelineMsg::Rewind(W::STAGE))?;
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(_, err) = event else { return Ok(()) };
        state.worker = None;
        state.epoch_floor = state.epoch + 1;
        match state.args.supervision.on_failure(&err) {
            Decision::Restart { after, .. } => {
                myself.send_after(after, || StageMsg::Respawn);
            }
            Decision::Escalate(reason) => state.args.pipeline.cast(PipelineMsg::Fatal(reason))?,
        }
        Ok(())
    }
}

async fn spawn_worker<W: StageWorker>(
    myself: &ActorRef<StageMsg<W::Input>>,
    state: &mut StageSupervisorState<W>,
) -> Result<(), ActorProcessingErr> {
    let args = (state.args.worker_args)();
    let (worker, _) = Actor::spawn_linked(None, W::default(), args, myself.get_cell()).await?;
    state.worker = Some(worker);
    Ok(())
}
