//! Cutting the ledger stream into archive files, at ledger boundaries.
//!
//! [`PartitionBuffer`] decides, for the open files of every table for one UTC date and one
//! ledger range, where each pushed row goes and when the files are complete. Ledger batches
//! arrive in order ([`PartitionBuffer::push`]); the push answers with [`Step`]s, in order: a
//! set of files opens at a ledger, slices of the batch (whole ledgers, never copied) go to
//! each table's open file, and sets are cut. It holds no rows itself: the caller encodes each
//! slice as it comes (the archive's `ArchiveSink`), so a file is never held as Arrow batches.
//! Files are cut for every table at once, at the same ledger, into a [`FileSet`] whose files
//! all cover one [`LedgerRange`]: that set is what one checkpoint commit makes visible, so a
//! commit always covers whole ledgers in every table.
//!
//! A set is cut when
//! - the next ledger closed on a later UTC date ([`CutReason::DateChange`]): no file spans
//!   two dates, even when one incoming batch crosses midnight;
//! - it holds `max_ledgers_per_file` ledgers ([`CutReason::MaxLedgers`]);
//! - some table's file would pass `max_file_bytes` of Arrow memory ([`CutReason::MaxBytes`]):
//!   before a batch whose rows it cannot all take, so files end where batches end; inside a
//!   batch larger than a whole file, before the first ledger that does not fit; a single
//!   ledger larger than the limit gets a file of its own;
//! - its first ledger was pushed `max_file_age` ago ([`CutReason::MaxAge`], checked on
//!   every push and on [`PartitionBuffer::poll`], with `now` passed in);
//! - the caller flushes ([`CutReason::Flush`], e.g. at shutdown).
//!
//! The size a file is cut at is the Arrow memory of its rows (a function of the rows and of
//! the batch boundaries: a replay starts at a commit, which is a batch boundary, and its
//! batches are formed the same way from there, so it cuts the same files); the encoded file
//! is smaller.
//!
//! Tables with no rows in a range (a run of ledgers without contract events) still get a file
//! with zero rows, so every table's files cover every ledger and `verify` finds no false gaps.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::time::{Duration, Instant};

use arrow::array::Array;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;

use super::ArchiveError;
use super::columns::{Day, LedgerColumns, date_of_day};
use super::layout::{FileKey, format_date};
use crate::range::LedgerRange;
use crate::tables::Table;

/// When files are cut. Zero limits act as 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Largest Arrow memory of one table's rows in a file (the encoded file is smaller).
    pub max_file_bytes: u64,
    /// Most ledgers in a file.
    pub max_ledgers_per_file: u32,
    /// Longest time a file stays open after its first ledger was buffered.
    pub max_file_age: Duration,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            max_file_bytes: 32 * 1024 * 1024,
            // About one day of ledgers at 5 s each; the date boundary usually cuts first.
            max_ledgers_per_file: 17_280,
            max_file_age: Duration::from_secs(600),
        }
    }
}

/// Why a [`FileSet`] was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CutReason {
    DateChange,
    MaxLedgers,
    MaxBytes,
    MaxAge,
    Flush,
}

/// What a push asks of the open files, in order (see [`PartitionBuffer::push`]).
pub enum Step {
    /// A set of files opens at ledger `first` of `date`: one file per table, in the order of
    /// [`PartitionBuffer::tables`].
    Open { date: NaiveDate, first: u32 },
    /// Rows of whole ledgers (a slice of the pushed batch) for the open file of
    /// `tables()[index]`, after the rows given to it before; `bytes` is their Arrow memory.
    Append { index: usize, rows: RecordBatch, bytes: u64 },
    /// The open set is complete: its files cover the set's range.
    Cut(FileSet),
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Open { date, first } => write!(f, "Open({} from {first})", format_date(*date)),
            Step::Append { index, rows, bytes } => {
                write!(f, "Append(table {index}, {} rows, {bytes} bytes)", rows.num_rows())
            }
            Step::Cut(set) => write!(f, "Cut({} {}, {:?})", format_date(set.date), set.range, set.reason),
        }
    }
}

/// One table's file of a cut set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutFile {
    pub key: FileKey,
    /// Rows appended to it (may be 0: a file with no rows).
    pub rows: u64,
    /// Arrow memory of those rows (the size estimate rotation uses).
    pub arrow_bytes: u64,
}

/// The files of every table for one date and one ledger range: the unit of a commit.
#[derive(Debug)]
pub struct FileSet {
    pub date: NaiveDate,
    /// The range of every file in the set; its last ledger is the high-water mark the commit
    /// records.
    pub range: LedgerRange,
    pub reason: CutReason,
    /// One file per table, in the order of [`PartitionBuffer::tables`] ([`Table`] order).
    pub files: Vec<CutFile>,
}

