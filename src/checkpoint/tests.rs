//! The store against a real sled database in a temporary directory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tempfile::TempDir;

use super::*;
use crate::range::LedgerRange;
use crate::resilience::{Classify, FailureClass};

/// With `--features failpoints`, holds the `fail` crate's scenario lock (and clears every
/// failpoint) for the whole test, so that a failpoint armed by another test cannot fire in this
/// one. Without the feature, failpoints are compiled out and this holds nothing.
struct FailpointsOff {
    #[cfg(feature = "failpoints")]
    _scenario: fail::FailScenario<'static>,
}

fn failpoints_off() -> FailpointsOff {
    FailpointsOff {
        #[cfg(feature = "failpoints")]
        _scenario: fail::FailScenario::setup(),
    }
}

fn temp_store() -> (TempDir, CheckpointStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = CheckpointStore::open(dir.path().join("checkpoints")).expect("open store");
    (dir, store)
}

/// Drops `store` and opens its directory again, as a restarted process would. sled's background
/// threads can hold the directory lock for a moment after the last handle is dropped, so the
/// open is retried (transient error) until a deadline.
fn reopen(dir: &TempDir, store: CheckpointStore) -> CheckpointStore {
    drop(store);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match CheckpointStore::open(dir.path().join("checkpoints")) {
            Ok(store) => return store,
            Err(error) if error.class() == FailureClass::Transient && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(error) => panic!("reopen store: {error}"),
        }
    }
}

fn id(text: &str) -> StreamId {
    StreamId::new(text).expect("valid test id")
}

fn range(first: u32, last: u32) -> LedgerRange {
    LedgerRange::new(first, last).expect("ordered test range")
}

/// A commit of `first..=last` with one file per table, as the archiver names them.
fn commit(stream: &str, first: u32, last: u32) -> Commit {
    Commit {
        stream: id(stream),
        range: range(first, last),
        files: vec![
            format!("ledgers/date=2025-01-01/ledgers-{first}-{last}.parquet"),
            format!("transactions/date=2025-01-01/transactions-{first}-{last}.parquet"),
        ],
        analytics_state: format!("state after {last}").into_bytes(),
        dead_letters: Vec::new(),
    }
}

#[test]
fn resume_from_on_empty_and_after_commits() {
    let _failpoints = failpoints_off();
    let (_dir, store) = temp_store();
    let s = id("pubnet");
    assert_eq!(store.resume_from(&s, 1_000).unwrap(), 1_000);
    assert_eq!(store.load(&s).unwrap(), None);
    assert_eq!(store.streams().unwrap(), vec![]);

    let ack = store.commit(commit("pubnet", 1_000, 1_009)).unwrap();
    assert_eq!(
        ack,
        CommitAck {
            stream: s.clone(),
            range: range(1_000, 1_009),
            first_ledger: 1_000,
            commits: 1,
            replayed: false
        }
    );
    assert_eq!(store.resume_from(&s, 1_000).unwrap(), 1_010);
    // The configured start no longer matters once there is a checkpoint.
    assert_eq!(store.resume_from(&s, 5).unwrap(), 1_010);

    store.mark_published(&s).unwrap();
    let ack = store.commit(commit("pubnet", 1_010, 1_019)).unwrap();
    assert_eq!(ack.commits, 2);
    assert_eq!(store.resume_from(&s, 1_000).unwrap(), 1_020);

    let checkpoint = store.load(&s).unwrap().expect("committed");
    assert_eq!(checkpoint.first_ledger, 1_000);
    assert_eq!(checkpoint.last_ledger, 1_019);
    assert_eq!(checkpoint.next_ledger(), Some(1_020));
    assert_eq!(checkpoint.commits, 2);
    let mut files = commit("pubnet", 1_000, 1_009).files;
    files.extend(commit("pubnet", 1_010, 1_019).files);
    assert_eq!(checkpoint.files, files);
    assert_eq!(checkpoint.pending, commit("pubnet", 1_010, 1_019).files);
    assert_eq!(checkpoint.analytics_state, b"state after 1019");
    assert_eq!(store.streams().unwrap(), vec![s]);
}

