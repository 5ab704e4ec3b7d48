//! Arrow tables built from ledgers: `ledgers`, `transactions`, `operations`,
//! `contract_events`.
//!
//! Column names and meanings follow stellar-etl / Hubble wherever they have the column;
//! `docs/schema.md` documents every column and where ledgerflow differs (a test keeps it true).
//! [`TableBuilder`] appends ledgers into Arrow builders directly (no row structs; strings go
//! straight into the builders) and [`TableBuilder::finish`] yields one `RecordBatch` per table.

pub mod contract_events;
pub mod details;
pub mod encode;
pub mod ledgers;
pub mod operations;
pub mod sc_val;
mod sizing;
pub mod transactions;

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use stellar_xdr::LedgerCloseMeta;

use crate::analytics::AnalyticsTable;
use crate::decode::DecodeError;
use crate::ledger::LedgerView;
use crate::network::Network;
use crate::resilience::{Classify, FailureClass};

/// What conversion needs besides the ledgers.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Network whose passphrase the transaction hashes are computed under.
    pub network: Network,
    /// Keep the raw XDR of headers, envelopes, results and meta as binary columns, so the
    /// archive can be re-derived. Off: those columns are null.
    pub keep_raw_xdr: bool,
}

/// The tables ledgerflow produces: four from the ledgers themselves, and the analytics
/// engine's outputs, which the archive writes beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Ledgers,
    Transactions,
    Operations,
    ContractEvents,
    Analytics(AnalyticsTable),
}

impl Table {
    /// The tables converted from ledgers ([`LedgerTables`]).
    pub const LEDGER_TABLES: [Table; 4] =
        [Table::Ledgers, Table::Transactions, Table::Operations, Table::ContractEvents];

    /// Every table the archive holds.
    pub const ALL: [Table; 6] = [
        Table::Ledgers,
        Table::Transactions,
        Table::Operations,
        Table::ContractEvents,
        Table::Analytics(AnalyticsTable::PaymentVolume),
        Table::Analytics(AnalyticsTable::HighValuePayments),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Ledgers => "ledgers",
            Table::Transactions => "transactions",
            Table::Operations => "operations",
            Table::ContractEvents => "contract_events",
            Table::Analytics(table) => table.name(),
        }
    }

    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Ledgers => ledgers::schema(),
            Table::Transactions => transactions::schema(),
            Table::Operations => operations::schema(),
            Table::ContractEvents => contract_events::schema(),
            Table::Analytics(table) => table.schema(),
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `RecordBatch` per table for a run of ledgers.
#[derive(Debug, Clone)]
pub struct LedgerTables {
    pub ledgers: RecordBatch,
    pub transactions: RecordBatch,
    pub operations: RecordBatch,
    pub contract_events: RecordBatch,
}

impl LedgerTables {
    /// One of the four ledger tables; `None` for an analytics table.
    pub fn get(&self, table: Table) -> Option<&RecordBatch> {
        match table {
            Table::Ledgers => Some(&self.ledgers),
            Table::Transactions => Some(&self.transactions),
            Table::Operations => Some(&self.operations),
            Table::ContractEvents => Some(&self.contract_events),
            Table::Analytics(_) => None,
        }
    }

    /// The four tables with their names.
    pub fn iter(&self) -> impl Iterator<Item = (Table, &RecordBatch)> {
        Table::LEDGER_TABLES.into_iter().filter_map(|t| self.get(t).map(|batch| (t, batch)))
    }

    /// Rows over all tables.
    pub fn total_rows(&self) -> usize {
        self.iter().map(|(_, batch)| batch.num_rows()).sum()
    }

    /// Bytes held by the arrays of all tables.
    pub fn memory_bytes(&self) -> usize {
        self.iter().map(|(_, batch)| batch.get_array_memory_size()).sum()
    }
}

/// Why a ledger could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("ledger {sequence}: cannot re-encode {what} as XDR: {source}")]
    Xdr {
        sequence: u32,
        what: &'static str,
        #[source]
        source: stellar_xdr::Error,
    },
    /// A builder and its schema disagree: a bug in ledgerflow, not bad input.
    #[error("internal error building table {table}: {source}")]
    Arrow {
        table: Table,
        #[source]
        source: ArrowError,
    },
}

impl Classify for ConvertError {
    /// A ledger that cannot be converted fails again: permanent, unless reading it was the
    /// problem.
    fn class(&self) -> FailureClass {
        match self {
            ConvertError::Decode(err) => err.class(),
            ConvertError::Xdr { .. } | ConvertError::Arrow { .. } => FailureClass::Permanent,
        }
    }
}

/// Accumulates ledgers into the four tables.
pub struct TableBuilder {
    options: ConvertOptions,
    ledgers: ledgers::LedgersBuilder,
    transactions: transactions::TransactionsBuilder,
    operations: operations::OperationsBuilder,
    contract_events: contract_events::ContractEventsBuilder,
    /// Strkeys of recently seen accounts and contracts, shared by all tables.
    strkeys: encode::StrkeyCache,
}

