//! Restart delays: a serde-friendly description of `backoff`'s exponential policy.

use std::time::Duration;

use backoff::ExponentialBackoff;
use serde::{Deserialize, Serialize};

use super::InvalidSetting;

/// How long a supervisor waits before restarting a failed worker: the `n`-th delay is
/// `initial_interval_ms * multiplier^(n-1)`, capped at `max_interval_ms`, each drawn uniformly
/// from `±randomization_factor` around that value (jitter, so that restarts of several streams
/// do not align). Every field has a default; unknown keys are refused; durations are integer
/// milliseconds (`*_ms`).
///
/// The budget (`max_elapsed_time_ms`) counts from when the [`ExponentialBackoff`] was built or
/// last reset, not from the first failure: **the caller resets it after a success**
/// (`backoff::backoff::Backoff::reset`, e.g. when the restarted worker acknowledges its first
/// batch). Otherwise a stream that has been healthy for longer than the budget finds it spent at
/// its first failure, and the supervisor gives up without a single retry (deps.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// First delay, in milliseconds. At least 1; default 500.
    pub initial_interval_ms: u64,
    /// Growth factor of the delay after each retry. A finite number from 1.0 to 100.0;
    /// default 2.0.
    pub multiplier: f64,
    /// Largest delay before jitter, in milliseconds. At least `initial_interval_ms`;
    /// default 60000.
    pub max_interval_ms: u64,
    /// Jitter: each delay is drawn from `[d * (1 - f), d * (1 + f)]`. From 0.0 (none) to 1.0;
    /// default 0.5.
    pub randomization_factor: f64,
    /// Retry budget in milliseconds: once this much time has passed since the backoff was
    /// built or reset, `next_backoff()` returns `None` and the supervisor escalates. Absent (the
    /// default): retry forever, the circuit breaker pausing the stream meanwhile. At least 1
    /// when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_elapsed_time_ms: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval_ms: 500,
            multiplier: 2.0,
            max_interval_ms: 60_000,
            randomization_factor: 0.5,
            max_elapsed_time_ms: None,
        }
    }
}