#[test]
fn pending_holds_the_last_commit_until_marked_published() {
    let _failpoints = failpoints_off();
    let (_dir, store) = temp_store();
    let s = id("s");
    store.mark_published(&s).unwrap(); // no checkpoint: a no-op

    store.commit(commit("s", 1, 10)).unwrap();
    assert_eq!(store.load(&s).unwrap().unwrap().pending, commit("s", 1, 10).files);
    store.mark_published(&s).unwrap();
    assert_eq!(store.load(&s).unwrap().unwrap().pending, Vec::<String>::new());
    store.mark_published(&s).unwrap(); // idempotent

    store.commit(commit("s", 11, 20)).unwrap();
    let checkpoint = store.load(&s).unwrap().unwrap();
    assert_eq!(checkpoint.pending, commit("s", 11, 20).files);
    assert_eq!(checkpoint.files.len(), 4);

    // A commit without files (e.g. only dead letters) leaves nothing pending.
    store.mark_published(&s).unwrap();
    let dead = DeadLetter { sequence: 21, reason: "malformed xdr".into(), path: "dead/21.xdr".into() };
    let only_dead = Commit { files: vec![], dead_letters: vec![dead.clone()], ..commit("s", 21, 21) };
    store.commit(only_dead).unwrap();
    let checkpoint = store.load(&s).unwrap().unwrap();
    assert_eq!(checkpoint.pending, Vec::<String>::new());
    assert_eq!(checkpoint.dead_letters, vec![dead]);
    assert_eq!(checkpoint.last_ledger, 21);
}

#[test]
fn non_contiguous_commit_is_refused_and_changes_nothing() {
    let _failpoints = failpoints_off();
    let (_dir, store) = temp_store();
    let s = id("s");
    store.commit(commit("s", 100, 199)).unwrap();
    let before = store.load(&s).unwrap();

    for (first, last) in [(201, 300), (150, 250), (100, 150), (100, 200), (0, 99), (199, 199)] {
        let error = store.commit(commit("s", first, last)).unwrap_err();
        match &error {
            CheckpointError::NotContiguous { stream, expected, range: refused } => {
                assert_eq!((stream, *expected, *refused), (&s, 200, range(first, last)));
            }
            other => panic!("{first}-{last}: unexpected {other:?}"),
        }
        assert_eq!(error.class(), FailureClass::Permanent);
        let message = error.to_string();
        assert!(
            message.contains("expected first ledger 200") && message.contains(&format!("found {first}")),
            "{message}"
        );
        assert_eq!(store.load(&s).unwrap(), before, "{first}-{last} changed the store");
    }
    assert_eq!(store.resume_from(&s, 0).unwrap(), 200);
}

#[test]
fn invalid_commits_are_refused_and_change_nothing() {
    let _failpoints = failpoints_off();
    let (_dir, store) = temp_store();
    let s = id("s");
    store.commit(commit("s", 1, 10)).unwrap();
    let before = store.load(&s).unwrap();

    for bad in ["", "/abs/file.parquet", "ledgers/../../etc/passwd", "..", "a\0b"] {
        let error = store.commit(Commit { files: vec![bad.to_owned()], ..commit("s", 11, 20) }).unwrap_err();
        assert!(matches!(&error, CheckpointError::InvalidFilePath { path, .. } if path == bad), "{error:?}");
        assert_eq!(error.class(), FailureClass::Permanent);
    }
    let twice = vec!["a.parquet".to_owned(), "a.parquet".to_owned()];
    let error = store.commit(Commit { files: twice, ..commit("s", 11, 20) }).unwrap_err();
    assert!(error.to_string().contains("appears twice"), "{error}");

    let dead = DeadLetter { sequence: 21, reason: "bad".into(), path: "dead/21".into() };
    let error = store.commit(Commit { dead_letters: vec![dead], ..commit("s", 11, 20) }).unwrap_err();
    assert!(matches!(error, CheckpointError::DeadLetterOutsideRange { sequence: 21, .. }), "{error:?}");

    assert_eq!(store.load(&s).unwrap(), before);
}

#[test]
fn retrying_the_last_commit_is_acknowledged_once_written() {
    let _failpoints = failpoints_off();
    let (_dir, store) = temp_store();
    let s = id("s");
    store.commit(commit("s", 1, 10)).unwrap();
    let first = store.commit(commit("s", 11, 20)).unwrap();
    let before = store.load(&s).unwrap();
    let replay = store.commit(commit("s", 11, 20)).unwrap();
    assert_eq!(replay, CommitAck { replayed: true, ..first });
    assert_eq!(store.load(&s).unwrap(), before);

    // Same range, different content: not a replay.
    let different = Commit { analytics_state: b"other".to_vec(), ..commit("s", 11, 20) };
    assert!(matches!(store.commit(different), Err(CheckpointError::NotContiguous { expected: 21, .. })));
    // An older commit is not a replay either.
    assert!(matches!(store.commit(commit("s", 1, 10)), Err(CheckpointError::NotContiguous { .. })));
}

