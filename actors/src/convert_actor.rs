//! ConvertActor: decodes and converts one raw batch at a time into Arrow tables (on a blocking
//! thread, so the async workers stay free), then hands the result back to its supervisor,
//! which restores the stream order. Several run in parallel, one per core by default.
//!
//! Input: `ConvertWorkerMsg::Convert`. Output: `ConvertMsg::Converted` to the ConvertSupervisor.
//! A corrupt ledger under `on_corrupt = "fail"` is a permanent error: the worker fails with it.
//! Failpoint: `convert:before`.

use std::sync::Arc;
use std::time::Instant;

use ledgerflow::batch::{ConvertedBatch, OnCorrupt, convert_batch_with};
use ledgerflow::decode::DecodeLimits;
use ledgerflow::source::RawBatch;
use ledgerflow::tables::{ConvertOptions, TableBuilder};
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

pub struct ConvertState {
    args: ConvertArgs,
    /// Kept from batch to batch (sized buffers, warm strkey cache); away on the blocking
    /// thread while a batch converts.
    builder: Option<TableBuilder>,
}

/// A fault injected by the `convert:before` failpoint (transient: a restart gets past it once
/// the failpoint is off).
#[derive(Debug, thiserror::Error)]
#[error("convert fault injected at {0}")]
pub struct InjectedFault(pub &'static str);

impl Actor for ConvertActor {
    type Msg = ConvertWorkerMsg;
    type State = ConvertState;
    type Arguments = ConvertArgs;

    async fn pre_start(
        &self,
        _: ActorRef<ConvertWorkerMsg>,
        args: ConvertArgs,
    ) -> Result<ConvertState, ActorProcessingErr> {
        let builder = Some(TableBuilder::new(args.options.clone()));
        Ok(ConvertState { args, builder })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ConvertWorkerMsg>,
        message: ConvertWorkerMsg,
        state: &mut ConvertState,
    ) -> Result<(), ActorProcessingErr> {
        let ConvertWorkerMsg::Convert(envelope) = message;
        fail::fail_point!("convert:before", |_| Err(
            Box::new(InjectedFault("convert:before")) as ActorProcessingErr
        ));
        let Envelope { epoch, position, range, payload, credit, trace } = envelope;
        let span = tracing::info_span!(
            "convert",
            first = range.first(),
            last = range.last(),
            worker = state.args.index,
            rows = tracing::field::Empty
        );
        trace.adopt(&span);
        let recorded = span.clone();
        let (limits, on_corrupt) = (state.args.limits, state.args.on_corrupt);
        let mut builder =
            state.builder.take().unwrap_or_else(|| TableBuilder::new(state.args.options.clone()));
        let started = Instant::now();
        let (builder, converted) = tokio::task::spawn_blocking(move || {
            let converted = span.in_scope(|| convert_batch_with(payload, &mut builder, &limits, on_corrupt));
            (builder, converted)
        })
        .await?;
        state.builder = Some(builder);
        let converted: ConvertedBatch = converted?;
        let state = &mut state.args;
        let elapsed = started.elapsed();
        recorded.record("rows", converted.tables.total_rows());
        state.stats.convert.add_busy(elapsed);
        state.stats.metrics.observe(crate::metrics::LatencyStage::Convert, elapsed);
        state.stats.ledgers_converted.fetch_add(range.len(), std::sync::atomic::Ordering::Relaxed);
        state.stats.xdr_bytes.fetch_add(converted.xdr_bytes as u64, std::sync::atomic::Ordering::Relaxed);
        let envelope = Envelope { epoch, position, range, payload: converted, credit, trace };
        state.supervisor.cast(ConvertMsg::Converted(state.index, envelope))?;
        Ok(())
    }
}
