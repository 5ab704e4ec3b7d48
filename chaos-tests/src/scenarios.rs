//! The chaos scenarios. Each one takes a fresh directory, the stream to run and its
//! [`Reference`], drives the binary through its faults, and returns an [`Outcome`]: what it
//! injected (by kind, counted honestly: kills that landed on a running process, failpoint
//! fires the binary reported, objects damaged), the restarts, and the [`Comparison`] of the
//! final archive with the reference. A scenario returns an error when its expectation about
//! the faults themselves fails (a failpoint that never fired, a corrupt object the run did not
//! stop on, `ledgerflow verify` failing); the archive's exactness is left to
//! [`Outcome::ensure_exact`], so the long profile can count losses instead of stopping.
//!
//! 1. [`kill_at_random_instants`]: SIGKILL at seeded random instants, restart, repeat.
//! 2. [`crash_at_failpoint`] (SIGKILL while a failpoint's `sleep` holds the process at that
//!    step) and [`error_at_failpoint`] (`return`/`panic` actions the supervisors retry).
//! 3. [`source_transient`], [`damaged_object`]: transient read errors and stalls; truncated,
//!    bit-flipped, oversized and missing store objects under both `on_corrupt` policies.
//! 4. [`storage_outage`] (an archive or checkpoint failpoint that keeps failing until the retry
//!    budget is spent) and [`slow_archive_memory`] (backpressure keeps VmRSS flat).
//! 5. Worker panics go through [`error_at_failpoint`]; [`breaker_opens_and_recovers`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ledgerflow::batch::OnCorrupt;
use rand::Rng;

use crate::binary::{Finished, Ledgerflow};
use crate::faults::{StoreObject, failpoints_env, object_sizes};
use crate::procfs::{RssSampler, in_failpoint_sleep};
use crate::stream::{FIRST, RUN_TIMEOUT, Reference, StreamSpec, TestStream, ensure_success};
use crate::summary::{Comparison, compare, library_verify, summarize};

/// How long a crash scenario waits for its failpoint to fire.
const FIRE_TIMEOUT: Duration = Duration::from_secs(60);

/// What one scenario injected and found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub name: String,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Processes started after one was killed or stopped by a fault.
    pub process_restarts: u64,
    /// Worker restarts the binary's supervisors reported.
    pub supervisor_restarts: u64,
    /// Ledgers archived in the end.
    pub ledgers: u64,
    pub comparison: Comparison,
}

impl Outcome {
    fn new(name: impl Into<String>) -> Self {
        Outcome { name: name.into(), ..Outcome::default() }
    }

    fn add(&mut self, kind: impl Into<String>, count: u64) {
        if count > 0 {
            *self.faults.entry(kind.into()).or_insert(0) += count;
        }
    }

    /// All faults injected.
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }

    /// An error unless the archive equals the reference exactly.
    pub fn ensure_exact(&self) -> Result<()> {
        self.comparison.ensure_exact(&self.name)
    }

    /// Adds the counters of a completed run: failures fired (under `kind`), restarts.
    fn count_run(&mut self, finished: &Finished, kind: &str) {
        if let Some(counters) = finished.counters() {
            self.add(kind, counters.failures.unwrap_or(0));
            self.supervisor_restarts += counters.restarts.unwrap_or(0);
        }
    }
}

/// The final checks of every scenario: `ledgerflow verify` exits 0 (and lists exactly
/// `dead_letters`), the library's verify agrees, and the archive compared with `expected`.
fn final_check(
    bin: &Ledgerflow,
    stream: &TestStream,
    reference: &Reference,
    dead_letters: &BTreeSet<u32>,
    outcome: &mut Outcome,
) -> Result<()> {
    let verify = bin.verify(&stream.config_path)?;
    ensure!(verify.ok(), "{}: ledgerflow verify failed: {:#}", outcome.name, verify.report);
    let listed: BTreeSet<u32> = verify.dead_letters().into_iter().collect();
    ensure!(
        &listed == dead_letters,
        "{}: verify lists dead letters {listed:?}, expected {dead_letters:?}",
        outcome.name
    );
    let report = library_verify(&stream.config)?;
    ensure!(report.is_ok(), "{}: the library's verify failed: {report:#?}", outcome.name);
    let range = report.range.context("nothing committed")?;
    ensure!(
        (range.first(), range.last()) == (reference.first, reference.last),
        "{}: the checkpoint covers {range}, expected {}-{}",
        outcome.name,
        reference.first,
        reference.last
    );
    let actual = summarize(stream.root())?;
    outcome.ledgers = actual.ledgers().len() as u64;
    outcome.comparison = if dead_letters.is_empty() {
        compare(&reference.summary, &actual, true)
    } else {
        compare(&reference.summary.without_ledgers(dead_letters), &actual, false)
    };
    Ok(())
}

