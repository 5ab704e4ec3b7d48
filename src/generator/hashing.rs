//! SHA-256 of XDR values, streamed into the hasher: no intermediate buffer and no clone
//! (`Transaction::hash` in stellar-xdr clones the transaction to build its payload).

use std::io::Write;

use sha2::{Digest, Sha256};
use stellar_xdr::{
    EnvelopeType, FeeBumpTransaction, Limited, Limits, Transaction, TransactionResultPair, WriteXdr,
};

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hasher() -> Limited<HashWriter> {
    Limited::new(HashWriter(Sha256::new()), Limits::none())
}

fn finish(writer: Limited<HashWriter>) -> [u8; 32] {
    writer.inner.0.finalize().into()
}

// Writing to a hasher under `Limits::none()` cannot fail: the only errors of `write_xdr` are
// I/O errors and exceeded limits, and every generated value is built from bounded XDR types.
const INFALLIBLE: &str = "XDR written to a hasher without limits cannot fail";

/// `sha256(xdr(value))`: header hashes, tx set hashes, contract ids.
pub(super) fn xdr_sha256<T: WriteXdr + ?Sized>(value: &T) -> [u8; 32] {
    let mut writer = hasher();
    value.write_xdr(&mut writer).expect(INFALLIBLE);
    finish(writer)
}

/// Hash of a transaction: `sha256(network_id || ENVELOPE_TYPE_TX || xdr(tx))`, the
/// `TransactionSignaturePayload` that `TransactionEnvelope::hash` builds.
pub(super) fn transaction_hash(network_id: &[u8; 32], tx: &Transaction) -> [u8; 32] {
    let mut writer = hasher();
    writer.write_all(network_id).expect(INFALLIBLE);
    EnvelopeType::Tx.write_xdr(&mut writer).expect(INFALLIBLE);
    tx.write_xdr(&mut writer).expect(INFALLIBLE);
    finish(writer)
}

/// Hash of a fee bump: `sha256(network_id || ENVELOPE_TYPE_TX_FEE_BUMP || xdr(fee_bump))`.
pub(super) fn fee_bump_hash(network_id: &[u8; 32], tx: &FeeBumpTransaction) -> [u8; 32] {
    let mut writer = hasher();
    writer.write_all(network_id).expect(INFALLIBLE);
    EnvelopeType::TxFeeBump.write_xdr(&mut writer).expect(INFALLIBLE);
    tx.write_xdr(&mut writer).expect(INFALLIBLE);
    finish(writer)
}

/// `sha256(xdr(TransactionResultSet { results }))` without collecting the set: the header's
/// `txSetResultHash`.
pub(super) fn result_set_hash<'a>(
    results: impl ExactSizeIterator<Item = &'a TransactionResultPair>,
) -> [u8; 32] {
    let mut writer = hasher();
    let count = u32::try_from(results.len()).expect("a ledger holds fewer than 2^32 transactions");
    count.write_xdr(&mut writer).expect(INFALLIBLE);
    for pair in results {
        pair.write_xdr(&mut writer).expect(INFALLIBLE);
    }
    finish(writer)
}

/// `sha256(xdr(GeneralizedTransactionSet::V1 { previous_ledger_hash, phases }))` from the
/// phases' XDR serialized beforehand: the arm (1), the previous hash, then the phases.
pub(super) fn tx_set_hash_from_phases(previous_ledger_hash: &[u8; 32], phases_xdr: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(1u32.to_be_bytes());
    hasher.update(previous_ledger_hash);
    hasher.update(phases_xdr);
    hasher.finalize().into()
}

/// A labelled hash of the seed, for values that are fixed per seed (the genesis link).
pub(super) fn labelled(label: &str, seed: u64, extra: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"ledgerflow synthetic ");
    hasher.update(label.as_bytes());
    hasher.update(seed.to_be_bytes());
    hasher.update(extra.to_be_bytes());
    hasher.finalize().into()
}
