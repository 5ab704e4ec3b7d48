//! A stream under test and its reference.
//!
//! [`StreamSpec`] says what to ingest (the synthetic generator or a SEP-54 store, how many
//! ledgers, how many transactions each) and how (batch and file sizes, retry delays of a few
//! milliseconds, breaker thresholds, `on_corrupt`); [`StreamSpec::toml`] writes it as a config
//! file for a directory, setting only those keys. [`TestStream`] is one such stream in its own
//! directory, its config written as `ledgerflow.toml` and read back with the library's
//! `Config` (the binary reads the same file; failpoints go in the `FAILPOINTS` environment
//! variable). [`Reference`] is
//! the archive of an uninterrupted run of the same spec in another directory: what every
//! chaos run must end equal to.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ledgerflow::batch::OnCorrupt;
use ledgerflow::config::{Config, EnvOverrides};

use crate::binary::{Finished, Ledgerflow};
use crate::summary::{ArchiveSummary, summarize};

/// First ledger of the synthetic source and of `ledgerflow generate`.
pub const FIRST: u32 = 1_000_000;

/// The longest a single run may take before it counts as hung.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// `None`: the synthetic generator; `Some(dir)`: that SEP-54 store.
    pub store: Option<PathBuf>,
    pub ledgers: u32,
    pub transactions_per_ledger: u32,
    pub seed: u64,
    pub batch_ledgers: u32,
    pub max_in_flight_batches: u32,
    pub max_ledgers_per_file: u32,
    pub on_corrupt: OnCorrupt,
    /// Failures within the window that open a breaker.
    pub breaker_threshold: u32,
    pub breaker_cool_down_ms: u64,
    /// `Some(ms)`: the supervisors give up after this retry budget, so the first failure
    /// stops the stream (a crash, from the archive's point of view).
    pub retry_budget_ms: Option<u64>,
    pub max_object_bytes: Option<u64>,
    /// Read the store from this object-storage URL (`s3://bucket/prefix`) instead of `store`.
    pub source_url: Option<String>,
    /// Write the Parquet tree to this object-storage URL instead of `<dir>/data`.
    pub archive_url: Option<String>,
}

impl StreamSpec {
    /// A small synthetic stream: batches of 6 ledgers, files of 15, fast retries, breakers that
    /// do not open.
    pub fn synthetic(ledgers: u32, transactions_per_ledger: u32) -> Self {
        StreamSpec {
            store: None,
            ledgers,
            transactions_per_ledger,
            seed: 42,
            batch_ledgers: 6,
            max_in_flight_batches: 3,
            max_ledgers_per_file: 15,
            on_corrupt: OnCorrupt::Fail,
            breaker_threshold: 10_000,
            breaker_cool_down_ms: 100,
            retry_budget_ms: None,
            max_object_bytes: None,
            source_url: None,
            archive_url: None,
        }
    }

    /// The same, reading the SEP-54 store at `store` (all of it).
    pub fn datastore(store: &Path, ledgers: u32) -> Self {
        StreamSpec { store: Some(store.to_owned()), ..StreamSpec::synthetic(ledgers, 0) }
    }

    /// The last ledger of the stream.
    pub fn last(&self) -> u32 {
        FIRST + self.ledgers - 1
    }