/// Runs the stream to completion (no failpoint), counting it as a process restart.
fn complete(bin: &Ledgerflow, stream: &TestStream, outcome: &mut Outcome, what: &str) -> Result<Finished> {
    outcome.process_restarts += 1;
    let finished = bin.run(&stream.config_path, "", RUN_TIMEOUT)?;
    ensure_success(&finished, &format!("{}: {what}", outcome.name))?;
    outcome.count_run(&finished, "error at failpoint (fired)");
    Ok(finished)
}

/// Scenario 1: `kills` SIGKILLs, each at an instant drawn from `rng` in
/// `[0, 1.6 * reference / kills]` after the process started (so the kills spread over the
/// stream, through startup, recovery, batches and commits alike), each followed by a restart
/// on the same directories; then a run to completion. After every kill the archive must
/// already be consistent with its checkpoint, and the checkpoint never goes back. A kill that
/// lands after the process ended on its own is not counted; the loop stops once a run
/// completes.
pub fn kill_at_random_instants(
    bin: &Ledgerflow,
    dir: &Path,
    spec: &StreamSpec,
    reference: &Reference,
    kills: u32,
    rng: &mut impl Rng,
    failpoints: &str,
) -> Result<Outcome> {
    let mut outcome = Outcome::new(format!("kill -9 x{kills}"));
    let stream = TestStream::create(dir, spec)?;
    let window = reference.duration.mul_f64(1.6 / f64::from(kills.max(1)));
    let mut high_water_mark = None;
    for attempt in 0..kills {
        let delay = window.mul_f64(rng.random::<f64>());
        let mut running = bin.spawn_run(&stream.config_path, failpoints, &[], &[])?;
        let exited = running.poll_until(delay, |_| false)?;
        if attempt > 0 {
            outcome.process_restarts += 1;
        }
        if exited {
            let finished = running.wait(RUN_TIMEOUT)?;
            ensure_success(&finished, &format!("{}: run {attempt}", outcome.name))?;
            outcome.count_run(&finished, "error at failpoint (fired)");
            break;
        }
        let (killed, _) = running.kill9()?;
        if !killed {
            break;
        }
        outcome.add("kill -9 at a random instant", 1);
        let report = library_verify(&stream.config)?;
        ensure!(
            report.is_ok(),
            "{}: after kill {attempt} the archive is inconsistent: {report:#?}",
            outcome.name
        );
        let mark = report.range.map(|r| r.last());
        ensure!(
            mark >= high_water_mark,
            "{}: the checkpoint went back from {high_water_mark:?} to {mark:?}",
            outcome.name
        );
        high_water_mark = mark;
    }
    if !failpoints.is_empty() {
        outcome.process_restarts += 1;
        let finished = bin.run(&stream.config_path, failpoints, RUN_TIMEOUT)?;
        ensure_success(&finished, &format!("{}: with {failpoints}", outcome.name))?;
        outcome.count_run(&finished, "error at failpoint (fired)");
    }
    complete(bin, &stream, &mut outcome, "the final run")?;
    final_check(bin, &stream, reference, &BTreeSet::new(), &mut outcome)?;
    Ok(outcome)
}

