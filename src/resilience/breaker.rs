//! A circuit breaker driven by an explicit clock.
//!
//! ```text
//!            failure_threshold failures               probe failure
//!            within failure_window                 +------------------+
//!   Closed ---------------------------> Open <-----+                  |
//!     ^                                  |                            |
//!     |  half_open_successes             | cool_down elapsed          |
//!     |  successful probes               v  (poll / allow_request)    |
//!     +------------------------------ HalfOpen ----------------------+
//! ```
//!
//! Only those four transitions exist; in particular Closed never goes to HalfOpen. Time moves
//! only through the `now` arguments: record methods never apply the cool-down, `poll` and
//! `allow_request` do. A supervisor that opened its breaker schedules a message after
//! [`CircuitBreaker::remaining_cool_down`], then calls `poll` (to log the Open -> HalfOpen
//! transition) and `allow_request` before it restarts its worker as a probe.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::InvalidSetting;

/// Breaker settings, one `[..breaker]` table per supervisor. Every field has a default; unknown
/// keys are refused. Durations are integer milliseconds (`*_ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failures within `failure_window_ms` that open the breaker. From 1 to 10000; default 5.
    pub failure_threshold: u32,
    /// Length of the sliding window in which failures are counted, in milliseconds. At least 1;
    /// default 60000 (one minute).
    pub failure_window_ms: u64,
    /// How long an open breaker refuses every request before it lets probes through, in
    /// milliseconds. At least 1; default 30000.
    pub cool_down_ms: u64,
    /// Successful probes that close a half-open breaker. From 1 to 1000; default 2.
    pub half_open_successes: u32,
    /// Probes a half-open breaker lets through at the same time (granted by `allow_request` and
    /// not yet answered by `record_success` or `record_failure`). From 1 to 1000; default 1.
    pub half_open_max_probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            failure_window_ms: 60_000,
            cool_down_ms: 30_000,
            half_open_successes: 2,
            half_open_max_probes: 1,
        }
    }
}

impl BreakerConfig {
    /// Checks what serde cannot; the error names the key, the value and the allowed values.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !(1..=10_000).contains(&self.failure_threshold) {
            return Err(InvalidSetting::new(
                "failure_threshold",
                self.failure_threshold,
                "an integer from 1 to 10000",
            ));
        }
        if self.failure_window_ms == 0 {
            return Err(InvalidSetting::new("failure_window_ms", 0, "at least 1 (milliseconds)"));
        }
        if self.cool_down_ms == 0 {
            return Err(InvalidSetting::new("cool_down_ms", 0, "at least 1 (milliseconds)"));
        }
        if !(1..=1_000).contains(&self.half_open_successes) {
            return Err(InvalidSetting::new(
                "half_open_successes",
                self.half_open_successes,
                "an integer from 1 to 1000",
            ));
        }
        if !(1..=1_000).contains(&self.half_open_max_probes) {
            return Err(InvalidSetting::new(
                "half_open_max_probes",
                self.half_open_max_probes,
                "an integer from 1 to 1000",
            ));
        }
        Ok(())
    }

    pub fn failure_window(&self) -> Duration {
        Duration::from_millis(self.failure_window_ms)
    }

    pub fn cool_down(&self) -> Duration {
        Duration::from_millis(self.cool_down_ms)
    }
}

/// The three states, as seen from outside (for `/health`, metrics and span fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Requests pass; failures are counted in the window.
    Closed,
    /// Every request is refused until the cool-down has elapsed; the stream is paused upstream.
    Open,
    /// A bounded number of probe requests pass; their outcome closes or reopens the breaker.
    HalfOpen,
}

impl BreakerState {
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state change, returned by the call that caused it so the caller can log it, count it and
/// emit a span event: `warn!(from = %t.from, to = %t.to, "breaker changed state")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

/// The answer of [`CircuitBreaker::allow_request`]: whether the request may go, and the
/// Open -> HalfOpen transition when this call applied it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a refused request must not be sent"]
pub struct Admission {
    pub allowed: bool,
    pub transition: Option<Transition>,
}

/// Totals since the breaker was built, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BreakerCounters {
    /// Calls to `record_failure`, in any state.
    pub failures: u64,
    /// Calls to `record_success`, in any state.
    pub successes: u64,
    /// Transitions to Open (from Closed or HalfOpen).
    pub opens: u64,
    /// Requests refused by `allow_request`.
    pub rejected: u64,
    /// Probes granted while half-open.
    pub probes: u64,
}

