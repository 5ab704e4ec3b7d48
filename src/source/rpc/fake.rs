//! An in-process Stellar RPC for tests: `getLedgers`, `getHealth`, `getLatestLedger` and
//! `getNetwork` over real HTTP/1.1 on `127.0.0.1:0`, serving the ledgers it is given (real
//! `LedgerCloseMeta` XDR) in the request and response shapes of stellar-rpc 22+, its errors
//! and its cursor pagination included, with faults injected on demand.
//!
//! Faults apply to `getLedgers` requests only, one per request, in the order queued
//! ([`FakeRpc::push_faults`]); [`Fault::None`] lets a request through. The server is written
//! against the socket (not a framework) so that it can misbehave the way a network does:
//! truncated bodies, dropped connections, stalls.
//!
//! Behaviour copied from stellar-rpc (`cmd/stellar-rpc/internal/methods/get_ledgers.go`): a
//! `startLedger` outside `[oldest, latest]` is error -32600 "start ledger must be between the
//! oldest ledger: X and the latest ledger: Y for this rpc instance"; `startLedger` with a cursor
//! is -32600; the cursor is the last ledger returned and the next page starts after it; a cursor
//! whose next ledger is outside the window is -32602; a page stops at the latest ledger.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use stellar_xdr::{LedgerCloseMeta, Limits, ReadXdr, WriteXdr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::ledger::header_entry;

/// The largest `limit` stellar-rpc accepts by default.
pub const MAX_LIMIT: u32 = 200;
/// stellar-rpc's default page size when a request names no limit.
pub const DEFAULT_LIMIT: u32 = 50;

/// What the server does to one `getLedgers` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Answer with this HTTP status (and a small text body), then close the connection.
    Status { status: u16, retry_after: Option<String> },
    /// Answer normally, but dribble the body out in `chunks` parts `delay` apart.
    SlowBody { chunks: usize, delay: Duration },
    /// Send the headers and half the body, then wait for the client to give up (its timeout).
    Stall,
    /// Announce the whole body's length, send half of it, close.
    TruncatedBody,
    /// Read the request, close the connection without a word.
    DropConnection,
    /// Answer with a JSON-RPC error.
    RpcError { code: i64, message: String },
}

impl Fault {
    pub fn status(status: u16) -> Self {
        Fault::Status { status, retry_after: None }
    }

    pub fn retry_after(status: u16, retry_after: &str) -> Self {
        Fault::Status { status, retry_after: Some(retry_after.to_owned()) }
    }
}

/// One ledger as served.
struct Served {
    hash: String,
    close_time: u64,
    protocol_version: u32,
    header_xdr: String,
    metadata_xdr: String,
}

struct State {
    ledgers: BTreeMap<u32, Served>,
    /// The window served: `[oldest, latest]`; ledgers outside it are "pruned" or "not closed".
    oldest: u32,
    latest: u32,
    passphrase: String,
    faults: VecDeque<Fault>,
    /// Every JSON-RPC request received, in order.
    requests: Vec<Value>,
    faults_injected: u64,
}

/// A running fake RPC; stops when dropped.
pub struct FakeRpc {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRpc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeRpc {
    /// Serves `ledgers` (raw `LedgerCloseMeta` XDR, any order) under `passphrase`; the window is
    /// all of them. Must be called inside a tokio runtime, which runs the server.
    pub async fn start(
        ledgers: impl IntoIterator<Item = Vec<u8>>,
        passphrase: &str,
    ) -> std::io::Result<Self> {
        let mut served = BTreeMap::new();
        for xdr in ledgers {
            let meta = LedgerCloseMeta::from_xdr(&xdr, Limits::none()).map_err(std::io::Error::other)?;
            let entry = header_entry(&meta);
            let header_xdr = entry.to_xdr_base64(Limits::none()).map_err(std::io::Error::other)?;
            served.insert(
                entry.header.ledger_seq,
                Served {
                    hash: hex::encode(entry.hash.0),
                    close_time: entry.header.scp_value.close_time.0,
                    protocol_version: entry.header.ledger_version,
                    header_xdr,
                    metadata_xdr: base64::engine::general_purpose::STANDARD.encode(&xdr),
                },
            );
        }
        let (Some(&oldest), Some(&latest)) = (served.keys().next(), served.keys().next_back()) else {
            return Err(std::io::Error::other("a fake RPC needs at least one ledger"));
        };
        let state = Arc::new(Mutex::new(State {
            ledgers: served,
            oldest,
            latest,
            passphrase: passphrase.to_owned(),
            faults: VecDeque::new(),
            requests: Vec::new(),
            faults_injected: 0,
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept(listener, state.clone()));
        Ok(FakeRpc { addr, state, task })
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues faults for the next `getLedgers` requests, one each.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state().faults.extend(faults);
    }

    /// Faults queued and not yet applied.
    pub fn faults_pending(&self) -> usize {
        self.state().faults.len()
    }

    /// Faults applied so far ([`Fault::None`] not counted).
    pub fn faults_injected(&self) -> u64 {
        self.state().faults_injected
    }

    /// Sets the window served to `[oldest, latest]` (within the ledgers held): ledgers after
    /// `latest` have "not closed yet", ledgers before `oldest` are "pruned".
    pub fn set_window(&self, oldest: u32, latest: u32) {
        let mut state = self.state();
        state.oldest = oldest;
        state.latest = latest;
    }

    /// Every JSON-RPC request received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.state().requests.clone()
    }

    /// The `params` of every `getLedgers` request received so far.
    pub fn get_ledgers_params(&self) -> Vec<Value> {
        self.state()
            .requests
            .iter()
            .filter(|r| r["method"] == "getLedgers")
            .map(|r| r["params"].clone())
            .collect()
    }
}

async fn accept(listener: TcpListener, state: Arc<Mutex<State>>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_connection(stream, state.clone()));
    }
}

