//! Object storage locations (S3, GCS, local) opened through `object_store`, shared by the
//! data-store source and the archive.
//!
//! A location is a URL: `s3://bucket/prefix`, `gs://bucket/prefix`, or `file:///absolute/dir`.
//! The store is configured the way object_store's users expect: its standard environment
//! variables first (`AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `GOOGLE_SERVICE_ACCOUNT`, ...), then the `storage_options` of the
//! configuration (object_store's own keys: `aws_endpoint`, `aws_region`, `aws_allow_http`,
//! `aws_skip_signature` for anonymous access to a public bucket, `google_skip_signature`, ...).
//! Credentials come only from the environment: a secret among the options is refused, so it
//! never lands in a config file or a log.
//!
//! Request-level retries inside object_store are kept few and short ([`RETRIES`]): the
//! supervisors own retrying (design §2), with backoff and a circuit breaker; object_store only
//! smooths over a single dropped connection.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};
use url::Url;

use crate::resilience::{Classify, FailureClass};

/// Request retries object_store makes on its own before an error reaches a supervisor.
pub const RETRIES: usize = 2;
/// Longest a single request may take (headers and body) before it counts as a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Option keys that carry secrets: refused in the configuration (environment only).
const SECRET_MARKERS: [&str; 6] =
    ["secret", "access_key", "session_token", "token", "password", "service_account_key"];

/// object_store options from the configuration (`source.storage_options`,
/// `archive.storage_options`): object_store's own keys, lowercase, values as strings.
pub type StorageOptions = BTreeMap<String, String>;

/// An opened object-storage location: the store and the prefix everything lives under.
#[derive(Clone)]
pub struct ObjectLocation {
    url: Url,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

impl fmt::Debug for ObjectLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectLocation").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

impl ObjectLocation {
    /// Opens `url` (no I/O: the first request happens on first use).
    pub fn open(url: &str, key: &'static str, options: &StorageOptions) -> Result<Self, StorageError> {
        let parsed = parse_url(url, key)?;
        check_options(key, options)?;
        // Client settings go through config keys, not `with_client_options`, which would
        // replace what the environment set (AWS_ALLOW_HTTP, proxies); options may override.
        let client_keys =
            [("timeout", format!("{}s", REQUEST_TIMEOUT.as_secs())), ("connect_timeout", "10s".to_owned())];
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: RETRIES,
            retry_timeout: Duration::from_secs(30),
        };
        let invalid = |source: object_store::Error| StorageError::Open { url: url.to_owned(), source };
        let (store, prefix): (Arc<dyn ObjectStore>, ObjectPath) = match parsed.scheme() {
            "s3" | "s3a" => {
                let mut builder = AmazonS3Builder::from_env().with_url(parsed.as_str()).with_retry(retry);
                for (name, value) in &client_keys {
                    builder = builder.with_config(name.parse().expect("a client option"), value);
                }
                for (name, value) in options {
                    let config_key = name.parse().map_err(|_| unknown_option(key, name, "s3"))?;
                    builder = builder.with_config(config_key, value);
                }
                (Arc::new(builder.build().map_err(invalid)?), url_prefix(&parsed, url, key)?)
            }
            "gs" => {
                let mut builder =
                    GoogleCloudStorageBuilder::from_env().with_url(parsed.as_str()).with_retry(retry);
                for (name, value) in &client_keys {
                    builder = builder.with_config(name.parse().expect("a client option"), value);
                }
                for (name, value) in options {
                    let config_key = name.parse().map_err(|_| unknown_option(key, name, "gs"))?;
                    builder = builder.with_config(config_key, value);
                }
                (Arc::new(builder.build().map_err(invalid)?), url_prefix(&parsed, url, key)?)
            }
            "file" => {
                if let Some(name) = options.keys().next() {
                    return Err(unknown_option(key, name, "file"));
                }
                let dir = parsed.to_file_path().map_err(|()| StorageError::Url {
                    key,
                    url: url.to_owned(),
                    reason: "a file URL needs an absolute path (file:///dir)".into(),
                })?;
                std::fs::create_dir_all(&dir)
                    .map_err(|source| StorageError::Local { dir: dir.clone(), source })?;
                let store = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(invalid)?
                    // The two-phase commit needs durable writes: file and directory fsynced.
                    .with_fsync(true);
                (Arc::new(store), ObjectPath::default())
            }
            other => {
                return Err(StorageError::Url {
                    key,
                    url: url.to_owned(),
                    reason: format!("scheme `{other}` is not supported; use s3://, gs:// or file://"),
                });
            }
        };
        Ok(ObjectLocation { url: parsed, store, prefix })
    }

    /// A location over a store made elsewhere (tests: `object_store::memory::InMemory`).
    pub fn from_store(url: &str, store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        let url = Url::parse(url).unwrap_or_else(|_| Url::parse("memory:///").expect("a valid URL"));
        ObjectLocation { url, store, prefix: ObjectPath::from(prefix) }
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix below which the location's objects live (empty: the bucket root).
    pub fn prefix(&self) -> &ObjectPath {
        &self.prefix
    }

    /// The full object path of `relative` (a `/`-separated key below the prefix).
    pub fn path(&self, relative: &str) -> ObjectPath {
        let mut path = self.prefix.clone();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            path = path.clone().join(part);
        }
        path
    }

    /// `relative` as a URL, for messages and dead-letter records.
    pub fn display(&self, relative: &str) -> String {
        format!("{}/{}", self.url.as_str().trim_end_matches('/'), relative)
    }
}

