//! The engine on generated ledgers, checked against a row-by-row recomputation from the
//! `operations` table of the whole stream (converted in one piece, independently of the
//! per-batch tables the engine sees).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{Decimal128Type, Field, Int64Type, Schema, TimestampMicrosecondType, UInt32Type};
use proptest::prelude::*;

use super::*;
use crate::generator::{GeneratorConfig, SyntheticLedgers, USDC_ISSUER};
use crate::resilience::{Classify, FailureClass};
use crate::tables::{ConvertOptions, LedgerTables, Table, convert};

const LEDGER_COUNT: usize = 200;

/// Generated ledgers, each converted alone (the engine's batches are concatenations of these),
/// and the whole stream converted at once (the reference's input).
struct Fixture {
    per_ledger: Vec<LedgerTables>,
    whole: LedgerTables,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let config = GeneratorConfig {
        seed: 7,
        first_sequence: 5_000,
        ledger_count: Some(LEDGER_COUNT as u32),
        transactions_per_ledger: 40,
        ..GeneratorConfig::default()
    };
    let options = ConvertOptions { network: config.network.clone(), keep_raw_xdr: false };
    let ledgers: Vec<_> = SyntheticLedgers::new(config).expect("valid generator config").collect();
    let per_ledger = ledgers
        .iter()
        .map(|ledger| convert([&ledger.meta], options.clone()).expect("generated ledgers convert"))
        .collect();
    let whole =
        convert(ledgers.iter().map(|ledger| &ledger.meta), options).expect("generated ledgers convert");
    Fixture { per_ledger, whole }
});

/// Ledgers `from..to` (indices into the fixture) as one batch.
fn batch(from: usize, to: usize) -> LedgerTables {
    let parts = &FIXTURE.per_ledger[from..to];
    let table = |table: Table| {
        concat_batches(&table.schema(), parts.iter().filter_map(|tables| tables.get(table)))
            .expect("same schema")
    };
    LedgerTables {
        ledgers: table(Table::Ledgers),
        transactions: table(Table::Transactions),
        operations: table(Table::Operations),
        contract_events: table(Table::ContractEvents),
    }
}

fn sequence(index: usize) -> u32 {
    5_000 + index as u32
}

fn config(window_secs: u32, high_value_threshold_stroops: i64) -> AnalyticsConfig {
    AnalyticsConfig { window_secs, high_value_threshold_stroops, ..AnalyticsConfig::default() }
}

/// Both output tables of a run, each concatenated over its batches.
#[derive(Debug, Clone, PartialEq)]
struct RunOutput {
    payment_volume: RecordBatch,
    high_value_payments: RecordBatch,
}

fn collect(outputs: &[AnalyticsOutput]) -> RunOutput {
    let table = |name: AnalyticsTable, pick: fn(&AnalyticsOutput) -> &RecordBatch| {
        concat_batches(&name.schema(), outputs.iter().map(pick)).expect("output schemas are fixed")
    };
    RunOutput {
        payment_volume: table(AnalyticsTable::PaymentVolume, |output| &output.payment_volume),
        high_value_payments: table(AnalyticsTable::HighValuePayments, |output| &output.high_value_payments),
    }
}

/// One engine over the whole stream in a single batch.
fn uninterrupted(config: &AnalyticsConfig) -> (RunOutput, Vec<u8>) {
    let mut engine = Analytics::new(config.clone()).unwrap();
    let output = engine.ingest(&FIXTURE.whole).unwrap();
    assert_eq!(
        output.range,
        crate::range::LedgerRange::new(sequence(0), sequence(LEDGER_COUNT - 1)).unwrap()
    );
    (collect(&[output]), engine.snapshot())
}

// ---- the reference: a fold over the rows of the whole stream ----