#[test]
fn two_streams_are_isolated() {
    let _failpoints = failpoints_off();
    let (_dir, store) = temp_store();
    // Ids that are prefixes of each other, as bytes.
    let (a, ab, a_dot_b) = (id("a"), id("ab"), id("a.b"));
    store.commit(commit("a", 1, 10)).unwrap();
    store.commit(commit("ab", 500, 510)).unwrap();
    store.commit(commit("a", 11, 20)).unwrap();
    store.commit(commit("a.b", 7, 7)).unwrap();

    let checkpoint_a = store.load(&a).unwrap().unwrap();
    assert_eq!((checkpoint_a.first_ledger, checkpoint_a.last_ledger, checkpoint_a.commits), (1, 20, 2));
    assert_eq!(checkpoint_a.files.len(), 4);
    assert!(checkpoint_a.files.iter().all(|file| !file.contains("-500-")));
    let checkpoint_ab = store.load(&ab).unwrap().unwrap();
    assert_eq!((checkpoint_ab.first_ledger, checkpoint_ab.last_ledger, checkpoint_ab.commits), (500, 510, 1));
    assert_eq!(checkpoint_ab.analytics_state, b"state after 510");
    assert_eq!(store.resume_from(&a_dot_b, 0).unwrap(), 8);
    // Stream "ab"'s high-water mark does not constrain stream "a".
    assert!(matches!(
        store.commit(commit("a", 511, 520)),
        Err(CheckpointError::NotContiguous { expected: 21, .. })
    ));
    store.mark_published(&a).unwrap();
    assert_eq!(store.load(&ab).unwrap().unwrap().pending.len(), 2);
    assert_eq!(store.streams().unwrap(), vec![a, a_dot_b, ab]);
}

#[test]
fn reset_deletes_only_one_stream() {
    let _failpoints = failpoints_off();
    let (dir, store) = temp_store();
    let (a, ab) = (id("a"), id("ab"));
    store.commit(commit("a", 1, 10)).unwrap();
    store.commit(commit("a", 11, 20)).unwrap();
    store.commit(commit("ab", 1, 10)).unwrap();
    let kept = store.load(&ab).unwrap();

    assert!(store.reset(&a).unwrap());
    assert_eq!(store.load(&a).unwrap(), None);
    assert_eq!(store.resume_from(&a, 42).unwrap(), 42);
    assert_eq!(store.load(&ab).unwrap(), kept);
    assert_eq!(store.streams().unwrap(), vec![ab.clone()]);
    assert!(!store.reset(&a).unwrap(), "nothing left to delete");
    // No key of "a" is left in any tree.
    for tree in [&store.progress, &store.commits, &store.analytics] {
        assert!(tree.iter().keys().all(|key| !key.unwrap().starts_with(b"a/")));
        assert!(tree.get(b"a").unwrap().is_none());
    }

    // The stream starts afresh, anywhere, and the reset survives a reopen.
    store.commit(commit("a", 300, 310)).unwrap();
    let store = reopen(&dir, store);
    let fresh = store.load(&a).unwrap().unwrap();
    assert_eq!((fresh.first_ledger, fresh.last_ledger, fresh.commits, fresh.files.len()), (300, 310, 1, 2));
    assert_eq!(store.load(&ab).unwrap(), kept);
}

#[test]
fn reopen_after_drop_keeps_everything() {
    let _failpoints = failpoints_off();
    let (dir, store) = temp_store();
    let dead = DeadLetter { sequence: 15, reason: "malformed xdr".into(), path: "dead/15.xdr".into() };
    store.commit(commit("a", 1, 10)).unwrap();
    store.mark_published(&id("a")).unwrap();
    store.commit(Commit { dead_letters: vec![dead], ..commit("a", 11, 20) }).unwrap();
    store.commit(commit("b", 5, 6)).unwrap();
    let before = ["a", "b"].map(|s| store.load(&id(s)).unwrap());

    let store = reopen(&dir, store);
    let after = ["a", "b"].map(|s| store.load(&id(s)).unwrap());
    assert_eq!(after, before);
    assert_eq!(after[0].as_ref().unwrap().pending, commit("a", 11, 20).files);
    assert_eq!(after[0].as_ref().unwrap().dead_letters.len(), 1);
    assert_eq!(store.resume_from(&id("a"), 0).unwrap(), 21);
    store.commit(commit("a", 21, 30)).unwrap();
}

