//! SourceSupervisor: runs the FetchActor and owns the source's breaker and retry policy. The
//! pipeline tells it where to (re)start (`Start`, after every rewind); when the fetcher fails,
//! it classifies the failure, waits out the backoff delay (or the open breaker's cool-down:
//! the stream is paused meanwhile, nothing is dropped) and asks the pipeline to rewind, which
//! restarts the fetcher from the checkpoint.
//!
//! Input: `SourceMsg` from the pipeline. Output: the FetchActor's batches to the convert stage.

use std::sync::Arc;
use std::time::Duration;

use ledgerflow::source::{LedgerSource, SourceError};
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::info;

use crate::convert_supervisor::ConvertMsg;
use crate::credit::Credits;
use crate::envelope::Epoch;
use crate::fetch_actor::{FetchActor, FetchArgs, FetchMsg};
use crate::pipeline_supervisor::PipelineMsg;
use crate::stats::PipelineStats;
use crate::supervision::{Decision, Supervision};

/// Opens the stream's source; called at every (re)start.
pub type SourceFactory = Arc<dyn Fn() -> Result<Box<dyn LedgerSource>, SourceError> + Send + Sync>;

pub enum SourceMsg {
    /// (Re)start fetching at `next` for stream epoch `epoch`.
    Start { epoch: Epoch, next: u32 },
    /// Stop fetching and send the end marker: the stream drains and stops.
    Drain,
    /// The decided delay after a failure is over: ask for the rewind that restarts the fetcher.
    Respawn,
    /// The fetcher handed on a batch (closes a half-open breaker, resets the backoff).
    Progress,
}

pub struct SourceSupervisorArgs {
    pub factory: SourceFactory,
    pub stream: ledgerflow::checkpoint::StreamId,
    pub last: Option<u32>,
    pub follow: bool,
    pub poll_interval: Duration,
    pub batch_ledgers: u32,
    pub max_batch_bytes: usize,
    pub credits: Credits,
    pub convert: ActorRef<ConvertMsg>,
    pub pipeline: ActorRef<PipelineMsg>,
    pub supervision: Supervision,
    pub stats: Arc<PipelineStats>,
}

pub struct SourceSupervisorState {
    args: SourceSupervisorArgs,
    fetch: Option<ActorRef<FetchMsg>>,
    draining: bool,
}

pub struct SourceSupervisor;

impl Actor for SourceSupervisor {
    type Msg = SourceMsg;
    type State = SourceSupervisorState;
    type Arguments = SourceSupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<SourceMsg>,
        args: SourceSupervisorArgs,
    ) -> Result<SourceSupervisorState, ActorProcessingErr> {
        Ok(SourceSupervisorState { args, fetch: None, draining: false })
    }

    async fn handle(
        &self,
        myself: ActorRef<SourceMsg>,
        message: SourceMsg,
        state: &mut SourceSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SourceMsg::Start { epoch, next } => {
                if let Some(old) = state.fetch.take() {
                    old.kill();
                }
                let source = match (state.args.factory)() {
                    Ok(source) => source,
                    Err(err) => {
                        let err: ActorProcessingErr = Box::new(err);
                        decide(&myself, state, &err)?;
                        return Ok(());
                    }
                };
                let args = FetchArgs {
                    source,
                    stream: state.args.stream.clone(),
                    epoch,
                    next,
                    last: state.args.last,
                    follow: state.args.follow,
                    poll_interval: state.args.poll_interval,
                    batch_ledgers: state.args.batch_ledgers,
                    max_batch_bytes: state.args.max_batch_bytes,
                    credits: state.args.credits.clone(),
                    convert: state.args.convert.clone(),
                    stats: state.args.stats.clone(),
                    supervisor: myself.clone(),
                };
                let (fetch, _) = Actor::spawn_linked(None, FetchActor, args, myself.get_cell()).await?;
                if state.draining {
                    fetch.cast(FetchMsg::Drain)?;
                }
                state.fetch = Some(fetch);
            }
            SourceMsg::Drain => {
                state.draining = true;
                if let Some(fetch) = &state.fetch {
                    fetch.cast(FetchMsg::Drain)?;
                }
            }
            SourceMsg::Progress => state.args.supervision.on_success(),
            SourceMsg::Respawn => {
                state.args.supervision.on_restart();
                info!("source restarting from the checkpoint");
                state.args.pipeline.cast(PipelineMsg::Rewind("source restarted"))?;
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SourceMsg>,
        event: SupervisionEvent,
        state: &mut SourceSupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(cell, err) = event else { return Ok(()) };
        // Only the current fetcher's failure counts; a replaced one is already gone.
        if state.fetch.as_ref().is_none_or(|f| f.get_id() != cell.get_id()) {
            return Ok(());
        }
        state.fetch = None;
        decide(&myself, state, &err)
    }
}

fn decide(
    myself: &ActorRef<SourceMsg>,
    state: &mut SourceSupervisorState,
    err: &ActorProcessingErr,
) -> Result<(), ActorProcessingErr> {
    match state.args.supervision.on_failure(err) {
        Decision::Restart { after, .. } => {
            myself.send_after(after, || SourceMsg::Respawn);
        }
        Decision::Escalate(reason) => state.args.pipeline.cast(PipelineMsg::Fatal(reason))?,
    }
    Ok(())
}