type AssetKey = (String, Option<String>, Option<String>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct VolumeRow {
    window_start: i64,
    window_end: i64,
    asset: AssetKey,
    payment_count: i64,
    amount_sum: i128,
    amount_min: i64,
    amount_max: i64,
    high_value_count: i64,
    ledger_sequence: u32,
    closed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HighValueRow {
    operation_id: i64,
    transaction_hash: String,
    ledger_sequence: u32,
    closed_at: i64,
    window_start: i64,
    type_string: String,
    from: Option<String>,
    to: Option<String>,
    asset: AssetKey,
    amount: i64,
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let array: &StringArray = batch.column_by_name(name).unwrap().as_string::<i32>();
    array.iter().map(|value| value.map(str::to_owned)).collect()
}

fn int64s(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let array: &Int64Array = batch.column_by_name(name).unwrap().as_primitive::<Int64Type>();
    array.iter().collect()
}

fn micros(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let array: &TimestampMicrosecondArray =
        batch.column_by_name(name).unwrap().as_primitive::<TimestampMicrosecondType>();
    array.values().to_vec()
}

fn u32s(batch: &RecordBatch, name: &str) -> Vec<u32> {
    batch.column_by_name(name).unwrap().as_primitive::<UInt32Type>().values().to_vec()
}

/// What the engine should output for the whole stream, computed without it.
fn reference(config: &AnalyticsConfig) -> (Vec<VolumeRow>, Vec<HighValueRow>) {
    let whole = &FIXTURE.whole;
    let window = i64::from(config.window_secs) * 1_000_000;
    let ledgers: Vec<(u32, i64)> =
        u32s(&whole.ledgers, "sequence").into_iter().zip(micros(&whole.ledgers, "closed_at")).collect();
    let close_time: HashMap<u32, i64> = ledgers.iter().copied().collect();

    let ops = &whole.operations;
    let ids = int64s(ops, "id");
    let hashes = strings(ops, "transaction_hash");
    let ledger_sequences = u32s(ops, "ledger_sequence");
    let types = strings(ops, "type_string");
    let successful = ops.column_by_name("successful").unwrap().as_boolean().clone();
    let amounts = int64s(ops, "amount");
    let (asset_types, codes, issuers) =
        (strings(ops, "asset_type"), strings(ops, "asset_code"), strings(ops, "asset_issuer"));
    let (froms, tos) = (strings(ops, "from"), strings(ops, "to"));

    /// payment_count, amount_sum, amount_min, amount_max, high_value_count.
    type Fold = (i64, i128, i64, i64, i64);
    let mut windows: BTreeMap<(i64, AssetKey), Fold> = BTreeMap::new();
    let mut high_value = Vec::new();
    for row in 0..ops.num_rows() {
        let type_string = types[row].clone().unwrap();
        let is_payment = ["payment", "path_payment_strict_send", "path_payment_strict_receive"]
            .contains(&type_string.as_str());
        let Some(amount) = amounts[row] else { continue };
        if !is_payment || !successful.value(row) {
            continue;
        }
        let asset: AssetKey = (asset_types[row].clone().unwrap(), codes[row].clone(), issuers[row].clone());
        if !config.selects(&asset.0, asset.1.as_deref(), asset.2.as_deref()) {
            continue;
        }
        let closed_at = close_time[&ledger_sequences[row]];
        let window_start = closed_at.div_euclid(window) * window;
        let entry = windows.entry((window_start, asset.clone())).or_insert((0, 0, i64::MAX, i64::MIN, 0));
        entry.0 += 1;
        entry.1 += i128::from(amount);
        entry.2 = entry.2.min(amount);
        entry.3 = entry.3.max(amount);
        if amount > config.high_value_threshold_stroops {
            entry.4 += 1;
            high_value.push(HighValueRow {
                operation_id: ids[row].unwrap(),
                transaction_hash: hashes[row].clone().unwrap(),
                ledger_sequence: ledger_sequences[row],
                closed_at,
                window_start,
                type_string,
                from: froms[row].clone(),
                to: tos[row].clone(),
                asset,
                amount,
            });
        }
    }
    let volume = windows
        .into_iter()
        .filter_map(|((window_start, asset), (count, sum, min, max, high))| {
            let window_end = window_start + window;
            // Emitted by the first ledger closing at or after the window's end, if any.
            let (ledger_sequence, closed_at) =
                *ledgers.iter().find(|(_, closed_at)| *closed_at >= window_end)?;
            Some(VolumeRow {
                window_start,
                window_end,
                asset,
                payment_count: count,
                amount_sum: sum,
                amount_min: min,
                amount_max: max,
                high_value_count: high,
                ledger_sequence,
                closed_at,
            })
        })
        .collect();
    (volume, high_value)
}

fn volume_rows(batch: &RecordBatch) -> Vec<VolumeRow> {
    let sums = batch.column_by_name("amount_sum").unwrap().as_primitive::<Decimal128Type>();
    let (types, codes, issuers) =
        (strings(batch, "asset_type"), strings(batch, "asset_code"), strings(batch, "asset_issuer"));
    (0..batch.num_rows())
        .map(|row| VolumeRow {
            window_start: micros(batch, "window_start")[row],
            window_end: micros(batch, "window_end")[row],
            asset: (types[row].clone().unwrap(), codes[row].clone(), issuers[row].clone()),
            payment_count: int64s(batch, "payment_count")[row].unwrap(),
            amount_sum: sums.value(row),
            amount_min: int64s(batch, "amount_min")[row].unwrap(),
            amount_max: int64s(batch, "amount_max")[row].unwrap(),
            high_value_count: int64s(batch, "high_value_count")[row].unwrap(),
            ledger_sequence: u32s(batch, "ledger_sequence")[row],
            closed_at: micros(batch, "closed_at")[row],
        })
        .collect()
}

fn high_value_rows(batch: &RecordBatch) -> Vec<HighValueRow> {
    let (types, codes, issuers) =
        (strings(batch, "asset_type"), strings(batch, "asset_code"), strings(batch, "asset_issuer"));
    (0..batch.num_rows())
        .map(|row| HighValueRow {
            operation_id: int64s(batch, "operation_id")[row].unwrap(),
            transaction_hash: strings(batch, "transaction_hash")[row].clone().unwrap(),
            ledger_sequence: u32s(batch, "ledger_sequence")[row],
            closed_at: micros(batch, "closed_at")[row],
            window_start: micros(batch, "window_start")[row],
            type_string: strings(batch, "type_string")[row].clone().unwrap(),
            from: strings(batch, "from")[row].clone(),
            to: strings(batch, "to")[row].clone(),
            asset: (types[row].clone().unwrap(), codes[row].clone(), issuers[row].clone()),
            amount: int64s(batch, "amount")[row].unwrap(),
        })
        .collect()
}

/// Runs `config` over batches cut at `cuts` (ledger indices), snapshotting, dropping and
/// restoring the engine after the batches whose index is in `restore_after`.
fn split_run(config: &AnalyticsConfig, cuts: &[usize], restore_after: &[usize]) -> (RunOutput, Vec<u8>) {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|cut| (1..LEDGER_COUNT).contains(cut)));
    bounds.push(LEDGER_COUNT);
    bounds.sort_unstable();
    bounds.dedup();
    let mut engine = Analytics::new(config.clone()).unwrap();
    let mut outputs = Vec::new();
    for (index, pair) in bounds.windows(2).enumerate() {
        let output = engine.ingest(&batch(pair[0], pair[1])).unwrap();
        assert_eq!(output.range.first(), sequence(pair[0]));
        assert_eq!(output.range.last(), sequence(pair[1] - 1));
        outputs.push(output);
        if restore_after.contains(&index) {
            let bytes = engine.snapshot();
            drop(engine);
            engine = Analytics::restore(config.clone(), &bytes).unwrap();
        }
    }
    (collect(&outputs), engine.snapshot())
}

