use crate::datastore::Manifest;

/// Object keys of a SEP-54 store (stellar/go `support/datastore/schema.go`,
/// `GetObjectKeyFromSequenceNumber`).
///
/// Partition prefix, only when `batches_per_partition > 1`:
/// `{u32::MAX - partition_start:08X}--{partition_start}-{partition_end}/`. File name:
/// `{u32::MAX - batch_start:08X}--{batch_start}`, then `-{batch_end}` when a batch holds more
/// than one ledger, then `.xdr.zst` (older stores: `.xdr.zstd`). The inverted hex prefix makes
/// the newest objects sort first in a bucket listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub ledgers_per_batch: u32,
    pub batches_per_partition: u32,
}

/// The extension current Galexie writes.
pub const EXTENSION: &str = "xdr.zst";
/// The extension of older stores, still read.
pub const LEGACY_EXTENSION: &str = "xdr.zstd";

impl Layout {
    pub fn of(manifest: &Manifest) -> Self {
        Layout {
            ledgers_per_batch: manifest.ledgers_per_batch.max(1),
            batches_per_partition: manifest.batches_per_partition.max(1),
        }
    }

    /// First ledger of the batch holding `sequence`.
    pub fn batch_start(&self, sequence: u32) -> u32 {
        sequence - sequence % self.ledgers_per_batch
    }

    /// Last ledger of the batch holding `sequence`.
    pub fn batch_end(&self, sequence: u32) -> u32 {
        self.batch_start(sequence).saturating_add(self.ledgers_per_batch - 1)
    }

    /// Key of the object holding `sequence`, relative to the store root, with `extension`.
    pub fn object_key_with(&self, sequence: u32, extension: &str) -> String {
        let mut key = String::with_capacity(64);
        if self.batches_per_partition > 1 {
            let size = u64::from(self.ledgers_per_batch) * u64::from(self.batches_per_partition);
            let start = (u64::from(sequence) / size * size) as u32;
            let end = (u64::from(start) + size - 1).min(u64::from(u32::MAX)) as u32;
            key.push_str(&format!("{:08X}--{start}-{end}/", u32::MAX - start));
        }
        let start = self.batch_start(sequence);
        key.push_str(&format!("{:08X}--{start}", u32::MAX - start));
        if self.ledgers_per_batch > 1 {
            key.push_str(&format!("-{}", self.batch_end(sequence)));
        }
        key.push('.');
        key.push_str(extension);
        key
    }

    /// Key of the object holding `sequence`, with the current extension.
    pub fn object_key(&self, sequence: u32) -> String {
        self.object_key_with(sequence, EXTENSION)
    }
}

/// A store object's file name parsed: `HEX--start[-end].xdr.zst(d)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectName {
    pub first: u32,
    pub last: u32,
}

impl ObjectName {
    /// Parses a file name (not a path); `None` for anything that is not a store object name,
    /// including one whose hex prefix does not invert its start.
    pub fn parse(file_name: &str) -> Option<Self> {
        let stem = file_name.strip_suffix(".xdr.zst").or_else(|| file_name.strip_suffix(".xdr.zstd"))?;
        let (hex, range) = stem.split_once("--")?;
        let inverted = u32::from_str_radix(hex, 16).ok()?;
        let (first, last) = match range.split_once('-') {
            Some((first, last)) => (first.parse().ok()?, last.parse().ok()?),
            None => {
                let first: u32 = range.parse().ok()?;
                (first, first)
            }
        };
        (hex.len() == 8 && u32::MAX - inverted == first && last >= first)
            .then_some(ObjectName { first, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(ledgers_per_batch: u32, batches_per_partition: u32) -> Layout {
        Layout { ledgers_per_batch, batches_per_partition }
    }

    #[test]
    fn keys_match_galexie_examples() {
        let galexie = layout(1, 64000);
        assert_eq!(galexie.object_key(0), "FFFFFFFF--0-63999/FFFFFFFF--0.xdr.zst");
        assert_eq!(galexie.object_key(53312000), "FCD285FF--53312000-53375999/FCD285FF--53312000.xdr.zst");
        assert_eq!(galexie.object_key(60659332), "FC6331FF--60608000-60671999/FC62697B--60659332.xdr.zst");
        let batched = layout(16, 4);
        assert_eq!(
            batched.object_key(1410050),
            "FFEA7BFF--1410048-1410111/FFEA7BFF--1410048-1410063.xdr.zst"
        );
        assert_eq!(layout(64, 1).object_key(130), "FFFFFF7F--128-191.xdr.zst");
    }

    #[test]
    fn object_names_parse_and_reject() {
        assert_eq!(
            ObjectName::parse("FC62697B--60659332.xdr.zst"),
            Some(ObjectName { first: 60659332, last: 60659332 })
        );
        assert_eq!(
            ObjectName::parse("FFEA7BFF--1410048-1410063.xdr.zstd"),
            Some(ObjectName { first: 1410048, last: 1410063 })
        );
        assert_eq!(ObjectName::parse("FFFFFFFF--1.xdr.zst"), None, "prefix does not invert the start");
        assert_eq!(ObjectName::parse(".config.json"), None);
        assert_eq!(ObjectName::parse("FFEA7BFF--1410048-1410000.xdr.zst"), None);
    }
}