/// Scenario 2, crash variant: `failpoint` is armed as `skip*off->sleep(60000)`, so on its
/// `skip + 1`-th hit the process stops right at that step; it is killed with SIGKILL while it
/// sleeps there (detected through `/proc`), then restarted without faults.
pub fn crash_at_failpoint(
    bin: &Ledgerflow,
    dir: &Path,
    spec: &StreamSpec,
    reference: &Reference,
    failpoint: &str,
    skip: u32,
) -> Result<Outcome> {
    let mut outcome = Outcome::new(format!("kill -9 at {failpoint} (hit {})", skip + 1));
    let stream = TestStream::create(dir, spec)?;
    let armed = failpoints_env(&[(failpoint, format!("{skip}*off->sleep(60000)"))]);
    let mut running = bin.spawn_run(&stream.config_path, &armed, &[], &[])?;
    if !running.poll_until(FIRE_TIMEOUT, in_failpoint_sleep)? {
        let finished = running.wait(RUN_TIMEOUT)?;
        bail!(
            "{}: the failpoint never fired (FAILPOINTS={armed}): the process exited with {:?} \
             (is the binary built with --features failpoints, and does it arm FAILPOINTS?); log tail:\n{}",
            outcome.name,
            finished.status,
            finished.tail(10)
        );
    }
    let (killed, _) = running.kill9()?;
    ensure!(killed, "{}: the process ended before the kill", outcome.name);
    outcome.add(format!("kill -9 at {failpoint}"), 1);
    let report = library_verify(&stream.config)?;
    ensure!(report.is_ok(), "{}: after the kill the archive is inconsistent: {report:#?}", outcome.name);
    complete(bin, &stream, &mut outcome, "the restart")?;
    final_check(bin, &stream, reference, &BTreeSet::new(), &mut outcome)?;
    Ok(outcome)
}

/// Scenario 2 (error variant), 4 (storage errors) and 5 (worker panics): `failpoint` armed with
/// `action` (e.g. `1*off->2*return->off`, `1*off->1*panic->off`); the process must not die, the
/// supervisors retry and the run completes exactly once. `expected_fires`: how many failures
/// the binary must report at least (checked when it reports them).
pub fn error_at_failpoint(
    bin: &Ledgerflow,
    dir: &Path,
    spec: &StreamSpec,
    reference: &Reference,
    failpoint: &str,
    action: &str,
    expected_fires: u64,
) -> Result<Outcome> {
    let kind =
        if action.contains("panic") { "panic at failpoint (fired)" } else { "error at failpoint (fired)" };
    let mut outcome = Outcome::new(format!("{failpoint}={action}"));
    let stream = TestStream::create(dir, spec)?;
    let armed = failpoints_env(&[(failpoint, action.to_owned())]);
    let finished = bin.run(&stream.config_path, &armed, RUN_TIMEOUT)?;
    ensure_success(&finished, &format!("{}: the run (the process must survive the fault)", outcome.name))?;
    if let Some(failures) = finished.counters().and_then(|c| c.failures) {
        ensure!(
            failures >= expected_fires,
            "{}: the binary reports {failures} failures, the failpoint should have fired {expected_fires} times",
            outcome.name
        );
    }
    outcome.count_run(&finished, kind);
    final_check(bin, &stream, reference, &BTreeSet::new(), &mut outcome)?;
    Ok(outcome)
}

/// Scenario 3: transient source faults: read errors, then a stall, at `fetch:before_read`.
pub fn source_transient(
    bin: &Ledgerflow,
    dir: &Path,
    spec: &StreamSpec,
    reference: &Reference,
) -> Result<Outcome> {
    let mut outcome = error_at_failpoint(
        bin,
        dir,
        spec,
        reference,
        "fetch:before_read",
        "1*off->3*return->1*sleep(300)->2*off->1*return->off",
        4,
    )?;
    outcome.name = "source: transient errors and a stall".into();
    outcome.add("source stall (fired)", 1);
    Ok(outcome)
}

/// How a store object is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Cut to half its size.
    Truncate,
    /// 16 bytes inverted from byte 4 on: the zstd frame header and the first block header.
    /// (A flip in the middle of the data goes unnoticed today: `ledgerflow generate` writes
    /// frames without a content checksum, and a flipped byte in a signature still decodes.)
    Flip,
    /// Deleted.
    Delete,
    /// `decode.max_object_bytes` set one byte below the largest object (stored or
    /// decompressed): every object over it is refused.
    Oversize,
}

impl Damage {
    pub const ALL: [Damage; 4] = [Damage::Truncate, Damage::Flip, Damage::Delete, Damage::Oversize];

    pub fn name(self) -> &'static str {
        match self {
            Damage::Truncate => "truncated object",
            Damage::Flip => "corrupt object (flipped bytes)",
            Damage::Delete => "missing object",
            Damage::Oversize => "oversized object",
        }
    }
}