// ---- tests ----

#[test]
fn payment_volume_matches_an_independent_recomputation() {
    let config = config(60, 1_000_000_000);
    let (expected_volume, _) = reference(&config);
    let (output, _) = split_run(&config, &(17..LEDGER_COUNT).step_by(17).collect::<Vec<_>>(), &[]);
    let volume = volume_rows(&output.payment_volume);
    assert_eq!(volume, expected_volume);

    // The fixture exercises what it should: many windows, every generated asset, high values.
    let windows: std::collections::BTreeSet<i64> = volume.iter().map(|row| row.window_start).collect();
    let assets: std::collections::BTreeSet<&AssetKey> = volume.iter().map(|row| &row.asset).collect();
    assert!(windows.len() >= 12, "{} windows", windows.len());
    assert_eq!(assets.len(), 5, "{assets:?}");
    assert!(volume.iter().any(|row| row.high_value_count > 0));
    assert!(volume.iter().any(|row| row.payment_count > 1 && row.amount_min < row.amount_max));
    // Rows are ordered by window, then asset.
    assert!(
        volume
            .windows(2)
            .all(|pair| (pair[0].window_start, &pair[0].asset) < (pair[1].window_start, &pair[1].asset))
    );
    // The window of the last ledger is still open: nothing closed it.
    let last_close = *micros(&FIXTURE.whole.ledgers, "closed_at").last().unwrap();
    assert!(volume.iter().all(|row| row.window_end <= last_close));
}

