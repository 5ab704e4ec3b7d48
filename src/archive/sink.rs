//! Ledger batches in, staged file sets out: step 1 of design §3 as the stream flows.
//!
//! [`ArchiveSink`] follows its [`PartitionBuffer`]'s [`Step`]s: when a set opens it creates
//! one staging file per table, each pushed slice is encoded into its table's file at once,
//! and a cut closes the set's files and makes them durable under `_staging/`
//! ([`StagedSet`]), ready for the checkpoint commit. Rows are never held as Arrow batches, so
//! the memory of an open set is the encoders' (the row group being encoded) and encoding
//! keeps pace with conversion instead of arriving all at once at each cut.
//!
//! Every method does CPU work and I/O: call it from a blocking thread (design §8). A method
//! takes the sink and gives it back on success; on error the sink is gone with its open
//! files (the partial files it leaves under `_staging/` are deleted by recovery).

use std::fmt;
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;

use super::ArchiveError;
use super::commit::{Archive, StagedFile};
use super::rotation::{CutReason, FileSet, PartitionBuffer, RotationPolicy, Step};
use super::store::StagingFile;
use crate::range::LedgerRange;
use crate::tables::Table;

/// A set of files staged by one cut: what one checkpoint commit makes visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedSet {
    pub date: NaiveDate,
    /// The range of every file; its last ledger is the high-water mark the commit records.
    pub range: LedgerRange,
    pub reason: CutReason,
    /// One file per table, in [`Table`] order.
    pub files: Vec<StagedFile>,
}

/// Cuts pushed ledger batches into files and stages each set as it is cut (module docs).
pub struct ArchiveSink {
    archive: Archive,
    buffer: PartitionBuffer,
    /// The open set's files, parallel to `buffer.tables()`; empty while no set is open.
    open: Vec<StagingFile>,
}

impl ArchiveSink {
    pub fn new(archive: Archive, policy: RotationPolicy) -> Self {
        ArchiveSink { archive, buffer: PartitionBuffer::new(policy), open: Vec::new() }
    }

    /// Expects the first push to start at `ledger` (the resume point from the checkpoint).
    pub fn with_next_ledger(mut self, ledger: u32) -> Self {
        self.buffer = self.buffer.with_next_ledger(ledger);
        self
    }

    /// Where the rows go and when files are cut; what the open set holds.
    pub fn buffer(&self) -> &PartitionBuffer {
        &self.buffer
    }

    /// Encodes the tables of the ledgers `range` (see [`PartitionBuffer::push`]) and returns
    /// the sets cut meanwhile, staged, oldest first.
    pub fn push(
        mut self,
        range: LedgerRange,
        tables: &[(Table, &RecordBatch)],
        now: Instant,
    ) -> Result<(Self, Vec<StagedSet>), ArchiveError> {
        let steps = self.buffer.push(range, tables, now)?;
        let mut staged = Vec::new();
        // Rows for the open files, written together at the next cut or the end (a set opens
        // only after the previous one was cut, so none are pending then).
        let mut appends: Vec<(usize, RecordBatch, u64)> = Vec::new();
        for step in steps {
            match step {
                Step::Append { index, rows, bytes } => appends.push((index, rows, bytes)),
                Step::Open { date, first } => {
                    debug_assert!(appends.is_empty(), "rows are appended only to an open set");
                    self.open_set(date, first)?;
                }
                Step::Cut(set) => {
                    self.write(std::mem::take(&mut appends))?;
                    staged.push(self.stage(set)?);
                }
            }
        }
        self.write(appends)?;
        Ok((self, staged))
    }

    /// Stages the open set if it is older than `max_file_age` (a timer tick).
    pub fn poll(mut self, now: Instant) -> Result<(Self, Option<StagedSet>), ArchiveError> {
        let staged = match self.buffer.poll(now) {
            Some(set) => Some(self.stage(set)?),
            None => None,
        };
        Ok((self, staged))
    }

    /// Stages the open set, if any (shutdown, or a commit wanted now).
    pub fn flush(mut self) -> Result<(Self, Option<StagedSet>), ArchiveError> {
        let staged = match self.buffer.flush() {
            Some(set) => Some(self.stage(set)?),
            None => None,
        };
        Ok((self, staged))
    }