#[test]
fn undecodable_values_are_permanent_errors_naming_the_key() {
    let _failpoints = failpoints_off();
    let (_dir, store) = temp_store();
    let s = id("s");
    store.commit(commit("s", 1, 10)).unwrap();

    store.commits.insert(keys::commit(&s, 0), &[1u8, b'x'][..]).unwrap();
    let error = store.load(&s).unwrap_err();
    assert!(matches!(error, CheckpointError::Decode { .. }), "{error:?}");
    assert_eq!(error.class(), FailureClass::Permanent);
    assert!(error.to_string().contains("s/00000000000000000000"), "{error}");

    store.progress.insert(keys::progress(&s), &[9u8][..]).unwrap();
    for error in [
        store.load(&s).unwrap_err(),
        store.resume_from(&s, 0).unwrap_err(),
        store.commit(commit("s", 11, 20)).unwrap_err(),
    ] {
        assert!(matches!(&error, CheckpointError::Corrupt { key, .. } if key == "s"), "{error:?}");
        assert_eq!(error.class(), FailureClass::Permanent);
    }
    // reset still clears a damaged stream.
    assert!(store.reset(&s).unwrap());
    store.commit(commit("s", 1, 10)).unwrap();

    store.progress.insert(b"not/an id", &[1u8][..]).unwrap();
    assert!(matches!(store.streams(), Err(CheckpointError::Corrupt { .. })));
}

#[test]
fn a_missing_commit_record_is_reported() {
    let _failpoints = failpoints_off();
    let (_dir, store) = temp_store();
    let s = id("s");
    store.commit(commit("s", 1, 10)).unwrap();
    store.commit(commit("s", 11, 20)).unwrap();
    store.commits.remove(keys::commit(&s, 1)).unwrap();
    let error = store.load(&s).unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
}

/// The checkpoint of one stream as a plain value: what the store must return.
#[derive(Debug, Clone, Default)]
struct Model {
    first_ledger: u32,
    last_ledger: u32,
    files: Vec<String>,
    pending: Vec<String>,
    analytics_state: Vec<u8>,
    dead_letters: Vec<DeadLetter>,
    commits: u64,
    last_commit: Option<Commit>,
}

#[derive(Debug, Clone)]
enum Op {
    /// A commit `offset` ledgers away from where the stream expects it (0: contiguous).
    Commit {
        stream: usize,
        offset: i64,
        len: u32,
        files: usize,
        dead_letter: bool,
        state: u8,
    },
    /// The last commit again, unchanged.
    Retry {
        stream: usize,
    },
    MarkPublished {
        stream: usize,
    },
    Reset {
        stream: usize,
    },
    Reopen,
}

const STREAMS: [&str; 3] = ["a", "ab", "a.b"];

fn op() -> impl Strategy<Value = Op> {
    let stream = 0..STREAMS.len();
    let offset = prop_oneof![8 => Just(0i64), 1 => -15i64..15];
    prop_oneof![
        8 => (stream.clone(), offset, 1u32..20, 0usize..3, any::<bool>(), any::<u8>()).prop_map(
            |(stream, offset, len, files, dead_letter, state)| Op::Commit { stream, offset, len, files, dead_letter, state }
        ),
        1 => stream.clone().prop_map(|stream| Op::Retry { stream }),
        3 => stream.clone().prop_map(|stream| Op::MarkPublished { stream }),
        1 => stream.prop_map(|stream| Op::Reset { stream }),
        1 => Just(Op::Reopen),
    ]
}

fn generated_commit(
    stream: usize,
    first: u32,
    len: u32,
    files: usize,
    dead_letter: bool,
    state: u8,
) -> Commit {
    let last = first.saturating_add(len - 1);
    let name = STREAMS[stream];
    Commit {
        stream: id(name),
        range: range(first, last),
        files: (0..files).map(|i| format!("t{i}/{name}-{first}-{last}.parquet")).collect(),
        analytics_state: vec![state; usize::from(state % 4)],
        dead_letters: if dead_letter {
            vec![DeadLetter {
                sequence: last,
                reason: format!("ledger {last} is bad"),
                path: format!("dead/{last}"),
            }]
        } else {
            Vec::new()
        },
    }
}