impl FileSet {
    /// The relative paths the checkpoint commit records (step 2 of design §3).
    pub fn relative_paths(&self) -> Vec<String> {
        self.files.iter().map(|file| file.key.relative_path()).collect()
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(|file| file.rows).sum()
    }
}

/// What the open set holds, for metrics and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferStatus {
    pub date: NaiveDate,
    pub range: LedgerRange,
    pub rows: u64,
    /// Arrow memory of the rows, over all tables.
    pub bytes: u64,
    /// Arrow memory of the largest table's file (what `max_file_bytes` limits).
    pub largest_file_bytes: u64,
    /// Time since the first ledger was pushed.
    pub age: Duration,
}

/// Where the pushed rows go and when files are cut (see the module docs).
pub struct PartitionBuffer {
    policy: RotationPolicy,
    /// First ledger the next push must start at; `None` until the first push (or
    /// [`PartitionBuffer::with_next_ledger`]). A `u64` so the ledger after `u32::MAX` exists.
    next_ledger: Option<u64>,
    /// The tables and schemas of the first push, in [`Table`] order; later pushes must match.
    tables: Vec<(Table, SchemaRef)>,
    open: Option<OpenFiles>,
}

struct OpenFiles {
    day: Day,
    date: NaiveDate,
    first: u64,
    /// One past the last buffered ledger.
    next: u64,
    opened_at: Instant,
    /// Parallel to `PartitionBuffer::tables`.
    files: Vec<OpenTableFile>,
}

impl OpenFiles {
    fn ledgers(&self) -> u64 {
        self.next - self.first
    }

    /// The buffered ledgers; `None` only while empty (never, outside `append`).
    fn range(&self) -> Option<LedgerRange> {
        let first = u32::try_from(self.first).ok()?;
        let last = u32::try_from(self.next.checked_sub(1)?).ok()?;
        LedgerRange::new(first, last).ok()
    }
}

/// What one table's open file has been given.
#[derive(Default)]
struct OpenTableFile {
    rows: u64,
    bytes: u64,
}

/// One table of an incoming batch, with its ledger columns read.
struct Input<'a> {
    table: Table,
    batch: &'a RecordBatch,
    columns: LedgerColumns,
}

impl Input<'_> {
    /// Arrow memory of the rows of ledgers `first..=last`.
    fn bytes_of(&self, first: u64, last: u64) -> u64 {
        let rows = self.columns.rows_of(first, last);
        if rows.is_empty() { 0 } else { slice_bytes(&self.batch.slice(rows.start, rows.len())) }
    }
}

/// A run of ledgers of one incoming batch that closed on one date.
struct Segment {
    day: Day,
    date: NaiveDate,
    first: u64,
    last: u64,
}

impl PartitionBuffer {
    pub fn new(policy: RotationPolicy) -> Self {
        PartitionBuffer { policy, next_ledger: None, tables: Vec::new(), open: None }
    }

    /// Expects the first push to start at `ledger` (the resume point from the checkpoint).
    pub fn with_next_ledger(mut self, ledger: u32) -> Self {
        self.next_ledger = Some(u64::from(ledger));
        self
    }

    pub fn policy(&self) -> &RotationPolicy {
        &self.policy
    }

    /// The ledger the next push must start at, once known.
    pub fn next_ledger(&self) -> Option<u32> {
        self.next_ledger.and_then(|n| u32::try_from(n).ok())
    }

    /// The tables of the first push and their schemas, in [`Table`] order: the order of each
    /// set's files and of [`Step::Append`]'s `index`. Empty before the first push.
    pub fn tables(&self) -> &[(Table, SchemaRef)] {
        &self.tables
    }

