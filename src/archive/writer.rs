//! Parquet encoding of one archive file.
//!
//! A file holds one table's rows for one UTC date and one inclusive ledger range. It is
//! encoded as its rows arrive ([`FileEncoder`]), so a file is never held as Arrow batches and
//! encoding overlaps conversion. Before encoding, every row is checked against the file
//! (ledger from the first on and in order, close date equal to the partition date), and at
//! the end against the last ledger, so a file name never lies about its contents. Files are
//! written with `ArrowWriter` (page statistics on integer, time and boolean columns, row
//! groups of at most `max_row_group_rows`); key-value metadata records the table, date and range
//! ([`META_TABLE`], [`META_DATE`], [`META_FIRST_LEDGER`], [`META_LAST_LEDGER`]) so a file
//! describes itself even when renamed.
//!
//! Encoding is CPU work (design §8): callers run it on a blocking thread or a small pool.

use std::io::Write;
use std::path::PathBuf;

use arrow::datatypes::{DataType, Field, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Encoding;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use chrono::NaiveDate;

use super::columns::{Day, LedgerColumns, day_of_date};
use super::layout::{FileKey, format_date};
use super::{ArchiveError, Compression};
use crate::tables::Table;

/// Key-value metadata key: the table name.
pub const META_TABLE: &str = "ledgerflow.table";
/// Key-value metadata key: the UTC close date, `YYYY-MM-DD`.
pub const META_DATE: &str = "ledgerflow.date";
/// Key-value metadata key: the first ledger of the range, decimal.
pub const META_FIRST_LEDGER: &str = "ledgerflow.first_ledger";
/// Key-value metadata key: the last ledger of the range, decimal.
pub const META_LAST_LEDGER: &str = "ledgerflow.last_ledger";
/// Key-value metadata key: the ledgerflow version that wrote the file.
pub const META_WRITER: &str = "ledgerflow.writer";

/// How archive files are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Codec of every column.
    pub compression: Compression,
    /// Rows per row group, at most (must be at least 1).
    pub max_row_group_rows: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        // 128 Ki rows: a few MB per row group for the wide tables, small enough for readers
        // to skip row groups by the `ledger_sequence` and `closed_at` statistics.
        WriterOptions { compression: Compression::default(), max_row_group_rows: 128 * 1024 }
    }
}

impl WriterOptions {
    /// Parquet writer properties for a file of `table` on `date` from ledger `first` (the
    /// last ledger's metadata is added when the file is finished).
    pub fn properties(
        &self,
        table: Table,
        date: NaiveDate,
        first: u32,
    ) -> Result<WriterProperties, ArchiveError> {
        if self.max_row_group_rows == 0 {
            return Err(ArchiveError::InvalidConfig {
                key: "archive.max_row_group_rows",
                value: "0".into(),
                allowed: "1 or more rows",
            });
        }
        let metadata = [
            (META_TABLE, table.name().to_string()),
            (META_DATE, format_date(date)),
            (META_FIRST_LEDGER, first.to_string()),
            (META_WRITER, concat!("ledgerflow ", env!("CARGO_PKG_VERSION")).to_string()),
        ]
        .into_iter()
        .map(|(k, v)| KeyValue::new(k.to_string(), v))
        .collect();
        let mut builder = WriterProperties::builder()
            .set_compression(self.compression.to_parquet()?)
            .set_max_row_group_row_count(Some(self.max_row_group_rows))
            .set_statistics_enabled(EnabledStatistics::Page)
            // Data pages v2: the codec compresses the values straight from the encoder's
            // buffer (v1 pages first copy levels and values into one buffer, then compress
            // that into a second buffer reallocated to zstd's bound). Plain is kept as the
            // encoding where no dictionary is used, as with v1 pages (v2's default there
            // is the delta encodings, slower to write and to read).
            .set_writer_version(WriterVersion::PARQUET_2_0)
            .set_encoding(Encoding::PLAIN)
            .set_key_value_metadata(Some(metadata));
        for field in table.schema().fields() {
            let plain = UNIQUE_VALUED_COLUMNS.contains(&field.name().as_str())
                || (MEASURED_NUMBER_COLUMNS.contains(&field.name().as_str())
                    && field.data_type().is_integer());
            if plain {
                builder = builder.set_column_dictionary_enabled(leaf_path(field), false);
            }
            if holds_bytes(field) {
                builder = builder.set_column_statistics_enabled(leaf_path(field), EnabledStatistics::None);
            }
        }
        Ok(builder.build())
    }
}

