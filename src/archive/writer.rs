//! Parquet encoding of one archive file.
//!
//! A file holds one table's rows for one UTC date and one inclusive ledger range. Before
//! encoding, every row is checked against the file's key (ledger inside the range, close date
//! equal to the partition date), so a file name never lies about its contents. The file is
//! encoded with `ArrowWriter` (column statistics on, row groups of at most
//! `max_row_group_rows`), then fsynced; key-value metadata records the table, date and range
//! ([`META_TABLE`], [`META_DATE`], [`META_FIRST_LEDGER`], [`META_LAST_LEDGER`]) so a file
//! describes itself even when renamed.
//!
//! Encoding is CPU work (design §8): callers run it on a blocking thread or a small pool.

use std::fs::File;
use std::path::Path;

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Encoding;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use super::columns::{LedgerColumns, day_of_date};
use super::layout::{FileKey, format_date};
use super::{ArchiveError, Compression};

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
    /// Parquet writer properties for the file `key`.
    pub fn properties(&self, key: &FileKey) -> Result<WriterProperties, ArchiveError> {
        if self.max_row_group_rows == 0 {
            return Err(ArchiveError::InvalidConfig {
                key: "archive.max_row_group_rows",
                value: "0".into(),
                allowed: "1 or more rows",
            });
        }
        let metadata = [
            (META_TABLE, key.table.name().to_string()),
            (META_DATE, format_date(key.date)),
            (META_FIRST_LEDGER, key.first().to_string()),
            (META_LAST_LEDGER, key.last().to_string()),
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
        for (path, is_bytes) in unique_valued_columns(&key.table.schema()) {
            builder = builder.set_column_dictionary_enabled(path.clone(), false);
            if is_bytes {
                // Min/max of hashes, JSON or XDR prune nothing and cost a comparison per value;
                // the integer ids keep theirs (they are ordered, so row groups prune by them).
                builder = builder.set_column_statistics_enabled(path, EnabledStatistics::None);
            }
        }
        Ok(builder.build())
    }
}

/// Columns whose values are (nearly) all distinct: hashes, ids, JSON details, raw XDR. A
/// dictionary only costs there (every value is hashed and interned until the dictionary page
/// overflows, then the column falls back to plain encoding), so they are written plain.
/// Low-cardinality columns (accounts, assets, type strings, codes, close times) keep it. The
/// string and binary ones among them are also written without min/max statistics.
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

/// Parquet leaf paths of the [`UNIQUE_VALUED_COLUMNS`] present in `schema` (a list column's
/// leaf is `<name>.list.<item>`, as the Arrow writer names it), each with whether its values
/// are strings or bytes (not integers).
fn unique_valued_columns(schema: &SchemaRef) -> Vec<(ColumnPath, bool)> {
    schema
        .fields()
        .iter()
        .filter(|field| UNIQUE_VALUED_COLUMNS.contains(&field.name().as_str()))
        .map(|field| match field.data_type() {
            DataType::List(item) => {
                (ColumnPath::new(vec![field.name().clone(), "list".to_string(), item.name().clone()]), true)
            }
            other => (ColumnPath::new(vec![field.name().clone()]), !other.is_integer()),
        })
        .collect()
}

/// Size of an encoded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStats {
    pub rows: u64,
    pub bytes: u64,
}

/// Checks that every row of `batches` belongs to `key`: ledger in `first..=last`, close date
/// equal to `key.date`, rows ordered by ledger. Returns the number of rows.
pub(crate) fn check_rows(key: &FileKey, batches: &[RecordBatch]) -> Result<u64, ArchiveError> {
    let day = day_of_date(key.date);
    let mut rows = 0u64;
    let mut previous: Option<u32> = None;
    for batch in batches {
        let columns = LedgerColumns::read(key.table, batch)?;
        for run in &columns.runs {
            let reason = if !key.range.contains(run.sequence) {
                format!("ledger {} is outside the file's range {}", run.sequence, key.range)
            } else if run.day != day {
                format!("ledger {} did not close on {}", run.sequence, format_date(key.date))
            } else if previous.is_some_and(|p| p > run.sequence) {
                format!("rows are not ordered by ledger: {} after {}", run.sequence, previous.unwrap_or(0))
            } else {
                previous = Some(run.sequence);
                continue;
            };
            return Err(ArchiveError::InvalidBatch { table: key.table, reason });
        }
        rows += batch.num_rows() as u64;
    }
    Ok(rows)
}

