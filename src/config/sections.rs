//! The sections of `ledgerflow.toml` that have no home elsewhere in the crate. Sections owned by
//! a module ([`ArchiveConfig`](crate::archive::ArchiveConfig),
//! [`DecodeLimits`](crate::decode::DecodeLimits),
//! [`AnalyticsConfig`](crate::analytics::AnalyticsConfig), [`RetryPolicy`],
//! [`BreakerConfig`]) live with that module.
//!
//! Each struct refuses unknown keys and fills missing ones from its `Default`; its `///` field
//! docs are the user documentation (they are repeated as comments in `config/ledgerflow.toml`).
//! Durations are integer milliseconds in fields named `*_ms`, sizes are bytes in `*_bytes`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::checkpoint::StreamId;
use crate::generator::MAX_TRANSACTIONS_PER_LEDGER;
use crate::network::Network;
use crate::resilience::{BreakerConfig, RetryPolicy};

const MIB: u64 = 1 << 20;

/// Fails with [`ConfigError::Invalid`] when `value` is 0.
fn at_least_one(key: &str, value: u64, allowed: &str) -> Result<(), ConfigError> {
    if value == 0 { Err(ConfigError::invalid(key, 0, allowed)) } else { Ok(()) }
}

/// `[stream]`: which ledgers this run ingests, and under which name its progress is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Name of the stream: the namespace of its checkpoint keys, so several streams can share
    /// one checkpoint database. 1 to 128 characters from `A-Z a-z 0-9 . _ -`.
    pub id: StreamId,
    /// First ledger to ingest (a ledger sequence, 1 or more). Unset: the source's natural
    /// start, the synthetic generator's first ledger (1000000) or the data store's first
    /// object. Only read when the stream has no checkpoint yet: a restart resumes after the
    /// last committed ledger. For the synthetic source this is also where its header chain
    /// begins, so changing it changes every generated ledger: use a new `id` too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<u32>,
    /// Last ledger to ingest, inclusive. Unset: until the source ends (a data store's last
    /// object; `source.ledgers` ledgers for the synthetic source), or forever with `follow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<u32>,
    /// Keep polling for new ledgers once the source is caught up, at ledger cadence
    /// (`source.cadence_ms` for the synthetic source, `source.poll_interval_ms` for a data
    /// store), instead of stopping.
    pub follow: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            id: StreamId::new(StreamConfig::DEFAULT_ID).expect("the default stream id is valid"),
            from: None,
            to: None,
            follow: false,
        }
    }
}

impl StreamConfig {
    /// The stream id when none is configured.
    pub const DEFAULT_ID: &'static str = "default";

    /// `id` needs no check here: a [`StreamId`] is valid by construction, and a bad string is
    /// refused while parsing, with an error naming `stream.id`.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.from == Some(0) {
            return Err(ConfigError::invalid("stream.from", 0, "a ledger sequence, 1 or more, or unset"));
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to < from
        {
            return Err(ConfigError::invalid(
                "stream.to",
                to,
                format!("at least stream.from ({from}), or unset"),
            ));
        }
        Ok(())
    }
}

/// Where ledgers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The embedded deterministic generator (no network, no files).
    #[default]
    Synthetic,
    /// A SEP-54 data store: a local directory (`source.path`) or object storage
    /// (`source.url`).
    Datastore,
    /// Stellar RPC `getLedgers` (`source.rpc_url`): a live tail within the RPC's retention.
    Rpc,
}

