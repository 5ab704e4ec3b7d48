//! Small record batches for the archive's tests: a sequence column, `closed_at` and a text
//! payload, which is all the archive may rely on.

use std::sync::Arc;

use arrow::array::{StringArray, TimestampMicrosecondArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;

use crate::archive::{
    Archive, ArchiveError, CutReason, FileKey, PartitionBuffer, RotationPolicy, STAGING_DIR, StagedFile, Step,
};
use crate::range::LedgerRange;
use crate::storage::ObjectLocation;
use crate::tables::Table;

pub(crate) const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// Microseconds of `second` seconds into day `day` (days since 1970-01-01).
pub(crate) fn micros_on(day: i64, second: i64) -> i64 {
    day * DAY_MICROS + second * 1_000_000
}

/// The date of day `day` since 1970-01-01.
pub(crate) fn date(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::TimeDelta::days(day)
}

/// The ledgers `first..=last`.
pub(crate) fn range(first: u32, last: u32) -> LedgerRange {
    LedgerRange::new(first, last).expect("valid test range")
}

/// The minimal schema of `table`: its sequence column, `closed_at`, `payload`.
pub(crate) fn schema_of(table: Table) -> SchemaRef {
    let sequence = if table == Table::Ledgers { "sequence" } else { "ledger_sequence" };
    Arc::new(Schema::new(vec![
        Field::new(sequence, DataType::UInt32, false),
        Field::new("closed_at", DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))), false),
        Field::new("payload", DataType::Utf8, false),
    ]))
}

/// A batch of `table` with one row per `(sequence, closed_at micros)`.
pub(crate) fn batch_of(table: Table, rows: &[(u32, i64)]) -> RecordBatch {
    let payload: Vec<String> =
        rows.iter().enumerate().map(|(i, (sequence, _))| format!("{table}-{sequence}-{i}")).collect();
    RecordBatch::try_new(
        schema_of(table),
        vec![
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1)).with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(payload)),
        ],
    )
    .expect("test batch matches its schema")
}

/// Rows of `table` in ledger `sequence`: 1 ledger row; 0–2 transactions; twice as many
/// operations; contract events only in every fifth ledger.
pub(crate) fn rows_in_ledger(table: Table, sequence: u32) -> usize {
    match table {
        Table::Ledgers => 1,
        Table::Transactions => (sequence % 3) as usize,
        Table::Operations => 2 * (sequence % 3) as usize,
        Table::ContractEvents => usize::from(sequence.is_multiple_of(5)),
        Table::Analytics(_) => usize::from(sequence.is_multiple_of(7)),
    }
}

/// One batch per table for ledgers `first..=last`, ledger `s` closing at `close(s)` micros.
pub(crate) fn ledger_batch(first: u32, last: u32, close: impl Fn(u32) -> i64) -> Vec<(Table, RecordBatch)> {
    Table::LEDGER_TABLES
        .into_iter()
        .map(|table| {
            let rows: Vec<(u32, i64)> = (first..=last)
                .flat_map(|s| std::iter::repeat_n((s, close(s)), rows_in_ledger(table, s)))
                .collect();
            (table, batch_of(table, &rows))
        })
        .collect()
}

/// Borrowed view of [`ledger_batch`]'s output, as `PartitionBuffer::push` takes it.
pub(crate) fn refs(tables: &[(Table, RecordBatch)]) -> Vec<(Table, &RecordBatch)> {
    tables.iter().map(|(table, batch)| (*table, batch)).collect()
}

/// One table's file of a cut set with the rows the buffer's steps gave it.
#[derive(Debug)]
pub(crate) struct MemoryFile {
    pub key: FileKey,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    pub arrow_bytes: u64,
}

/// A cut set with its rows: what [`Collector`] makes of the steps of a [`PartitionBuffer`].
#[derive(Debug)]
pub(crate) struct MemorySet {
    pub date: NaiveDate,
    pub range: LedgerRange,
    pub reason: CutReason,
    pub files: Vec<MemoryFile>,
}

impl MemorySet {
    pub(crate) fn relative_paths(&self) -> Vec<String> {
        self.files.iter().map(|file| file.key.relative_path()).collect()
    }
}

/// A [`PartitionBuffer`] whose steps are kept in memory: each file's rows as slices, handed
/// out with the cut sets (the archive's sink encodes them instead).
pub(crate) struct Collector {
    pub buffer: PartitionBuffer,
    open: Vec<Vec<RecordBatch>>,
}

impl Collector {
    pub(crate) fn new(policy: RotationPolicy) -> Self {
        Collector { buffer: PartitionBuffer::new(policy), open: Vec::new() }
    }

    pub(crate) fn with_next_ledger(mut self, ledger: u32) -> Self {
        self.buffer = self.buffer.with_next_ledger(ledger);
        self
    }

    pub(crate) fn push(
        &mut self,
        range: LedgerRange,
        tables: &[(Table, &RecordBatch)],
        now: std::time::Instant,
    ) -> Result<Vec<MemorySet>, ArchiveError> {
        let mut sets = Vec::new();
        for step in self.buffer.push(range, tables, now)? {
            match step {
                Step::Open { .. } => {
                    assert!(self.open.is_empty(), "a set opens after the previous one was cut");
                    self.open = self.buffer.tables().iter().map(|_| Vec::new()).collect();
                }
                Step::Append { index, rows, .. } => self.open[index].push(rows),
                Step::Cut(set) => sets.push(self.keep(set)),
            }
        }
        Ok(sets)
    }

    pub(crate) fn poll(&mut self, now: std::time::Instant) -> Option<MemorySet> {
        self.buffer.poll(now).map(|set| self.keep(set))
    }

