//! The short chaos profile, run in CI by `cargo test --workspace --all-features` (which builds
//! `target/debug/ledgerflow` with failpoints): every scenario of `ledgerflow_chaos::scenarios`
//! once, at small scale, against the real binary. Each ends with `ledgerflow verify` exiting 0
//! and the archive equal to an uninterrupted reference run: the same ledgers exactly once, the
//! same rows per ledger in every table, the same analytics rows.
//!
//! Kill instants are drawn from `CHAOS_SEED` (printed; set it to replay a failure).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use anyhow::Result;
use ledgerflow::batch::OnCorrupt;
use ledgerflow_chaos::binary::Ledgerflow;
use ledgerflow_chaos::faults::{FAILPOINTS, WORKERS};
use ledgerflow_chaos::scenarios::{self, Damage, Outcome};
use ledgerflow_chaos::stream::{FIRST, Reference, StreamSpec};
use rand::SeedableRng;
use tempfile::TempDir;

/// The synthetic stream of the failpoint scenarios: 10 batches of 6 ledgers, 5 commits,
/// 4 files of 15 per table.
const LEDGERS: u32 = 60;
/// The longer stream of the kill scenario (25 batches), so kills land at different points.
const KILL_LEDGERS: u32 = 150;
const TRANSACTIONS: u32 = 10;
/// The SEP-54 store of the source-fault scenarios.
const STORE_LEDGERS: u32 = 60;

fn bin() -> &'static Ledgerflow {
    static BIN: OnceLock<Ledgerflow> = OnceLock::new();
    BIN.get_or_init(|| Ledgerflow::locate().unwrap_or_else(|e| panic!("{e:#}")))
}

fn spec() -> StreamSpec {
    StreamSpec::synthetic(LEDGERS, TRANSACTIONS)
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| reference_of(&spec()))
}

fn kill_spec() -> StreamSpec {
    StreamSpec::synthetic(KILL_LEDGERS, TRANSACTIONS)
}

fn kill_reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| reference_of(&kill_spec()))
}

fn reference_of(spec: &StreamSpec) -> Reference {
    let dir = TempDir::new().unwrap();
    Reference::run(bin(), dir.path(), spec).unwrap_or_else(|e| panic!("reference run: {e:#}"))
}

/// A store made by `ledgerflow generate`, its stream, and the store's reference run.
struct Store {
    dir: TempDir,
    spec: StreamSpec,
    reference: Reference,
}

fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = TempDir::new().unwrap();
        let root = dir.path().join("store");
        bin().generate(&root, STORE_LEDGERS, TRANSACTIONS, 7).unwrap_or_else(|e| panic!("{e:#}"));
        let spec = StreamSpec::datastore(&root, STORE_LEDGERS);
        let reference = Reference::run(bin(), &dir.path().join("reference"), &spec)
            .unwrap_or_else(|e| panic!("store reference run: {e:#}"));
        Store { dir, spec, reference }
    })
}

fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        eprintln!("CHAOS_SEED={seed}");
        seed
    })
}

/// Unwraps a scenario and asserts its archive is exact.
fn exact(result: Result<Outcome>) -> Outcome {
    let outcome = result.unwrap_or_else(|e| panic!("{e:#}"));
    outcome.ensure_exact().unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("{}: ok, faults {:?}, restarts {}", outcome.name, outcome.faults, outcome.process_restarts);
    outcome
}

#[test]
fn scenario_1_kill9_at_seeded_random_instants_then_restart_equals_an_uninterrupted_run() {
    let seed = seed();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = TempDir::new().unwrap();
    let outcome = exact(scenarios::kill_at_random_instants(
        bin(),
        dir.path(),
        &kill_spec(),
        kill_reference(),
        6,
        &mut rng,
        "",
    ));
    let kills = outcome.faults.get("kill -9 at a random instant").copied().unwrap_or(0);
    assert!(kills >= 1, "CHAOS_SEED={seed}: no kill landed on a running process");
    assert_eq!(outcome.ledgers, u64::from(KILL_LEDGERS));
    assert_eq!(outcome.comparison.ledgers, u64::from(KILL_LEDGERS));
    // The reference itself is what it should be: every table has rows, analytics too.
    let summary = &kill_reference().summary;
    assert_eq!(summary.ranges()["ledgers"], vec![(FIRST, FIRST + KILL_LEDGERS - 1)]);
    for table in ["transactions", "operations", "payment_volume"] {
        assert!(summary.rows(table) > 0, "the reference has no {table} rows");
    }
    assert!(!summary.analytics_rows["payment_volume"].is_empty());
}

#[test]
fn scenario_2_kill9_while_each_failpoint_fires_then_restart_equals_an_uninterrupted_run() {
    for failpoint in FAILPOINTS {
        let dir = TempDir::new().unwrap();
        let outcome =
            exact(scenarios::crash_at_failpoint(bin(), dir.path(), &spec(), reference(), failpoint, 2));
        assert_eq!(outcome.faults.get(&format!("kill -9 at {failpoint}")), Some(&1));
    }
}

