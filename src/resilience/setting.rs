use super::{Classify, FailureClass};

/// A configuration value that `validate()` refused: names the key, the value and what is allowed
/// (design §5). Keys are relative to the struct that was validated (`failure_threshold`); the
/// configuration loader adds the section with [`InvalidSetting::in_section`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` = {value} is not allowed: {allowed}")]
pub struct InvalidSetting {
    pub key: String,
    pub value: String,
    pub allowed: String,
}

impl InvalidSetting {
    pub fn new(key: &str, value: impl ToString, allowed: impl Into<String>) -> Self {
        InvalidSetting { key: key.to_owned(), value: value.to_string(), allowed: allowed.into() }
    }

    /// Prefixes the key with its section: `failure_threshold` becomes
    /// `source.breaker.failure_threshold`.
    pub fn in_section(mut self, section: &str) -> Self {
        self.key = format!("{section}.{}", self.key);
        self
    }
}

impl Classify for InvalidSetting {
    fn class(&self) -> FailureClass {
        FailureClass::Permanent
    }
}
