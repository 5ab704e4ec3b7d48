//! Adaptive concurrency for parallel reads: additive increase, multiplicative decrease (AIMD),
//! as TCP does with its congestion window, so users do not hand-tune worker counts.
//!
//! The window is how many requests may be in flight. It starts at 1 and grows by one per
//! success (slow start) until the first congestion signal, then by one per window of
//! successes. A congestion signal halves it: an error, or a latency far above the fastest
//! recently seen (the store is queueing our requests, or throttling them). At most one
//! decrease per window of completions, so a burst of slow replies from one overloaded moment
//! counts once. The window never leaves `1..=cap`.
//!
//! No clock is read here: callers pass each request's latency.

use std::time::Duration;

/// A latency this many times the baseline is a congestion signal.
const SLOW_FACTOR: u32 = 4;
/// Latencies below this never count as slow (a fast store's jitter is not congestion).
const SLOW_FLOOR: Duration = Duration::from_millis(50);
/// The baseline forgets old minima: each sample raises it by 1/64 of the gap (so a store that
/// became slower for good is not measured against its best day forever).
const BASELINE_DRIFT: u32 = 64;

/// The controller's state; see the module docs.
#[derive(Debug, Clone)]
pub struct Aimd {
    window: f64,
    cap: u32,
    slow_start: bool,
    /// Completions still to see before another decrease may happen.
    cool_down: u32,
    baseline: Option<Duration>,
    decreases: u64,
}

/// What a completion did to the window (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AimdChange {
    Unchanged,
    Increased,
    Decreased,
}

impl Aimd {
    /// A controller allowing at most `cap` requests (at least 1).
    pub fn new(cap: u32) -> Self {
        Aimd { window: 1.0, cap: cap.max(1), slow_start: true, cool_down: 0, baseline: None, decreases: 0 }
    }

    /// Requests allowed in flight now.
    pub fn window(&self) -> u32 {
        (self.window as u32).clamp(1, self.cap)
    }

    pub fn cap(&self) -> u32 {
        self.cap
    }

    /// How many times the window was cut.
    pub fn decreases(&self) -> u64 {
        self.decreases
    }

    /// The latency a request is measured against.
    pub fn baseline(&self) -> Option<Duration> {
        self.baseline
    }

    /// A request succeeded after `latency`.
    pub fn on_success(&mut self, latency: Duration) -> AimdChange {
        let slow = self.baseline.is_some_and(|base| latency > SLOW_FLOOR && latency > base * SLOW_FACTOR);
        self.baseline = Some(match self.baseline {
            None => latency,
            Some(base) if latency < base => latency,
            Some(base) => base + (latency - base) / BASELINE_DRIFT,
        });
        if slow {
            return self.decrease();
        }
        self.cool_down = self.cool_down.saturating_sub(1);
        let before = self.window();
        self.window = if self.slow_start { self.window + 1.0 } else { self.window + 1.0 / self.window };
        self.window = self.window.min(f64::from(self.cap));
        if self.window() > before { AimdChange::Increased } else { AimdChange::Unchanged }
    }

    /// A request failed (timeout, 5xx, 429, dropped connection).
    pub fn on_error(&mut self) -> AimdChange {
        self.decrease()
    }

    fn decrease(&mut self) -> AimdChange {
        self.slow_start = false;
        if self.cool_down > 0 {
            self.cool_down -= 1;
            return AimdChange::Unchanged;
        }
        let before = self.window();
        self.window = (self.window / 2.0).max(1.0);
        self.cool_down = before;
        self.decreases += 1;
        if self.window() < before { AimdChange::Decreased } else { AimdChange::Unchanged }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const FAST: Duration = Duration::from_millis(20);

    #[test]
    fn slow_start_doubles_then_errors_halve() {
        let mut aimd = Aimd::new(64);
        assert_eq!(aimd.window(), 1);
        for _ in 0..15 {
            aimd.on_success(FAST);
        }
        assert_eq!(aimd.window(), 16);
        assert_eq!(aimd.on_error(), AimdChange::Decreased);
        assert_eq!(aimd.window(), 8);
        // The other 16 replies of the same overloaded moment count once.
        for _ in 0..16 {
            assert_eq!(aimd.on_error(), AimdChange::Unchanged);
        }
        assert_eq!(aimd.window(), 8);
        assert_eq!(aimd.on_error(), AimdChange::Decreased);
        assert_eq!(aimd.window(), 4);
        // Congestion avoidance: one more per window of successes.
        let mut successes = 0;
        while aimd.window() < 5 {
            aimd.on_success(FAST);
            successes += 1;
        }
        assert_eq!(successes, 5, "about one window of successes (1/window each)");
        assert_eq!(aimd.decreases(), 2);
    }

    #[test]
    fn latency_far_above_the_baseline_is_congestion() {
        let mut aimd = Aimd::new(8);
        for _ in 0..7 {
            aimd.on_success(FAST);
        }
        assert_eq!(aimd.window(), 8, "capped");
        assert_eq!(aimd.on_success(Duration::from_millis(70)), AimdChange::Unchanged, "3.5x: not slow");
        assert_eq!(aimd.on_success(Duration::from_millis(500)), AimdChange::Decreased);
        assert_eq!(aimd.window(), 4);
        // Below the floor nothing is slow, whatever the ratio.
        let mut fast = Aimd::new(8);
        fast.on_success(Duration::from_micros(100));
        assert_ne!(fast.on_success(Duration::from_millis(40)), AimdChange::Decreased);
    }

    proptest! {
        #[test]
        fn the_window_stays_within_one_and_the_cap(
            cap in 1u32..300,
            events in proptest::collection::vec(prop_oneof![Just(None), (1u64..2_000).prop_map(Some)], 0..400),
        ) {
            let mut aimd = Aimd::new(cap);
            for event in events {
                match event {
                    None => { aimd.on_error(); }
                    Some(ms) => { aimd.on_success(Duration::from_millis(ms)); }
                }
                prop_assert!((1..=cap).contains(&aimd.window()));
            }
        }
    }
}