#[test]
fn scenario_2_each_failpoint_as_a_transient_error_is_retried_and_the_run_completes_exactly() {
    // `return` at a commit step is the injected I/O error (a failed write, fsync, rename or
    // sled flush: "disk full" included), so this is scenario 4's transient storage faults too.
    for failpoint in FAILPOINTS {
        // The archive stages a set's files on two threads: both fires can land in one set,
        // which is one failure of the archive worker.
        let fires = if failpoint.ends_with("_stage") { 1 } else { 2 };
        let dir = TempDir::new().unwrap();
        exact(scenarios::error_at_failpoint(
            bin(),
            dir.path(),
            &spec(),
            reference(),
            failpoint,
            "1*off->2*return->off",
            fires,
        ));
    }
}

#[test]
fn scenario_3_transient_source_errors_and_a_stall_are_retried() {
    let store = store();
    let dir = TempDir::new().unwrap();
    exact(scenarios::source_transient(bin(), dir.path(), &store.spec, &store.reference));
}

#[test]
fn scenario_3_damaged_objects_fail_naming_the_ledger_or_become_dead_letters() {
    let store = store();
    let root = store.dir.path().join("store");
    // Ledger 17 of the store is damaged: batches 0-2 come before it, so there is a checkpoint
    // to stay at, and ledgers after it to not archive.
    let target = FIRST + 17;
    for damage in Damage::ALL {
        for policy in [OnCorrupt::Fail, OnCorrupt::DeadLetter] {
            if damage == Damage::Delete && policy == OnCorrupt::DeadLetter {
                continue; // a hole is never a dead letter: it fails under both policies
            }
            let dir = TempDir::new().unwrap();
            let outcome = exact(scenarios::damaged_object(
                bin(),
                dir.path(),
                &root,
                &store.spec,
                &store.reference,
                damage,
                policy,
                target,
            ));
            assert!(outcome.total_faults() >= 1);
            if policy == OnCorrupt::DeadLetter {
                // Everything but the dead letters, exactly once.
                let bad = *outcome.faults.values().next().unwrap();
                assert_eq!(outcome.ledgers, u64::from(STORE_LEDGERS) - bad, "{}", outcome.name);
            } else {
                assert_eq!(outcome.ledgers, u64::from(STORE_LEDGERS), "{}", outcome.name);
            }
        }
    }
    let dir = TempDir::new().unwrap();
    exact(scenarios::damaged_object(
        bin(),
        dir.path(),
        &root,
        &store.spec,
        &store.reference,
        Damage::Delete,
        OnCorrupt::DeadLetter,
        target,
    ));
}

/// Write errors ("disk full") while staging, an fsync error after staging, a checkpoint that
/// cannot commit or flush: each keeps failing until the retry budget is spent; the process
/// must exit non-zero with the archive consistent, and a restart once the storage is back
/// completes exactly. (Transient storage errors at every commit step are in scenario 2.)
#[test]
fn scenario_4_storage_outages_stop_the_stream_consistent_and_a_restart_completes() {
    // Not `checkpoint:after_flush`: a fault there strikes after the commit is durable, so
    // every restart resumes past it and the stream completes exactly (scenario 2 checks that).
    for failpoint in ["archive:before_stage", "archive:after_stage", "checkpoint:before_commit"] {
        let dir = TempDir::new().unwrap();
        exact(scenarios::storage_outage(bin(), dir.path(), &spec(), reference(), failpoint, 2));
    }
}

#[test]
fn scenario_4_a_slow_archive_keeps_memory_flat() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("store");
    // 400 ledgers of ~60 transactions: ~22 MiB of XDR. Each file set waits 3 x 100 ms.
    bin().generate(&root, 400, 60, 11).unwrap();
    let (outcome, memory) = scenarios::slow_archive_memory(bin(), dir.path(), &root, 400, 100)
        .unwrap_or_else(|e| panic!("{e:#}"));
    outcome.ensure_exact().unwrap();
    eprintln!("{memory:?}");
}

#[test]
fn scenario_5_a_panic_in_each_worker_is_restarted_by_its_supervisor() {
    for failpoint in WORKERS {
        let dir = TempDir::new().unwrap();
        let outcome = exact(scenarios::error_at_failpoint(
            bin(),
            dir.path(),
            &spec(),
            reference(),
            failpoint,
            "2*off->1*panic->off",
            1,
        ));
        assert_eq!(outcome.process_restarts, 0, "the process itself must not die");
    }
}

#[test]
fn scenario_5_repeated_failures_open_the_breaker_and_it_recovers() {
    let dir = TempDir::new().unwrap();
    let outcome = exact(scenarios::breaker_opens_and_recovers(bin(), dir.path(), &spec(), reference(), 6));
    assert_eq!(outcome.faults.get("breaker opened"), Some(&1));
}

#[test]
fn the_dead_letter_reference_excludes_exactly_the_bad_ledgers() {
    // Guards the comparison itself: removing a ledger from an archive summary must show up.
    let summary = &reference().summary;
    let gone: BTreeSet<u32> = [FIRST + 3].into();
    let comparison = ledgerflow_chaos::summary::compare(summary, &summary.without_ledgers(&gone), true);
    assert_eq!(comparison.lost, vec![FIRST + 3]);
    assert!(!comparison.is_exact());
}