/// Columns whose values are (nearly) all distinct: hashes, ids, JSON details, raw XDR. A
/// dictionary only costs there (every value is hashed and interned until the dictionary page
/// overflows, then the column falls back to plain encoding), so they are written plain.
/// Low-cardinality columns (accounts, assets, type strings, codes, close times) keep it.
const UNIQUE_VALUED_COLUMNS: [&str; 20] = [
    "id",
    "transaction_id",
    "operation_id",
    "ledger_hash",
    "previous_ledger_hash",
    "transaction_hash",
    "inner_transaction_hash",
    "signature",
    "account_sequence",
    "details",
    "ledger_header",
    "tx_envelope",
    "tx_result",
    "tx_meta",
    "tx_fee_meta",
    "topics",
    "topics_decoded",
    "data",
    "data_decoded",
    "balance_id",
];

/// Integer columns that measure something (amounts, fees, resources, offer ids): many distinct
/// values, so a dictionary costs a hash per value and its bit-packed indices compress worse
/// than the plain values do under zstd. On 10k generated ledgers, without their dictionaries:
/// 1.1% less CPU (paired runs), the archive 1.25% smaller (`amount` 24%, the resource fees 28%,
/// `offer_id` 37%). Counts, indexes, orders and types keep theirs (few distinct values: 40-80%
/// larger without).
const MEASURED_NUMBER_COLUMNS: [&str; 14] = [
    "amount",
    "source_amount",
    "starting_balance",
    "offer_id",
    "max_fee",
    "resource_fee",
    "inclusion_fee_bid",
    "non_refundable_resource_fee_charged",
    "refundable_resource_fee_charged",
    "rent_fee_charged",
    "resource_fee_refund",
    "soroban_resources_instructions",
    "soroban_resources_disk_read_bytes",
    "soroban_resources_write_bytes",
];

/// Whether `field` holds strings or bytes (or a list of them): such columns are written
/// without min/max statistics. Their values (strkeys, hashes, codes, JSON, XDR) are spread over
/// every row group, so min/max prune nothing, and they cost two byte-wise comparisons per
/// value: on 10k generated ledgers 2.8% of the CPU (perf), 2.7% less without them (paired
/// runs). Integer, time and boolean columns keep their page statistics: files and row groups
/// prune by `ledger_sequence`, `closed_at` and the ordered ids.
fn holds_bytes(field: &Field) -> bool {
    let is_bytes = |data_type: &DataType| matches!(data_type, DataType::Utf8 | DataType::Binary);
    match field.data_type() {
        DataType::List(item) => is_bytes(item.data_type()),
        other => is_bytes(other),
    }
}

/// A top-level column's Parquet leaf path: its name, or `<name>.list.<item>` for a list, as the
/// Arrow writer names it.
fn leaf_path(field: &Field) -> ColumnPath {
    match field.data_type() {
        DataType::List(item) => {
            ColumnPath::new(vec![field.name().clone(), "list".to_string(), item.name().clone()])
        }
        _ => ColumnPath::new(vec![field.name().clone()]),
    }
}

/// Size of an encoded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStats {
    pub rows: u64,
    pub bytes: u64,
}

/// One archive file being encoded, fed as its rows arrive ([`FileEncoder::write`]) and
/// closed once its last ledger is known ([`FileEncoder::finish`]). Every row is checked
/// against the file before it is encoded: its table's rows, ledgers from `first` on and in
/// order, closed on the partition date. The key-value metadata names the last ledger when the
/// file is finished.
pub(crate) struct FileEncoder<W: Write + Send> {
    writer: ArrowWriter<W>,
    table: Table,
    date: NaiveDate,
    day: Day,
    first: u32,
    /// Last ledger of the rows written so far.
    last_written: Option<u32>,
    rows: u64,
    /// Labels errors: the file's path, or the object's URL.
    name: PathBuf,
}

