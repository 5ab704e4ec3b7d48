//! Inclusive, contiguous ledger ranges (design §1).
//!
//! A [`LedgerRange`] is `[first, last]`, both ends included, never empty: the constructor refuses
//! `first > last`, so every value in the program is a valid range. Batches, commits and files all
//! carry one, and every hand-off checks contiguity with [`LedgerRange::check_follows`]: batch
//! `k+1` starts at `batch_k.last + 1`, with no gap and no overlap.
//!
//! The fields are private so that the invariant cannot be broken by a struct literal or by
//! deserialization (serde goes through the same check). Arithmetic near `u32::MAX` is checked:
//! no ledger follows `u32::MAX`, and [`LedgerRange::len`] is a `u64` because the full range
//! holds 2^32 ledgers.

use std::fmt;
use std::num::NonZeroU32;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::resilience::{Classify, FailureClass};

/// Why a range could not be built, parsed or chained. All are permanent: they describe a bug or a
/// bad input, and the same call fails again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    #[error("ledger range {first}-{last} is inverted: the first ledger must not exceed the last")]
    Inverted { first: u32, last: u32 },
    #[error("ledger range does not follow the previous one: expected first ledger {expected}, found {found}")]
    NotContiguous { expected: u32, found: u32 },
    #[error("no ledger follows {previous_last}, the last sequence number; found a range starting at {found}")]
    NothingFollows { previous_last: u32, found: u32 },
    #[error("`{input}` is not a ledger range: {reason} (expected `first-last`, e.g. `100-199`)")]
    Parse { input: String, reason: &'static str },
}

impl Classify for RangeError {
    fn class(&self) -> FailureClass {
        FailureClass::Permanent
    }
}

/// The ledgers `first..=last`. Serialized as `{"first": .., "last": ..}`; displayed and parsed as
/// `first-last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "LedgerRangeFields")]
pub struct LedgerRange {
    first: u32,
    last: u32,
}

/// The unchecked wire form; [`LedgerRange`] deserializes through it so a stored or configured
/// `first > last` is rejected like any other construction.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerRangeFields {
    first: u32,
    last: u32,
}

impl TryFrom<LedgerRangeFields> for LedgerRange {
    type Error = RangeError;

    fn try_from(fields: LedgerRangeFields) -> Result<Self, RangeError> {
        LedgerRange::new(fields.first, fields.last)
    }
}

impl LedgerRange {
    /// The ledgers `first..=last`; fails when `first > last`.
    pub const fn new(first: u32, last: u32) -> Result<Self, RangeError> {
        if first > last {
            return Err(RangeError::Inverted { first, last });
        }
        Ok(LedgerRange { first, last })
    }

    /// The range holding only `sequence`.
    pub const fn single(sequence: u32) -> Self {
        LedgerRange { first: sequence, last: sequence }
    }

    /// First ledger, included.
    pub const fn first(&self) -> u32 {
        self.first
    }

    /// Last ledger, included.
    pub const fn last(&self) -> u32 {
        self.last
    }

    /// Number of ledgers, at least 1 (a `u64`: the full `u32` range holds 2^32 ledgers).
    pub const fn len(&self) -> u64 {
        self.last as u64 - self.first as u64 + 1
    }

    /// Always `false`: a range holds at least one ledger. Present for the `len`/`is_empty` pair.
    pub const fn is_empty(&self) -> bool {
        false
    }

    pub const fn contains(&self, sequence: u32) -> bool {
        self.first <= sequence && sequence <= self.last
    }

    /// The first ledger after this range, `None` when the range ends at `u32::MAX`.
    pub const fn next_ledger(&self) -> Option<u32> {
        self.last.checked_add(1)
    }

    /// Whether `self` starts right after `previous` (no gap, no overlap).
    pub const fn follows(&self, previous: &LedgerRange) -> bool {
        match previous.next_ledger() {
            Some(expected) => self.first == expected,
            None => false,
        }
    }

    /// [`LedgerRange::follows`] as a `Result` whose error names the expected and the found first
    /// ledger.
    pub const fn check_follows(&self, previous: &LedgerRange) -> Result<(), RangeError> {
        match previous.next_ledger() {
            Some(expected) if self.first == expected => Ok(()),
            Some(expected) => Err(RangeError::NotContiguous { expected, found: self.first }),
            None => Err(RangeError::NothingFollows { previous_last: previous.last, found: self.first }),
        }
    }