impl SourceKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SourceKind::Synthetic => "synthetic",
            SourceKind::Datastore => "datastore",
            SourceKind::Rpc => "rpc",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[source]`: where ledgers come from. One flat table for both kinds (so switching kind is one
/// line, or one environment variable): the synthetic keys are ignored by a data store and the
/// data store keys by the generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// "synthetic" (the embedded deterministic generator), "datastore" (a SEP-54 data store:
    /// a directory, `path`, or object storage, `url`) or "rpc" (Stellar RPC `getLedgers`,
    /// `rpc_url`).
    pub kind: SourceKind,
    /// Network whose passphrase transaction hashes are computed under: "pubnet", "testnet",
    /// "futurenet", "standalone", "synthetic", or a full passphrase. Unset: the synthetic
    /// network for the generator, the passphrase in the data store's `.config.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Synthetic only: seed of every random choice; the same seed gives byte-identical ledgers.
    pub seed: u64,
    /// Synthetic only: mean transactions per ledger (each ledger draws within ±30%), 0 to
    /// 100000.
    pub transactions_per_ledger: u32,
    /// Synthetic only: how many ledgers a run ingests when `stream.to` is unset and
    /// `stream.follow` is off. 1 or more.
    pub ledgers: u32,
    /// Synthetic only, follow mode: one new ledger every this many milliseconds (Stellar
    /// closes a ledger about every 5 s). 1 or more.
    pub cadence_ms: u64,
    /// Data store only (required there): directory of the SEP-54 store, the one holding
    /// `.config.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Data store only: URL of a SEP-54 store in object storage, instead of `path`:
    /// `s3://bucket/prefix`, `gs://bucket/prefix` or `file:///dir`. Configured by
    /// object_store's environment variables (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`,
    /// credentials) and `storage_options`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Data store only, with `url`: object_store options (its own lowercase keys), e.g.
    /// `aws_endpoint`, `aws_region`, `aws_allow_http`, `aws_skip_signature = "true"` for
    /// anonymous access to a public bucket. Credentials are refused here: environment only.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub storage_options: crate::storage::StorageOptions,
    /// Data store only, with `url`: most bytes of objects fetched ahead of the stream (in
    /// flight and waiting), 1 MiB or more. How many objects that is follows their size;
    /// how many requests run at once adapts to the store's latency and errors.
    pub max_prefetch_bytes: u64,
    /// Data store only, with `url`: most object requests in flight at once (the cap of the
    /// adaptive concurrency), 1 to 256.
    pub max_concurrent_fetches: u32,
    /// Data store and RPC, follow mode (and RPC short of `stream.to`): how often to look for
    /// new ledgers once caught up, in milliseconds. 1 or more.
    pub poll_interval_ms: u64,
    /// Stellar RPC endpoint (`https://...`). Required when `kind = "rpc"`. With
    /// `kind = "datastore"` it is the hand-over: once the stream reaches the data store's tip
    /// it continues on RPC from the next ledger (no gap, no duplicate at the seam).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    /// RPC only: ledgers asked for per `getLedgers` request (the RPC caps it at 200; pubnet
    /// ledgers are about 1 MB of base64 each), 1 to 200.
    pub rpc_ledgers_per_request: u32,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            kind: SourceKind::Synthetic,
            network: None,
            seed: 42,
            transactions_per_ledger: 100,
            ledgers: 10_000,
            cadence_ms: 5_000,
            path: None,
            url: None,
            storage_options: Default::default(),
            max_prefetch_bytes: 128 * MIB,
            max_concurrent_fetches: 32,
            poll_interval_ms: 2_000,
            rpc_url: None,
            rpc_ledgers_per_request: 10,
        }
    }
}

impl SourceConfig {
    /// The configured network, if any (`network` is a name or a passphrase).
    pub fn network(&self) -> Option<Network> {
        self.network.as_deref().map(Network::from_name_or_passphrase)
    }

    pub fn cadence(&self) -> Duration {
        Duration::from_millis(self.cadence_ms)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(network) = &self.network
            && network.trim().is_empty()
        {
            return Err(ConfigError::invalid(
                "source.network",
                format!("{network:?}"),
                "pubnet, testnet, futurenet, standalone, synthetic, a network passphrase, or unset",
            ));
        }
        if self.transactions_per_ledger > MAX_TRANSACTIONS_PER_LEDGER {
            return Err(ConfigError::invalid(
                "source.transactions_per_ledger",
                self.transactions_per_ledger,
                format!("0 to {MAX_TRANSACTIONS_PER_LEDGER}"),
            ));
        }
        at_least_one("source.ledgers", self.ledgers.into(), "1 or more ledgers")?;
        at_least_one("source.cadence_ms", self.cadence_ms, "1 or more milliseconds")?;
        at_least_one("source.poll_interval_ms", self.poll_interval_ms, "1 or more milliseconds")?;
        if self.max_prefetch_bytes < MIB {
            return Err(ConfigError::invalid(
                "source.max_prefetch_bytes",
                self.max_prefetch_bytes,
                "1048576 (1 MiB) or more bytes",
            ));
        }
        if !(1..=256).contains(&self.max_concurrent_fetches) {
            return Err(ConfigError::invalid(
                "source.max_concurrent_fetches",
                self.max_concurrent_fetches,
                "1 to 256 requests",
            ));
        }
        if !(1..=200).contains(&self.rpc_ledgers_per_request) {
            return Err(ConfigError::invalid(
                "source.rpc_ledgers_per_request",
                self.rpc_ledgers_per_request,
                "1 to 200 ledgers",
            ));
        }
        if let Some(url) = &self.url
            && !crate::storage::is_url(url)
        {
            return Err(ConfigError::invalid(
                "source.url",
                format!("{url:?}"),
                "an object-storage URL: s3://bucket/prefix, gs://bucket/prefix or file:///dir (a local directory goes in source.path)",
            ));
        }
        if let Some(url) = &self.rpc_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "source.rpc_url",
                format!("{url:?}"),
                "an http:// or https:// Stellar RPC endpoint",
            ));
        }
        match (&self.kind, &self.path, &self.url) {
            (SourceKind::Datastore, None, None) => Err(ConfigError::invalid(
                "source.path",
                "(unset)",
                "the directory of a SEP-54 data store, or source.url; one is required when source.kind = \"datastore\"",
            )),
            (SourceKind::Datastore, Some(_), Some(_)) => Err(ConfigError::invalid(
                "source.url",
                format!("{:?}", self.url.as_deref().unwrap_or_default()),
                "unset when source.path is set: a data store is a directory or a URL, not both",
            )),
            (SourceKind::Rpc, _, _) if self.rpc_url.is_none() => Err(ConfigError::invalid(
                "source.rpc_url",
                "(unset)",
                "a Stellar RPC endpoint; required when source.kind = \"rpc\"",
            )),
            (_, Some(path), _) if path.as_os_str().is_empty() => {
                Err(ConfigError::invalid("source.path", "\"\"", "the directory of a SEP-54 data store"))
            }
            _ => Ok(()),
        }
    }
}