    /// Places the tables of the ledgers `range` (one batch per table, rows ordered by ledger,
    /// every push with the same tables and schemas): returns the steps that open, fill and cut
    /// files, in order. On error nothing changed and the batch may be pushed again fixed.
    pub fn push(
        &mut self,
        range: LedgerRange,
        tables: &[(Table, &RecordBatch)],
        now: Instant,
    ) -> Result<Vec<Step>, ArchiveError> {
        let (first, last) = (range.first(), range.last());
        let batch_error = |reason: String| ArchiveError::BadLedgerBatch { range, reason };
        if let Some(expected) = self.next_ledger
            && u64::from(first) != expected
        {
            return Err(batch_error(format!("the previous batch ended at ledger {}", expected - 1)));
        }
        if tables.is_empty() {
            return Err(batch_error("a ledger batch needs at least one table".into()));
        }
        let inputs = self.read_inputs(tables)?;
        for input in &inputs {
            if let Some(run) = input.columns.runs.iter().find(|r| r.sequence < first || r.sequence > last) {
                return Err(ArchiveError::InvalidBatch {
                    table: input.table,
                    reason: format!("ledger {} is outside the batch's range {range}", run.sequence),
                });
            }
        }
        let segments = self.segments(range, &inputs)?;

        // Validated: nothing below fails, so a push is all or nothing.
        if self.tables.is_empty() {
            self.tables = inputs.iter().map(|input| (input.table, input.batch.schema())).collect();
        }
        let mut steps = Vec::new();
        for segment in &segments {
            self.append(segment, &inputs, now, &mut steps);
        }
        steps.extend(self.poll(now).map(Step::Cut));
        self.next_ledger = Some(u64::from(last) + 1);
        Ok(steps)
    }

    /// Cuts the open files if they are older than `max_file_age` (a timer tick for a slow
    /// stream).
    pub fn poll(&mut self, now: Instant) -> Option<FileSet> {
        if self.due(now) { self.cut(CutReason::MaxAge) } else { None }
    }

    /// Whether [`PartitionBuffer::poll`] at `now` would cut.
    pub fn due(&self, now: Instant) -> bool {
        self.open
            .as_ref()
            .is_some_and(|open| now.saturating_duration_since(open.opened_at) >= self.policy.max_file_age)
    }

    /// Cuts the open set, if any (shutdown, or a caller that wants a commit now).
    pub fn flush(&mut self) -> Option<FileSet> {
        self.cut(CutReason::Flush)
    }

    /// What the open set holds, if one is open.
    pub fn status(&self, now: Instant) -> Option<BufferStatus> {
        let open = self.open.as_ref()?;
        Some(BufferStatus {
            date: open.date,
            range: open.range()?,
            rows: open.files.iter().map(|f| f.rows).sum(),
            bytes: open.files.iter().map(|f| f.bytes).sum(),
            largest_file_bytes: open.files.iter().map(|f| f.bytes).max().unwrap_or(0),
            age: now.saturating_duration_since(open.opened_at),
        })
    }

    /// Arrow memory of the open set's rows, over all tables.
    pub fn buffered_bytes(&self) -> u64 {
        self.open.as_ref().map_or(0, |open| open.files.iter().map(|f| f.bytes).sum())
    }

