//! Per-ledger counts and transaction hashes: what `ledgerflow inspect` prints, and a cheap
//! check of a ledger against an independent decoder's figures.

use serde::Serialize;

use crate::ledger::LedgerView;
use crate::tables::encode::hex32;

/// One ledger in numbers. Field order and names are the `inspect --json` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerSummary {
    pub sequence: u32,
    pub protocol_version: u32,
    /// RFC 3339, UTC, seconds (`2026-01-07T14:35:54Z`).
    pub closed_at: String,
    /// All transactions, failed ones included.
    pub transactions: u32,
    pub successful_transactions: u32,
    pub failed_transactions: u32,
    /// Operations of all transactions, failed ones included.
    pub operations: u32,
    /// Events emitted by operations (contract and system types; not diagnostic events, not
    /// meta V4 transaction-level fee events).
    pub contract_events: u32,
    /// Lower-case hex, in apply order (outer hash for fee bumps).
    pub transaction_hashes: Vec<String>,
}

impl LedgerSummary {
    pub fn of(view: &LedgerView<'_>) -> Self {
        let mut summary = LedgerSummary {
            sequence: view.sequence(),
            protocol_version: view.header().ledger_version,
            closed_at: rfc3339(view.close_time()),
            transactions: view.transactions.len() as u32,
            successful_transactions: 0,
            failed_transactions: 0,
            operations: 0,
            contract_events: 0,
            transaction_hashes: Vec::with_capacity(view.transactions.len()),
        };
        for tx in &view.transactions {
            if tx.successful() {
                summary.successful_transactions += 1;
            } else {
                summary.failed_transactions += 1;
            }
            summary.operations += tx.operations().len() as u32;
            summary.contract_events += tx.operation_events().count() as u32;
            summary.transaction_hashes.push(hex32(tx.hash()).as_str().to_owned());
        }
        summary
    }
}

/// Unix seconds as RFC 3339 UTC; close times past year 9999 (never on chain) print as the
/// raw number of seconds rather than failing.
pub fn rfc3339(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(|| unix_seconds.to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_times_format_as_rfc3339_utc() {
        assert_eq!(rfc3339(1767796554), "2026-01-07T14:35:54Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