/// `[convert]`: XDR to Arrow. Defaults: no raw XDR, one worker per core.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvertConfig {
    /// Also store each ledger's, transaction's and operation's raw XDR (envelope, result,
    /// meta) as binary columns, so the archive can be re-derived without the source. Makes the
    /// archive several times larger.
    pub keep_raw_xdr: bool,
    /// Threads converting batches in parallel, 0 to 1024; 0 means one per available core.
    pub workers: usize,
}

impl ConvertConfig {
    /// Most worker threads accepted.
    pub const MAX_WORKERS: usize = 1024;

    /// `workers`, with 0 resolved to the number of available cores (1 if unknown).
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            workers => workers,
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.workers > Self::MAX_WORKERS {
            return Err(ConfigError::invalid(
                "convert.workers",
                self.workers,
                "0 (one per core) to 1024 threads",
            ));
        }
        Ok(())
    }
}

pub use crate::batch::OnCorrupt;

/// `[pipeline]`: batch size and flow control (design §2, §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Ledgers per batch, the unit that flows between actors (one trace, one checkpoint
    /// commit at most). 1 or more.
    pub batch_ledgers: u32,
    /// A batch is cut before `batch_ledgers` once its ledgers' XDR exceeds this many bytes
    /// (a single larger ledger still makes a batch of one). XDR as decoded
    /// ([`crate::source::RawObject::xdr_bytes`]), not as compressed. 1 or more.
    pub max_batch_bytes: u64,
    /// Batches fetched but not yet acknowledged by the archive, at most; the fetcher waits
    /// for an acknowledgement beyond that. 2 or more, so one batch converts while another
    /// is archived.
    pub max_in_flight_batches: u32,
    /// XDR bytes fetched but not yet acknowledged, at most. At least `max_batch_bytes`.
    pub max_in_flight_bytes: u64,
    /// A ledger whose XDR is corrupt: "fail" stops the stream; "dead_letter" sets the ledger
    /// aside (raw bytes under the archive root, listed in the checkpoint) and goes on.
    pub on_corrupt: OnCorrupt,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_ledgers: 64,
            max_batch_bytes: 64 * MIB,
            max_in_flight_batches: 4,
            max_in_flight_bytes: 512 * MIB,
            on_corrupt: OnCorrupt::Fail,
        }
    }
}

impl PipelineConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("pipeline.batch_ledgers", self.batch_ledgers.into(), "1 or more ledgers")?;
        at_least_one("pipeline.max_batch_bytes", self.max_batch_bytes, "1 or more bytes")?;
        if self.max_in_flight_batches < 2 {
            return Err(ConfigError::invalid(
                "pipeline.max_in_flight_batches",
                self.max_in_flight_batches,
                "2 or more batches",
            ));
        }
        if self.max_in_flight_bytes < self.max_batch_bytes {
            return Err(ConfigError::invalid(
                "pipeline.max_in_flight_bytes",
                self.max_in_flight_bytes,
                format!("at least pipeline.max_batch_bytes ({})", self.max_batch_bytes),
            ));
        }
        Ok(())
    }
}

/// `[checkpoint]`: where progress is kept (the stream's name is `stream.id`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Directory of the sled checkpoint database. Unset: `<archive.root>/_checkpoint`.
    /// Several streams may share one database (keys are namespaced by `stream.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