    pub(crate) fn flush(&mut self) -> Option<MemorySet> {
        self.buffer.flush().map(|set| self.keep(set))
    }

    fn keep(&mut self, set: crate::archive::FileSet) -> MemorySet {
        let open = std::mem::take(&mut self.open);
        assert_eq!(open.len(), set.files.len(), "one file per table");
        let files = set
            .files
            .iter()
            .zip(open)
            .zip(self.buffer.tables())
            .map(|((cut, batches), (_, schema))| {
                assert_eq!(batches.iter().map(|b| b.num_rows() as u64).sum::<u64>(), cut.rows);
                MemoryFile {
                    key: cut.key,
                    schema: schema.clone(),
                    batches,
                    rows: cut.rows,
                    arrow_bytes: cut.arrow_bytes,
                }
            })
            .collect();
        MemorySet { date: set.date, range: set.range, reason: set.reason, files }
    }
}

impl std::ops::Deref for Collector {
    type Target = PartitionBuffer;
    fn deref(&self) -> &PartitionBuffer {
        &self.buffer
    }
}

/// The cut set of ledgers `first..=last`, all closing on day `day`.
pub(crate) fn set_of(first: u32, last: u32, day: i64) -> MemorySet {
    let policy =
        RotationPolicy { max_file_bytes: u64::MAX, max_ledgers_per_file: u32::MAX, ..Default::default() };
    let mut buffer = Collector::new(policy);
    let batch = ledger_batch(first, last, |s| micros_on(day, i64::from(s)));
    let cut = buffer.push(range(first, last), &refs(&batch), std::time::Instant::now()).expect("push");
    assert!(cut.is_empty());
    buffer.flush().expect("a set")
}

impl MemoryFile {
    /// Step 1 for this file, encoded whole ([`Archive::stage_batches`]).
    pub(crate) fn stage(&self, archive: &Archive) -> Result<StagedFile, ArchiveError> {
        archive.stage_batches(&self.key, &self.schema, &self.batches)
    }
}

/// Step 1 for every file of `set`.
pub(crate) fn stage_set(archive: &Archive, set: &MemorySet) -> Result<Vec<StagedFile>, ArchiveError> {
    set.files.iter().map(|file| file.stage(archive)).collect()
}

/// An archive on a real object store for tests, with what keeps it alive.
pub(crate) struct ObjectFixture {
    pub name: &'static str,
    pub location: ObjectLocation,
    /// The directory of the `LocalFileSystem` store, removed on drop.
    pub _dir: Option<tempfile::TempDir>,
}

/// The object stores the tests run on: `InMemory` below a prefix, and a local directory
/// through object_store's `LocalFileSystem`, opened from a `file://` URL as `archive.url` is.
pub(crate) fn object_fixtures() -> Vec<ObjectFixture> {
    let memory = ObjectLocation::from_store(
        "memory:///archive/prefix",
        std::sync::Arc::new(object_store::memory::InMemory::new()),
        "archive/prefix",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}/bucket", dir.path().display());
    let local = ObjectLocation::open(&url, "archive.url", &Default::default()).expect("file:// opens");
    vec![
        ObjectFixture { name: "in-memory", location: memory, _dir: None },
        ObjectFixture { name: "local-filesystem", location: local, _dir: Some(dir) },
    ]
}

/// A multi-thread runtime with one worker, for the object stores' requests.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
}

/// What an archive holds, as sorted paths relative to its root: (published and foreign files,
/// files below `_staging/` relative to it). Read behind the archive's back: the directory, or
/// the store's own listing.
pub(crate) fn contents(archive: &Archive) -> (Vec<String>, Vec<String>) {
    let all: Vec<String> = match (archive.store().local_root(), archive.store().object_location()) {
        (Some(root), _) => {
            super::commit::list_files(root).expect("list").into_iter().map(|(p, _)| p).collect()
        }
        (None, Some(location)) => object_keys(location),
        (None, None) => unreachable!("a store is local or an object store"),
    };
    let staging = format!("{STAGING_DIR}/");
    let (mut staged, mut published): (Vec<String>, Vec<String>) =
        all.into_iter().partition(|p| p.starts_with(&staging));
    for path in &mut staged {
        path.drain(..staging.len());
    }
    staged.sort();
    published.sort();
    (published, staged)
}

/// Every key below `location`'s prefix, relative to it, sorted.
pub(crate) fn object_keys(location: &ObjectLocation) -> Vec<String> {
    use futures::TryStreamExt;
    let prefix = location.prefix().clone();
    let metas: Vec<object_store::ObjectMeta> =
        futures::executor::block_on(location.store().list(Some(&prefix)).try_collect()).expect("list");
    let mut keys: Vec<String> = metas
        .into_iter()
        .map(|m| {
            let below = m.location.prefix_match(&prefix).expect("below the prefix");
            below.map(|part| part.as_ref().to_owned()).collect::<Vec<_>>().join("/")
        })
        .collect();
    keys.sort();
    keys
}

/// Serialises the tests that go through the archive's failpoints: with the `failpoints` feature
/// a failpoint armed by one test would fire in another, so they all hold the `fail` crate's
/// scenario lock (which also resets every failpoint).
#[cfg(feature = "failpoints")]
pub(crate) fn serial() -> fail::FailScenario<'static> {
    fail::FailScenario::setup()
}

/// Without failpoints there is nothing to serialise.
#[cfg(not(feature = "failpoints"))]
pub(crate) fn serial() -> NoFailpoints {
    NoFailpoints
}

#[cfg(not(feature = "failpoints"))]
pub(crate) struct NoFailpoints;