#[test]
fn high_value_rows_are_exactly_the_payments_strictly_above_the_threshold() {
    // A threshold equal to a real payment amount: that payment must not be a row.
    let (_, all_payments) = reference(&config(60, -1));
    let mut amounts: Vec<i64> = all_payments.iter().map(|row| row.amount).collect();
    amounts.sort_unstable();
    let threshold = amounts[amounts.len() * 9 / 10];
    assert!(all_payments.iter().any(|row| row.amount == threshold));

    let config = config(60, threshold);
    let (_, expected) = reference(&config);
    let (output, _) = split_run(&config, &[1, 50, 51, 120], &[]);
    let rows = high_value_rows(&output.high_value_payments);
    assert_eq!(rows, expected);
    assert!(!rows.is_empty() && rows.len() < all_payments.len());
    assert!(rows.iter().all(|row| row.amount > threshold));
    let types: std::collections::BTreeSet<&str> = rows.iter().map(|row| row.type_string.as_str()).collect();
    assert!(types.len() >= 2, "{types:?}");
}

#[test]
fn the_default_threshold_is_ten_thousand_units() {
    let config = AnalyticsConfig::default();
    let (expected_volume, expected_high_value) = reference(&config);
    let (output, _) = uninterrupted(&config);
    assert_eq!(volume_rows(&output.payment_volume), expected_volume);
    assert_eq!(high_value_rows(&output.high_value_payments), expected_high_value);
    assert!(!expected_high_value.is_empty());
    assert!(expected_high_value.iter().all(|row| row.amount > 100_000_000_000));
}

