//! ConvertSupervisor: runs the ConvertActors (one per core by default), dispatches raw batches
//! to idle workers, restores the stream order of their results and hands them on in order.
//! It owns the convert stage's breaker and retry policy: a failed worker is restarted after a
//! backoff delay and the stream is rewound to the checkpoint (the failed batch is read again);
//! a permanent failure (a corrupt ledger under `on_corrupt = "fail"`) stops the stream.
//!
//! Input: `ConvertMsg::Item` from the FetchActor, `Converted` from the workers. Output:
//! `AnalyticsMsg::Item` to the AnalyticsSupervisor, in stream order.

use std::collections::{BTreeMap, VecDeque};

use ledgerflow::batch::ConvertedBatch;
use ledgerflow::source::RawBatch;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};

use crate::analytics_actor::AnalyticsMsg;
use crate::convert_actor::{ConvertActor, ConvertArgs, ConvertWorkerMsg};
use crate::envelope::{Envelope, Epoch, Item};
use crate::pipeline_supervisor::PipelineMsg;
use crate::supervision::{Decision, Supervision};

pub enum ConvertMsg {
    /// The next raw batch (or the end marker) from the fetcher.
    Item(Item<RawBatch>),
    /// A worker's result.
    Converted(usize, Envelope<ConvertedBatch>),
    /// Restart worker `index` (sent to itself after a backoff delay).
    Respawn(usize),
}

pub struct ConvertSupervisorArgs {
    pub workers: usize,
    pub worker: ConvertArgsTemplate,
    pub supervision: Supervision,
    pub analytics: ActorRef<AnalyticsMsg>,
    pub pipeline: ActorRef<PipelineMsg>,
}

/// Everything a worker needs but its index and its supervisor.
#[derive(Clone)]
pub struct ConvertArgsTemplate {
    pub options: ledgerflow::tables::ConvertOptions,
    pub limits: ledgerflow::decode::DecodeLimits,
    pub on_corrupt: ledgerflow::batch::OnCorrupt,
    pub stats: std::sync::Arc<crate::stats::PipelineStats>,
}

pub struct ConvertSupervisorState {
    template: ConvertArgsTemplate,
    workers: Vec<Option<ActorRef<ConvertWorkerMsg>>>,
    idle: VecDeque<usize>,
    queue: VecDeque<Envelope<RawBatch>>,
    /// Results waiting for the ones before them.
    reorder: BTreeMap<u64, Item<ConvertedBatch>>,
    next_out: u64,
    epoch: Epoch,
    /// After a worker failed in epoch `e`, nothing of `e` may pass: the rewind replays it, and
    /// holding it would hold its credits, which the replay needs (a deadlock).
    epoch_floor: Epoch,
    supervision: Supervision,
    analytics: ActorRef<AnalyticsMsg>,
    pipeline: ActorRef<PipelineMsg>,
}

pub struct ConvertSupervisor;