    fn open_set(&mut self, date: NaiveDate, first: u32) -> Result<(), ArchiveError> {
        debug_assert!(self.open.is_empty(), "a set opens after the previous one was cut");
        self.open = self
            .buffer
            .tables()
            .iter()
            .map(|(table, schema)| self.archive.create(*table, schema, date, first))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Encodes `appends` (rows for the open file `index`, with their Arrow memory) into the
    /// open files, files in parallel on up to one thread per core, largest first: a
    /// batch's tables encode in parallel, so the archive keeps up with the converters and a
    /// core that has nothing to convert encodes (design §8).
    fn write(&mut self, appends: Vec<(usize, RecordBatch, u64)>) -> Result<(), ArchiveError> {
        if appends.is_empty() {
            return Ok(());
        }
        let mut per_file: Vec<(Vec<RecordBatch>, u64)> =
            (0..self.open.len()).map(|_| (Vec::new(), 0)).collect();
        for (index, rows, bytes) in appends {
            // The buffer appends only to a set it opened, with one file per table.
            let (file_rows, file_bytes) = &mut per_file[index];
            file_rows.push(rows);
            *file_bytes += bytes;
        }
        let jobs: Vec<(u64, (&mut StagingFile, Vec<RecordBatch>))> = self
            .open
            .iter_mut()
            .zip(per_file)
            .filter(|(_, (rows, _))| !rows.is_empty())
            .map(|(file, (rows, bytes))| (bytes, (file, rows)))
            .collect();
        in_parallel(jobs, |(file, rows)| rows.iter().try_for_each(|batch| file.write(batch)))?;
        Ok(())
    }

    /// Closes the open set's files as the cut `set` names them and makes them durable, in
    /// parallel as [`ArchiveSink::write`] (the last row group of each file is encoded here).
    fn stage(&mut self, set: FileSet) -> Result<StagedSet, ArchiveError> {
        let open = std::mem::take(&mut self.open);
        assert_eq!(open.len(), set.files.len(), "the buffer cuts only the set it opened");
        let archive = &self.archive;
        let jobs =
            open.into_iter().zip(&set.files).map(|(file, cut)| (cut.arrow_bytes, (file, cut.key))).collect();
        let files = in_parallel(jobs, |(file, key)| archive.stage(file, &key))?;
        Ok(StagedSet { date: set.date, range: set.range, reason: set.reason, files })
    }
}

/// Runs `job` on every input on rayon's pool (one thread per core, kept for the process, so
/// encoders keep their allocator caches), largest `weight` first so the cores finish
/// together, and returns the results in input order; an error fails them all.
fn in_parallel<T: Send, R: Send>(
    inputs: Vec<(u64, T)>,
    job: impl Fn(T) -> Result<R, ArchiveError> + Sync + Send,
) -> Result<Vec<R>, ArchiveError> {
    use rayon::prelude::*;
    let mut queue: Vec<(usize, u64, T)> =
        inputs.into_iter().enumerate().map(|(index, (weight, input))| (index, weight, input)).collect();
    queue.sort_by_key(|(_, weight, _)| std::cmp::Reverse(*weight));
    // One input per task: a thread that is done takes the next one.
    let mut results: Vec<(usize, R)> = queue
        .into_par_iter()
        .with_max_len(1)
        .map(|(index, _, input)| job(input).map(|result| (index, result)))
        .collect::<Result<_, _>>()?;
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

impl fmt::Debug for ArchiveSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchiveSink")
            .field("archive", &self.archive.store().to_string())
            .field("buffer", &self.buffer)
            .field("open_files", &self.open.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::archive::test_support::{
        Collector, contents, ledger_batch, micros_on, object_fixtures, range, refs, runtime, serial,
    };
    use crate::archive::{
        ArchiveStore, Area, META_FIRST_LEDGER, META_LAST_LEDGER, StoredFile, WriterOptions,
    };

    /// The rows of `key`'s staged copy, and its key-value metadata's first and last ledger.
    fn read_staged(archive: &Archive, key: &crate::archive::FileKey) -> (Vec<RecordBatch>, String, String) {
        let bytes = match archive.store().open_file(key, Area::Staging).unwrap() {
            StoredFile::Local(mut file) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
                bytes::Bytes::from(bytes)
            }
            StoredFile::Object(bytes) => bytes,
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let metadata = builder.metadata().file_metadata().key_value_metadata().unwrap().clone();
        let get = |k: &str| metadata.iter().find(|e| e.key == k).unwrap().value.clone().unwrap();
        let (first, last) = (get(META_FIRST_LEDGER), get(META_LAST_LEDGER));
        (builder.build().unwrap().collect::<Result<Vec<_>, _>>().unwrap(), first, last)
    }

    fn concat(batches: &[RecordBatch], schema: &arrow::datatypes::SchemaRef) -> RecordBatch {
        arrow::compute::concat_batches(schema, batches).unwrap()
    }

    /// Batches of 1 to 7 ledgers across midnight (ledger 40 is the first of day 1), cut every
    /// 9 ledgers: the staged sets are the buffer's cuts, and every file holds exactly the rows
    /// pushed for its range, on a local root and on object stores alike.
    #[test]
    fn staged_sets_hold_exactly_the_pushed_rows() {
        let _serial = serial();
        let runtime = runtime();
        let dir = tempfile::tempdir().unwrap();
        let options = WriterOptions { max_row_group_rows: 4, ..WriterOptions::default() };
        let mut archives = vec![("local", Archive::open(dir.path(), options).unwrap())];
        let fixtures = object_fixtures();
        for fixture in &fixtures {
            let store = ArchiveStore::object(fixture.location.clone(), runtime.handle().clone());
            archives.push((fixture.name, Archive::on_store(store, options).unwrap()));
        }
        let policy =
            RotationPolicy { max_file_bytes: u64::MAX, max_ledgers_per_file: 9, ..Default::default() };
        let close = |s: u32| if s < 40 { micros_on(0, i64::from(s)) } else { micros_on(1, i64::from(s)) };
        let now = Instant::now();
        for (name, archive) in archives {
            let mut expected = Collector::new(policy);
            let mut sink = ArchiveSink::new(archive.clone(), policy);
            let mut sets = Vec::new();
            let mut wanted = Vec::new();
            let mut first = 1;
            for size in [1, 7, 3, 5, 2, 7, 7, 4, 6, 1, 7] {
                let last = first + size - 1;
                let batch = ledger_batch(first, last, close);
                let staged;
                (sink, staged) = sink.push(range(first, last), &refs(&batch), now).unwrap();
                sets.extend(staged);
                wanted.extend(expected.push(range(first, last), &refs(&batch), now).unwrap());
                first = last + 1;
            }
            let staged;
            (sink, staged) = sink.flush().unwrap();
            sets.extend(staged);
            wanted.extend(expected.flush());
            assert!(sink.buffer().status(now).is_none(), "{name}");

            let ranges: Vec<(u32, u32)> = sets.iter().map(|s| (s.range.first(), s.range.last())).collect();
            assert_eq!(
                ranges,
                vec![(1, 9), (10, 18), (19, 27), (28, 36), (37, 39), (40, 48), (49, 50)],
                "{name}: cut by count and at midnight"
            );
            assert_eq!(sets.len(), wanted.len());
            for (set, memory) in sets.iter().zip(&wanted) {
                assert_eq!((set.range, set.date, set.reason), (memory.range, memory.date, memory.reason));
                for (file, rows) in set.files.iter().zip(&memory.files) {
                    assert_eq!((file.key, file.rows), (rows.key, rows.rows), "{name}");
                    let (read, first, last) = read_staged(&archive, &file.key);
                    assert_eq!(
                        concat(&read, &rows.schema),
                        concat(&rows.batches, &rows.schema),
                        "{name}: {}",
                        file.key
                    );
                    assert_eq!((first, last), (set.range.first().to_string(), set.range.last().to_string()));
                }
            }
            let (published, staging) = contents(&archive);
            assert!(published.is_empty(), "{name}: nothing published before a commit");
            let mut names: Vec<String> =
                sets.iter().flat_map(|s| s.files.iter().map(|f| f.relative_path.clone())).collect();
            names.sort();
            assert_eq!(staging, names, "{name}: only staged files, no partial file left");
        }
    }

    /// Open files dropped before their cut (a rewind, a failed step) leave nothing behind on a
    /// local root; an age cut stages what is open.
    #[test]
    fn dropped_open_files_leave_nothing_and_an_age_cut_stages() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::open(dir.path(), WriterOptions::default()).unwrap();
        let policy = RotationPolicy { max_file_age: Duration::from_secs(60), ..Default::default() };
        let t0 = Instant::now();
        let batch = ledger_batch(5, 8, |s| micros_on(0, i64::from(s)));
        let (sink, staged) = ArchiveSink::new(archive.clone(), policy)
            .with_next_ledger(5)
            .push(range(5, 8), &refs(&batch), t0)
            .unwrap();
        assert!(staged.is_empty());
        assert_eq!(contents(&archive).1.len(), 4, "one partial file per table while open");
        drop(sink);
        assert_eq!(contents(&archive), (Vec::new(), Vec::new()));

        let (sink, _) =
            ArchiveSink::new(archive.clone(), policy).push(range(5, 8), &refs(&batch), t0).unwrap();
        let (sink, none) = sink.poll(t0 + Duration::from_secs(59)).unwrap();
        assert!(none.is_none());
        let (_sink, set) = sink.poll(t0 + Duration::from_secs(60)).unwrap();
        let set = set.unwrap();
        assert_eq!((set.range, set.reason), (range(5, 8), CutReason::MaxAge));
        assert_eq!(contents(&archive).1.len(), 4);
        assert!(contents(&archive).1.iter().all(|p| p.ends_with("-0000000005-0000000008.parquet")));
    }
}