impl RetryPolicy {
    /// Checks what serde cannot; the error names the key, the value and the allowed values.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.initial_interval_ms == 0 {
            return Err(InvalidSetting::new("initial_interval_ms", 0, "at least 1 (milliseconds)"));
        }
        if !(self.multiplier.is_finite() && (1.0..=100.0).contains(&self.multiplier)) {
            return Err(InvalidSetting::new("multiplier", self.multiplier, "a number from 1.0 to 100.0"));
        }
        if self.max_interval_ms < self.initial_interval_ms {
            return Err(InvalidSetting::new(
                "max_interval_ms",
                self.max_interval_ms,
                format!("at least initial_interval_ms ({})", self.initial_interval_ms),
            ));
        }
        if !(self.randomization_factor.is_finite() && (0.0..=1.0).contains(&self.randomization_factor)) {
            return Err(InvalidSetting::new(
                "randomization_factor",
                self.randomization_factor,
                "a number from 0.0 to 1.0",
            ));
        }
        if self.max_elapsed_time_ms == Some(0) {
            return Err(InvalidSetting::new(
                "max_elapsed_time_ms",
                0,
                "at least 1 (milliseconds), or absent for no limit",
            ));
        }
        Ok(())
    }

    pub fn initial_interval(&self) -> Duration {
        Duration::from_millis(self.initial_interval_ms)
    }

    pub fn max_interval(&self) -> Duration {
        Duration::from_millis(self.max_interval_ms)
    }

    pub fn max_elapsed_time(&self) -> Option<Duration> {
        self.max_elapsed_time_ms.map(Duration::from_millis)
    }

    /// A fresh backoff whose budget starts now. Validate the policy first (configuration
    /// loading does): values are passed to `backoff` as they are.
    pub fn backoff(&self) -> ExponentialBackoff {
        debug_assert!(self.validate().is_ok(), "retry policy used without validation: {self:?}");
        backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(self.initial_interval())
            .with_multiplier(self.multiplier)
            .with_max_interval(self.max_interval())
            .with_randomization_factor(self.randomization_factor)
            .with_max_elapsed_time(self.max_elapsed_time())
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backoff::backoff::Backoff;
    use std::time::Instant;

    const MS: Duration = Duration::from_millis(1);

    /// `backoff` 0.4 adds a random fraction of a nanosecond even without jitter
    /// (`random * (diff + 1.0)` with `diff == 0`), which truncation usually removes.
    fn assert_about(delay: Option<Duration>, expected: Duration) {
        let delay = delay.expect("a delay");
        assert!(
            delay >= expected && delay <= expected + Duration::from_nanos(1),
            "delay {delay:?}, expected {expected:?}"
        );
    }

    fn without_jitter(max_elapsed_time_ms: Option<u64>) -> RetryPolicy {
        RetryPolicy {
            initial_interval_ms: 100,
            multiplier: 2.0,
            max_interval_ms: 1_000,
            randomization_factor: 0.0,
            max_elapsed_time_ms,
        }
    }

    #[test]
    fn builds_the_backoff_it_describes() {
        let policy = without_jitter(Some(30_000));
        let b = policy.backoff();
        assert_eq!(b.initial_interval, 100 * MS);
        assert_eq!(b.current_interval, 100 * MS);
        assert_eq!(b.multiplier, 2.0);
        assert_eq!(b.max_interval, Duration::from_secs(1));
        assert_eq!(b.randomization_factor, 0.0);
        assert_eq!(b.max_elapsed_time, Some(Duration::from_secs(30)));
        assert_eq!(RetryPolicy::default().backoff().max_elapsed_time, None, "unlimited by default");
    }

    #[test]
    fn delays_grow_then_stay_at_the_max() {
        let mut b = without_jitter(None).backoff();
        for expected_ms in [100, 200, 400, 800, 1_000, 1_000, 1_000] {
            assert_about(b.next_backoff(), expected_ms * MS);
        }
        b.reset();
        assert_about(b.next_backoff(), 100 * MS);
    }

    #[test]
    fn jittered_delays_stay_in_their_band() {
        let policy = RetryPolicy { randomization_factor: 0.5, ..without_jitter(None) };
        let mut b = policy.backoff();
        for nominal_ms in [100u32, 200, 400, 800, 1_000, 1_000] {
            let delay = b.next_backoff().expect("unlimited");
            let (low, high) = (nominal_ms * MS / 2, nominal_ms * MS * 3 / 2 + MS);
            assert!(low <= delay && delay <= high, "delay {delay:?} outside {low:?}..={high:?}");
        }
    }

    #[test]
    fn budget_is_spent_after_max_elapsed_time() {
        // Move the start into the past instead of sleeping.
        let Some(ten_seconds_ago) = Instant::now().checked_sub(Duration::from_secs(10)) else {
            return; // the monotonic clock started less than 10 s ago: nothing to test
        };
        let mut limited = without_jitter(Some(1_000)).backoff();
        assert_about(limited.next_backoff(), 100 * MS);
        limited.start_time = ten_seconds_ago;
        assert_eq!(limited.next_backoff(), None);

        // A delay that would end past the budget is refused too.
        let mut almost = without_jitter(Some(1_000)).backoff();
        almost.start_time = Instant::now() - 950 * MS;
        assert_eq!(almost.next_backoff(), None);

        // reset() gives the budget back: the caller's job after a success.
        limited.reset();
        assert_about(limited.next_backoff(), 100 * MS);

        let mut unlimited = without_jitter(None).backoff();
        unlimited.start_time = ten_seconds_ago;
        assert!(unlimited.next_backoff().is_some());
    }

    #[test]
    fn config_defaults_serde_and_validation() {
        let defaults = RetryPolicy::default();
        defaults.validate().unwrap();
        assert_eq!(serde_json::from_str::<RetryPolicy>("{}").unwrap(), defaults);
        let json = serde_json::to_string(&defaults).unwrap();
        assert!(!json.contains("max_elapsed_time_ms"), "{json}");
        let limited: RetryPolicy = serde_json::from_str(r#"{"max_elapsed_time_ms": 900000}"#).unwrap();
        assert_eq!(limited.max_elapsed_time(), Some(Duration::from_secs(900)));
        assert!(serde_json::from_str::<RetryPolicy>(r#"{"max_elapsed_time": 1}"#).is_err());

        let check = |policy: RetryPolicy| policy.validate().unwrap_err();
        assert_eq!(
            check(RetryPolicy { initial_interval_ms: 0, ..defaults.clone() }).key,
            "initial_interval_ms"
        );
        assert_eq!(check(RetryPolicy { multiplier: 0.5, ..defaults.clone() }).key, "multiplier");
        assert_eq!(check(RetryPolicy { multiplier: f64::NAN, ..defaults.clone() }).key, "multiplier");
        let error = check(RetryPolicy { max_interval_ms: 10, ..defaults.clone() });
        assert_eq!(
            error.to_string(),
            "`max_interval_ms` = 10 is not allowed: at least initial_interval_ms (500)"
        );
        assert_eq!(
            check(RetryPolicy { randomization_factor: 1.5, ..defaults.clone() }).key,
            "randomization_factor"
        );
        assert_eq!(
            check(RetryPolicy { max_elapsed_time_ms: Some(0), ..defaults }).key,
            "max_elapsed_time_ms"
        );
    }
}
