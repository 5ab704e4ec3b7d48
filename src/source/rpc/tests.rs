//! The RPC source against the fake RPC (`fake.rs`) serving the real testnet ledgers
//! 1410096..=1410111 of `raw/lcm-xdr/` (consecutive, protocol 19): exact request shapes, cursor
//! pages, the retention window, the tip, and every fault.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use stellar_xdr::{LedgerCloseMeta, Limits, ReadXdr};

use super::fake::{FakeRpc, Fault};
use super::*;
use crate::ledger::header_entry;
use crate::network::TESTNET_PASSPHRASE;
use crate::resilience::{Classify, FailureClass};

const FIRST: u32 = 1_410_096;
const LAST: u32 = 1_410_111;

struct Fixture {
    root: PathBuf,
    ledgers: Vec<(u32, Vec<u8>)>,
}

fn fixture(test: &str) -> Option<Fixture> {
    let Some(root) = std::env::var_os("LEDGERFLOW_FIXTURES").map(PathBuf::from) else {
        eprintln!("{test}: skipped (LEDGERFLOW_FIXTURES is not set)");
        return None;
    };
    let ledgers = (FIRST..=LAST)
        .map(|sequence| {
            let path = root.join(format!("raw/lcm-xdr/testnet-{sequence}.xdr"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
            (sequence, bytes)
        })
        .collect();
    Some(Fixture { root, ledgers })
}

impl Fixture {
    fn bytes(&self, sequence: u32) -> &[u8] {
        &self.ledgers[(sequence - FIRST) as usize].1
    }

    /// The ledger hash the independent decoder recorded (`expected/`).
    fn expected_hash(&self, sequence: u32) -> String {
        let path = self.root.join(format!("expected/raw__lcm-xdr__testnet-{sequence}.xdr.json"));
        let expected: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .expect("expected file is JSON");
        expected["ledgers"][0]["ledger_hash"].as_str().expect("ledger_hash").to_owned()
    }
}

/// A multi-thread runtime running the fake RPC; the test thread calls the (blocking) source.
struct Harness {
    runtime: tokio::runtime::Runtime,
    rpc: FakeRpc,
}

impl Harness {
    fn new(ledgers: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let rpc = runtime.block_on(FakeRpc::start(ledgers, TESTNET_PASSPHRASE)).expect("fake rpc");
        Harness { runtime, rpc }
    }

    fn of(fixture: &Fixture) -> Self {
        Self::new(fixture.ledgers.iter().map(|(_, bytes)| bytes.clone()))
    }

    fn source(&self, configure: impl FnOnce(&mut RpcOptions)) -> RpcSource {
        let mut options = RpcOptions::new(self.rpc.url());
        options.ledgers_per_request = 5;
        configure(&mut options);
        RpcSource::new(options, self.runtime.handle().clone()).expect("source")
    }
}

fn batch(read: Result<SourceRead, SourceError>) -> RawBatch {
    match read {
        Ok(SourceRead::Batch(batch)) => batch,
        Ok(other) => panic!("expected a batch, got {other:?}"),
        Err(err) => panic!("expected a batch, got {err}"),
    }
}

fn error(read: Result<SourceRead, SourceError>) -> SourceError {
    match read {
        Err(err) => err,
        Ok(SourceRead::Batch(batch)) => panic!("expected an error, got a batch of {}", batch.range),
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

/// `batch` holds exactly the fixture ledgers of its range, byte for byte, one object each.
fn assert_exact(fixture: &Fixture, batch: &RawBatch, first: u32, last: u32) {
    assert_eq!((batch.range.first(), batch.range.last()), (first, last));
    assert_eq!(batch.objects.len() as u32, last - first + 1);
    for (object, sequence) in batch.objects.iter().zip(first..=last) {
        assert_eq!(object.holds, Some(LedgerRange::single(sequence)));
        assert_eq!(object.framing, Framing::Xdr);
        assert!(object.bytes == fixture.bytes(sequence), "ledger {sequence}: bytes differ from the fixture");
        assert!(object.name.ends_with(&format!("getLedgers ledger {sequence}")), "{}", object.name);
    }
}

#[test]
fn reads_real_ledgers_in_cursor_pages_with_the_exact_request_shape() {
    let Some(fixture) = fixture("reads_real_ledgers_in_cursor_pages_with_the_exact_request_shape") else {
        return;
    };
    let harness = Harness::of(&fixture);
    let mut source = harness.source(|_| {});
    let batch = batch(source.read(FIRST, None, 64, usize::MAX));
    assert_exact(&fixture, &batch, FIRST, LAST);
    // The bytes are the real ledgers: the independent decoder's hashes.
    for (object, sequence) in batch.objects.iter().zip(FIRST..) {
        let meta = LedgerCloseMeta::from_xdr(&object.bytes, Limits::none()).expect("decodes");
        assert_eq!(header_entry(&meta).header.ledger_seq, sequence);
        assert_eq!(hex::encode(header_entry(&meta).hash.0), fixture.expected_hash(sequence));
    }
    assert_eq!(batch.bytes(), fixture.ledgers.iter().map(|(_, b)| b.len()).sum::<usize>());
    assert_eq!(batch.bytes(), 80_052);
    assert_eq!(source.tip(), Some(LAST));
    assert_eq!(source.window(), Some((FIRST, LAST)));
    // First page by startLedger, then by the cursor of the page before; the last page stops at
    // the tip (a short page).
    assert_eq!(
        harness.rpc.get_ledgers_params(),
        vec![
            json!({ "startLedger": FIRST, "pagination": { "limit": 5 } }),
            json!({ "pagination": { "cursor": "1410100", "limit": 5 } }),
            json!({ "pagination": { "cursor": "1410105", "limit": 5 } }),
            json!({ "pagination": { "cursor": "1410110", "limit": 5 } }),
        ]
    );
    let requests = harness.rpc.requests();
    assert_eq!(requests[0]["jsonrpc"], "2.0");
    assert_eq!(requests[0]["method"], "getLedgers");
    assert!(requests.windows(2).all(|w| w[1]["id"].as_u64() > w[0]["id"].as_u64()), "ids increase");
    // Caught up: bounded without `last` is the end, at the RPC's tip.
    assert!(matches!(source.read(LAST + 1, None, 64, usize::MAX), Ok(SourceRead::End)));
}

#[test]
fn a_read_keeps_to_max_ledgers_last_and_max_bytes_and_carries_the_rest_over() {
    let Some(fixture) = fixture("a_read_keeps_to_max_ledgers_last_and_max_bytes_and_carries_the_rest_over")
    else {
        return;
    };
    let harness = Harness::of(&fixture);
    let mut source = harness.source(|o| o.ledgers_per_request = 4);
    assert_exact(&fixture, &batch(source.read(FIRST, None, 3, usize::MAX)), FIRST, FIRST + 2);
    assert_exact(
        &fixture,
        &batch(source.read(FIRST + 3, Some(FIRST + 8), 64, usize::MAX)),
        FIRST + 3,
        FIRST + 8,
    );
    assert!(matches!(source.read(FIRST + 9, Some(FIRST + 8), 64, usize::MAX), Ok(SourceRead::End)));
    let requests = harness.rpc.get_ledgers_params().len();
    // A byte budget of one byte: one ledger per read (the first object always fits); the rest
    // of the page is carried over, so the next three reads make no request.
    for sequence in FIRST + 9..=FIRST + 12 {
        assert_exact(&fixture, &batch(source.read(sequence, None, 64, 1)), sequence, sequence);
    }
    assert_eq!(harness.rpc.get_ledgers_params().len(), requests + 1);
    // A read elsewhere drops the carry and asks again.
    assert_exact(&fixture, &batch(source.read(FIRST, None, 2, usize::MAX)), FIRST, FIRST + 1);
    assert_eq!(harness.rpc.get_ledgers_params().len(), requests + 2);
}

#[test]
fn past_the_tip_is_not_yet_when_following_or_short_of_last_and_the_end_otherwise() {
    let Some(fixture) =
        fixture("past_the_tip_is_not_yet_when_following_or_short_of_last_and_the_end_otherwise")
    else {
        return;
    };
    let harness = Harness::of(&fixture);
    harness.rpc.set_window(FIRST, FIRST + 9);
    let mut follow = harness.source(|o| o.follow = true);
    assert_exact(&fixture, &batch(follow.read(FIRST, None, 64, usize::MAX)), FIRST, FIRST + 9);
    assert_eq!(follow.tip(), Some(FIRST + 9));
    // Known to be past the tip: the tip is asked for (getLatestLedger), not getLedgers.
    let before = harness.rpc.get_ledgers_params().len();
    assert!(matches!(follow.read(FIRST + 10, None, 64, usize::MAX), Ok(SourceRead::NotYet)));
    assert_eq!(harness.rpc.get_ledgers_params().len(), before);
    assert_eq!(harness.rpc.requests().last().expect("a request")["method"], "getLatestLedger");
    // Ledgers close: the next poll reads them.
    harness.rpc.set_window(FIRST, LAST);
    assert_exact(&fixture, &batch(follow.read(FIRST + 10, None, 64, usize::MAX)), FIRST + 10, LAST);

    harness.rpc.set_window(FIRST, FIRST + 9);
    // A fresh source (no tip known) asks getLedgers, which refuses a start past the latest
    // ledger (-32600): the health check places it past the tip.
    let mut bounded = harness.source(|_| {});
    assert!(matches!(bounded.read(FIRST + 10, Some(LAST), 64, usize::MAX), Ok(SourceRead::NotYet)));
    let methods: Vec<_> = harness.rpc.requests().iter().rev().take(2).map(|r| r["method"].clone()).collect();
    assert_eq!(methods, vec![json!("getHealth"), json!("getLedgers")]);
    assert!(matches!(bounded.read(FIRST + 10, None, 64, usize::MAX), Ok(SourceRead::End)));
}

#[test]
fn a_start_before_the_retention_window_names_the_oldest_ledger_and_the_data_store() {
    let Some(fixture) =
        fixture("a_start_before_the_retention_window_names_the_oldest_ledger_and_the_data_store")
    else {
        return;
    };
    let harness = Harness::of(&fixture);
    harness.rpc.set_window(FIRST + 4, LAST);
    let mut source = harness.source(|_| {});
    let err = error(source.read(FIRST, None, 64, usize::MAX));
    assert!(
        matches!(err, SourceError::BeforeRetention { sequence: FIRST, oldest: 1_410_100, latest: LAST, .. }),
        "{err:?}"
    );
    assert_eq!(err.class(), FailureClass::Permanent);
    let message = err.to_string();
    assert!(message.contains("ledger 1410096 is older than the RPC's retention window"), "{message}");
    assert!(message.contains("holds ledgers 1410100 to 1410111"), "{message}");
    assert!(message.contains("source.kind = \"datastore\""), "{message}");
    assert!(message.contains("source.rpc_url"), "{message}");
    assert_eq!(source.first_available().expect("health"), Some(FIRST + 4));
}

#[test]
fn first_available_is_the_oldest_ledger_and_the_network_is_asked_for() {
    let Some(fixture) = fixture("first_available_is_the_oldest_ledger_and_the_network_is_asked_for") else {
        return;
    };
    let harness = Harness::of(&fixture);
    let mut source = harness.source(|_| {});
    assert_eq!(source.first_available().expect("health"), Some(FIRST));
    assert_eq!(source.network().passphrase(), TESTNET_PASSPHRASE);
    let methods: Vec<_> = harness.rpc.requests().iter().map(|r| r["method"].clone()).collect();
    assert_eq!(methods, vec![json!("getHealth"), json!("getNetwork")]);
    // A configured network is not asked for.
    let mut configured = harness.source(|o| o.network = Some(Network::pubnet()));
    configured.first_available().expect("health");
    assert_eq!(configured.network(), Network::pubnet());
    assert_eq!(harness.rpc.requests().len(), 3);
}

/// Each fault fails one read with a transient error (naming the method and the endpoint) and
/// the read after it returns the exact ledgers.
#[test]
fn every_network_fault_is_transient_and_the_next_read_is_exact() {
    let Some(fixture) = fixture("every_network_fault_is_transient_and_the_next_read_is_exact") else {
        return;
    };
    let harness = Harness::of(&fixture);
    let mut source = harness.source(|o| o.request_timeout = Duration::from_millis(500));
    let date = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822().replace("+0000", "GMT");
    let cases: Vec<(Fault, Option<std::ops::RangeInclusive<u64>>)> = vec![
        (Fault::status(500), None),
        (Fault::status(502), None),
        (Fault::retry_after(503, "7"), Some(7..=7)),
        (Fault::retry_after(429, "2"), Some(2..=2)),
        (Fault::retry_after(429, &date), Some(85..=90)),
        (Fault::status(408), None),
        (Fault::Stall, None),
        (Fault::TruncatedBody, None),
        (Fault::DropConnection, None),
        (Fault::RpcError { code: -32603, message: "error fetching ledgers from db".into() }, None),
    ];
    for (fault, retry_after) in cases {
        harness.rpc.push_faults([fault.clone()]);
        let err = error(source.read(FIRST, None, 8, usize::MAX));
        assert_eq!(err.class(), FailureClass::Transient, "{fault:?}: {err}");
        assert_eq!(crate::resilience::FailureClass::of(&err), Some(FailureClass::Transient));
        let message = err.to_string();
        assert!(message.contains(&harness.rpc.url().trim_end_matches('/').to_owned()), "{message}");
        assert!(message.contains("getLedgers"), "{message}");
        match retry_after {
            Some(seconds) => {
                let delay =
                    err.retry_after().unwrap_or_else(|| panic!("{fault:?}: no retry-after")).as_secs();
                assert!(seconds.contains(&delay), "{fault:?}: retry after {delay} s");
            }
            None => assert_eq!(err.retry_after(), None, "{fault:?}"),
        }
        assert_exact(&fixture, &batch(source.read(FIRST, None, 8, usize::MAX)), FIRST, FIRST + 7);
    }
    assert_eq!(harness.rpc.faults_injected(), 10);
    // A slow body within the timeout is only slow.
    harness.rpc.push_faults([Fault::SlowBody { chunks: 4, delay: Duration::from_millis(10) }]);
    assert_exact(&fixture, &batch(source.read(FIRST, None, 5, usize::MAX)), FIRST, FIRST + 4);
    assert_eq!(harness.rpc.faults_pending(), 0);
}

#[test]
fn a_fault_on_a_later_page_hands_on_the_pages_before_it() {
    let Some(fixture) = fixture("a_fault_on_a_later_page_hands_on_the_pages_before_it") else {
        return;
    };
    let harness = Harness::of(&fixture);
    let mut source = harness.source(|_| {});
    harness.rpc.push_faults([Fault::None, Fault::status(503)]);
    assert_exact(&fixture, &batch(source.read(FIRST, None, 16, usize::MAX)), FIRST, FIRST + 4);
    assert_exact(&fixture, &batch(source.read(FIRST + 5, None, 16, usize::MAX)), FIRST + 5, LAST);
}

#[test]
fn a_refused_request_is_permanent() {
    let Some(fixture) = fixture("a_refused_request_is_permanent") else {
        return;
    };
    let harness = Harness::of(&fixture);
    let mut source = harness.source(|_| {});
    for status in [400, 401, 403, 404] {
        harness.rpc.push_faults([Fault::status(status)]);
        let err = error(source.read(FIRST, None, 4, usize::MAX));
        assert!(matches!(err, SourceError::RpcStatus { status: s, .. } if s == status), "{err:?}");
        assert_eq!(err.class(), FailureClass::Permanent, "{err}");
        assert!(err.to_string().contains(&format!("HTTP {status}: fake rpc: injected {status}")), "{err}");
    }
    harness.rpc.push_faults([Fault::RpcError { code: -32601, message: "method not found".into() }]);
    let err = error(source.read(FIRST, None, 4, usize::MAX));
    assert_eq!(err.class(), FailureClass::Permanent, "{err}");
    assert_eq!(
        err.to_string(),
        format!("rpc {}: getLedgers returned JSON-RPC error -32601: method not found", source.origin())
    );
}

#[test]
fn a_ledger_missing_from_the_rpc_is_an_error_naming_it() {
    let Some(fixture) = fixture("a_ledger_missing_from_the_rpc_is_an_error_naming_it") else {
        return;
    };
    let harness = Harness::new(
        fixture.ledgers.iter().filter(|(sequence, _)| *sequence != FIRST + 4).map(|(_, bytes)| bytes.clone()),
    );
    let mut source = harness.source(|_| {});
    // The ledgers before the gap are handed on; the read at the gap fails, naming it.
    assert_exact(&fixture, &batch(source.read(FIRST, None, 16, usize::MAX)), FIRST, FIRST + 3);
    let err = error(source.read(FIRST + 4, None, 16, usize::MAX));
    assert!(matches!(err, SourceError::RpcGap { expected: 1_410_100, got: Some(1_410_101), .. }), "{err:?}");
    assert_eq!(err.class(), FailureClass::Transient);
    assert!(err.to_string().contains("expected ledger 1410100, got ledger 1410101"), "{err}");
}

#[test]
fn an_unreachable_rpc_is_transient_and_a_bad_url_permanent() {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut source =
        RpcSource::new(RpcOptions::new(format!("http://127.0.0.1:{port}/")), runtime.handle().clone())
            .expect("source");
    let err = error(source.read(FIRST, None, 4, usize::MAX));
    assert!(matches!(err, SourceError::RpcTransport { method: "getLedgers", .. }), "{err:?}");
    assert_eq!(err.class(), FailureClass::Transient);
    let Err(err) = RpcSource::new(RpcOptions::new("http://key@[::1"), runtime.handle().clone()) else {
        panic!("a bad URL is refused")
    };
    assert_eq!(err.class(), FailureClass::Permanent);
    assert!(!err.to_string().contains("key@"), "{err}");
}

#[test]
fn retry_after_is_seconds_or_an_http_date_and_capped() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-07T10:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc);
    assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("Wed, 07 Jan 2026 10:01:30 GMT", now), Some(Duration::from_secs(90)));
    assert_eq!(parse_retry_after("Wed, 07 Jan 2026 09:00:00 GMT", now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
    assert_eq!(parse_retry_after("soon", now), None);
}

#[test]
fn urls_in_errors_keep_no_credentials() {
    assert_eq!(redact("https://user:secret@rpc.example.com/api-key?token=x"), "https://rpc.example.com");
    assert_eq!(redact("rpc.example.com/key"), "rpc.example.com");
}
