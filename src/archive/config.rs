//! The `[archive]` settings: where files go, how they are encoded, when they are cut.
//!
//! Every key has a default ([`ArchiveConfig::default`]); serde rejects unknown keys and badly
//! typed values, and [`ArchiveConfig::validate`] rejects the rest with an error that names the
//! key, the value and what is allowed.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ArchiveError;
use super::rotation::RotationPolicy;
use super::writer::WriterOptions;

/// The Parquet codec of every column. Written in config as a lower-case string with an
/// optional level: `"zstd"`, `"zstd(9)"`, `"snappy"`, `"lz4"`, `"gzip"`, `"gzip(9)"`, `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zstd at a level in `1..=22`; `"zstd"` alone means level [`Compression::DEFAULT_ZSTD_LEVEL`].
    Zstd(i32),
    Snappy,
    /// LZ4 as Parquet's `LZ4_RAW` codec (the `LZ4` codec is deprecated by the Parquet format).
    Lz4,
    /// gzip at a level in `0..=9`; `"gzip"` alone means level [`Compression::DEFAULT_GZIP_LEVEL`].
    Gzip(u32),
    None,
}

/// The accepted spellings, for error messages.
const COMPRESSION_ALLOWED: &str = "zstd, zstd(1..=22), snappy, lz4, gzip, gzip(0..=9), none";

impl Compression {
    /// zstd's own default level: what `"zstd"` without a level means.
    pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
    /// The archive's default codec level: zstd 1 costs ~14% less CPU end to end than level 3
    /// for ~3% larger files on synthetic ledgers (`cargo bench -p ledgerflow-actors --bench e2e
    /// -- --compression 'zstd(3)'` against the default), and encoding is the largest CPU cost.
    pub const ARCHIVE_ZSTD_LEVEL: i32 = 1;
    /// zlib's default level.
    pub const DEFAULT_GZIP_LEVEL: u32 = 6;

    /// Checks the level; `key` names the setting in the error.
    pub fn validate(&self, key: &'static str) -> Result<(), ArchiveError> {
        let in_range = match *self {
            Compression::Zstd(level) => (1..=22).contains(&level),
            Compression::Gzip(level) => level <= 9,
            Compression::Snappy | Compression::Lz4 | Compression::None => true,
        };
        if in_range {
            Ok(())
        } else {
            Err(ArchiveError::InvalidConfig { key, value: self.to_string(), allowed: COMPRESSION_ALLOWED })
        }
    }

    /// The codec as the Parquet writer takes it.
    pub fn to_parquet(self) -> Result<parquet::basic::Compression, ArchiveError> {
        use parquet::basic::{Compression as Codec, GzipLevel, ZstdLevel};
        self.validate("archive.compression")?;
        let invalid = |_| ArchiveError::InvalidConfig {
            key: "archive.compression",
            value: self.to_string(),
            allowed: COMPRESSION_ALLOWED,
        };
        Ok(match self {
            Compression::Zstd(level) => Codec::ZSTD(ZstdLevel::try_new(level).map_err(invalid)?),
            Compression::Snappy => Codec::SNAPPY,
            Compression::Lz4 => Codec::LZ4_RAW,
            Compression::Gzip(level) => Codec::GZIP(GzipLevel::try_new(level).map_err(invalid)?),
            Compression::None => Codec::UNCOMPRESSED,
        })
    }
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Zstd(Compression::ARCHIVE_ZSTD_LEVEL)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::Zstd(level) => write!(f, "zstd({level})"),
            Compression::Snappy => f.write_str("snappy"),
            Compression::Lz4 => f.write_str("lz4"),
            Compression::Gzip(level) => write!(f, "gzip({level})"),
            Compression::None => f.write_str("none"),
        }
    }
}

/// Why a compression string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compression `{value}`; allowed: {COMPRESSION_ALLOWED}")]
pub struct ParseCompressionError {
    value: String,
}

