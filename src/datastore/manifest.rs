use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::decode::DecodeError;
use crate::network::Network;

/// Name of the manifest at the root of a store.
pub const MANIFEST_FILE: &str = ".config.json";

/// The `.config.json` of a SEP-54 store (stellar/go `support/datastore`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub network_passphrase: String,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default = "default_compression")]
    pub compression: String,
    pub ledgers_per_batch: u32,
    pub batches_per_partition: u32,
}

fn default_version() -> String {
    "1.0".to_owned()
}

fn default_compression() -> String {
    "zstd".to_owned()
}

impl Manifest {
    pub fn new(network: &Network, ledgers_per_batch: u32, batches_per_partition: u32) -> Self {
        Manifest {
            network_passphrase: network.passphrase().to_owned(),
            version: default_version(),
            compression: default_compression(),
            ledgers_per_batch,
            batches_per_partition,
        }
    }

    /// Parses and checks a manifest; `path` names it in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, DecodeError> {
        let invalid = |reason: String| DecodeError::Manifest { path: path.to_owned(), reason };
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if manifest.ledgers_per_batch == 0 {
            return Err(invalid("ledgersPerBatch is 0, must be at least 1".into()));
        }
        if manifest.batches_per_partition == 0 {
            return Err(invalid("batchesPerPartition is 0, must be at least 1".into()));
        }
        if manifest.compression != "zstd" {
            return Err(invalid(format!(
                "compression `{}` is not supported, only `zstd`",
                manifest.compression
            )));
        }
        Ok(manifest)
    }

    pub fn network(&self) -> Network {
        Network::new(&self.network_passphrase)
    }
}