    /// The configuration file of this stream with its archive (and checkpoint) under `dir`:
    /// only the keys it sets, the rest stay at their defaults.
    pub fn toml(&self, dir: &Path) -> String {
        let quote = |p: &Path| format!("{:?}", p.display().to_string());
        let mut toml = String::new();
        toml.push_str("[source]\n");
        match (&self.source_url, &self.store) {
            (Some(url), _) => toml.push_str(&format!("kind = \"datastore\"\nurl = {url:?}\n")),
            (None, None) => toml.push_str(&format!(
                "kind = \"synthetic\"\nledgers = {}\ntransactions_per_ledger = {}\nseed = {}\n",
                self.ledgers, self.transactions_per_ledger, self.seed
            )),
            (None, Some(store)) => toml.push_str(&format!("kind = \"datastore\"\npath = {}\n", quote(store))),
        }
        if let Some(bytes) = self.max_object_bytes {
            toml.push_str(&format!("\n[decode]\nmax_object_bytes = {bytes}\n"));
        }
        toml.push_str("\n[convert]\nworkers = 2\n");
        toml.push_str(&format!(
            "\n[pipeline]\nbatch_ledgers = {}\nmax_in_flight_batches = {}\non_corrupt = \"{}\"\n",
            self.batch_ledgers, self.max_in_flight_batches, self.on_corrupt
        ));
        toml.push_str(&format!(
            "\n[archive]\nroot = {}\nmax_ledgers_per_file = {}\n",
            quote(&dir.join("data")),
            self.max_ledgers_per_file
        ));
        if let Some(url) = &self.archive_url {
            toml.push_str(&format!("url = {url:?}\n"));
        }
        toml.push_str("\n[analytics]\nwindow_secs = 30\nhigh_value_threshold_stroops = 5000000000\n");
        for supervisor in ["source", "convert", "analytics", "archive"] {
            toml.push_str(&format!(
                "\n[resilience.{supervisor}.retry]\ninitial_interval_ms = 2\nmax_interval_ms = 20\n"
            ));
            if let Some(budget) = self.retry_budget_ms {
                toml.push_str(&format!("max_elapsed_time_ms = {budget}\n"));
            }
            toml.push_str(&format!(
                "\n[resilience.{supervisor}.breaker]\nfailure_threshold = {}\ncool_down_ms = {}\n",
                self.breaker_threshold, self.breaker_cool_down_ms
            ));
        }
        toml.push_str(
            "\n[service]\nprogress = \"off\"\nlog_format = \"json\"\nlog_level = \"info\"\nshutdown_timeout_ms = 5000\n",
        );
        toml
    }
}

/// A stream in its own directory, its config written where the binary reads it.
pub struct TestStream {
    pub dir: PathBuf,
    pub config: Config,
    pub config_path: PathBuf,
}

impl TestStream {
    /// Writes `spec`'s config for `dir` (created if needed) as `dir/ledgerflow.toml`.
    pub fn create(dir: &Path, spec: &StreamSpec) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let config_path = dir.join("ledgerflow.toml");
        std::fs::write(&config_path, spec.toml(dir))
            .with_context(|| format!("write {}", config_path.display()))?;
        // Read back as the binary reads it (without the environment, which the child does
        // not inherit).
        let figment =
            Config::figment(Some(&config_path), EnvOverrides::from_vars(Vec::<(String, String)>::new()))
                .context("load the chaos stream's config")?;
        let config = Config::from_figment(&figment)
            .with_context(|| format!("the chaos stream's config {} is invalid", config_path.display()))?;
        Ok(TestStream { dir: dir.to_owned(), config, config_path })
    }

    /// Rewrites the config from `spec` (same directory), e.g. to change `on_corrupt`.
    pub fn reconfigure(&mut self, spec: &StreamSpec) -> Result<()> {
        *self = TestStream::create(&self.dir.clone(), spec)?;
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.config.archive.root
    }

    pub fn stream_id(&self) -> String {
        self.config.stream.id.to_string()
    }
}

/// The archive of an uninterrupted run.
#[derive(Debug, Clone)]
pub struct Reference {
    pub summary: ArchiveSummary,
    /// Wall time of the run, process start to exit (the scale of the kill instants).
    pub duration: Duration,
    pub first: u32,
    pub last: u32,
}

impl Reference {
    /// Runs `spec` uninterrupted in `dir` (no failpoint armed) and reads its archive.
    pub fn run(bin: &Ledgerflow, dir: &Path, spec: &StreamSpec) -> Result<Self> {
        let stream = TestStream::create(dir, spec)?;
        let finished = bin.run(&stream.config_path, "", RUN_TIMEOUT)?;
        ensure_success(&finished, "the reference run")?;
        let summary = summarize(stream.root())?;
        let ledgers = summary.ledgers();
        let (Some(&first), Some(&last)) = (ledgers.first(), ledgers.last()) else {
            bail!("the reference run archived no ledger");
        };
        if (first, last) != (FIRST, spec.last()) || ledgers.len() as u32 != spec.ledgers {
            bail!(
                "the reference run archived {} ledgers {first}-{last}, expected {FIRST}-{}",
                ledgers.len(),
                spec.last()
            );
        }
        Ok(Reference { summary, duration: finished.elapsed, first, last })
    }
}

/// An error with the log tail unless the run exited 0.
pub fn ensure_success(finished: &Finished, what: &str) -> Result<()> {
    if !finished.status.success() {
        bail!("{what} exited with {:?}; log tail:\n{}", finished.status, finished.tail(15));
    }
    Ok(())
}
