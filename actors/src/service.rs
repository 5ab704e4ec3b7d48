//! The service around one stream: resolves the configuration into a [`StreamPlan`], opens
//! the checkpoint store, starts the actor tree and hands back a [`RunHandle`] to drain it
//! (SIGINT/SIGTERM), abort it, watch its counters and wait for its outcome.

use std::sync::Arc;
use std::time::Duration;

use ledgerflow::checkpoint::{CheckpointError, CheckpointStore, StreamId};
use ledgerflow::config::{Config, SourceKind};
use ledgerflow::datastore::{ObjectDataStore, OpenError};
use ledgerflow::source::{
    DataStoreSource, HandoverSource, LedgerSource, RemoteDataStoreSource, RemoteStore, RpcOptions, RpcSource,
    SourceError, SyntheticSource,
};
use ledgerflow::storage::{ObjectLocation, StorageError};
use ledgerflow::tables::ConvertOptions;
use ractor::{Actor, ActorRef};
use tokio::sync::oneshot;

use crate::pipeline_supervisor::{PipelineArgs, PipelineMsg, PipelineSupervisor, RunOutcome};
use crate::source_supervisor::SourceFactory;
use crate::stats::{PipelineStats, StatsSnapshot};

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the data store has no ledgers yet and the stream has no `from`; set stream.from")]
    NoStart,
    #[error("cannot start the actor tree: {0}")]
    Spawn(String),
    #[error(
        "remote sources (source.url, source.rpc_url) run their requests on the tokio runtime; start the stream inside one"
    )]
    NoRuntime,
}

/// Everything a stream's actors need, resolved from the configuration.
#[derive(Clone)]
pub struct StreamPlan {
    pub config: Config,
    pub stream: StreamId,
    /// First ledger of the stream (the checkpoint may be further on).
    pub from: u32,
    /// Last ledger, inclusive; `None` until the source ends, or forever with `follow`.
    pub to: Option<u32>,
    pub follow: bool,
    pub poll_interval: Duration,
    pub source: SourceFactory,
    pub convert_options: ConvertOptions,
}

impl StreamPlan {
    /// Opens the source and asks it where the stream starts. Async because sources block: the
    /// opening and the probe run on a blocking thread, never on an async worker.
    pub async fn new(config: Config) -> Result<Self, ServiceError> {
        tokio::task::spawn_blocking(move || Self::resolve(config))
            .await
            .map_err(|e| ServiceError::Spawn(format!("resolving the stream: {e}")))?
    }

    fn resolve(config: Config) -> Result<Self, ServiceError> {
        let follow = config.stream.follow;
        let (source, poll_interval): (SourceFactory, Duration) = match config.source.kind {
            SourceKind::Synthetic => {
                let generator = config.generator_config().expect("synthetic source");
                let cadence = config.source.cadence();
                let factory: SourceFactory = Arc::new(move || {
                    let source = if follow {
                        SyntheticSource::following(generator.clone(), cadence)?
                    } else {
                        SyntheticSource::new(generator.clone())?
                    };
                    Ok(Box::new(source) as Box<dyn LedgerSource>)
                });
                (factory, cadence.min(Duration::from_secs(1)))
            }
            SourceKind::Datastore => {
                let network = config.source.network();
                let store: StoreFactory = match config.source.url.clone() {
                    Some(url) => {
                        let location =
                            ObjectLocation::open(&url, "source.url", &config.source.storage_options)?;
                        let handle = runtime()?;
                        let store = handle.block_on(ObjectDataStore::open(location))?;
                        // Shared by every incarnation of the source: the store and its
                        // adaptive concurrency.
                        let shared = RemoteStore::new(
                            store,
                            config.source.max_concurrent_fetches,
                            config.source.max_prefetch_bytes,
                        );
                        let network = network.clone();
                        Arc::new(move || {
                            Ok(Box::new(RemoteDataStoreSource::new(
                                shared.clone(),
                                handle.clone(),
                                network.clone(),
                                follow,
                            )) as Box<dyn LedgerSource>)
                        })
                    }
                    None => {
                        let path =
                            config.source.path.clone().expect("validated: a data store has a path or a url");
                        let network = network.clone();
                        Arc::new(move || {
                            Ok(Box::new(DataStoreSource::open(&path, network.clone(), follow)?)
                                as Box<dyn LedgerSource>)
                        })
                    }
                };
                // With `rpc_url`, the hand-over: the store to its tip, then RPC.
                let rpc = match RpcOptions::from_config(&config.source, follow) {
                    Some(options) => Some((options, runtime()?)),
                    None => None,
                };
                let factory: SourceFactory = Arc::new(move || {
                    let store = store()?;
                    Ok(match &rpc {
                        Some((options, runtime)) => Box::new(HandoverSource::new(
                            store,
                            RpcSource::new(options.clone(), runtime.clone())?,
                        )) as Box<dyn LedgerSource>,
                        None => store,
                    })
                });
                (factory, config.source.poll_interval())
            }
            SourceKind::Rpc => {
                let options = RpcOptions::from_config(&config.source, follow)
                    .expect("validated: kind = \"rpc\" has an rpc_url");
                let runtime = runtime()?;
                let factory: SourceFactory = Arc::new(move || {
                    Ok(Box::new(RpcSource::new(options.clone(), runtime.clone())?) as Box<dyn LedgerSource>)
                });
                (factory, config.source.poll_interval())
            }
        };
        let mut probe = source()?;
        // `first_available` first: an RPC source learns its network there.
        let first = match probe.first_available()? {
            Some(first) => first,
            None => config.stream.from.ok_or(ServiceError::NoStart)?,
        };
        let network = probe.network();
        let (from, to) = config.stream_range(first);
        Ok(StreamPlan {
            stream: config.stream.id.clone(),
            from,
            to,
            follow,
            poll_interval,
            source,
            convert_options: ConvertOptions { network, keep_raw_xdr: config.convert.keep_raw_xdr },
            config,
        })
    }
}