/// What the model expects of `commit`: `Some(replayed)` when accepted.
fn model_commit(model: &mut BTreeMap<usize, Model>, stream: usize, commit: &Commit) -> Option<bool> {
    let entry = model.entry(stream).or_default();
    if entry.commits > 0 && commit.range.first() != entry.last_ledger + 1 {
        return (entry.last_commit.as_ref() == Some(commit)).then_some(true);
    }
    if entry.commits == 0 {
        entry.first_ledger = commit.range.first();
    }
    entry.last_ledger = commit.range.last();
    entry.files.extend(commit.files.iter().cloned());
    entry.pending = commit.files.clone();
    entry.analytics_state = commit.analytics_state.clone();
    entry.dead_letters.extend(commit.dead_letters.iter().cloned());
    entry.commits += 1;
    entry.last_commit = Some(commit.clone());
    Some(false)
}

fn check_against_model(store: &CheckpointStore, model: &BTreeMap<usize, Model>) -> Result<(), TestCaseError> {
    for (index, name) in STREAMS.iter().enumerate() {
        let stream = id(name);
        let loaded = store.load(&stream).unwrap();
        match model.get(&index).filter(|m| m.commits > 0) {
            None => {
                prop_assert_eq!(loaded, None);
                prop_assert_eq!(store.resume_from(&stream, 77).unwrap(), 77);
            }
            Some(expected) => {
                let loaded = loaded.expect("the model has a checkpoint");
                prop_assert_eq!(&loaded.stream, &stream);
                prop_assert_eq!(loaded.first_ledger, expected.first_ledger);
                prop_assert_eq!(loaded.last_ledger, expected.last_ledger);
                prop_assert_eq!(&loaded.files, &expected.files);
                prop_assert_eq!(&loaded.pending, &expected.pending);
                prop_assert_eq!(&loaded.analytics_state, &expected.analytics_state);
                prop_assert_eq!(&loaded.dead_letters, &expected.dead_letters);
                prop_assert_eq!(loaded.commits, expected.commits);
                prop_assert_eq!(store.resume_from(&stream, 77).unwrap(), expected.last_ledger + 1);
            }
        }
    }
    let mut expected_streams: Vec<StreamId> =
        model.iter().filter(|(_, m)| m.commits > 0).map(|(index, _)| id(STREAMS[*index])).collect();
    expected_streams.sort();
    prop_assert_eq!(store.streams().unwrap(), expected_streams);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random commits (mostly contiguous, some not), retries, publications, resets and reopens
    /// on three streams, compared after every step with a plain in-memory model.
    #[test]
    fn random_commit_sequences_match_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let _failpoints = failpoints_off();
        let (dir, mut store) = temp_store();
        let mut model: BTreeMap<usize, Model> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Commit { stream, offset, len, files, dead_letter, state } => {
                    let expected_first = model.get(&stream).filter(|m| m.commits > 0)
                        .map_or(1_000 * stream as i64 + 1, |m| i64::from(m.last_ledger) + 1);
                    let first = u32::try_from((expected_first + offset).max(0)).unwrap();
                    let commit = generated_commit(stream, first, len, files, dead_letter, state);
                    let expected = model_commit(&mut model, stream, &commit);
                    match (store.commit(commit), expected) {
                        (Ok(ack), Some(replayed)) => prop_assert_eq!(ack.replayed, replayed),
                        (Err(CheckpointError::NotContiguous { .. }), None) => {}
                        (got, expected) => prop_assert!(false, "commit gave {:?}, the model expected {:?}", got, expected),
                    }
                }
                Op::Retry { stream } => {
                    if let Some(last) = model.get(&stream).and_then(|m| m.last_commit.clone()) {
                        prop_assert_eq!(model_commit(&mut model, stream, &last), Some(true));
                        prop_assert!(store.commit(last).unwrap().replayed);
                    }
                }
                Op::MarkPublished { stream } => {
                    store.mark_published(&id(STREAMS[stream])).unwrap();
                    if let Some(m) = model.get_mut(&stream) {
                        m.pending.clear();
                    }
                }
                Op::Reset { stream } => {
                    let existed = model.remove(&stream).is_some_and(|m| m.commits > 0);
                    prop_assert_eq!(store.reset(&id(STREAMS[stream])).unwrap(), existed);
                }
                Op::Reopen => store = reopen(&dir, store),
            }
            check_against_model(&store, &model)?;
        }
    }
}

