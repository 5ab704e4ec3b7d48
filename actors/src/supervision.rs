//! The decision every supervisor makes when its worker fails (design §2): classify the
//! failure, then restart after a backoff delay, wait out an open breaker, or escalate.
//!
//! Supervisors never sleep: they act on the returned [`Decision`] with `send_after`, so they
//! keep hearing their other children meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backoff::backoff::Backoff;
use ledgerflow::resilience::{
    BreakerConfig, BreakerState, CircuitBreaker, FailureClass, RetryPolicy, Transition,
};
use ractor::ActorProcessingErr;
use tracing::{error, info, warn};

use crate::stats::{PipelineStats, Stage};

/// What the supervisor does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Restart the worker after `after`, from the last acknowledged ledger. `probe`: the
    /// breaker is half-open at that point; this restart is its probe.
    Restart { after: Duration, probe: bool },
    /// Stop the stream with this error; the checkpoint stays as it is.
    Escalate(String),
}

pub struct Supervision {
    stage: Stage,
    breaker: CircuitBreaker,
    backoff: backoff::ExponentialBackoff,
    stats: Arc<PipelineStats>,
    /// Failures since the last success (the attempt number of the next restart).
    consecutive_failures: u32,
}

impl Supervision {
    pub fn new(
        stage: Stage,
        retry: &RetryPolicy,
        breaker: &BreakerConfig,
        stats: Arc<PipelineStats>,
    ) -> Result<Self, ActorProcessingErr> {
        Ok(Supervision {
            stage,
            breaker: CircuitBreaker::new(breaker)?,
            backoff: retry.backoff(),
            stats,
            consecutive_failures: 0,
        })
    }

    pub fn state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Classifies `err` (panics and unknown errors count as transient: the breaker bounds how
    /// often they recur) and decides.
    pub fn on_failure(&mut self, err: &ActorProcessingErr) -> Decision {
        let now = Instant::now();
        let stage = self.stage.name();
        let all = self.stats.clone();
        let stats = all.stage(self.stage);
        let failures = stats.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        self.consecutive_failures += 1;
        // The failed worker's batch trace is gone with it: the decision is a trace of its own,
        // whose events (restart, breaker, escalation) carry the attempt and where the stream
        // resumes.
        let resume_after = self.stats.checkpoint_ledger.load(std::sync::atomic::Ordering::Relaxed);
        let span = tracing::info_span!(
            parent: None,
            "supervision",
            stage,
            attempt = self.consecutive_failures,
            failures,
            resume_after_ledger = resume_after,
        );
        let _entered = span.enter();
        let decision = self.decide(err, now);
        if matches!(decision, Decision::Restart { .. }) {
            stats.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        decision
    }

    fn decide(&mut self, err: &ActorProcessingErr, now: Instant) -> Decision {
        let stage = self.stage.name();
        let class = FailureClass::of(err.as_ref()).unwrap_or(FailureClass::Transient);
        if class == FailureClass::Permanent {
            error!(stage, error = %err, "worker failed permanently, stopping the stream");
            return Decision::Escalate(format!("{stage}: {err}"));
        }
        if let Some(transition) = self.breaker.record_failure(now) {
            self.log_transition(transition);
        }
        // A server that said when to come back (429/503 `Retry-After`) is not asked sooner.
        let retry_after = ledgerflow::resilience::retry_after(err.as_ref()).unwrap_or_default();
        if let Some(cool_down) = self.breaker.remaining_cool_down(now) {
            let cool_down = cool_down.max(retry_after);
            warn!(stage, error = %err, cool_down_ms = cool_down.as_millis() as u64, "breaker open, stream paused");
            return Decision::Restart { after: cool_down, probe: true };
        }
        match self.backoff.next_backoff() {
            Some(delay) => {
                let delay = delay.max(retry_after);
                warn!(
                    stage,
                    error = %err,
                    delay_ms = delay.as_millis() as u64,
                    retry_after_ms = retry_after.as_millis() as u64,
                    "worker failed, restarting"
                );
                Decision::Restart { after: delay, probe: false }
            }
            None => {
                error!(stage, error = %err, "retry budget spent, stopping the stream");
                Decision::Escalate(format!("{stage}: retry budget spent; last error: {err}"))
            }
        }
    }

    /// The worker is being restarted now: moves an open breaker whose cool-down is over to
    /// half-open.
    pub fn on_restart(&mut self) {
        self.stats.stage(self.stage).restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(transition) = self.breaker.allow_request(Instant::now()).transition {
            self.log_transition(transition);
        }
    }

    /// The worker made progress: closes a half-open breaker and resets the backoff.
    pub fn on_success(&mut self) {
        if let Some(transition) = self.breaker.record_success(Instant::now()) {
            self.log_transition(transition);
        }
        if self.breaker.state() == BreakerState::Closed {
            self.backoff.reset();
            self.consecutive_failures = 0;
        }
    }

    fn log_transition(&self, transition: Transition) {
        self.stats.stage(self.stage).set_breaker(transition.to);
        let stage = self.stage.name();
        // A child of the supervision span when a failure caused it, else a trace of its own.
        let span = tracing::info_span!("breaker", stage, from = %transition.from, to = %transition.to);
        let _entered = span.enter();
        match transition.to {
            BreakerState::Closed => {
                info!(stage, from = %transition.from, to = %transition.to, "breaker closed")
            }
            _ => warn!(stage, from = %transition.from, to = %transition.to, "breaker changed state"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ledgerflow::resilience::{BreakerConfig, RetryPolicy};
    use ledgerflow::source::SourceError;

    use super::*;

    fn supervision() -> Supervision {
        let retry = RetryPolicy { initial_interval_ms: 10, max_interval_ms: 20, ..RetryPolicy::default() };
        let stats = Arc::new(PipelineStats::new("test"));
        Supervision::new(Stage::Source, &retry, &BreakerConfig::default(), stats).expect("supervision")
    }

    fn status(status: u16, retry_after: Option<Duration>) -> ActorProcessingErr {
        Box::new(SourceError::RpcStatus {
            rpc: "http://127.0.0.1:1".into(),
            method: "getLedgers",
            status,
            retry_after,
            body: String::new(),
        })
    }

    #[test]
    fn a_retry_after_is_the_least_delay_before_the_restart() {
        let mut supervision = supervision();
        let Decision::Restart { after, probe: false } =
            supervision.on_failure(&status(429, Some(Duration::from_secs(7))))
        else {
            panic!("a 429 is retried")
        };
        assert_eq!(after, Duration::from_secs(7));
        // Without one, the backoff decides (at most 20 ms, jittered by half).
        let Decision::Restart { after, .. } = supervision.on_failure(&status(503, None)) else {
            panic!("a 503 is retried")
        };
        assert!(after <= Duration::from_millis(30), "{after:?}");
        assert!(matches!(supervision.on_failure(&status(404, None)), Decision::Escalate(_)));
    }
}
