//! The service configuration (design §5): one TOML file, `LEDGERFLOW_*` environment variables
//! over it, CLI flags over both, validated once at start-up.
//!
//! [`Config::load`] layers, each over the one before:
//! 1. the defaults ([`Config::default`]; `config/ledgerflow.toml` lists every key with its
//!    default, and a test keeps the two equal);
//! 2. the TOML file, when a path is given (a missing file is an error that names it);
//! 3. the environment: `LEDGERFLOW_<SECTION>__<KEY>`, e.g. `LEDGERFLOW_ARCHIVE__ROOT=/data` or
//!    `LEDGERFLOW_PIPELINE__BATCH_LEDGERS=128` ([`EnvOverrides`]);
//!
//! then runs [`Config::validate`]. The binary applies its flags afterwards by assigning fields
//! (`config.stream.from = Some(n)`) and calls [`Config::validate`] again.
//!
//! Unknown keys are refused in every section, by the file and by the environment alike, with
//! an error naming the key and where it came from ([`ConfigError::Load`]). Values serde cannot
//! judge alone (ranges, one key against another) are checked by `validate`, whose
//! [`ConfigError::Invalid`] names the key, the value and what is allowed. Every configuration
//! error is permanent: retrying does not fix a file.
//!
//! Secrets (none yet: the archive is local) will come from the environment only, as
//! [`Secret`] values, which never print.

mod providers;
mod sections;
#[cfg(test)]
mod tests;

pub use providers::{ENV_PREFIX, ENV_SEPARATOR, EnvOverrides};
pub use sections::{
    CheckpointConfig, ConvertConfig, FaultInjectionConfig, LogFormat, OnCorrupt, OtlpProtocol,
    PipelineConfig, ProgressMode, ResilienceConfig, ServiceConfig, SourceConfig, SourceKind, StreamConfig,
    SupervisorConfig, TelemetryConfig,
};

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::analytics::AnalyticsConfig;
use crate::archive::{ArchiveConfig, ArchiveError};
use crate::decode::DecodeLimits;
use crate::generator::{GeneratorConfig, GeneratorError};
use crate::network::Network;
use crate::resilience::{Classify, FailureClass, InvalidSetting};
use providers::PlainKeys;