    /// Matches the pushed tables against the first push's, and reads their ledger columns.
    fn read_inputs<'a>(&self, tables: &[(Table, &'a RecordBatch)]) -> Result<Vec<Input<'a>>, ArchiveError> {
        let mut sorted = tables.to_vec();
        sorted.sort_by_key(|(table, _)| *table);
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(ArchiveError::InvalidBatch {
                table: pair[0].0,
                reason: "given twice in one batch".into(),
            });
        }
        let schemas: Vec<(Table, SchemaRef)> = sorted.iter().map(|(t, batch)| (*t, batch.schema())).collect();
        if !self.tables.is_empty() {
            for (table, _) in &self.tables {
                if !schemas.iter().any(|(t, _)| t == table) {
                    return Err(ArchiveError::InvalidBatch {
                        table: *table,
                        reason: "missing from this batch but present in earlier ones".into(),
                    });
                }
            }
            for (table, schema) in &schemas {
                match self.tables.iter().find(|(t, _)| t == table) {
                    None => {
                        return Err(ArchiveError::InvalidBatch {
                            table: *table,
                            reason: "not present in earlier batches".into(),
                        });
                    }
                    Some((_, expected)) if expected.fields() != schema.fields() => {
                        return Err(ArchiveError::InvalidBatch {
                            table: *table,
                            reason: "schema differs from earlier batches".into(),
                        });
                    }
                    Some(_) => {}
                }
            }
        }
        let inputs = sorted
            .iter()
            .map(|(table, batch)| {
                Ok(Input { table: *table, batch, columns: LedgerColumns::read(*table, batch)? })
            })
            .collect::<Result<Vec<_>, ArchiveError>>()?;
        Ok(inputs)
    }

    /// Splits `range` into runs of one close date each. Each ledger's date comes from
    /// its rows in any table (they must agree); a ledger with no rows in any table goes with
    /// the ledger before it (or, at the start, the first dated ledger; with no dated ledger at
    /// all, the open files' date).
    fn segments(&self, range: LedgerRange, inputs: &[Input<'_>]) -> Result<Vec<Segment>, ArchiveError> {
        let mut days: BTreeMap<u32, (Day, Table)> = BTreeMap::new();
        for input in inputs {
            let table = input.table;
            for run in &input.columns.runs {
                match days.entry(run.sequence) {
                    Entry::Vacant(entry) => {
                        entry.insert((run.day, table));
                    }
                    Entry::Occupied(entry) if entry.get().0 != run.day => {
                        let (other_day, other_table) = *entry.get();
                        return Err(ArchiveError::InvalidBatch {
                            table,
                            reason: format!(
                                "ledger {} closed on day {} here but on day {other_day} in {other_table}",
                                run.sequence, run.day
                            ),
                        });
                    }
                    Entry::Occupied(_) => {}
                }
            }
        }
        let mut previous = self.open.as_ref().map(|open| (open.next - 1, open.day));
        for (&sequence, &(day, table)) in &days {
            if let Some((previous_sequence, previous_day)) = previous
                && day < previous_day
            {
                return Err(ArchiveError::InvalidBatch {
                    table,
                    reason: format!(
                        "close dates go backwards: ledger {sequence} closed a day before ledger {previous_sequence}"
                    ),
                });
            }
            previous = Some((u64::from(sequence), day));
        }
        let (mut day, mut table) = match (days.values().next(), &self.open) {
            (Some(&(day, table)), _) => (day, table),
            (None, Some(open)) => (open.day, self.tables.first().map_or(Table::Ledgers, |(t, _)| *t)),
            (None, None) => {
                return Err(ArchiveError::BadLedgerBatch {
                    range,
                    reason: "no table has a row, so the close date is unknown".into(),
                });
            }
        };
        let mut segments = Vec::new();
        let mut start = u64::from(range.first());
        for (&sequence, &(next_day, next_table)) in &days {
            if next_day != day {
                let sequence = u64::from(sequence);
                segments.push(Segment {
                    day,
                    date: date_of_day(table, day)?,
                    first: start,
                    last: sequence - 1,
                });
                (start, day, table) = (sequence, next_day, next_table);
            }
        }
        segments.push(Segment {
            day,
            date: date_of_day(table, day)?,
            first: start,
            last: u64::from(range.last()),
        });
        Ok(segments)
    }

    /// Appends one date's ledgers, cutting at ledger boundaries as the policy requires.
    fn append(&mut self, segment: &Segment, inputs: &[Input<'_>], now: Instant, steps: &mut Vec<Step>) {
        let max_ledgers = u64::from(self.policy.max_ledgers_per_file.max(1));
        let max_bytes = self.policy.max_file_bytes.max(1);
        // Rows of one batch go into one file where they can: when the open file cannot take
        // the whole run, it is cut before it, so files end where batches end (where a commit
        // can happen) instead of at a ledger inside the batch followed by a small file of the
        // batch's rest. A run larger than a whole file is still cut inside, below.
        if let Some(open) = &self.open
            && open.day == segment.day
            && inputs
                .iter()
                .zip(&open.files)
                .any(|(input, file)| file.bytes + input.bytes_of(segment.first, segment.last) > max_bytes)
        {
            steps.extend(self.cut(CutReason::MaxBytes).map(Step::Cut));
        }
        let mut start = segment.first;
        while start <= segment.last {
            if self.open.as_ref().is_some_and(|open| open.day != segment.day) {
                steps.extend(self.cut(CutReason::DateChange).map(Step::Cut));
            }
            let tables = self.tables.len();
            if self.open.is_none() {
                // `start` is a u32 ledger: segments lie inside the pushed range.
                let first = u32::try_from(start).unwrap_or(u32::MAX);
                steps.push(Step::Open { date: segment.date, first });
            }
            let open = self.open.get_or_insert_with(|| OpenFiles {
                day: segment.day,
                date: segment.date,
                first: start,
                next: start,
                opened_at: now,
                files: (0..tables).map(|_| OpenTableFile::default()).collect(),
            });
            let held = open.ledgers();
            // A full set is cut as soon as it fills, so there is room for at least one ledger.
            let room = max_ledgers.saturating_sub(held).max(1);
            let available = room.min(segment.last - start + 1);
            let fits = |count: u64| {
                inputs
                    .iter()
                    .zip(&open.files)
                    .all(|(input, file)| file.bytes + input.bytes_of(start, start + count - 1) <= max_bytes)
            };
            let count = if fits(1) {
                // The largest prefix of ledgers that fits (fits is monotone in count).
                let (mut low, mut high) = (1, available);
                while low < high {
                    let middle = low + (high - low).div_ceil(2);
                    if fits(middle) { low = middle } else { high = middle - 1 }
                }
                low
            } else if held == 0 {
                1 // one ledger larger than max_file_bytes: a file of its own
            } else {
                steps.extend(self.cut(CutReason::MaxBytes).map(Step::Cut));
                continue;
            };
            let last = start + count - 1;
            for (index, (input, file)) in inputs.iter().zip(open.files.iter_mut()).enumerate() {
                if let Some((rows, bytes)) = file.append(input, start, last) {
                    steps.push(Step::Append { index, rows, bytes });
                }
            }
            open.next = last + 1;
            start = last + 1;
            if open.ledgers() >= max_ledgers {
                steps.extend(self.cut(CutReason::MaxLedgers).map(Step::Cut));
            } else if count < available || open.files.iter().any(|file| file.bytes >= max_bytes) {
                // The next ledger cannot fit: cut now rather than on the next push.
                steps.extend(self.cut(CutReason::MaxBytes).map(Step::Cut));
            }
        }
    }

    fn cut(&mut self, reason: CutReason) -> Option<FileSet> {
        let open = self.open.take()?;
        debug_assert!(open.ledgers() > 0, "open files are created with their first ledger");
        let range = open.range()?;
        let files = self
            .tables
            .iter()
            .zip(open.files)
            .map(|((table, _), file)| CutFile {
                key: FileKey { table: *table, date: open.date, range },
                rows: file.rows,
                arrow_bytes: file.bytes,
            })
            .collect();
        Some(FileSet { date: open.date, range, reason, files })
    }
}

impl fmt::Debug for PartitionBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let open = self.open.as_ref().map(|open| {
            format!("{} {}..={}", format_date(open.date), open.first, open.next.saturating_sub(1))
        });
        f.debug_struct("PartitionBuffer")
            .field("policy", &self.policy)
            .field("next_ledger", &self.next_ledger)
            .field("open", &open)
            .field("buffered_bytes", &self.buffered_bytes())
            .finish()
    }
}

