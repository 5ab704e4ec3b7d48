//! Observability of the real binary: its spans reach an OTLP collector (an in-process tonic
//! `TraceService` on 127.0.0.1) as one trace per ledger batch, with the stage spans as children
//! of the batch's root and their attributes; `/metrics` is Prometheus text that a parser reads,
//! with exact counts; `/health`, `/ready`, `/status`; and the failpoint admin endpoint.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use support::*;

const FIRST: u32 = 1_000_000;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ledgerflow"))
}

fn config_file(dir: &Path, config: &ledgerflow::config::Config) -> PathBuf {
    let path = dir.join("ledgerflow.toml");
    std::fs::write(&path, config.to_toml_string().expect("config as TOML")).unwrap();
    path
}

/// Receives spans over OTLP/gRPC and keeps them.
struct Collector(tokio::sync::mpsc::UnboundedSender<(String, Span)>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                let _ = self.0.send((service.clone(), span));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn int_attribute(span: &Span, key: &str) -> Option<i64> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
        Value::IntValue(v) => Some(*v),
        Value::StringValue(s) => s.parse().ok(),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_run_exports_one_trace_per_batch_with_stage_spans_as_children() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(sender)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    let ledgers = 60;
    let config = config(dir.path(), ledgers); // 6 ledgers per batch: 10 batches
    let path = config_file(dir.path(), &config);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(binary())
            .args(["run", "--config", path.to_str().unwrap()])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector_addr}"))
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            .env("OTEL_SERVICE_NAME", "ledgerflow-under-test")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // The binary flushed before exiting: everything is here (or arrives within the deadline).
    let mut spans: Vec<(String, Span)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(300), received.recv()).await {
            Ok(Some(span)) => spans.push(span),
            Ok(None) => break,
            Err(_) if spans.iter().any(|(_, s)| s.name == "checkpoint.commit") => break,
            Err(_) => {}
        }
    }
    server.abort();
    assert!(spans.iter().all(|(service, _)| service == "ledgerflow-under-test"), "OTEL_SERVICE_NAME applies");
    let spans: Vec<Span> = spans.into_iter().map(|(_, s)| s).collect();

    // One root `batch` span per batch, each its own trace, covering the stream exactly.
    let roots: Vec<&Span> = spans.iter().filter(|s| s.name == "batch").collect();
    assert_eq!(roots.len(), 10, "one trace per batch of 6 ledgers");
    assert!(roots.iter().all(|s| s.parent_span_id.is_empty()), "batch spans are roots");
    let traces: BTreeSet<&[u8]> = roots.iter().map(|s| s.trace_id.as_slice()).collect();
    assert_eq!(traces.len(), 10, "every batch has a trace of its own");
    let mut ranges: Vec<(i64, i64)> = roots
        .iter()
        .map(|s| (int_attribute(s, "first").unwrap(), int_attribute(s, "last").unwrap()))
        .collect();
    ranges.sort();
    let expected: Vec<(i64, i64)> =
        (0..10).map(|b| (i64::from(FIRST) + 6 * b, i64::from(FIRST) + 6 * b + 5)).collect();
    assert_eq!(ranges, expected);

    // In each batch's trace: convert, analytics and archive are children of the root, with the
    // batch's range as attributes.
    let by_id: BTreeMap<&[u8], &Span> = spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    for root in &roots {
        let first = int_attribute(root, "first");
        for stage in ["convert", "analytics", "archive"] {
            let children: Vec<&&Span> = by_id
                .values()
                .filter(|s| {
                    s.name == stage && s.parent_span_id == root.span_id && s.trace_id == root.trace_id
                })
                .collect();
            assert_eq!(children.len(), 1, "batch {first:?}: one {stage} span, child of the root");
            assert_eq!(int_attribute(children[0], "first"), first, "{stage} carries the batch's range");
        }
    }
    // Commits: archive.commit is a child of the batch the commit ends with, and
    // checkpoint.commit (in the checkpoint actor) a child of archive.commit.
    let archive_commits: Vec<&Span> = spans.iter().filter(|s| s.name == "archive.commit").collect();
    assert!(archive_commits.len() >= 4, "several commits (15 ledgers per file): {}", archive_commits.len());
    for commit in &archive_commits {
        let parent =
            by_id.get(commit.parent_span_id.as_slice()).expect("archive.commit has its batch as parent");
        assert_eq!(parent.name, "batch");
        assert_eq!(
            int_attribute(commit, "last"),
            int_attribute(parent, "last"),
            "the commit ends with its batch"
        );
        let checkpoint: Vec<&&Span> = by_id
            .values()
            .filter(|s| s.name == "checkpoint.commit" && s.parent_span_id == commit.span_id)
            .collect();
        assert_eq!(checkpoint.len(), 1, "one checkpoint.commit under each archive.commit");
        assert_eq!(checkpoint[0].trace_id, commit.trace_id);
    }
    let last_committed = archive_commits.iter().filter_map(|s| int_attribute(s, "last")).max();
    assert_eq!(last_committed, Some(i64::from(FIRST + ledgers - 1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_a_collector_that_is_down_does_not_block_the_run() {
    // A port nobody listens on: the exporter's attempts fail, the run completes anyway.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), 60);
    config.telemetry.flush_timeout_ms = 1_000;
    let path = config_file(dir.path(), &config);
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(binary())
            .args(["run", "--config", path.to_str().unwrap()])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{unused}"))
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_complete(&verify(&config), FIRST, FIRST + 59);
}

/// A minimal HTTP/1.1 GET or PUT (the test talks to the real listener, no client library).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// Waits for the "http listening" log line and returns the bound address.
fn listening_addr(child: &mut Child) -> SocketAddr {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("the binary logs its listener").unwrap();
        if line.contains("http listening") {
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            break value["fields"]["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    addr
}

fn sample<'a>(
    scrape: &'a prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a prometheus_parse::Sample> {
    scrape.samples.iter().find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    match sample(scrape, name, labels).unwrap_or_else(|| panic!("no sample {name} {labels:?}")).value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{name}: unexpected {other:?}"),
    }
}

#[test]
fn metrics_health_ready_status_and_the_admin_endpoint_of_a_live_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), 1_000_000);
    config.stream.follow = true;
    config.source.cadence_ms = 20; // a live tail that closes a ledger every 20 ms
    config.service.http_addr = Some("127.0.0.1:0".parse().unwrap());
    config.service.log_format = ledgerflow::config::LogFormat::Json;
    config.fault_injection.admin_endpoint = true;
    config.validate().unwrap();
    let path = config_file(dir.path(), &config);
    let mut child = Command::new(binary())
        .args(["run", "--config", path.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child);

    assert_eq!(http(addr, "GET", "/health", "").0, 200);
    // Ready once some ledgers are committed and the tail has caught up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status: serde_json::Value = loop {
        let (code, _, body) = http(addr, "GET", "/status", "");
        assert_eq!(code, 200);
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        if status["ledgers_committed"].as_u64().unwrap_or(0) >= 30 && status["ready"] == true {
            break status;
        }
        assert!(Instant::now() < deadline, "not ready in time: {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["stream"]["id"], "default");
    assert_eq!(status["stream"]["follow"], true);
    assert_eq!(status["stream"]["archive"], config.archive.root.display().to_string());
    assert_eq!(http(addr, "GET", "/ready", "").0, 200);

    let (code, content_type, text) = http(addr, "GET", "/metrics", "");
    assert_eq!(code, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let stream = [("stream", "default")];
    let archived = value(&scrape, "ledgerflow_ledgers_archived_total", &stream);
    let checkpoint = value(&scrape, "ledgerflow_checkpoint_ledger", &stream);
    assert!(archived >= 30.0, "{archived}");
    // The checkpoint is the last archived ledger of a stream that started at FIRST.
    assert_eq!(checkpoint, f64::from(FIRST) + archived - 1.0);
    let fetched = value(&scrape, "ledgerflow_ledgers_fetched_total", &stream);
    assert!(fetched >= archived);
    let ledger_rows =
        value(&scrape, "ledgerflow_rows_archived_total", &[("stream", "default"), ("table", "ledgers")]);
    assert_eq!(ledger_rows, archived, "one ledgers row per archived ledger");
    for stage in ["source", "convert", "analytics", "archive"] {
        let labels = [("stream", "default"), ("stage", stage)];
        assert_eq!(value(&scrape, "ledgerflow_breaker_state", &labels), 0.0, "{stage} breaker closed");
        assert_eq!(value(&scrape, "ledgerflow_restarts_total", &labels), 0.0);
    }
    assert!(value(&scrape, "ledgerflow_process_resident_memory_bytes", &stream) > 1e6);
    let convert_latency =
        sample(&scrape, "ledgerflow_batch_stage_seconds", &[("stream", "default"), ("stage", "convert")])
            .expect("a convert latency histogram");
    match &convert_latency.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let total = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
            assert!(total >= 1.0, "convert batches observed: {buckets:?}");
        }
        other => panic!("ledgerflow_batch_stage_seconds is a histogram, got {other:?}"),
    }

    // The admin endpoint: arming a failpoint that does not exist is a named error; arming a
    // real one works where failpoints are compiled in.
    let (code, _, body) = http(addr, "PUT", "/admin/failpoints/fetch:after_read", "return");
    assert_eq!(code, 400);
    assert!(body.contains("does not exist"), "{body}");
    let (code, _, body) = http(addr, "GET", "/admin/failpoints", "");
    assert_eq!(code, 200);
    let listing: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listing["names"].as_array().unwrap().len(), 11);
    if listing["compiled"] == true {
        // Two transient source errors: the source supervisor restarts the fetcher twice.
        let (code, _, body) = http(addr, "PUT", "/admin/failpoints/fetch:before_read", "2*return->off");
        assert_eq!(code, 200, "{body}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, _, text) = http(addr, "GET", "/metrics", "");
            let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
            let labels = [("stream", "default"), ("stage", "source")];
            if value(&scrape, "ledgerflow_restarts_total", &labels) >= 2.0 {
                assert_eq!(value(&scrape, "ledgerflow_failures_total", &labels), 2.0);
                break;
            }
            assert!(Instant::now() < deadline, "the source was not restarted twice");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(http(addr, "DELETE", "/admin/failpoints/fetch:before_read", "").0, 200);
    }

    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert!(child.wait().unwrap().success());
    let report = verify(&config);
    assert!(report.is_ok(), "{report:#?}");
}