/// Every commit failpoint, in one test: `fail`'s registry is global to the process.
#[cfg(feature = "failpoints")]
#[test]
fn failpoints_around_the_commit() {
    let scenario = fail::FailScenario::setup();
    let (dir, store) = temp_store();
    let s = id("s");
    store.commit(commit("s", 1, 10)).unwrap();
    store.mark_published(&s).unwrap();
    let committed = store.load(&s).unwrap();

    // Before the commit: nothing is written.
    fail::cfg(BEFORE_COMMIT, "return").unwrap();
    let error = store.commit(commit("s", 11, 20)).unwrap_err();
    assert!(matches!(error, CheckpointError::Injected(BEFORE_COMMIT)), "{error:?}");
    assert_eq!(error.class(), FailureClass::Transient);
    assert_eq!(store.load(&s).unwrap(), committed);
    fail::remove(BEFORE_COMMIT);

    // After the transaction, before the flush: the caller sees an error, but the commit is
    // visible to this process (a crash now would lose it; recovery handles both outcomes).
    fail::cfg(AFTER_TRANSACTION, "return").unwrap();
    let error = store.commit(commit("s", 11, 20)).unwrap_err();
    assert!(matches!(error, CheckpointError::Injected(AFTER_TRANSACTION)), "{error:?}");
    assert_eq!(error.class(), FailureClass::Transient);
    let visible = store.load(&s).unwrap().unwrap();
    assert_eq!((visible.last_ledger, visible.commits), (20, 2));
    assert_eq!(visible.pending, commit("s", 11, 20).files);
    assert_eq!(visible.analytics_state, b"state after 20");
    assert_eq!(store.resume_from(&s, 1).unwrap(), 21);
    fail::remove(AFTER_TRANSACTION);
    // Retrying the same commit is acknowledged and flushes it.
    let ack = store.commit(commit("s", 11, 20)).unwrap();
    assert!(ack.replayed);
    assert_eq!(ack.commits, 2);

    // After the flush: durable although the caller saw an error.
    fail::cfg(AFTER_FLUSH, "return").unwrap();
    let error = store.commit(commit("s", 21, 30)).unwrap_err();
    assert!(matches!(error, CheckpointError::Injected(AFTER_FLUSH)), "{error:?}");
    fail::remove(AFTER_FLUSH);
    let store = reopen(&dir, store);
    assert_eq!(store.resume_from(&s, 1).unwrap(), 31);

    // A `panic` action unwinds out of commit; the store stays usable.
    fail::cfg(AFTER_TRANSACTION, "panic").unwrap();
    let panicked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.commit(commit("s", 31, 40))));
    assert!(panicked.is_err());
    fail::remove(AFTER_TRANSACTION);
    assert_eq!(store.load(&s).unwrap().unwrap().last_ledger, 40);
    store.commit(commit("s", 41, 50)).unwrap();
    assert_eq!(store.resume_from(&s, 1).unwrap(), 51);

    scenario.teardown();
}

/// A process killed while sled wrote a snapshot leaves a partial `snap.<lsn>.generating`
/// file, which sled 0.34 reads on open and reports as corruption. The store removes it and
/// opens from the log: nothing committed is lost.
#[test]
fn a_snapshot_left_half_written_by_a_killed_process_does_not_lose_the_checkpoint() {
    let _failpoints = failpoints_off();
    let (dir, store) = temp_store();
    store.commit(commit("s", 10, 19)).unwrap();
    store.commit(commit("s", 20, 29)).unwrap();
    drop(store);
    std::thread::sleep(Duration::from_millis(50)); // sled's threads let go of the directory
    let torn = dir.path().join("checkpoints").join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&torn, b"half a snapshot, no crc").unwrap();
    let probe = sled::open(dir.path().join("checkpoints"));
    assert!(matches!(probe, Err(sled::Error::Corruption { .. })), "sled alone refuses it: {probe:?}");
    drop(probe);
    std::fs::write(&torn, b"half a snapshot, no crc").unwrap();
    let store = reopen(&dir, CheckpointStore::open(dir.path().join("checkpoints")).unwrap());
    assert!(!torn.exists(), "the partial snapshot was removed");
    let checkpoint = store.load(&id("s")).unwrap().expect("the checkpoint survived");
    assert_eq!(checkpoint.last_ledger, 29);
}
