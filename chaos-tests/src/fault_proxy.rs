//! An HTTP reverse proxy that injects faults between ledgerflow and a server (the S3 server,
//! an RPC server): the faults the issue lists, on a deterministic schedule.
//!
//! Every request gets a number, in arrival order. Request `n` is faulty when `n % every ==
//! every - 1` (so the first `every - 1` requests pass), and its fault is the next one of the
//! plan's list, round robin. Faults: a status (500, 503), 429 with `Retry-After`, a slow
//! reply (forwarded after a delay), a truncated body (the full `Content-Length` announced, half
//! the bytes sent, then the connection closed) and a dropped connection (closed with no reply).
//! Each injected fault is counted, so a test can prove that its faults happened.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A reply with this status and no body of use (500, 503, ...).
    Status(u16),
    /// 429 Too Many Requests with `Retry-After: secs`.
    TooManyRequests { retry_after_secs: u32 },
    /// The real reply, after this delay.
    Slow(Duration),
    /// The real reply's status and `Content-Length`, half its body, then the connection closed.
    TruncatedBody,
    /// The connection closed without a reply.
    DropConnection,
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Status(500) => "500",
            Fault::Status(503) => "503",
            Fault::Status(_) => "status",
            Fault::TooManyRequests { .. } => "429",
            Fault::Slow(_) => "slow",
            Fault::TruncatedBody => "truncated",
            Fault::DropConnection => "dropped",
        }
    }

    /// Every fault of the issue, in a fixed order.
    pub fn all() -> Vec<Fault> {
        vec![
            Fault::Status(500),
            Fault::Status(503),
            Fault::TooManyRequests { retry_after_secs: 1 },
            Fault::Slow(Duration::from_millis(700)),
            Fault::TruncatedBody,
            Fault::DropConnection,
        ]
    }
}

/// Which requests are faulty, and how.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// One request in `every` is faulty; 0 means none.
    pub every: u64,
    pub faults: Vec<Fault>,
}

impl FaultPlan {
    pub fn none() -> Self {
        FaultPlan { every: 0, faults: Vec::new() }
    }

    fn fault_for(&self, request: u64) -> Option<Fault> {
        if self.every == 0 || self.faults.is_empty() || request % self.every != self.every - 1 {
            return None;
        }
        Some(self.faults[(request / self.every) as usize % self.faults.len()])
    }
}

struct Shared {
    upstream: String,
    plan: Mutex<FaultPlan>,
    requests: AtomicU64,
    injected: Mutex<BTreeMap<&'static str, u64>>,
    client: reqwest::Client,
}

/// A running proxy on 127.0.0.1; stopped on drop.
pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy to `upstream` (`http://host:port`) injecting `plan`'s faults.
    pub fn start(upstream: &str, plan: FaultPlan) -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            plan: Mutex::new(plan),
            requests: AtomicU64::new(0),
            injected: Mutex::new(BTreeMap::new()),
            client: reqwest::Client::builder().no_proxy().build()?,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_shared, thread_stop) = (shared.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
            let Ok(runtime) = runtime else { return };
            runtime.block_on(serve(listener, thread_shared, thread_stop));
        });
        Ok(FaultProxy { addr, shared, stop, thread: Some(thread) })
    }

    /// `http://127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the plan (e.g. no faults for a clean phase).
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.shared.plan.lock().unwrap_or_else(|p| p.into_inner()) = plan;
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Faults injected so far, by name.
    pub fn injected(&self) -> BTreeMap<&'static str, u64> {
        self.shared.injected.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: std::net::TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    while !stop.load(Ordering::Relaxed) {
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        let Ok(Ok((stream, _))) = accepted else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(shared.clone(), request));
            let io = hyper_util::rt::TokioIo::new(stream);
            // A dropped connection ends here with an error: that is the fault, not a failure.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

type ProxyBody = BoxBody<Bytes, std::io::Error>;

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<ProxyBody>, Dropped> {
    let number = shared.requests.fetch_add(1, Ordering::Relaxed);
    let fault = shared.plan.lock().unwrap_or_else(|p| p.into_inner()).fault_for(number);
    if let Some(fault) = fault {
        *shared.injected.lock().unwrap_or_else(|p| p.into_inner()).entry(fault.name()).or_default() += 1;
    }
    match fault {
        Some(Fault::DropConnection) => return Err(Dropped),
        Some(Fault::Status(code)) => return Ok(plain(code, "injected by the fault proxy", None)),
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            return Ok(plain(429, "slow down (injected)", Some(retry_after_secs)));
        }
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        _ => {}
    }
    let forwarded = match forward(&shared, request).await {
        Ok(response) => response,
        Err(error) => return Ok(plain(502, &format!("fault proxy: upstream failed: {error}"), None)),
    };
    if fault == Some(Fault::TruncatedBody) {
        let (parts, body) = forwarded.into_parts();
        let Ok(bytes) = body.collect().await.map(|c| c.to_bytes()) else { return Err(Dropped) };
        if bytes.len() < 2 {
            return Err(Dropped);
        }
        let half = bytes.slice(..bytes.len() / 2);
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(half)),
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "truncated by the fault proxy")),
        ];
        let mut response =
            Response::from_parts(parts, StreamBody::new(futures::stream::iter(frames)).boxed());
        response.headers_mut().insert(hyper::header::CONTENT_LENGTH, bytes.len().into());
        return Ok(response);
    }
    Ok(forwarded)
}

async fn forward(shared: &Shared, request: Request<Incoming>) -> Result<Response<ProxyBody>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())?;
    let mut upstream = shared.client.request(method, format!("{}{path}", shared.upstream)).body(body);
    for (name, value) in &parts.headers {
        if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    let reply = upstream.send().await?;
    let mut response = Response::builder().status(reply.status().as_u16());
    for (name, value) in reply.headers() {
        if name != reqwest::header::TRANSFER_ENCODING && name != reqwest::header::CONNECTION {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = reply.bytes().await?;
    Ok(response.body(Full::new(bytes).map_err(|never: Infallible| match never {}).boxed())?)
}

fn plain(status: u16, text: &str, retry_after_secs: Option<u32>) -> Response<ProxyBody> {
    let mut response =
        Response::new(Full::new(Bytes::from(text.to_owned())).map_err(|never| match never {}).boxed());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(secs) = retry_after_secs {
        response.headers_mut().insert(hyper::header::RETRY_AFTER, secs.into());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_round_robin_every_nth_request() {
        let plan = FaultPlan { every: 3, faults: vec![Fault::Status(500), Fault::DropConnection] };
        let got: Vec<Option<Fault>> = (0..9).map(|n| plan.fault_for(n)).collect();
        assert_eq!(
            got,
            vec![
                None,
                None,
                Some(Fault::Status(500)),
                None,
                None,
                Some(Fault::DropConnection),
                None,
                None,
                Some(Fault::Status(500))
            ]
        );
        assert_eq!(FaultPlan::none().fault_for(2), None);
    }
}
