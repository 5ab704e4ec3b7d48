//! Stellar RPC as a source: `getLedgers` (JSON-RPC 2.0 over HTTP, base64 XDR), paged by cursor.
//!
//! A read asks for the ledgers from `next`: the first page by `startLedger`, each further page by
//! the `cursor` of the page before (the last ledger it returned; stellar-rpc starts the next page
//! after it), until the read holds `max_ledgers` ledgers or `max_bytes` bytes, reaches `last`, or
//! reaches the RPC's `latestLedger`. Each ledger's `metadataXdr` is decoded from base64 into one
//! [`RawObject`] holding one raw `LedgerCloseMeta` ([`Framing::Xdr`]); XDR decoding is left to
//! the convert stage. Every ledger must be the one expected, in order: a missing or out-of-order
//! ledger is an error naming it, never a silent gap.
//!
//! Past the RPC's latest ledger a read returns [`SourceRead::NotYet`] when the stream follows,
//! and also when the stream has a `last` it has not reached (the RPC is a live tail: that ledger
//! will close); a bounded stream without `last` gets [`SourceRead::End`] at the tip. A start
//! before the RPC's oldest ledger fails with [`SourceError::BeforeRetention`] (permanent), which
//! names the oldest ledger and points at the data store source and the hand-over.
//!
//! Faults: HTTP 408, 429 and 5xx, timeouts, refused and dropped connections and truncated bodies
//! are transient; a 429 or 503 with `Retry-After` carries the delay
//! ([`SourceError::retry_after`]), which the source supervisor waits at least. Other 4xx, and
//! JSON-RPC invalid-request, unknown-method and invalid-params errors, are permanent.
//!
//! [`LedgerSource`] is synchronous (the fetch actor calls it on a blocking thread), so the source
//! keeps the handle of the tokio runtime it was created for and blocks on its requests there. It
//! needs a multi-thread runtime: called on one of its workers (the probe of a stream plan), it
//! moves off the worker first (`block_in_place`).

#[cfg(any(test, feature = "testsuite"))]
pub mod fake;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::runtime::Handle;
use tracing::debug;

use super::{LedgerSource, RawBatch, RawObject, SourceError, SourceRead};
use crate::config::SourceConfig;
use crate::decode::Framing;
use crate::network::Network;
use crate::range::LedgerRange;

