//! FetchActor: reads raw ledger batches from the source, in order, and hands them to the
//! convert stage, holding at most `max_in_flight` batches and bytes unacknowledged (credits).
//!
//! Input: `FetchMsg::Pump` (to itself), `Drain` from the pipeline. Output: `ConvertMsg::Item`
//! to the ConvertSupervisor. It fails fast on a source error; its supervisor decides what then.
//! Failpoint: `fetch:before_read`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ledgerflow::source::{LedgerSource, SourceError, SourceRead};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::{debug, info};

use crate::convert_supervisor::ConvertMsg;
use crate::credit::Credits;
use crate::envelope::{EndOfStream, Envelope, Epoch, Item};
use crate::source_supervisor::SourceMsg;
use crate::stats::PipelineStats;
use crate::telemetry::TraceContext;

pub enum FetchMsg {
    /// Read and send the next batch (sent to itself; one in the mailbox at a time).
    Pump,
    /// Stop reading: send the end marker after the last batch sent, so the stream drains.
    Drain,
}

pub struct FetchArgs {
    pub source: Box<dyn LedgerSource>,
    /// The stream's id, for the root span of each batch's trace.
    pub stream: ledgerflow::checkpoint::StreamId,
    pub epoch: Epoch,
    /// First ledger to read.
    pub next: u32,
    /// Last ledger of the stream (inclusive), if bounded.
    pub last: Option<u32>,
    pub follow: bool,
    pub poll_interval: Duration,
    pub batch_ledgers: u32,
    pub max_batch_bytes: usize,
    pub credits: Credits,
    pub convert: ActorRef<ConvertMsg>,
    pub stats: Arc<PipelineStats>,
    pub supervisor: ActorRef<SourceMsg>,
}

pub struct FetchState {
    args: FetchArgs,
    position: u64,
    done: bool,
}

pub struct FetchActor;

impl Actor for FetchActor {
    type Msg = FetchMsg;
    type State = FetchState;
    type Arguments = FetchArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<FetchMsg>,
        args: FetchArgs,
    ) -> Result<FetchState, ActorProcessingErr> {
        info!(epoch = args.epoch, next = args.next, "fetch starting");
        myself.cast(FetchMsg::Pump)?;
        Ok(FetchState { args, position: 0, done: false })
    }

    async fn handle(
        &self,
        myself: ActorRef<FetchMsg>,
        message: FetchMsg,
        state: &mut FetchState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            FetchMsg::Pump if !state.done => pump(&myself, state).await,
            FetchMsg::Pump => Ok(()),
            FetchMsg::Drain => {
                if !state.done {
                    info!(next = state.args.next, "fetch draining");
                    end_stream(state)?;
                }
                Ok(())
            }
        }
    }
}

async fn pump(myself: &ActorRef<FetchMsg>, state: &mut FetchState) -> Result<(), ActorProcessingErr> {
    let args = &mut state.args;
    // Backpressure: wait for a batch credit before reading more.
    let batch_credit = args.credits.batch().await;
    let started = Instant::now();
    fail::fail_point!("fetch:before_read", |_| Err(SourceError::Injected("fetch:before_read").into()));
    let (next, last, max_ledgers, max_bytes) =
        (args.next, args.last, args.batch_ledgers, args.max_batch_bytes);
    // The source moves onto a blocking thread for the read and comes back with the result.
    let mut source = std::mem::replace(&mut args.source, Box::new(Exhausted));
    let (source, read, tip) = tokio::task::spawn_blocking(move || {
        let read = source.read(next, last, max_ledgers, max_bytes);
        let tip = source.tip();
        (source, read, tip)
    })
    .await?;
    args.source = source;
    let elapsed = started.elapsed();
    args.stats.source.add_busy(elapsed);
    if let Some(tip) = tip {
        args.stats.source_tip.store(tip, Ordering::Relaxed);
    }
    let read = match read {
        Ok(read) => read,
        Err(err) => {
            // Its supervisor's `supervision` span records what happens next.
            tracing::warn!(next, error = %err, "source read failed");
            return Err(err.into());
        }
    };
    args.stats.caught_up.store(!matches!(read, SourceRead::Batch(_)), Ordering::Relaxed);
    match read {
        SourceRead::Batch(batch) => {
            let range = batch.range;
            let (bytes, xdr_bytes) = (batch.bytes(), batch.xdr_bytes());
            // The root span of the batch's trace (design §6), opened once a read yields a
            // batch (polls that find nothing make no trace); the read's time is an attribute.
            let root = tracing::info_span!(
                parent: None,
                "batch",
                stream_id = %args.stream,
                epoch = args.epoch,
                first = range.first(),
                last = range.last(),
                ledgers = range.len(),
                bytes,
                xdr_bytes,
                fetch_ms = elapsed.as_secs_f64() * 1000.0,
            );
            args.stats.metrics.observe(crate::metrics::LatencyStage::Fetch, elapsed);
            let credit = args.credits.bytes(batch_credit, xdr_bytes).await;
            debug!(first = range.first(), last = range.last(), bytes, xdr_bytes, "fetched");
            args.stats.ledgers_fetched.fetch_add(range.len(), Ordering::Relaxed);
            args.stats.source_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            args.stats.source_ledger.store(range.last(), Ordering::Relaxed);
            let trace = TraceContext::of(&root);
            let envelope = Envelope {
                epoch: args.epoch,
                position: state.position,
                range,
                payload: batch,
                credit,
                trace,
            };
            state.position += 1;
            args.convert.cast(ConvertMsg::Item(Item::Batch(envelope)))?;
            args.supervisor.cast(SourceMsg::Progress)?;
            args.next = range.last().saturating_add(1);
            if range.last() == u32::MAX || args.last.is_some_and(|l| range.last() >= l) {
                end_stream(state)?;
            } else {
                myself.cast(FetchMsg::Pump)?;
            }
        }
        SourceRead::NotYet => {
            drop(batch_credit);
            myself.send_after(args.poll_interval, || FetchMsg::Pump);
        }
        SourceRead::End if args.follow => {
            drop(batch_credit);
            myself.send_after(args.poll_interval, || FetchMsg::Pump);
        }
        SourceRead::End => {
            drop(batch_credit);
            end_stream(state)?;
        }
    }
    Ok(())
}

fn end_stream(state: &mut FetchState) -> Result<(), ActorProcessingErr> {
    state.done = true;
    let end = EndOfStream { epoch: state.args.epoch, position: state.position, next: state.args.next };
    state.position += 1;
    state.args.convert.cast(ConvertMsg::Item(Item::End(end)))?;
    Ok(())
}

/// Stands in for the source while it is away on a blocking thread.
struct Exhausted;

impl LedgerSource for Exhausted {
    fn network(&self) -> ledgerflow::network::Network {
        ledgerflow::network::Network::default()
    }
    fn first_available(&mut self) -> Result<Option<u32>, SourceError> {
        Ok(None)
    }
    fn read_within(&mut self, _: u32, _: Option<u32>, _: u32, _: usize) -> Result<SourceRead, SourceError> {
        Ok(SourceRead::End)
    }
}