/// Why the configuration could not be loaded or is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file cannot be read (missing, unreadable).
    #[error("cannot read configuration file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A layer does not parse or does not fit the schema: bad TOML, an unknown key, a value of
    /// the wrong type. The message names the key and its origin (the file, or the variable).
    #[error("invalid configuration: {source}")]
    Load {
        #[source]
        source: Box<figment::Error>,
    },
    /// A value that parsed but is out of range, alone or against another key.
    #[error("invalid configuration: {key} = {value} is invalid; allowed: {allowed}")]
    Invalid { key: String, value: String, allowed: String },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`]; `key` is the full dotted path (`pipeline.batch_ledgers`).
    pub fn invalid(key: &str, value: impl fmt::Display, allowed: impl Into<String>) -> Self {
        ConfigError::Invalid { key: key.to_owned(), value: value.to_string(), allowed: allowed.into() }
    }

    /// The dotted key an [`ConfigError::Invalid`] is about.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

impl From<figment::Error> for ConfigError {
    fn from(source: figment::Error) -> Self {
        ConfigError::Load { source: Box::new(source) }
    }
}

impl From<InvalidSetting> for ConfigError {
    fn from(error: InvalidSetting) -> Self {
        ConfigError::Invalid { key: error.key, value: error.value, allowed: error.allowed }
    }
}

impl From<ArchiveError> for ConfigError {
    /// `ArchiveConfig::validate` only fails with `InvalidConfig`; anything else is kept whole
    /// in `allowed`, under the section's name.
    fn from(error: ArchiveError) -> Self {
        match error {
            ArchiveError::InvalidConfig { key, value, allowed } => ConfigError::invalid(key, value, allowed),
            other => ConfigError::invalid("archive", "(section)", other.to_string()),
        }
    }
}

impl Classify for ConfigError {
    /// A configuration fails the same way on every attempt.
    fn class(&self) -> FailureClass {
        FailureClass::Permanent
    }
}

/// A secret string (a key, a token): read from the environment, never printed. `Debug`,
/// `Display` and `Serialize` all write `***`; [`Secret::expose`] is the only way to the value.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

/// The whole configuration of one `ledgerflow run`: one stream, from one source, into one
/// archive. See `config/ledgerflow.toml` for every key with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[stream]`: the stream's name and ledger range.
    pub stream: StreamConfig,
    /// `[source]`: the synthetic generator or a data store.
    pub source: SourceConfig,
    /// `[decode]`: bounds on what one object or ledger may cost to decode.
    pub decode: DecodeLimits,
    /// `[convert]`: XDR to Arrow.
    pub convert: ConvertConfig,
    /// `[pipeline]`: batches and flow control.
    pub pipeline: PipelineConfig,
    /// `[archive]`: where and how Parquet files are written.
    pub archive: ArchiveConfig,
    /// `[checkpoint]`: where progress is kept.
    pub checkpoint: CheckpointConfig,
    /// `[analytics]`: event-time windows.
    pub analytics: AnalyticsConfig,
    /// `[resilience.*]`: restart delays and circuit breakers, per supervisor.
    pub resilience: ResilienceConfig,
    /// `[service]`: shutdown, progress, logs and the HTTP listener.
    pub service: ServiceConfig,
    /// `[telemetry]`: OTLP trace export.
    pub telemetry: TelemetryConfig,
    /// `[fault_injection]`: failpoints for chaos experiments.
    pub fault_injection: FaultInjectionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            stream: StreamConfig::default(),
            source: SourceConfig::default(),
            decode: DecodeLimits::default(),
            convert: ConvertConfig::default(),
            pipeline: PipelineConfig::default(),
            archive: ArchiveConfig {
                root: PathBuf::from(Config::DEFAULT_ARCHIVE_ROOT),
                ..ArchiveConfig::default()
            },
            checkpoint: CheckpointConfig::default(),
            analytics: AnalyticsConfig::default(),
            resilience: ResilienceConfig::default(),
            service: ServiceConfig::default(),
            telemetry: TelemetryConfig::default(),
            fault_injection: FaultInjectionConfig::default(),
        }
    }
}

impl Config {
    /// `archive.root` when none is configured, relative to the working directory.
    pub const DEFAULT_ARCHIVE_ROOT: &'static str = "ledgerflow-data";
    /// Name of the checkpoint directory under `archive.root` when `checkpoint.path` is unset.
    pub const DEFAULT_CHECKPOINT_DIR: &'static str = "_checkpoint";

