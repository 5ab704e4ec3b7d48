//! The service's HTTP listener (`service.http_addr`): metrics, health and status of the
//! running stream, and the failpoint admin endpoint when enabled (design §6, §7).
//!
//! - `GET /metrics`: Prometheus text format (version 0.0.4), see [`crate::metrics`].
//! - `GET /health`: 200 while the process runs (liveness).
//! - `GET /ready`: 200 when every breaker is closed and the stream has caught up with its
//!   source (it found nothing newer, or is less than one batch behind), else 503 with the
//!   reason (readiness).
//! - `GET /status`: JSON: the stream, its range, positions, breakers and counters.
//! - `GET /admin/failpoints`, `PUT /admin/failpoints/{name}` (body: fail-rs actions),
//!   `DELETE /admin/failpoints/{name}`: only with `fault_injection.admin_endpoint = true`, which
//!   configuration validation allows only on a loopback address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::stats::{PipelineStats, StatsSnapshot};

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    pub stats: Arc<PipelineStats>,
    pub stream: StreamInfo,
    /// Lag (ledgers) under which a stream counts as caught up.
    pub ready_lag_ledgers: u32,
    pub admin: bool,
}

/// The stream's identity and range, for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct StreamInfo {
    pub id: String,
    pub from: u32,
    pub to: Option<u32>,
    pub follow: bool,
    pub source: String,
    /// Where the Parquet tree goes: `archive.url`, or the `archive.root` directory.
    pub archive: String,
}

#[derive(Serialize)]
struct Status<'a> {
    stream: &'a StreamInfo,
    ready: bool,
    not_ready_because: Option<String>,
    #[serde(flatten)]
    stats: StatsSnapshot,
}

/// The routes, without a listener (tests call them directly).
pub fn router(state: HttpState) -> Router {
    let mut router = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .route("/status", get(status));
    if state.admin {
        router = router
            .route("/admin/failpoints", get(list_failpoints))
            .route("/admin/failpoints/{name}", axum::routing::put(arm_failpoint).delete(disarm_failpoint));
    }
    router.with_state(state)
}

/// Binds `addr` and serves until `shutdown` resolves; returns the bound address (port 0 picks
/// one) and the server task.
pub async fn serve(
    addr: SocketAddr,
    state: HttpState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, admin = state.admin, "http listening");
    let app = router(state);
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %err, "http listener failed");
        }
    });
    Ok((local, task))
}

async fn metrics(State(state): State<HttpState>) -> Response {
    let body = state.stats.metrics.render(&state.stats);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// `None` when ready, else why not.
fn not_ready(state: &HttpState, snapshot: &StatsSnapshot) -> Option<String> {
    let open: Vec<&str> =
        snapshot.stages.iter().filter(|s| s.breaker != "closed").map(|s| s.stage.name()).collect();
    if !open.is_empty() {
        return Some(format!("breaker not closed: {}", open.join(", ")));
    }
    if !snapshot.caught_up && snapshot.source_lag_ledgers >= state.ready_lag_ledgers.max(1) {
        return Some(format!("catching up: {} ledgers behind the source", snapshot.source_lag_ledgers));
    }
    None
}

async fn ready(State(state): State<HttpState>) -> Response {
    let snapshot = state.stats.snapshot();
    match not_ready(&state, &snapshot) {
        None => (StatusCode::OK, "ready\n".to_owned()).into_response(),
        Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")).into_response(),
    }
}

async fn status(State(state): State<HttpState>) -> Response {
    let snapshot = state.stats.snapshot();
    let reason = not_ready(&state, &snapshot);
    axum::Json(Status {
        stream: &state.stream,
        ready: reason.is_none(),
        not_ready_because: reason,
        stats: snapshot,
    })
    .into_response()
}

#[derive(Serialize)]
struct Armed {
    name: String,
    actions: String,
}

async fn list_failpoints() -> Response {
    let armed: Vec<Armed> =
        crate::failpoints::armed().into_iter().map(|(name, actions)| Armed { name, actions }).collect();
    axum::Json(serde_json::json!({ "compiled": crate::failpoints::ENABLED, "names": crate::failpoints::NAMES, "armed": armed }))
        .into_response()
}

async fn arm_failpoint(Path(name): Path<String>, actions: String) -> Response {
    match crate::failpoints::arm(&name, actions.trim()) {
        Ok(()) => (StatusCode::OK, format!("armed {name}={}\n", actions.trim())).into_response(),
        Err(err) => (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response(),
    }
}

async fn disarm_failpoint(Path(name): Path<String>) -> Response {
    match crate::failpoints::disarm(&name) {
        Ok(()) => (StatusCode::OK, format!("disarmed {name}\n")).into_response(),
        Err(err) => (StatusCode::NOT_FOUND, format!("{err}\n")).into_response(),
    }
}
