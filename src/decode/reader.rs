use std::io::{Cursor, Read};
use std::path::Path;

use base64::Engine as _;
use stellar_xdr::{LedgerCloseMeta, Limited, ReadXdr};

use super::{DecodeError, DecodeLimits, Framing};
use crate::ledger::ledger_sequence;

/// A decoded ledger and the size of its XDR.
#[derive(Debug)]
pub struct DecodedLedger {
    pub sequence: u32,
    pub meta: LedgerCloseMeta,
    /// Bytes of XDR this ledger was decoded from.
    pub xdr_bytes: usize,
}

/// Decodes one `LedgerCloseMeta` from exactly `bytes` (the decode-only primitive).
pub fn decode_ledger(bytes: &[u8], limits: &DecodeLimits) -> Result<LedgerCloseMeta, stellar_xdr::Error> {
    LedgerCloseMeta::from_xdr(bytes, limits.xdr(bytes.len()))
}

/// Reads a file (bounded by `limits.max_object_bytes`) and iterates its ledgers.
pub fn read_path(
    path: &Path,
    framing: Option<Framing>,
    limits: &DecodeLimits,
) -> Result<LedgerIter, DecodeError> {
    let object = path.display().to_string();
    let io = |source| DecodeError::Io { object: object.clone(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > limits.max_object_bytes {
        return Err(DecodeError::TooLarge { object, limit: limits.max_object_bytes, decompressed: false });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limits.max_object_bytes + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limits.max_object_bytes {
        return Err(DecodeError::TooLarge { object, limit: limits.max_object_bytes, decompressed: false });
    }
    read_object(object, bytes, framing, limits)
}

/// Iterates the ledgers of one object's bytes. `object` names it in errors. With `framing`
/// `None` the framing is detected ([`Framing::detect`]).
pub fn read_object(
    object: impl Into<String>,
    bytes: Vec<u8>,
    framing: Option<Framing>,
    limits: &DecodeLimits,
) -> Result<LedgerIter, DecodeError> {
    let object = object.into();
    let framing = framing.unwrap_or_else(|| Framing::detect(&object, &bytes));
    let (bytes, kind) = match framing {
        Framing::Xdr => (bytes, Kind::Stream),
        Framing::Base64 => (bytes, Kind::Base64 { line: 0 }),
        Framing::Batch => (bytes, Kind::Batch { next: 0, end: 0 }),
        Framing::DataStoreObject => {
            (decompress(&object, &bytes, limits.max_object_bytes)?, Kind::Batch { next: 0, end: 0 })
        }
    };
    let mut iter = LedgerIter {
        object,
        bytes,
        position: 0,
        kind,
        limits: *limits,
        last_sequence: None,
        done: false,
        scratch: Vec::new(),
    };
    if let Kind::Batch { .. } = iter.kind {
        iter.read_batch_header()?;
    }
    Ok(iter)
}

/// The content size a zstd object declares: `Some` when it is one frame whose header records
/// it (what Galexie and `ledgerflow generate` write), the size it decompresses to.
pub fn declared_content_size(compressed: &[u8]) -> Option<u64> {
    let size = zstd::zstd_safe::get_frame_content_size(compressed).ok().flatten()?;
    let one_frame =
        zstd::zstd_safe::find_frame_compressed_size(compressed).is_ok_and(|n| n == compressed.len());
    one_frame.then_some(size)
}

fn decompress(object: &str, compressed: &[u8], limit: u64) -> Result<Vec<u8>, DecodeError> {
    // One decompression context per thread, reused: data stores hold one object per ledger
    // (pubnet's layout), and a fresh context per object was a measurable part of reading them.
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    CONTEXT.with(|context| {
        let mut context = context.borrow_mut();
        let context = match &mut *context {
            Some(context) => context,
            slot @ None => slot.insert(zstd::zstd_safe::DCtx::create()),
        };
        decompress_with(object, compressed, limit, context)
    })
}

fn decompress_with(
    object: &str,
    compressed: &[u8],
    limit: u64,
    context: &mut zstd::zstd_safe::DCtx<'static>,
) -> Result<Vec<u8>, DecodeError> {
    let zstd_err = |source| DecodeError::Zstd { object: object.to_owned(), source };
    // A previous object that failed may have left the context mid-frame.
    context
        .reset(zstd::zstd_safe::ResetDirective::SessionOnly)
        .map_err(|code| zstd_err(std::io::Error::other(zstd::zstd_safe::get_error_name(code))))?;
    if let Some(size) = declared_content_size(compressed) {
        // Refused at once if too large, else decompressed in one call into a buffer of exactly
        // that size (zstd checks the size it finds against the header).
        if size > limit {
            return Err(DecodeError::TooLarge { object: object.to_owned(), limit, decompressed: true });
        }
        let mut out = Vec::with_capacity(size as usize);
        context
            .decompress(&mut out, compressed)
            .map_err(|code| zstd_err(std::io::Error::other(zstd::zstd_safe::get_error_name(code))))?;
        return Ok(out);
    }
    let decoder = zstd::stream::read::Decoder::with_context(compressed, context);
    // Several frames, or one that does not record its content size: grow as needed, never
    // past the limit, from the first frame's size when it records one.
    let first_frame = zstd::zstd_safe::get_frame_content_size(compressed).ok().flatten();
    let hint = first_frame.map_or(compressed.len() * 8, |n| n.min(limit) as usize);
    let mut out = Vec::with_capacity(hint.min(limit as usize));
    decoder.take(limit + 1).read_to_end(&mut out).map_err(zstd_err)?;
    if out.len() as u64 > limit {
        return Err(DecodeError::TooLarge { object: object.to_owned(), limit, decompressed: true });
    }
    Ok(out)
}

enum Kind {
    /// `LedgerCloseMeta` back to back until the end.
    Stream,
    /// Ledgers `next..=end` of a batch remain.
    Batch { next: u64, end: u64 },
    /// One base64 `LedgerCloseMeta` per line; `line` is the last line read (1-based).
    Base64 { line: usize },
}

/// The ledgers of one object, in order. After the first error it yields nothing more.
pub struct LedgerIter {
    object: String,
    bytes: Vec<u8>,
    position: usize,
    kind: Kind,
    limits: DecodeLimits,
    last_sequence: Option<u32>,
    done: bool,
    scratch: Vec<u8>,
}

impl LedgerIter {
    /// The object's name, as used in errors.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// Size of the object's bytes after decompression.
    pub fn decoded_bytes(&self) -> usize {
        self.bytes.len()
    }

    fn read_batch_header(&mut self) -> Result<(), DecodeError> {
        let header_err = |source| DecodeError::Xdr {
            object: self.object.clone(),
            sequence: None,
            what: "LedgerCloseMetaBatch header",
            offset: 0,
            source,
        };
        let mut cursor = Limited::new(Cursor::new(&self.bytes[..]), self.limits.xdr(self.bytes.len()));
        let start = u32::read_xdr(&mut cursor).map_err(header_err)?;
        let end = u32::read_xdr(&mut cursor).map_err(header_err)?;
        let count = u32::read_xdr(&mut cursor).map_err(header_err)?;
        if end < start || u64::from(end - start) + 1 != u64::from(count) {
            return Err(DecodeError::BatchHeader { object: self.object.clone(), start, end, count });
        }
        self.position = 12;
        self.kind = Kind::Batch { next: u64::from(start), end: u64::from(end) };
        Ok(())
    }

    fn decode_at_position(&mut self, expected: Option<u32>) -> Result<DecodedLedger, DecodeError> {
        let rest = &self.bytes[self.position..];
        let mut cursor = Limited::new(Cursor::new(rest), self.limits.xdr(rest.len()));
        let meta = LedgerCloseMeta::read_xdr(&mut cursor).map_err(|source| DecodeError::Xdr {
            object: self.object.clone(),
            sequence: expected,
            what: "LedgerCloseMeta",
            offset: (self.position as u64) + cursor.inner.position(),
            source,
        })?;
        let xdr_bytes = cursor.inner.position() as usize;
        self.position += xdr_bytes;
        Ok(DecodedLedger { sequence: ledger_sequence(&meta), meta, xdr_bytes })
    }

    fn next_ledger(&mut self) -> Option<Result<DecodedLedger, DecodeError>> {
        match self.kind {
            Kind::Stream => {
                if self.position >= self.bytes.len() {
                    return None;
                }
                let expected = self.last_sequence.and_then(|s| s.checked_add(1));
                Some(self.decode_at_position(expected))
            }
            Kind::Batch { next, end } => {
                if next > end {
                    if self.position < self.bytes.len() {
                        return Some(Err(DecodeError::TrailingBytes {
                            object: self.object.clone(),
                            last_sequence: self.last_sequence,
                            count: (self.bytes.len() - self.position) as u64,
                        }));
                    }
                    return None;
                }
                let expected = next as u32;
                self.kind = Kind::Batch { next: next + 1, end };
                Some(self.decode_at_position(Some(expected)).and_then(|ledger| {
                    if ledger.sequence == expected {
                        Ok(ledger)
                    } else {
                        Err(DecodeError::Sequence {
                            object: self.object.clone(),
                            expected,
                            found: ledger.sequence,
                        })
                    }
                }))
            }
            Kind::Base64 { line } => self.next_base64_line(line),
        }
    }

    fn next_base64_line(&mut self, mut line: usize) -> Option<Result<DecodedLedger, DecodeError>> {
        loop {
            if self.position >= self.bytes.len() {
                return None;
            }
            let rest = &self.bytes[self.position..];
            let line_len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let text = rest[..line_len].trim_ascii();
            self.position += (line_len + 1).min(rest.len());
            line += 1;
            self.kind = Kind::Base64 { line };
            if text.is_empty() {
                continue;
            }
            self.scratch.clear();
            if let Err(source) = base64::engine::general_purpose::STANDARD.decode_vec(text, &mut self.scratch)
            {
                return Some(Err(DecodeError::Base64 { object: self.object.clone(), line, source }));
            }
            let expected = self.last_sequence.and_then(|s| s.checked_add(1));
            let result = decode_ledger(&self.scratch, &self.limits)
                .map(|meta| DecodedLedger {
                    sequence: ledger_sequence(&meta),
                    meta,
                    xdr_bytes: self.scratch.len(),
                })
                .map_err(|source| DecodeError::Xdr {
                    object: format!("{} line {line}", self.object),
                    sequence: expected,
                    what: "LedgerCloseMeta",
                    offset: 0,
                    source,
                });
            return Some(result);
        }
    }
}

impl Iterator for LedgerIter {
    type Item = Result<DecodedLedger, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_ledger();
        match &item {
            Some(Ok(ledger)) => self.last_sequence = Some(ledger.sequence),
            Some(Err(_)) | None => self.done = true,
        }
        item
    }
}