    /// Defaults, then the file at `path` (if any), then the process's `LEDGERFLOW_*`
    /// variables; validated.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::from_figment(&Config::figment(path, EnvOverrides::from_process())?)
    }

    /// The layers [`Config::load`] extracts: defaults, the file at `path` (if any), then `env`.
    /// A missing or unreadable file is a [`ConfigError::Io`] naming it. Callers may merge more
    /// providers on top before [`Config::from_figment`].
    pub fn figment(path: Option<&Path>, env: EnvOverrides) -> Result<Figment, ConfigError> {
        let mut figment = Figment::from(PlainKeys(Serialized::defaults(Config::default())));
        if let Some(path) = path {
            // figment treats a missing file as an empty one; a file named by the user must exist.
            File::open(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
            figment = figment.merge(PlainKeys(Toml::file_exact(path)));
        }
        Ok(figment.merge(env))
    }

    /// Extracts a configuration from `figment`, then validates it. Numbers and booleans may be
    /// written as strings (the environment has nothing else).
    pub fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract_lossy()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every rule serde cannot: ranges, and keys against each other. The first broken
    /// rule is returned, naming its key (`pipeline.max_in_flight_batches`), the value and what
    /// is allowed. Call again after changing fields (CLI flags).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.stream.validate()?;
        self.source.validate()?;
        self.validate_stream_against_source()?;
        validate_decode_limits(&self.decode)?;
        self.convert.validate()?;
        self.pipeline.validate()?;
        self.archive.validate()?;
        self.checkpoint.validate()?;
        self.analytics.validate().map_err(|error| error.in_section("analytics"))?;
        self.resilience.validate()?;
        self.service.validate()?;
        self.telemetry.validate()?;
        self.fault_injection.validate(self.service.http_addr)?;
        Ok(())
    }

    /// The synthetic chain starts at the generator's first ledger: the stream's range must lie
    /// on it, and `source.ledgers` ledgers from `stream.from` must not pass `u32::MAX`.
    fn validate_stream_against_source(&self) -> Result<(), ConfigError> {
        let Some(generator) = self.generator_config() else { return Ok(()) };
        let first = generator.first_sequence;
        for (key, value) in [("stream.from", self.stream.from), ("stream.to", self.stream.to)] {
            if let Some(value) = value
                && value < first
            {
                return Err(ConfigError::invalid(
                    key,
                    value,
                    format!("at least the synthetic source's first ledger {first}"),
                ));
            }
        }
        let from = self.stream.from.unwrap_or(first);
        if self.stream.to.is_none() && !self.stream.follow && self.source.ledgers > u32::MAX - from + 1 {
            return Err(ConfigError::invalid(
                "source.ledgers",
                self.source.ledgers,
                format!("at most {} (the last ledger may not pass u32::MAX)", u32::MAX - from + 1),
            ));
        }
        generator.validate().map_err(|error| match error {
            GeneratorError::InvalidConfig { key: "transactions_per_ledger", value, allowed } => {
                ConfigError::invalid("source.transactions_per_ledger", value, allowed)
            }
            other => ConfigError::invalid("source", "(synthetic)", other.to_string()),
        })
    }

    /// The sled checkpoint directory: `checkpoint.path`, or `<archive.root>/_checkpoint`.
    pub fn checkpoint_path(&self) -> PathBuf {
        match &self.checkpoint.path {
            Some(path) => path.clone(),
            None => self.archive.root.join(Config::DEFAULT_CHECKPOINT_DIR),
        }
    }

    /// The generator a synthetic source runs, `None` for a data store. Its first ledger is
    /// `stream.from` (default: the generator's); it stops at `stream.to`, else after
    /// `source.ledgers` ledgers, and never with `stream.follow` and no `stream.to` (the
    /// caller paces it at `source.cadence_ms`).
    pub fn generator_config(&self) -> Option<GeneratorConfig> {
        if self.source.kind != SourceKind::Synthetic {
            return None;
        }
        // The synthetic chain is anchored at the generator's first ledger whatever range the
        // stream reads, so a ledger is the same in every run (a resumed or narrowed stream
        // reads the same bytes). The stream's `from`/`to` select the range; see
        // [`Config::stream_range`].
        let defaults = GeneratorConfig::default();
        Some(GeneratorConfig {
            seed: self.source.seed,
            ledger_count: None,
            transactions_per_ledger: self.source.transactions_per_ledger,
            network: self.source.network().unwrap_or_else(Network::synthetic),
            ..defaults
        })
    }

    /// The ledgers the stream ingests, given the source's first ledger: `from` (default: that
    /// first ledger) to `to`; without `to`, a synthetic stream that does not follow takes
    /// `source.ledgers` ledgers, and any other stream runs until its source ends (or forever
    /// with `follow`).
    pub fn stream_range(&self, source_first: u32) -> (u32, Option<u32>) {
        let from = self.stream.from.unwrap_or(source_first);
        let to = match (self.stream.to, self.source.kind, self.stream.follow) {
            (Some(to), _, _) => Some(to),
            (None, SourceKind::Synthetic, false) => Some(from.saturating_add(self.source.ledgers.max(1) - 1)),
            (None, _, _) => None,
        };
        (from, to)
    }

    /// The configuration as TOML (for `ledgerflow validate --print`): every key that has a
    /// value, keys in alphabetical order within each table. Fails, naming the key, only on what
    /// TOML cannot write: an integer above `i64::MAX`, or a non-finite number (which
    /// [`Config::validate`] refuses anyway).
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        let value = serde_json::to_value(self)
            .map_err(|error| ConfigError::invalid("(configuration)", error, "a serializable value"))?;
        let mut out = String::new();
        if let serde_json::Value::Object(table) = &value {
            toml_text::write_table(&mut out, &mut Vec::new(), table)?;
        }
        Ok(out)
    }
}

