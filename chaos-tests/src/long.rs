//! The long profile: the scenarios of [`crate::scenarios`] repeated with seeded random choices
//! until at least `kills` SIGKILLs landed and `faults` faults were injected in total, then a
//! summary table.
//!
//! Rounds are drawn from the seed: SIGKILL at random instants (some with failpoints firing at
//! random rates in the same runs), SIGKILL at a random commit step, random failpoints firing
//! at random rates (`P%return`, `P%panic`) until the run completes, damaged store objects
//! under both policies, storage outages, the breaker. Every round ends compared with an
//! uninterrupted reference run. Faults are counted honestly: a kill counts when it hit a
//! running process, a failpoint fire when the binary's `run complete` line reports it (fires
//! in killed runs are not counted), a damaged object once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ledgerflow::batch::OnCorrupt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::binary::Ledgerflow;
use crate::faults::{COMMIT_STEPS, FAILPOINTS, failpoints_env};
use crate::scenarios::{self, Damage, Outcome};
use crate::stream::{FIRST, Reference, StreamSpec};

/// Scale and targets of a long run.
#[derive(Debug, Clone)]
pub struct LongConfig {
    pub seed: u64,
    /// SIGKILLs to land, at least.
    pub kills: u64,
    /// Faults to inject in total (kills included), at least.
    pub faults: u64,
    /// Ledgers per stream.
    pub ledgers: u32,
    pub transactions_per_ledger: u32,
    /// SIGKILLs per stream in a kill round.
    pub kills_per_stream: u32,
    /// Stop after this long even if the targets are not met (reported as a failure).
    pub max_duration: Duration,
    /// Where the streams run (default: a temp directory).
    pub work_dir: Option<PathBuf>,
}

/// Totals over all rounds.
#[derive(Debug, Default)]
pub struct LongReport {
    pub seed: u64,
    pub rounds: u64,
    pub faults: BTreeMap<String, u64>,
    pub process_restarts: u64,
    pub supervisor_restarts: u64,
    pub ledgers: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub rows_differ: u64,
    pub analytics_mismatches: u64,
    /// Rounds that failed an expectation, with the error.
    pub errors: Vec<String>,
    pub elapsed: Duration,
    pub targets_met: bool,
}

impl LongReport {
    pub fn kills(&self) -> u64 {
        self.faults.iter().filter(|(k, _)| k.starts_with("kill -9")).map(|(_, v)| v).sum()
    }

    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }

    pub fn passed(&self) -> bool {
        self.targets_met
            && self.errors.is_empty()
            && self.lost == 0
            && self.duplicated == 0
            && self.rows_differ == 0
            && self.analytics_mismatches == 0
    }

    fn absorb(&mut self, outcome: &Outcome) {
        self.rounds += 1;
        for (kind, count) in &outcome.faults {
            *self.faults.entry(kind.clone()).or_insert(0) += count;
        }
        self.process_restarts += outcome.process_restarts;
        self.supervisor_restarts += outcome.supervisor_restarts;
        self.ledgers += outcome.ledgers;
        self.lost += outcome.comparison.lost.len() as u64;
        self.duplicated += outcome.comparison.duplicated.len() as u64;
        self.rows_differ += outcome.comparison.rows_differ.len() as u64;
        if !outcome.comparison.analytics_equal {
            self.analytics_mismatches += 1;
        }
        if let Err(err) = outcome.ensure_exact() {
            self.errors.push(format!("{err:#}"));
        }
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("| {k:<44} | {v:>12} |\n"));
        out.push_str(&format!(
            "ledgerflow chaos, long profile: seed {}, {} rounds, {:.0} s\n\n",
            self.seed,
            self.rounds,
            self.elapsed.as_secs_f64()
        ));
        out.push_str(&format!(
            "| {:<44} | {:>12} |\n|{}|{}|\n",
            "fault injected",
            "count",
            "-".repeat(46),
            "-".repeat(14)
        ));
        for (kind, count) in &self.faults {
            line(&mut out, kind, count.to_string());
        }
        line(&mut out, "**total faults** (kills included)", self.total_faults().to_string());
        line(&mut out, "kills (kill -9 that hit a running process)", self.kills().to_string());
        line(&mut out, "process restarts", self.process_restarts.to_string());
        line(&mut out, "worker restarts (supervisors)", self.supervisor_restarts.to_string());
        line(&mut out, "ledgers verified (sum over streams)", self.ledgers.to_string());
        line(&mut out, "lost", self.lost.to_string());
        line(&mut out, "duplicated", self.duplicated.to_string());
        line(&mut out, "rows differing from the reference", self.rows_differ.to_string());
        line(
            &mut out,
            "analytics equal",
            if self.analytics_mismatches == 0 {
                "yes".into()
            } else {
                format!("no ({})", self.analytics_mismatches)
            },
        );
        line(&mut out, "rounds failing an expectation", self.errors.len().to_string());
        line(&mut out, "targets met", if self.targets_met { "yes".into() } else { "no".into() });
        for error in self.errors.iter().take(10) {
            out.push_str(&format!("\nerror: {error}\n"));
        }
        out
    }
}

