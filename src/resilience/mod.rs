//! The supervisors' primitives (design §2): failure classes, retry policies, circuit breakers.
//!
//! Workers never retry. When one fails, its supervisor asks the error for its [`FailureClass`]
//! ([`Classify`], or [`FailureClass::of`] on a boxed error): a permanent failure escalates; a
//! transient one is recorded in the supervisor's [`CircuitBreaker`] and, while the breaker lets
//! requests through, the worker is restarted after the next delay of its [`RetryPolicy`]'s
//! [`backoff::ExponentialBackoff`]. An open breaker pauses the stream upstream and drops nothing;
//! after its cool-down it lets a bounded number of probes through, and closes again after enough
//! of them succeed.
//!
//! Nothing here reads the clock or sleeps: the breaker takes `now: Instant` arguments and returns
//! its state changes as [`Transition`] values (for logs, metrics and span events), and the
//! supervisor schedules its own timers (ractor `send_after`), so every transition is testable
//! without waiting.
//!
//! Durations in the configuration structs are integer milliseconds in fields named `*_ms`.

mod aimd;
mod breaker;
mod retry;
mod setting;

pub use aimd::{Aimd, AimdChange};
pub use breaker::{Admission, BreakerConfig, BreakerCounters, BreakerState, CircuitBreaker, Transition};
pub use retry::RetryPolicy;
pub use setting::InvalidSetting;

use std::error::Error;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What a supervisor does with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// May succeed if tried again later (timeout, 5xx, 429, storage unavailable): restart the
    /// worker after a backoff delay and count the failure in the breaker.
    Transient,
    /// Fails again on the same input (corrupt data, bad configuration, a broken invariant):
    /// escalate instead of retrying.
    Permanent,
}

impl FailureClass {
    pub const fn is_transient(self) -> bool {
        matches!(self, FailureClass::Transient)
    }

    /// Lowercase name, for metric labels and span fields.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureClass::Transient => "transient",
            FailureClass::Permanent => "permanent",
        }
    }

    /// The class of the first error of this crate found in `error`'s source chain (the error
    /// itself first), or `None` when no error in the chain is one this crate classifies: the
    /// supervisor then picks its own default. For supervisors, which receive failures boxed
    /// (`ActorProcessingErr`).
    ///
    /// Error types of this crate that implement [`Classify`] are listed here; add new ones.
    pub fn of(error: &(dyn Error + 'static)) -> Option<FailureClass> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(error) = error.downcast_ref::<crate::checkpoint::CheckpointError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::checkpoint::InvalidStreamId>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::range::RangeError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::archive::ArchiveError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::config::ConfigError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::batch::BatchError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::source::SourceError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::analytics::AnalyticsError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::decode::DecodeError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::tables::ConvertError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<InvalidSetting>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<crate::storage::StorageError>() {
                return Some(error.class());
            }
            if let Some(error) = error.downcast_ref::<object_store::Error>() {
                return Some(crate::storage::class_of(error));
            }
            current = error.source();
        }
        None
    }
}

/// The delay the failed service asked for (a `Retry-After`), from the first error in `error`'s
/// source chain that carries one: a supervisor waits at least this long before the restart.
pub fn retry_after(error: &(dyn Error + 'static)) -> Option<std::time::Duration> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(delay) = error.downcast_ref::<crate::source::SourceError>().and_then(|e| e.retry_after())
        {
            return Some(delay);
        }
        current = error.source();
    }
    None
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors that tell their supervisor whether trying again can help (style.md §5).
pub trait Classify {
    fn class(&self) -> FailureClass;

    fn is_transient(&self) -> bool {
        self.class().is_transient()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::CheckpointError;
    use crate::range::{LedgerRange, RangeError};

    /// An outer error that wraps a classified one, as a worker's error would.
    #[derive(Debug, thiserror::Error)]
    #[error("archive worker failed")]
    struct Wrapper(#[source] CheckpointError);

    #[derive(Debug, thiserror::Error)]
    #[error("unclassified")]
    struct Unclassified;

    #[test]
    fn of_finds_the_first_classified_error_in_the_chain() {
        let injected = CheckpointError::Injected("checkpoint:before_commit");
        assert_eq!(FailureClass::of(&injected), Some(FailureClass::Transient));

        let wrapped: Box<dyn Error + Send + Sync> = Box::new(Wrapper(injected));
        assert_eq!(FailureClass::of(&*wrapped), Some(FailureClass::Transient));

        let inverted = LedgerRange::new(2, 1).unwrap_err();
        assert_eq!(FailureClass::of(&inverted), Some(FailureClass::Permanent));
        assert!(matches!(inverted, RangeError::Inverted { .. }));

        assert_eq!(FailureClass::of(&Unclassified), None);
    }

    #[test]
    fn names() {
        assert_eq!(FailureClass::Transient.to_string(), "transient");
        assert_eq!(serde_json::to_string(&FailureClass::Permanent).unwrap(), r#""permanent""#);
        assert!(FailureClass::Transient.is_transient() && !FailureClass::Permanent.is_transient());
    }
}
