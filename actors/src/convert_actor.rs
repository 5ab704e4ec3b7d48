//! ConvertActor: decodes and converts one raw batch at a time into Arrow tables (on a blocking
//! thread, so the async workers stay free), then hands the result back to its supervisor,
//! which restores the stream order. Several run in parallel, one per core by default.
//!
//! Input: `ConvertWorkerMsg::Convert`. Output: `ConvertMsg::Converted` to the ConvertSupervisor.
//! A corrupt ledger under `on_corrupt = "fail"` is a permanent error: the worker fails with it.
//! Failpoint: `convert:before`.

use std::sync::Arc;
use std::time::Instant;

use ledgerflow::batch::{ConvertedBatch, OnCorrupt, convert_batch};
use ledgerflow::decode::DecodeLimits;
use ledgerflow::source::RawBatch;
use ledgerflow::tables::ConvertOptions;
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::convert_supervisor::ConvertMsg;
use crate::envelope::Envelope;
use crate::stats::PipelineStats;

pub enum ConvertWorkerMsg {
    Convert(Envelope<RawBatch>),
}

#[derive(Clone)]
pub struct ConvertArgs {
    pub index: usize,
    pub options: ConvertOptions,
    pub limits: DecodeLimits,
    pub on_corrupt: OnCorrupt,
    pub supervisor: ActorRef<ConvertMsg>,
    pub stats: Arc<PipelineStats>,
}

pub struct ConvertActor;

/// A fault injected by the `convert:before` failpoint (transient: a restart gets past it once
/// the failpoint is off).
#[derive(Debug, thiserror::Error)]
#[error("convert fault injected at {0}")]
pub struct InjectedFault(pub &'static str);

impl Actor for ConvertActor {
    type Msg = ConvertWorkerMsg;
    type State = ConvertArgs;
    type Arguments = ConvertArgs;

    async fn pre_start(
        &self,
        _: ActorRef<ConvertWorkerMsg>,
        args: ConvertArgs,
    ) -> Result<ConvertArgs, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<ConvertWorkerMsg>,
        message: ConvertWorkerMsg,
        state: &mut ConvertArgs,
    ) -> Result<(), ActorProcessingErr> {
        let ConvertWorkerMsg::Convert(envelope) = message;
        fail::fail_point!("convert:before", |_| Err(
            Box::new(InjectedFault("convert:before")) as ActorProcessingErr
        ));
        let Envelope { epoch, position, range, payload, credit } = envelope;
        let span = tracing::debug_span!("convert", first = range.first(), last = range.last());
        let (options, limits, on_corrupt) = (state.options.clone(), state.limits, state.on_corrupt);
        let started = Instant::now();
        let converted: ConvertedBatch = tokio::task::spawn_blocking(move || {
            span.in_scope(|| convert_batch(payload, &options, &limits, on_corrupt))
        })
        .await??;
        state.stats.convert.add_busy(started.elapsed());
        state.stats.xdr_bytes.fetch_add(converted.xdr_bytes as u64, std::sync::atomic::Ordering::Relaxed);
        let envelope = Envelope { epoch, position, range, payload: converted, credit };
        state.supervisor.cast(ConvertMsg::Converted(state.index, envelope))?;
        Ok(())
    }
}