impl OpenTableFile {
    /// Counts the rows of ledgers `first..=last` of `input` as given to this file, and returns
    /// them (a slice of the batch) with their Arrow memory, `None` when there are none.
    fn append(&mut self, input: &Input<'_>, first: u64, last: u64) -> Option<(RecordBatch, u64)> {
        let rows = input.columns.rows_of(first, last);
        if rows.is_empty() {
            return None;
        }
        let slice = input.batch.slice(rows.start, rows.len());
        let bytes = slice_bytes(&slice);
        self.bytes += bytes;
        self.rows += rows.len() as u64;
        Some((slice, bytes))
    }
}

/// Arrow memory of the rows a (possibly sliced) batch covers.
fn slice_bytes(batch: &RecordBatch) -> u64 {
    batch
        .columns()
        .iter()
        .map(|column| {
            column.to_data().get_slice_memory_size().unwrap_or_else(|_| column.get_array_memory_size())
        })
        .sum::<usize>() as u64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::archive::test_support::{
        Collector, MemorySet, date, ledger_batch, micros_on, range, refs, rows_in_ledger,
    };

    const SECOND: Duration = Duration::from_secs(1);

    fn policy(max_file_bytes: u64, max_ledgers_per_file: u32, max_file_age: Duration) -> RotationPolicy {
        RotationPolicy { max_file_bytes, max_ledgers_per_file, max_file_age }
    }

    fn no_limits() -> RotationPolicy {
        policy(u64::MAX, u32::MAX, Duration::from_secs(86_400))
    }

    /// `(first, last)` of each set, checking that every file of a set has the set's range and
    /// date and the rows of exactly those ledgers.
    fn ranges(sets: &[MemorySet]) -> Vec<(u32, u32)> {
        for set in sets {
            assert_eq!(set.files.len(), Table::LEDGER_TABLES.len());
            for file in &set.files {
                assert_eq!(
                    (file.key.first(), file.key.last(), file.key.date),
                    (set.range.first(), set.range.last(), set.date)
                );
                let expected: usize =
                    (set.range.first()..=set.range.last()).map(|s| rows_in_ledger(file.key.table, s)).sum();
                assert_eq!(file.rows as usize, expected, "{:?}", file.key);
                assert_eq!(file.batches.iter().map(|b| b.num_rows()).sum::<usize>(), expected);
            }
        }
        sets.iter().map(|set| (set.range.first(), set.range.last())).collect()
    }

    #[test]
    fn a_batch_across_midnight_is_cut_at_the_first_ledger_of_the_new_date() {
        let mut buffer = Collector::new(no_limits());
        let now = Instant::now();
        // Ledgers 100..=109 close every 5 s up to 23:59:55 of day 0; 110..=119 on day 1.
        let batch = ledger_batch(100, 119, |s| micros_on(0, 86_400 - 50 + 5 * (i64::from(s) - 100)));
        let cut = buffer.push(range(100, 119), &refs(&batch), now).unwrap();
        assert_eq!(ranges(&cut), vec![(100, 109)]);
        assert_eq!(cut[0].date, date(0));
        assert_eq!(cut[0].reason, CutReason::DateChange);
        let rest = buffer.flush().unwrap();
        assert_eq!(ranges(std::slice::from_ref(&rest)), vec![(110, 119)]);
        assert_eq!(rest.date, date(1));
        assert!(buffer.flush().is_none());
    }

    #[test]
    fn the_date_change_may_fall_between_batches() {
        let mut buffer = Collector::new(no_limits());
        let now = Instant::now();
        assert!(
            buffer
                .push(range(1, 5), &refs(&ledger_batch(1, 5, |_| micros_on(3, 1))), now)
                .unwrap()
                .is_empty()
        );
        let cut = buffer.push(range(6, 8), &refs(&ledger_batch(6, 8, |_| micros_on(4, 1))), now).unwrap();
        assert_eq!(ranges(&cut), vec![(1, 5)]);
        assert_eq!(cut[0].date, date(3));
        assert_eq!(buffer.status(now).unwrap().range.first(), 6);
    }

    #[test]
    fn ledger_count_cuts_inside_a_batch() {
        let mut buffer = Collector::new(policy(u64::MAX, 10, Duration::from_secs(3600)));
        let now = Instant::now();
        let cut = buffer.push(range(1, 25), &refs(&ledger_batch(1, 25, |_| micros_on(0, 0))), now).unwrap();
        assert_eq!(ranges(&cut), vec![(1, 10), (11, 20)]);
        assert!(cut.iter().all(|set| set.reason == CutReason::MaxLedgers));
        let cut = buffer.push(range(26, 30), &refs(&ledger_batch(26, 30, |_| micros_on(0, 0))), now).unwrap();
        assert_eq!(ranges(&cut), vec![(21, 30)]);
        assert!(buffer.flush().is_none());
    }

    #[test]
    fn bytes_cut_before_a_file_would_exceed_the_limit() {
        let batch = ledger_batch(1, 60, |_| micros_on(0, 0));
        // Find how many bytes the operations rows of ledgers 1..=20 take and use that as the limit.
        let operations = LedgerColumns::read(Table::Operations, &batch[2].1).unwrap();
        let input = Input { table: Table::Operations, batch: &batch[2].1, columns: operations };
        let limit = input.bytes_of(1, 20);
        let mut buffer = Collector::new(policy(limit, u32::MAX, Duration::from_secs(3600)));
        let now = Instant::now();
        let cut = buffer.push(range(1, 60), &refs(&batch), now).unwrap();
        let ranges = ranges(&cut);
        assert!(!ranges.is_empty());
        assert_eq!(ranges[0].0, 1);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0, "contiguous: {ranges:?}");
        }
        for set in &cut {
            assert_eq!(set.reason, CutReason::MaxBytes);
            assert!(set.files.iter().all(|f| f.arrow_bytes <= limit), "{set:?}");
            // Adding the next ledger would have crossed the limit in some table.
            let next = u64::from(set.range.last()) + 1;
            let crossed = Table::LEDGER_TABLES.iter().enumerate().any(|(i, table)| {
                let columns = LedgerColumns::read(*table, &batch[i].1).unwrap();
                let input = Input { table: *table, batch: &batch[i].1, columns };
                input.bytes_of(u64::from(set.range.first()), next) > limit
            });
            assert!(crossed, "cut too early at {}", set.range.last());
        }
        assert!(buffer.buffered_bytes() <= limit * Table::LEDGER_TABLES.len() as u64);
    }

    #[test]
    fn a_batch_the_open_file_cannot_take_starts_a_new_file() {
        let batch = ledger_batch(1, 80, |_| micros_on(0, 0));
        let bytes_of = |first: u32, last: u32| {
            (0..Table::LEDGER_TABLES.len())
                .map(|i| {
                    let columns = LedgerColumns::read(batch[i].0, &batch[i].1).unwrap();
                    Input { table: batch[i].0, batch: &batch[i].1, columns }
                        .bytes_of(u64::from(first), u64::from(last))
                })
                .collect::<Vec<u64>>()
        };
        // Room for a little over two batches of eight ledgers in the largest table.
        let limit = *bytes_of(1, 20).iter().max().unwrap();
        let mut buffer = Collector::new(policy(limit, u32::MAX, Duration::from_secs(3600)));
        let now = Instant::now();
        let mut sets = Vec::new();
        for first in (1..=80).step_by(8) {
            let part = ledger_batch(first, first + 7, |_| micros_on(0, 0));
            sets.extend(buffer.push(range(first, first + 7), &refs(&part), now).unwrap());
        }
        sets.extend(buffer.flush());
        let ranges = ranges(&sets);
        assert!(ranges.len() >= 4, "{ranges:?}");
        for (index, set) in sets.iter().enumerate() {
            assert_eq!(set.range.last() % 8, 0, "ends where a batch ends: {ranges:?}");
            assert!(set.files.iter().all(|f| f.arrow_bytes <= limit), "{set:?}");
            if index + 1 < sets.len() {
                assert_eq!(set.reason, CutReason::MaxBytes);
                // The next batch would not have fitted: no file is cut early.
                let with_next = bytes_of(set.range.first(), set.range.last() + 8);
                assert!(with_next.iter().any(|&b| b > limit), "cut too early at {}", set.range.last());
            }
        }
    }

    #[test]
    fn a_ledger_larger_than_the_limit_gets_a_file_of_its_own() {
        let mut buffer = Collector::new(policy(1, u32::MAX, Duration::from_secs(3600)));
        let now = Instant::now();
        let cut = buffer.push(range(1, 3), &refs(&ledger_batch(1, 3, |_| micros_on(0, 0))), now).unwrap();
        assert_eq!(ranges(&cut), vec![(1, 1), (2, 2), (3, 3)]);
    }

    #[test]
    fn age_cuts_on_push_and_on_poll() {
        let mut buffer = Collector::new(policy(u64::MAX, u32::MAX, Duration::from_secs(60)));
        let t0 = Instant::now();
        assert!(
            buffer.push(range(1, 2), &refs(&ledger_batch(1, 2, |_| micros_on(0, 0))), t0).unwrap().is_empty()
        );
        assert!(buffer.poll(t0 + 59 * SECOND).is_none());
        assert_eq!(buffer.status(t0 + 30 * SECOND).unwrap().age, 30 * SECOND);
        let cut = buffer
            .push(range(3, 4), &refs(&ledger_batch(3, 4, |_| micros_on(0, 0))), t0 + 60 * SECOND)
            .unwrap();
        assert_eq!(ranges(&cut), vec![(1, 4)]);
        assert_eq!(cut[0].reason, CutReason::MaxAge);
        // The age of the next set counts from its own first ledger.
        let t1 = t0 + 100 * SECOND;
        buffer.push(range(5, 5), &refs(&ledger_batch(5, 5, |_| micros_on(0, 0))), t1).unwrap();
        assert!(buffer.poll(t1 + 59 * SECOND).is_none());
        let set = buffer.poll(t1 + 60 * SECOND).unwrap();
        assert_eq!((set.range.first(), set.range.last(), set.reason), (5, 5, CutReason::MaxAge));
        assert!(buffer.poll(t1 + 600 * SECOND).is_none());
    }

    #[test]
    fn tables_without_rows_still_get_files_for_the_range() {
        let mut buffer = Collector::new(no_limits());
        // Ledgers 1..=4 have no contract events (only multiples of 5 do).
        buffer.push(range(1, 4), &refs(&ledger_batch(1, 4, |_| micros_on(0, 0))), Instant::now()).unwrap();
        let set = buffer.flush().unwrap();
        let events = set.files.iter().find(|f| f.key.table == Table::ContractEvents).unwrap();
        assert_eq!((events.rows, events.key.first(), events.key.last()), (0, 1, 4));
        assert_eq!(
            set.relative_paths()[3],
            "contract_events/date=1970-01-01/contract_events-0000000001-0000000004.parquet"
        );
    }

    #[test]
    fn bad_batches_are_rejected_and_leave_the_buffer_unchanged() {
        let mut buffer = Collector::new(no_limits()).with_next_ledger(10);
        let now = Instant::now();
        let batch = ledger_batch(11, 12, |_| micros_on(0, 0));
        assert!(matches!(
            buffer.push(range(11, 12), &refs(&batch), now),
            Err(ArchiveError::BadLedgerBatch { .. })
        ));
        let batch = ledger_batch(10, 12, |_| micros_on(0, 0));
        assert!(buffer.push(range(10, 11), &refs(&batch), now).is_err(), "rows outside the range");
        assert!(buffer.push(range(10, 12), &refs(&batch)[..2], now).is_ok());
        assert!(buffer.status(now).is_some());
        let next = ledger_batch(13, 14, |_| micros_on(0, 0));
        let error = buffer.push(range(13, 14), &refs(&next), now).unwrap_err();
        assert!(error.to_string().contains("not present in earlier batches"), "{error}");
        let error = buffer.push(range(13, 14), &refs(&next)[..1], now).unwrap_err();
        assert!(error.to_string().contains("missing from this batch"), "{error}");
        let backwards = ledger_batch(13, 14, |_| micros_on(-1, 0));
        let error = buffer.push(range(13, 14), &refs(&backwards)[..2], now).unwrap_err();
        assert!(error.to_string().contains("go backwards"), "{error}");
        let mut disagreeing = ledger_batch(13, 14, |_| micros_on(0, 0));
        disagreeing[1] = ledger_batch(13, 14, |_| micros_on(1, 0)).swap_remove(1);
        let error = buffer.push(range(13, 14), &refs(&disagreeing)[..2], now).unwrap_err();
        assert!(error.to_string().contains("closed on day"), "{error}");
        assert_eq!(buffer.status(now).unwrap().range.last(), 12);
        assert_eq!(buffer.next_ledger(), Some(13));
        buffer.push(range(13, 14), &refs(&next)[..2], now).unwrap();
        assert_eq!(buffer.flush().unwrap().range.last(), 14);
    }

    #[test]
    fn ledgers_without_rows_follow_the_ledger_before_them() {
        let mut buffer = Collector::new(no_limits());
        let now = Instant::now();
        // Only contract events: rows at ledgers 5 (day 0) and 10 (day 1); 6..=9 have none.
        let batch = ledger_batch(1, 12, |s| if s <= 7 { micros_on(0, 0) } else { micros_on(1, 0) });
        let events = [(Table::ContractEvents, &batch[3].1)];
        let cut = buffer.push(range(1, 12), &events, now).unwrap();
        assert_eq!((cut[0].range.first(), cut[0].range.last(), cut[0].date), (1, 9, date(0)));
        // A batch with no rows at all joins the open date.
        let empty = ledger_batch(13, 14, |_| micros_on(1, 0));
        buffer.push(range(13, 14), &[(Table::ContractEvents, &empty[3].1)], now).unwrap();
        let set = buffer.flush().unwrap();
        assert_eq!((set.range.first(), set.range.last(), set.date), (10, 14, date(1)));
        // With nothing open the date of an empty batch is unknown.
        let empty = ledger_batch(16, 19, |_| micros_on(1, 0));
        let error = buffer.push(range(15, 15), &[(Table::ContractEvents, &empty[3].1)], now).unwrap_err();
        assert!(error.to_string().contains("close date is unknown"), "{error}");
    }

    proptest! {
        /// Whatever the batches and limits, the sets cover the pushed ledgers exactly once, in
        /// order, one date each, within the ledger limit, every table with the same range.
        #[test]
        fn sets_tile_the_pushed_ledgers(
            sizes in proptest::collection::vec(1u32..40, 1..12),
            max_ledgers in 1u32..30,
            max_bytes in 200u64..20_000,
            seconds_per_ledger in 1i64..20_000,
        ) {
            let mut buffer = Collector::new(policy(max_bytes, max_ledgers, Duration::from_secs(3600)));
            let now = Instant::now();
            let close = |s: u32| micros_on(0, i64::from(s) * seconds_per_ledger);
            let mut sets = Vec::new();
            let mut first = 1u32;
            for size in sizes {
                let last = first + size - 1;
                sets.extend(buffer.push(range(first, last), &refs(&ledger_batch(first, last, close)), now).unwrap());
                first = last + 1;
            }
            sets.extend(buffer.flush());
            let ranges = ranges(&sets);
            prop_assert_eq!(ranges[0].0, 1);
            prop_assert_eq!(ranges[ranges.len() - 1].1, first - 1);
            for pair in ranges.windows(2) {
                prop_assert_eq!(pair[0].1 + 1, pair[1].0);
            }
            for set in &sets {
                prop_assert!(set.range.len() <= u64::from(max_ledgers));
                let day = |s: u32| close(s).div_euclid(crate::archive::test_support::DAY_MICROS);
                prop_assert_eq!(day(set.range.first()), day(set.range.last()));
                prop_assert_eq!(set.date, date(day(set.range.first())));
                if set.range.len() > 1 {
                    prop_assert!(set.files.iter().all(|f| f.arrow_bytes <= max_bytes));
                }
            }
        }
    }
}