/// The longest `Retry-After` honoured; a server asking for more is waited this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// JSON-RPC 2.0 error codes that no retry fixes: the request itself is wrong.
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// How to reach an RPC endpoint and read from it.
#[derive(Debug, Clone)]
pub struct RpcOptions {
    /// The endpoint, `http://` or `https://`.
    pub url: String,
    /// Ledgers asked for per `getLedgers` request (stellar-rpc caps it at 200).
    pub ledgers_per_request: u32,
    /// The network's passphrase; `None`: asked of the RPC (`getNetwork`) by `first_available`.
    pub network: Option<Network>,
    /// Follow mode: past the tip is "not yet", never "the end".
    pub follow: bool,
    /// Whole request, body included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl RpcOptions {
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    pub fn new(url: impl Into<String>) -> Self {
        RpcOptions {
            url: url.into(),
            ledgers_per_request: 10,
            network: None,
            follow: false,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// The options of `[source]` (`rpc_url`, `rpc_ledgers_per_request`, `network`); `None` when
    /// `rpc_url` is unset.
    pub fn from_config(source: &SourceConfig, follow: bool) -> Option<Self> {
        let url = source.rpc_url.clone()?;
        Some(RpcOptions {
            ledgers_per_request: source.rpc_ledgers_per_request,
            network: source.network(),
            follow,
            ..RpcOptions::new(url)
        })
    }
}

/// A Stellar RPC endpoint read with `getLedgers`.
pub struct RpcSource {
    client: reqwest::Client,
    endpoint: reqwest::Url,
    /// `scheme://host:port` of the endpoint: what errors and object names show (a provider's
    /// API key is often in the path or query, which must not reach logs).
    origin: String,
    runtime: Handle,
    ledgers_per_request: u32,
    follow: bool,
    network: Option<Network>,
    /// The RPC's retention window as of its last answer.
    oldest: Option<u32>,
    latest: Option<u32>,
    request_id: u64,
    /// Ledgers the last read fetched beyond its byte budget, in order: the next read starts with
    /// them if it starts where they do.
    carry: VecDeque<(u32, RawObject)>,
}

impl RpcSource {
    /// A source for `options.url`, whose requests run on `runtime`. No request is made yet.
    pub fn new(options: RpcOptions, runtime: Handle) -> Result<Self, SourceError> {
        let endpoint = reqwest::Url::parse(&options.url)
            .map_err(|source| SourceError::RpcUrl { url: redact(&options.url), source })?;
        let origin = endpoint.origin().ascii_serialization();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("ledgerflow/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&endpoint) {
            // A local RPC (or a test's) is never reached through a proxy from the environment.
            builder = builder.no_proxy();
        }
        let client = builder.build().map_err(|source| SourceError::RpcTransport {
            rpc: origin.clone(),
            method: "connect",
            source,
        })?;
        Ok(RpcSource {
            client,
            endpoint,
            origin,
            runtime,
            ledgers_per_request: options.ledgers_per_request.clamp(1, 200),
            follow: options.follow,
            network: options.network,
            oldest: None,
            latest: None,
            request_id: 0,
            carry: VecDeque::new(),
        })
    }

    /// `scheme://host:port` of the endpoint.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The RPC's retention window, `(oldest, latest)`, as of its last answer.
    pub fn window(&self) -> Option<(u32, u32)> {
        self.oldest.zip(self.latest)
    }

    /// The passphrase the RPC serves (`getNetwork`).
    pub fn fetch_network(&mut self) -> Result<Network, SourceError> {
        let runtime = self.runtime.clone();
        tokio::task::block_in_place(|| runtime.block_on(self.get_network()))
    }

    fn block_on<T>(&mut self, work: impl AsyncFnOnce(&mut Self) -> T) -> T {
        let runtime = self.runtime.clone();
        tokio::task::block_in_place(|| runtime.block_on(work(self)))
    }

    /// One JSON-RPC call: the response body once the HTTP status says it holds an answer.
    async fn post(
        &mut self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<bytes::Bytes, SourceError> {
        self.request_id += 1;
        let request = serde_json::json!({
            "jsonrpc": "2.0",
            "id": self.request_id,
            "method": method,
            "params": params,
        });
        let transport = |source| SourceError::RpcTransport { rpc: self.origin.clone(), method, source };
        let response = self
            .client
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.to_string())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, chrono::Utc::now()));
            // The body says why, usually; a broken one says nothing more.
            let body = response.bytes().await.unwrap_or_default();
            let body = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_owned();
            return Err(SourceError::RpcStatus {
                rpc: self.origin.clone(),
                method,
                status: status.as_u16(),
                retry_after,
                body,
            });
        }
        response.bytes().await.map_err(transport)
    }

    /// The `result` of a JSON-RPC answer in `body`, or its `error`.
    fn result<'a, T: Deserialize<'a>>(&self, method: &'static str, body: &'a [u8]) -> Result<T, SourceError> {
        let answer: Answer<T> = serde_json::from_slice(body).map_err(|source| SourceError::RpcMalformed {
            rpc: self.origin.clone(),
            method,
            source,
        })?;
        match (answer.result, answer.error) {
            (_, Some(error)) => Err(SourceError::RpcError {
                rpc: self.origin.clone(),
                method,
                code: error.code,
                message: error.message,
            }),
            (Some(result), None) => Ok(result),
            (None, None) => Err(SourceError::RpcMalformed {
                rpc: self.origin.clone(),
                method,
                source: serde::de::Error::custom("an answer with neither result nor error"),
            }),
        }
    }

    async fn get_health(&mut self) -> Result<(u32, u32), SourceError> {
        let body = self.post("getHealth", serde_json::json!({})).await?;
        let health: Health = self.result("getHealth", &body)?;
        self.oldest = Some(health.oldest_ledger);
        self.latest = Some(health.latest_ledger);
        Ok((health.oldest_ledger, health.latest_ledger))
    }

    async fn get_latest_ledger(&mut self) -> Result<u32, SourceError> {
        let body = self.post("getLatestLedger", serde_json::json!({})).await?;
        let latest: LatestLedger = self.result("getLatestLedger", &body)?;
        self.latest = Some(latest.sequence);
        Ok(latest.sequence)
    }

    async fn get_network(&mut self) -> Result<Network, SourceError> {
        let body = self.post("getNetwork", serde_json::json!({})).await?;
        let network: NetworkInfo = self.result("getNetwork", &body)?;
        Ok(Network::new(&network.passphrase))
    }

    /// What a read past the tip returns: see the module docs.
    fn past_tip(&self, last: Option<u32>) -> SourceRead {
        if self.follow || last.is_some() { SourceRead::NotYet } else { SourceRead::End }
    }

    /// The start `next` was refused or answered with nothing: where is it relative to the
    /// RPC's window?
    async fn locate(
        &mut self,
        next: u32,
        last: Option<u32>,
        refusal: SourceError,
    ) -> Result<SourceRead, SourceError> {
        let (oldest, latest) = self.get_health().await?;
        if next < oldest {
            return Err(SourceError::BeforeRetention {
                rpc: self.origin.clone(),
                sequence: next,
                oldest,
                latest,
            });
        }
        if next > latest {
            return Ok(self.past_tip(last));
        }
        Err(refusal)
    }

    /// Moves the carried ledgers that continue at `next` into `objects`; drops the rest.
    fn take_carry(
        &mut self,
        next: u32,
        wanted: u32,
        max_bytes: usize,
        objects: &mut Vec<RawObject>,
        bytes: &mut usize,
    ) {
        if self.carry.front().is_some_and(|(sequence, _)| *sequence != next) {
            self.carry.clear();
        }
        while (objects.len() as u32) < wanted && (objects.is_empty() || *bytes < max_bytes) {
            let Some((_, object)) = self.carry.pop_front() else { break };
            *bytes += object.bytes.len();
            objects.push(object);
        }
    }

    async fn read_pages(
        &mut self,
        next: u32,
        last: Option<u32>,
        wanted: u32,
        max_bytes: usize,
    ) -> Result<SourceRead, SourceError> {
        let mut objects = Vec::with_capacity(wanted.min(self.ledgers_per_request.saturating_mul(8)) as usize);
        let mut bytes = 0usize;
        self.take_carry(next, wanted, max_bytes, &mut objects, &mut bytes);
        let mut expected = next.saturating_add(objects.len() as u32);
        // Past the tip as of the last answer: the tip first, which is cheaper than getLedgers.
        if objects.is_empty() && self.latest.is_some_and(|latest| next > latest) {
            let latest = self.get_latest_ledger().await?;
            if next > latest {
                return Ok(self.past_tip(last));
            }
        }
        let mut cursor: Option<String> = None;
        'pages: while (objects.len() as u32) < wanted && (objects.is_empty() || bytes < max_bytes) {
            let limit = self.ledgers_per_request.min(wanted - objects.len() as u32);
            let params = match &cursor {
                None => serde_json::json!({ "startLedger": expected, "pagination": { "limit": limit } }),
                Some(cursor) => serde_json::json!({ "pagination": { "cursor": cursor, "limit": limit } }),
            };
            let page = match self.post("getLedgers", params).await {
                Ok(body) => body,
                // A later page failed: hand on what the earlier ones gave; the next read asks
                // again from there (and fails there if the fault persists).
                Err(err) if !objects.is_empty() => {
                    debug!(rpc = %self.origin, error = %err, "getLedgers page failed, returning the pages before it");
                    break;
                }
                Err(err) => return Err(err),
            };
            let result: LedgersPage<'_> = match self.result("getLedgers", &page) {
                Ok(result) => result,
                Err(err @ SourceError::RpcError { code: INVALID_REQUEST | INVALID_PARAMS, .. })
                    if objects.is_empty() =>
                {
                    return self.locate(next, last, err).await;
                }
                Err(_) if !objects.is_empty() => break,
                Err(err) => return Err(err),
            };
            self.oldest = Some(result.oldest_ledger);
            self.latest = Some(result.latest_ledger);
            if result.ledgers.is_empty() {
                if expected < result.oldest_ledger && objects.is_empty() {
                    return Err(SourceError::BeforeRetention {
                        rpc: self.origin.clone(),
                        sequence: expected,
                        oldest: result.oldest_ledger,
                        latest: result.latest_ledger,
                    });
                }
                if expected > result.latest_ledger {
                    break; // the tip
                }
                if !objects.is_empty() {
                    break; // as for a gap within a page, below
                }
                return Err(SourceError::RpcGap { rpc: self.origin.clone(), expected, got: None });
            }
            for ledger in result.ledgers {
                if ledger.sequence != expected {
                    if !objects.is_empty() {
                        // Hand on the ledgers before the gap; the next read starts at it and
                        // fails there.
                        self.carry.clear();
                        break 'pages;
                    }
                    if expected < result.oldest_ledger {
                        return Err(SourceError::BeforeRetention {
                            rpc: self.origin.clone(),
                            sequence: expected,
                            oldest: result.oldest_ledger,
                            latest: result.latest_ledger,
                        });
                    }
                    return Err(SourceError::RpcGap {
                        rpc: self.origin.clone(),
                        expected,
                        got: Some(ledger.sequence),
                    });
                }
                let object = self.object(ledger)?;
                if (objects.len() as u32) < wanted && (objects.is_empty() || bytes < max_bytes) {
                    bytes += object.bytes.len();
                    objects.push(object);
                } else {
                    self.carry.push_back((expected, object)); // beyond this read's budget
                }
                expected = match expected.checked_add(1) {
                    Some(expected) => expected,
                    None => break,
                };
            }
            if expected > result.latest_ledger {
                break; // the tip
            }
            // A short page short of the tip: the next page tells whether ledgers are missing.
            cursor = Some(match result.cursor {
                Some(cursor) if !cursor.is_empty() => cursor.into_owned(),
                _ => (expected - 1).to_string(),
            });
        }
        if objects.is_empty() {
            return Ok(self.past_tip(last));
        }
        let first = next;
        let range = LedgerRange::new(first, first + (objects.len() as u32 - 1))
            .map_err(|_| SourceError::RpcGap { rpc: self.origin.clone(), expected: first, got: None })?;
        Ok(SourceRead::Batch(RawBatch { range, objects }))
    }

    fn object(&self, ledger: LedgerInfo<'_>) -> Result<RawObject, SourceError> {
        let sequence = ledger.sequence;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(ledger.metadata_xdr.as_bytes())
            .map_err(|source| SourceError::RpcBase64 { rpc: self.origin.clone(), sequence, source })?;
        Ok(RawObject {
            name: format!("{} getLedgers ledger {sequence}", self.origin),
            bytes,
            framing: Framing::Xdr,
            holds: Some(LedgerRange::single(sequence)),
        })
    }
}

