use std::fmt;
use std::str::FromStr;

/// How `LedgerCloseMeta` is framed in an object. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// Raw XDR `LedgerCloseMeta`, one or several back to back.
    Xdr,
    /// Base64 of one `LedgerCloseMeta` per line.
    Base64,
    /// Uncompressed XDR `LedgerCloseMetaBatch`.
    Batch,
    /// SEP-54 data-store object: zstd-compressed `LedgerCloseMetaBatch`.
    DataStoreObject,
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

impl Framing {
    pub const ALL: [Framing; 4] = [Framing::Xdr, Framing::Base64, Framing::Batch, Framing::DataStoreObject];

    pub fn name(self) -> &'static str {
        match self {
            Framing::Xdr => "xdr",
            Framing::Base64 => "base64",
            Framing::Batch => "batch",
            Framing::DataStoreObject => "datastore-object",
        }
    }

    /// Detects the framing from the content, using the name only where the content cannot
    /// tell (a base64 file named `.xdr` is still base64; a zstd frame is always a store object).
    pub fn detect(name: &str, bytes: &[u8]) -> Framing {
        if bytes.starts_with(&ZSTD_MAGIC) {
            return Framing::DataStoreObject;
        }
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".zst") || lower.ends_with(".zstd") {
            // Claims to be zstd but is not: let decompression name the problem.
            return Framing::DataStoreObject;
        }
        if looks_like_base64(bytes) {
            return Framing::Base64;
        }
        if looks_like_batch(bytes) {
            return Framing::Batch;
        }
        Framing::Xdr
    }
}

/// Base64 text: the first KiB is the standard alphabet, padding and line breaks only. XDR of a
/// ledger starts with a 0..=2 union discriminant, i.e. NUL bytes, so the two never collide.
fn looks_like_base64(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    !head.is_empty()
        && head.iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\n' | b'\r' | b' ' | b'\t')
        })
}

/// A `LedgerCloseMetaBatch` header: `start <= end`, a count of `end - start + 1`, and a first
/// `LedgerCloseMeta` discriminant of 0..=2. A bare `LedgerCloseMeta` matches this only if its
/// first header-hash bytes happen to encode such a count (about 2^-32).
pub(crate) fn looks_like_batch(bytes: &[u8]) -> bool {
    let word = |i: usize| bytes.get(i * 4..i * 4 + 4).map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    match (word(0), word(1), word(2)) {
        (Some(start), Some(end), Some(count)) if end >= start => {
            u64::from(end - start) + 1 == u64::from(count) && (count == 0 || word(3).is_some_and(|d| d <= 2))
        }
        _ => false,
    }
}

impl FromStr for Framing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Framing::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let allowed: Vec<_> = Framing::ALL.iter().map(|f| f.name()).collect();
            format!("unknown framing `{s}`, expected one of {}", allowed.join(", "))
        })
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_content() {
        assert_eq!(Framing::detect("a", &[0x28, 0xB5, 0x2F, 0xFD, 0]), Framing::DataStoreObject);
        assert_eq!(Framing::detect("a.xdr", b"AAAAAQ==\n"), Framing::Base64);
        let batch = [0, 0, 0, 10, 0, 0, 0, 11, 0, 0, 0, 2, 0, 0, 0, 1];
        assert_eq!(Framing::detect("a.xdr", &batch), Framing::Batch);
        let lcm = [0, 0, 0, 1, 0xAB, 0xCD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(Framing::detect("a.xdr", &lcm), Framing::Xdr);
    }

    #[test]
    fn names_round_trip() {
        for framing in Framing::ALL {
            assert_eq!(framing.name().parse::<Framing>(), Ok(framing));
        }
        assert!("zip".parse::<Framing>().unwrap_err().contains("datastore-object"));
    }
}