/// A minimal TOML writer for [`Config::to_toml_string`]: tables of scalars and arrays of
/// scalars, which is all a configuration holds. (The `toml` crate is not a dependency of this
/// crate; with it, this module becomes `toml::to_string_pretty`.)
mod toml_text {
    use serde_json::{Map, Value};

    use super::ConfigError;

    pub(super) fn write_table(
        out: &mut String,
        path: &mut Vec<String>,
        table: &Map<String, Value>,
    ) -> Result<(), ConfigError> {
        let has_values = table.values().any(|value| !value.is_object());
        if !path.is_empty() && (has_values || table.is_empty()) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[{}]\n", path.join(".")));
        }
        for (key, value) in table.iter().filter(|(_, value)| !value.is_object()) {
            let rendered = render(value).ok_or_else(|| {
                let key = path.iter().chain([key]).cloned().collect::<Vec<_>>().join(".");
                ConfigError::invalid(&key, value, "a value TOML can write (an integer up to i64::MAX)")
            })?;
            out.push_str(&format!("{key} = {rendered}\n"));
        }
        for (key, value) in table {
            if let Value::Object(inner) = value {
                path.push(key.clone());
                write_table(out, path, inner)?;
                path.pop();
            }
        }
        Ok(())
    }

    /// A scalar or an array of scalars as TOML; `None` for what TOML cannot write. JSON string
    /// escapes are all valid in TOML basic strings.
    fn render(value: &Value) -> Option<String> {
        match value {
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Number(number) if number.is_u64() && number.as_u64()? > i64::MAX as u64 => None,
            Value::Number(number) if number.is_f64() => {
                let float = number.as_f64()?;
                // `1e300` and `2.0` are TOML floats; a bare `2` would be an integer.
                let text = number.to_string();
                Some(if text.contains(['.', 'e', 'E']) || !float.is_finite() {
                    text
                } else {
                    format!("{text}.0")
                })
            }
            Value::Number(number) => Some(number.to_string()),
            Value::String(text) => serde_json::to_string(text).ok(),
            Value::Array(items) => {
                let items = items.iter().map(render).collect::<Option<Vec<_>>>()?;
                Some(format!("[{}]", items.join(", ")))
            }
            Value::Null | Value::Object(_) => None,
        }
    }
}

/// [`DecodeLimits`] has no `validate` of its own: a zero limit would refuse every ledger.
fn validate_decode_limits(limits: &DecodeLimits) -> Result<(), ConfigError> {
    let positive = |key: &str, value: u64, allowed: &str| {
        if value == 0 { Err(ConfigError::invalid(key, 0, allowed)) } else { Ok(()) }
    };
    positive("decode.max_object_bytes", limits.max_object_bytes, "1 or more bytes")?;
    positive("decode.max_ledger_bytes", limits.max_ledger_bytes as u64, "1 or more bytes")?;
    positive("decode.max_xdr_depth", limits.max_xdr_depth.into(), "1 or more levels")?;
    Ok(())
}
