//! CheckpointActor: owns the sled checkpoint store (design §2–3). It answers "resume from",
//! hands out the last checkpoint for recovery, and records commits in order, refusing any
//! commit from an older stream epoch (a rewound stream must not commit what it discarded).
//!
//! Input: `CheckpointMsg` from the pipeline and the archive worker. sled calls run on blocking
//! threads; a commit is replied to only after sled's `flush` returned.
//! Failpoints (in the store): `checkpoint:before_commit`, `checkpoint:after_transaction`,
//! `checkpoint:after_flush`.

use std::sync::Arc;
use std::time::Instant;

use ledgerflow::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, Commit, CommitAck, StreamId};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::envelope::Epoch;
use crate::stats::PipelineStats;

/// Why a commit was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommitRefused {
    #[error("commit from epoch {got} refused: the stream is at epoch {current}")]
    Stale { got: Epoch, current: Epoch },
    #[error(transparent)]
    Store(#[from] CheckpointError),
}

pub enum CheckpointMsg {
    /// The stream's checkpoint, if any.
    Load(RpcReplyPort<Result<Option<Checkpoint>, CheckpointError>>),
    /// The stream moved to `epoch` (a rewind): commits of older epochs are refused from now on.
    SetEpoch(Epoch, RpcReplyPort<()>),
    /// Step 2 of design §3; the reply is sent only after sled `flush` returns.
    /// The trace context is the `archive.commit` span's: `checkpoint.commit` is its child.
    Commit(Epoch, Commit, crate::telemetry::TraceContext, RpcReplyPort<Result<CommitAck, CommitRefused>>),
    /// Step 3 done: the last commit's files are published.
    MarkPublished(RpcReplyPort<Result<(), CheckpointError>>),
}

pub struct CheckpointArgs {
    pub store: Arc<CheckpointStore>,
    pub stream: StreamId,
    pub stats: Arc<PipelineStats>,
}

pub struct CheckpointState {
    store: Arc<CheckpointStore>,
    stream: StreamId,
    epoch: Epoch,
    stats: Arc<PipelineStats>,
}

pub struct CheckpointActor;

impl Actor for CheckpointActor {
    type Msg = CheckpointMsg;
    type State = CheckpointState;
    type Arguments = CheckpointArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<CheckpointMsg>,
        args: CheckpointArgs,
    ) -> Result<CheckpointState, ActorProcessingErr> {
        Ok(CheckpointState { store: args.store, stream: args.stream, epoch: 0, stats: args.stats })
    }

    async fn handle(
        &self,
        _myself: ActorRef<CheckpointMsg>,
        message: CheckpointMsg,
        state: &mut CheckpointState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CheckpointMsg::Load(reply) => {
                let (store, stream) = (state.store.clone(), state.stream.clone());
                let loaded = blocking(move || store.load(&stream)).await?;
                let _ = reply.send(loaded);
            }
            CheckpointMsg::SetEpoch(epoch, reply) => {
                state.epoch = state.epoch.max(epoch);
                let _ = reply.send(());
            }
            CheckpointMsg::Commit(epoch, commit, trace, reply) => {
                if epoch != state.epoch {
                    let _ = reply.send(Err(CommitRefused::Stale { got: epoch, current: state.epoch }));
                    return Ok(());
                }
                let span = tracing::info_span!(
                    "checkpoint.commit",
                    first = commit.range.first(),
                    last = commit.range.last(),
                    files = commit.files.len()
                );
                trace.adopt(&span);
                let started = Instant::now();
                let store = state.store.clone();
                let result = blocking(move || span.in_scope(|| store.commit(commit))).await?;
                let elapsed = started.elapsed();
                state
                    .stats
                    .commit_ns
                    .fetch_add(elapsed.as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
                state.stats.metrics.observe(crate::metrics::LatencyStage::Checkpoint, elapsed);
                let _ = reply.send(result.map_err(CommitRefused::from));
            }
            CheckpointMsg::MarkPublished(reply) => {
                let (store, stream) = (state.store.clone(), state.stream.clone());
                let result = blocking(move || store.mark_published(&stream)).await?;
                let _ = reply.send(result);
            }
        }
        Ok(())
    }
}

/// Runs sled work on a blocking thread. A panic there is a bug: the actor fails with it.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ActorProcessingErr> {
    Ok(tokio::task::spawn_blocking(f).await?)
}