/// Runs the long profile.
pub fn run(config: &LongConfig) -> Result<LongReport> {
    let bin = Ledgerflow::locate()?;
    let started = Instant::now();
    let temp;
    let work: PathBuf = match &config.work_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().context("create a work directory")?;
            temp.path().to_owned()
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let spec = StreamSpec::synthetic(config.ledgers, config.transactions_per_ledger);
    eprintln!("chaos long: seed {} (CHAOS_SEED / --seed), binary {}", config.seed, bin.path().display());
    let reference = Reference::run(&bin, &work.join("reference"), &spec)?;
    let store = work.join("store");
    let store_ledgers = config.ledgers.min(200);
    bin.generate(&store, store_ledgers, config.transactions_per_ledger.min(20), config.seed)?;
    let store_spec = StreamSpec::datastore(&store, store_ledgers);
    let store_reference = Reference::run(&bin, &work.join("store-reference"), &store_spec)?;
    eprintln!(
        "chaos long: reference {} ledgers in {:.2} s; store {} ledgers",
        config.ledgers,
        reference.duration.as_secs_f64(),
        store_ledgers
    );

    let mut report = LongReport { seed: config.seed, ..LongReport::default() };
    let mut last_print = Instant::now();
    while report.kills() < config.kills || report.total_faults() < config.faults {
        if started.elapsed() > config.max_duration {
            eprintln!("chaos long: time limit {:?} reached", config.max_duration);
            break;
        }
        let dir = work.join(format!("round-{}", report.rounds));
        let need_kills = report.kills() < config.kills;
        let choice = rng.random_range(0..100u32);
        let result = if need_kills && choice < 70 {
            // Kills at random instants; a third of those streams also run random failpoints.
            let failpoints = if rng.random_bool(0.33) { random_failpoints(&mut rng) } else { String::new() };
            scenarios::kill_at_random_instants(
                &bin,
                &dir,
                &spec,
                &reference,
                config.kills_per_stream,
                &mut rng,
                &failpoints,
            )
        } else if need_kills && choice < 85 {
            let failpoint = COMMIT_STEPS[rng.random_range(0..COMMIT_STEPS.len())];
            scenarios::crash_at_failpoint(&bin, &dir, &spec, &reference, failpoint, rng.random_range(0..4))
        } else if choice < 92 || !need_kills && choice < 96 {
            let failpoints = random_failpoints(&mut rng);
            let mut outcome =
                scenarios::kill_at_random_instants(&bin, &dir, &spec, &reference, 0, &mut rng, &failpoints);
            if let Ok(o) = &mut outcome {
                o.name = format!("random failpoints {failpoints}");
            }
            outcome
        } else if choice < 97 {
            let damage = Damage::ALL[rng.random_range(0..Damage::ALL.len())];
            let policy = if rng.random_bool(0.5) { OnCorrupt::Fail } else { OnCorrupt::DeadLetter };
            let target = FIRST + rng.random_range(1..store_ledgers - 1);
            scenarios::damaged_object(
                &bin,
                &dir,
                &store,
                &store_spec,
                &store_reference,
                damage,
                policy,
                target,
            )
        } else if choice < 99 {
            let failpoint = COMMIT_STEPS[rng.random_range(0..COMMIT_STEPS.len())];
            scenarios::storage_outage(&bin, &dir, &spec, &reference, failpoint, rng.random_range(0..6))
        } else {
            scenarios::breaker_opens_and_recovers(&bin, &dir, &spec, &reference, 6)
        };
        match result {
            Ok(outcome) => report.absorb(&outcome),
            Err(err) => {
                report.rounds += 1;
                report.errors.push(format!("round {}: {err:#}", report.rounds));
                eprintln!("chaos long: round {} failed: {err:#}", report.rounds);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        if last_print.elapsed() > Duration::from_secs(15) {
            last_print = Instant::now();
            eprintln!(
                "chaos long: {:.0} s, {} rounds, {} kills, {} faults, {} errors",
                started.elapsed().as_secs_f64(),
                report.rounds,
                report.kills(),
                report.total_faults(),
                report.errors.len()
            );
        }
        if report.rounds == 20 && report.faults.get("error at failpoint (fired)").is_none_or(|&n| n == 0) {
            bail!(
                "after 20 rounds the binary has reported no failpoint fire: it must arm FAILPOINTS and report \
                 `failures` in its `run complete` line (build it with --features failpoints)"
            );
        }
    }
    report.elapsed = started.elapsed();
    report.targets_met = report.kills() >= config.kills && report.total_faults() >= config.faults;
    Ok(report)
}

/// One to three failpoints, each firing `P%` of its hits (P from 2 to 15), as `return` or,
/// in the workers, sometimes `panic`.
fn random_failpoints(rng: &mut impl Rng) -> String {
    let count = rng.random_range(1..=3);
    let mut chosen: Vec<(&str, String)> = Vec::new();
    while chosen.len() < count {
        let name = FAILPOINTS[rng.random_range(0..FAILPOINTS.len())];
        if chosen.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let percent = rng.random_range(2..=15);
        let action =
            if crate::faults::WORKERS.contains(&name) && rng.random_bool(0.3) { "panic" } else { "return" };
        chosen.push((name, format!("{percent}%{action}")));
    }
    failpoints_env(&chosen)
}