impl<W: Write + Send> FileEncoder<W> {
    /// A file of `table` (rows of `schema`) on `date` starting at ledger `first`, encoded into
    /// `sink`. `name` labels errors.
    pub(crate) fn new(
        sink: W,
        name: PathBuf,
        table: Table,
        schema: &SchemaRef,
        date: NaiveDate,
        first: u32,
        options: &WriterOptions,
    ) -> Result<Self, ArchiveError> {
        let properties = options.properties(table, date, first)?;
        let writer = ArrowWriter::try_new(sink, schema.clone(), Some(properties))
            .map_err(|e| ArchiveError::from_parquet(&name, e))?;
        Ok(FileEncoder {
            writer,
            table,
            date,
            day: day_of_date(date),
            first,
            last_written: None,
            rows: 0,
            name,
        })
    }

    /// Checks `batch` against the file (see the type's docs) and encodes it. On error the
    /// file is unusable: drop it.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), ArchiveError> {
        let columns = LedgerColumns::read(self.table, batch)?;
        for run in &columns.runs {
            let reason = if run.sequence < self.first {
                format!("ledger {} is before the file's first ledger {}", run.sequence, self.first)
            } else if run.day != self.day {
                format!("ledger {} did not close on {}", run.sequence, format_date(self.date))
            } else if let Some(previous) = self.last_written.filter(|&previous| previous > run.sequence) {
                format!("rows are not ordered by ledger: {} after {previous}", run.sequence)
            } else {
                self.last_written = Some(run.sequence);
                continue;
            };
            return Err(ArchiveError::InvalidBatch { table: self.table, reason });
        }
        self.writer.write(batch).map_err(|e| ArchiveError::from_parquet(&self.name, e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Closes the file as `key` (this file's table, date and first ledger; a last ledger at or
    /// after every row written) and returns the sink and the rows written.
    pub(crate) fn finish(mut self, key: &FileKey) -> Result<(W, u64), ArchiveError> {
        let reason = if (key.table, key.date, key.first()) != (self.table, self.date, self.first) {
            Some(format!(
                "the file was opened as {} from ledger {} on {}",
                self.table,
                self.first,
                format_date(self.date)
            ))
        } else {
            self.last_written
                .filter(|&last| last > key.last())
                .map(|last| format!("ledger {last} is outside the file's range {}", key.range))
        };
        if let Some(reason) = reason {
            return Err(ArchiveError::InvalidBatch { table: self.table, reason: format!("{key}: {reason}") });
        }
        self.writer
            .append_key_value_metadata(KeyValue::new(META_LAST_LEDGER.to_string(), key.last().to_string()));
        let sink = self.writer.into_inner().map_err(|e| ArchiveError::from_parquet(&self.name, e))?;
        Ok((sink, self.rows))
    }
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use std::fs::File;
    use std::path::Path;

    use super::*;
    use crate::archive::test_support::{batch_of, date, micros_on, range};

    /// `batches` encoded as the file `key` at `path`.
    fn write_file(
        path: &Path,
        key: &FileKey,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        options: &WriterOptions,
    ) -> Result<FileStats, ArchiveError> {
        let file = File::create(path).unwrap();
        let mut encoder =
            FileEncoder::new(file, path.into(), key.table, schema, key.date, key.first(), options)?;
        for batch in batches {
            encoder.write(batch)?;
        }
        let (file, rows) = encoder.finish(key)?;
        Ok(FileStats { rows, bytes: file.metadata().unwrap().len() })
    }

    #[test]
    fn writes_rows_metadata_and_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let key = FileKey::new(Table::Operations, date(0), range(10, 12)).unwrap();
        let batch = batch_of(
            Table::Operations,
            &[(10, micros_on(0, 1)), (11, micros_on(0, 2)), (12, micros_on(0, 3))],
        );
        let options = WriterOptions { compression: Compression::Gzip(9), max_row_group_rows: 2 };
        let stats = write_file(&path, &key, &batch.schema(), std::slice::from_ref(&batch), &options).unwrap();
        assert_eq!(stats.rows, 3);
        assert_eq!(stats.bytes, std::fs::metadata(&path).unwrap().len());

        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let metadata = builder.metadata().clone();
        assert_eq!(metadata.num_row_groups(), 2);
        let kv = metadata.file_metadata().key_value_metadata().unwrap();
        let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
        assert_eq!(get(META_TABLE).as_deref(), Some("operations"));
        assert_eq!(get(META_DATE).as_deref(), Some("1970-01-01"));
        assert_eq!(get(META_FIRST_LEDGER).as_deref(), Some("10"));
        assert_eq!(get(META_LAST_LEDGER).as_deref(), Some("12"));
        let column = metadata.row_group(0).column(0);
        assert!(matches!(column.compression(), parquet::basic::Compression::GZIP(_)));
        assert!(column.statistics().is_some(), "statistics are written");
        let read: Vec<RecordBatch> = builder.build().unwrap().collect::<Result<_, _>>().unwrap();
        let read = arrow::compute::concat_batches(&batch.schema(), &read).unwrap();
        assert_eq!(read, batch);
    }

    #[test]
    fn real_table_schemas_encode_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        for table in Table::ALL {
            let path = dir.path().join(format!("{table}.parquet"));
            let key = FileKey::new(table, date(0), range(1, 1)).unwrap();
            let empty = RecordBatch::new_empty(table.schema());
            let stats =
                write_file(&path, &key, &table.schema(), &[empty], &WriterOptions::default()).unwrap();
            assert_eq!(stats.rows, 0);
            let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
            assert_eq!(builder.schema().fields(), table.schema().fields());
        }
    }

    #[test]
    fn unique_valued_columns_are_plain_and_pages_are_v2() {
        use parquet::basic::PageType;
        use parquet::file::reader::{FileReader, SerializedFileReader};

        use crate::generator::{GeneratorConfig, SyntheticLedgers};
        use crate::tables::{ConvertOptions, TableBuilder};
        let config = GeneratorConfig { ledger_count: Some(2), ..GeneratorConfig::default() };
        let options = ConvertOptions { network: config.network.clone(), keep_raw_xdr: false };
        let mut builder = TableBuilder::new(options);
        for ledger in SyntheticLedgers::new(config).unwrap() {
            builder.push(&ledger.meta).unwrap();
        }
        let tables = builder.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for table in [Table::ContractEvents, Table::Transactions] {
            let path = dir.path().join(format!("{table}.parquet"));
            let batch = tables.get(table).unwrap().clone();
            let runs = LedgerColumns::read(table, &batch).unwrap().runs;
            let (first, last) = (runs[0], runs[runs.len() - 1]);
            let day = crate::archive::columns::date_of_day(table, first.day).unwrap();
            let key = FileKey::new(table, day, range(first.sequence, last.sequence)).unwrap();
            assert!(batch.num_rows() > 10, "{table}: the generator makes rows");
            write_file(&path, &key, &batch.schema(), &[batch], &WriterOptions::default()).unwrap();
            let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
            let row_group = builder.metadata().row_group(0);
            let has_dictionary = |name: &str| {
                let column = row_group.columns().iter().find(|c| c.column_path().string() == name);
                column
                    .unwrap_or_else(|| panic!("{table}: no column {name}"))
                    .dictionary_page_offset()
                    .is_some()
            };
            assert!(!has_dictionary("transaction_hash"), "{table}");
            // Every value encoding is plain, dictionary or RLE (levels and booleans): data
            // pages v2 without their default delta encodings.
            for column in row_group.columns() {
                for encoding in column.encodings() {
                    assert!(
                        matches!(encoding, Encoding::PLAIN | Encoding::RLE | Encoding::RLE_DICTIONARY),
                        "{table}.{}: {encoding:?}",
                        column.column_path()
                    );
                }
            }
            let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
            let row_group_reader = reader.get_row_group(0).unwrap();
            for index in 0..row_group.num_columns() {
                for page in row_group_reader.get_column_page_reader(index).unwrap() {
                    let page = page.unwrap();
                    assert!(
                        matches!(page.page_type(), PageType::DATA_PAGE_V2 | PageType::DICTIONARY_PAGE),
                        "{table}: column {index} has a {:?}",
                        page.page_type()
                    );
                }
            }
            // Min/max on integer, time and boolean columns; none on strings and bytes.
            for column in row_group.columns() {
                let is_bytes = column.column_descr().physical_type() == parquet::basic::Type::BYTE_ARRAY;
                assert_eq!(column.statistics().is_some(), !is_bytes, "{table}.{}", column.column_path());
            }
            let min_max = |name: &str| {
                let column = row_group.columns().iter().find(|c| c.column_path().string() == name).unwrap();
                let stats = column.statistics().unwrap();
                (stats.min_bytes_opt().unwrap().to_vec(), stats.max_bytes_opt().unwrap().to_vec())
            };
            let (min, max) = min_max("ledger_sequence");
            assert_eq!(
                (min.as_slice(), max.as_slice()),
                (&first.sequence.to_le_bytes()[..], &last.sequence.to_le_bytes()[..])
            );
            if table == Table::ContractEvents {
                assert!(!has_dictionary("topics.list.item"));
                assert!(has_dictionary("contract_id"), "low-cardinality columns keep the dictionary");
            } else {
                assert!(has_dictionary("account"), "low-cardinality columns keep the dictionary");
                assert!(has_dictionary("operation_count"), "so do counts");
                assert!(
                    !has_dictionary("max_fee") && !has_dictionary("resource_fee"),
                    "measured numbers are plain"
                );
            }
        }
    }

    #[test]
    fn rows_outside_the_file_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let key = FileKey::new(Table::Ledgers, date(0), range(10, 11)).unwrap();
        let options = WriterOptions::default();
        let schema = crate::archive::test_support::schema_of(Table::Ledgers);
        let write = |batches: &[RecordBatch]| {
            write_file(&path, &key, &schema, batches, &options).unwrap_err().to_string()
        };
        let after = batch_of(Table::Ledgers, &[(12, micros_on(0, 1))]);
        assert!(
            write(&[after]).contains("ledger 12 is outside the file's range 10-11"),
            "checked at the end"
        );
        let before = batch_of(Table::Ledgers, &[(9, micros_on(0, 1))]);
        assert!(write(&[before]).contains("ledger 9 is before the file's first ledger 10"));
        let wrong_day = batch_of(Table::Ledgers, &[(10, micros_on(1, 1))]);
        assert!(write(&[wrong_day]).contains("ledger 10 did not close on 1970-01-01"));
        let a = batch_of(Table::Ledgers, &[(11, micros_on(0, 1))]);
        let b = batch_of(Table::Ledgers, &[(10, micros_on(0, 1))]);
        assert!(write(&[a, b]).contains("not ordered by ledger: 10 after 11"));
        let fine = batch_of(Table::Ledgers, &[(10, micros_on(0, 1)), (11, micros_on(0, 2))]);
        assert_eq!(write_file(&path, &key, &schema, &[fine], &options).unwrap().rows, 2);
    }

    #[test]
    fn mismatched_schema_is_a_permanent_encode_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let key = FileKey::new(Table::Ledgers, date(0), range(1, 1)).unwrap();
        let batch = batch_of(Table::Ledgers, &[(1, micros_on(0, 1))]);
        let error = write_file(&path, &key, &Table::Ledgers.schema(), &[batch], &WriterOptions::default())
            .unwrap_err();
        assert!(matches!(error, ArchiveError::Encode { .. }), "{error:?}");
        assert!(!error.is_transient());
    }

    #[test]
    fn zero_row_group_rows_is_a_config_error_not_a_panic() {
        let key = FileKey::new(Table::Ledgers, date(0), range(1, 1)).unwrap();
        let options = WriterOptions { max_row_group_rows: 0, ..WriterOptions::default() };
        assert!(matches!(
            options.properties(key.table, key.date, key.first()),
            Err(ArchiveError::InvalidConfig { .. })
        ));
    }
}
