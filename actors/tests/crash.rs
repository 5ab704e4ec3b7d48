//! Fault injection through the failpoints (`--features failpoints`): every failpoint of every
//! actor and commit step, as a transient error the supervisors retry, and as a crash (the
//! stream stops there) followed by a restart of the tree. Either way the archive ends equal to
//! an uninterrupted run: every ledger exactly once, the same rows, the same analytics.
//!
//! Failpoints are process-global, so the scenarios run one after another in one test.

mod support;

use ledgerflow_actors::RunOutcome;
use support::*;

const FIRST: u32 = 1_000_000;
const LEDGERS: u32 = 60;

/// Every failpoint ledgerflow has, in stream order.
const FAILPOINTS: [&str; 11] = ledgerflow_actors::failpoints::NAMES;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failpoint_as_error_and_as_crash_ends_equal_to_an_uninterrupted_run() {
    let scenario = fail::FailScenario::setup();
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = config(reference_dir.path(), LEDGERS);
    assert!(matches!(run(reference.clone()).await, RunOutcome::Completed { .. }));
    let expected = summarize(&reference.archive.root);
    assert_eq!(expected.rows("ledgers"), u64::from(LEDGERS));

    for failpoint in FAILPOINTS {
        // Transient: fires twice (on its 2nd and 3rd hit); the supervisor restarts the worker,
        // the stream rewinds to the checkpoint and completes.
        let dir = tempfile::tempdir().unwrap();
        let retried = config(dir.path(), LEDGERS);
        fail::cfg(failpoint, "1*off->2*return->off").unwrap();
        let outcome = run(retried.clone()).await;
        fail::remove(failpoint);
        assert!(
            matches!(outcome, RunOutcome::Completed { next } if next == FIRST + LEDGERS),
            "{failpoint}: {outcome:?}"
        );
        assert_complete(&verify(&retried), FIRST, FIRST + LEDGERS - 1);
        assert_eq!(summarize(&retried.archive.root), expected, "{failpoint} as a transient error");

        // Crash: the first failure stops the stream at that point (error or panic); a new tree
        // on the same directories recovers and completes.
        for action in ["return", "panic"] {
            let dir = tempfile::tempdir().unwrap();
            let mut crashing = config(dir.path(), LEDGERS);
            crash_on_first_failure(&mut crashing);
            fail::cfg(failpoint, &format!("2*off->1*{action}->off")).unwrap();
            let outcome = run(crashing.clone()).await;
            fail::remove(failpoint);
            assert!(matches!(outcome, RunOutcome::Failed(_)), "{failpoint} {action}: {outcome:?}");
            let partial = verify(&crashing);
            assert!(partial.is_ok(), "{failpoint} {action}: after the crash {partial:#?}");

            let restarted = config(dir.path(), LEDGERS);
            let outcome = run(restarted.clone()).await;
            assert!(
                matches!(outcome, RunOutcome::Completed { .. }),
                "{failpoint} {action} restart: {outcome:?}"
            );
            assert_complete(&verify(&restarted), FIRST, FIRST + LEDGERS - 1);
            assert_eq!(summarize(&restarted.archive.root), expected, "{failpoint} {action} then restart");
        }
    }
    scenario.teardown();
}