/// Serves requests on one connection (keep-alive) until the client closes it or a fault does.
async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buffer = Vec::with_capacity(4096);
    loop {
        let Some(body) = read_request(&mut stream, &mut buffer).await else { return };
        let (fault, answer) = answer(&state, &body);
        let keep_alive = match fault {
            Fault::None => write_json(&mut stream, &answer).await,
            Fault::RpcError { .. } => write_json(&mut stream, &answer).await,
            Fault::Status { status, retry_after } => {
                let retry_after = retry_after.map(|r| format!("Retry-After: {r}\r\n")).unwrap_or_default();
                let text = format!("fake rpc: injected {status}");
                let head = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{retry_after}Connection: close\r\n\r\n",
                    reason(status),
                    text.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(text.as_bytes()).await;
                false
            }
            Fault::SlowBody { chunks, delay } => {
                let body = answer.to_string().into_bytes();
                let _ = stream.write_all(json_head(body.len()).as_bytes()).await;
                let size = body.len().div_ceil(chunks.max(1)).max(1);
                let mut ok = true;
                for chunk in body.chunks(size) {
                    tokio::time::sleep(delay).await; // the fault itself: a slow network
                    ok = stream.write_all(chunk).await.is_ok() && stream.flush().await.is_ok();
                    if !ok {
                        break;
                    }
                }
                ok
            }
            Fault::Stall => {
                let body = answer.to_string().into_bytes();
                let _ = stream.write_all(json_head(body.len()).as_bytes()).await;
                let _ = stream.write_all(&body[..body.len() / 2]).await;
                let _ = stream.flush().await;
                // Until the client gives up and closes (bounded, should it never).
                let mut sink = [0u8; 64];
                let _ = tokio::time::timeout(Duration::from_secs(120), stream.read(&mut sink)).await;
                false
            }
            Fault::TruncatedBody => {
                let body = answer.to_string().into_bytes();
                let _ = stream.write_all(json_head(body.len()).as_bytes()).await;
                let _ = stream.write_all(&body[..body.len() / 2]).await;
                let _ = stream.flush().await;
                false
            }
            Fault::DropConnection => false,
        };
        if !keep_alive {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Reads one request; its body. `None` when the client closed the connection or sent garbage.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = std::str::from_utf8(&buffer[..head_end]).ok()?;
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let body = buffer[head_end..head_end + length].to_vec();
    buffer.drain(..head_end + length);
    Some(body)
}

fn json_head(length: usize) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n")
}

async fn write_json(stream: &mut TcpStream, answer: &Value) -> bool {
    let body = answer.to_string();
    stream.write_all(json_head(body.len()).as_bytes()).await.is_ok()
        && stream.write_all(body.as_bytes()).await.is_ok()
        && stream.flush().await.is_ok()
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Fault",
    }
}