impl CheckpointConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match &self.path {
            Some(path) if path.as_os_str().is_empty() => {
                Err(ConfigError::invalid("checkpoint.path", "\"\"", "a directory path, or unset"))
            }
            _ => Ok(()),
        }
    }
}

/// Restart and circuit-breaker settings of one supervisor (design §2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// Delays between restarts of the failed worker.
    pub retry: RetryPolicy,
    /// When repeated failures pause the stream, and how it resumes.
    pub breaker: BreakerConfig,
}

impl SupervisorConfig {
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
        self.retry.validate().map_err(|error| error.in_section(&format!("{section}.retry")))?;
        self.breaker.validate().map_err(|error| error.in_section(&format!("{section}.breaker")))?;
        Ok(())
    }
}

/// `[resilience.*]`: one [`SupervisorConfig`] per supervisor.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResilienceConfig {
    /// SourceSupervisor: the fetcher (data store reads, the generator).
    pub source: SupervisorConfig,
    /// ConvertSupervisor: XDR to Arrow.
    pub convert: SupervisorConfig,
    /// AnalyticsSupervisor: the event-time windows.
    pub analytics: SupervisorConfig,
    /// ArchiveSupervisor: Parquet encoding and durable writes.
    pub archive: SupervisorConfig,
}

impl ResilienceConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.source.validate("resilience.source")?;
        self.convert.validate("resilience.convert")?;
        self.analytics.validate("resilience.analytics")?;
        self.archive.validate("resilience.archive")?;
        Ok(())
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressMode {
    /// A progress bar when stderr is a terminal, log lines otherwise.
    #[default]
    Auto,
    /// A progress bar on stderr.
    Bar,
    /// A log line every `service.log_interval_ms`.
    Log,
    /// Nothing.
    Off,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// `[service]`: process-level behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// On SIGINT/SIGTERM, how long to wait for in-flight batches to commit before exiting
    /// anyway, in milliseconds (nothing is lost either way: a restart resumes from the
    /// checkpoint). 1 or more.
    pub shutdown_timeout_ms: u64,
    /// "auto" (a bar on a terminal, log lines otherwise), "bar", "log" or "off".
    pub progress: ProgressMode,
    /// Interval of progress log lines, in milliseconds. 1 or more.
    pub log_interval_ms: u64,
    /// "human" or "json".
    pub log_format: LogFormat,
    /// Log filter, in `tracing` EnvFilter syntax: a level ("trace", "debug", "info", "warn",
    /// "error", "off") and/or `target=level` directives, comma-separated, e.g.
    /// "warn,ledgerflow=debug".
    pub log_level: String,
    /// Address of the HTTP listener serving `/metrics`, `/health`, `/ready`, `/status` (and
    /// the failpoint admin endpoint when enabled), e.g. "127.0.0.1:9477". Unset: no listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<std::net::SocketAddr>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            shutdown_timeout_ms: 30_000,
            progress: ProgressMode::Auto,
            log_interval_ms: 10_000,
            log_format: LogFormat::Human,
            log_level: "info".to_owned(),
            http_addr: None,
        }
    }
}

impl ServiceConfig {
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    pub fn log_interval(&self) -> Duration {
        Duration::from_millis(self.log_interval_ms)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("service.shutdown_timeout_ms", self.shutdown_timeout_ms, "1 or more milliseconds")?;
        at_least_one("service.log_interval_ms", self.log_interval_ms, "1 or more milliseconds")?;
        if !is_plausible_env_filter(&self.log_level) {
            return Err(ConfigError::invalid(
                "service.log_level",
                format!("{:?}", self.log_level),
                "comma-separated EnvFilter directives: a level (trace, debug, info, warn, error, off) \
                 or target=level, e.g. \"warn,ledgerflow=debug\"",
            ));
        }
        Ok(())
    }
}

/// Wire protocol of the OTLP trace exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OtlpProtocol {
    /// OTLP over gRPC, usually port 4317.
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP over HTTP with protobuf bodies, usually port 4318 (`/v1/traces` is appended).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The value `OTEL_EXPORTER_OTLP_PROTOCOL` uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        }
    }

    /// Parses `OTEL_EXPORTER_OTLP_PROTOCOL`'s values.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "grpc" => Some(OtlpProtocol::Grpc),
            "http/protobuf" => Some(OtlpProtocol::HttpProtobuf),
            _ => None,
        }
    }
}