/// Closed -> Open -> HalfOpen -> Closed, see the module docs. Not thread-safe by design: it
/// belongs to one supervisor's state.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    failure_window: Duration,
    cool_down: Duration,
    half_open_successes: u32,
    half_open_max_probes: u32,
    phase: Phase,
    counters: BreakerCounters,
}

#[derive(Debug, Clone)]
enum Phase {
    /// `recent_failures`: instants of the failures recorded since the breaker closed that may
    /// still be inside the window, oldest first; never more than `failure_threshold`.
    Closed {
        recent_failures: VecDeque<Instant>,
    },
    Open {
        since: Instant,
    },
    HalfOpen {
        probes_in_flight: u32,
        successes: u32,
    },
}

impl CircuitBreaker {
    /// A closed breaker; fails when `config` does not validate.
    pub fn new(config: &BreakerConfig) -> Result<Self, InvalidSetting> {
        config.validate()?;
        Ok(CircuitBreaker {
            failure_threshold: config.failure_threshold,
            failure_window: config.failure_window(),
            cool_down: config.cool_down(),
            half_open_successes: config.half_open_successes,
            half_open_max_probes: config.half_open_max_probes,
            phase: Phase::Closed { recent_failures: VecDeque::new() },
            counters: BreakerCounters::default(),
        })
    }

    pub fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    pub fn counters(&self) -> BreakerCounters {
        self.counters
    }

    /// Failures counted towards opening at `now` (0 unless closed).
    pub fn failures_in_window(&self, now: Instant) -> u32 {
        match &self.phase {
            Phase::Closed { recent_failures } => {
                recent_failures.iter().filter(|at| self.in_window(**at, now)).count() as u32
            }
            Phase::Open { .. } | Phase::HalfOpen { .. } => 0,
        }
    }

    /// While open: how long until the cool-down ends (zero once it has), so the supervisor can
    /// schedule its probe. `None` in the other states.
    pub fn remaining_cool_down(&self, now: Instant) -> Option<Duration> {
        match self.phase {
            Phase::Open { since } => {
                Some(self.cool_down.saturating_sub(now.saturating_duration_since(since)))
            }
            Phase::Closed { .. } | Phase::HalfOpen { .. } => None,
        }
    }

    /// Applies the time-driven transition: Open -> HalfOpen once the cool-down has elapsed.
    pub fn poll(&mut self, now: Instant) -> Option<Transition> {
        match self.phase {
            Phase::Open { since } if now.saturating_duration_since(since) >= self.cool_down => {
                Some(self.enter(Phase::HalfOpen { probes_in_flight: 0, successes: 0 }))
            }
            _ => None,
        }
    }

    /// Whether a request may be sent at `now`. Closed: yes. Open: no, until the cool-down has
    /// elapsed, when the breaker becomes half-open (reported in [`Admission::transition`]).
    /// HalfOpen: yes while fewer than `half_open_max_probes` probes are in flight; every granted
    /// probe must be answered by `record_success` or `record_failure`.
    pub fn allow_request(&mut self, now: Instant) -> Admission {
        let transition = self.poll(now);
        let allowed = match &mut self.phase {
            Phase::Closed { .. } => true,
            Phase::Open { .. } => false,
            Phase::HalfOpen { probes_in_flight, .. } => {
                if *probes_in_flight < self.half_open_max_probes {
                    *probes_in_flight += 1;
                    self.counters.probes += 1;
                    true
                } else {
                    false
                }
            }
        };
        if !allowed {
            self.counters.rejected += 1;
        }
        Admission { allowed, transition }
    }