impl TableBuilder {
    pub fn new(options: ConvertOptions) -> Self {
        TableBuilder {
            options,
            ledgers: ledgers::LedgersBuilder::default(),
            transactions: transactions::TransactionsBuilder::default(),
            operations: operations::OperationsBuilder::default(),
            contract_events: contract_events::ContractEventsBuilder::default(),
            strkeys: encode::StrkeyCache::default(),
        }
    }

    pub fn options(&self) -> &ConvertOptions {
        &self.options
    }

    /// Joins `meta` under the configured network and appends it to every table. On error
    /// nothing of this ledger is appended.
    pub fn push(&mut self, meta: &LedgerCloseMeta) -> Result<(), ConvertError> {
        let view = LedgerView::new(meta, &self.options.network)?;
        self.push_view(&view)
    }

    /// Appends an already joined ledger to every table.
    pub fn push_view(&mut self, view: &LedgerView<'_>) -> Result<(), ConvertError> {
        // Raw XDR is encoded first: it is the only fallible step, so a failure leaves every
        // builder untouched and the tables consistent.
        let raw = if self.options.keep_raw_xdr { Some(RawXdr::encode(view)?) } else { None };
        self.ledgers.append(view, raw.as_ref());
        self.transactions.append(view, raw.as_ref(), &mut self.strkeys);
        self.operations.append(view, &mut self.strkeys);
        self.contract_events.append(view, &mut self.strkeys);
        Ok(())
    }

    /// The tables of every ledger pushed since the last `finish`; the builders start empty again.
    pub fn finish(&mut self) -> Result<LedgerTables, ConvertError> {
        let arrow = |table| move |source| ConvertError::Arrow { table, source };
        Ok(LedgerTables {
            ledgers: self.ledgers.finish().map_err(arrow(Table::Ledgers))?,
            transactions: self.transactions.finish().map_err(arrow(Table::Transactions))?,
            operations: self.operations.finish().map_err(arrow(Table::Operations))?,
            contract_events: self.contract_events.finish().map_err(arrow(Table::ContractEvents))?,
        })
    }
}

/// Converts ledgers to tables in one call.
pub fn convert<'a>(
    ledgers: impl IntoIterator<Item = &'a LedgerCloseMeta>,
    options: ConvertOptions,
) -> Result<LedgerTables, ConvertError> {
    let mut builder = TableBuilder::new(options);
    for meta in ledgers {
        builder.push(meta)?;
    }
    builder.finish()
}

/// Raw XDR of one ledger's header and of each transaction's parts, in apply order.
pub(crate) struct RawXdr {
    pub header: Vec<u8>,
    pub transactions: Vec<RawTxXdr>,
}

pub(crate) struct RawTxXdr {
    pub envelope: Vec<u8>,
    pub result: Vec<u8>,
    pub meta: Vec<u8>,
    pub fee_meta: Vec<u8>,
}

impl RawXdr {
    fn encode(view: &LedgerView<'_>) -> Result<Self, ConvertError> {
        use stellar_xdr::{Limits, WriteXdr};
        let sequence = view.sequence();
        let xdr = |what: &'static str| move |source| ConvertError::Xdr { sequence, what, source };
        let header = view.header().to_xdr(Limits::none()).map_err(xdr("ledger header"))?;
        let transactions = view
            .transactions
            .iter()
            .map(|tx| {
                Ok(RawTxXdr {
                    envelope: tx.envelope.to_xdr(Limits::none()).map_err(xdr("envelope"))?,
                    result: tx.result.result.to_xdr(Limits::none()).map_err(xdr("result"))?,
                    meta: tx.meta.to_xdr(Limits::none()).map_err(xdr("meta"))?,
                    fee_meta: tx.fee_processing.to_xdr(Limits::none()).map_err(xdr("fee meta"))?,
                })
            })
            .collect::<Result<_, ConvertError>>()?;
        Ok(RawXdr { header, transactions })
    }
}

/// Field constructors, so schemas read as column lists.
pub(crate) mod field {
    use super::*;

    pub fn utf8(name: &str, nullable: bool) -> Field {
        Field::new(name, DataType::Utf8, nullable)
    }
    pub fn int64(name: &str, nullable: bool) -> Field {
        Field::new(name, DataType::Int64, nullable)
    }
    pub fn int32(name: &str, nullable: bool) -> Field {
        Field::new(name, DataType::Int32, nullable)
    }
    pub fn uint32(name: &str, nullable: bool) -> Field {
        Field::new(name, DataType::UInt32, nullable)
    }
    pub fn uint64(name: &str, nullable: bool) -> Field {
        Field::new(name, DataType::UInt64, nullable)
    }
    pub fn boolean(name: &str, nullable: bool) -> Field {
        Field::new(name, DataType::Boolean, nullable)
    }
    pub fn binary(name: &str, nullable: bool) -> Field {
        Field::new(name, DataType::Binary, nullable)
    }
    pub fn timestamp(name: &str) -> Field {
        Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))), false)
    }
    /// A list of `item`; Arrow's list builders name the child field `item`.
    pub fn list(name: &str, item: DataType, nullable: bool) -> Field {
        Field::new(name, DataType::List(Arc::new(Field::new("item", item, true))), nullable)
    }
}