    /// `self` and `next` as one range, when `next` follows `self` (used to group batches into
    /// one commit).
    pub fn join(&self, next: &LedgerRange) -> Result<LedgerRange, RangeError> {
        next.check_follows(self)?;
        Ok(LedgerRange { first: self.first, last: next.last })
    }

    /// Splits into `first..=at-1` and `at..=last`, like `slice::split_at`: `at` is the first
    /// ledger of the second part. `None` unless `first < at <= last` (both parts non-empty).
    pub const fn split_at(&self, at: u32) -> Option<(LedgerRange, LedgerRange)> {
        if at <= self.first || at > self.last {
            return None;
        }
        Some((LedgerRange { first: self.first, last: at - 1 }, LedgerRange { first: at, last: self.last }))
    }

    /// The ledger sequences of the range, in order.
    pub fn iter(&self) -> RangeInclusive<u32> {
        self.first..=self.last
    }

    /// Consecutive sub-ranges of at most `max_len` ledgers that cover `self` in order (the last
    /// one may be shorter).
    pub fn chunks(&self, max_len: NonZeroU32) -> Chunks {
        Chunks { next_first: Some(self.first), last: self.last, max_len }
    }
}

impl fmt::Display for LedgerRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for LedgerRange {
    type Err = RangeError;

    /// Parses `first-last` (the [`Display`](fmt::Display) form).
    fn from_str(input: &str) -> Result<Self, RangeError> {
        let parse_error = |reason| RangeError::Parse { input: input.to_owned(), reason };
        let (first, last) = input.split_once('-').ok_or_else(|| parse_error("no `-` separator"))?;
        let first = first.parse::<u32>().map_err(|_| parse_error("the first ledger is not a u32"))?;
        let last = last.parse::<u32>().map_err(|_| parse_error("the last ledger is not a u32"))?;
        LedgerRange::new(first, last)
    }
}

impl IntoIterator for LedgerRange {
    type Item = u32;
    type IntoIter = RangeInclusive<u32>;

    fn into_iter(self) -> RangeInclusive<u32> {
        self.iter()
    }
}

impl IntoIterator for &LedgerRange {
    type Item = u32;
    type IntoIter = RangeInclusive<u32>;

    fn into_iter(self) -> RangeInclusive<u32> {
        self.iter()
    }
}

impl From<LedgerRange> for RangeInclusive<u32> {
    fn from(range: LedgerRange) -> Self {
        range.iter()
    }
}

/// Iterator of [`LedgerRange::chunks`].
#[derive(Debug, Clone)]
pub struct Chunks {
    /// `None` once the chunk ending at `last` was returned.
    next_first: Option<u32>,
    last: u32,
    max_len: NonZeroU32,
}

impl Iterator for Chunks {
    type Item = LedgerRange;

    fn next(&mut self) -> Option<LedgerRange> {
        let first = self.next_first?;
        let last = first.saturating_add(self.max_len.get() - 1).min(self.last);
        // `last < self.last` implies `last + 1` exists, so `None` only ends the iteration.
        self.next_first = if last < self.last { last.checked_add(1) } else { None };
        Some(LedgerRange { first, last })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.next_first {
            None => (0, Some(0)),
            Some(first) => {
                let remaining = u64::from(self.last) - u64::from(first) + 1;
                let chunks = remaining.div_ceil(u64::from(self.max_len.get()));
                let chunks = usize::try_from(chunks).ok();
                (chunks.unwrap_or(usize::MAX), chunks)
            }
        }
    }
}

impl std::iter::FusedIterator for Chunks {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(first: u32, last: u32) -> LedgerRange {
        LedgerRange::new(first, last).expect("test ranges are ordered")
    }

    /// Ranges biased towards the edges (0 and `u32::MAX`) where overflow bugs live.
    fn any_range() -> impl Strategy<Value = LedgerRange> {
        let bound = prop_oneof![
            Just(0u32),
            Just(1u32),
            Just(u32::MAX),
            Just(u32::MAX - 1),
            0u32..1_000,
            any::<u32>(),
        ];
        (bound.clone(), bound).prop_map(|(a, b)| range(a.min(b), a.max(b)))
    }