impl FromStr for Compression {
    type Err = ParseCompressionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseCompressionError { value: text.to_string() };
        let (codec, level) = match text.split_once('(') {
            Some((codec, rest)) => (codec, Some(rest.strip_suffix(')').ok_or_else(error)?)),
            None => (text, None),
        };
        let compression = match (codec, level) {
            ("zstd", None) => Compression::Zstd(Compression::DEFAULT_ZSTD_LEVEL),
            ("zstd", Some(level)) => Compression::Zstd(level.parse().map_err(|_| error())?),
            ("gzip", None) => Compression::Gzip(Compression::DEFAULT_GZIP_LEVEL),
            ("gzip", Some(level)) => Compression::Gzip(level.parse().map_err(|_| error())?),
            ("snappy", None) => Compression::Snappy,
            ("lz4", None) => Compression::Lz4,
            ("none", None) => Compression::None,
            _ => return Err(error()),
        };
        compression.validate("archive.compression").map_err(|_| error())?;
        Ok(compression)
    }
}

impl Serialize for Compression {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Compression;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "one of {COMPRESSION_ALLOWED}")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Compression, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The `[archive]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Local directory that receives the Parquet tree
    /// (`<root>/<table>/date=YYYY-MM-DD/<table>-<first>-<last>.parquet`, staging under
    /// `<root>/_staging/`). One root per stream: recovery deletes files beyond the stream's
    /// checkpoint. With `url` set, the Parquet tree goes there instead and this directory
    /// only holds the checkpoint database (unless `checkpoint.path` says otherwise).
    pub root: PathBuf,
    /// Object storage for the Parquet tree instead of `root`: `s3://bucket/prefix`,
    /// `gs://bucket/prefix` or `file:///dir`, with the same two-phase commit (staging keys
    /// under `_staging/`, committed in the checkpoint, then copied into place). Configured by
    /// object_store's environment variables and `storage_options`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// With `url`: object_store options (`aws_endpoint`, `aws_region`, `aws_allow_http`, ...).
    /// Credentials are refused here: environment only.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub storage_options: crate::storage::StorageOptions,
    /// Parquet codec: "zstd(1)" (default), "zstd" (level 3), "zstd(LEVEL)" with LEVEL
    /// 1..=22, "snappy", "lz4", "gzip", "gzip(LEVEL)" with LEVEL 0..=9, "none".
    pub compression: Compression,
    /// Rows per Parquet row group, at most.
    pub max_row_group_rows: usize,
    /// Cut a file before a table's rows in it exceed this many bytes of Arrow memory (the
    /// encoded file is smaller), before the first batch that does not fit, so files end where
    /// batches end. Rows are encoded as they arrive, so this bounds memory only on an object
    /// store, which holds each open file's encoded bytes until its put.
    pub max_file_bytes: u64,
    /// Cut a file once it holds this many ledgers.
    pub max_ledgers_per_file: u32,
    /// Cut a file this many seconds after its first ledger arrived, so a slow live tail still
    /// publishes (and commits) regularly.
    pub max_file_age_secs: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        let rotation = RotationPolicy::default();
        let writer = WriterOptions::default();
        ArchiveConfig {
            root: PathBuf::from("archive"),
            url: None,
            storage_options: Default::default(),
            compression: writer.compression,
            max_row_group_rows: writer.max_row_group_rows,
            max_file_bytes: rotation.max_file_bytes,
            max_ledgers_per_file: rotation.max_ledgers_per_file,
            max_file_age_secs: rotation.max_file_age.as_secs(),
        }
    }
}

impl ArchiveConfig {
    /// Checks what serde cannot: non-empty root, compression level, non-zero limits.
    pub fn validate(&self) -> Result<(), ArchiveError> {
        if self.root.as_os_str().is_empty() {
            return Err(ArchiveError::InvalidConfig {
                key: "archive.root",
                value: "\"\"".into(),
                allowed: "a directory path",
            });
        }
        if let Some(url) = &self.url
            && !crate::storage::is_url(url)
        {
            return Err(ArchiveError::InvalidConfig {
                key: "archive.url",
                value: format!("{url:?}"),
                allowed: "an object-storage URL: s3://bucket/prefix, gs://bucket/prefix or file:///dir (a local directory goes in archive.root)",
            });
        }
        self.compression.validate("archive.compression")?;
        let positive = |key, value: u64, allowed| {
            if value == 0 {
                Err(ArchiveError::InvalidConfig { key, value: value.to_string(), allowed })
            } else {
                Ok(())
            }
        };
        positive("archive.max_row_group_rows", self.max_row_group_rows as u64, "1 or more rows")?;
        positive("archive.max_file_bytes", self.max_file_bytes, "1 or more bytes")?;
        positive("archive.max_ledgers_per_file", u64::from(self.max_ledgers_per_file), "1 or more ledgers")?;
        positive("archive.max_file_age_secs", self.max_file_age_secs, "1 or more seconds")?;
        Ok(())
    }