#[test]
fn a_ledger_closing_exactly_at_a_window_end_closes_it() {
    const WINDOW_SECS: i64 = 10;
    let window = WINDOW_SECS * 1_000_000;
    let close_times = micros(&FIXTURE.whole.ledgers, "closed_at");
    // Threshold 0: every payment is a high-value row, which shows its window.
    let config = config(WINDOW_SECS as u32, 0);
    let (expected_volume, _) = reference(&config);
    // A ledger closing exactly on a boundary whose previous window had payments.
    let boundary = (2..LEDGER_COUNT)
        .find(|index| {
            let closed_at = close_times[*index];
            closed_at % window == 0 && expected_volume.iter().any(|row| row.window_end == closed_at)
        })
        .expect("some generated ledger closes on a 10 s boundary");
    let boundary_time = close_times[boundary];
    assert!(close_times[boundary - 1] < boundary_time);

    let mut engine = Analytics::new(config).unwrap();
    for index in 0..boundary {
        let output = engine.ingest(&batch(index, index + 1)).unwrap();
        let ends = micros(&output.payment_volume, "window_end");
        assert!(
            ends.iter().all(|end| *end < boundary_time),
            "ledger {index} emitted a window ending at {ends:?}"
        );
    }
    assert_eq!(engine.open_window_start_micros(), Some(boundary_time - window));

    let output = engine.ingest(&batch(boundary, boundary + 1)).unwrap();
    let volume = volume_rows(&output.payment_volume);
    assert!(!volume.is_empty());
    assert!(
        volume
            .iter()
            .all(|row| row.window_start == boundary_time - window && row.window_end == boundary_time)
    );
    assert!(
        volume.iter().all(|row| row.ledger_sequence == sequence(boundary) && row.closed_at == boundary_time)
    );
    assert_eq!(
        volume,
        expected_volume.iter().filter(|row| row.window_end == boundary_time).cloned().collect::<Vec<_>>()
    );
    // The closing ledger's own payments open the next window.
    let payments = high_value_rows(&output.high_value_payments);
    assert!(
        payments
            .iter()
            .all(|row| row.window_start == boundary_time && row.ledger_sequence == sequence(boundary))
    );
    if !payments.is_empty() {
        assert_eq!(engine.open_window_start_micros(), Some(boundary_time));
    }
    assert_eq!(engine.last_ledger(), Some(sequence(boundary)));
    assert_eq!(engine.watermark_micros(), Some(boundary_time));
}

#[test]
fn the_asset_filter_keeps_only_the_selected_assets() {
    let usdc = AssetSelector::Credit { code: "USDC".into(), issuer: USDC_ISSUER.into() };
    let config = AnalyticsConfig { assets: vec![usdc, AssetSelector::Native], ..config(30, 1_000_000_000) };
    let (expected_volume, expected_high_value) = reference(&config);
    let (output, snapshot) = split_run(&config, &[40, 80, 160], &[1]);
    let volume = volume_rows(&output.payment_volume);
    assert_eq!(volume, expected_volume);
    assert_eq!(high_value_rows(&output.high_value_payments), expected_high_value);
    let assets: std::collections::BTreeSet<&str> =
        volume.iter().map(|row| row.asset.1.as_deref().unwrap_or("native")).collect();
    assert_eq!(assets, ["USDC", "native"].into());
    assert_eq!(split_run(&config, &[], &[]).1, snapshot);
}

#[test]
fn non_contiguous_batches_are_refused_and_leave_the_state_unchanged() {
    let config = config(30, 1_000_000_000);
    let (expected, expected_snapshot) = uninterrupted(&config);
    let mut engine = Analytics::new(config).unwrap();
    let mut outputs = vec![engine.ingest(&batch(0, 10)).unwrap()];
    let before = engine.snapshot();

    let gap = engine.ingest(&batch(11, 20)).unwrap_err();
    assert!(
        matches!(gap, AnalyticsError::NotContiguous { expected, found } if expected == sequence(10) && found == sequence(11)),
        "{gap:?}"
    );
    let message = gap.to_string();
    assert!(
        message.contains(&sequence(10).to_string()) && message.contains(&sequence(11).to_string()),
        "{message}"
    );
    let overlap = engine.ingest(&batch(5, 15)).unwrap_err();
    assert!(
        matches!(overlap, AnalyticsError::NotContiguous { expected, found } if expected == sequence(10) && found == sequence(5))
    );
    // A gap inside the batch: ledgers 10 and 12.
    let mut holey = batch(10, 11);
    let twelve = batch(12, 13);
    for table in [Table::Ledgers, Table::Operations] {
        let joined =
            concat_batches(&table.schema(), holey.get(table).into_iter().chain(twelve.get(table))).unwrap();
        match table {
            Table::Ledgers => holey.ledgers = joined,
            _ => holey.operations = joined,
        }
    }
    let inner = engine.ingest(&holey).unwrap_err();
    assert!(
        matches!(inner, AnalyticsError::NotContiguous { expected, found } if expected == sequence(11) && found == sequence(12))
    );
    assert_eq!(engine.snapshot(), before, "refused batches changed the state");
    assert_eq!(engine.last_ledger(), Some(sequence(9)));

    outputs.push(engine.ingest(&batch(10, LEDGER_COUNT)).unwrap());
    assert_eq!(collect(&outputs), expected);
    assert_eq!(engine.snapshot(), expected_snapshot);
}