    #[test]
    fn new_refuses_inverted_and_names_both_ends() {
        let error = LedgerRange::new(10, 9).unwrap_err();
        assert_eq!(error, RangeError::Inverted { first: 10, last: 9 });
        let message = error.to_string();
        assert!(message.contains("10-9"), "{message}");
        assert_eq!(error.class(), FailureClass::Permanent);
        assert_eq!(LedgerRange::new(7, 7), Ok(LedgerRange::single(7)));
    }

    #[test]
    fn len_contains_and_edges() {
        assert_eq!(range(5, 5).len(), 1);
        assert_eq!(range(5, 14).len(), 10);
        assert_eq!(range(0, u32::MAX).len(), 1u64 << 32);
        assert!(!range(0, 0).is_empty());
        assert!(range(5, 14).contains(5) && range(5, 14).contains(14));
        assert!(!range(5, 14).contains(4) && !range(5, 14).contains(15));
        assert_eq!(range(1, u32::MAX).next_ledger(), None);
    }

    #[test]
    fn follows_and_check_follows_name_expected_and_found() {
        let previous = range(100, 199);
        assert!(range(200, 299).follows(&previous));
        assert_eq!(range(200, 200).check_follows(&previous), Ok(()));

        let gap = range(201, 300).check_follows(&previous).unwrap_err();
        assert_eq!(gap, RangeError::NotContiguous { expected: 200, found: 201 });
        let message = gap.to_string();
        assert!(message.contains("200") && message.contains("201"), "{message}");

        let overlap = range(150, 300);
        assert!(!overlap.follows(&previous));
        assert_eq!(
            overlap.check_follows(&previous),
            Err(RangeError::NotContiguous { expected: 200, found: 150 })
        );

        let at_the_end = range(7, u32::MAX);
        assert!(!range(0, 1).follows(&at_the_end));
        assert_eq!(
            range(0, 1).check_follows(&at_the_end),
            Err(RangeError::NothingFollows { previous_last: u32::MAX, found: 0 })
        );
    }

    #[test]
    fn join_groups_contiguous_ranges_only() {
        assert_eq!(range(1, 5).join(&range(6, 9)), Ok(range(1, 9)));
        assert_eq!(range(1, 5).join(&range(7, 9)), Err(RangeError::NotContiguous { expected: 6, found: 7 }));
    }

    #[test]
    fn split_at_bounds() {
        let r = range(10, 19);
        assert_eq!(r.split_at(15), Some((range(10, 14), range(15, 19))));
        assert_eq!(r.split_at(19), Some((range(10, 18), range(19, 19))));
        assert_eq!(r.split_at(11), Some((range(10, 10), range(11, 19))));
        assert_eq!(r.split_at(10), None, "the first part would be empty");
        assert_eq!(r.split_at(20), None, "the second part would be empty");
        assert_eq!(range(0, 0).split_at(0), None);
    }