/// Encodes `batches` (all of `schema`) into a new file at `path`, replacing any file there, and
/// fsyncs it. The directory entry is not synced here: the caller syncs the directory once.
pub(crate) fn write_file(
    path: &Path,
    key: &FileKey,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    options: &WriterOptions,
) -> Result<FileStats, ArchiveError> {
    let properties = options.properties(key)?;
    let file = File::create(path).map_err(ArchiveError::io("create", path))?;
    let (file, rows) = encode_into(file, path, schema, batches, properties)?;
    file.sync_all().map_err(ArchiveError::io("fsync", path))?;
    let bytes = file.metadata().map_err(ArchiveError::io("stat", path))?.len();
    Ok(FileStats { rows, bytes })
}

/// Encodes `batches` (all of `schema`) into memory, for an object store's single `put`. The
/// buffer is bounded: a file holds at most `archive.max_file_bytes` of Arrow memory, and its
/// encoded form is smaller. `name` only labels errors (the object's URL).
pub(crate) fn encode(
    name: &str,
    key: &FileKey,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    options: &WriterOptions,
) -> Result<(Vec<u8>, FileStats), ArchiveError> {
    let properties = options.properties(key)?;
    let (buffer, rows) = encode_into(Vec::new(), Path::new(name), schema, batches, properties)?;
    let bytes = buffer.len() as u64;
    Ok((buffer, FileStats { rows, bytes }))
}

/// The one Parquet encoder of the archive: `batches` into `sink` with the file's properties;
/// returns the sink and the rows written.
fn encode_into<W: std::io::Write + Send>(
    sink: W,
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    properties: WriterProperties,
) -> Result<(W, u64), ArchiveError> {
    let mut writer = ArrowWriter::try_new(sink, schema.clone(), Some(properties))
        .map_err(|e| ArchiveError::from_parquet(path, e))?;
    let mut rows = 0u64;
    for batch in batches {
        writer.write(batch).map_err(|e| ArchiveError::from_parquet(path, e))?;
        rows += batch.num_rows() as u64;
    }
    let sink = writer.into_inner().map_err(|e| ArchiveError::from_parquet(path, e))?;
    Ok((sink, rows))
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::archive::test_support::{batch_of, date, micros_on, range};
    use crate::tables::Table;

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
        assert_eq!(check_rows(&key, std::slice::from_ref(&batch)).unwrap(), 3);
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
            let key = FileKey::new(table, date(0), range(10, 10)).unwrap();
            let batch = tables.get(table).unwrap().clone();
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
            if table == Table::ContractEvents {
                assert!(!has_dictionary("topics.list.item"));
                assert!(has_dictionary("contract_id"), "low-cardinality columns keep the dictionary");
            } else {
                assert!(has_dictionary("account"), "low-cardinality columns keep the dictionary");
            }
        }
    }

    #[test]
    fn rows_outside_the_key_are_rejected() {
        let key = FileKey::new(Table::Ledgers, date(0), range(10, 11)).unwrap();
        let outside = batch_of(Table::Ledgers, &[(12, micros_on(0, 1))]);
        assert!(check_rows(&key, &[outside]).unwrap_err().to_string().contains("outside the file's range"));
        let wrong_day = batch_of(Table::Ledgers, &[(10, micros_on(1, 1))]);
        assert!(
            check_rows(&key, &[wrong_day]).unwrap_err().to_string().contains("did not close on 1970-01-01")
        );
        let a = batch_of(Table::Ledgers, &[(11, micros_on(0, 1))]);
        let b = batch_of(Table::Ledgers, &[(10, micros_on(0, 1))]);
        assert!(check_rows(&key, &[a, b]).unwrap_err().to_string().contains("not ordered"));
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
        assert!(matches!(options.properties(&key), Err(ArchiveError::InvalidConfig { .. })));
    }
}
