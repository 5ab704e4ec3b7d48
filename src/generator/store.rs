//! [`write_store`]: a generated range as a SEP-54 data store on disk.

use std::path::{Path, PathBuf};

use super::config::{GeneratorConfig, GeneratorError};
use super::stream::SyntheticLedgers;
use crate::datastore::{DataStoreWriter, Layout, Manifest};

/// Totals of a store written by [`write_store`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSummary {
    pub root: PathBuf,
    /// First and last ledger written; `None` when `ledger_count` is 0.
    pub first_sequence: Option<u32>,
    pub last_sequence: Option<u32>,
    pub ledgers: u32,
    /// Store objects (batch files) written.
    pub objects: u32,
    pub transactions: u64,
    pub failed_transactions: u64,
    pub operations: u64,
    /// Events emitted by operations.
    pub contract_events: u64,
}

/// Writes every ledger of `config` as a SEP-54 store at `root` (manifest with the config's
/// network), `ledgers_per_batch` ledgers per object, `batches_per_partition` objects per
/// partition folder. `config.ledger_count` must be bounded.
pub fn write_store(
    config: &GeneratorConfig,
    root: &Path,
    ledgers_per_batch: u32,
    batches_per_partition: u32,
) -> Result<StoreSummary, GeneratorError> {
    if config.ledger_count.is_none() {
        return Err(GeneratorError::Unbounded);
    }
    if ledgers_per_batch == 0 {
        return Err(GeneratorError::InvalidLayout { key: "ledgers_per_batch" });
    }
    if batches_per_partition == 0 {
        return Err(GeneratorError::InvalidLayout { key: "batches_per_partition" });
    }
    let ledgers = SyntheticLedgers::new(config.clone())?;
    let manifest = Manifest::new(&config.network, ledgers_per_batch, batches_per_partition);
    let layout = Layout::of(&manifest);
    let mut writer = DataStoreWriter::create(root, &manifest)?;
    let mut summary = StoreSummary::default();
    let mut current_batch = None;
    for ledger in ledgers {
        let expected = &ledger.expected;
        summary.first_sequence.get_or_insert(expected.sequence);
        summary.last_sequence = Some(expected.sequence);
        summary.ledgers += 1;
        let batch = layout.batch_start(expected.sequence);
        if current_batch != Some(batch) {
            current_batch = Some(batch);
            summary.objects += 1;
        }
        summary.transactions += u64::from(expected.transactions);
        summary.failed_transactions += u64::from(expected.failed_transactions);
        summary.operations += u64::from(expected.operations);
        summary.contract_events += u64::from(expected.contract_events);
        writer.push(ledger.meta)?;
    }
    summary.root = writer.finish()?;
    Ok(summary)
}