    #[test]
    fn display_parse_and_serde() {
        let r = range(100, 199);
        assert_eq!(r.to_string(), "100-199");
        assert_eq!("100-199".parse::<LedgerRange>(), Ok(r));
        assert_eq!("5-5".parse::<LedgerRange>(), Ok(LedgerRange::single(5)));
        assert!(matches!("100".parse::<LedgerRange>(), Err(RangeError::Parse { .. })));
        assert!(matches!("a-5".parse::<LedgerRange>(), Err(RangeError::Parse { .. })));
        assert!(matches!("1-2-3".parse::<LedgerRange>(), Err(RangeError::Parse { .. })));
        assert_eq!("9-8".parse::<LedgerRange>(), Err(RangeError::Inverted { first: 9, last: 8 }));

        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"first":100,"last":199}"#);
        assert_eq!(serde_json::from_str::<LedgerRange>(&json).unwrap(), r);
        let inverted = serde_json::from_str::<LedgerRange>(r#"{"first":9,"last":8}"#).unwrap_err();
        assert!(inverted.to_string().contains("9-8"), "{inverted}");
        assert!(serde_json::from_str::<LedgerRange>(r#"{"first":1,"last":2,"extra":3}"#).is_err());
    }

    #[test]
    fn iteration_and_chunks_at_the_top_of_u32() {
        assert_eq!(range(3, 6).iter().collect::<Vec<_>>(), vec![3, 4, 5, 6]);
        assert_eq!(range(3, 4).into_iter().collect::<Vec<_>>(), vec![3, 4]);
        let top = range(u32::MAX - 4, u32::MAX);
        let chunks: Vec<_> = top.chunks(NonZeroU32::new(2).unwrap()).collect();
        assert_eq!(
            chunks,
            vec![
                range(u32::MAX - 4, u32::MAX - 3),
                range(u32::MAX - 2, u32::MAX - 1),
                range(u32::MAX, u32::MAX)
            ]
        );
        let whole: Vec<_> = range(0, u32::MAX).chunks(NonZeroU32::MAX).collect();
        assert_eq!(whole, vec![range(0, u32::MAX - 1), range(u32::MAX, u32::MAX)]);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn split_parts_are_contiguous_and_cover(r in any_range(), at in any::<u32>()) {
            match r.split_at(at) {
                Some((left, right)) => {
                    prop_assert!(r.first() < at && at <= r.last());
                    prop_assert!(right.follows(&left));
                    prop_assert_eq!(right.check_follows(&left), Ok(()));
                    prop_assert_eq!(left.first(), r.first());
                    prop_assert_eq!(right.last(), r.last());
                    prop_assert_eq!(left.len() + right.len(), r.len());
                    prop_assert_eq!(left.join(&right), Ok(r));
                }
                None => prop_assert!(at <= r.first() || at > r.last()),
            }
        }

        #[test]
        fn chunks_are_contiguous_bounded_and_cover(r in any_range(), max_len in 1u32..5_000) {
            let max_len = NonZeroU32::new(max_len).unwrap();
            // Keep the walk short: the huge ranges only use large chunks.
            prop_assume!(r.len() / u64::from(max_len.get()) < 10_000);
            let chunks = r.chunks(max_len);
            let (low, high) = chunks.size_hint();
            let chunks: Vec<_> = chunks.collect();
            prop_assert_eq!(low, chunks.len());
            prop_assert_eq!(high, Some(chunks.len()));
            prop_assert_eq!(chunks.first().map(LedgerRange::first), Some(r.first()));
            prop_assert_eq!(chunks.last().map(LedgerRange::last), Some(r.last()));
            prop_assert_eq!(chunks.iter().map(LedgerRange::len).sum::<u64>(), r.len());
            for pair in chunks.windows(2) {
                prop_assert_eq!(pair[1].check_follows(&pair[0]), Ok(()));
                prop_assert_eq!(pair[0].len(), u64::from(max_len.get()));
            }
            prop_assert!(chunks.iter().all(|c| c.len() <= u64::from(max_len.get())));
        }

        #[test]
        fn follows_agrees_with_check_follows(a in any_range(), b in any_range()) {
            prop_assert_eq!(b.follows(&a), b.check_follows(&a).is_ok());
            prop_assert_eq!(b.follows(&a), u64::from(b.first()) == u64::from(a.last()) + 1);
            // Contiguous ranges never overlap.
            if b.follows(&a) {
                prop_assert!(!a.contains(b.first()) && !b.contains(a.last()));
            }
        }

        #[test]
        fn new_accepts_exactly_ordered_pairs(first in any::<u32>(), last in any::<u32>()) {
            prop_assert_eq!(LedgerRange::new(first, last).is_ok(), first <= last);
        }

        #[test]
        fn display_parse_and_serde_round_trip(r in any_range()) {
            prop_assert_eq!(r.to_string().parse::<LedgerRange>(), Ok(r));
            let json = serde_json::to_string(&r).unwrap();
            prop_assert_eq!(serde_json::from_str::<LedgerRange>(&json).unwrap(), r);
        }

        #[test]
        fn small_ranges_iterate_len_ledgers(first in any::<u32>(), extra in 0u32..64) {
            let r = range(first, first.saturating_add(extra));
            let sequences: Vec<u32> = r.iter().collect();
            prop_assert_eq!(sequences.len() as u64, r.len());
            prop_assert!(sequences.iter().all(|s| r.contains(*s)));
            prop_assert!(sequences.windows(2).all(|w| w[1] == w[0] + 1));
        }
    }
}