impl LedgerSource for RpcSource {
    /// The configured network, else the one `first_available` asked the RPC for; pubnet until
    /// then.
    fn network(&self) -> Network {
        self.network.clone().unwrap_or_else(Network::pubnet)
    }

    /// The RPC's oldest ledger (`getHealth`). Also asks the RPC for its network when none is
    /// configured.
    fn first_available(&mut self) -> Result<Option<u32>, SourceError> {
        self.block_on(async |source: &mut Self| {
            let (oldest, _) = source.get_health().await?;
            if source.network.is_none() {
                source.network = Some(source.get_network().await?);
            }
            Ok(Some(oldest))
        })
    }

    fn read_within(
        &mut self,
        next: u32,
        last: Option<u32>,
        max_ledgers: u32,
        max_bytes: usize,
    ) -> Result<SourceRead, SourceError> {
        let to_last = last.map_or(u32::MAX, |last| (last - next).saturating_add(1));
        let wanted = max_ledgers.max(1).min(to_last);
        self.block_on(async |source: &mut Self| source.read_pages(next, last, wanted, max_bytes).await)
    }

    /// The RPC's latest ledger as of its last answer.
    fn tip(&self) -> Option<u32> {
        self.latest
    }
}

#[derive(Deserialize)]
struct Answer<T> {
    result: Option<T>,
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

/// A `getLedgers` result; other fields (close times, the header) are not needed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LedgersPage<'a> {
    #[serde(borrow)]
    ledgers: Vec<LedgerInfo<'a>>,
    latest_ledger: u32,
    oldest_ledger: u32,
    #[serde(borrow, default)]
    cursor: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LedgerInfo<'a> {
    sequence: u32,
    /// Base64 `LedgerCloseMeta` (`closeMetaXdr` before stellar-rpc 22). Borrowed from the body:
    /// base64 has nothing to unescape.
    #[serde(borrow, alias = "closeMetaXdr")]
    metadata_xdr: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    latest_ledger: u32,
    oldest_ledger: u32,
}

#[derive(Deserialize)]
struct LatestLedger {
    sequence: u32,
}

#[derive(Deserialize)]
struct NetworkInfo {
    passphrase: String,
}

/// `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3), at most [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A URL that did not parse, shown without what may be a secret: scheme and host at most.
fn redact(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    match url.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://{host}"),
        None => host.to_owned(),
    }
}

/// Whether a JSON-RPC error code names a request no retry fixes.
pub(crate) fn permanent_rpc_code(code: i64) -> bool {
    matches!(code, INVALID_REQUEST | METHOD_NOT_FOUND | INVALID_PARAMS)
}