/// Replaces (or, with `None`, removes) column `name` of `batch`.
fn with_column(batch: &RecordBatch, name: &str, array: Option<ArrayRef>) -> RecordBatch {
    let schema = batch.schema();
    let index = schema.index_of(name).unwrap();
    let mut fields: Vec<Field> = schema.fields().iter().map(|field| field.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    match array {
        Some(array) => {
            fields[index] = Field::new(name, array.data_type().clone(), true);
            columns[index] = array;
        }
        None => {
            fields.remove(index);
            columns.remove(index);
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn malformed_batches_are_named_errors_and_change_nothing() {
    let mut engine = Analytics::new(config(60, 0)).unwrap();
    engine.ingest(&batch(0, 3)).unwrap();
    let before = engine.snapshot();
    let next = batch(3, 6);

    let mut missing = next.clone();
    missing.operations = with_column(&next.operations, "amount", None);
    let error = engine.ingest(&missing).unwrap_err();
    assert!(
        matches!(error, AnalyticsError::MissingColumn { table: "operations", column: "amount" }),
        "{error:?}"
    );
    assert!(error.to_string().contains("`amount`"), "{error}");

    let mut mistyped = next.clone();
    let as_int64 = Arc::new(Int64Array::from(micros(&next.ledgers, "closed_at"))) as ArrayRef;
    mistyped.ledgers = with_column(&next.ledgers, "closed_at", Some(as_int64));
    let error = engine.ingest(&mistyped).unwrap_err();
    assert!(
        matches!(error, AnalyticsError::ColumnType { table: "ledgers", column: "closed_at", .. }),
        "{error:?}"
    );

    let mut backwards = next.clone();
    let mut close_times = micros(&next.ledgers, "closed_at");
    close_times[2] = close_times[1] - 1;
    let regressed =
        Arc::new(TimestampMicrosecondArray::from(close_times.clone()).with_timezone("UTC")) as ArrayRef;
    backwards.ledgers = with_column(&next.ledgers, "closed_at", Some(regressed));
    let error = engine.ingest(&backwards).unwrap_err();
    assert!(
        matches!(error, AnalyticsError::CloseTimeRegressed { sequence: s, closed_at_micros, watermark_micros }
            if s == sequence(5) && closed_at_micros == close_times[2] && watermark_micros == close_times[1]),
        "{error:?}"
    );

    let mut shuffled = next.clone();
    shuffled.operations =
        concat_batches(&Table::Operations.schema(), [&batch(4, 5).operations, &batch(3, 4).operations])
            .unwrap();
    let error = engine.ingest(&shuffled).unwrap_err();
    assert!(
        matches!(error, AnalyticsError::OperationOutOfOrder { ledger_sequence, .. } if ledger_sequence == sequence(3)),
        "{error:?}"
    );

    let mut unnamed_assets = next.clone();
    let nulls = arrow::array::new_null_array(&arrow::datatypes::DataType::Utf8, next.operations.num_rows());
    unnamed_assets.operations = with_column(&next.operations, "asset_type", Some(nulls));
    let error = engine.ingest(&unnamed_assets).unwrap_err();
    assert!(
        matches!(error, AnalyticsError::NullValue { table: "operations", column: "asset_type", .. }),
        "{error:?}"
    );

    let mut empty = next.clone();
    empty.ledgers = next.ledgers.slice(0, 0);
    empty.operations = next.operations.slice(0, 0);
    assert!(matches!(engine.ingest(&empty).unwrap_err(), AnalyticsError::EmptyBatch));

    assert_eq!(engine.snapshot(), before);
    engine.ingest(&next).unwrap();
}

#[test]
fn bad_snapshot_bytes_are_named_errors() {
    let config = config(60, 1_000_000_000);
    let mut engine = Analytics::new(config.clone()).unwrap();
    engine.ingest(&batch(0, 7)).unwrap();
    assert!(engine.open_window_start_micros().is_some(), "the fixture leaves a window open");
    let bytes = engine.snapshot();

    let bad = |bytes: &[u8]| match Analytics::restore(config.clone(), bytes) {
        Err(AnalyticsError::BadSnapshot { reason, .. }) => reason,
        other => panic!("expected BadSnapshot, got {other:?}"),
    };
    assert!(bad(&[]).contains("truncated"));
    assert!(bad(&[9]).contains("unknown format version 9"));
    for len in 1..bytes.len() {
        bad(&bytes[..len]);
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(bad(&trailing).contains("after the end"), "{}", bad(&trailing));

    let error = Analytics::restore(config.clone(), &[9]).unwrap_err();
    assert!(error.to_string().contains("snapshot"), "{error}");
    assert_eq!(error.class(), FailureClass::Permanent);

    for (changed, key) in [
        (AnalyticsConfig { window_secs: 30, ..config.clone() }, "window_secs"),
        (
            AnalyticsConfig { high_value_threshold_stroops: 1, ..config.clone() },
            "high_value_threshold_stroops",
        ),
        (AnalyticsConfig { assets: vec![AssetSelector::Native], ..config.clone() }, "assets"),
    ] {
        match Analytics::restore(changed, &bytes) {
            Err(AnalyticsError::ConfigChanged { key: named, .. }) => assert_eq!(named, key),
            other => panic!("expected ConfigChanged for {key}, got {other:?}"),
        }
    }
    let invalid =
        Analytics::restore(AnalyticsConfig { window_secs: 0, ..config.clone() }, &bytes).unwrap_err();
    assert!(matches!(invalid, AnalyticsError::InvalidConfig(_)), "{invalid:?}");

    // Round trip: equal states, equal bytes; a fresh engine's snapshot restores too.
    assert_eq!(Analytics::restore(config.clone(), &bytes).unwrap().snapshot(), bytes);
    let fresh = Analytics::new(config.clone()).unwrap().snapshot();
    let restored = Analytics::restore(config, &fresh).unwrap();
    assert_eq!((restored.last_ledger(), restored.watermark_micros()), (None, None));
}

#[test]
fn errors_are_permanent() {
    let errors = [
        AnalyticsError::NotContiguous { expected: 2, found: 3 },
        AnalyticsError::EmptyBatch,
        AnalyticsError::MissingColumn { table: "operations", column: "amount" },
        AnalyticsError::bad_snapshot("x"),
        AnalyticsError::ConfigChanged { key: "window_secs", snapshot: "60".into(), config: "30".into() },
        AnalyticsError::Arrow {
            table: "payment_volume",
            source: arrow::error::ArrowError::InvalidArgumentError("x".into()),
        },
    ];
    assert!(errors.iter().all(|error| error.class() == FailureClass::Permanent));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    /// The exactly-once contract: any batch split and any snapshot/restore points give the
    /// uninterrupted run's rows, and the same final state.
    #[test]
    fn any_split_and_restore_points_give_the_uninterrupted_output(
        window_secs in prop::sample::select(vec![5u32, 7, 30, 60]),
        threshold in prop::sample::select(vec![0i64, 1_000_000_000, 100_000_000_000]),
        cuts in prop::collection::vec(1..LEDGER_COUNT, 0..12),
        restore_after in prop::collection::vec(0..13usize, 0..4),
    ) {
        let config = config(window_secs, threshold);
        let (expected, expected_snapshot) = uninterrupted(&config);
        let (output, snapshot) = split_run(&config, &cuts, &restore_after);
        prop_assert_eq!(volume_rows(&output.payment_volume), volume_rows(&expected.payment_volume));
        prop_assert!(output == expected);
        prop_assert_eq!(snapshot, expected_snapshot);
    }
}
