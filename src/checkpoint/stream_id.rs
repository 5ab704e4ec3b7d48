use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::resilience::{Classify, FailureClass};

/// The name of a stream (design §1), and the namespace of its checkpoint keys: 1 to
/// [`StreamId::MAX_LEN`] characters from `[A-Za-z0-9._-]`. The alphabet keeps ids safe in file
/// names, metric labels and sled keys; in particular it excludes the `/` that
/// the checkpoint keys put after the id, so no stream's keys are a prefix of another's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

/// A string refused as a [`StreamId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid stream id: {reason}")]
pub struct InvalidStreamId {
    pub value: String,
    pub reason: &'static str,
}

impl Classify for InvalidStreamId {
    fn class(&self) -> FailureClass {
        FailureClass::Permanent
    }
}

impl StreamId {
    pub const MAX_LEN: usize = 128;

    pub fn new(value: impl Into<String>) -> Result<Self, InvalidStreamId> {
        let value = value.into();
        let reason = if value.is_empty() {
            Some("it is empty")
        } else if value.len() > Self::MAX_LEN {
            Some("it is longer than 128 characters")
        } else if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            Some("only ASCII letters, digits, `.`, `_` and `-` are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidStreamId { value, reason }),
            None => Ok(StreamId(value)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StreamId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for StreamId {
    type Err = InvalidStreamId;

    fn from_str(value: &str) -> Result<Self, InvalidStreamId> {
        StreamId::new(value)
    }
}

impl TryFrom<String> for StreamId {
    type Error = InvalidStreamId;

    fn try_from(value: String) -> Result<Self, InvalidStreamId> {
        StreamId::new(value)
    }
}

impl From<StreamId> for String {
    fn from(id: StreamId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet_only() {
        assert_eq!(StreamId::new("pubnet.tail-2_a").unwrap().as_str(), "pubnet.tail-2_a");
        assert!(StreamId::new("a".repeat(128)).is_ok());
        assert_eq!(StreamId::new("").unwrap_err().reason, "it is empty");
        assert!(StreamId::new("a".repeat(129)).is_err());
        for bad in ["a/b", "a b", "é", "a\0", "a:b"] {
            let error = StreamId::new(bad).unwrap_err();
            assert!(error.to_string().contains(&format!("`{bad}`")), "{error}");
        }
    }

    #[test]
    fn serde_validates() {
        let id: StreamId = serde_json::from_str(r#""testnet""#).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""testnet""#);
        assert!(serde_json::from_str::<StreamId>(r#""a/b""#).is_err());
    }
}