impl Actor for ConvertSupervisor {
    type Msg = ConvertMsg;
    type State = ConvertSupervisorState;
    type Arguments = ConvertSupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ConvertMsg>,
        args: ConvertSupervisorArgs,
    ) -> Result<ConvertSupervisorState, ActorProcessingErr> {
        let mut state = ConvertSupervisorState {
            template: args.worker,
            workers: vec![None; args.workers.max(1)],
            idle: VecDeque::new(),
            queue: VecDeque::new(),
            reorder: BTreeMap::new(),
            next_out: 0,
            epoch: 0,
            epoch_floor: 0,
            supervision: args.supervision,
            analytics: args.analytics,
            pipeline: args.pipeline,
        };
        for index in 0..state.workers.len() {
            spawn_worker(&myself, &mut state, index).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<ConvertMsg>,
        message: ConvertMsg,
        state: &mut ConvertSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ConvertMsg::Item(item) => {
                if !state.admit(item.epoch()) {
                    return Ok(());
                }
                match item {
                    Item::Batch(envelope) => state.queue.push_back(envelope),
                    Item::End(end) => {
                        state.reorder.insert(end.position, Item::End(end));
                    }
                }
            }
            ConvertMsg::Converted(index, envelope) => {
                if state.workers.get(index).is_some_and(Option::is_some) {
                    state.idle.push_back(index);
                }
                if envelope.epoch == state.epoch && envelope.epoch >= state.epoch_floor {
                    state.supervision.on_success();
                    state.reorder.insert(envelope.position, Item::Batch(envelope));
                }
            }
            ConvertMsg::Respawn(index) => {
                state.supervision.on_restart();
                spawn_worker(&myself, state, index).await?;
                // The failed worker's batch is gone: replay from the checkpoint.
                state.pipeline.cast(PipelineMsg::Rewind("convert worker restarted"))?;
            }
        }
        state.dispatch()?;
        state.emit_in_order()?;
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<ConvertMsg>,
        event: SupervisionEvent,
        state: &mut ConvertSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(cell, err) = event else { return Ok(()) };
        let Some(index) = state.index_of(&cell) else { return Ok(()) };
        state.workers[index] = None;
        state.idle.retain(|&i| i != index);
        // The failed batch is gone, so nothing after it can be emitted in order: release
        // everything of this epoch now (their credits let the rewind's fetcher start).
        state.epoch_floor = state.epoch + 1;
        state.queue.clear();
        state.reorder.clear();
        match state.supervision.on_failure(&err) {
            Decision::Restart { after, .. } => {
                myself.send_after(after, move || ConvertMsg::Respawn(index));
            }
            Decision::Escalate(reason) => state.pipeline.cast(PipelineMsg::Fatal(reason))?,
        }
        Ok(())
    }
}

async fn spawn_worker(
    myself: &ActorRef<ConvertMsg>,
    state: &mut ConvertSupervisorState,
    index: usize,
) -> Result<(), ActorProcessingErr> {
    let args = ConvertArgs {
        index,
        options: state.template.options.clone(),
        limits: state.template.limits,
        on_corrupt: state.template.on_corrupt,
        supervisor: myself.clone(),
        stats: state.template.stats.clone(),
    };
    let (worker, _) = Actor::spawn_linked(None, ConvertActor, args, myself.get_cell()).await?;
    state.workers[index] = Some(worker);
    state.idle.push_back(index);
    Ok(())
}

impl ConvertSupervisorState {
    /// Drops items of older epochs; a newer epoch resets the stage.
    fn admit(&mut self, epoch: Epoch) -> bool {
        if epoch < self.epoch || epoch < self.epoch_floor {
            return false;
        }
        if epoch > self.epoch {
            self.epoch = epoch;
            self.queue.clear();
            self.reorder.clear();
            self.next_out = 0;
        }
        true
    }

    fn index_of(&self, cell: &ActorCell) -> Option<usize> {
        self.workers.iter().position(|w| w.as_ref().is_some_and(|w| w.get_id() == cell.get_id()))
    }

    fn dispatch(&mut self) -> Result<(), ActorProcessingErr> {
        while !self.queue.is_empty() {
            let Some(index) = self.idle.pop_front() else { break };
            let Some(worker) = self.workers[index].clone() else { continue };
            let envelope = self.queue.pop_front().expect("checked non-empty");
            if worker.cast(ConvertWorkerMsg::Convert(envelope)).is_err() {
                // The worker is stopping (its failure is on the way): the batch is dropped
                // with its credit, and the rewind after the restart replays it.
                tracing::debug!(index, "batch for a stopping convert worker dropped");
            }
        }
        Ok(())
    }

    fn emit_in_order(&mut self) -> Result<(), ActorProcessingErr> {
        while let Some(item) = self.reorder.remove(&self.next_out) {
            self.next_out += 1;
            self.analytics.cast(AnalyticsMsg::Item(item))?;
        }
        Ok(())
    }
}