    /// Records a failed request. Closed: opens when this makes `failure_threshold` failures
    /// within the window. HalfOpen: a failed probe reopens (the cool-down starts again). Open:
    /// only counted (a late answer to a request sent before the breaker opened).
    pub fn record_failure(&mut self, now: Instant) -> Option<Transition> {
        self.counters.failures += 1;
        match &mut self.phase {
            Phase::Closed { recent_failures } => {
                let window = self.failure_window;
                recent_failures.retain(|at| now.saturating_duration_since(*at) < window);
                recent_failures.push_back(now);
                if recent_failures.len() >= self.failure_threshold as usize {
                    Some(self.enter(Phase::Open { since: now }))
                } else {
                    None
                }
            }
            Phase::HalfOpen { .. } => Some(self.enter(Phase::Open { since: now })),
            Phase::Open { .. } => None,
        }
    }

    /// Records a successful request. HalfOpen: closes after `half_open_successes` of them.
    /// Closed: forgets failures that left the window (successes do not clear the window: the
    /// breaker counts failures per time, not in a row). Open: only counted.
    pub fn record_success(&mut self, now: Instant) -> Option<Transition> {
        self.counters.successes += 1;
        match &mut self.phase {
            Phase::Closed { recent_failures } => {
                let window = self.failure_window;
                recent_failures.retain(|at| now.saturating_duration_since(*at) < window);
                None
            }
            Phase::HalfOpen { probes_in_flight, successes } => {
                *probes_in_flight = probes_in_flight.saturating_sub(1);
                *successes += 1;
                if *successes >= self.half_open_successes {
                    Some(self.enter(Phase::Closed { recent_failures: VecDeque::new() }))
                } else {
                    None
                }
            }
            Phase::Open { .. } => None,
        }
    }