/// Copies the store at `from` to `to` (objects are damaged in the copy).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Scenario 3: one store object damaged (ledger `target`, or the oversized ones), under
/// `policy`.
///
/// - `fail` (and any missing object): the run exits non-zero with an error naming the object
///   or the ledger, the checkpoint stays below the first bad ledger with nothing beyond it
///   archived, and the archive equals the reference up to there; then the object is repaired
///   (or the limit lifted) and a restart completes exactly.
/// - `dead_letter`: the run completes, `verify` lists exactly the bad ledgers as dead letters,
///   and every other ledger is there exactly once with the reference's rows.
#[allow(clippy::too_many_arguments)]
pub fn damaged_object(
    bin: &Ledgerflow,
    dir: &Path,
    store: &Path,
    spec: &StreamSpec,
    reference: &Reference,
    damage: Damage,
    policy: OnCorrupt,
    target: u32,
) -> Result<Outcome> {
    let mut outcome = Outcome::new(format!("{} under on_corrupt = {policy}", damage.name()));
    let copy = dir.join("store");
    copy_dir(store, &copy)?;
    let mut spec = StreamSpec { store: Some(copy.clone()), on_corrupt: policy, ..spec.clone() };
    let object = StoreObject::of(&copy, target)?;
    let bad: BTreeSet<u32> = match damage {
        Damage::Truncate => {
            object.truncate(object.len() / 2)?;
            [target].into()
        }
        Damage::Flip => {
            // Bit rot in the middle of the object: `ledgerflow generate` writes zstd frames
            // with a content checksum, so the reader detects it wherever it lands.
            object.flip(object.len() / 2, 16)?;
            [target].into()
        }
        Damage::Delete => {
            object.delete()?;
            [target].into()
        }
        Damage::Oversize => {
            let sizes = object_sizes(&copy)?;
            let largest = sizes.values().map(|&(s, d)| s.max(d)).max().context("empty store")?;
            let limit = largest - 1;
            spec.max_object_bytes = Some(limit);
            sizes.iter().filter(|(_, (s, d))| (*s).max(*d) > limit).map(|(l, _)| *l).collect()
        }
    };
    outcome.add(damage.name(), bad.len() as u64);
    let first_bad = *bad.first().context("no damaged ledger")?;
    let mut stream = TestStream::create(dir, &spec)?;
    let finished = bin.run(&stream.config_path, "", RUN_TIMEOUT)?;

    if policy == OnCorrupt::DeadLetter && damage != Damage::Delete {
        ensure_success(&finished, &format!("{}: the run", outcome.name))?;
        if let Some(dead) = finished.counters().and_then(|c| c.dead_letters) {
            ensure!(
                dead == bad.len() as u64,
                "{}: the binary reports {dead} dead letters, expected {}",
                outcome.name,
                bad.len()
            );
        }
        final_check(bin, &stream, reference, &bad, &mut outcome)?;
        return Ok(outcome);
    }

    // The run stops on the bad object.
    ensure!(
        !finished.status.success(),
        "{}: the run exited 0; expected a failure at ledger {first_bad}",
        outcome.name
    );
    let error = finished.error_line().context("no `error:` line")?.to_owned();
    let names_it = error.contains(&format!("ledger {first_bad}"))
        || error.contains(&StoreObject::key_name(&object.path))
        || error.contains(&first_bad.to_string());
    ensure!(names_it, "{}: the error does not name ledger {first_bad} or its object: {error}", outcome.name);
    if damage == Damage::Delete {
        ensure!(
            error.contains("missing"),
            "{}: the error does not say the object is missing: {error}",
            outcome.name
        );
    }
    let report = library_verify(&stream.config)?;
    ensure!(report.is_ok(), "{}: after the failure the archive is inconsistent: {report:#?}", outcome.name);
    let archived = summarize(stream.root())?;
    if let Some(range) = report.range {
        ensure!(
            range.last() < first_bad,
            "{}: the checkpoint {range} passed the bad ledger {first_bad}",
            outcome.name
        );
        let partial = compare(&reference.summary.through(range.last()), &archived, false);
        partial.ensure_exact(&format!("{} (before the repair)", outcome.name))?;
    }
    ensure!(
        archived.ledgers().iter().all(|&l| l < first_bad),
        "{}: ledgers at or beyond the bad ledger {first_bad} were archived",
        outcome.name
    );

    // Repair and resume.
    match damage {
        Damage::Oversize => {
            spec.max_object_bytes = None;
            stream.reconfigure(&spec)?;
        }
        _ => object.restore()?,
    }
    complete(bin, &stream, &mut outcome, "the restart after the repair")?;
    final_check(bin, &stream, reference, &BTreeSet::new(), &mut outcome)?;
    Ok(outcome)
}

