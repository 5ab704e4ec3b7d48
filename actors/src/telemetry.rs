//! Logs and traces (design §6): `tracing` to stderr (human or JSON), and, when an OTLP
//! endpoint is configured, the same spans exported by OpenTelemetry to a collector (Jaeger).
//!
//! One trace per ledger batch: the FetchActor opens the root `batch` span, and every message
//! about the batch carries its W3C trace context ([`TraceContext`]) so convert, analytics,
//! archive and `checkpoint.commit` open child spans of it on their own tasks and threads.
//! Retries, restarts, breaker transitions and dead letters are logged inside spans, so they
//! reach the trace as span events with their attributes.
//!
//! Export never blocks the pipeline: spans go to the SDK's batch processor, a bounded queue
//! drained by its own thread, which drops spans when the collector is down or slow. At exit
//! [`Telemetry::shutdown`] flushes what is queued, within `telemetry.flush_timeout_ms`.

use std::collections::HashMap;
use std::time::Duration;

use ledgerflow::config::{Config, LogFormat, OtlpProtocol};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The W3C trace context (`traceparent`, `tracestate`) of a batch's root span. Empty when
/// traces are not exported, which makes every use of it a no-op.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl TraceContext {
    /// The context of `span` (empty if it is not recorded by OpenTelemetry).
    pub fn of(span: &Span) -> Self {
        let mut carrier: HashMap<String, String> = HashMap::new();
        TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
        TraceContext { traceparent: carrier.remove("traceparent"), tracestate: carrier.remove("tracestate") }
    }

    /// Makes `span` a child of this context (it must not have been entered yet).
    pub fn adopt(&self, span: &Span) {
        let Some(traceparent) = &self.traceparent else { return };
        let mut carrier: HashMap<String, String> = HashMap::new();
        carrier.insert("traceparent".into(), traceparent.clone());
        if let Some(tracestate) = &self.tracestate {
            carrier.insert("tracestate".into(), tracestate.clone());
        }
        let parent = TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(parent);
    }
}

/// Where traces go, resolved from `[telemetry]` and the standard `OTEL_*` variables (which win).
#[derive(Debug, Clone)]
pub struct ExportSettings {
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub service_name: String,
    pub sampler: Sampler,
}

impl ExportSettings {
    /// `None` when no endpoint is configured: traces are then not exported at all.
    pub fn resolve(config: &Config, env: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let telemetry = &config.telemetry;
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let Some(endpoint) = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .or_else(|| telemetry.otlp_endpoint.clone())
        else {
            return Ok(None);
        };
        let protocol =
            match set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL")) {
                Some(text) => OtlpProtocol::parse(&text).ok_or_else(|| {
                    format!("OTEL_EXPORTER_OTLP_PROTOCOL={text:?}: allowed: grpc, http/protobuf")
                })?,
                None => telemetry.otlp_protocol,
            };
        let service_name = set("OTEL_SERVICE_NAME").unwrap_or_else(|| telemetry.service_name.clone());
        let sampler =
            sampler(set("OTEL_TRACES_SAMPLER").as_deref(), set("OTEL_TRACES_SAMPLER_ARG").as_deref())?;
        Ok(Some(ExportSettings { endpoint, protocol, service_name, sampler }))
    }
}

/// The sampler the OpenTelemetry specification's `OTEL_TRACES_SAMPLER` names; the default is
/// `parentbased_always_on`.
fn sampler(name: Option<&str>, arg: Option<&str>) -> Result<Sampler, String> {
    let ratio = || -> Result<f64, String> {
        match arg {
            None => Ok(1.0),
            Some(text) => {
                text.trim().parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).ok_or_else(|| {
                    format!("OTEL_TRACES_SAMPLER_ARG={text:?}: allowed: a ratio from 0.0 to 1.0")
                })
            }
        }
    };
    Ok(match name.map(str::trim) {
        None | Some("parentbased_always_on") => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        Some("always_on") => Sampler::AlwaysOn,
        Some("always_off") => Sampler::AlwaysOff,
        Some("traceidratio") => Sampler::TraceIdRatioBased(ratio()?),
        Some("parentbased_always_off") => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        Some("parentbased_traceidratio") => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio()?)))
        }
        Some(other) => {
            return Err(format!(
                "OTEL_TRACES_SAMPLER={other:?}: allowed: always_on, always_off, traceidratio, \
                 parentbased_always_on, parentbased_always_off, parentbased_traceidratio"
            ));
        }
    })
}

/// The installed subscriber's exporter, to flush at exit.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    flush_timeout: Duration,
}