    fn in_window(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) < self.failure_window
    }

    fn enter(&mut self, phase: Phase) -> Transition {
        let from = self.state();
        self.phase = phase;
        let to = self.state();
        debug_assert!(
            matches!(
                (from, to),
                (BreakerState::Closed, BreakerState::Open)
                    | (BreakerState::Open, BreakerState::HalfOpen)
                    | (BreakerState::HalfOpen, BreakerState::Closed | BreakerState::Open)
            ),
            "breaker transition {from} -> {to} is not in the state machine"
        );
        if to == BreakerState::Open {
            self.counters.opens += 1;
        }
        Transition { from, to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn config(
        threshold: u32,
        window_ms: u64,
        cool_down_ms: u64,
        successes: u32,
        probes: u32,
    ) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: threshold,
            failure_window_ms: window_ms,
            cool_down_ms,
            half_open_successes: successes,
            half_open_max_probes: probes,
        }
    }

    fn breaker(config: &BreakerConfig) -> CircuitBreaker {
        CircuitBreaker::new(config).expect("test configs are valid")
    }

    fn transition(from: BreakerState, to: BreakerState) -> Option<Transition> {
        Some(Transition { from, to })
    }

    use BreakerState::{Closed, HalfOpen, Open};

    /// A breaker opened at `t0` by `threshold` failures (threshold 3, window 100 ms, cool-down
    /// 50 ms, 2 successes to close, 1 probe at a time).
    fn opened(t0: Instant) -> CircuitBreaker {
        let mut b = breaker(&config(3, 100, 50, 2, 1));
        assert_eq!(b.record_failure(t0), None);
        assert_eq!(b.record_failure(t0), None);
        assert_eq!(b.record_failure(t0), transition(Closed, Open));
        b
    }

    #[test]
    fn closed_to_open_after_threshold_failures_within_window() {
        let t0 = Instant::now();
        let mut b = breaker(&config(3, 100, 50, 2, 1));
        assert_eq!(b.state(), Closed);
        assert!(b.allow_request(t0).allowed);
        assert_eq!(b.record_failure(t0), None);
        assert_eq!(b.record_failure(t0 + 40 * MS), None);
        assert_eq!(b.failures_in_window(t0 + 40 * MS), 2);
        assert_eq!(b.record_failure(t0 + 99 * MS), transition(Closed, Open));
        assert_eq!(b.state(), Open);
        assert_eq!(b.counters().opens, 1);
        assert_eq!(b.counters().failures, 3);
    }

    #[test]
    fn failures_outside_the_window_do_not_open() {
        let t0 = Instant::now();
        let mut b = breaker(&config(3, 100, 50, 2, 1));
        assert_eq!(b.record_failure(t0), None);
        assert_eq!(b.record_failure(t0 + 50 * MS), None);
        // The first failure is exactly one window old: it no longer counts.
        assert_eq!(b.record_failure(t0 + 100 * MS), None);
        assert_eq!(b.failures_in_window(t0 + 100 * MS), 2);
        assert_eq!(b.record_failure(t0 + 120 * MS), transition(Closed, Open));
    }

    #[test]
    fn successes_do_not_reset_the_failure_window() {
        let t0 = Instant::now();
        let mut b = breaker(&config(2, 100, 50, 1, 1));
        assert_eq!(b.record_failure(t0), None);
        assert_eq!(b.record_success(t0 + MS), None);
        assert_eq!(b.record_failure(t0 + 2 * MS), transition(Closed, Open));
    }

    #[test]
    fn open_refuses_until_cool_down_then_half_opens() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        assert_eq!(b.remaining_cool_down(t0 + 20 * MS), Some(30 * MS));
        assert_eq!(b.allow_request(t0 + 49 * MS), Admission { allowed: false, transition: None });
        assert_eq!(b.poll(t0 + 49 * MS), None);
        assert_eq!(b.state(), Open);
        assert_eq!(b.counters().rejected, 1);
        // Recording does not move time: still open after the cool-down until polled.
        assert_eq!(b.record_success(t0 + 60 * MS), None);
        assert_eq!(b.record_failure(t0 + 60 * MS), None);
        assert_eq!(b.state(), Open);
        assert_eq!(b.remaining_cool_down(t0 + 60 * MS), Some(Duration::ZERO));
        assert_eq!(b.poll(t0 + 50 * MS), transition(Open, HalfOpen));
        assert_eq!(b.remaining_cool_down(t0 + 60 * MS), None);
        assert_eq!(b.poll(t0 + 50 * MS), None, "a transition is reported once");
    }

    #[test]
    fn allow_request_applies_and_reports_the_cool_down_transition() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let admission = b.allow_request(t0 + 50 * MS);
        assert_eq!(admission, Admission { allowed: true, transition: transition(Open, HalfOpen) });
        assert_eq!(b.counters().probes, 1);
    }

    #[test]
    fn half_open_bounds_probes_in_flight() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let later = t0 + 50 * MS;
        assert!(b.allow_request(later).allowed);
        assert!(!b.allow_request(later).allowed, "one probe at a time");
        assert_eq!(b.record_success(later), None);
        assert!(b.allow_request(later).allowed, "the answered probe freed its slot");

        let mut wide = breaker(&config(1, 100, 50, 5, 2));
        assert_eq!(wide.record_failure(t0), transition(Closed, Open));
        assert!(wide.allow_request(later).allowed);
        assert!(wide.allow_request(later).allowed);
        assert!(!wide.allow_request(later).allowed);
        assert_eq!(wide.counters().probes, 2);
        assert_eq!(wide.counters().rejected, 1);
    }

    #[test]
    fn half_open_closes_after_enough_successful_probes() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let later = t0 + 50 * MS;
        assert!(b.allow_request(later).allowed);
        assert_eq!(b.record_success(later), None);
        assert_eq!(b.state(), HalfOpen);
        assert!(b.allow_request(later).allowed);
        assert_eq!(b.record_success(later), transition(HalfOpen, Closed));
        assert_eq!(b.state(), Closed);
        // The old failures are forgotten: it takes a full threshold again.
        assert_eq!(b.failures_in_window(later), 0);
        assert_eq!(b.record_failure(later), None);
        assert_eq!(b.record_failure(later), None);
        assert_eq!(b.record_failure(later), transition(Closed, Open));
        assert_eq!(b.counters().opens, 2);
    }

    #[test]
    fn a_failed_probe_reopens_and_restarts_the_cool_down() {
        let t0 = Instant::now();
        let mut b = opened(t0);
        let probe_at = t0 + 70 * MS;
        assert!(b.allow_request(probe_at).allowed);
        assert_eq!(b.record_failure(probe_at), transition(HalfOpen, Open));
        assert_eq!(b.counters().opens, 2);
        assert_eq!(b.remaining_cool_down(probe_at), Some(50 * MS));
        assert!(!b.allow_request(probe_at + 49 * MS).allowed);
        assert!(b.allow_request(probe_at + 50 * MS).allowed);
        assert_eq!(b.state(), HalfOpen);
    }

    #[test]
    fn never_closed_to_half_open() {
        let t0 = Instant::now();
        let mut b = breaker(&config(3, 100, 50, 2, 1));
        assert_eq!(b.poll(t0 + Duration::from_secs(3600)), None);
        assert_eq!(b.allow_request(t0 + Duration::from_secs(3600)).transition, None);
        assert_eq!(b.state(), Closed);
    }

    #[test]
    fn an_earlier_now_does_not_panic() {
        let t0 = Instant::now();
        let mut b = opened(t0 + 10 * MS);
        assert_eq!(b.poll(t0), None);
        assert_eq!(b.remaining_cool_down(t0), Some(50 * MS));
    }

    #[test]
    fn config_defaults_serde_and_validation() {
        let defaults = BreakerConfig::default();
        defaults.validate().unwrap();
        assert_eq!(serde_json::from_str::<BreakerConfig>("{}").unwrap(), defaults);
        let partial: BreakerConfig = serde_json::from_str(r#"{"cool_down_ms": 5000}"#).unwrap();
        assert_eq!(partial, BreakerConfig { cool_down_ms: 5000, ..BreakerConfig::default() });
        assert_eq!(partial.cool_down(), Duration::from_secs(5));
        let unknown = serde_json::from_str::<BreakerConfig>(r#"{"cool_down": 5}"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown field `cool_down`"), "{unknown}");

        let error = config(0, 1, 1, 1, 1).validate().unwrap_err();
        assert_eq!(error.key, "failure_threshold");
        assert_eq!(error.value, "0");
        assert_eq!(
            error.in_section("source.breaker").to_string(),
            "`source.breaker.failure_threshold` = 0 is not allowed: an integer from 1 to 10000"
        );
        assert_eq!(config(1, 0, 1, 1, 1).validate().unwrap_err().key, "failure_window_ms");
        assert_eq!(config(1, 1, 0, 1, 1).validate().unwrap_err().key, "cool_down_ms");
        assert_eq!(config(1, 1, 1, 0, 1).validate().unwrap_err().key, "half_open_successes");
        assert_eq!(config(1, 1, 1, 1, 1001).validate().unwrap_err().key, "half_open_max_probes");
        assert!(CircuitBreaker::new(&config(10_001, 1, 1, 1, 1)).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(Transition { from: HalfOpen, to: Closed }.to_string(), "half_open -> closed");
        assert_eq!(serde_json::to_string(&HalfOpen).unwrap(), r#""half_open""#);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Failure,
        Success,
        Allow,
        Poll,
        AdvanceMs(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Failure),
            2 => Just(Op::Success),
            3 => Just(Op::Allow),
            1 => Just(Op::Poll),
            3 => (0u64..120).prop_map(Op::AdvanceMs),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Random sequences of failures, successes, requests and clock advances, checked against
        /// what an observer can derive from the calls alone.
        #[test]
        fn transitions_follow_the_state_machine(
            threshold in 1u32..5,
            window_ms in 1u64..200,
            cool_down_ms in 1u64..200,
            successes_to_close in 1u32..4,
            max_probes in 1u32..3,
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let cfg = config(threshold, window_ms, cool_down_ms, successes_to_close, max_probes);
            let (window, cool_down) = (cfg.failure_window(), cfg.cool_down());
            let mut b = breaker(&cfg);
            let mut now = Instant::now();

            // The observer's view.
            let mut failures_since_closed: Vec<Instant> = Vec::new();
            let mut opened_at: Option<Instant> = None;
            let mut probes_in_flight = 0u32;
            let mut half_open_successes = 0u32;
            let (mut failure_calls, mut opens) = (0u64, 0u64);

            for op in ops {
                let before = b.state();
                let mut granted = None;
                let result = match op {
                    Op::AdvanceMs(ms) => { now += Duration::from_millis(ms); None }
                    Op::Poll => b.poll(now),
                    Op::Allow => {
                        let admission = b.allow_request(now);
                        granted = Some(admission.allowed);
                        admission.transition
                    }
                    Op::Failure => { failure_calls += 1; b.record_failure(now) }
                    Op::Success => b.record_success(now),
                };
                let after = b.state();

                match result {
                    None => prop_assert_eq!(before, after, "state changed without a transition"),
                    Some(t) => {
                        prop_assert_eq!(t.from, before);
                        prop_assert_eq!(t.to, after);
                        match (t.from, t.to) {
                            (Closed, Open) => {
                                prop_assert!(matches!(op, Op::Failure));
                                let in_window = failures_since_closed.iter()
                                    .filter(|at| now.duration_since(**at) < window).count() + 1;
                                prop_assert!(in_window >= threshold as usize,
                                    "opened after {} failures in the window, threshold {}", in_window, threshold);
                            }
                            (Open, HalfOpen) => {
                                prop_assert!(matches!(op, Op::Poll | Op::Allow));
                                let since = opened_at.expect("open has a start");
                                prop_assert!(now.duration_since(since) >= cool_down,
                                    "half-open {:?} after opening, cool-down {:?}", now.duration_since(since), cool_down);
                            }
                            (HalfOpen, Closed) => {
                                prop_assert!(matches!(op, Op::Success));
                                prop_assert_eq!(half_open_successes + 1, successes_to_close);
                            }
                            (HalfOpen, Open) => prop_assert!(matches!(op, Op::Failure)),
                            (from, to) => prop_assert!(false, "illegal transition {} -> {}", from, to),
                        }
                        if t.to == Open { opens += 1; }
                    }
                }

                // Liveness: what must happen did happen.
                match (before, &op) {
                    (Closed, Op::Failure) => {
                        let in_window = failures_since_closed.iter()
                            .filter(|at| now.duration_since(**at) < window).count() + 1;
                        prop_assert_eq!(after == Open, in_window >= threshold as usize);
                    }
                    (Open, Op::Poll | Op::Allow) => {
                        let due = now.duration_since(opened_at.expect("open has a start")) >= cool_down;
                        prop_assert_eq!(after == HalfOpen, due);
                    }
                    (HalfOpen, Op::Failure) => prop_assert_eq!(after, Open),
                    _ => {}
                }

                // Admission rules.
                if let Some(allowed) = granted {
                    match after {
                        Closed => prop_assert!(allowed),
                        Open => prop_assert!(!allowed),
                        HalfOpen => {
                            // A breaker that just half-opened has no probe in flight yet.
                            let in_flight = if before == HalfOpen { probes_in_flight } else { 0 };
                            prop_assert_eq!(allowed, in_flight < max_probes);
                        }
                    }
                }

                // Update the observer's view.
                if before != after {
                    match after {
                        Closed => failures_since_closed.clear(),
                        Open => opened_at = Some(now),
                        HalfOpen => { probes_in_flight = 0; half_open_successes = 0; }
                    }
                }
                match (&op, after) {
                    (Op::Failure, Closed) => failures_since_closed.push(now),
                    (Op::Allow, HalfOpen) if granted == Some(true) => probes_in_flight += 1,
                    (Op::Success, HalfOpen) => {
                        probes_in_flight = probes_in_flight.saturating_sub(1);
                        half_open_successes += 1;
                    }
                    _ => {}
                }
                if after == HalfOpen {
                    prop_assert!(probes_in_flight <= max_probes);
                }
                prop_assert_eq!(b.counters().opens, opens);
                prop_assert_eq!(b.counters().failures, failure_calls);
            }
        }
    }
}