/// Scenario 4: a storage failure that lasts ("disk full", a dead volume): `failpoint` fails
/// after `skip` good hits and keeps failing; with a retry budget the stream stops, the process
/// exits non-zero, the archive is consistent with a checkpoint at or before the outage; once
/// the storage is back (no failpoint), a restart completes exactly.
pub fn storage_outage(
    bin: &Ledgerflow,
    dir: &Path,
    spec: &StreamSpec,
    reference: &Reference,
    failpoint: &str,
    skip: u32,
) -> Result<Outcome> {
    let mut outcome = Outcome::new(format!("storage outage at {failpoint}"));
    let budget = StreamSpec { retry_budget_ms: Some(300), ..spec.clone() };
    let stream = TestStream::create(dir, &budget)?;
    let armed = failpoints_env(&[(failpoint, format!("{skip}*off->return"))]);
    let finished = bin
        .run(&stream.config_path, &armed, Duration::from_secs(30))
        .with_context(|| format!("{}: the retry budget must stop the stream", outcome.name))?;
    ensure!(
        !finished.status.success(),
        "{}: the run exited 0 through a permanent storage outage",
        outcome.name
    );
    outcome.add(format!("storage outage at {failpoint}"), 1);
    let report = library_verify(&stream.config)?;
    ensure!(report.is_ok(), "{}: after the outage the archive is inconsistent: {report:#?}", outcome.name);
    let stream = TestStream::create(dir, spec)?;
    complete(bin, &stream, &mut outcome, "the restart after the outage")?;
    final_check(bin, &stream, reference, &BTreeSet::new(), &mut outcome)?;
    Ok(outcome)
}

/// What [`slow_archive_memory`] measured.
#[derive(Debug, Clone)]
pub struct MemoryReport {
    pub unthrottled_peak: u64,
    pub throttled_peak: u64,
    pub throttled_samples: usize,
    /// Decompressed XDR of the whole store: what an unbounded fetcher would pile up (at least).
    pub store_xdr_bytes: u64,
    pub bound: u64,
}