/// `[telemetry]`: trace export over OTLP (to Jaeger, an OpenTelemetry collector, ...). The
/// standard `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` and
/// `OTEL_SERVICE_NAME` variables override these keys; `OTEL_TRACES_SAMPLER` and
/// `OTEL_TRACES_SAMPLER_ARG` choose the sampler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Collector endpoint, e.g. "http://localhost:4317" (gRPC) or "http://localhost:4318"
    /// (HTTP). Unset (and no `OTEL_EXPORTER_OTLP_ENDPOINT`): traces are not exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// "grpc" or "http/protobuf".
    pub otlp_protocol: OtlpProtocol,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// How long to wait for the exporter to flush at shutdown, in milliseconds. 1 or more.
    pub flush_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::Grpc,
            service_name: "ledgerflow".to_owned(),
            flush_timeout_ms: 5_000,
        }
    }
}

impl TelemetryConfig {
    pub fn flush_timeout(&self) -> Duration {
        Duration::from_millis(self.flush_timeout_ms)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        at_least_one("telemetry.flush_timeout_ms", self.flush_timeout_ms, "1 or more milliseconds")?;
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "telemetry.otlp_endpoint",
                format!("{endpoint:?}"),
                "an http:// or https:// URL, e.g. \"http://localhost:4317\"",
            ));
        }
        if self.service_name.trim().is_empty() {
            return Err(ConfigError::invalid("telemetry.service_name", "\"\"", "a non-empty name"));
        }
        Ok(())
    }
}

/// `[fault_injection]`: failpoints for chaos experiments (design §7). They exist only in a
/// build with the `failpoints` feature; elsewhere arming one is an error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultInjectionConfig {
    /// Failpoints armed at start, each "name=actions" in fail-rs syntax, e.g.
    /// "fetch:before_read=10%return" or "archive:before_stage=1*sleep(500)->off". The
    /// `FAILPOINTS` variable ("name=actions;name=actions") is applied after these.
    pub failpoints: Vec<String>,
    /// Serve `GET/PUT/DELETE /admin/failpoints` on the HTTP listener, to arm and disarm
    /// failpoints at run time. Refused unless `service.http_addr` is a loopback address.
    pub admin_endpoint: bool,
}

impl FaultInjectionConfig {
    pub(super) fn validate(&self, http_addr: Option<std::net::SocketAddr>) -> Result<(), ConfigError> {
        for entry in &self.failpoints {
            let valid = entry
                .split_once('=')
                .is_some_and(|(name, actions)| !name.trim().is_empty() && !actions.trim().is_empty());
            if !valid {
                return Err(ConfigError::invalid(
                    "fault_injection.failpoints",
                    format!("{entry:?}"),
                    "entries \"name=actions\", e.g. \"fetch:before_read=1*return\"",
                ));
            }
        }
        if self.admin_endpoint {
            match http_addr {
                Some(addr) if addr.ip().is_loopback() => {}
                other => {
                    return Err(ConfigError::invalid(
                        "fault_injection.admin_endpoint",
                        format!(
                            "true with service.http_addr = {}",
                            other.map_or("unset".into(), |a| a.to_string())
                        ),
                        "true only with service.http_addr on a loopback address (127.0.0.1 or [::1])",
                    ));
                }
            }
        }
        Ok(())
    }
}

const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// A light check of EnvFilter syntax (the library does not depend on `tracing-subscriber`,
/// which parses it for real): every comma-separated directive is a level, a target, or
/// `target=level`; directives with span filters (`[...]`) are passed through.
fn is_plausible_env_filter(directives: &str) -> bool {
    let is_level = |word: &str| LEVELS.iter().any(|level| level.eq_ignore_ascii_case(word));
    let is_target = |word: &str| {
        !word.is_empty()
            && word.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
    };
    !directives.trim().is_empty()
        && directives.split(',').map(str::trim).all(|directive| {
            if directive.contains('[') {
                return true;
            }
            match directive.rsplit_once('=') {
                Some((target, level)) => is_target(target) && is_level(level),
                None => is_level(directive) || is_target(directive),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_filter_check_accepts_common_directives_only() {
        for good in ["info", "WARN", "warn,ledgerflow=debug", "ledgerflow::archive=trace", "off", "my_crate"]
        {
            assert!(is_plausible_env_filter(good), "{good}");
        }
        for bad in ["", " ", "info,", "ledgerflow=loud", "=info", "a b", "info;debug"] {
            assert!(!is_plausible_env_filter(bad), "{bad}");
        }
        assert!(is_plausible_env_filter("ledgerflow[batch{first=1}]=debug"));
    }

    #[test]
    fn convert_workers_zero_means_every_core() {
        assert!(ConvertConfig::default().worker_count() >= 1);
        assert_eq!(ConvertConfig { workers: 3, ..ConvertConfig::default() }.worker_count(), 3);
    }
}