/// Whether `text` is an object-storage URL (`scheme://...`) rather than a local path.
pub fn is_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
    })
}

fn parse_url(url: &str, key: &'static str) -> Result<Url, StorageError> {
    Url::parse(url).map_err(|e| StorageError::Url { key, url: url.to_owned(), reason: e.to_string() })
}

fn url_prefix(parsed: &Url, url: &str, key: &'static str) -> Result<ObjectPath, StorageError> {
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(StorageError::Url { key, url: url.to_owned(), reason: "the URL names no bucket".into() });
    }
    ObjectPath::from_url_path(parsed.path()).map_err(|e| StorageError::Url {
        key,
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

fn check_options(key: &'static str, options: &StorageOptions) -> Result<(), StorageError> {
    for name in options.keys() {
        let lower = name.to_ascii_lowercase();
        if SECRET_MARKERS.iter().any(|marker| lower.contains(marker)) {
            return Err(StorageError::SecretInConfig { key, option: name.clone() });
        }
    }
    Ok(())
}

fn unknown_option(key: &'static str, option: &str, scheme: &'static str) -> StorageError {
    StorageError::UnknownOption { key, option: option.to_owned(), scheme }
}

/// Why a location could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("{key} = {url:?} is invalid: {reason}")]
    Url { key: &'static str, url: String, reason: String },
    #[error(
        "{key}.{option}: credentials are read from the environment only (AWS_*, GOOGLE_*), never from the configuration"
    )]
    SecretInConfig { key: &'static str, option: String },
    #[error("{key}.{option} is not an object_store option for {scheme}:// URLs")]
    UnknownOption { key: &'static str, option: String, scheme: &'static str },
    #[error("{url}: cannot open: {source}")]
    Open {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("{dir}: cannot create: {source}")]
    Local {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Classify for StorageError {
    fn class(&self) -> FailureClass {
        FailureClass::Permanent
    }
}

/// The class of an object_store error: what a request's outcome says about trying again.
///
/// - `Generic` is what object_store returns once its own retries are spent on a 5xx, a 429,
///   a timeout or a dropped connection (and for a 4xx it does not map): transient.
/// - `NotFound` is transient too: the caller decides first what a missing object means (the
///   tip in follow mode, a hole in the store); one that reaches a supervisor is an object that
///   vanished between a listing and a read.
/// - Permission, authentication, invalid paths and unsupported operations fail the same way
///   every time: permanent.
pub fn class_of(error: &object_store::Error) -> FailureClass {
    use object_store::Error as E;
    match error {
        E::Generic { .. } | E::NotFound { .. } | E::JoinError { .. } | E::Precondition { .. } => {
            FailureClass::Transient
        }
        E::AlreadyExists { .. } | E::NotModified { .. } => FailureClass::Transient,
        _ => FailureClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> StorageOptions {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn s3_urls_open_with_options_and_a_prefix() {
        let location = ObjectLocation::open(
            "s3://bucket/some/prefix",
            "source.url",
            &options(&[
                ("aws_endpoint", "http://127.0.0.1:9"),
                ("aws_allow_http", "true"),
                ("aws_region", "us-east-1"),
                ("aws_skip_signature", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(location.prefix().as_ref(), "some/prefix");
        assert_eq!(location.path("a/b.parquet").as_ref(), "some/prefix/a/b.parquet");
        assert_eq!(location.display("x"), "s3://bucket/some/prefix/x");
        let root =
            ObjectLocation::open("gs://bucket", "source.url", &options(&[("google_skip_signature", "true")]))
                .unwrap();
        assert_eq!(root.path(".config.json").as_ref(), ".config.json");
    }

    #[test]
    fn bad_urls_and_options_name_the_key() {
        let error = ObjectLocation::open("ftp://host/x", "archive.url", &StorageOptions::new()).unwrap_err();
        assert!(
            error.to_string().starts_with("archive.url = \"ftp://host/x\" is invalid: scheme `ftp`"),
            "{error}"
        );
        let error =
            ObjectLocation::open("s3://b/p", "source.url", &options(&[("aws_secret_access_key", "x")]))
                .unwrap_err();
        assert!(matches!(error, StorageError::SecretInConfig { .. }), "{error}");
        let error =
            ObjectLocation::open("s3://b/p", "source.url", &options(&[("aws_colour", "blue")])).unwrap_err();
        assert_eq!(error.to_string(), "source.url.aws_colour is not an object_store option for s3:// URLs");
        let error =
            ObjectLocation::open("file://relative/x", "source.url", &StorageOptions::new()).unwrap_err();
        assert!(error.to_string().contains("source.url"), "{error}");
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("s3://bucket/x"));
        assert!(is_url("gs://bucket"));
        assert!(is_url("file:///tmp/x"));
        assert!(!is_url("/var/lib/ledgers"));
        assert!(!is_url("relative/dir"));
        assert!(!is_url("C:\\x"));
    }

    #[test]
    fn errors_are_classified() {
        let not_found = object_store::Error::NotFound { path: "x".into(), source: "gone".into() };
        assert_eq!(class_of(&not_found), FailureClass::Transient);
        let generic = object_store::Error::Generic { store: "S3", source: "503".into() };
        assert_eq!(class_of(&generic), FailureClass::Transient);
        let denied = object_store::Error::PermissionDenied { path: "x".into(), source: "403".into() };
        assert_eq!(class_of(&denied), FailureClass::Permanent);
    }
}