    /// How files are encoded.
    pub fn writer_options(&self) -> WriterOptions {
        WriterOptions { compression: self.compression, max_row_group_rows: self.max_row_group_rows }
    }

    /// When files are cut.
    pub fn rotation_policy(&self) -> RotationPolicy {
        RotationPolicy {
            max_file_bytes: self.max_file_bytes,
            max_ledgers_per_file: self.max_ledgers_per_file,
            max_file_age: Duration::from_secs(self.max_file_age_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_strings_round_trip() {
        for (text, compression) in [
            ("zstd", Compression::Zstd(3)),
            ("zstd(19)", Compression::Zstd(19)),
            ("snappy", Compression::Snappy),
            ("lz4", Compression::Lz4),
            ("gzip", Compression::Gzip(6)),
            ("gzip(9)", Compression::Gzip(9)),
            ("none", Compression::None),
        ] {
            assert_eq!(text.parse::<Compression>(), Ok(compression), "{text}");
            assert_eq!(compression.to_string().parse::<Compression>(), Ok(compression));
        }
        assert_eq!(Compression::default().to_string(), "zstd(1)");
    }

    #[test]
    fn bad_compression_strings_list_what_is_allowed() {
        for text in ["ZSTD", "brotli", "zstd(", "zstd(x)", "zstd(23)", "zstd(0)", "gzip(10)", "snappy(1)", ""]
        {
            let error = text.parse::<Compression>().expect_err(text);
            assert!(error.to_string().contains("allowed: zstd"), "{error}");
        }
    }

    #[test]
    fn compression_serde_is_a_lower_case_string() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Holder {
            compression: Compression,
        }
        let json = serde_json::to_string(&Holder { compression: Compression::Gzip(4) }).unwrap();
        assert_eq!(json, r#"{"compression":"gzip(4)"}"#);
        let back: Holder = serde_json::from_str(r#"{"compression":"lz4"}"#).unwrap();
        assert_eq!(back.compression, Compression::Lz4);
        let error = serde_json::from_str::<Holder>(r#"{"compression":"lzo"}"#).unwrap_err();
        assert!(error.to_string().contains("unknown compression `lzo`"), "{error}");
    }

    #[test]
    fn compression_maps_to_parquet_codecs() {
        use parquet::basic::Compression as Codec;
        assert!(
            matches!(Compression::Zstd(7).to_parquet().unwrap(), Codec::ZSTD(l) if l.compression_level() == 7)
        );
        assert_eq!(Compression::Lz4.to_parquet().unwrap(), Codec::LZ4_RAW);
        assert_eq!(Compression::None.to_parquet().unwrap(), Codec::UNCOMPRESSED);
        assert!(Compression::Zstd(40).to_parquet().is_err());
    }

    #[test]
    fn config_defaults_fill_missing_keys_and_unknown_keys_fail() {
        let config: ArchiveConfig = serde_json::from_str(r#"{"compression":"snappy"}"#).unwrap();
        assert_eq!(config, ArchiveConfig { compression: Compression::Snappy, ..ArchiveConfig::default() });
        config.validate().unwrap();
        assert!(serde_json::from_str::<ArchiveConfig>(r#"{"max_file_size":1}"#).is_err());
        let round_trip: ArchiveConfig =
            serde_json::from_str(&serde_json::to_string(&ArchiveConfig::default()).unwrap()).unwrap();
        assert_eq!(round_trip, ArchiveConfig::default());
    }

    #[test]
    fn validate_names_key_value_and_allowed() {
        let config = ArchiveConfig { max_ledgers_per_file: 0, ..ArchiveConfig::default() };
        let error = config.validate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "archive.max_ledgers_per_file = 0 is invalid; allowed: 1 or more ledgers"
        );
        let config = ArchiveConfig { compression: Compression::Zstd(30), ..ArchiveConfig::default() };
        let error = config.validate().unwrap_err();
        assert!(error.to_string().starts_with("archive.compression = zstd(30) is invalid"), "{error}");
        assert_eq!(
            ArchiveConfig::default().rotation_policy().max_file_age,
            Duration::from_secs(ArchiveConfig::default().max_file_age_secs)
        );
    }
}
