//! Every sled tree name and key of the checkpoint store, and nothing else (style.md §9).
//!
//! All keys start with the stream id, so several streams share one database (design §1):
//!
//! | tree                    | key                          | value (see `codec`)                     |
//! | ----------------------- | ---------------------------- | --------------------------------------- |
//! | `checkpoint.progress`   | `<stream>`                   | high-water mark, commit count, pending  |
//! | `checkpoint.commits`    | `<stream>/<index:020>`       | one commit: range, files, dead letters  |
//! | `checkpoint.analytics`  | `<stream>`                   | the latest analytics snapshot           |
//!
//! Keys are ASCII text, readable in a dump. The commit index is zero-padded decimal so that byte
//! order is commit order. `/` cannot occur in a [`StreamId`], so the prefix `<stream>/` of one
//! stream never matches the keys of another (`a/` is not a prefix of `ab/..`).

use super::StreamId;

pub(super) const PROGRESS_TREE: &str = "checkpoint.progress";
pub(super) const COMMITS_TREE: &str = "checkpoint.commits";
pub(super) const ANALYTICS_TREE: &str = "checkpoint.analytics";

/// Width of the zero-padded commit index: `u64::MAX` has 20 digits.
const INDEX_WIDTH: usize = 20;

pub(super) fn progress(stream: &StreamId) -> Vec<u8> {
    stream.as_str().as_bytes().to_vec()
}

pub(super) fn analytics(stream: &StreamId) -> Vec<u8> {
    stream.as_str().as_bytes().to_vec()
}

/// Key of the commit number `index` (0 for the first commit) of `stream`.
pub(super) fn commit(stream: &StreamId, index: u64) -> Vec<u8> {
    format!("{stream}/{index:0INDEX_WIDTH$}").into_bytes()
}

/// Prefix of every commit key of `stream`.
pub(super) fn commits_prefix(stream: &StreamId) -> Vec<u8> {
    format!("{stream}/").into_bytes()
}

/// The stream of a `checkpoint.progress` key; `None` when the key is not a valid stream id
/// (corruption: this module wrote every key).
pub(super) fn stream_of_progress_key(key: &[u8]) -> Option<StreamId> {
    std::str::from_utf8(key).ok().and_then(|text| StreamId::new(text).ok())
}

/// A key as text, for error messages.
pub(super) fn display(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> StreamId {
        StreamId::new(text).unwrap()
    }

    #[test]
    fn layout() {
        assert_eq!(progress(&id("pubnet")), b"pubnet");
        assert_eq!(analytics(&id("pubnet")), b"pubnet");
        assert_eq!(commit(&id("pubnet"), 42), b"pubnet/00000000000000000042");
        assert_eq!(commit(&id("s"), u64::MAX), b"s/18446744073709551615");
        assert_eq!(commits_prefix(&id("pubnet")), b"pubnet/");
        assert_eq!(stream_of_progress_key(b"pubnet"), Some(id("pubnet")));
        assert_eq!(stream_of_progress_key(b"pub/net"), None);
        assert_eq!(stream_of_progress_key(&[0xff]), None);
    }

    #[test]
    fn commit_keys_sort_in_commit_order_and_stay_under_their_stream() {
        let keys: Vec<_> = [0u64, 1, 9, 10, 99, 100, 1 << 40].iter().map(|i| commit(&id("a"), *i)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| k.starts_with(&commits_prefix(&id("a")))));
        assert!(!commit(&id("ab"), 0).starts_with(&commits_prefix(&id("a"))));
        assert!(!commit(&id("a.b"), 0).starts_with(&commits_prefix(&id("a"))));
    }
}