/// The runtime an RPC source blocks on from the fetcher's blocking threads: the one the plan
/// is made on (a multi-thread runtime; the probe in [`StreamPlan::new`] moves off its worker).
/// Makes the data-store half of a source (a directory or object storage).
type StoreFactory = Arc<dyn Fn() -> Result<Box<dyn LedgerSource>, SourceError> + Send + Sync>;

fn runtime() -> Result<tokio::runtime::Handle, ServiceError> {
    tokio::runtime::Handle::try_current().map_err(|_| ServiceError::NoRuntime)
}

/// A running stream.
pub struct RunHandle {
    control: RunControl,
    outcome: oneshot::Receiver<RunOutcome>,
    join: tokio::task::JoinHandle<()>,
}

/// Drains, aborts and watches a running stream; cheap to clone.
#[derive(Clone)]
pub struct RunControl {
    pipeline: ActorRef<PipelineMsg>,
    stats: Arc<PipelineStats>,
}

/// Opens the checkpoint store and starts the stream's actor tree.
pub async fn start(plan: StreamPlan) -> Result<RunHandle, ServiceError> {
    let path = plan.config.checkpoint_path();
    std::fs::create_dir_all(&plan.config.archive.root)
        .map_err(|e| ServiceError::Spawn(format!("{}: {e}", plan.config.archive.root.display())))?;
    let store = tokio::task::spawn_blocking(move || open_store(&path))
        .await
        .map_err(|e| ServiceError::Spawn(e.to_string()))??;
    let stats = Arc::new(PipelineStats::new(plan.stream.as_str()));
    let (sender, outcome) = oneshot::channel();
    let args =
        PipelineArgs { plan: plan.clone(), store: Arc::new(store), stats: stats.clone(), outcome: sender };
    let (pipeline, join) =
        Actor::spawn(None, PipelineSupervisor, args).await.map_err(|e| ServiceError::Spawn(e.to_string()))?;
    Ok(RunHandle { control: RunControl { pipeline, stats }, outcome, join })
}

/// sled holds a lock on its directory a moment after the previous holder is gone (a restarted
/// process, a test reopening): retry briefly before giving up.
pub fn open_store(path: &std::path::Path) -> Result<CheckpointStore, CheckpointError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match CheckpointStore::open(path) {
            Ok(store) => return Ok(store),
            Err(err)
                if std::time::Instant::now() < deadline
                    && ledgerflow::resilience::Classify::is_transient(&err) =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => return Err(err),
        }
    }
}

impl RunHandle {
    pub fn control(&self) -> RunControl {
        self.control.clone()
    }

    /// Waits for the outcome, then for every actor to have stopped.
    pub async fn wait(self) -> RunOutcome {
        let outcome =
            self.outcome.await.unwrap_or_else(|_| RunOutcome::Failed("the pipeline vanished".into()));
        let _ = self.join.await;
        outcome
    }
}

impl RunControl {
    /// Stop fetching, commit what is in flight, then stop.
    pub fn drain(&self) {
        let _ = self.pipeline.cast(PipelineMsg::Drain);
    }

    /// Stop at once; nothing is committed past the last commit.
    pub fn abort(&self) {
        self.pipeline.kill();
    }

    pub fn stats(&self) -> Arc<PipelineStats> {
        self.stats.clone()
    }

    pub fn status(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }
}