impl Telemetry {
    /// Flushes queued spans and stops the exporter, waiting at most the flush timeout (the
    /// exporter's calls block, so they run on a blocking thread).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        let flush = tokio::task::spawn_blocking(move || {
            let _ = provider.force_flush();
            let _ = provider.shutdown();
        });
        if tokio::time::timeout(self.flush_timeout, flush).await.is_err() {
            tracing::warn!(
                timeout_ms = self.flush_timeout.as_millis() as u64,
                "trace export did not flush in time"
            );
        }
    }
}

/// Builds the span exporter. Call inside the tokio runtime (the gRPC channel is lazy and
/// belongs to it).
pub fn tracer_provider(settings: &ExportSettings) -> Result<SdkTracerProvider, String> {
    let exporter = match settings.protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(settings.endpoint.clone())
            .with_timeout(Duration::from_secs(10))
            .build(),
        OtlpProtocol::HttpProtobuf => {
            let endpoint = settings.endpoint.trim_end_matches('/');
            let endpoint = if endpoint.ends_with("/v1/traces") {
                endpoint.to_owned()
            } else {
                format!("{endpoint}/v1/traces")
            };
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(endpoint)
                .with_timeout(Duration::from_secs(10))
                .build()
        }
    }
    .map_err(|e| format!("OTLP exporter for {}: {e}", settings.endpoint))?;
    let resource =
        opentelemetry_sdk::Resource::builder().with_service_name(settings.service_name.clone()).build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(settings.sampler.clone())
        .with_resource(resource)
        .build())
}

/// Installs the process's subscriber: logs filtered by `RUST_LOG` or `service.log_level`, and
/// the OpenTelemetry layer (ledgerflow's spans at info and above) when an endpoint is set.
/// Call once, inside the tokio runtime.
pub fn init(config: &Config) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&config.service.log_level))?;
    use std::io::IsTerminal as _;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let fmt = match config.service.log_format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Human => fmt.boxed(),
    }
    .with_filter(filter);
    let settings =
        ExportSettings::resolve(config, |name| std::env::var(name).ok()).map_err(anyhow::Error::msg)?;
    let provider = settings.as_ref().map(tracer_provider).transpose().map_err(anyhow::Error::msg)?;
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("ledgerflow"))
            .with_filter(EnvFilter::new("ledgerflow=info,ledgerflow_actors=info"))
    });
    tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))?;
    if let Some(settings) = &settings {
        tracing::info!(
            endpoint = %settings.endpoint,
            protocol = settings.protocol.as_str(),
            service_name = %settings.service_name,
            "exporting traces over OTLP"
        );
    }
    Ok(Telemetry { provider, flush_timeout: config.telemetry.flush_timeout() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn export_is_off_without_an_endpoint_and_the_standard_variables_win() {
        let mut config = Config::default();
        assert!(ExportSettings::resolve(&config, env(&[])).unwrap().is_none());
        config.telemetry.otlp_endpoint = Some("http://collector:4317".into());
        let from_config = ExportSettings::resolve(&config, env(&[])).unwrap().unwrap();
        assert_eq!(
            (from_config.endpoint.as_str(), from_config.protocol, from_config.service_name.as_str()),
            ("http://collector:4317", OtlpProtocol::Grpc, "ledgerflow")
        );
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_SERVICE_NAME", "ingest-a"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ];
        let from_env = ExportSettings::resolve(&config, env(&vars)).unwrap().unwrap();
        assert_eq!(from_env.endpoint, "http://jaeger:4318");
        assert_eq!(from_env.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(from_env.service_name, "ingest-a");
        assert_eq!(format!("{:?}", from_env.sampler), format!("{:?}", Sampler::TraceIdRatioBased(0.25)));
    }

    #[test]
    fn bad_otel_values_are_named() {
        let config = Config::default();
        let bad_protocol =
            [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp")];
        assert!(
            ExportSettings::resolve(&config, env(&bad_protocol))
                .unwrap_err()
                .contains("OTEL_EXPORTER_OTLP_PROTOCOL")
        );
        let bad_ratio = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4317"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ];
        assert!(
            ExportSettings::resolve(&config, env(&bad_ratio))
                .unwrap_err()
                .contains("OTEL_TRACES_SAMPLER_ARG")
        );
    }

    #[test]
    fn an_unrecorded_span_has_an_empty_context() {
        let span = tracing::info_span!("batch");
        assert_eq!(TraceContext::of(&span), TraceContext::default());
        TraceContext::default().adopt(&span); // a no-op, not a panic
    }
}