/// The fault to apply and the JSON-RPC answer to `body`.
fn answer(state: &Mutex<State>, body: &[u8]) -> (Fault, Value) {
    let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return (Fault::None, error(Value::Null, -32700, "parse error"));
    };
    state.requests.push(request.clone());
    let id = request["id"].clone();
    let method = request["method"].as_str().unwrap_or_default();
    let fault =
        if method == "getLedgers" { state.faults.pop_front().unwrap_or(Fault::None) } else { Fault::None };
    if fault != Fault::None {
        state.faults_injected += 1;
    }
    if let Fault::RpcError { code, message } = &fault {
        return (fault.clone(), error(id, *code, message));
    }
    let (oldest, latest) = (state.oldest, state.latest);
    let close_time = |sequence: u32| state.ledgers.get(&sequence).map_or(0, |l| l.close_time);
    let answer = match method {
        "getHealth" => result(
            id,
            json!({
                "status": "healthy",
                "latestLedger": latest,
                "oldestLedger": oldest,
                "ledgerRetentionWindow": latest - oldest + 1,
            }),
        ),
        "getLatestLedger" => {
            let ledger = state.ledgers.get(&latest);
            result(
                id,
                json!({
                    "id": ledger.map(|l| l.hash.clone()).unwrap_or_default(),
                    "protocolVersion": ledger.map_or(0, |l| l.protocol_version),
                    "sequence": latest,
                }),
            )
        }
        "getNetwork" => result(
            id,
            json!({
                "passphrase": state.passphrase,
                "protocolVersion": state.ledgers.get(&latest).map_or(0, |l| l.protocol_version),
            }),
        ),
        "getLedgers" => match get_ledgers(&state, &request["params"]) {
            Ok(ledgers) => result(
                id,
                json!({
                    "ledgers": ledgers.0,
                    "latestLedger": latest,
                    "latestLedgerCloseTime": close_time(latest),
                    "oldestLedger": oldest,
                    "oldestLedgerCloseTime": close_time(oldest),
                    "cursor": ledgers.1,
                }),
            ),
            Err((code, message)) => error(id, code, &message),
        },
        _ => error(id, -32601, "method not found"),
    };
    (fault, answer)
}

fn get_ledgers(state: &State, params: &Value) -> Result<(Vec<Value>, String), (i64, String)> {
    let (oldest, latest) = (state.oldest, state.latest);
    let start_ledger = params["startLedger"].as_u64().unwrap_or(0);
    let cursor = params["pagination"]["cursor"].as_str().unwrap_or_default();
    let limit = params["pagination"]["limit"].as_u64().unwrap_or(0);
    if !cursor.is_empty() && start_ledger != 0 {
        return Err((-32600, "startLedger and cursor cannot both be set".into()));
    }
    if limit > u64::from(MAX_LIMIT) {
        return Err((-32600, format!("limit must not exceed {MAX_LIMIT}")));
    }
    let within = |sequence: u64| sequence >= u64::from(oldest) && sequence <= u64::from(latest);
    let start = if cursor.is_empty() {
        if !within(start_ledger) {
            return Err((
                -32600,
                format!(
                    "start ledger must be between the oldest ledger: {oldest} and the latest ledger: {latest} for this rpc instance"
                ),
            ));
        }
        start_ledger
    } else {
        let parsed = cursor.parse::<u32>().map_err(|e| (-32602, e.to_string()))?;
        let start = u64::from(parsed) + 1;
        if !within(start) {
            return Err((
                -32602,
                format!(
                    "cursor ('{cursor}') must be between the oldest ledger: {oldest} and the latest ledger: {latest} for this rpc instance"
                ),
            ));
        }
        start
    };
    let limit = if limit == 0 { u64::from(DEFAULT_LIMIT) } else { limit };
    let end = (start + limit - 1).min(u64::from(latest));
    let mut ledgers = Vec::new();
    let mut last_returned = None;
    for (sequence, ledger) in state.ledgers.range(start as u32..=end as u32) {
        ledgers.push(json!({
            "hash": ledger.hash,
            "sequence": sequence,
            "ledgerCloseTime": ledger.close_time.to_string(),
            "headerXdr": ledger.header_xdr,
            "metadataXdr": ledger.metadata_xdr,
        }));
        last_returned = Some(*sequence);
    }
    let cursor = match last_returned {
        Some(sequence) => sequence.to_string(),
        None if !cursor.is_empty() => cursor.to_owned(),
        None => (start - 1).to_string(),
    };
    Ok((ledgers, cursor))
}

fn result(id: Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// The ledgers of a fixture file of any framing (a raw `LedgerCloseMeta`, base64 lines, a
/// batch, a SEP-54 object), each as its own `LedgerCloseMeta` XDR: what a fake RPC serves.
pub fn ledgers_of_file(path: &std::path::Path) -> Result<Vec<(u32, Vec<u8>)>, crate::decode::DecodeError> {
    let limits = crate::decode::DecodeLimits::default();
    let mut ledgers = Vec::new();
    for ledger in crate::decode::read_path(path, None, &limits)? {
        let ledger = ledger?;
        let xdr = ledger.meta.to_xdr(Limits::none()).map_err(|source| crate::decode::DecodeError::Xdr {
            object: path.display().to_string(),
            sequence: Some(ledger.sequence),
            what: "LedgerCloseMeta (re-encoded)",
            offset: 0,
            source,
        })?;
        ledgers.push((ledger.sequence, xdr));
    }
    Ok(ledgers)
}