/// Scenario 4: a slow archive (`archive:before_stage=sleep(stage_ms)` on every file). The
/// credits must hold the fetcher back, so the process's memory stays flat.
///
/// The bound: the same config unthrottled holds at most the same credits' worth in flight, so
/// a throttled run may only exceed its peak by allocator noise (up to ~15 MiB either way
/// between two runs of this config in a debug build here: RSS creeps up over both runs). A fetcher that ignored the credits would instead
/// pile up the store while the archive crawls: its raw objects, their XDR and their Arrow
/// tables, at least twice `store_xdr_bytes` more. The assertion is `throttled_peak <=
/// unthrottled_peak + store_xdr_bytes`, half way, with a store of 20+ MiB of XDR (above the
/// noise; a tighter bound needs the binary's own peak-RSS figure, see the report).
pub fn slow_archive_memory(
    bin: &Ledgerflow,
    dir: &Path,
    store: &Path,
    ledgers: u32,
    stage_ms: u64,
) -> Result<(Outcome, MemoryReport)> {
    let mut outcome = Outcome::new(format!("slow archive (archive:before_stage=sleep({stage_ms}))"));
    let store_xdr_bytes: u64 = object_sizes(store)?.values().map(|&(_, d)| d).sum();
    let spec = StreamSpec {
        batch_ledgers: 10,
        max_in_flight_batches: 4,
        max_ledgers_per_file: 1000,
        ..StreamSpec::datastore(store, ledgers)
    };
    let peak_of = |dir: &Path, failpoints: &str| -> Result<(u64, usize, Finished, TestStream)> {
        let stream = TestStream::create(dir, &spec)?;
        let running = bin.spawn_run(&stream.config_path, failpoints, &[], &[])?;
        let sampler = RssSampler::start(running.pid(), Duration::from_millis(5));
        let finished = running.wait(RUN_TIMEOUT)?;
        let samples = sampler.finish();
        if std::env::var_os("CHAOS_RSS_TRACE").is_some() {
            let step = (samples.len() / 20).max(1);
            let mib: Vec<u64> = samples.iter().step_by(step).map(|b| b >> 20).collect();
            eprintln!("RSS MiB every {step} samples ({failpoints:?}): {mib:?}");
        }
        ensure_success(&finished, failpoints)?;
        Ok((samples.iter().copied().max().unwrap_or(0), samples.len(), finished, stream))
    };
    let (unthrottled_peak, _, _, reference_stream) = peak_of(&dir.join("unthrottled"), "")?;
    let reference = Reference {
        summary: summarize(reference_stream.root())?,
        duration: Duration::ZERO,
        first: FIRST,
        last: FIRST + ledgers - 1,
    };
    let armed = failpoints_env(&[("archive:before_stage", format!("sleep({stage_ms})"))]);
    let (throttled_peak, throttled_samples, _, stream) = peak_of(&dir.join("throttled"), &armed)?;
    let bound = unthrottled_peak + store_xdr_bytes;
    outcome.add("slow archive stage (sleep)", 1);
    final_check(bin, &stream, &reference, &BTreeSet::new(), &mut outcome)?;
    let report = MemoryReport { unthrottled_peak, throttled_peak, throttled_samples, store_xdr_bytes, bound };
    ensure!(
        throttled_samples >= 20,
        "only {throttled_samples} RSS samples: the throttled run was too short to measure"
    );
    ensure!(
        throttled_peak <= bound,
        "backpressure failed: peak RSS {throttled_peak} B with a slow archive, above the bound {bound} B \
         (unthrottled peak {unthrottled_peak} B + the store's {store_xdr_bytes} B of XDR)"
    );
    Ok((outcome, report))
}

/// Scenario 5: `fetch:before_read` fails `fires` times in a row with the source breaker's
/// threshold at 3 and a short cool-down: the JSON logs must show the breaker opening, going
/// half-open after the cool-down, and closing again, in that order; the run completes exactly.
pub fn breaker_opens_and_recovers(
    bin: &Ledgerflow,
    dir: &Path,
    spec: &StreamSpec,
    reference: &Reference,
    fires: u32,
) -> Result<Outcome> {
    let mut outcome = Outcome::new(format!("breaker: fetch:before_read={fires}*return"));
    let spec = StreamSpec { breaker_threshold: 3, breaker_cool_down_ms: 100, ..spec.clone() };
    let stream = TestStream::create(dir, &spec)?;
    let armed = failpoints_env(&[("fetch:before_read", format!("{fires}*return"))]);
    let finished = bin.run(&stream.config_path, &armed, RUN_TIMEOUT)?;
    ensure_success(&finished, &outcome.name)?;
    let events: Vec<_> = finished.events().collect();
    let position = |pred: &dyn Fn(&serde_json::Value) -> bool, after: usize| {
        events.iter().enumerate().skip(after).find(|(_, e)| pred(e)).map(|(i, _)| i)
    };
    let is_source = |e: &serde_json::Value| e["fields"]["stage"] == "source";
    let open = position(&|e| is_source(e) && e["fields"]["to"] == "open", 0)
        .context("no 'breaker changed state' to open in the logs")?;
    let half_open = position(&|e| is_source(e) && e["fields"]["to"] == "half_open", open)
        .context("the breaker never went half-open after opening")?;
    let closed = position(&|e| is_source(e) && e["fields"]["message"] == "breaker closed", half_open)
        .context("the breaker never closed after going half-open")?;
    ensure!(open < half_open && half_open < closed, "breaker transitions out of order");
    if let Some(failures) = finished.counters().and_then(|c| c.failures) {
        ensure!(
            failures == u64::from(fires),
            "the binary reports {failures} failures, {fires} were injected"
        );
    }
    outcome.count_run(&finished, "error at failpoint (fired)");
    outcome.add("breaker opened", 1);
    final_check(bin, &stream, reference, &BTreeSet::new(), &mut outcome)?;
    Ok(outcome)
}
